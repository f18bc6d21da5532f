"""The full detail of one event or audit entry: every field, wrapped, nothing cut off."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pumpctl.display import pump_minute as pump_time
from pumpctl.display import wall_second
from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.text import printable
from pumpctl.tui.screens.logs import shown_value

Fields = list[tuple[str, str]]


def _time(seconds: int) -> str:
    return f"{pump_time(seconds)} UTC (pump clock, {seconds} s)"


def event_fields(event: EventRecord) -> Fields:
    """An event of the pump's log, field by field; the wire integers as the pump sent them."""
    code = EventCode(event.code)
    return [
        ("index", str(event.index)),
        ("time", _time(event.time_s)),
        ("event", f"{code.name} (code {int(code)})"),
        ("request id", str(event.request_id) if event.request_id else "none"),
        ("value a", str(event.value_a)),
        ("value b", str(event.value_b)),
        ("detail", printable(event.detail) or "-"),
    ]


def _datum(key: str, value: Any, unit: str, depth: int = 0) -> Fields:
    """One datum of an audit entry, a nested one indented under its name; an amount in the
    drug's unit beside the integer the record keeps; a review's rows as old -> new."""
    name = "  " * depth + printable(key)
    if isinstance(value, dict):
        return [(name, ""), *(r for k, v in value.items() for r in _datum(k, v, unit, depth + 1))]
    if isinstance(value, list):
        lines = [printable(_item(item)) for item in value]
        return [(name, "\n".join(lines) or "-")]
    _, shown = shown_value(key, value, unit)
    if shown != str(value):
        shown = f"{shown} ({value})"
    return [(name, printable(shown))]


def _item(item: Any) -> str:
    if isinstance(item, list) and len(item) == 3:  # a review row: what, old, new
        return f"{item[0]}: {item[1]} -> {item[2]}"
    return " ".join(map(str, item)) if isinstance(item, list) else str(item)


AUDIT_ORDER = ("seq", "time_s", "wall_time_s", "pump", "actor", "action", "data")


def audit_fields(entry: dict[str, Any], unit: str) -> Fields:
    """An audit entry, field by field: which, when, who, what, then every datum it holds."""
    fields: Fields = []
    ordered = sorted(entry, key=lambda k: AUDIT_ORDER.index(k) if k in AUDIT_ORDER else 99)
    for key in ordered:
        value = entry[key]
        if key == "time_s" and isinstance(value, int):
            fields.append(("time", _time(value)))
        elif key == "wall_time_s" and isinstance(value, int):
            when = wall_second(value)
            fields.append(("recorded", f"{when} UTC (programmer clock, {value} s)"))
        elif key == "data" and isinstance(value, dict):
            fields += [row for k, v in value.items() for row in _datum(k, v, unit)]
        else:
            fields += _datum(key, value, unit)
    return fields


class DetailScreen(ModalScreen[None]):
    """Enter on a row of the event log or the audit trail; Escape (or Enter) closes it."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, fields: Fields) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in self.fields:
            table.add_row(name, Text(value))
        with Vertical(id="dialog", classes="detail"):
            yield Label(Text(printable(self.title_text), style="bold"), id="dialog-title")
            with VerticalScroll(id="detail-scroll"):
                yield Static(table, id="detail-fields")
            yield Static("Esc: close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
