"""Dose and pain on one time axis, as a model every face draws: the TUI in text, the visit
report in SVG.

The model holds what is drawn (the dose as steps, each change marked as an increase or a
decrease, each VAS reading, each guard decision) and the axes (time, dose in the drug's unit,
VAS 0-10); a face maps the axes to its own cells or pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pumpctl.clinical.timeline import TimelineRow
from pumpctl.units import format_amount

HOUR_S = 3_600
DAY_S = 86_400
# Time-axis steps a face may label, finest first: the first that gives at most the ticks a
# face has room for is used.
TICK_STEPS_S = tuple(
    hours * HOUR_S for hours in (1, 3, 6, 12, 24, 48, 7 * 24, 14 * 24, 28 * 24, 91 * 24, 364 * 24)
)


@dataclass(frozen=True)
class DoseStep:
    start_s: int
    end_s: int
    ng_per_day: int


@dataclass(frozen=True)
class DoseMark:
    """A programmed change of the daily dose."""

    time_s: int
    before_ng_per_day: int
    after_ng_per_day: int

    @property
    def increase(self) -> bool:
        return self.after_ng_per_day > self.before_ng_per_day


@dataclass(frozen=True)
class VasPoint:
    time_s: int
    tenths: int


@dataclass(frozen=True)
class GuardMark:
    """A guard decision on a proposed increase: ``verdict`` is block, hold or warn."""

    time_s: int
    verdict: str
    rule: str
    proposed_ng_per_day: int | None


@dataclass(frozen=True)
class ChartModel:
    unit: str
    start_s: int
    end_s: int
    steps: tuple[DoseStep, ...]
    marks: tuple[DoseMark, ...]
    vas: tuple[VasPoint, ...]
    guard: tuple[GuardMark, ...]
    dose_low_ng_per_day: int  # the dose axis, from just below the lowest dose
    dose_high_ng_per_day: int

    @property
    def empty(self) -> bool:
        return not self.marks and not self.vas and not self.guard

    @property
    def span_s(self) -> int:
        return max(1, self.end_s - self.start_s)

    def dose_label(self, ng_per_day: int) -> str:
        return format_amount(ng_per_day, self.unit)

    def dose_axis_title(self) -> str:
        return f"daily dose ({self.unit}/day)"

    def dose_ticks(self) -> list[tuple[int, str]]:
        """The axis's ends, and every dose the chart reaches, labelled in the drug's unit."""
        values = {self.dose_low_ng_per_day, self.dose_high_ng_per_day}
        values |= {s.ng_per_day for s in self.steps}
        return [(v, format_amount(v, self.unit, per_day=False)) for v in sorted(values)]

    def time_ticks(self, most: int) -> list[tuple[int, str]]:
        """At most ``most`` ticks on whole hours or days of the pump's clock (UTC)."""
        step = next((s for s in TICK_STEPS_S if self.span_s // s < most), TICK_STEPS_S[-1])
        first = -(-self.start_s // step) * step
        fmt = "%H:%M" if step < DAY_S else "%d %b"
        ticks = []
        for time_s in range(first, self.end_s + 1, step):
            moment = datetime.fromtimestamp(time_s, UTC)
            label = moment.strftime(fmt)
            if step < DAY_S and moment.hour == 0:
                label = moment.strftime("%d %b")
            ticks.append((time_s, label))
        return ticks


def guard_marks(entries: Iterable[dict[str, object]]) -> list[GuardMark]:
    """The guard's decisions noted in audit entries (``guard-block``, ``-hold``, ``-warn``)."""
    marks = []
    for entry in entries:
        action = str(entry.get("action", ""))
        data = entry.get("data")
        time_s = entry.get("time_s")
        if not action.startswith("guard-") or not isinstance(time_s, int):
            continue
        details = data if isinstance(data, dict) else {}
        proposed = details.get("proposed_ng_per_day")
        marks.append(
            GuardMark(
                time_s,
                action.removeprefix("guard-"),
                str(details.get("rule", "")),
                proposed if isinstance(proposed, int) else None,
            )
        )
    return marks


def chart_model(
    rows: Sequence[TimelineRow],
    current_ng_per_day: int,
    now_s: int,
    unit: str,
    guard: Sequence[GuardMark] = (),
) -> ChartModel:
    """From the record's timeline: the dose from the first change (or now) to ``now_s``."""
    doses = [r for r in rows if r.kind == "dose"]
    times = [r.time_s for r in rows] + [g.time_s for g in guard]
    start = min(times) if times else now_s
    end = max([now_s, *times])
    first = doses[0].previous if doses and doses[0].previous is not None else None
    level = first if first is not None else current_ng_per_day
    steps, marks, at = [], [], start
    for change in doses:
        if change.time_s > at:
            steps.append(DoseStep(at, change.time_s, level))
        if change.previous is not None:
            marks.append(DoseMark(change.time_s, change.previous, change.value))
        level, at = change.value, change.time_s
    steps.append(DoseStep(at, end, level))
    levels = [current_ng_per_day, *(d.value for d in doses)]
    if first is not None:
        levels.append(first)
    high = max(max(levels), 1)
    # From just below the lowest dose, so a 10 % step is visible, not from zero.
    low = min(levels) * 3 // 4 if max(levels) > min(levels) else 0
    return ChartModel(
        unit,
        start,
        end,
        tuple(steps),
        tuple(marks),
        tuple(VasPoint(r.time_s, r.value) for r in rows if r.kind == "vas"),
        tuple(guard),
        low,
        high,
    )
