"""The pump's vocabulary as async methods, and a synchronous facade that runs them.

Commands carry a fresh random request id; a command that gets no answer raises
``OutcomeUncertain`` and is resolved by reading the pump's event log back, never by
sending it again.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from pumpctl.keystore import KeySource
from pumpctl.link.errors import (
    AuthenticationError,
    NoResponse,
    OutcomeUncertain,
    PumpError,
    PumpRefused,
)
from pumpctl.link.lines import is_memory_url, open_link
from pumpctl.link.timing import DEFAULT_BAUD, LineTiming
from pumpctl.link.transactions import Trace, TransactionManager
from pumpctl.protocol.messages import (
    AckAlarmRequest,
    AckAlarmResponse,
    AlarmCode,
    BolusRequest,
    BolusResponse,
    CatheterCheckRequest,
    CatheterCheckResponse,
    Command,
    DemandBolusRequest,
    DemandBolusResponse,
    DemandLogEntry,
    DemandSettingsResponse,
    EnrolProgrammerRequest,
    EnrolProgrammerResponse,
    EventRecord,
    IdentifyRequest,
    IdentifyResponse,
    ImplantResponse,
    LimitsResponse,
    ListProgrammersRequest,
    ListProgrammersResponse,
    Message,
    Nak,
    NakCode,
    OutcomeState,
    PumpStateResponse,
    QueryOutcomeRequest,
    QueryOutcomeResponse,
    ReadAlarmsRequest,
    ReadAlarmsResponse,
    ReadDemandBolusRequest,
    ReadDemandLogRequest,
    ReadDemandLogResponse,
    ReadEventsRequest,
    ReadEventsResponse,
    ReadImplantRequest,
    ReadLimitsRequest,
    ReadScheduleRequest,
    RefillRequest,
    RefillResponse,
    Response,
    ResumeRequest,
    RevokeProgrammerRequest,
    RevokeProgrammerResponse,
    ScheduleResponse,
    SessionOpenRequest,
    SessionOpenResponse,
    SetRateRequest,
    SetRateResponse,
    StatusRequest,
    StatusResponse,
    StopRequest,
    WriteLimitsRequest,
)
from pumpctl.protocol.session import (
    NONCE_LEN,
    AuthError,
    Role,
    SessionKeys,
    handshake_transcript,
    open_identity,
    pump_proof,
    session_key,
)

R = TypeVar("R", bound=Message)
T = TypeVar("T")
P = ParamSpec("P")
EVENT_PAGE = 64
NL_PER_ML = 1_000_000
LOG_END_PROBE = 0xFFFF_FFFF  # a first_index past any event: the answer is the log's end
_SESSION_GONE = {NakCode.SESSION_EXPIRED, NakCode.AUTH_REQUIRED}
_NOT_ENROLLED = {NakCode.PROGRAMMER_REVOKED, NakCode.UNKNOWN_PROGRAMMER}
HANDSHAKES_MAX = 3  # as the likeliest programmer, another, and the one the pump's serial names


class Resolution(Enum):
    APPLIED = "applied"
    REFUSED = "refused"
    NOT_EXECUTED = "not executed"


@dataclass(frozen=True)
class ResolvedOutcome:
    request_id: int
    resolution: Resolution
    detail: str = ""  # the pump's reason, when it refused
    nak_code: int = 0  # the rule that refused


# LimitsResponse fields WRITE_LIMITS cannot change: the pump model's own properties, and the
# drug library's display unit, bridge bolus maximum, withdrawal risk, re-titration interval
# and maximum refill interval.
LIMITS_NOT_WRITABLE = frozenset(
    {
        "min_flow_nl_per_day",
        "low_reservoir_ul",
        "display_unit",
        "refill_tolerance_ul",
        "bridge_bolus_max_ng",
        "withdrawal_risk",
        "retitration_interval_s",
        "max_refill_interval_s",
    }
)


def new_request_id() -> int:
    return secrets.randbits(64) or 1


class PumpClient:
    """One programmer session with one pump over one serial link."""

    def __init__(self, transactions: TransactionManager) -> None:
        self.transactions = transactions
        self.identity: IdentifyResponse | None = None  # from the session handshake
        self.programmer_id = 0  # whose key opened the session (0: the role's implant key)
        self._keys: KeySource | None = None
        self._role = Role.CLINICIAN
        self._page_events = EVENT_PAGE  # events asked for per page, fewer on a noisy line

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        trace: Trace | None = None,
        deadline_s: float | None = None,
        retries: int | None = None,
        baud: int = DEFAULT_BAUD,
        keys: KeySource | None = None,
        role: Role = Role.CLINICIAN,
        exclusive: bool = True,
        blocking: bool = False,
    ) -> PumpClient:
        """Open the port and, given ``keys``, an authenticated session in ``role``.
        ``url`` is a pyserial port or URL, or ``sim://NAME`` for a simulator in this
        process (``pumpctl.link.memory``). Deadlines and retries follow ``baud`` and the
        request (``pumpctl.link.timing``) unless ``deadline_s`` or ``retries`` fix them;
        ``exclusive`` locks the port against a second programmer. On a serial device (Linux),
        ``blocking`` waits for answers in this thread: every call then returns without
        suspending, and may be driven without an event loop (``pumpctl.link.blocking``)."""
        timing = LineTiming(None if is_memory_url(url) else baud)
        transactions = TransactionManager(deadline_s, retries, trace, timing)
        transactions.link = await open_link(
            url,
            transactions.on_frame,
            transactions.on_bytes,
            baud=baud,
            exclusive=exclusive,
            blocking=blocking,
        )
        client = cls(transactions)
        if keys is not None:
            try:
                await client.open_session(keys, role)
            except BaseException:
                await client.close()
                raise
        return client

    @property
    def role(self) -> Role:
        """The role this programmer's session holds (the clinician's until one is opened)."""
        return self._role

    async def open_session(self, keys: KeySource, role: Role = Role.CLINICIAN) -> None:
        """The handshake: one round trip, which also brings the pump's identity.

        The pump proves it holds the key of the programmer named (its enrolled key, or the
        role's implant key for programmer 0); this programmer proves it with the tag of its
        first sealed frame. Only an answer echoing this programmer's nonce is judged
        (``TransactionManager.handshake``): another's is never taken for a wrong key.
        """
        # The pump names itself only in its answer: ask as the programmer this key store
        # most likely is there, and again as the one it holds for that pump if not (a key
        # store with both enrolled and implant keys of a role: an extra round trip).
        candidates = keys.programmer_ids(role)
        refusal = ""
        answer: SessionOpenResponse | None = None
        for _ in range(HANDSHAKES_MAX):
            if not candidates:
                break
            programmer_id = candidates.pop(0)
            request, reply = await self._handshake_as(role, programmer_id)
            if isinstance(reply, Nak) and reply.code in _NOT_ENROLLED:
                refusal = reply.detail
                continue
            answer = _expect(reply, SessionOpenResponse)
            paired_as = keys.programmer_id(answer.serial_number, role)
            if paired_as is None or paired_as == programmer_id:
                break
            candidates, answer = [paired_as], None
        if answer is None:
            raise AuthenticationError(
                f"the pump refused this programmer: {refusal}"
                if refusal
                else "the pump answered no handshake as the programmer paired with it"
            )
        serial = answer.serial_number
        nonce = request.programmer_nonce
        key = keys.key_for(serial, role)
        if key is None:
            raise AuthenticationError(
                f"pump {serial} is not paired for the {role.name.lower()} role "
                "(pair it: pumpctl pair, or pumpsim --pair)"
            )
        transcript = handshake_transcript(answer)
        proof = pump_proof(key, role, nonce, answer.pump_nonce, answer.session_id, transcript)
        if not hmac.compare_digest(proof, answer.pump_proof):
            raise AuthenticationError(
                f"pump {serial} could not prove its identity with the paired key: a wrong "
                "key, not the pump that was paired, or its answer was altered on the line"
            )
        k_s = session_key(key, role, nonce, answer.pump_nonce, answer.session_id)
        try:
            sealed = open_identity(k_s, answer)
        except AuthError:
            raise AuthenticationError(
                f"pump {serial} proved its key but its sealed identity does not open: "
                "its answer was altered on the line"
            ) from None
        self.transactions.session = SessionKeys(answer.session_id, k_s, role)
        self.identity = IdentifyResponse(
            model=answer.model,
            serial_number=serial,
            firmware_version=sealed.firmware_version,
            reservoir_capacity_ul=sealed.reservoir_capacity_ul,
            drug=sealed.drug,
            concentration_ng_per_ml=sealed.concentration_ng_per_ml,
        )
        self._keys, self._role = keys, role
        self.programmer_id = request.programmer_id

    async def _handshake_as(
        self, role: Role, programmer_id: int
    ) -> tuple[SessionOpenRequest, SessionOpenResponse | Nak]:
        def new_request() -> SessionOpenRequest:
            return SessionOpenRequest(
                role=role,
                programmer_id=programmer_id,
                programmer_nonce=secrets.token_bytes(NONCE_LEN),
            )

        return await self.transactions.handshake(new_request)

    async def close(self) -> None:
        if self.transactions.link is not None:
            await self.transactions.link.close()

    async def __aenter__(self) -> PumpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _exchange(self, request: Message) -> Message:
        """Send in the session. A session that expired or was replaced by another
        programmer's is reopened once and the request sent again: the pump refused it
        before looking at it, so it was not executed. A session whose counter is nearly
        used up is replaced first: a nonce is never used twice under one key."""
        session = self.transactions.session
        if session is not None and session.nearly_spent and self._keys is not None:
            await self.open_session(self._keys, self._role)
        reply = await self.transactions.request(request)
        lost = isinstance(reply, Nak) and reply.code in _SESSION_GONE
        if lost and self._keys is not None:
            await self.open_session(self._keys, self._role)
            reply = await self.transactions.request(request)
        return reply

    async def _read(self, request: Message, expected: type[R]) -> R:
        reply = _expect(await self._exchange(request), expected)
        if self.transactions.session is not None:
            await self._check_agrees(reply)
        return reply

    async def _check_agrees(self, reply: Message) -> None:
        """Sealed answers must agree with the identity the pump proved in the handshake.

        The drug and its concentration may change in a session's life (another programmer's
        refill): an answer that disagrees with them brings the pump's sealed IDENTIFY, which
        becomes the identity if it explains the answer and changes nothing else. After this
        client's own refill (``identity`` None) the next sealed IDENTIFY is the identity.
        """
        identity = self.identity
        if isinstance(reply, IdentifyResponse):
            if identity is not None and not _same_pump(identity, reply):
                raise _disagrees(identity, "its identity")
            self.identity = reply
            return
        if identity is None or _agrees(identity, reply):
            return
        fresh = await self.identify()  # adopts a changed drug, or raises
        if not _agrees(fresh, reply):
            raise _disagrees(identity, "the drug or concentration")

    async def _command(self, request: Command, expected: type[R]) -> R:
        try:
            reply = await self._exchange(request)
        except NoResponse as error:
            raise OutcomeUncertain(
                f"{error}: the outcome of {type(request).__name__} is unknown (not resent: "
                "resolve it by reading the pump back)",
                request.request_id,
                reason=str(error),
            ) from None
        return _expect(reply, expected)

    # --- reads ---------------------------------------------------------------------------

    async def identify(self) -> IdentifyResponse:
        return await self._read(IdentifyRequest(), IdentifyResponse)

    async def status(self) -> StatusResponse:
        return await self._read(StatusRequest(), StatusResponse)

    async def read_limits(self) -> LimitsResponse:
        return await self._read(ReadLimitsRequest(), LimitsResponse)

    async def read_schedule(self) -> ScheduleResponse:
        """The program in force: a flexible-dosing schedule, or the simple rate as one step."""
        return await self._read(ReadScheduleRequest(), ScheduleResponse)

    async def read_demand_bolus(self) -> DemandSettingsResponse:
        """The patient's demand-bolus settings and where the patient stands now."""
        return await self._read(ReadDemandBolusRequest(), DemandSettingsResponse)

    async def read_demand_log(self, first_index: int = 0) -> list[DemandLogEntry]:
        """The activation log from ``first_index`` on (a clinician's session), page by page
        until a page comes back empty."""
        entries: list[DemandLogEntry] = []
        index = first_index
        while True:
            request = ReadDemandLogRequest(first_index=index)
            page = await self._read(request, ReadDemandLogResponse)
            if not page.entries:
                return entries
            entries += page.entries
            index = page.next_index

    async def read_implant(self) -> ImplantResponse:
        """The implant record (clinician and service roles): whom and what the pump is in."""
        return await self._read(ReadImplantRequest(), ImplantResponse)

    async def read_alarms(self) -> ReadAlarmsResponse:
        return await self._read(ReadAlarmsRequest(), ReadAlarmsResponse)

    async def read_events(
        self, first_index: int, max_count: int = EVENT_PAGE
    ) -> ReadEventsResponse:
        request = ReadEventsRequest(first_index=first_index, max_count=max_count)
        return await self._read(request, ReadEventsResponse)

    async def read_all_events(
        self,
        first_index: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[EventRecord], ReadEventsResponse]:
        """Every event from ``first_index`` on; ``progress(read, total)`` after each page.

        A page's ``next_index`` is where to continue; only an empty page says the log's end
        was reached (docs/protocol.md §5.3). With ``progress``, one probe of the log's end
        first gives the total.
        """
        total = None
        if progress is not None:
            end = await self.read_events(LOG_END_PROBE, 1)
            total = end.next_index - max(first_index, end.oldest_index)
        events: list[EventRecord] = []
        page = await self._page(first_index)
        while page.events:
            events += page.events
            if progress is not None and total is not None:
                progress(len(events), max(total, len(events)))
            page = await self._page(page.next_index)
        return events, page

    async def _page(self, first_index: int) -> ReadEventsResponse:
        """One page of the log, as long as the line lets through: a page that gets no
        answer is asked again a quarter as long (a long answer on a noisy line rarely
        arrives whole), and pages grow back as they get through."""
        while True:
            try:
                page = await self.read_events(first_index, self._page_events)
            except NoResponse:
                if self._page_events == 1:
                    raise
                self._page_events = max(1, self._page_events // 4)
                continue
            self._page_events = min(EVENT_PAGE, self._page_events * 2)
            return page

    # --- commands ------------------------------------------------------------------------

    async def set_rate(
        self,
        dose_ng_per_day: int,
        believed_dose_ng_per_day: int,
        *,
        confirm_large_change: bool = False,
        request_id: int | None = None,
    ) -> SetRateResponse:
        request = SetRateRequest(
            request_id=request_id or new_request_id(),
            dose_ng_per_day=dose_ng_per_day,
            believed_dose_ng_per_day=believed_dose_ng_per_day,
            confirm_large_change=confirm_large_change,
        )
        return await self._command(request, SetRateResponse)

    async def bolus(
        self, dose_ng: int, duration_s: int, *, request_id: int | None = None
    ) -> BolusResponse:
        request = BolusRequest(
            request_id=request_id or new_request_id(), dose_ng=dose_ng, duration_s=duration_s
        )
        return await self._command(request, BolusResponse)

    async def demand_bolus(self, *, request_id: int | None = None) -> DemandBolusResponse:
        """The patient's activation (a patient's session): the dose is the clinician's."""
        request = DemandBolusRequest(request_id=request_id or new_request_id())
        return await self._command(request, DemandBolusResponse)

    async def stop(self, *, request_id: int | None = None) -> PumpStateResponse:
        request = StopRequest(request_id=request_id or new_request_id())
        return await self._command(request, PumpStateResponse)

    async def resume(self, *, request_id: int | None = None) -> PumpStateResponse:
        request = ResumeRequest(request_id=request_id or new_request_id())
        return await self._command(request, PumpStateResponse)

    async def catheter_check(self, *, request_id: int | None = None) -> CatheterCheckResponse:
        request = CatheterCheckRequest(request_id=request_id or new_request_id())
        return await self._command(request, CatheterCheckResponse)

    async def refill(
        self,
        residual_withdrawn_ul: int,
        volume_added_ul: int,
        concentration_ng_per_ml: int,
        *,
        bridge_bolus_ng: int = 0,
        waive_bridge_bolus: bool = False,
        discrepancy_acknowledged: bool = False,
        confirm_large_change: bool = False,
        request_id: int | None = None,
    ) -> RefillResponse:
        request = RefillRequest(
            request_id=request_id or new_request_id(),
            residual_withdrawn_ul=residual_withdrawn_ul,
            volume_added_ul=volume_added_ul,
            concentration_ng_per_ml=concentration_ng_per_ml,
            bridge_bolus_ng=bridge_bolus_ng,
            waive_bridge_bolus=waive_bridge_bolus,
            discrepancy_acknowledged=discrepancy_acknowledged,
            confirm_large_change=confirm_large_change,
        )
        reply = await self._command(request, RefillResponse)
        self.identity = None  # the concentration may have changed: identify afresh
        return reply

    async def ack_alarm(
        self, code: AlarmCode, *, request_id: int | None = None
    ) -> AckAlarmResponse:
        request = AckAlarmRequest(request_id=request_id or new_request_id(), code=code)
        return await self._command(request, AckAlarmResponse)

    async def write_limits(
        self, limits: LimitsResponse, *, request_id: int | None = None
    ) -> LimitsResponse:
        """Replace the drug library limits in force (a service session only)."""
        values = limits.model_dump(exclude=set(LIMITS_NOT_WRITABLE))
        request = WriteLimitsRequest(request_id=request_id or new_request_id(), **values)
        return await self._command(request, LimitsResponse)

    # --- enrolment (a clinician session) ------------------------------------------------

    async def enrol_programmer(
        self,
        programmer_id: int,
        role: Role,
        programmer_key: bytes,
        label: str,
        *,
        request_id: int | None = None,
    ) -> EnrolProgrammerResponse:
        request = EnrolProgrammerRequest(
            request_id=request_id or new_request_id(),
            programmer_id=programmer_id,
            role=role,
            programmer_key=programmer_key,
            label=label,
        )
        return await self._command(request, EnrolProgrammerResponse)

    async def list_programmers(self) -> ListProgrammersResponse:
        return await self._read(ListProgrammersRequest(), ListProgrammersResponse)

    async def revoke_programmer(
        self, programmer_id: int, *, request_id: int | None = None
    ) -> RevokeProgrammerResponse:
        request = RevokeProgrammerRequest(
            request_id=request_id or new_request_id(), programmer_id=programmer_id
        )
        return await self._command(request, RevokeProgrammerResponse)

    async def send_once(self, request: Command) -> Message:
        """Send a prepared therapy command once: a NAK raises ``PumpRefused``, no answer
        ``OutcomeUncertain`` (never resent; resolve it with :meth:`resolve`)."""
        reply = await self._command(request, Response)
        if isinstance(request, RefillRequest):
            self.identity = None  # the concentration may have changed: identify afresh
        return reply

    async def send(self, request: Command) -> Message:
        """Send a prepared command (e.g. one being retried with its own request id)."""
        return await self._exchange(request)

    # --- resolving an uncertain outcome --------------------------------------------------

    async def resolve(self, request_id: int, *, close: bool = False) -> ResolvedOutcome:
        """What became of a command whose answer was lost, read back from the pump.

        QUERY_OUTCOME returns the outcome the pump recorded for the request id in its
        non-volatile memory; the pump handles frames in order, so once it answers, a command
        sent earlier has either been handled (and recorded) or was never received. ``close``
        makes "never received" final: a copy still on its way is refused when it comes.
        """
        query = QueryOutcomeRequest(request_id=request_id, close=close)
        answer = await self._read(query, QueryOutcomeResponse)
        resolution = {
            OutcomeState.EXECUTED: Resolution.APPLIED,
            OutcomeState.REFUSED: Resolution.REFUSED,
            OutcomeState.UNKNOWN: Resolution.NOT_EXECUTED,
        }[answer.outcome]
        if answer.nak_code == NakCode.REQUEST_CLOSED:  # closed by an earlier query: not run
            resolution = Resolution.NOT_EXECUTED
        return ResolvedOutcome(request_id, resolution, answer.detail, answer.nak_code)


def _same_pump(proven: IdentifyResponse, answer: IdentifyResponse) -> bool:
    """Everything but the drug in the reservoir is the same."""
    ignore = {"drug", "concentration_ng_per_ml"}
    return proven.model_dump(exclude=ignore) == answer.model_dump(exclude=ignore)


def _agrees(identity: IdentifyResponse, reply: Message) -> bool:
    if isinstance(reply, LimitsResponse):
        return reply.drug == identity.drug
    if isinstance(reply, StatusResponse):
        flow = reply.dose_ng_per_day * NL_PER_ML // identity.concentration_ng_per_ml
        return abs(flow - reply.flow_nl_per_day) <= 1
    return True


def _disagrees(identity: IdentifyResponse, what: str) -> AuthenticationError:
    return AuthenticationError(
        f"pump {identity.serial_number} answered with {what} not as it proved at the "
        "session's start: not trusted"
    )


def _expect(reply: Message, expected: type[R]) -> R:
    if isinstance(reply, Nak):
        raise PumpRefused(reply)
    if not isinstance(reply, expected):
        raise PumpError(f"pump answered {type(reply).__name__}, expected {expected.__name__}")
    return reply


class _Blocking(Generic[P, T]):
    """A client method run to completion on the facade's loop, with the method's own
    parameters and result type (so scripts and tests calling it are type-checked)."""

    def __init__(self, method: Callable[Concatenate[PumpClient, P], Awaitable[T]]) -> None:
        self._method = method

    def __get__(self, facade: SyncPumpClient, owner: type[SyncPumpClient]) -> Callable[P, T]:
        def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
            return facade.run(lambda client: self._method(client, *args, **kwargs))

        return blocking


class SyncPumpClient:
    """Blocking facade for scripts: runs the async client on a private event loop."""

    def __init__(self, url: str, **options: Any) -> None:
        import asyncio

        self._runner = asyncio.Runner()
        self._closed = False
        try:
            self.client: PumpClient = self._runner.run(PumpClient.open(url, **options))
        except BaseException:
            self._runner.close()
            raise

    def run(self, call: Callable[[PumpClient], Awaitable[T]]) -> T:
        """``sync.run(lambda c: c.status())`` runs any async client call to completion."""

        async def invoke() -> T:
            return await call(self.client)

        return self._runner.run(invoke())

    open_session = _Blocking(PumpClient.open_session)
    identify = _Blocking(PumpClient.identify)
    status = _Blocking(PumpClient.status)
    read_limits = _Blocking(PumpClient.read_limits)
    read_schedule = _Blocking(PumpClient.read_schedule)
    read_demand_bolus = _Blocking(PumpClient.read_demand_bolus)
    read_demand_log = _Blocking(PumpClient.read_demand_log)
    read_implant = _Blocking(PumpClient.read_implant)
    read_alarms = _Blocking(PumpClient.read_alarms)
    read_events = _Blocking(PumpClient.read_events)
    read_all_events = _Blocking(PumpClient.read_all_events)
    set_rate = _Blocking(PumpClient.set_rate)
    bolus = _Blocking(PumpClient.bolus)
    demand_bolus = _Blocking(PumpClient.demand_bolus)
    stop = _Blocking(PumpClient.stop)
    resume = _Blocking(PumpClient.resume)
    catheter_check = _Blocking(PumpClient.catheter_check)
    refill = _Blocking(PumpClient.refill)
    ack_alarm = _Blocking(PumpClient.ack_alarm)
    write_limits = _Blocking(PumpClient.write_limits)
    enrol_programmer = _Blocking(PumpClient.enrol_programmer)
    list_programmers = _Blocking(PumpClient.list_programmers)
    revoke_programmer = _Blocking(PumpClient.revoke_programmer)
    send_once = _Blocking(PumpClient.send_once)
    send = _Blocking(PumpClient.send)
    resolve = _Blocking(PumpClient.resolve)

    @property
    def role(self) -> Role:
        return self.client.role

    def close(self) -> None:
        """Close the port and the loop; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self.client.close())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncPumpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
