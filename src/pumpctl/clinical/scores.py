"""Pain scores (VAS 0–10) as integer tenths, parsed exactly."""

from __future__ import annotations

import re
from decimal import Decimal

MAX_TENTHS = 100

# Plain ASCII decimal notation only: no exponent ("1e1"), no digit separators ("1_0"), no
# non-ASCII digits ("５"), no leading "+" or bare point (".5", "5."). Decimal() alone accepts
# all of those, so the shape is checked first.
_NUMBER = re.compile(r"-?[0-9]+(?:\.([0-9]+))?", re.ASCII)


class ScoreError(ValueError):
    pass


def parse_vas(text: str) -> int:
    """``"7"`` → 70, ``"6.5"`` → 65; anything but 0–10 with at most one decimal is refused."""
    stripped = text.strip()
    match = _NUMBER.fullmatch(stripped)
    if match is None:
        raise ScoreError(f"VAS {text!r} is not a number from 0 to 10 (e.g. 6 or 6.5)")
    value = Decimal(stripped)
    if not 0 <= value <= 10:
        raise ScoreError(f"VAS {text!r} is outside 0-10")
    decimals = match.group(1) or ""
    if len(decimals) > 1:
        raise ScoreError(f"VAS {text!r} has more than one decimal")
    return int(value * 10)


def format_vas(tenths: int) -> str:
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"
