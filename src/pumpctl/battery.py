"""The pump's battery as people read it, for every face: its level, the elective replacement
(ERI) date and end of service, as dates in the local time zone."""

from __future__ import annotations

from pumpctl.display import local_date
from pumpctl.protocol.messages import AlarmCode, StatusResponse


def eri_raised(status: StatusResponse) -> bool:
    return any(a.code == AlarmCode.ELECTIVE_REPLACEMENT for a in status.alarms)


def depleted(status: StatusResponse) -> bool:
    return status.battery_pct == 0 and 0 < status.battery_eos_projected_s <= status.pump_time_s


def battery_text(status: StatusResponse) -> str:
    """``86 %, elective replacement 2032-08-06, end of service 2032-11-04`` and the like."""
    level = f"{status.battery_pct} %"
    if depleted(status):
        return f"{level}: END OF SERVICE, delivery stopped for good: replace the pump"
    eri, eos = status.battery_eri_projected_s, status.battery_eos_projected_s
    if not eos:
        return level
    if eri_raised(status):
        return (
            f"{level}: ELECTIVE REPLACEMENT since {local_date(eri)}, end of service "
            f"{local_date(eos)}: schedule the replacement"
        )
    return f"{level}, elective replacement {local_date(eri)}, end of service {local_date(eos)}"


def battery_short(status: StatusResponse) -> str:
    """The same for a narrow panel: ``100 %, ERI 2032-08`` (years ahead, the month is what
    a visit plans by; once raised, the end of service to the day)."""
    level = f"{status.battery_pct} %"
    if depleted(status):
        return f"{level}: END OF SERVICE"
    if not status.battery_eos_projected_s:
        return level
    if eri_raised(status):
        return f"{level}: REPLACE by {local_date(status.battery_eos_projected_s)}"
    return f"{level}, ERI {local_date(status.battery_eri_projected_s)[:7]}"
