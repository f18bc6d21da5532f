"""Projections the review shows before anything is sent, by the pump's own formulas.

The low-reservoir date is the pump's: the moment the reservoir reaches its low threshold if
every bolus the limits allow is taken, the boluses capped by the daily maximum
(``firmware_sim.model.pump.Pump.projected_low_reservoir_ms``), so the programmer and the pump
never disagree by more than the reservoir's 1 µL read-back resolution.
"""

from __future__ import annotations

import math
from fractions import Fraction

from pumpctl.protocol.messages import LimitsResponse

MS_PER_DAY = 86_400_000
NL_PER_ML = 1_000_000
# The finest dose step a clinician types: 0.01 mg/day, or 0.1 mcg/day.
DOSE_RESOLUTION_NG = {"mg": 10_000, "mcg": 100}


def flow_nl_per_day(dose_ng_per_day: int, concentration_ng_per_ml: int) -> int:
    return dose_ng_per_day * NL_PER_ML // concentration_ng_per_ml


def projected_low_reservoir_s(
    now_s: int,
    reservoir_ul: int,
    limits: LimitsResponse,
    concentration_ng_per_ml: int,
    dose_ng_per_day: int,
    *,
    running: bool = True,
) -> int | None:
    """When the reservoir reaches the low threshold at ``dose_ng_per_day``; None if it is
    there already or nothing is delivered."""
    above_low_nl = (reservoir_ul - limits.low_reservoir_ul) * 1000
    if not running or above_low_nl <= 0:
        return None
    boluses_ng = min(
        limits.bolus_max_ng * limits.max_boluses_per_day,
        max(0, limits.max_dose_ng_per_day - dose_ng_per_day),
    )
    rate_nl_per_ms = Fraction(
        (dose_ng_per_day + boluses_ng) * NL_PER_ML, concentration_ng_per_ml * MS_PER_DAY
    )
    if rate_nl_per_ms <= 0:
        return None
    return (now_s * 1000 + math.ceil(above_low_nl / rate_nl_per_ms)) // 1000


def stepped_dose(current_ng_per_day: int, step_pct: int, unit: str, *, up: bool) -> int:
    """``current ± step_pct %``, rounded to the unit's resolution, at least one step away."""
    resolution = DOSE_RESOLUTION_NG.get(unit, 100)
    delta = current_ng_per_day * step_pct // 100
    delta = max(resolution, delta // resolution * resolution)
    new = current_ng_per_day + delta if up else current_ng_per_day - delta
    return max(0, new // resolution * resolution if up else -(-new // resolution) * resolution)
