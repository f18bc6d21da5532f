"""Pain scores (VAS 0–10) as integer tenths, parsed exactly."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_TENTHS = 100


class ScoreError(ValueError):
    pass


def parse_vas(text: str) -> int:
    """``"7"`` → 70, ``"6.5"`` → 65; anything but 0–10 with at most one decimal is refused."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ScoreError(f"VAS {text!r} is not a number from 0 to 10") from None
    if not value.is_finite() or not 0 <= value <= 10:
        raise ScoreError(f"VAS {text!r} is outside 0-10")
    tenths = value * 10
    if tenths != tenths.to_integral_value():
        raise ScoreError(f"VAS {text!r} has more than one decimal")
    return int(tenths)


def format_vas(tenths: int) -> str:
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"
