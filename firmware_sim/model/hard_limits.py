"""Hard limits: bounds on the drug library that no role can move, fixed when the firmware is
built (the ``hard_limits`` of the shipped ``drug_library.json``, never the library in NV
memory, which WRITE_LIMITS and ``--library`` change). Sources: docs/simulator.md §4.1.

Each bound is a ceiling (the field may not be raised above it) or a floor (it may not be
lowered below it), whichever way loosens the rule the field sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from firmware_sim.model.library import DrugLimits, shipped_json
from pumpctl.units import format_amount

# Each WRITE_LIMITS field: "ceiling" or "floor", and how a person reads its value.
BOUNDS: dict[str, tuple[str, str]] = {
    "min_concentration_ng_per_ml": ("floor", "concentration"),
    "max_concentration_ng_per_ml": ("ceiling", "concentration"),
    "max_dose_ng_per_day": ("ceiling", "dose"),
    "max_step_pct": ("ceiling", "pct"),
    "max_step_ng_per_day": ("ceiling", "dose"),
    "min_increase_interval_s": ("floor", "duration"),
    "bolus_max_ng": ("ceiling", "amount"),
    "bolus_lockout_s": ("floor", "duration"),
    "max_boluses_per_day": ("ceiling", "count"),
    "large_change_factor": ("ceiling", "factor"),
}
PATIENT_BOLUS_FIELD = "patient_bolus_min_duration_s"
# A drug the firmware was built without: its patient boluses last at least this long (the
# longest of the shipped drugs; design default — verify).
UNKNOWN_DRUG_PATIENT_BOLUS_MIN_S = 600


@dataclass(frozen=True, slots=True)
class Breach:
    """A field beyond its hard limit: which, the bound, and a line a person can read."""

    field: str
    bound: int
    detail: str


@cache
def _table() -> dict[str, dict[str, int]]:
    data: dict[str, Any] = shipped_json().get("hard_limits", {})
    return {drug: {k: int(v) for k, v in values.items()} for drug, values in data.items()}


def hard_limits_for(drug: str) -> dict[str, int] | None:
    """The build's hard limits for ``drug``; ``None`` for a drug it was built without."""
    return _table().get(drug)


def patient_bolus_min_duration_s(drug: str) -> int:
    limits = hard_limits_for(drug)
    if limits is None:
        return UNKNOWN_DRUG_PATIENT_BOLUS_MIN_S
    return limits[PATIENT_BOLUS_FIELD]


def breaches(current: DrugLimits, values: dict[str, int]) -> list[Breach]:
    """Every field of ``values`` (a WRITE_LIMITS) beyond the hard limits of the drug, in
    field order. For a drug the firmware was built without, the limits it holds now are the
    bounds: such a drug's limits can only be tightened."""
    bounds = hard_limits_for(current.drug)
    found = []
    for name, (kind, reads_as) in BOUNDS.items():
        bound = bounds[name] if bounds is not None else int(getattr(current, name))
        value = values[name]
        if (kind == "ceiling" and value > bound) or (kind == "floor" and value < bound):
            word = "above" if kind == "ceiling" else "below"
            unit = current.display_unit
            found.append(
                Breach(
                    name,
                    bound,
                    f"{name} {_reads(value, reads_as, unit)} is {word} the hard limit of "
                    f"{_reads(bound, reads_as, unit)} for {current.drug}",
                )
            )
    return found


def _reads(value: int, reads_as: str, unit: str) -> str:
    if reads_as == "concentration":
        return f"{format_amount(value, unit, False)}/mL"
    if reads_as == "dose":
        return format_amount(value, unit, True)
    if reads_as == "amount":
        return format_amount(value, unit, False)
    if reads_as == "pct":
        return f"{value}%"
    if reads_as == "duration":
        return _duration(value)
    if reads_as == "factor":
        return f"x{value}"
    return str(value)


def _duration(seconds: int) -> str:
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
