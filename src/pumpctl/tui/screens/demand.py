"""The patient's demand boluses: the settings in force, where the patient stands today, the
recent activations (given and refused) and the fields to change the settings. Nothing is
sent from here: Enter returns the command, whose review comes next, like every other."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from pumpctl.display import pump_minute as pump_time
from pumpctl.programmer import SetDemandBolus
from pumpctl.programmer.demand import OUTCOME_WORDS, describe, settings_of, summarise
from pumpctl.protocol.messages import DemandLogEntry, DemandSettingsResponse
from pumpctl.schedule import parse_count
from pumpctl.tui.screens.fields import SettingsDialog, field_amount
from pumpctl.units import UnitError, format_amount, parse_amount_ng

RECENT = 5  # activation-log lines shown: the dialog fits 80x24


def recent_lines(entries: list[DemandLogEntry], unit: str) -> list[str]:
    """The last activations, newest first, one line each."""
    lines = []
    for entry in reversed(entries[-RECENT:]):
        times = (
            f" x{entry.count} to {pump_time(entry.last_time_s)[11:16]}" if entry.count > 1 else ""
        )
        what = OUTCOME_WORDS[entry.outcome]
        lines.append(
            f"{pump_time(entry.time_s)[:16]}{times}  {what}  "
            f"{format_amount(entry.dose_ng, unit, False)}"
        )
    return lines or ["no activations logged"]


class DemandDialog(SettingsDialog[SetDemandBolus]):
    """Demand boluses: Enter reviews the settings typed, ``Off`` reviews switching them off,
    Escape cancels."""

    def __init__(
        self, settings: DemandSettingsResponse, log: list[DemandLogEntry], unit: str
    ) -> None:
        super().__init__()
        self.read = settings
        self.current = settings_of(settings)
        self.entries = log
        self.unit = unit

    def compose(self) -> ComposeResult:
        s, unit = self.current, self.unit
        summary = summarise(self.entries)
        with Vertical(id="dialog", classes="demand"):
            yield Static(f"Demand bolus: {describe(s, unit)}", id="demand-now")
            if s is not None:
                lockout = (
                    f"; lockout until {pump_time(self.read.next_allowed_s)[11:16]}"
                    if self.read.next_allowed_s
                    else ""
                )
                yield Static(
                    f"Given in the last 24 h: {self.read.given_last_24h} of {s.per_day}{lockout}"
                )
            yield Static(f"Activations logged: {'; '.join(summary.lines(unit))}")
            yield Static(
                "\n".join(recent_lines(self.entries, unit)), id="demand-log", classes="hint"
            )
            fields = (
                ("dose", f"Each bolus ({unit})", field_amount(s.dose_ng, unit) if s else ""),
                ("duration", "Lasting (minutes)", str(s.duration_s // 60) if s else ""),
                ("lockout", "Lockout (minutes)", str(s.lockout_s // 60) if s else ""),
                ("per-day", "At most a day", str(s.per_day) if s else ""),
            )
            yield from self.fields_and_buttons(fields, "Off" if s is not None else None)

    def _review(self) -> None:
        try:
            command = SetDemandBolus(
                parse_amount_ng(self._value("dose"), self.unit, "demand bolus"),
                parse_count(self._value("duration"), "duration (minutes)", 1, 1440) * 60,
                parse_count(self._value("lockout"), "lockout (minutes)", 1, 1440) * 60,
                parse_count(self._value("per-day"), "at most a day", 1, 255),
            )
        except UnitError as problem:
            self._problem(str(problem))
            return
        self.dismiss(command)

    def _off(self) -> SetDemandBolus:
        return SetDemandBolus(0)
