"""Full screens: the pump's event log and the audit trail."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.tui.widgets import pump_time


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
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "pump time", "event", "detail")
        for event in reversed(self.events):
            table.add_row(
                str(event.index), pump_time(event.time_s), EventCode(event.code).name, event.detail
            )


class AuditScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, entries: list[dict[str, Any]], verdict: str) -> None:
        super().__init__()
        self.entries = entries
        self.verdict = verdict

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.verdict, classes="title")
        yield DataTable(id="audit", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "pump time", "who", "action", "details")
        for entry in reversed(self.entries):
            data = entry.get("data", {})
            details = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, ""))
            table.add_row(
                str(entry["seq"]),
                pump_time(entry["time_s"]),
                entry["actor"],
                entry["action"],
                details[:120],
            )
