"""Full screens: the pump's event log and the audit trail; Enter opens a row's detail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from pumpctl.clinical.scores import format_vas
from pumpctl.display import pump_minute as pump_time
from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.text import printable
from pumpctl.tui.widgets import SteadyFooter
from pumpctl.units import format_amount, format_concentration, format_flow, format_volume

# The record keeps wire integers; a person reads them in the drug's unit (longest first).
UNIT_SUFFIXES: tuple[tuple[str, Callable[[int, str], str]], ...] = (
    ("_ng_per_day", lambda v, unit: format_amount(v, unit)),
    ("_ng_per_ml", format_concentration),
    ("_nl_per_day", lambda v, unit: format_flow(v)),
    ("_ng", lambda v, unit: format_amount(v, unit, per_day=False)),
    ("_ul", lambda v, unit: format_volume(v)),
    ("_tenths", lambda v, unit: format_vas(v)),
)


def shown_value(key: str, value: Any, unit: str) -> tuple[str, str]:
    """One audit datum as a person reads it: ``new_ng_per_day=1540000`` → ``new``,
    ``1.54 mg/day``; a review by its title and the confirmations given."""
    if key == "review" and isinstance(value, dict):
        text = str(value.get("title", ""))
        given = value.get("confirmations") or {}
        if given.get("large_change"):
            text += ", large change confirmed"
        if given.get("discrepancy_reason"):
            text += f", discrepancy reason: {given['discrepancy_reason']}"
        return key, text
    if isinstance(value, int) and not isinstance(value, bool):
        for suffix, show in UNIT_SUFFIXES:
            if key.endswith(suffix):
                return key.removesuffix(suffix), show(value, unit)
    return key, str(value)


def describe(data: dict[str, Any], unit: str) -> str:
    return ", ".join(
        "=".join(shown_value(k, v, unit)) for k, v in data.items() if v not in (None, "")
    )


class EventLogScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, events: list[EventRecord], overflow: int) -> None:
        super().__init__()
        self.events = events
        self.overflow = overflow

    def compose(self) -> ComposeResult:
        yield Header()
        note = f" ({self.overflow} older events overwritten)" if self.overflow else ""
        yield Static(f"Pump event log: {len(self.events)} events{note}", classes="title")
        yield DataTable(id="events", zebra_stripes=True, cursor_type="row")
        yield SteadyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "pump time", "event", "detail")
        for i, event in reversed(list(enumerate(self.events))):
            table.add_row(
                str(event.index),
                pump_time(event.time_s),
                EventCode(event.code).name,
                event.detail,
                key=str(i),
            )

    def on_data_table_row_selected(self, selected: DataTable.RowSelected) -> None:
        """Enter: the whole event, every field."""
        from pumpctl.tui.screens.detail import DetailScreen, event_fields

        event = self.events[int(str(selected.row_key.value))]
        title = f"Event {event.index}: {EventCode(event.code).name}"
        self.app.push_screen(DetailScreen(title, event_fields(event)))


class AuditScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, entries: list[dict[str, Any]], verdict: str, unit: str = "mcg") -> None:
        """``unit``: the drug library's unit for the pump's drug, for the amounts shown."""
        super().__init__()
        self.entries = entries
        self.verdict = verdict
        self.unit = unit

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.verdict, classes="title")
        yield DataTable(id="audit", zebra_stripes=True, cursor_type="row")
        yield SteadyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "pump time", "who", "action", "details")
        for i, entry in reversed(list(enumerate(self.entries))):
            details = describe(entry.get("data", {}), self.unit)
            table.add_row(
                str(entry["seq"]),
                pump_time(entry["time_s"]),
                Text(printable(str(entry["actor"]))),
                Text(printable(str(entry["action"]))),
                Text(printable(details[:120])),
                key=str(i),
            )

    def on_data_table_row_selected(self, selected: DataTable.RowSelected) -> None:
        """Enter: the whole entry, every field and datum."""
        from pumpctl.tui.screens.detail import DetailScreen, audit_fields

        entry = self.entries[int(str(selected.row_key.value))]
        title = f"Audit entry {entry['seq']}: {entry['action']}"
        self.app.push_screen(DetailScreen(title, audit_fields(entry, self.unit)))
