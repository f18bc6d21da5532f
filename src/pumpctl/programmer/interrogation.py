"""What the programmer read from the pump, and the small values every command shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pumpctl.clinical.crosscheck import Discrepancy
from pumpctl.protocol.messages import (
    AlarmCode,
    AlarmRecord,
    DemandSettingsResponse,
    IdentifyResponse,
    ImplantResponse,
    LimitsResponse,
    PumpState,
    ScheduleResponse,
    StatusResponse,
)

if TYPE_CHECKING:
    from pumpctl.clinical.guard import OverrideReason


@dataclass(frozen=True)
class Interrogation:
    identity: IdentifyResponse
    status: StatusResponse
    limits: LimitsResponse
    schedule: ScheduleResponse | None = None  # read for the commands that change the program
    demand: DemandSettingsResponse | None = None  # read for the demand-bolus settings
    implant: ImplantResponse | None = None  # read for the commands that use the implant record

    @property
    def patient_id(self) -> str | None:
        """The implant record's patient identifier, if it was read and one was written."""
        implant = self.implant
        return implant.patient_id if implant is not None and implant.recorded else None

    @property
    def unit(self) -> str:
        """The drug library's own display unit for this pump's drug."""
        return self.limits.display_unit

    @property
    def serial(self) -> str:
        return self.identity.serial_number

    @property
    def running(self) -> bool:
        return self.status.state == PumpState.RUNNING

    def alarm_active(self, code: AlarmCode) -> bool:
        return any(a.code == code for a in self.status.alarms)


@dataclass(frozen=True)
class Context:
    """What a command is planned against: the interrogation, and the alarm list with the
    times alarms were raised when the command needs them (resume: how long delivery was off)."""

    seen: Interrogation
    alarms: tuple[AlarmRecord, ...] = ()
    last_refill_s: int | None = None  # the last refill in the record's mirror of the pump's log
    # Where the pump and the record disagree, not yet reconciled: increases wait.
    discrepancies: tuple[Discrepancy, ...] = ()

    def raised_at_s(self, code: AlarmCode) -> int | None:
        return next((a.raised_at_s for a in self.alarms if a.code == code), None)

    def refill_due_s(self, filled_at_s: int | None, low_reservoir_s: int | None) -> int | None:
        """The next refill: the low-reservoir date, or sooner the day the fill expires (the
        drug library's longest stay of this drug in the pump)."""
        interval = self.seen.limits.max_refill_interval_s
        expiry = None if filled_at_s is None or not interval else filled_at_s + interval
        dates = [d for d in (low_reservoir_s, expiry) if d]
        return min(dates) if dates else None


@dataclass(frozen=True)
class Override:
    """A documented reason to escalate despite the guard: part of the differential, plus text."""

    reason: OverrideReason
    note: str

    def __post_init__(self) -> None:
        if not self.note.strip():
            raise ValueError("an override needs a note saying what was found")
