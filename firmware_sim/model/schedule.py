"""Flexible dosing: a day divided into timed steps, each a daily dose rate, repeating daily.

A program is a list of steps ``(start_min, dose_ng_per_day)``: the first starts at 00:00 on
the pump's clock, starts increase strictly, and each step lasts until the next one (the last
until midnight). A simple continuous rate is the one-step program ``[(0, dose)]``. All the
arithmetic is exact (integers and ``Fraction``), like the simple rate's: a year of a schedule
integrates to the nanolitre.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction

from firmware_sim.model.units import MS_PER_DAY, NL_PER_ML

# No public SynchroMed II labelling giving the number of steps or their granularity was found
# (docs/simulator.md §3.11): design defaults — verify.
MAX_STEPS = 24
GRANULARITY_MIN = 15
MIN_PER_DAY = 1440
MS_PER_MIN = 60_000

Rate = int | Fraction  # ng/day: a step's dose, or with periodic boluses on top a fraction
Steps = Sequence[tuple[int, Rate]]
Basal = Sequence[tuple[int, int]]  # a program as programmed: whole ng/day


def flat(dose_ng_per_day: int) -> list[tuple[int, int]]:
    """A simple continuous rate as a program."""
    return [(0, dose_ng_per_day)]


def shape_error(steps: Steps) -> str | None:
    """What is wrong with the steps' times and count; None if nothing."""
    if not 2 <= len(steps) <= MAX_STEPS:
        return f"a schedule has 2 to {MAX_STEPS} steps, not {len(steps)}"
    if steps[0][0] != 0:
        return "the first step starts at 00:00"
    for (start, dose), (next_start, next_dose) in itertools.pairwise(steps):
        if next_start <= start:
            return f"step {clock(next_start)} does not start after {clock(start)}"
        if dose == next_dose:
            return f"steps {clock(start)} and {clock(next_start)} have the same dose: merge them"
    for start, _ in steps:
        if start >= MIN_PER_DAY or start % GRANULARITY_MIN:
            return f"step {clock(start)} is not a time of day on a {GRANULARITY_MIN} min boundary"
    return None


def clock(start_min: int) -> str:
    return f"{start_min // 60:02d}:{start_min % 60:02d}"


def spans(steps: Steps) -> Iterator[tuple[int, int, Rate]]:
    """``(start_min, end_min, dose)`` of each step."""
    for i, (start, dose) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else MIN_PER_DAY
        yield start, end, dose


def daily_dose(steps: Steps) -> Fraction:
    """The schedule's integral over a day, ng."""
    return Fraction(sum((end - start) * dose for start, end, dose in spans(steps)), MIN_PER_DAY)


def daily_dose_ng(steps: Steps) -> int:
    """The daily dose a person reads (STATUS, events): the integral, rounded down to the ng."""
    return math.floor(daily_dose(steps))


def dose_at(steps: Steps, at_ms: int) -> Rate:
    minute = (at_ms % MS_PER_DAY) // MS_PER_MIN
    dose = steps[0][1]
    for start, step_dose in steps:
        if start > minute:
            break
        dose = step_dose
    return dose


def pieces(steps: Steps, start_ms: int, end_ms: int) -> Iterator[tuple[int, int, Rate]]:
    """``(since_ms, until_ms, dose)``: the program over ``[start_ms, end_ms)`` as constant
    pieces, one per step crossed."""
    t = start_ms
    while t < end_ms:
        day_ms = t - t % MS_PER_DAY
        minute = (t - day_ms) // MS_PER_MIN
        for start, end, dose in spans(steps):
            if start <= minute < end:
                until = min(end_ms, day_ms + end * MS_PER_MIN)
                yield t, until, dose
                t = until
                break


def delivered(steps: Steps, start_ms: int, end_ms: int) -> Fraction:
    """Drug delivered over ``[start_ms, end_ms)``, ng (whole days at the daily dose)."""
    days, rest_ms = divmod(end_ms - start_ms, MS_PER_DAY)
    partial = sum(
        (
            (until - since) * dose
            for since, until, dose in pieces(steps, start_ms, start_ms + rest_ms)
        ),
        0,
    )
    return days * daily_dose(steps) + Fraction(partial, MS_PER_DAY)


def volume_nl(ng: Fraction, concentration_ng_per_ml: int) -> Fraction:
    return ng * NL_PER_ML / concentration_ng_per_ml


def time_to_deliver_ms(steps: Steps, from_ms: int, ng: Fraction) -> int | None:
    """The fewest whole ms from ``from_ms`` by which at least ``ng`` has been delivered
    (the simple rate's ``ceil(amount / rate)``); None if the program delivers nothing."""
    per_day = daily_dose(steps)
    if ng <= 0:
        return 0
    if per_day <= 0:
        return None
    # Whole days first, then the steps of the last day (at most one day and one step more).
    days = max(0, math.floor(ng / per_day) - 1)
    left = ng - days * per_day
    t = from_ms + days * MS_PER_DAY
    while True:
        for since, until, dose in pieces(steps, t, t + MS_PER_DAY):
            amount = Fraction((until - since) * dose, MS_PER_DAY)
            if dose and amount >= left:
                return since + math.ceil(left * MS_PER_DAY / dose) - from_ms
            left -= amount
        t += MS_PER_DAY
