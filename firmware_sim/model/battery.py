"""The pump's battery: a charge drained by time and by the motor, with exact arithmetic.

The battery holds ``CAPACITY_UAH``. It drains ``TIME_UAH_PER_DAY`` every day whatever the
pump does (electronics, clock, telemetry), ``MOTOR_UAH_PER_ML`` for every mL the motor moves
and ``BOLUS_UAH`` for each bolus started (the motor's start-up and the programming session).
What has been used is a ``Fraction`` of µAh, like the reservoir's nanolitres: a year of
delivery integrates without drift.

Elective replacement (ERI) is raised when what is left lasts ``ERI_NOTICE_DAYS`` or less at
the pump's current drain (its program's daily volume and the time drain), so that at ERI the
pump has that notice before end of service (EOS), when it stops delivering for good.

SynchroMed II's labelling for patients gives a service life of 5 to 7 years depending on the
daily volume, at most 7, and a stop 90 days after the ERI alarm (Medtronic, "Getting a
replacement - drug pumps", medtronic.com/uk-en). The charge figures below are design
defaults — verify, chosen to give 7 years with no delivery and 5 years at 1 mL/day.
"""

from __future__ import annotations

import math
from fractions import Fraction

from firmware_sim.model.units import MS_PER_DAY, NL_PER_ML

TIME_UAH_PER_DAY = 1_000  # design default — verify
CAPACITY_UAH = 7 * 365 * TIME_UAH_PER_DAY  # 7 years with no delivery (labelled maximum)
MOTOR_UAH_PER_ML = 400  # 5 years at 1 mL/day (labelled minimum): design default — verify
BOLUS_UAH = 50  # design default — verify
ERI_NOTICE_DAYS = 90  # SynchroMed II: stops 90 days after the ERI alarm (Medtronic)
ERI_NOTICE_MS = ERI_NOTICE_DAYS * MS_PER_DAY
LOW_BATTERY_PCT = 20  # an early warning, years ahead of ERI: design default — verify


def remaining_uah(used_uah: Fraction) -> Fraction:
    return max(Fraction(0), CAPACITY_UAH - used_uah)


def percent(used_uah: Fraction) -> int:
    """What is left, in whole percent rounded up: 100 until 1 % is used, 0 only when empty."""
    left = remaining_uah(used_uah)
    return -(-left.numerator * 100 // (left.denominator * CAPACITY_UAH))


def used_for_percent(pct: int) -> Fraction:
    """The charge used that leaves exactly ``pct`` % (the debug port's battery fault)."""
    return Fraction(CAPACITY_UAH * (100 - pct), 100)


_TIME_UAH_PER_MS = Fraction(TIME_UAH_PER_DAY, MS_PER_DAY)
_MOTOR_UAH_PER_NL = Fraction(MOTOR_UAH_PER_ML, NL_PER_ML)


def drain(elapsed_ms: int, moved_nl: Fraction) -> Fraction:
    """What ``elapsed_ms`` of time and ``moved_nl`` of delivery use, µAh."""
    return _TIME_UAH_PER_MS * elapsed_ms + _MOTOR_UAH_PER_NL * moved_nl


_MS_PER_UAH = MS_PER_DAY // TIME_UAH_PER_DAY  # whole: 86 400
_NL_PER_UAH = NL_PER_ML // MOTOR_UAH_PER_ML  # whole: 2 500


def used(elapsed_ms: int, moved_nl: Fraction | int, extra_uah: Fraction) -> Fraction:
    """What the battery has used after ``elapsed_ms`` and ``moved_nl``, with ``extra_uah``
    (boluses, and what a battery fault set), µAh (not capped at the capacity).

    elapsed / 86 400 + moved / 2 500 + extra, over one common denominator: one reduction
    instead of one per step (this runs at every STATUS)."""
    moved, extra = Fraction(moved_nl), Fraction(extra_uah)
    base = _MS_PER_UAH * _NL_PER_UAH * moved.denominator
    numerator = (
        elapsed_ms * _NL_PER_UAH * moved.denominator + _MS_PER_UAH * moved.numerator
    ) * extra.denominator + base * extra.numerator
    return Fraction(numerator, base * extra.denominator)


def estimate(elapsed_ms: int, moved_nl: float) -> float:
    """``used`` without ``extra_uah``, as a float (screening only)."""
    return elapsed_ms * TIME_UAH_PER_DAY / MS_PER_DAY + moved_nl * MOTOR_UAH_PER_ML / NL_PER_ML


def daily_drain_uah(flow_nl_per_day: Fraction) -> Fraction:
    """What a day uses at this average flow (0 when nothing is delivered)."""
    return TIME_UAH_PER_DAY + flow_nl_per_day * MOTOR_UAH_PER_ML / NL_PER_ML


def eri_reserve_uah(flow_nl_per_day: Fraction) -> Fraction:
    """The charge that lasts the ERI notice at this flow: ERI is raised at or below it."""
    return daily_drain_uah(flow_nl_per_day) * ERI_NOTICE_DAYS


def end_of_service_after_ms(used_uah: Fraction, flow_nl_per_day: Fraction) -> int:
    """How long until the battery is empty at this flow (0: it is): the charge left over the
    daily drain, in whole ms rounded up (integer arithmetic: this runs at every STATUS)."""
    left, flow = remaining_uah(used_uah), Fraction(flow_nl_per_day)
    numerator = left.numerator * MS_PER_DAY * flow.denominator * _NL_PER_UAH
    denominator = left.denominator * (
        TIME_UAH_PER_DAY * flow.denominator * _NL_PER_UAH + flow.numerator
    )
    return -(-numerator // denominator)


def ms_to_use(uah: Fraction, rate_nl_per_ms: Fraction) -> int:
    """The fewest whole ms in which ``uah`` is used at a constant delivery rate."""
    if uah <= 0:
        return 0
    per_ms = Fraction(TIME_UAH_PER_DAY, MS_PER_DAY) + rate_nl_per_ms * MOTOR_UAH_PER_ML / NL_PER_ML
    return math.ceil(uah / per_ms)


def time_drain_as_ng_per_day(concentration_ng_per_ml: int) -> Fraction:
    """The time drain expressed as a dose rate of the drug in the reservoir: added to each
    step of a program, the drain over any stretch is that program's drug × µAh per ng."""
    return Fraction(TIME_UAH_PER_DAY * concentration_ng_per_ml, MOTOR_UAH_PER_ML)


def uah_as_ng(uah: Fraction, concentration_ng_per_ml: int) -> Fraction:
    return uah * concentration_ng_per_ml / MOTOR_UAH_PER_ML
