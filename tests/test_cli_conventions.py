"""What a new user tries first: ``--version`` on both programs, a suggestion for a mistyped
command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.test_cli import assert_fails, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests

PUMPSIM = Path(sys.executable).parent / "pumpsim"


def test_pumpctl_version(env: dict[str, str]) -> None:
    result = pumpctl(env, "--version")
    assert (result.returncode, result.stdout) == (0, f"pumpctl {version('pumpctl')}\n")


def test_pumpsim_version_needs_no_other_option() -> None:
    result = subprocess.run(
        [str(PUMPSIM), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout) == (0, f"pumpsim {version('pumpctl')}\n")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [(("staus",), "status"), (("opioids", "shwo"), "show"), (("evnts",), "events")],
)
def test_a_mistyped_command_suggests_the_one_meant(
    env: dict[str, str], typed: tuple[str, ...], meant: str
) -> None:
    assert_fails(pumpctl(env, *typed), 2, f"did you mean '{meant}'?")


def test_nothing_close_suggests_nothing(env: dict[str, str]) -> None:
    line = assert_fails(pumpctl(env, "xyzzy"), 2, "invalid choice: 'xyzzy'")
    assert "did you mean" not in line
