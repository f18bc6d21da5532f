"""Dialogs of typed fields: keys taken as a fast typist (or a terminal multiplexer) sends
them: Tab moves on as the key arrives, so the digits typed after it land in the next field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Static

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


Answer = TypeVar("Answer")


class SettingsDialog(ModalScreen[Answer | None]):
    """A dialog of typed fields and three buttons: ``Review`` (or Enter) answers what
    ``_review`` makes of the fields, the ``OFF_BUTTON`` answers ``_off()`` (switching the
    setting off, reviewed like any change), Escape or ``Cancel`` answers None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"), *TAB_AS_TYPED]
    OFF_BUTTON: ClassVar[str] = "off"

    def fields_and_buttons(
        self, fields: Iterable[tuple[str, str, str]], off_label: str | None
    ) -> ComposeResult:
        """The typed fields (id, label, value), the line a problem is shown on, and the
        buttons: Review, ``off_label`` (while the setting is on) and Cancel."""
        for field, label, value in fields:
            with Horizontal(classes="field"):
                yield Static(label, classes="field-label")
                yield Input(value, id=field, compact=True)
        yield Static("", id="error", classes="error")
        with Horizontal(classes="buttons"):
            yield Button("Review (Enter)", variant="primary", id="review")
            if off_label is not None:
                yield Button(off_label, id=self.OFF_BUTTON)
            yield Button("Cancel (Esc)", id="cancel")

    def _review(self) -> None:
        raise NotImplementedError

    def _off(self) -> Answer:
        raise NotImplementedError

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value

    def _problem(self, text: str) -> None:
        self.query_one("#error", Static).update(text)

    def action_move(self, step: int) -> None:
        move_focus(self, step)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self) -> None:
        self._review()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "review":
            self._review()
        elif event.button.id == self.OFF_BUTTON:
            self.dismiss(self._off())
        else:
            self.dismiss(None)


def field_amount(ng: int, unit: str) -> str:
    """An amount as a field shows it for editing: the number in the drug's unit, no unit."""
    return format_amount(ng, unit, False).removesuffix(f" {unit}")
