"""What a new user tries first: ``--version`` on both programs, a suggestion for a mistyped
command, shell completion, each command's help with an example, the manual page."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

from pumpctl.cli_help import subcommands
from pumpctl.cli_parser import attach_values as _attach_values
from pumpctl.cli_parser import build_parser as _parser
from tests.test_cli import assert_fails, assert_ok, env, pumpctl

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


def _complete(script: str, words: list[str], function: str) -> list[str]:
    """What bash offers for the last of ``words``, by the completion function the script
    registered (a real bash, as the shell calls it on TAB)."""
    program = (
        f"{script}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        f'COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}\n'
        f'{function} {words[0]} "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_and_actions(env: dict[str, str]) -> None:
    script = assert_ok(pumpctl(env, "completion", "bash"))
    subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)
    assert _complete(script, ["pumpctl", "sta"], "_shtab_pumpctl") == ["status"]
    assert _complete(script, ["pumpctl", "schedule", "s"], "_shtab_pumpctl") == ["set", "show"]
    assert "--confirm-large-change" in _complete(
        script, ["pumpctl", "set-rate", "--conf"], "_shtab_pumpctl"
    )


def test_zsh_completion_is_a_compdef_for_pumpctl(env: dict[str, str]) -> None:
    script = assert_ok(pumpctl(env, "completion", "zsh"))
    assert script.startswith("#compdef pumpctl")
    assert "periodic-bolus" in script
    if shutil.which("zsh") is not None:  # the syntax, where zsh is installed
        subprocess.run(["zsh", "-n"], input=script, text=True, check=True, timeout=30)


def test_a_shell_without_completion_is_one_line(env: dict[str, str]) -> None:
    assert_fails(pumpctl(env, "completion", "fish"), 2, "invalid choice: 'fish'")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_pumpsim_bash_completion_completes_ctl_operations() -> None:
    from firmware_sim.cli import _completion_parser
    from pumpctl.completion import completion_script

    script = completion_script(_completion_parser(), "bash")
    assert _complete(script, ["pumpsim", "ctl", "--control", "x", "adv"], "_shtab_pumpsim") == [
        "advance"
    ]
    assert _complete(script, ["pumpsim", "--first"], "_shtab_pumpsim") == ["--first-boot"]


def test_every_command_has_a_description_and_an_example() -> None:
    commands = dict(subcommands(_parser()))
    assert {"status", "set-rate", "schedule set", "completion"} <= commands.keys()
    for name, sub in commands.items():
        text = sub.format_help()
        assert sub.description, f"pumpctl {name} has no description"
        assert "example:\n  pumpctl " in text, f"pumpctl {name} has no example"


def test_each_example_parses_as_the_command_it_shows() -> None:
    parser = _parser()
    for name, sub in subcommands(parser):
        example = (sub.epilog or "").split("example:\n  ")[1].splitlines()[0]
        words = shlex.split(example.partition(" > ")[0])
        args = parser.parse_args(_attach_values(words[1:]))
        assert args.command == name.split()[0], example


def test_global_options_are_listed_once_at_the_top(env: dict[str, str]) -> None:
    top = assert_ok(pumpctl(env, "--help"))
    assert "--keystore KEYSTORE" in top
    sub = assert_ok(pumpctl(env, "set-rate", "--help"))
    assert "--keystore" not in sub.split("example:")[0]
    assert "--confirm-large-change" in sub
    assert "see pumpctl --help" in sub


def test_a_global_option_is_still_taken_after_the_command() -> None:
    args = _parser().parse_args(["status", "--json", "--port", "/dev/ttyUSB9"])
    assert (args.json, args.port) == (True, "/dev/ttyUSB9")


def _manpage_tool() -> ModuleType:
    pytest.importorskip("argparse_manpage")
    return importlib.import_module("tools.manpage")


def test_the_manual_pages_are_generated_from_the_parsers() -> None:
    tool = _manpage_tool()
    for program, path in tool.PAGES.items():
        assert path.read_text() == tool.render(program), f"{path} is stale: python -m tools.manpage"
    simulator = tool.PAGES["pumpsim"].read_text()
    assert "pumpsim ctl implant\\-key" in simulator  # the debug port's commands too
    assert ".SH EXIT STATUS" in simulator
    page = tool.render()
    assert ".SH EXAMPLES" in page
    assert "pumpctl \\-\\-port /dev/ttyUSB0 set\\-rate 1.6" in page
