"""The programmer's own check of a rate change against the limits the pump reports.

Defence in depth: this previews and refuses early with the same rules the firmware
enforces; the firmware remains the authority (it also enforces timing and 24 h totals).
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.protocol.messages import LimitsResponse, NakCode
from pumpctl.units import display_unit, format_amount


@dataclass(frozen=True)
class Violation:
    rule: NakCode
    reason: str


def check_rate_change(
    limits: LimitsResponse,
    current_ng_per_day: int,
    new_ng_per_day: int,
    concentration_ng_per_ml: int,
    *,
    confirm_large_change: bool = False,
) -> Violation | None:
    unit = display_unit(limits.drug)

    def dose(ng: int) -> str:
        return format_amount(ng, unit)

    if new_ng_per_day > limits.max_dose_ng_per_day:
        return Violation(
            NakCode.ABOVE_MAX_DOSE,
            f"{dose(new_ng_per_day)} exceeds the maximum daily dose "
            f"{dose(limits.max_dose_ng_per_day)}",
        )
    flow = new_ng_per_day * 1_000_000 // concentration_ng_per_ml
    if flow < limits.min_flow_nl_per_day:
        return Violation(
            NakCode.BELOW_MIN_FLOW,
            f"{dose(new_ng_per_day)} needs a flow below the pump's minimum of "
            f"{limits.min_flow_nl_per_day} nL/day (stop the pump instead)",
        )
    if new_ng_per_day <= current_ng_per_day:
        return None
    factor = limits.large_change_factor
    large = current_ng_per_day and new_ng_per_day >= current_ng_per_day * factor
    if large and not confirm_large_change:
        return Violation(
            NakCode.LARGE_CHANGE_UNCONFIRMED,
            f"{dose(current_ng_per_day)} -> {dose(new_ng_per_day)} multiplies the dose by "
            f"{factor} or more: confirm explicitly",
        )
    step = new_ng_per_day - current_ng_per_day
    if step > limits.max_step_ng_per_day:
        return Violation(
            NakCode.STEP_TOO_LARGE,
            f"increase of {dose(step)} exceeds the maximum step of "
            f"{dose(limits.max_step_ng_per_day)}",
        )
    if current_ng_per_day and step * 100 > current_ng_per_day * limits.max_step_pct:
        return Violation(
            NakCode.STEP_TOO_LARGE,
            f"increase of {dose(step)} exceeds the maximum step of {limits.max_step_pct}% of "
            f"{dose(current_ng_per_day)}",
        )
    return None
