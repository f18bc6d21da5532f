"""The one API the faces use (CLI, TUI, scripts, HIL tests).

Every change follows the same path: interrogate, check locally against the pump's own
limits, send once, verify by reading back; an answer that never comes is resolved from the
pump's event log and reported as uncertain only if even that read fails.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pumpctl.client import PumpClient, Resolution, new_request_id
from pumpctl.clinical.guard import (
    GuardConfig,
    GuardDecision,
    OverrideReason,
    Reading,
    evaluate,
)
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.limits import check_rate_change
from pumpctl.link.errors import NoResponse, OutcomeUncertain, PumpError, Refused
from pumpctl.protocol.messages import (
    EventCode,
    IdentifyResponse,
    LimitsResponse,
    Nak,
    NakCode,
    StatusResponse,
)
from pumpctl.units import display_unit, format_amount


class ProgrammerRefusal(PumpError):
    """The programmer refused before sending anything; ``rule`` names the rule."""

    def __init__(self, rule: NakCode, reason: str) -> None:
        super().__init__(f"programmer refused ({rule.name}): {reason}")
        self.rule = rule


class GuardBlocked(PumpError):
    """The titration guard held or blocked an increase; ``decision`` explains why."""

    def __init__(self, decision: GuardDecision) -> None:
        super().__init__(f"guard {decision.verdict.value}: {decision.reason}")
        self.decision = decision


class NotApplied(PumpError):
    """A command whose answer was lost turned out never to have reached the pump."""


class VerificationFailed(PumpError):
    """The pump acknowledged a change but reading it back shows something else."""


@dataclass(frozen=True)
class Interrogation:
    identity: IdentifyResponse
    status: StatusResponse
    limits: LimitsResponse

    @property
    def unit(self) -> str:
        return display_unit(self.identity.drug)


@dataclass(frozen=True)
class Override:
    """A documented reason to escalate despite the guard: part of the differential, plus text."""

    reason: OverrideReason
    note: str

    def __post_init__(self) -> None:
        if not self.note.strip():
            raise ValueError("an override needs a note saying what was found")


@dataclass(frozen=True)
class RateChange:
    previous_ng_per_day: int
    new_ng_per_day: int
    status: StatusResponse
    resolved_after_lost_answer: bool = False
    overridden: bool = False  # went ahead against the guard, for a documented reason


class Programmer:
    """Interrogate, titrate through the guard, log pain scores: the same for every face."""

    def __init__(
        self,
        client: PumpClient,
        record: ClinicalRecord | None = None,
        *,
        clinician: str = "unknown",
        guard_config: GuardConfig | None = None,
    ) -> None:
        self.client = client
        self._record = record
        self.clinician = clinician
        self.guard_config = guard_config or GuardConfig()
        self._in_flight: set[int] = set()  # changes begun here and not yet answered

    @property
    def record(self) -> ClinicalRecord:
        if self._record is None:
            raise PumpError("no clinical record is open")
        return self._record

    async def interrogate(self) -> Interrogation:
        # In a session the handshake already brought the identity: one round trip fewer.
        identity = self.client.identity or await self.client.identify()
        status = await self.client.status()
        limits = await self.client.read_limits()
        return Interrogation(identity, status, limits)

    async def sync_record(self, seen: Interrogation) -> int | None:
        """Mirror the pump's new events into the record, then settle any change a previous
        session left open (:meth:`reconcile_pending`); returns the last event index."""
        serial = seen.identity.serial_number
        last = self.record.last_event_index(serial)
        events, page = await self.client.read_all_events(0 if last is None else last + 1)
        self.record.mirror_events(serial, events)
        self.reconcile_pending(serial)
        return page.next_index - 1 if page.next_index else None

    def reconcile_pending(self, serial: str) -> list[tuple[int, str]]:
        """Settle changes left ``pending`` or ``uncertain`` from the pump's event log, as just
        mirrored by :meth:`sync_record`; returns ``(change id, outcome)`` for each settled.

        A change is left ``pending`` when the programmer stopped (killed, crashed, lost the
        link or the record) between committing its intent and recording the pump's answer.
        The pump logs every SET_RATE it handles, executed or refused, under its request id,
        and handles frames in order: once it has answered the read that fed the mirror, a
        command sent before was either handled (its event is in the log) or never received.
        So: a RATE_CHANGED event makes it ``applied`` (``verify-failed`` if the event shows
        another dose), a REFUSED event ``refused``, no event ``not-applied`` -- provided the
        mirror has no gap since the change began; with a gap (the pump's ring buffer wrapped
        before it was read) a pending change becomes ``uncertain``. Changes this programmer
        has in flight are left alone.
        """
        settled: list[tuple[int, str]] = []
        for change in self.record.unresolved_changes(serial):
            if change.id in self._in_flight:
                continue
            event = self.record.event_for_request(serial, change.request_id)
            if event is None:
                if not self.record.events_complete_since(serial, change.time_s):
                    if change.outcome == "pending":
                        detail = (
                            "the programmer stopped before recording the answer and the pump's "
                            "event log has a gap since: read the dose back"
                        )
                        self.record.finish_change(change.id, "uncertain", detail)
                        settled.append((change.id, "uncertain"))
                    continue
                outcome = "not-applied"
                detail = "settled from the pump's event log: the pump never received it"
            elif event.code == EventCode.REFUSED:
                outcome = "refused"
                detail = f"settled from the pump's event log (event {event.index}): {event.detail}"
            elif event.value_b != change.new_ng_per_day:
                outcome = "verify-failed"
                detail = (
                    f"settled from the pump's event log (event {event.index}): the pump "
                    f"changed the dose to {event.value_b} ng/day, not {change.new_ng_per_day}"
                )
            else:
                outcome = "applied"
                detail = f"settled from the pump's event log (event {event.index})"
            self.record.finish_change(change.id, outcome, detail)
            settled.append((change.id, outcome))
        return settled

    async def log_vas(self, score_tenths: int, note: str = "") -> Reading:
        """Log a pain score on the pump's timeline (its clock and its event sequence)."""
        seen = await self.interrogate()
        events_seen = await self.sync_record(seen)
        return self.record.log_vas(
            seen.identity.serial_number,
            seen.status.pump_time_s,
            score_tenths,
            events_seen=events_seen,
            clinician=self.clinician,
            note=note,
        )

    def guard(self, seen: Interrogation, proposed_ng_per_day: int) -> GuardDecision:
        """The guard's decision on ``proposed`` from what the record holds now."""
        serial = seen.identity.serial_number
        unit = seen.unit
        return evaluate(
            seen.status.dose_ng_per_day,
            proposed_ng_per_day,
            self.record.dose_changes(serial),
            self.record.readings(serial),
            self.guard_config,
            lambda ng: format_amount(ng, unit),
        )

    async def set_rate(
        self,
        dose_ng_per_day: int,
        *,
        believed: Interrogation | None = None,
        confirm_large_change: bool = False,
        override: Override | None = None,
    ) -> RateChange:
        """Program a new daily dose against what the clinician saw (``believed``).

        Order: interrogate if needed, guard, the programmer's limit check, commit the
        intent to the record, send once, record the outcome, verify by reading back.
        """
        seen = believed or await self.interrogate()
        serial = seen.identity.serial_number
        current = seen.status.dose_ng_per_day
        await self.sync_record(seen)
        decision = self.guard(seen, dose_ng_per_day)
        if not decision.allowed:
            self.record.note(
                serial,
                self.clinician,
                f"guard-{decision.verdict.value}",
                seen.status.pump_time_s,
                proposed_ng_per_day=dose_ng_per_day,
                current_ng_per_day=current,
                reason=decision.reason,
                overridden=override is not None,
            )
            if override is None:
                raise GuardBlocked(decision)
        violation = check_rate_change(
            seen.limits,
            current,
            dose_ng_per_day,
            seen.identity.concentration_ng_per_ml,
            confirm_large_change=confirm_large_change,
        )
        if violation is not None:
            self.record.note(
                serial,
                self.clinician,
                "programmer-refused",
                seen.status.pump_time_s,
                proposed_ng_per_day=dose_ng_per_day,
                rule=violation.rule.name,
                reason=violation.reason,
            )
            raise ProgrammerRefusal(violation.rule, violation.reason)
        request_id = new_request_id()
        change_id = self.record.begin_change(
            serial,
            seen.status.pump_time_s,
            clinician=self.clinician,
            old_ng_per_day=current,
            new_ng_per_day=dose_ng_per_day,
            request_id=request_id,
            override_reason=override.reason.value if override and not decision.allowed else None,
            override_note=override.note if override and not decision.allowed else None,
        )
        self._in_flight.add(change_id)
        try:
            change = await self._send_rate(
                change_id, seen, current, dose_ng_per_day, request_id, confirm_large_change
            )
        finally:
            self._in_flight.discard(change_id)
        return dataclasses.replace(change, overridden=not decision.allowed)

    async def _send_rate(
        self,
        change_id: int,
        seen: Interrogation,
        current: int,
        dose_ng_per_day: int,
        request_id: int,
        confirm_large_change: bool,
    ) -> RateChange:
        resolved = False
        try:
            await self.client.set_rate(
                dose_ng_per_day,
                current,
                confirm_large_change=confirm_large_change,
                request_id=request_id,
            )
        except Refused as refused:
            self.record.finish_change(change_id, "refused", str(refused))
            raise
        except OutcomeUncertain as uncertain:
            try:
                outcome = await self.client.resolve(uncertain.request_id)
            except NoResponse:
                self.record.finish_change(change_id, "uncertain", str(uncertain))
                raise uncertain from None
            if outcome.resolution is Resolution.REFUSED:
                refusal = Refused(Nak(code=outcome.nak_code, limit=0, detail=outcome.detail))
                self.record.finish_change(change_id, "refused", str(refusal))
                raise refusal from None
            if outcome.resolution is Resolution.NOT_EXECUTED:
                detail = "the answer was lost and the pump shows it never received the command"
                self.record.finish_change(change_id, "not-applied", detail)
                raise NotApplied(f"{detail}: not applied") from None
            resolved = True
        status = await self.client.status()
        await self.sync_record(seen)
        if status.dose_ng_per_day != dose_ng_per_day:
            detail = (
                f"pump acknowledged {dose_ng_per_day} ng/day but reads back "
                f"{status.dose_ng_per_day} ng/day"
            )
            self.record.finish_change(change_id, "verify-failed", detail)
            raise VerificationFailed(detail)
        self.record.finish_change(change_id, "applied", "verified by read-back")
        return RateChange(current, dose_ng_per_day, status, resolved)
