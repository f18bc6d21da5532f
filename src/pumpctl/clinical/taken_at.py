"""When a pain score was taken: ISO 8601, or relative to now (``-2h``, ``-1d6h``, ``-30m``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RELATIVE = re.compile(r"-((?:[0-9]+(?:d|h|m|s))+)", re.ASCII)
_PART = re.compile(r"([0-9]+)(d|h|m|s)", re.ASCII)
_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
MAX_BACK_S = 366 * 86_400  # a year back: further is a typing slip


class TakenAtError(ValueError):
    pass


def parse_taken_at(text: str, now_s: int) -> int:
    """Seconds on the record's timeline (the pump's clock, UTC) for ``text`` given ``now_s``."""
    stripped = text.strip()
    relative = _RELATIVE.fullmatch(stripped)
    if relative is not None:
        back = sum(int(n) * _SECONDS[u] for n, u in _PART.findall(relative.group(1)))
        when = now_s - back
    else:
        try:
            parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            raise TakenAtError(
                f"taken-at {text!r} is neither an ISO 8601 time (2026-01-04T09:30) nor a "
                "time ago (-2h, -1d, -30m)"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        when = int(parsed.timestamp())
    if when > now_s:
        raise TakenAtError(f"taken-at {text!r} is in the future")
    if now_s - when > MAX_BACK_S:
        raise TakenAtError(f"taken-at {text!r} is more than a year ago")
    return when
