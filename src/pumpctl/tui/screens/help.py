"""Help (`?` or F1): every key of the dashboard, what it does, and what the screen shows.

The key list is read from the app's own bindings and palette, so it cannot drift from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "plus": "+",
    "minus": "-",
    "question_mark": "?",
    "f1": "F1",
    "ctrl+p": "ctrl+p",
}

KEY_HINT = re.compile(r"\s*\([^()]*\)$")  # the palette's "(r)" after its words

PANELS = (
    (
        "Therapy",
        "the pump's state, daily dose and flow in the drug's unit, the last VAS, the last "
        "catheter check, and the systemic opioids beside (never added to) the IT dose",
    ),
    ("Reservoir", "volume left, the low-reservoir date and the refill due date"),
    ("Dose and pain", "the daily dose (line) and the VAS (dots) over the pump's time"),
    ("Alarms", "active alarms by severity; acknowledge with a"),
    (
        "Link banner",
        "LINK LOST when the pump stops answering: every value shown is then stale, "
        "greyed, until the next good read (i)",
    ),
    (
        "Discrepancy banner",
        "where the pump and the clinical record disagree: increases wait until a clinician "
        "reconciles it (pumpctl reconcile --reason TEXT); decreases and stops never do",
    ),
    ("Status line", "the step size, the link, the last read and any refusal, verbatim"),
    ("Notifications", "over the key row, the newest alone; what matters is also above"),
    ("Event log, audit trail", "Enter on a row opens every field of it; Esc closes"),
)


def key_label(keys: str) -> str:
    return " / ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def key_rows(bindings: Iterable[BindingType], palette: Iterable[tuple[str, str, str]]) -> Table:
    """One row per binding: its keys, its title and what it does (the palette's words)."""
    helps = {action: (title, text) for title, text, action in palette}
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        title, text = helps.get(binding.action, (binding.description, binding.tooltip))
        text = KEY_HINT.sub("", text)  # the key column already says it
        table.add_row(key_label(binding.key), Text(f"{title}: {text}" if text else title))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def __init__(
        self, bindings: Iterable[BindingType], palette: Iterable[tuple[str, str, str]]
    ) -> None:
        super().__init__()
        self.keys = key_rows(bindings, palette)

    def compose(self) -> ComposeResult:
        panels = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        panels.add_column(style="bold", no_wrap=True)
        panels.add_column(ratio=1)
        for name, text in PANELS:
            panels.add_row(name, text)
        with VerticalScroll(id="dialog", classes="help"):
            yield Label("Help - keys on the dashboard (Esc closes)", classes="title")
            yield Static(self.keys, id="help-keys")
            yield Label("What the dashboard shows", classes="title")
            yield Static(panels, id="help-panels")
            yield Static(  # a Static wraps at the dialog's width; a Label would cut the line
                "Every change is reviewed old -> new before it is sent, then read back from "
                "the pump. ctrl+p lists every action by name."
            )
