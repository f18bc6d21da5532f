"""The pump's vocabulary as async methods, and a synchronous facade that runs them.

Commands carry a fresh random request id; a command that gets no answer raises
``OutcomeUncertain`` and is resolved by reading the pump's event log back, never by
sending it again.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pumpctl.link.errors import NoResponse, OutcomeUncertain, PumpError, Refused
from pumpctl.link.transactions import DEADLINE_S, RETRIES, Trace, TransactionManager
from pumpctl.link.transport import DEFAULT_BAUD, SerialLink
from pumpctl.protocol.messages import (
    AckAlarmRequest,
    AckAlarmResponse,
    AlarmCode,
    BolusRequest,
    BolusResponse,
    CatheterCheckRequest,
    CatheterCheckResponse,
    Command,
    EventRecord,
    IdentifyRequest,
    IdentifyResponse,
    LimitsResponse,
    Message,
    Nak,
    OutcomeState,
    PumpStateResponse,
    QueryOutcomeRequest,
    QueryOutcomeResponse,
    ReadAlarmsRequest,
    ReadAlarmsResponse,
    ReadEventsRequest,
    ReadEventsResponse,
    ReadLimitsRequest,
    RefillRequest,
    RefillResponse,
    ResumeRequest,
    SetRateRequest,
    SetRateResponse,
    StatusRequest,
    StatusResponse,
    StopRequest,
)

R = TypeVar("R", bound=Message)
T = TypeVar("T")
EVENT_PAGE = 64
LOG_END_PROBE = 0xFFFF_FFFF  # a first_index past any event: the answer is the log's end


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


def new_request_id() -> int:
    return secrets.randbits(64) or 1


class PumpClient:
    """One programmer session with one pump over one serial link."""

    def __init__(self, transactions: TransactionManager) -> None:
        self.transactions = transactions

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        trace: Trace | None = None,
        deadline_s: float = DEADLINE_S,
        retries: int = RETRIES,
        baud: int = DEFAULT_BAUD,
    ) -> PumpClient:
        transactions = TransactionManager(deadline_s, retries, trace)
        transactions.link = await SerialLink.open(url, transactions.on_frame, baud=baud)
        return cls(transactions)

    async def close(self) -> None:
        if self.transactions.link is not None:
            await self.transactions.link.close()

    async def __aenter__(self) -> PumpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self, request: Message, expected: type[R]) -> R:
        reply = await self.transactions.request(request)
        return _expect(reply, expected)

    async def _command(self, request: Command, expected: type[R]) -> R:
        try:
            reply = await self.transactions.request(request)
        except NoResponse as error:
            raise OutcomeUncertain(
                f"{error}: the outcome of {type(request).__name__} is unknown "
                "(it was not resent; read the pump back before any further change)",
                request.request_id,
            ) from None
        return _expect(reply, expected)

    # --- reads ---------------------------------------------------------------------------

    async def identify(self) -> IdentifyResponse:
        return await self._read(IdentifyRequest(), IdentifyResponse)

    async def status(self) -> StatusResponse:
        return await self._read(StatusRequest(), StatusResponse)

    async def read_limits(self) -> LimitsResponse:
        return await self._read(ReadLimitsRequest(), LimitsResponse)

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
        page = await self.read_events(first_index)
        while page.events:
            events += page.events
            if progress is not None and total is not None:
                progress(len(events), max(total, len(events)))
            page = await self.read_events(page.next_index)
        return events, page

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
        request_id: int | None = None,
    ) -> RefillResponse:
        request = RefillRequest(
            request_id=request_id or new_request_id(),
            residual_withdrawn_ul=residual_withdrawn_ul,
            volume_added_ul=volume_added_ul,
            concentration_ng_per_ml=concentration_ng_per_ml,
            bridge_bolus_ng=bridge_bolus_ng,
            waive_bridge_bolus=waive_bridge_bolus,
        )
        return await self._command(request, RefillResponse)

    async def ack_alarm(
        self, code: AlarmCode, *, request_id: int | None = None
    ) -> AckAlarmResponse:
        request = AckAlarmRequest(request_id=request_id or new_request_id(), code=code)
        return await self._command(request, AckAlarmResponse)

    async def send(self, request: Command) -> Message:
        """Send a prepared command (e.g. one being retried with its own request id)."""
        return await self.transactions.request(request)

    # --- resolving an uncertain outcome --------------------------------------------------

    async def resolve(self, request_id: int) -> ResolvedOutcome:
        """What became of a command whose answer was lost, read back from the pump.

        QUERY_OUTCOME returns the outcome the pump recorded for the request id in its
        non-volatile memory; the pump handles frames in order, so once it answers, a command
        sent earlier has either been handled (and recorded) or was never received.
        """
        answer = await self._read(QueryOutcomeRequest(request_id=request_id), QueryOutcomeResponse)
        resolution = {
            OutcomeState.EXECUTED: Resolution.APPLIED,
            OutcomeState.REFUSED: Resolution.REFUSED,
            OutcomeState.UNKNOWN: Resolution.NOT_EXECUTED,
        }[answer.outcome]
        return ResolvedOutcome(request_id, resolution, answer.detail, answer.nak_code)


def _expect(reply: Message, expected: type[R]) -> R:
    if isinstance(reply, Nak):
        raise Refused(reply)
    if not isinstance(reply, expected):
        raise PumpError(f"pump answered {type(reply).__name__}, expected {expected.__name__}")
    return reply


class SyncPumpClient:
    """Blocking facade for scripts: runs the async client on a private event loop."""

    def __init__(self, url: str, **options: Any) -> None:
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

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        if not asyncio.iscoroutinefunction(method):
            return method  # type: ignore[no-any-return]

        def blocking(*args: Any, **kwargs: Any) -> Any:
            coroutine: Coroutine[Any, Any, Any] = method(*args, **kwargs)
            return self._runner.run(coroutine)

        return blocking

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
