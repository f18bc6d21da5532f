"""The flexible-dosing editor (the day's steps typed as ``HH:MM=DOSE``, the day drawn as a
step chart of the program in force and the one typed, the daily doses side by side) and the
periodic-bolus dialog. Neither sends anything: each returns the command, whose review comes
next."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from pumpctl.programmer import ClearSchedule, SetPeriodicBolus, SetSchedule
from pumpctl.protocol.messages import ScheduleResponse
from pumpctl.schedule import (
    Steps,
    clock,
    daily_dose_ng,
    parse_clock,
    parse_count,
    parse_schedule,
    periodic_of,
    program_of,
)
from pumpctl.tui.screens.fields import SettingsDialog, field_amount
from pumpctl.units import UnitError, format_amount, parse_amount_ng

COLUMNS = 48  # half hours
ROWS = 6
SLOT_MIN = 1440 // COLUMNS


def steps_text(steps: Steps, unit: str) -> str:
    """A program as the editor takes it: ``00:00=1.4 08:00=1.8``."""
    return " ".join(f"{clock(s)}={field_amount(d, unit)}" for s, d in steps)


def _highest(steps: Steps, slot: int) -> int:
    """The highest dose in force during half hour ``slot`` (a 15 min step shows in full)."""
    start, end = slot * SLOT_MIN, (slot + 1) * SLOT_MIN
    doses = [d for i, (s, d) in enumerate(steps) if s < end and _end(steps, i) > start]
    return max(doses)


def _end(steps: Steps, i: int) -> int:
    return steps[i + 1][0] if i + 1 < len(steps) else 1440


def day_chart(old: Steps, new: Steps | None, unit: str) -> list[str]:
    """The day as a step chart: the program typed in blocks, the one in force as a line
    where it differs, the top's dose on the left, the hours below (8 + 48 columns)."""
    shown = new if new is not None else old
    top = max(d for _, d in (*old, *shown)) or 1
    levels_new = [_highest(shown, c) * ROWS / top for c in range(COLUMNS)]
    levels_old = [_highest(old, c) * ROWS / top for c in range(COLUMNS)]
    lines = []
    for row in range(ROWS, 0, -1):
        cells = []
        for c in range(COLUMNS):
            filled = levels_new[c] >= row - 0.5
            old_here = (
                new is not None
                and row - 1 < levels_old[c] <= row
                and levels_old[c] != levels_new[c]
            )
            cells.append("█" if filled else ("─" if old_here else " "))
        label = format_amount(top, unit, False) if row == ROWS else ""
        lines.append(f"{label:>9}│{''.join(cells)}")
    lines.append(f"{'':>9}└{'┬─────' * 8}")
    lines.append(f"{'':>9} {''.join(f'{h:02d}    ' for h in range(0, 24, 3))}")
    return lines


class ScheduleEditor(SettingsDialog[SetSchedule | ClearSchedule]):
    """Type the steps; Enter reviews them, ``Clear schedule`` reviews a return to a simple
    rate, Escape cancels."""

    OFF_BUTTON = "clear"

    def __init__(self, schedule: ScheduleResponse, unit: str) -> None:
        super().__init__()
        self.schedule = schedule
        self.unit = unit
        self.old = program_of(schedule)
        self.typed: Steps | None = None

    def compose(self) -> ComposeResult:
        now = "schedule" if self.schedule.active else "simple rate"
        with Vertical(id="dialog", classes="schedule"):
            yield Static(
                f"Flexible dosing, now a {now}: steps HH:MM=DOSE ({self.unit}/day) from 00:00 on "
                f"the pump's clock (UTC), on {self.schedule.granularity_min} min boundaries"
            )
            yield Static("\n".join(day_chart(self.old, None, self.unit)), id="chart")
            yield Static(self._totals(), id="totals")
            yield Label(f"Steps, HH:MM={self.unit}/day ...", classes="input-label")
            yield Input(steps_text(self.old, self.unit), id="steps")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Review (Enter)", variant="primary", id="review")
                if self.schedule.active:
                    yield Button("Clear schedule", id="clear")
                yield Button("Cancel (Esc)", id="cancel")

    def _totals(self) -> str:
        before = format_amount(daily_dose_ng(self.old), self.unit)
        if self.typed is None or self.typed == self.old:
            return f"Daily dose {before}"
        return f"Daily dose {before} -> {format_amount(daily_dose_ng(self.typed), self.unit)}"

    def on_input_changed(self, event: Input.Changed) -> None:
        error = self.query_one("#error", Static)
        if event.value == steps_text(self.old, self.unit):
            self.typed = self.old if len(self.old) > 1 else None  # as it was: nothing to say
            error.update("")
            return
        try:
            self.typed = parse_schedule(event.value, self.unit, self.schedule.granularity_min)
        except UnitError as problem:
            self.typed = None
            error.update(str(problem))
        else:
            error.update("")
        self.query_one("#chart", Static).update(
            "\n".join(day_chart(self.old, self.typed, self.unit))
        )
        self.query_one("#totals", Static).update(self._totals())

    def _off(self) -> ClearSchedule:
        return ClearSchedule()

    def _review(self) -> None:
        if self.typed is not None:
            self.dismiss(SetSchedule(self.typed))


class PeriodicDialog(SettingsDialog[SetPeriodicBolus]):
    """Periodic boluses: each dose, every how many hours, how long each lasts, the first of
    the day; Enter reviews them, ``Clear`` reviews stopping them, Escape cancels."""

    OFF_BUTTON = "clear"

    def __init__(self, schedule: ScheduleResponse, unit: str) -> None:
        super().__init__()
        self.unit = unit
        self.current = periodic_of(schedule)

    def compose(self) -> ComposeResult:
        now = self.current.describe(self.unit) if self.current else "none"
        p = self.current
        with Vertical(id="dialog", classes="periodic"):
            yield Static(f"Periodic boluses, on the pump's clock (UTC); now: {now}")
            fields = (
                (
                    "dose",
                    f"Each bolus ({self.unit})",
                    field_amount(p.dose_ng, self.unit) if p else "",
                ),
                (
                    "every",
                    "Every (hours: 1, 2, 3, 4, 6, 8, 12, 24)",
                    str(p.interval_min // 60) if p else "",
                ),
                ("duration", "Each lasting (minutes)", str(p.duration_min) if p else ""),
                ("first", "First of the day (HH:MM)", clock(p.first_min) if p else "00:00"),
            )
            yield from self.fields_and_buttons(fields, "Clear" if p is not None else None)

    def _review(self) -> None:
        try:
            command = SetPeriodicBolus(
                parse_amount_ng(self._value("dose"), self.unit, "periodic bolus"),
                parse_count(self._value("every"), "every (hours)", 1, 24),
                parse_count(self._value("duration"), "duration (minutes)", 1, 1440),
                parse_clock(self._value("first"), "first bolus"),
            )
        except UnitError as problem:
            self._problem(str(problem))
            return
        self.dismiss(command)

    def _off(self) -> SetPeriodicBolus:
        return SetPeriodicBolus(0)
