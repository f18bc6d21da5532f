"""Flexible-dosing schedules on the programmer's side: the text a clinician types, the day's
arithmetic (exact: integers and ``Fraction``), and the programmer's own checks of a change of
program against the limits the pump reports.

A program is a tuple of steps ``(start_min, dose_ng_per_day)`` on the pump's clock; a simple
rate is one step at 00:00 (docs/protocol.md, SET_SCHEDULE). The pump enforces the same rules
and, beyond them, the worst real 24 h window with its boluses and the interval between
increases: it remains the authority.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from pumpctl.limits import DECREASE_CONFIRM_DIVISOR, Violation, step_violation
from pumpctl.protocol.messages import LimitsResponse, NakCode, ScheduleResponse, ScheduleStep
from pumpctl.units import UnitError, format_amount, format_flow, parse_amount_ng, parse_number

MIN_PER_DAY = 1440
MS_PER_DAY = 86_400_000
NL_PER_ML = 1_000_000
STEP = re.compile(r"([0-9]{2}):([0-9]{2})=(.*)", re.ASCII)
CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})", re.ASCII)

Steps = tuple[tuple[int, int], ...]
Rated = Sequence[tuple[int, int | Fraction]]  # with periodic boluses on top: ng/day fractions
# Periodic boluses (docs/protocol.md, SET_PERIODIC_BOLUS): every one of these hours, the first
# within the first interval on a 15 min boundary, each lasting 1 min to the interval.
PERIODIC_INTERVALS_H = (1, 2, 3, 4, 6, 8, 12, 24)
PERIODIC_FIRST_GRANULARITY_MIN = 15


@dataclass(frozen=True)
class Periodic:
    """Periodic boluses: ``dose_ng`` every ``interval_min`` from ``first_min`` after 00:00,
    each over ``duration_min``."""

    dose_ng: int
    duration_min: int
    interval_min: int
    first_min: int

    @property
    def per_day_ng(self) -> int:
        return self.dose_ng * (MIN_PER_DAY // self.interval_min)

    def describe(self, unit: str) -> str:
        return (
            f"{format_amount(self.dose_ng, unit, False)} every {self.interval_min // 60} h over "
            f"{self.duration_min} min from {clock(self.first_min)}"
        )

    def shape_error(self) -> str | None:
        if self.interval_min % 60 or self.interval_min // 60 not in PERIODIC_INTERVALS_H:
            hours = ", ".join(str(h) for h in PERIODIC_INTERVALS_H)
            return f"a periodic bolus comes every {hours} h"
        if not 1 <= self.duration_min <= self.interval_min:
            return f"a periodic bolus lasts 1 min to its interval, not {self.duration_min} min"
        if self.first_min >= self.interval_min or self.first_min % PERIODIC_FIRST_GRANULARITY_MIN:
            return (
                f"the first bolus at {clock(self.first_min)} is not within the first interval "
                f"on a {PERIODIC_FIRST_GRANULARITY_MIN} min boundary"
            )
        return None


def periodic_of(schedule: ScheduleResponse | None) -> Periodic | None:
    if schedule is None or not schedule.periodic_dose_ng:
        return None
    return Periodic(
        schedule.periodic_dose_ng,
        schedule.periodic_duration_min,
        schedule.periodic_interval_min,
        schedule.periodic_first_min,
    )


def with_periodic(basal: Steps, periodic: Periodic | None) -> Rated:
    """The basal program with the periodic boluses on top, as daily steps."""
    if periodic is None:
        return basal
    rate = Fraction(periodic.dose_ng * MIN_PER_DAY, periodic.duration_min)
    windows: list[tuple[int, int]] = []
    for start in range(periodic.first_min, MIN_PER_DAY, periodic.interval_min):
        end = start + periodic.duration_min
        windows += (
            [(start, MIN_PER_DAY), (0, end - MIN_PER_DAY)] if end > MIN_PER_DAY else [(start, end)]
        )
    edges = sorted({s for s, _ in basal} | {e for w in windows for e in w} - {MIN_PER_DAY})
    out: list[tuple[int, int | Fraction]] = []
    for edge in edges:
        dose: int | Fraction = next(d for s, e, d in spans(basal) if s <= edge < e)
        if any(s <= edge < e for s, e in windows):
            dose = dose + rate
        out.append((edge, dose))
    return out


def clock(start_min: int) -> str:
    return f"{start_min // 60:02d}:{start_min % 60:02d}"


def parse_clock(text: str, what: str) -> int:
    """``"02:00"`` → minutes after midnight; ``UnitError`` naming ``what`` otherwise."""
    match = CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise UnitError(f"{what} {text!r} is not a time of day HH:MM (e.g. 02:00)")
    return int(match[1]) * 60 + int(match[2])


def parse_count(text: str, what: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``, in the one number grammar."""
    value = parse_number(text, what, "")
    if value != value.to_integral_value() or not low <= value <= high:
        raise UnitError(f"{what} {text!r} is not a whole number from {low} to {high}")
    return int(value)


def parse_schedule(text: str, unit: str, granularity_min: int) -> Steps:
    """``"00:00=1.4 08:00=1.8 20:00=1.4"`` (doses per day in ``unit``) → steps, in order.
    Neighbouring steps of the same dose are one step. ``UnitError``: one line naming what is
    wrong."""
    found: dict[int, int] = {}
    for token in text.split():
        match = STEP.fullmatch(token)
        if match is None:
            raise UnitError(f"step {token!r} is not HH:MM=DOSE (e.g. 08:00=1.8)")
        hours, minutes, amount = int(match[1]), int(match[2]), match[3]
        if hours > 23 or minutes > 59:
            raise UnitError(f"step {token!r}: {match[1]}:{match[2]} is not a time of day")
        start = hours * 60 + minutes
        if start % granularity_min:
            raise UnitError(
                f"step {token!r}: steps start on {granularity_min} min boundaries "
                f"(the pump's granularity)"
            )
        if start in found:
            raise UnitError(f"step {token!r}: {clock(start)} is given twice")
        found[start] = parse_amount_ng(amount, unit, f"dose of the {clock(start)} step")
    if not found:
        raise UnitError("a schedule needs steps: HH:MM=DOSE ... (e.g. 00:00=1.4 08:00=1.8)")
    if 0 not in found:
        raise UnitError("a schedule's first step starts at 00:00")
    steps: list[tuple[int, int]] = []
    for start in sorted(found):
        if not steps or steps[-1][1] != found[start]:
            steps.append((start, found[start]))
    if len(steps) == 1:
        raise UnitError(
            "every step has the same dose: that is a simple rate (pumpctl set-rate DOSE)"
        )
    return tuple(steps)


def from_wire(steps: Sequence[ScheduleStep]) -> Steps:
    return tuple((s.start_min, s.dose_ng_per_day) for s in steps)


def to_wire(steps: Steps) -> list[ScheduleStep]:
    return [ScheduleStep(start_min=s, dose_ng_per_day=d) for s, d in steps]


def program_of(schedule: ScheduleResponse) -> Steps:
    return from_wire(schedule.steps)


def spans(steps: Rated) -> Iterator[tuple[int, int, int | Fraction]]:
    """``(start_min, end_min, dose)`` of each step."""
    for i, (start, dose) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else MIN_PER_DAY
        yield start, end, dose


def daily_dose(steps: Rated) -> Fraction:
    """The integral over a day, ng: the daily dose the guard and the review compare."""
    return Fraction(sum((end - start) * dose for start, end, dose in spans(steps)), MIN_PER_DAY)


def daily_dose_ng(steps: Steps) -> int:
    """As the pump reports it: rounded down to the ng."""
    return math.floor(daily_dose(steps))


def compare(old: Steps, new: Steps) -> list[tuple[int, int, int, int]]:
    """``(start_min, end_min, old_dose, new_dose)`` over each stretch of the day where
    neither program changes."""
    starts = sorted({s for s, _ in old} | {s for s, _ in new})
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else MIN_PER_DAY
        o = next(d for s, e, d in spans(old) if s <= start < e)
        n = next(d for s, e, d in spans(new) if s <= start < e)
        out.append((start, end, int(o), int(n)))  # programs as programmed: whole ng/day
    return out


def increases(old: Steps, new: Steps) -> bool:
    return any(n > o for _, _, o, n in compare(old, new))


def is_large_change(limits: LimitsResponse, old: Steps, new: Steps) -> bool:
    """At any time of day: ×factor or more up, or below half down (as a simple rate's)."""
    return any(
        o > 0 and (n >= o * limits.large_change_factor or n * DECREASE_CONFIRM_DIVISOR < o)
        for _, _, o, n in compare(old, new)
    )


@dataclass(frozen=True)
class Rules:
    """What the pump says of schedules (READ_SCHEDULE)."""

    max_steps: int
    granularity_min: int


def check_change(
    limits: LimitsResponse,
    rules: Rules,
    concentration_ng_per_ml: int,
    old: Steps,
    new: Steps,
    periodic_ng_per_day: int = 0,
) -> Violation | None:
    """The programmer's refusal of a change of program, or None: the daily dose within the
    maximum, each step above the minimum flow, and wherever it increases, within the maximum
    step of what was delivered at that time of day."""
    unit = limits.display_unit

    def dose(ng: int) -> str:
        return format_amount(ng, unit)

    several = len(new) > 1 or len(old) > 1
    if len(new) > rules.max_steps:
        return Violation(
            NakCode.INVALID_ARGUMENT,
            f"{len(new)} steps: the pump takes at most {rules.max_steps}",
        )
    if daily_dose(new) + periodic_ng_per_day > limits.max_dose_ng_per_day:
        boluses = f" with {format_amount(periodic_ng_per_day, unit, False)} of periodic boluses"
        return Violation(
            NakCode.ABOVE_MAX_DOSE,
            f"{describe(new, unit)} ({dose(daily_dose_ng(new))} a day)"
            f"{boluses if periodic_ng_per_day else ''} exceeds the maximum daily dose "
            f"{dose(limits.max_dose_ng_per_day)}",
            limits.max_dose_ng_per_day,
        )
    for start, step_dose in new:
        at = f"the {clock(start)} step's " if len(new) > 1 else ""
        if step_dose * NL_PER_ML // concentration_ng_per_ml < limits.min_flow_nl_per_day:
            return Violation(
                NakCode.BELOW_MIN_FLOW,
                f"{at}{dose(step_dose)} needs a flow below the pump's minimum of "
                f"{format_flow(limits.min_flow_nl_per_day)}: use a lower concentration at the "
                "next refill",
                limits.min_flow_nl_per_day,
            )
    for start, _, o, n in compare(old, new):
        found = step_violation(limits, o, n, f"at {clock(start)}: " if several else "")
        if found is not None:
            return found
    return None


def pieces(steps: Rated, start_ms: int, end_ms: int) -> Iterator[tuple[int, int, int | Fraction]]:
    """``(since_ms, until_ms, dose)``: the program over ``[start_ms, end_ms)``."""
    t = start_ms
    while t < end_ms:
        day_ms = t - t % MS_PER_DAY
        minute = (t - day_ms) // 60_000
        _, end, dose = next((s, e, d) for s, e, d in spans(steps) if s <= minute < e)
        until = min(end_ms, day_ms + end * 60_000)
        yield t, until, dose
        t = until


def projected_low_reservoir_s(
    now_s: int,
    reservoir_ul: int,
    limits: LimitsResponse,
    concentration_ng_per_ml: int,
    steps: Steps,
    *,
    running: bool = True,
    periodic: Periodic | None = None,
) -> int | None:
    """``preview.projected_low_reservoir_s`` on a schedule: the pump's own formula (every
    allowed demand bolus taken, capped by the daily maximum), the steps and any periodic
    boluses followed exactly."""
    above_low_nl = (reservoir_ul - limits.low_reservoir_ul) * 1000
    if not running or above_low_nl <= 0:
        return None
    periodic_ng = periodic.per_day_ng if periodic is not None else 0
    boluses_ng = min(
        limits.bolus_max_ng * limits.max_boluses_per_day,
        max(0, limits.max_dose_ng_per_day - daily_dose_ng(steps) - periodic_ng),
    )
    with_boluses = tuple((s, d + boluses_ng) for s, d in with_periodic(steps, periodic))
    per_day = daily_dose(with_boluses)
    left = Fraction(above_low_nl * concentration_ng_per_ml, NL_PER_ML)  # ng to deliver
    if per_day <= 0:
        return None
    now_ms = now_s * 1000
    days = max(0, math.floor(left / per_day) - 1)
    left -= days * per_day
    t = now_ms + days * MS_PER_DAY
    while True:
        for since, until, dose in pieces(with_boluses, t, t + MS_PER_DAY):
            amount = Fraction((until - since) * dose, MS_PER_DAY)
            if dose and amount >= left:
                return (since + math.ceil(left * MS_PER_DAY / dose)) // 1000
            left -= amount
        t += MS_PER_DAY


def describe(steps: Steps, unit: str) -> str:
    """``00:00 1.4, 08:00 1.8, 20:00 1.4 mg/day``; a simple rate as ``1.4 mg/day``."""
    if len(steps) == 1:
        return format_amount(steps[0][1], unit)
    parts = [
        f"{clock(s)} {format_amount(d, unit, False).removesuffix(' ' + unit)}" for s, d in steps
    ]
    return f"{', '.join(parts)} {unit}/day"
