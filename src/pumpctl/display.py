"""Times and names as people read them, the same in every face (CLI, TUI, visit report).

Pump times are seconds on the pump's clock, which runs in UTC: every ``pump_*`` function
shows that clock, never this computer's zone. The battery's elective replacement and end of
service are the exception, shown as dates in the local zone (``local_date``): a patient plans
a replacement by the calendar on the wall. Quantities in the drug library's unit stay in
``pumpctl.units``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum

NONE = "-"


def utc_datetime(seconds: int) -> datetime:
    """Seconds since the epoch as an aware UTC moment (the pump's clock, or a UTC wall time)."""
    return datetime.fromtimestamp(seconds, UTC)


def pump_second(seconds: int) -> str:
    """``2026-03-01 08:00:00 UTC``: a pump time to the second."""
    return utc_datetime(seconds).strftime("%Y-%m-%d %H:%M:%S UTC")


def pump_minute(seconds: int) -> str:
    """``2026-03-01 08:00``: a pump time to the minute, UTC, where the column says so."""
    return utc_datetime(seconds).strftime("%Y-%m-%d %H:%M")


def pump_minute_utc(seconds: int) -> str:
    """``2026-03-01 08:00 UTC``: a pump time to the minute."""
    return utc_datetime(seconds).strftime("%Y-%m-%d %H:%M UTC")


def pump_date(seconds: int) -> str:
    """``2026-03-01``: the pump's (UTC) date."""
    return utc_datetime(seconds).strftime("%Y-%m-%d")


def projected_date(seconds: int | None) -> str:
    """A projected pump date (low reservoir, next refill), ``-`` when there is none (0)."""
    return pump_date(seconds) if seconds else NONE


def pump_hour_minute(seconds: int) -> str:
    """``08:00``: the pump's (UTC) time of day."""
    return utc_datetime(seconds).strftime("%H:%M")


def pump_stamp(seconds: int) -> str:
    """``20260301-0800``: a pump time in a file name."""
    return utc_datetime(seconds).strftime("%Y%m%d-%H%M")


def pump_day(seconds: int) -> date:
    """The pump's (UTC) calendar day."""
    return utc_datetime(seconds).date()


def wall_second(seconds: int) -> str:
    """``2026-03-01 08:00:00``: a UTC wall time (the programmer's clock) to the second."""
    return utc_datetime(seconds).strftime("%Y-%m-%d %H:%M:%S")


def local_date(seconds: int) -> str:
    """A time as a date in this computer's time zone."""
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d")


def duration_text(seconds: int) -> str:
    """``1 d 2 h``, ``4 h``, ``90 min`` -> ``1 h 30 min``: a span to the minute."""
    days, rest = divmod(max(0, seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    return f"{rest // 60} min"


def spoken(member: Enum) -> str:
    """An enum member's name as people read it: ``LOW_RESERVOIR`` -> ``low reservoir``."""
    return spoken_name(member.name)


def spoken_name(name: str) -> str:
    """A wire name as people read it (``PARTIAL_OCCLUSION`` -> ``partial occlusion``)."""
    return name.lower().replace("_", " ")
