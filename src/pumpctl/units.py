"""Clinical units ↔ wire integers, exactly (``Decimal``, never float).

Doses travel in nanograms; clinicians read and type them in the drug's own unit
(mg/day for morphine, mcg/day for ziconotide), as the drug library states.
"""

from __future__ import annotations

import re
from decimal import Decimal

# The one grammar of every amount a person types (dose, volume, concentration, duration):
# ASCII digits with at most one decimal point between digits. No sign, exponent, digit
# separator, non-ASCII digit or bare point: Decimal() alone accepts "1_5" (15), "１.６",
# "1.45e0" and "+1.45", each a way to program a dose other than the one read.
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
MAX_DURATION_S = 86_400

NG_PER_UNIT = {"g": 1_000_000_000, "mg": 1_000_000, "mcg": 1_000}


class UnitError(ValueError):
    """Text that is not a valid amount in the expected unit."""


def _ng_per(unit: str) -> int:
    try:
        return NG_PER_UNIT[unit]
    except KeyError:
        known = ", ".join(NG_PER_UNIT)
        raise UnitError(f"the drug library's unit {unit!r} is unknown ({known})") from None


def parse_number(text: str, what: str, unit: str) -> Decimal:
    """Text in the one grammar (:data:`NUMBER`) → its exact value; one line naming ``what``
    and the unit otherwise."""
    stripped = text.strip()
    if NUMBER.fullmatch(stripped) is None:
        if stripped.startswith("-") and NUMBER.fullmatch(stripped[1:]):
            raise UnitError(f"{what} {text!r} is negative")
        raise UnitError(
            f"{what} {text!r} is not a number in {unit} (digits with at most one decimal "
            "point, e.g. 1.5)"
        )
    return Decimal(stripped)


def parse_amount_ng(text: str, unit: str, what: str = "dose") -> int:
    """``"1.4", "mg"`` → ``1400000``; refuses non-numbers, negatives and sub-ng precision."""
    value = parse_number(text, what, unit)
    ng = value * _ng_per(unit)
    if ng != ng.to_integral_value():
        finest = format_amount(1, unit, per_day=False)
        raise UnitError(f"{what} {text!r} {unit} is more precise than the pump's {finest}")
    if ng > 0xFFFF_FFFF:
        raise UnitError(f"{what} {text!r} {unit} is too large")
    return int(ng)


def parse_volume_ul(text: str, what: str = "volume") -> int:
    """Millilitres as typed (``"18.5"``) → microlitres."""
    ul = parse_number(text, what, "mL") * 1000
    if ul != ul.to_integral_value():
        raise UnitError(f"{what} {text!r} mL is more precise than the pump's 0.001 mL")
    if ul > 0xFFFF_FFFF:
        raise UnitError(f"{what} {text!r} mL is too large")
    return int(ul)


def parse_duration_s(text: str, what: str = "duration", maximum_s: int = MAX_DURATION_S) -> int:
    """Whole seconds as typed (``"600"``), from 1 to ``maximum_s``."""
    value = parse_number(text, what, "seconds")
    if value != value.to_integral_value():
        raise UnitError(f"{what} {text!r} is not a whole number of seconds")
    if not 1 <= value <= maximum_s:
        raise UnitError(f"{what} {text!r} is outside 1-{maximum_s} seconds")
    return int(value)


def format_amount(ng: int, unit: str, per_day: bool = True) -> str:
    """``1400000, "mg"`` → ``"1.4 mg/day"``."""
    value = (Decimal(ng) / _ng_per(unit)).normalize()
    text = f"{value:f}"
    return f"{text} {unit}/day" if per_day else f"{text} {unit}"


def format_volume(ul: int) -> str:
    return f"{(Decimal(ul) / 1000).normalize():f} mL"


def format_flow(nl_per_day: int) -> str:
    """``56000`` → ``"0.056 mL/day"``."""
    return f"{(Decimal(nl_per_day) / 1_000_000).normalize():f} mL/day"


def format_concentration(ng_per_ml: int, unit: str) -> str:
    """``25000000, "mg"`` → ``"25 mg/mL"``."""
    return f"{format_amount(ng_per_ml, unit, per_day=False)}/mL"
