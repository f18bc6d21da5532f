"""Patient demand boluses: the clinician's settings as a therapy command (the one path), their
read-back, the activation log, and the patient's activation.

The same rules as the pump's SET_DEMAND_BOLUS (docs/protocol.md §5.3) are checked here first,
so a refusal names the rule before anything is sent; the pump enforces them again.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from pumpctl import schedule
from pumpctl.client import PumpClient, Resolution, new_request_id
from pumpctl.link.errors import OutcomeUncertain, PumpError, PumpRefused
from pumpctl.programmer.commands import TherapyCommand
from pumpctl.programmer.errors import NotApplied, NothingToSend, ProgrammerRefusal
from pumpctl.programmer.interrogation import Context, Interrogation
from pumpctl.programmer.review import Confirmations, Review, ReviewRow
from pumpctl.protocol import messages
from pumpctl.protocol.messages import (
    AlarmCode,
    DemandBolusResponse,
    DemandLogEntry,
    DemandOutcome,
    DemandSettingsResponse,
    EventCode,
    EventRecord,
    Nak,
    NakCode,
    SetDemandBolusRequest,
    WithdrawalRisk,
)
from pumpctl.units import format_amount

# The longest lockout the pump takes (firmware_sim/model/demand.py LOCKOUT_MAX_S).
LOCKOUT_MAX_S = 86_400
OUTCOME_WORDS = {
    DemandOutcome.GIVEN: "given",
    DemandOutcome.REFUSED_LOCKOUT: "refused: lockout",
    DemandOutcome.REFUSED_DAILY_COUNT: "refused: count per day",
    DemandOutcome.REFUSED_NOT_PROGRAMMED: "refused: not programmed",
    DemandOutcome.REFUSED_STOPPED: "refused: pump stopped",
    DemandOutcome.REFUSED_EMPTY: "refused: reservoir empty",
    DemandOutcome.REFUSED_OCCLUSION: "refused: occlusion",
    DemandOutcome.REFUSED_DAILY_LIMIT: "refused: daily maximum",
}


@dataclass(frozen=True)
class DemandSettings:
    """What the clinician sets: each bolus's dose and duration, the lockout, the count a day."""

    dose_ng: int
    duration_s: int
    lockout_s: int
    per_day: int

    @property
    def allowance_ng(self) -> int:
        """The most they give in a day: every allowed bolus taken."""
        return self.dose_ng * self.per_day

    def describe(self, unit: str) -> str:
        return (
            f"{format_amount(self.dose_ng, unit, False)} over {_minutes(self.duration_s)}, "
            f"lockout {_minutes(self.lockout_s)}, {self.per_day} a day"
        )


def settings_of(read: DemandSettingsResponse | None) -> DemandSettings | None:
    if read is None or not read.dose_ng:
        return None
    return DemandSettings(read.dose_ng, read.duration_s, read.lockout_s, read.per_day)


def describe(settings: DemandSettings | None, unit: str) -> str:
    return "off" if settings is None else settings.describe(unit)


def _minutes(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _basal_ng(seen: Interrogation) -> int:
    """The program's daily dose, periodic boluses included (exactly, rounded up)."""
    periodic = schedule.periodic_of(seen.schedule)
    program = (
        schedule.program_of(seen.schedule)
        if seen.schedule is not None
        else ((0, seen.status.dose_ng_per_day),)
    )
    total = schedule.daily_dose(program) + (periodic.per_day_ng if periodic else 0)
    return math.ceil(total)


@dataclass(frozen=True)
class SetDemandBolus(TherapyCommand):
    """Program the patient's demand bolus; ``dose_ng`` 0 switches it off."""

    dose_ng: int
    duration_s: int = 0
    lockout_s: int = 0
    per_day: int = 0
    KIND: ClassVar[str] = "demand-bolus"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.DEMAND_BOLUS_SET,)
    NEEDS_SCHEDULE: ClassVar[bool] = True  # the daily maximum counts the program in force
    NEEDS_DEMAND: ClassVar[bool] = True
    VERIFIES_DEMAND: ClassVar[bool] = True

    def new(self) -> DemandSettings | None:
        if not self.dose_ng:
            return None
        return DemandSettings(self.dose_ng, self.duration_s, self.lockout_s, self.per_day)

    def daily_dose_after(self, seen: Interrogation) -> int | None:
        """More allowed a day is an escalation by as much: the guard judges it."""
        old, new = settings_of(seen.demand), self.new()
        more = (new.allowance_ng if new else 0) - (old.allowance_ng if old else 0)
        return seen.status.dose_ng_per_day + more if more > 0 else None

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        unit, limits = seen.unit, seen.limits
        old, new = settings_of(seen.demand), self.new()
        if old == new:
            raise NothingToSend(
                f"the pump already has demand boluses {describe(new, unit)}: nothing sent"
            )
        if new is None:
            return
        if limits.bolus_max_ng == 0 or limits.max_boluses_per_day == 0:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_LARGE, f"the drug library allows no bolus of {limits.drug}"
            )
        if new.per_day < 1:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT, "a demand bolus needs a count per day of 1 or more"
            )
        if not 0 < new.lockout_s <= LOCKOUT_MAX_S:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT,
                f"a demand bolus's lockout is up to 24 h, not {_minutes(new.lockout_s)}",
            )
        if not 0 < new.duration_s <= new.lockout_s:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT,
                f"a demand bolus lasts up to its lockout ({_minutes(new.lockout_s)}), not "
                f"{_minutes(new.duration_s)}: one ends before the next may start",
            )
        minimum = seen.demand.min_duration_s if seen.demand is not None else 0
        if new.duration_s < minimum:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_SHORT,
                f"a patient's bolus lasts at least {_minutes(minimum)} for {limits.drug}, not "
                f"{_minutes(new.duration_s)}",
            )
        if new.dose_ng > limits.bolus_max_ng:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"a demand bolus of {format_amount(new.dose_ng, unit, False)} exceeds the "
                f"maximum bolus of {format_amount(limits.bolus_max_ng, unit, False)}",
            )
        if new.lockout_s < limits.bolus_lockout_s:
            raise ProgrammerRefusal(
                NakCode.BOLUS_LOCKOUT,
                f"a lockout of {_minutes(new.lockout_s)} is shorter than the drug library's "
                f"{_minutes(limits.bolus_lockout_s)}",
            )
        if new.per_day > limits.max_boluses_per_day:
            raise ProgrammerRefusal(
                NakCode.BOLUS_COUNT_LIMIT,
                f"{new.per_day} demand boluses a day exceeds the drug library's "
                f"{limits.max_boluses_per_day} for {limits.drug}",
            )
        basal = _basal_ng(seen)
        if basal + new.allowance_ng > limits.max_dose_ng_per_day:
            raise ProgrammerRefusal(
                NakCode.ABOVE_MAX_DOSE,
                f"{format_amount(basal, unit)} with {new.per_day} demand boluses of "
                f"{format_amount(new.dose_ng, unit, False)} a day "
                f"({format_amount(new.allowance_ng, unit, False)}) exceeds the maximum daily "
                f"dose {format_amount(limits.max_dose_ng_per_day, unit)}",
            )

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        unit, limits = seen.unit, seen.limits
        old, new = settings_of(seen.demand), self.new()
        basal = _basal_ng(seen)

        def allowance(s: DemandSettings | None) -> int:
            return 0 if s is None else s.allowance_ng

        def field(s: DemandSettings | None, text: str) -> str:
            return "off" if s is None else text

        rows = (
            ReviewRow(
                "Demand bolus",
                field(old, format_amount(old.dose_ng, unit, False) if old else ""),
                field(new, format_amount(new.dose_ng, unit, False) if new else ""),
            ),
            ReviewRow(
                "Duration",
                field(old, _minutes(old.duration_s) if old else ""),
                field(new, _minutes(new.duration_s) if new else ""),
            ),
            ReviewRow(
                "Lockout",
                field(old, _minutes(old.lockout_s) if old else ""),
                field(new, _minutes(new.lockout_s) if new else ""),
            ),
            ReviewRow("Per day", str(old.per_day if old else 0), str(new.per_day if new else 0)),
            ReviewRow(
                "Demand allowance a day",
                format_amount(allowance(old), unit, False),
                format_amount(allowance(new), unit, False),
            ),
            ReviewRow(
                "Daily dose, every demand bolus taken",
                format_amount(basal + allowance(old), unit, False),
                format_amount(basal + allowance(new), unit, False),
            ),
            ReviewRow("Bolus maximum", *[format_amount(limits.bolus_max_ng, unit, False)] * 2),
            ReviewRow("Maximum daily dose", *[format_amount(limits.max_dose_ng_per_day, unit)] * 2),
        )
        warnings = []
        if allowance(new) > allowance(old) and limits.withdrawal_risk == WithdrawalRisk.OPIOID:
            warnings.append(
                "Respiratory depression is most likely after an increase: observe for 24 h"
            )
        if new is not None:
            warnings.append(
                "The patient chooses only when: the dose and duration are these; the pump logs "
                "every activation, refused ones included"
            )
        if not seen.running or seen.alarm_active(AlarmCode.OCCLUSION):
            warnings.append("No demand bolus is given while the pump is stopped or occluded")
        title = "Switch demand boluses off" if new is None else "Program demand boluses"
        return Review(title, rows, tuple(warnings))

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        old, new = settings_of(ctx.seen.demand), self.new()
        return SetDemandBolusRequest(
            request_id=request_id,
            dose_ng=new.dose_ng if new else 0,
            duration_s=new.duration_s if new else 0,
            lockout_s=new.lockout_s if new else 0,
            per_day=new.per_day if new else 0,
            believed_dose_ng=old.dose_ng if old else 0,
            believed_per_day=old.per_day if old else 0,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        read = settings_of(after.demand)
        if read == self.new():
            return None
        return (
            "the pump acknowledged the demand-bolus settings but reads back "
            f"{describe(read, ctx.seen.unit)}"
        )

    def done(self, ctx: Context, after: Interrogation) -> str:
        read = settings_of(after.demand)
        if read is None:
            return "Demand boluses off, verified by read-back"
        return f"Demand boluses {read.describe(ctx.seen.unit)}, verified by read-back"


# --- the activation log ----------------------------------------------------------------


@dataclass(frozen=True)
class LogSummary:
    """The activation log over a stretch of time: activations, not entries."""

    given: int
    refused: Counter[DemandOutcome]
    given_ng: int

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def activations(self) -> int:
        return self.given + self.refused_total

    def lines(self, unit: str) -> list[str]:
        if not self.activations:
            return ["no activations"]
        out = [f"{self.given} given ({format_amount(self.given_ng, unit, False)})"]
        for outcome, count in sorted(self.refused.items()):
            out.append(f"{count} {OUTCOME_WORDS[outcome]}")
        return out


def summarise(entries: list[DemandLogEntry], since_s: int = 0) -> LogSummary:
    """Counts over the entries whose last activation is at or after ``since_s``."""
    given, given_ng, refused = 0, 0, Counter[DemandOutcome]()
    for entry in entries:
        if entry.last_time_s < since_s:
            continue
        if entry.outcome is DemandOutcome.GIVEN:
            given += entry.count
            given_ng += entry.dose_ng * entry.count
        else:
            refused[entry.outcome] += entry.count
    return LogSummary(given, refused, given_ng)


# --- the patient's activation ------------------------------------------------------------


async def activate(client: PumpClient) -> DemandBolusResponse:
    """The patient's demand bolus (a patient's session): sent once; a lost answer is resolved
    by QUERY_OUTCOME, never by sending it again. Raises ``PumpRefused`` (the pump's rule),
    ``NotApplied`` (the pump never received it) or ``OutcomeUncertain``."""
    request_id = new_request_id()
    try:
        return await client.demand_bolus(request_id=request_id)
    except PumpRefused:
        raise
    except PumpError as lost:
        why = str(lost)
    try:
        outcome = await client.resolve(request_id, close=True)
    except PumpError as error:
        raise OutcomeUncertain(
            f"{why}, and the pump could not be read back ({error}): the demand bolus request "
            f"id {request_id} was not resent",
            request_id,
        ) from None
    if outcome.resolution is Resolution.REFUSED:
        raise PumpRefused(Nak(code=outcome.nak_code, limit=0, detail=outcome.detail))
    if outcome.resolution is Resolution.APPLIED:
        settings = await client.read_demand_bolus()
        now = (await client.status()).pump_time_s
        return DemandBolusResponse(
            request_id=request_id,
            dose_ng=settings.dose_ng,
            duration_s=settings.duration_s,
            ends_at_s=now + settings.duration_s,
            given_last_24h=settings.given_last_24h,
        )
    raise NotApplied(f"{why}: the pump never received it: no demand bolus given")
