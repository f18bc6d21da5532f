"""The limit a refusal names: what it measures, in which unit, and how a person reads it.

A NAK's ``limit`` is a wire integer whose unit depends on the rule (docs/protocol.md §7, the
"``limit`` holds" column); the programmer's own refusals name theirs the same way. Under
``--json`` the error object carries the integer, the unit its key would name
(``ng_per_day``, ``s``, ...) and the value in the drug library's unit (docs/cli.md).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pumpctl.display import duration_text
from pumpctl.protocol.messages import NakCode
from pumpctl.units import format_amount, format_concentration, format_flow, format_volume


class LimitUnit(StrEnum):
    """The unit of a rule's limit, spelt as a JSON key's unit suffix spells it."""

    NG_PER_DAY = "ng_per_day"
    NG = "ng"
    NG_PER_ML = "ng_per_ml"
    NL_PER_DAY = "nl_per_day"
    UL = "ul"
    S = "s"
    COUNT = "count"
    FACTOR = "factor"
    PROGRAMMER_ID = "programmer_id"


# docs/protocol.md §7. ABOVE_HARD_LIMIT is absent: its bound's unit is that of the field it
# names, which the detail text states.
LIMIT_UNIT: dict[NakCode, LimitUnit] = {
    NakCode.STALE_DOSE: LimitUnit.NG_PER_DAY,
    NakCode.ABOVE_MAX_DOSE: LimitUnit.NG_PER_DAY,
    NakCode.STEP_TOO_LARGE: LimitUnit.NG_PER_DAY,
    NakCode.INCREASE_TOO_SOON: LimitUnit.S,
    NakCode.LARGE_CHANGE_UNCONFIRMED: LimitUnit.FACTOR,
    NakCode.BELOW_MIN_FLOW: LimitUnit.NL_PER_DAY,
    NakCode.BOLUS_LOCKOUT: LimitUnit.S,
    NakCode.BOLUS_TOO_LARGE: LimitUnit.NG,
    NakCode.DAILY_LIMIT: LimitUnit.NG_PER_DAY,
    NakCode.OVERFILL: LimitUnit.UL,
    NakCode.CONCENTRATION_OUT_OF_RANGE: LimitUnit.NG_PER_ML,
    NakCode.BOLUS_COUNT_LIMIT: LimitUnit.COUNT,
    NakCode.DISCREPANCY_UNACKNOWLEDGED: LimitUnit.UL,
    NakCode.BOLUS_TOO_SHORT: LimitUnit.S,
    NakCode.PROGRAMMER_REVOKED: LimitUnit.PROGRAMMER_ID,
    NakCode.UNKNOWN_PROGRAMMER: LimitUnit.PROGRAMMER_ID,
}

# How each unit reads, and whether that needs the drug's mass unit (mg, mcg).
_SHOWN: dict[LimitUnit, tuple[Callable[[int, str], str], bool]] = {
    LimitUnit.NG_PER_DAY: (lambda v, unit: format_amount(v, unit), True),
    LimitUnit.NG: (lambda v, unit: format_amount(v, unit, per_day=False), True),
    LimitUnit.NG_PER_ML: (format_concentration, True),
    LimitUnit.NL_PER_DAY: (lambda v, _: format_flow(v), False),
    LimitUnit.UL: (lambda v, _: format_volume(v), False),
    LimitUnit.S: (lambda v, _: duration_text(v), False),
    LimitUnit.COUNT: (lambda v, _: str(v), False),
    LimitUnit.FACTOR: (lambda v, _: f"{v}x", False),
}


def limit_fields(rule: NakCode, limit: int | None, drug_unit: str | None) -> dict[str, object]:
    """``limit``, ``limit_unit`` and ``limit_display`` for the error object: each ``None``
    when the rule reports no limit, its unit is not fixed, or (the display) the drug's unit
    is not known. A NAK says "no limit" with 0, so 0 is a limit only for a rule that has one
    (a drug whose library allows no bolus: BOLUS_TOO_LARGE, 0 ng)."""
    unit = LIMIT_UNIT.get(rule)
    if limit is None or (limit == 0 and unit is None):
        return {"limit": None, "limit_unit": None, "limit_display": None}
    shown = _SHOWN.get(unit) if unit is not None else None
    display = None
    if shown is not None and (drug_unit is not None or not shown[1]):
        display = shown[0](limit, drug_unit or "")
    return {"limit": limit, "limit_unit": unit.value if unit else None, "limit_display": display}
