"""What a staged change would do, computed before anything is sent (the Finish-screen review).

The low-reservoir projection follows the pump's own: the day the reservoir reaches its low
threshold if every bolus the limits allow is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.protocol.messages import LimitsResponse, StatusResponse

SECONDS_PER_DAY = 86_400
# The finest dose step a clinician types: 0.01 mg/day, or 0.1 mcg/day.
DOSE_RESOLUTION_NG = {"mg": 10_000, "mcg": 100}


@dataclass(frozen=True)
class ChangePreview:
    old_ng_per_day: int
    new_ng_per_day: int
    old_flow_nl_per_day: int
    new_flow_nl_per_day: int
    old_low_reservoir_s: int | None
    new_low_reservoir_s: int | None

    @property
    def is_increase(self) -> bool:
        return self.new_ng_per_day > self.old_ng_per_day

    @property
    def refill_shift_days(self) -> int | None:
        """How many whole days the projected low-reservoir date moves (negative: sooner)."""
        if self.old_low_reservoir_s is None or self.new_low_reservoir_s is None:
            return None
        return (self.new_low_reservoir_s - self.old_low_reservoir_s) // SECONDS_PER_DAY


def flow_nl_per_day(dose_ng_per_day: int, concentration_ng_per_ml: int) -> int:
    return dose_ng_per_day * 1_000_000 // concentration_ng_per_ml


def projected_low_reservoir_s(
    status: StatusResponse,
    limits: LimitsResponse,
    concentration_ng_per_ml: int,
    dose_ng_per_day: int,
) -> int | None:
    above_low_nl = (status.reservoir_ul - limits.low_reservoir_ul) * 1000
    daily_ng = dose_ng_per_day + limits.bolus_max_ng * limits.max_boluses_per_day
    if above_low_nl <= 0 or daily_ng <= 0:
        return None
    daily_nl = daily_ng * 1_000_000 // concentration_ng_per_ml
    if daily_nl <= 0:
        return None
    return status.pump_time_s + above_low_nl * SECONDS_PER_DAY // daily_nl


def preview_change(
    status: StatusResponse,
    limits: LimitsResponse,
    concentration_ng_per_ml: int,
    new_ng_per_day: int,
) -> ChangePreview:
    old = status.dose_ng_per_day
    return ChangePreview(
        old_ng_per_day=old,
        new_ng_per_day=new_ng_per_day,
        old_flow_nl_per_day=flow_nl_per_day(old, concentration_ng_per_ml),
        new_flow_nl_per_day=flow_nl_per_day(new_ng_per_day, concentration_ng_per_ml),
        old_low_reservoir_s=projected_low_reservoir_s(status, limits, concentration_ng_per_ml, old),
        new_low_reservoir_s=projected_low_reservoir_s(
            status, limits, concentration_ng_per_ml, new_ng_per_day
        ),
    )


def stepped_dose(current_ng_per_day: int, step_pct: int, unit: str, *, up: bool) -> int:
    """``current ± step_pct %``, rounded to the unit's resolution, at least one step away."""
    resolution = DOSE_RESOLUTION_NG[unit]
    delta = current_ng_per_day * step_pct // 100
    delta = max(resolution, delta // resolution * resolution)
    new = current_ng_per_day + delta if up else current_ng_per_day - delta
    return max(0, new // resolution * resolution if up else -(-new // resolution) * resolution)
