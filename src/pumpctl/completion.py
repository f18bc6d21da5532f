"""Shell completion scripts generated from a parser (shtab), for ``pumpctl`` and ``pumpsim``."""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh")


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The script that completes ``parser``'s commands and options in ``shell``."""
    import shtab  # only when asked for: no other command pays for it

    script: str = shtab.complete(parser, shell=shell)
    return script
