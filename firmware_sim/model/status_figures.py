"""STATUS's computed figures (battery, reservoir, projections) in whole-number arithmetic.

The pump keeps its reservoir and its battery's charge as exact fractions. STATUS is the
request it answers most, and building a ``Fraction`` for every step (a gcd each time) was
most of its cost, so here each quantity is carried as an unreduced numerator over a positive
denominator and only divided, rounded as the pump's rules say, at the end: the same figures
as ``battery.percent``, ``Pump.battery_projection_ms`` and
``Pump.projected_low_reservoir_ms``, from the same state (``tests/test_status_figures.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from firmware_sim.model import battery
from firmware_sim.model import program as flexible
from firmware_sim.model.units import MS_PER_DAY, NL_PER_ML
from pumpctl.protocol.messages import AlarmCode

if TYPE_CHECKING:
    from firmware_sim.model.pump import Pump

_MS_PER_UAH = MS_PER_DAY // battery.TIME_UAH_PER_DAY  # whole: 86 400
_NL_PER_UAH = NL_PER_ML // battery.MOTOR_UAH_PER_ML  # whole: 2 500
_ERI = int(AlarmCode.ELECTIVE_REPLACEMENT)


class StatusFigures(NamedTuple):
    reservoir_ul: int
    battery_pct: int
    eri_ms: int  # when ERI comes (or came)
    eos_ms: int  # when the battery runs out at the program in force
    low_reservoir_ms: int  # 0: already low, or nothing delivered


def status_figures(pump: Pump) -> StatusFigures:
    state = pump.state
    reservoir = state.reservoir_nl
    r_num, r_den = reservoir.numerator, reservoir.denominator

    # The charge used (battery.used): time, the volume moved, and the extra, capped.
    extra = state.battery_extra_uah
    moved_num = (state.battery_moved_nl + state.battery_fill_nl) * r_den - r_num
    base = _MS_PER_UAH * _NL_PER_UAH * r_den
    used_num = (
        (state.anchor_ms - state.battery_since_ms) * _NL_PER_UAH * r_den + _MS_PER_UAH * moved_num
    ) * extra.denominator + base * extra.numerator
    used_den = base * extra.denominator
    capacity = battery.CAPACITY_UAH
    left_num = max(0, capacity * used_den - used_num)  # 0 when all is used (or more)
    battery_pct = -(-left_num * 100 // (used_den * capacity))

    # End of service at the program's daily volume (battery.end_of_service_after_ms).
    if flexible.stepped(state):
        flow = pump.program_flow_nl_per_day()
        flow_num, flow_den = flow.numerator, flow.denominator
    else:
        flow_num, flow_den = state.dose_ng_per_day * NL_PER_ML, state.concentration_ng_per_ml
    eos_after = -(
        -left_num
        * MS_PER_DAY
        * flow_den
        * _NL_PER_UAH
        // (used_den * (battery.TIME_UAH_PER_DAY * flow_den * _NL_PER_UAH + flow_num))
    )
    eos_ms = state.anchor_ms + eos_after
    raised = state.alarms.get(_ERI)
    eri_ms = (
        raised.raised_ms
        if raised is not None
        else max(state.anchor_ms, eos_ms - battery.ERI_NOTICE_MS)
    )
    return StatusFigures(
        reservoir_ul=r_num // (r_den * 1000),
        battery_pct=battery_pct,
        eri_ms=eri_ms,
        eos_ms=eos_ms,
        low_reservoir_ms=_low_reservoir_ms(pump, r_num, r_den),
    )


def _low_reservoir_ms(pump: Pump, r_num: int, r_den: int) -> int:
    """``Pump.projected_low_reservoir_ms``: a schedule's projection is the pump's own."""
    state = pump.state
    low_nl = pump.model.low_reservoir_ul * 1000
    if not state.running or state.catheter == "occluded" or r_num <= low_nl * r_den:
        return 0
    if flexible.stepped(state):
        return pump.projected_low_reservoir_ms()
    limits = pump.limits
    boluses_ng = min(
        limits.bolus_max_ng * limits.max_boluses_per_day,
        max(0, limits.max_dose_ng_per_day - state.dose_ng_per_day),
    )
    dose = state.dose_ng_per_day + boluses_ng  # ng/day; the rate is its flow per ms
    if dose <= 0:
        return 0
    # (reservoir - low) / (dose × 10⁶ / (concentration × ms per day)), rounded up
    numerator = (r_num - low_nl * r_den) * state.concentration_ng_per_ml * MS_PER_DAY
    return state.anchor_ms - (-numerator // (r_den * dose * NL_PER_ML))
