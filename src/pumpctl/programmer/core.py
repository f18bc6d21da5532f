"""The one API the faces use (CLI, TUI, scripts, HIL tests).

Every therapy command takes the same path: interrogate and sync the record → the command's
checks (and the guard, for a dose change) → its review → the clinician's confirmations →
commit the intent → send once with a request id → resolve a lost answer by QUERY_OUTCOME →
read back and verify → record the outcome in the audit trail, refusals and uncertain
outcomes included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING

from pumpctl.client import PumpClient, Resolution, ResolvedOutcome, new_request_id
from pumpctl.clinical import crosscheck
from pumpctl.clinical.crosscheck import Discrepancy
from pumpctl.clinical.record import (
    RATE_ANSWERS,
    SETTLED_CHANGE_OUTCOMES,
    SETTLED_COMMAND_OUTCOMES,
    UNRESOLVED_OUTCOMES,
    ChangeOutcome,
    ClinicalRecord,
    CommandOutcome,
    RecordError,
)
from pumpctl.link.errors import LinkError, NoResponse, OutcomeUncertain, PumpError, PumpRefused
from pumpctl.programmer.errors import (
    AppliedNotRecorded,
    ConfirmationRequired,
    GuardBlocked,
    NotApplied,
    NothingToSend,
    ProgrammerRefusal,
    VerificationFailed,
)
from pumpctl.programmer.interrogation import Context, Interrogation, Override
from pumpctl.protocol.messages import (
    Command,
    DemandBolusResponse,
    DemandLogEntry,
    DemandSettingsResponse,
    EventCode,
    EventRecord,
    ImplantResponse,
    LimitsResponse,
    Message,
    Nak,
    NakCode,
    ReadEventsResponse,
    ScheduleResponse,
    StatusResponse,
)
from pumpctl.protocol.roles import forbidden, may_send
from pumpctl.units import format_amount

if TYPE_CHECKING:  # a read (interrogate, status) loads no command's module, nor the guard
    from pumpctl.clinical.guard import GuardConfig, GuardDecision, Reading
    from pumpctl.programmer.commands import TherapyCommand
    from pumpctl.programmer.review import Confirmations, Review


class Outcome(Enum):
    """How a command ended; the record stores it and the CLI maps it to an exit status."""

    CONFIRMED = "confirmed"
    REFUSED = "refused"
    NOT_SENT = "not-sent"
    UNCERTAIN = "uncertain"
    VERIFY_FAILED = "verify-failed"


# Refusals of the session, not of the command: the command itself may have run.
SESSION_REFUSALS = frozenset(
    {
        NakCode.AUTH_REQUIRED,
        NakCode.AUTH_FAILED,
        NakCode.REPLAYED,
        NakCode.SESSION_EXPIRED,
        NakCode.LOCKED_OUT,
    }
)
# Answers to one copy of a frame that say nothing of the command: the session's refusals,
# and the unrecorded NAKs (a copy that did not decode, a failure the pump rolled back).
COPY_REFUSALS = SESSION_REFUSALS | {
    NakCode.MALFORMED_PAYLOAD,
    NakCode.UNKNOWN_MESSAGE,
    NakCode.INTERNAL_ERROR,
}

# How long an uncertain outcome is resolved before giving up: QUERY_OUTCOME rounds, each
# with the link's tries and deadlines (design default — verify).
RESOLVE_ROUNDS = 4
# Rounds of sending one command (each the link's tries): a round after the first only once
# QUERY_OUTCOME shows the pump never executed it, with the same request id (design default).
SEND_ROUNDS = 2

# Records a command's outcome in the table it was begun in.
_Finish = Callable[["Outcome", str], None]

# Dose changes keep the names their table has always had.
CHANGE_OUTCOME = {
    Outcome.CONFIRMED: ChangeOutcome.APPLIED,
    Outcome.REFUSED: ChangeOutcome.REFUSED,
    Outcome.NOT_SENT: ChangeOutcome.NOT_APPLIED,
    Outcome.UNCERTAIN: ChangeOutcome.UNCERTAIN,
    Outcome.VERIFY_FAILED: ChangeOutcome.VERIFY_FAILED,
}


@dataclass(frozen=True)
class _Open:
    """A dose change or a command whose outcome is still open, as reconciliation reads it."""

    table: str  # "change" or "command"
    id: int
    request_id: int
    time_s: int
    outcome: str
    codes: tuple[EventCode, ...] | None = None  # the events that answer it; None: any
    dose_ng_per_day: int | None = None  # what a dose change asked for


@dataclass(frozen=True)
class Plan:
    """A command checked and reviewed against what the pump showed, not yet sent."""

    command: TherapyCommand
    ctx: Context
    review: Review
    guard: GuardDecision | None = None  # a dose change's guard decision

    @property
    def overridden(self) -> bool:
        return self.guard is not None and not self.guard.allowed


@dataclass(frozen=True)
class Result:
    """A command confirmed by read-back."""

    plan: Plan
    after: Interrogation
    request_id: int
    text: str
    reply: Message | None  # the pump's answer; None when it was lost and read back instead

    @property
    def resolved_after_lost_answer(self) -> bool:
        return self.reply is None

    @property
    def outcome(self) -> Outcome:
        return Outcome.CONFIRMED


@dataclass(frozen=True)
class RateChange:
    previous_ng_per_day: int
    new_ng_per_day: int
    after: Interrogation
    resolved_after_lost_answer: bool = False
    overridden: bool = False  # went ahead against the guard, for a documented reason

    @property
    def status(self) -> StatusResponse:
        return self.after.status


class Programmer:
    """Interrogate, plan and execute therapy commands, log pain scores: the same for every face."""

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
        if record is not None:
            record.programmer_id = client.programmer_id  # the audit trail names it
        self.clinician = clinician
        self.guard_config = guard_config  # None: the guard's defaults
        self._in_flight: set[tuple[str, int]] = set()  # begun here, not yet answered
        # What the last sync settled: (id, outcome) of commands an earlier session left open.
        self.last_settled: list[tuple[int, str]] = []
        # What the last sync found the pump and the record disagree on, not yet reconciled.
        self.discrepancies: list[Discrepancy] = []
        # Why the last interrogation could not sync the record (a read goes on without it).
        self.record_problem: str | None = None

    @property
    def record(self) -> ClinicalRecord:
        if self._record is None:
            raise PumpError("no clinical record is open")
        return self._record

    def patient_id(self, serial: str) -> str | None:
        """The patient the record names for the pump; None without one (a read goes on
        without the record)."""
        return self._record.patient_id(serial) if self._record is not None else None

    # --- reading the pump ----------------------------------------------------------------

    async def interrogate(
        self, *, settle: bool = True, limits: LimitsResponse | None = None
    ) -> Interrogation:
        """Read the pump; with a record, sync it (:meth:`sync_record`: settle any command left
        open, cross-check the pump against the record), so every face sees what the pump did
        and where it disagrees with the record before anything else. A record that cannot be
        written leaves a read going (``record_problem`` says why). ``limits`` already read in
        this session are not asked again (no therapy command changes the drug library)."""
        # In a session the handshake already brought the identity: one round trip fewer.
        # STATUS first: an answer that disagrees with it brings the pump's sealed identity.
        status = await self.client.status()
        identity = self.client.identity or await self.client.identify()
        limits = limits or await self.client.read_limits()
        seen = Interrogation(identity, status, limits)
        if settle and self._record is not None:
            try:
                await self.sync_record(seen)
                self.record_problem = None
            except RecordError as error:
                self.record_problem = str(error)
        return seen

    async def read_implant(self, serial: str, time_s: int = 0) -> ImplantResponse | None:
        """The implant record (None from a pump that keeps none); the clinical record learns
        its patient identifier, which every audit entry for this pump then carries."""
        try:
            implant = await self.client.read_implant()
        except PumpRefused as refused:
            if refused.code in (NakCode.UNKNOWN_MESSAGE, NakCode.ROLE_FORBIDDEN):
                return None
            raise
        if implant.recorded and self._record is not None:
            self._record.remember_patient(
                serial, implant.patient_id, actor=self.clinician, time_s=time_s
            )
        return implant

    async def read_schedule(self) -> ScheduleResponse:
        """The program in force (a flexible-dosing schedule, or the simple rate as one step)."""
        return await self.client.read_schedule()

    async def read_demand_bolus(self) -> DemandSettingsResponse:
        """The patient's demand-bolus settings and where the patient stands now."""
        return await self.client.read_demand_bolus()

    async def read_demand_log(self) -> list[DemandLogEntry]:
        """The pump's activation log of demand boluses, given and refused."""
        return await self.client.read_demand_log()

    async def read_events(
        self, first_index: int = 0, progress: Callable[[int, int], None] | None = None
    ) -> tuple[list[EventRecord], ReadEventsResponse]:
        """The pump's event log from ``first_index`` on, page by page; ``progress(read,
        total)`` after each page. The last (empty) page gives the log's overflow count."""
        return await self.client.read_all_events(first_index, progress)

    async def take_demand_bolus(self) -> DemandBolusResponse:
        """The patient's press (a patient's session): the clinician's demand bolus, sent once
        (``pumpctl.programmer.demand.activate``)."""
        from pumpctl.programmer.demand import activate

        return await activate(self.client)

    async def sync_record(self, seen: Interrogation) -> int | None:
        """Mirror the pump's new events into the record, then settle any command a previous
        session left open (:meth:`reconcile_pending`); returns the last event index."""
        serial, record = seen.serial, self.record
        record.remember_pump(serial, seen.identity.drug, seen.unit)
        last = record.last_event_index(serial)
        # From the last event mirrored, not the one after: the pump must still hold it.
        events, page = await self.client.read_all_events(0 if last is None else last)
        reset = (
            None
            if last is None
            else crosscheck.log_reset(record, serial, last, events, page.oldest_index)
        )
        self.last_settled = []
        # A reset log is neither mixed into the former log's mirror nor settles anything from
        # it: both wait for a clinician's reconciliation.
        if reset is None:
            record.mirror_events(serial, [e for e in events if last is None or e.index > last])
            self.last_settled = self.reconcile_pending(serial)
        self._crosscheck(seen, reset)
        return page.next_index - 1 if page.next_index else None

    def _crosscheck(self, seen: Interrogation, reset: crosscheck.LogReset | None) -> None:
        """Compare the pump with the record; audit each disagreement the first time."""
        record, status = self.record, seen.status
        found = crosscheck.discrepancies(
            record,
            seen.serial,
            dose_ng_per_day=status.dose_ng_per_day,
            pump_time_s=status.pump_time_s,
            unit=seen.unit,
            concentration_ng_per_ml=seen.identity.concentration_ng_per_ml,
            reset=reset,
        )
        still, new = crosscheck.open_discrepancies(record, seen.serial, found)
        if new:
            record.note(
                seen.serial,
                self.clinician,
                "discrepancy-found",
                status.pump_time_s,
                fingerprints=[d.fingerprint for d in new],
                discrepancies=[d.text for d in new],
            )
        self.discrepancies = still

    async def reconcile(self, reason: str) -> tuple[list[Discrepancy], list[Discrepancy]]:
        """A clinician accepts what the pump shows where it disagrees with the record, for a
        documented ``reason`` (audited); a reset event log's former mirror is set aside so the
        new one is mirrored. Returns ``(reconciled, still open)``."""
        if not reason.strip():
            raise ValueError("a reconciliation needs a reason saying what was found")
        seen = await self.interrogate(settle=False)
        await self.sync_record(seen)
        accepted = list(self.discrepancies)
        if not accepted:
            return [], []
        serial, now_s = seen.serial, seen.status.pump_time_s
        self.record.note(
            serial,
            self.clinician,
            "discrepancy-reconciled",
            now_s,
            fingerprints=[d.fingerprint for d in accepted],
            discrepancies=[d.text for d in accepted],
            reason=reason,
            dose_ng_per_day=seen.status.dose_ng_per_day,
        )
        if any(d.kind == "log-reset" for d in accepted):
            self.record.archive_mirror(
                serial, clinician=self.clinician, time_s=now_s, reason=reason
            )
            await self.sync_record(seen)
        return accepted, list(self.discrepancies)

    def reconcile_pending(self, serial: str) -> list[tuple[int, str]]:
        """Settle dose changes and other commands left ``pending`` or ``uncertain`` from the
        pump's event log, as just mirrored by :meth:`sync_record`; returns ``(id, outcome)``.

        A command is left ``pending`` when the programmer stopped (killed, crashed, lost the
        link or the record) between committing its intent and recording the pump's answer.
        The pump logs every command it handles, executed or refused, under its request id,
        and handles frames in order: once it has answered the read that fed the mirror, a
        command sent before was either handled (its event is in the log) or never received.
        With a gap in the mirror (the pump's ring buffer wrapped before it was read) a
        pending command becomes ``uncertain``. Commands in flight here are left alone.
        """
        record = self.record
        unit = record.pump_unit(serial) or "mg"
        open_rows = [
            _Open("change", c.id, c.request_id, c.time_s, c.outcome, RATE_ANSWERS, c.new_ng_per_day)
            for c in record.changes(serial)
            if c.outcome in UNRESOLVED_OUTCOMES + SETTLED_CHANGE_OUTCOMES
        ] + [
            _Open("command", c.id, c.request_id, c.time_s, c.outcome)
            for c in record.commands(serial)
            if c.outcome in UNRESOLVED_OUTCOMES + SETTLED_COMMAND_OUTCOMES
        ]
        settled = []
        for row in open_rows:
            if (row.table, row.id) in self._in_flight:
                continue
            event = record.event_for_request(serial, row.request_id, row.codes)
            if row.outcome not in UNRESOLVED_OUTCOMES:
                # An earlier verdict (a session refusal of one copy of the frame taken for the
                # pump's, an answer that never came): the pump's log overrides it.
                if event is None:
                    continue
                outcome, detail = self._from_event(row, event, unit)
                if _stored_name(row, outcome) == row.outcome:
                    continue
                detail += f"; the pump's log overrides the earlier verdict ({row.outcome})"
                settled.append((row.id, self._settle(row, outcome, detail)))
                continue
            if event is None and not record.events_complete_since(serial, row.time_s):
                if row.outcome != ChangeOutcome.PENDING:
                    continue  # already uncertain: only the pump's log can settle it
                outcome, detail = (
                    Outcome.UNCERTAIN,
                    "the programmer stopped before recording the answer and the pump's "
                    "event log has a gap since: read the pump back",
                )
            elif event is None:
                outcome = Outcome.NOT_SENT
                detail = "settled from the pump's event log: the pump never received it"
            else:
                outcome, detail = self._from_event(row, event, unit)
            settled.append((row.id, self._settle(row, outcome, detail)))
        return settled

    @staticmethod
    def _from_event(row: _Open, event: EventRecord, unit: str) -> tuple[Outcome, str]:
        """The outcome the pump's event for a command's request id shows."""
        where = f"settled from the pump's event log (event {event.index})"
        if event.code == EventCode.REFUSED:
            return Outcome.REFUSED, f"{where}: {event.detail}"
        if row.dose_ng_per_day is not None and event.value_b != row.dose_ng_per_day:
            return Outcome.VERIFY_FAILED, (
                f"{where}: the pump changed the dose to {format_amount(event.value_b, unit)}, "
                f"not {format_amount(row.dose_ng_per_day, unit)}"
            )
        return Outcome.CONFIRMED, where

    def _settle(self, row: _Open, outcome: Outcome, detail: str) -> str:
        """Record ``outcome`` in the row's own table; returns the name stored there."""
        if row.table == "change":
            self.record.finish_change(row.id, CHANGE_OUTCOME[outcome], detail)
            return CHANGE_OUTCOME[outcome]
        self.record.finish_command(row.id, CommandOutcome(outcome.value), detail)
        return outcome.value

    async def log_vas(
        self,
        score_tenths: int,
        note: str = "",
        *,
        taken_at: Callable[[int], int] | None = None,
    ) -> Reading:
        """Log a pain score on the pump's timeline (its clock and its event sequence);
        ``taken_at`` maps the pump's time now to when the score was taken."""
        seen = await self.interrogate()
        events_seen = await self.sync_record(seen)
        now_s = seen.status.pump_time_s
        return self.record.log_vas(
            seen.serial,
            now_s,
            score_tenths,
            events_seen=events_seen,
            clinician=self.clinician,
            note=note,
            taken_at_s=None if taken_at is None else taken_at(now_s),
        )

    def guard(self, seen: Interrogation, proposed_ng_per_day: int) -> GuardDecision:
        """The guard's decision on ``proposed`` from what the record holds now."""
        from pumpctl.clinical.guard.rules import evaluate
        from pumpctl.programmer.evidence import guard_inputs

        return evaluate(guard_inputs(self.record, seen, proposed_ng_per_day), self.guard_config)

    # --- the command path ----------------------------------------------------------------

    async def plan(self, command: TherapyCommand, seen: Interrogation | None = None) -> Plan:
        """Check and review ``command`` against what the clinician saw (``seen``); raises
        ``ProgrammerRefusal``, ``GuardBlocked`` or ``NothingToSend`` before anything is sent,
        each noted in the audit trail."""
        seen = seen or await self.interrogate(settle=False)
        if command.NEEDS_SCHEDULE and seen.schedule is None:
            seen = replace(seen, schedule=await self.client.read_schedule())
        if command.NEEDS_DEMAND and seen.demand is None:
            seen = replace(seen, demand=await self.client.read_demand_bolus())
        if seen.implant is None and command.NEEDS_IMPLANT:
            seen = replace(
                seen, implant=await self.read_implant(seen.serial, seen.status.pump_time_s)
            )
        elif seen.implant is None and not self.record.knows_patient(seen.serial):
            # Only to name the patient in the audit trail: a failed read stops nothing (a
            # stop or a decrease least of all).
            with contextlib.suppress(PumpError):
                await self.read_implant(seen.serial, seen.status.pump_time_s)
        await self.sync_record(seen)
        alarms = (await self.client.read_alarms()).alarms if command.NEEDS_ALARMS else []
        ctx = Context(
            seen,
            tuple(alarms),
            self.record.last_refill_s(seen.serial),
            tuple(self.discrepancies),
        )
        try:
            return self._evaluate(command, ctx, note=True)
        except NothingToSend as nothing:
            self._note(ctx, command, "nothing-sent", reason=str(nothing))
            raise
        except ProgrammerRefusal as refusal:
            refusal.drug_unit = seen.unit
            self._note(
                ctx, command, "programmer-refused", rule=refusal.rule.name, reason=str(refusal)
            )
            raise

    def _evaluate(self, command: TherapyCommand, ctx: Context, *, note: bool) -> Plan:
        """The guard, the command's checks and its review: no I/O, so ``execute`` runs them
        again on what the plan saw and never trusts a plan it did not make."""
        from pumpctl.limits import above_max_dose

        proposed = command.daily_dose_after(ctx.seen)
        current = ctx.seen.status.dose_ng_per_day
        increases = command.KIND == "bolus" or (proposed is not None and proposed > current)
        if ctx.discrepancies and increases:
            raise ProgrammerRefusal(
                NakCode.DISCREPANCY_UNACKNOWLEDGED,
                "the pump and the clinical record disagree: "
                + "; ".join(d.text for d in ctx.discrepancies)
                + "; no increase until a clinician reconciles it (pumpctl reconcile --reason "
                "TEXT); a decrease or a stop goes ahead",
            )
        above = None if proposed is None else above_max_dose(ctx.seen.limits, proposed)
        if above is not None and increases:  # a slip by 10x: named before any clinical verdict
            raise ProgrammerRefusal(above.rule, above.reason, limit=above.limit)
        decision = None if proposed is None else self._guard_rate(ctx, command, proposed, note=note)
        command.check(ctx)
        review = command.review(ctx)
        if decision is not None and decision.warnings:
            # Shown with the review, kept with it in the audit trail; they stop nothing.
            review = replace(review, warnings=review.warnings + tuple(decision.warning_lines()))
        return Plan(command, ctx, review, decision)

    def _guard_rate(
        self, ctx: Context, command: TherapyCommand, proposed: int, *, note: bool
    ) -> GuardDecision | None:
        """The guard on the daily dose ``proposed`` (a schedule's: its integral)."""
        from pumpctl.clinical.guard.decision import Verdict, override_refusal

        seen = ctx.seen
        if note and proposed > seen.status.dose_ng_per_day:
            # The guard weighs the record's readings and changes only if the audit trail
            # written with them verifies: tampered rows never decide an increase.
            report = self.record.verify_audit()
            if not report.intact:
                raise RecordError(
                    f"the clinical record's audit trail does not verify ({report.problem}): "
                    "the guard does not trust its evidence, no increase (pumpctl audit verify)"
                )
        decision = self.guard(seen, proposed)
        override: Override | None = getattr(command, "override", None)
        refusal = (
            None
            if override is None
            else override_refusal(
                decision,
                override.reason,
                proposed,
                format_amount(decision.dose_before_fault_ng_per_day or 0, seen.unit),
            )
        )
        if note and (not decision.allowed or decision.warnings):
            verdict = "warn" if decision.allowed else decision.verdict.value
            self.record.note(
                seen.serial,
                self.clinician,
                f"guard-{verdict}",
                seen.status.pump_time_s,
                proposed_ng_per_day=proposed,
                current_ng_per_day=seen.status.dose_ng_per_day,
                rule=decision.rule.value,
                reason=decision.reason,
                evidence=decision.evidence_lines(),
                warnings=decision.warning_lines(),
                overridden=override is not None and refusal is None and not decision.allowed,
                **({"override_refused": refusal} if refusal is not None else {}),
            )
        if decision.verdict is not Verdict.ALLOW and (override is None or refusal is not None):
            raise GuardBlocked(decision, refusal)
        return decision

    def _note(self, ctx: Context, command: TherapyCommand, action: str, **data: object) -> None:
        seen = ctx.seen
        self.record.note(
            seen.serial,
            self.clinician,
            action,
            seen.status.pump_time_s,
            kind=command.KIND,
            **data,
        )

    async def execute(self, plan: Plan, confirmations: Confirmations | None = None) -> Result:
        """Send a reviewed plan once and resolve its outcome exactly.

        Returns only when the read-back confirms it; raises ``ConfirmationRequired`` (not
        sent), ``PumpRefused``, ``NotApplied``, ``OutcomeUncertain`` or ``VerificationFailed``,
        each recorded with the clinician's name.
        """
        from pumpctl.programmer.review import Confirmations

        plan = self._evaluate(plan.command, plan.ctx, note=False)
        command, ctx, shown = plan.command, plan.ctx, plan.review
        given = confirmations or Confirmations()
        missing = shown.missing(given)
        if missing:
            why = next(iter(shown.warnings), shown.title)
            self._note(
                ctx,
                command,
                "programmer-refused",
                reason=f"not sent: needs {' and '.join(sorted(c.label for c in missing))}",
                missing=sorted(c.value for c in missing),
                review=shown.as_json(),
            )
            raise ConfirmationRequired(missing, why)
        confirmations = given.only(shown.required)
        request_id = new_request_id()
        request = command.request(request_id, ctx, confirmations)
        if not may_send(self.client.role, request.TYPE):
            reason = forbidden(self.client.role, request.TYPE)
            self._note(ctx, command, "programmer-refused", rule="ROLE_FORBIDDEN", reason=reason)
            raise ProgrammerRefusal(NakCode.ROLE_FORBIDDEN, reason)
        review = {**shown.as_json(), "confirmations": confirmations.as_json()}
        key, finish = self._begin(plan, request_id, review)
        self._in_flight.add(key)
        try:
            return await self._send(plan, request, finish)
        finally:
            self._in_flight.discard(key)

    def _begin(
        self, plan: Plan, request_id: int, review: dict[str, object]
    ) -> tuple[tuple[str, int], _Finish]:
        from pumpctl.programmer.commands import SetRate

        seen, command, record = plan.ctx.seen, plan.command, self.record
        if isinstance(command, SetRate):
            override: Override | None = command.override if plan.overridden else None
            change_id = record.begin_change(
                seen.serial,
                seen.status.pump_time_s,
                clinician=self.clinician,
                old_ng_per_day=seen.status.dose_ng_per_day,
                new_ng_per_day=command.dose_ng_per_day,
                request_id=request_id,
                override_reason=override.reason.value if override else None,
                override_note=override.note if override else None,
                review=review,
            )
            return ("change", change_id), lambda o, d: record.finish_change(
                change_id, CHANGE_OUTCOME[o], d
            )
        command_id = record.begin_command(
            seen.serial,
            seen.status.pump_time_s,
            clinician=self.clinician,
            kind=command.KIND,
            request_id=request_id,
            review=review,
        )
        return ("command", command_id), lambda o, d: record.finish_command(
            command_id, CommandOutcome(o.value), d
        )

    async def _send(self, plan: Plan, request: Command, finish: _Finish) -> Result:
        command = plan.command
        reply: Message | None = None
        for send_round in range(1, SEND_ROUNDS + 1):
            try:
                reply = await self.client.send_once(request)
                break
            except PumpRefused as refused:
                if refused.code not in COPY_REFUSALS:
                    refused.drug_unit = plan.ctx.seen.unit
                    finish(Outcome.REFUSED, str(refused))
                    raise
                # A refusal of one copy of the frame, not of the command: an earlier copy may
                # have run, and an unsealed refusal may be forged. Only the pump's record can
                # say.
                why = f"the pump answered {refused}"
            except OutcomeUncertain as lost:  # no answer after the tries
                why = lost.reason
            except PumpError as lost:  # the line gone, the session lost
                why = str(lost)
            last = send_round == SEND_ROUNDS
            if await self._resolve(command, request, finish, why, last=last):
                break
        try:
            return await self._confirm(plan, request, finish, reply)
        except RecordError as error:
            raise AppliedNotRecorded(
                f"applied but not recorded: the pump executed {command.KIND} request id "
                f"{request.request_id}, but the clinical record could not be written ({error}); "
                "its entry is completed at the next sync with the pump (pumpctl status once "
                "the record can be written)"
            ) from None

    async def _confirm(
        self, plan: Plan, request: Command, finish: _Finish, reply: Message | None
    ) -> Result:
        """Read back, mirror and verify a command the pump executed; record the outcome."""
        command, ctx = plan.command, plan.ctx
        try:
            after = await self._read_back(ctx)
            if command.VERIFIES_SCHEDULE:
                after = replace(after, schedule=await self.client.read_schedule())
            if command.VERIFIES_DEMAND:
                after = replace(after, demand=await self.client.read_demand_bolus())
            if command.VERIFIES_IMPLANT:
                after = replace(
                    after, implant=await self.read_implant(after.serial, after.status.pump_time_s)
                )
            await self.sync_record(after)
        except PumpError as error:
            uncertain = _uncertain(
                command.KIND,
                request.request_id,
                f"the pump acknowledged {command.KIND} but the read-back failed: {error}",
            )
            finish(Outcome.UNCERTAIN, str(uncertain))
            raise uncertain from None
        # The event that shows it ran (a command may leave more than one under its id).
        event = self.record.event_for_request(
            ctx.seen.serial, request.request_id, command.EVENT_CODES
        )
        if event is None or event.code not in command.EVENT_CODES:
            problem: str | None = f"the pump's event log shows no {command.KIND} under this request"
        else:
            problem = command.verify(ctx, after, event)
        if problem is not None:
            finish(Outcome.VERIFY_FAILED, problem)
            raise VerificationFailed(problem)
        finish(Outcome.CONFIRMED, "verified by read-back")
        return Result(plan, after, request.request_id, command.done(ctx, after), reply)

    async def _read_back(self, ctx: Context) -> Interrogation:
        """The pump after a command it executed: a read that gets no answer is tried again
        (it changes nothing), in as many rounds as a resolution."""
        for _ in range(RESOLVE_ROUNDS - 1):
            try:
                return await self.interrogate(settle=False, limits=ctx.seen.limits)
            except NoResponse:
                continue
        return await self.interrogate(settle=False, limits=ctx.seen.limits)

    async def _resolve(
        self, command: TherapyCommand, request: Command, finish: _Finish, why: str, *, last: bool
    ) -> bool:
        """What became of a command whose answer is not the pump's verdict on it: True if the
        pump executed it; False if it provably never did and this was not the ``last`` round
        of sending (the same frame, the same request id, may go again: the pump executes an
        id at most once); raises ``PumpRefused`` (by the pump's rule), ``NotApplied`` (provably
        never executed, in the last round) or ``OutcomeUncertain`` (after ``RESOLVE_ROUNDS``
        rounds of QUERY_OUTCOME, each with the link's own tries), each recorded."""
        outcome: ResolvedOutcome | None = None
        error: PumpError | None = None
        for _ in range(RESOLVE_ROUNDS):
            try:
                # The last round closes the id, so "never executed" cannot change later.
                outcome = await self.client.resolve(request.request_id, close=last)
                break
            except LinkError as gone:  # the port itself has gone: nothing more to try
                error = gone
                break
            except (NoResponse, PumpRefused) as failed:
                if isinstance(failed, PumpRefused) and failed.code not in COPY_REFUSALS:
                    error = failed
                    break
                error = failed
        if outcome is None:
            reason = f"{why}, and the pump could not be read back ({error})"
            uncertain = _uncertain(command.KIND, request.request_id, reason)
            finish(Outcome.UNCERTAIN, str(uncertain))
            raise uncertain
        if outcome.resolution is Resolution.REFUSED:
            refusal = PumpRefused(Nak(code=outcome.nak_code, limit=0, detail=outcome.detail))
            finish(Outcome.REFUSED, str(refusal))
            raise refusal
        if outcome.resolution is Resolution.NOT_EXECUTED:
            if not last:
                return False
            detail = (
                f"request id {request.request_id}: its answer was lost and the pump shows it "
                "never executed it"
            )
            finish(Outcome.NOT_SENT, detail)
            raise NotApplied(f"{detail}: not applied")
        return True

    async def run(
        self,
        command: TherapyCommand,
        confirmations: Confirmations | None = None,
        *,
        seen: Interrogation | None = None,
    ) -> Result:
        """Plan and execute in one call (scripts and tests; faces show the review between)."""
        return await self.execute(await self.plan(command, seen), confirmations)

    async def set_rate(
        self,
        dose_ng_per_day: int,
        *,
        believed: Interrogation | None = None,
        confirm_large_change: bool = False,
        override: Override | None = None,
    ) -> RateChange:
        """Program a new daily dose against what the clinician saw (``believed``)."""
        from pumpctl.programmer.commands import SetRate
        from pumpctl.programmer.review import Confirmations

        plan = await self.plan(SetRate(dose_ng_per_day, override), believed)
        result = await self.execute(plan, Confirmations(large_change=confirm_large_change))
        return RateChange(
            plan.ctx.seen.status.dose_ng_per_day,
            dose_ng_per_day,
            result.after,
            result.resolved_after_lost_answer,
            plan.overridden,
        )


def _stored_name(row: _Open, outcome: Outcome) -> str:
    """``outcome`` as the row's table names it."""
    return CHANGE_OUTCOME[outcome] if row.table == "change" else outcome.value


def _uncertain(kind: str, request_id: int, why: str) -> OutcomeUncertain:
    """The one message an uncertain outcome gets, on every face: what happened, which command
    and its request id, and what to do."""
    return OutcomeUncertain(
        f"{why}; {kind} request id {request_id} was not resent: read the pump back before any "
        "other change (that settles it from the pump's log)",
        request_id,
    )
