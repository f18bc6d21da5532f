"""The manual page docs/pumpctl.1, generated from pumpctl's parser (argparse-manpage).

Usage: python -m tools.manpage          (writes docs/pumpctl.1; needs the ``test`` extra)
       python -m tools.manpage --check  (exit 1 when docs/pumpctl.1 is not what it generates)
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "pumpctl.1"


def _roff(text: str) -> str:
    return text.replace("\\", "\\e").replace("-", "\\-")


def _examples() -> str:
    from pumpctl.cli_help import HELP

    lines = []
    for command, (_, example) in HELP.items():
        lines += [".TP", f"\\fBpumpctl {_roff(command)}\\fR", _roff(example)]
    return "\n".join(lines)


def _exit_status() -> str:
    """The exit statuses from the one table the program maps its failures with."""
    from pumpctl.exits import MEANING

    lines = []
    for status, meaning in MEANING.items():
        lines += [".TP", f"\\fB{int(status)}\\fR", _roff(meaning)]
    return "\n".join(lines)


def render() -> str:
    """The page's roff text, the same wherever and whenever it is generated."""
    from argparse_manpage.manpage import Manpage

    from pumpctl.cli_parser import build_parser as _parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps help text to the terminal's width
    try:
        page = Manpage(
            _parser(),
            {
                "project_name": "pumpctl",
                "version": version("pumpctl"),
                "manual_title": "pumpctl manual",
                "description": "Clinician programmer for implanted intrathecal drug pumps",
            },
        )
        page.date = ""  # no build date: the page changes only when the parser does
        page.add_section("examples", "=", _examples())
        page.add_section("exit status", "=", _exit_status())
        text = str(page)
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is stale: python -m tools.manpage", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"{PAGE}: {text.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
