"""The manual pages docs/pumpctl.1 and docs/pumpsim.1, generated from each program's parser
(argparse-manpage).

Usage: python -m tools.manpage          (writes both pages; needs the ``test`` extra)
       python -m tools.manpage --check  (exit 1 when a page is not what it generates)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = {"pumpctl": DOCS / "pumpctl.1", "pumpsim": DOCS / "pumpsim.1"}

# pumpsim's examples: serving, then the debug port a test or a trainer drives.
PUMPSIM_EXAMPLES = (
    (
        "pumpsim --pty --state pump.db --first-boot --control /tmp/pump.ctl --pair",
        "a new pump on a pseudo-terminal, paired with this programmer; prints the device path",
    ),
    (
        "pumpsim --pty --frozen-clock --line-faults corrupt=0.01,drop=0.001,seed=7",
        "a pump whose clock moves only when advanced, behind a noisy line (docs/faults.md)",
    ),
    ("pumpsim ctl --control /tmp/pump.ctl advance 1d", "the pump's clock, a day on"),
    ("pumpsim ctl --control /tmp/pump.ctl fault catheter=occluded", "a device fault"),
    (
        "pumpsim ctl --control /tmp/pump.ctl implant-key clinic.key",
        "the clinician implant key, for pumpctl pair",
    ),
)
PUMPSIM_EXIT = (
    (0, "served until SIGINT or SIGTERM and stopped cleanly; or the ctl command was done"),
    (1, "the simulator failed while serving"),
    (
        2,
        "bad arguments, a pump memory that cannot be used (missing without --first-boot, "
        "damaged, newer), or a control socket that cannot be reached",
    ),
)


def _roff(text: str) -> str:
    return text.replace("\\", "\\e").replace("-", "\\-")


def _items(pairs: Iterable[tuple[str, str]]) -> str:
    lines = []
    for term, text in pairs:
        lines += [".TP", f"\\fB{_roff(term)}\\fR", _roff(text)]
    return "\n".join(lines)


def _sections(program: str) -> tuple[argparse.ArgumentParser, str, str, str]:
    """The program's parser, its description, examples and exit statuses: pumpctl's from the
    help table and the one exit-status table it maps its failures with."""
    if program == "pumpsim":
        from firmware_sim.cli import _completion_parser

        exits = ((str(status), meaning) for status, meaning in PUMPSIM_EXIT)
        return (
            _completion_parser(),
            "Simulated intrathecal drug pump on a pseudo-terminal",
            _items(PUMPSIM_EXAMPLES),
            _items(exits),
        )
    from pumpctl.cli_help import HELP
    from pumpctl.cli_parser import build_parser as _parser
    from pumpctl.exits import MEANING

    examples = ((f"pumpctl {command}", example) for command, (_, example) in HELP.items())
    return (
        _parser(),
        "Clinician programmer for implanted intrathecal drug pumps",
        _items(examples),
        _items((str(int(status)), meaning) for status, meaning in MEANING.items()),
    )


def render(program: str = "pumpctl") -> str:
    """The page's roff text, the same wherever and whenever it is generated."""
    from argparse_manpage.manpage import Manpage

    parser, description, examples, exits = _sections(program)
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps help text to the terminal's width
    try:
        page = Manpage(
            parser,
            {
                "project_name": program,
                "version": version("pumpctl"),
                "manual_title": f"{program} manual",
                "description": description,
            },
        )
        page.date = ""  # no build date: the page changes only when the parser does
        page.add_section("examples", "=", examples)
        page.add_section("exit status", "=", exits)
        text = str(page)
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str]) -> int:
    stale = 0
    for program, path in PAGES.items():
        text = render(program)
        if "--check" in argv:
            if path.read_text() != text:
                print(f"{path} is stale: python -m tools.manpage", file=sys.stderr)
                stale = 1
            continue
        path.write_text(text)
        print(f"{path}: {text.count(chr(10))} lines")
    return stale


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
