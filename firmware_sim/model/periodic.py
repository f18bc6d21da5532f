"""Periodic boluses: a bolus of a set dose every N hours, at the same times every day.

The boluses are part of the program, not commands: the pump delivers them at ``first_min``,
``first_min + interval``, ... on its clock, each over ``duration_min`` minutes, on top of the
basal program (a simple rate or a schedule). With an interval dividing the day the whole is a
daily step program like a schedule's (``effective``), delivered and judged with the same exact
arithmetic (``schedule.py``); its rates are ``Fraction`` ng/day (a bolus's dose spread over
its minutes).
"""

from __future__ import annotations

from fractions import Fraction

from firmware_sim.model.schedule import MIN_PER_DAY, Steps, clock, spans

# Every 1 to 24 h, dividing the day so that the boluses fall at the same times every day; first
# bolus on the schedule's 15 min grid; each lasting whole minutes up to the interval. No public
# SynchroMed II labelling of these bounds was found: design defaults — verify.
INTERVALS_H = (1, 2, 3, 4, 6, 8, 12, 24)
FIRST_GRANULARITY_MIN = 15

Periodic = tuple[int, int, int, int]  # (dose_ng, duration_min, interval_min, first_min)
RatedSteps = list[tuple[int, Fraction]]


def shape_error(dose_ng: int, duration_min: int, interval_min: int, first_min: int) -> str | None:
    """What is wrong with a periodic bolus's times; None if nothing (a dose of 0 clears)."""
    if interval_min % 60 or interval_min // 60 not in INTERVALS_H:
        hours = ", ".join(str(h) for h in INTERVALS_H)
        return f"a periodic bolus comes every {hours} h, not every {interval_min} min"
    if not 1 <= duration_min <= interval_min:
        return f"a periodic bolus lasts 1 min to its interval, not {duration_min} min"
    if first_min >= interval_min or first_min % FIRST_GRANULARITY_MIN:
        return (
            f"the first bolus at {clock(first_min % MIN_PER_DAY)} is not within the first "
            f"interval on a {FIRST_GRANULARITY_MIN} min boundary"
        )
    return None


def per_day(periodic: Periodic | None) -> int:
    """The periodic boluses' drug a day, ng."""
    if periodic is None:
        return 0
    dose, _, interval, _ = periodic
    return dose * (MIN_PER_DAY // interval)


def windows(periodic: Periodic) -> list[tuple[int, int]]:
    """``[start_min, end_min)`` of each bolus within the day, a bolus crossing midnight split."""
    _, duration, interval, first = periodic
    out = []
    for start in range(first, MIN_PER_DAY, interval):
        end = start + duration
        if end > MIN_PER_DAY:
            out += [(start, MIN_PER_DAY), (0, end - MIN_PER_DAY)]
        else:
            out.append((start, end))
    return sorted(out)


def effective(basal: Steps, periodic: Periodic | None) -> Steps:
    """The basal program with the periodic boluses on top, as daily steps (rates in ng/day)."""
    if periodic is None:
        return basal
    dose, duration, _, _ = periodic
    bolus_rate = Fraction(dose * MIN_PER_DAY, duration)
    bolus_windows = windows(periodic)
    edges = sorted({s for s, _, _ in spans(basal)} | {e for w in bolus_windows for e in w})
    steps: RatedSteps = []
    for edge in (e for e in edges if e < MIN_PER_DAY):
        rate = Fraction(next(d for s, e, d in spans(basal) if s <= edge < e))
        if any(s <= edge < e for s, e in bolus_windows):
            rate += bolus_rate
        if not steps or steps[-1][1] != rate:
            steps.append((edge, rate))
    return steps


def describe(periodic: Periodic, dose_text: str) -> str:
    _, duration, interval, first = periodic
    return f"{dose_text} every {interval // 60} h over {duration} min from {clock(first)}"
