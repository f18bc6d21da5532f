"""The programmer's own checks against the limits the pump reports.

Defence in depth: these refuse early with the same rules the firmware enforces; the firmware
remains the authority (it also enforces timing and 24 h totals). What needs a confirmation
rather than a refusal (a ×10 increase, a cut below half) is the review's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.protocol.messages import LimitsResponse, NakCode
from pumpctl.units import format_amount, format_concentration, format_flow

# A new dose below current / DECREASE_CONFIRM_DIVISOR needs an explicit confirmation.
DECREASE_CONFIRM_DIVISOR = 2
# A concentration change by this factor or more, either way, needs an explicit confirmation.
CONCENTRATION_CONFIRM_FACTOR = 2


@dataclass(frozen=True)
class Violation:
    rule: NakCode
    reason: str
    limit: int | None = None  # in the unit the pump's NAK of the same rule uses


def above_max_dose(limits: LimitsResponse, new_ng_per_day: int) -> Violation | None:
    """A daily dose above the drug's maximum: the first thing a 10x slip runs into."""
    if new_ng_per_day <= limits.max_dose_ng_per_day:
        return None
    unit = limits.display_unit
    return Violation(
        NakCode.ABOVE_MAX_DOSE,
        f"{format_amount(new_ng_per_day, unit)} exceeds the maximum daily dose "
        f"{format_amount(limits.max_dose_ng_per_day, unit)}",
        limits.max_dose_ng_per_day,
    )


def check_rate_change(
    limits: LimitsResponse,
    current_ng_per_day: int,
    new_ng_per_day: int,
    concentration_ng_per_ml: int,
) -> Violation | None:
    unit = limits.display_unit

    def dose(ng: int) -> str:
        return format_amount(ng, unit)

    above = above_max_dose(limits, new_ng_per_day)
    if above is not None:
        return above
    flow = new_ng_per_day * 1_000_000 // concentration_ng_per_ml
    if flow < limits.min_flow_nl_per_day:
        return Violation(
            NakCode.BELOW_MIN_FLOW,
            f"{dose(new_ng_per_day)} at {format_concentration(concentration_ng_per_ml, unit)} "
            f"needs a flow below the pump's minimum of {format_flow(limits.min_flow_nl_per_day)}: "
            "use a lower concentration at the next refill",
            limits.min_flow_nl_per_day,
        )
    if new_ng_per_day <= current_ng_per_day:
        return None
    return step_violation(limits, current_ng_per_day, new_ng_per_day)


def step_violation(limits: LimitsResponse, old: int, new: int, at: str = "") -> Violation | None:
    """STEP_TOO_LARGE for an increase from ``old`` to ``new`` ng/day beyond the step limits
    (absolute, then percentage), as the pump judges it; ``at`` names a schedule's time of day."""
    unit = limits.display_unit
    step = new - old
    if step > limits.max_step_ng_per_day:
        return Violation(
            NakCode.STEP_TOO_LARGE,
            f"{at}increase of {format_amount(step, unit)} exceeds the maximum step of "
            f"{format_amount(limits.max_step_ng_per_day, unit)}",
            limits.max_step_ng_per_day,
        )
    if old and step * 100 > old * limits.max_step_pct:
        return Violation(
            NakCode.STEP_TOO_LARGE,
            f"{at}increase of {format_amount(step, unit)} exceeds the maximum step of "
            f"{limits.max_step_pct}% of {format_amount(old, unit)}",
            old + old * limits.max_step_pct // 100,
        )
    return None


def is_large_rate_change(limits: LimitsResponse, current: int, new: int) -> bool:
    """×factor or more up, or below half down: a likely slip of a decimal point."""
    if current <= 0:
        return False
    return new >= current * limits.large_change_factor or new * DECREASE_CONFIRM_DIVISOR < current


def is_large_concentration_change(old_ng_per_ml: int, new_ng_per_ml: int) -> bool:
    factor = CONCENTRATION_CONFIRM_FACTOR
    return new_ng_per_ml >= old_ng_per_ml * factor or new_ng_per_ml * factor <= old_ng_per_ml
