"""Dialogs with several fields take keys as a fast typist (or a terminal multiplexer) sends
them: Tab moves on as the key arrives, so the digits typed after it land in the next field."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.screen import Screen

from pumpctl.units import format_amount

TAB_AS_TYPED = [
    Binding("tab", "move(1)", show=False, priority=True),
    Binding("shift+tab", "move(-1)", show=False, priority=True),
]


def move_focus(screen: Screen[Any], step: int) -> None:
    if step > 0:
        screen.focus_next()
    else:
        screen.focus_previous()


def field_amount(ng: int, unit: str) -> str:
    """An amount as a field shows it for editing: the number in the drug's unit, no unit."""
    return format_amount(ng, unit, False).removesuffix(f" {unit}")
