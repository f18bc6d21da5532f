"""The real-terminal run (tests/tui/tmux_titration.sh) as part of the suite.

It needs tmux; where tmux is missing (a bare CI image) the test is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("tmux_titration.sh")


def pumpctl_executable() -> str | None:
    beside = Path(sys.executable).with_name("pumpctl")
    if beside.exists():
        return str(beside)
    return shutil.which("pumpctl")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_titration_in_a_real_terminal() -> None:
    pumpctl = pumpctl_executable()
    if pumpctl is None:
        pytest.skip("no pumpctl executable (install the project: pip install -e .)")
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, "PUMPCTL": pumpctl, "TIMEOUT_S": "30"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "tmux_titration: OK" in result.stdout
