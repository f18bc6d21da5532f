"""The one place that owns sequence numbers, the response deadline and retries.

One request is in flight per link; concurrent callers queue on a lock. A retry resends the
same frame (same sequence number, same request id), so the pump answers a command it has
already executed with the outcome it recorded instead of executing it again. Sequence numbers
start at a random value in each process, so an answer meant for an earlier process on the same
port is not taken for one of ours. Deadlines follow the line's speed and the longest answer
the request can bring (``pumpctl.link.timing``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pumpctl.link.blocking import BlockingLink
from pumpctl.link.errors import NoResponse
from pumpctl.link.timing import COMMAND_TRIES, READ_TRIES, SILENT_TRIES, LineTiming
from pumpctl.protocol.codec import DecodeError, from_frame, to_frame
from pumpctl.protocol.frames import (
    DELIMITER,
    MAX_ENCODED,
    Frame,
    FrameFlags,
    encode_frame,
    encoded_length,
)
from pumpctl.protocol.messages import (
    Command,
    ListProgrammersRequest,
    Message,
    Nak,
    NakCode,
    ReadEventsRequest,
    SessionOpenRequest,
    SessionOpenResponse,
)
from pumpctl.protocol.session import NONCE_ECHO_LEN, AuthError, Direction, SessionKeys

if TYPE_CHECKING:
    import asyncio

    from pumpctl.link.transport import SerialLink

    Link = SerialLink | BlockingLink

# Refusals of a frame the pump could not authenticate come unsealed; nothing else may (the
# pump never locks out, so a LOCKED_OUT can only be forged). None of them is an outcome: a
# copy refusal leaves the wait going, a lost session is reopened and the request sent again
# under its own request id (the pump executes an id at most once).
_SESSION_NAKS = {
    bytes([code])
    for code in (
        NakCode.AUTH_REQUIRED,
        NakCode.AUTH_FAILED,
        NakCode.REPLAYED,
        NakCode.SESSION_EXPIRED,
    )
}

# The pump's refusals of one copy of a frame, never its answer to the request.
_COPY_NAKS = {NakCode.REPLAYED, NakCode.AUTH_FAILED}

Trace = Callable[[str, Frame | bytes, Message | None], None]
"""Called with ``("tx" | "rx", frame, message)`` for every frame, and ``("rx-noise", bytes,
None)`` for frames that failed their checks."""


@dataclass
class LinkCounters:
    requests: int = 0
    retransmissions: int = 0
    timeouts: int = 0
    stale_responses: int = 0
    corrupt_responses: int = 0
    bad_macs: int = 0
    copy_refusals: int = 0  # REPLAYED or AUTH_FAILED for one copy of a frame
    extra: dict[str, int] = field(default_factory=dict)


@dataclass
class _Waiting:
    """The answers taken now: to these sequence numbers, handed to ``take``."""

    seqs: set[int]
    take: Callable[[Message], None]


class TransactionManager:
    def __init__(
        self,
        deadline_s: float | None = None,
        retries: int | None = None,
        trace: Trace | None = None,
        timing: LineTiming | None = None,
    ) -> None:
        """``deadline_s`` and ``retries`` fix the deadline and the retries of every request;
        by default they follow ``timing`` (the line's speed) and the kind of request."""
        self.deadline_s = deadline_s
        self.retries = retries
        self.timing = timing or LineTiming(None)
        self.trace = trace
        self.counters = LinkCounters()
        self._lock: asyncio.Lock | None = None  # made on the event loop's first request
        self._seq = secrets.randbelow(0x10000)
        self._waiting: _Waiting | None = None
        self._copy_refused: Nak | None = None
        self.bytes_received = 0  # anything at all from the line: a noisy line is not a silent one
        self.link: Link | None = None
        self.session: SessionKeys | None = None  # set once a session is open
        self._deadline = _Deadline()

    def deadline_for(self, frame_bytes: int, message: Message) -> float:
        if self.deadline_s is not None:
            return self.deadline_s
        long_answer = isinstance(message, ReadEventsRequest | ListProgrammersRequest)
        answer = MAX_ENCODED if long_answer else None
        if answer is None:
            return self.timing.deadline_s(frame_bytes)
        return self.timing.deadline_s(frame_bytes, answer)

    def tries_for(self, message: Message) -> int:
        if self.retries is not None:
            return 1 + self.retries
        return COMMAND_TRIES if isinstance(message, Command) else READ_TRIES

    def on_bytes(self, data: bytes) -> None:
        self.bytes_received += len(data)

    def on_frame(self, frame: Frame) -> None:
        """Frames from the link; only a valid answer to the request in flight is taken."""
        waiting = self._waiting
        if waiting is None or not frame.is_response or frame.seq not in waiting.seqs:
            self.counters.stale_responses += 1
            self._trace("rx-stale", frame, None)
            return
        if self.session is not None:
            opened = self._authentic(frame)
            if opened is None:
                return
            frame = opened
        try:
            reply = from_frame(frame)
        except DecodeError:
            # Passed the CRC but is not a valid answer: keep waiting; a retry gets the
            # pump's recorded outcome.
            self.counters.corrupt_responses += 1
            self._trace("rx-bad", frame, None)
            return
        self._trace("rx", frame, reply)
        if isinstance(reply, Nak) and reply.code in _COPY_NAKS:
            # The pump refused one copy of the frame (a replayed counter, a tag that did not
            # match): a later copy, or the answer to an earlier one, is the answer.
            self.counters.copy_refusals += 1
            self._copy_refused = reply
            return
        waiting.take(reply)

    def _authentic(self, frame: Frame) -> Frame | None:
        """In a session, only sealed answers count (returned decrypted), but for the pump's
        refusals of the session itself, which it cannot seal (it may not know the key in
        use); ``None`` for anything else."""
        assert self.session is not None
        if FrameFlags.AUTHENTICATED in frame.flags:
            try:
                return self.session.open(frame, Direction.TO_PROGRAMMER)
            except AuthError:
                self.counters.bad_macs += 1
                self._trace("rx-forged", frame, None)
                return None
        if FrameFlags.NAK in frame.flags and frame.payload[:1] in _SESSION_NAKS:
            return frame
        self.counters.bad_macs += 1
        self._trace("rx-unsealed", frame, None)
        return None

    def _trace(self, direction: str, frame: Frame, message: Message | None) -> None:
        if self.trace is not None:
            self.trace(direction, frame, message)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        self.counters.requests += 1
        return self._seq

    def _send(self, link: Link, frame: Frame, message: Message) -> None:
        wire = frame if self.session is None else self.session.seal(frame, Direction.TO_PUMP)
        self._trace("tx", wire, message)
        # A lone delimiter first ends whatever a damaged byte left in the pump's buffer
        # (docs/protocol.md §2.1), so the frame is not lost with it.
        link.write(DELIMITER + encode_frame(wire))

    async def request(self, message: Message) -> Message:
        """Send ``message`` and return the pump's answer (a response or a ``Nak``).

        Raises ``NoResponse`` when no valid answer arrives after the retries.
        """
        link = self.link
        if link is None:
            raise NoResponse("not connected")
        async with self._one_at_a_time(link):
            frame = to_frame(message, self._next_seq())
            self._copy_refused = None
            deadline_s = self.deadline_for(encoded_length(frame), message)
            tries = self.tries_for(message)
            heard = self.bytes_received
            for attempt in range(tries):
                if attempt >= SILENT_TRIES and self.bytes_received == heard:
                    tries = attempt  # not a byte back: a silent pump, not a noisy line
                    break
                if attempt:
                    self.counters.retransmissions += 1
                    frame = Frame(
                        frame.msg_type,
                        frame.seq,
                        frame.payload,
                        frame.flags | FrameFlags.RETRANSMISSION,
                    )
                answers = self._answers(link)
                self._waiting = _Waiting({frame.seq}, answers.take)
                try:
                    self._send(link, frame, message)
                    return await answers.next(answers.now() + deadline_s)
                except TimeoutError:
                    self.counters.timeouts += 1
                finally:
                    self._waiting = None
            raise NoResponse(
                f"no answer from the pump on {link.url} after {_tries(tries)}{self._why()}"
            )

    def _one_at_a_time(self, link: Link) -> AbstractAsyncContextManager[object]:
        """Callers on the event loop queue for the line; a blocking link has one caller,
        whose every call returns before the next."""
        if isinstance(link, BlockingLink):
            return contextlib.nullcontext()
        if self._lock is None:
            import asyncio

            self._lock = asyncio.Lock()
        return self._lock

    def _answers(self, link: Link) -> _Answers:
        if isinstance(link, BlockingLink):
            return _LineAnswers(link)
        return _LoopAnswers(self._deadline)

    def _why(self) -> str:
        refused = self._copy_refused
        if refused is None:
            return ""
        return f" (copies refused: {NakCode(refused.code).name}: {refused.detail})"

    async def handshake(
        self, new_request: Callable[[], SessionOpenRequest]
    ) -> tuple[SessionOpenRequest, SessionOpenResponse | Nak]:
        """SESSION_OPEN, each try a new request (a fresh nonce) with its own sequence number.

        Only answers echoing one of these tries' nonces (their first bytes) are taken, or a
        NAK to one of their sequence numbers; anything else on the line is dropped unread.
        The pump handles frames in order and its session is the one it opened last, so the
        answer taken is the one to the latest try: while answers to earlier tries keep coming
        (a slow pump), the wait goes on, but never past the time every try would take
        unanswered, so that replaying an earlier answer cannot hold the handshake open.
        Returns the request answered and its answer.
        """
        link = self.link
        if link is None:
            raise NoResponse("not connected")
        tries = READ_TRIES if self.retries is None else 1 + self.retries  # it changes nothing
        async with self._one_at_a_time(link):
            self.session = None
            sent: dict[bytes, SessionOpenRequest] = {}
            seqs: set[int] = set()
            answers = self._answers(link)
            self._waiting = _Waiting(seqs, answers.take)
            best: tuple[int, SessionOpenRequest, SessionOpenResponse | Nak] | None = None
            try:
                order: dict[bytes, int] = {}
                heard = self.bytes_received
                started = answers.now()
                give_up: float | None = None
                for attempt in range(tries):
                    if attempt >= SILENT_TRIES and self.bytes_received == heard:
                        tries = attempt  # not a byte back: a silent pump
                        break
                    if give_up is not None and answers.now() >= give_up:
                        tries = attempt  # every try's time is up (a line slow to take them)
                        break
                    if attempt:
                        self.counters.retransmissions += 1
                    request = new_request()
                    echo = request.programmer_nonce[:NONCE_ECHO_LEN]
                    sent[echo], order[echo] = request, attempt
                    frame = to_frame(request, self._next_seq())
                    seqs.add(frame.seq)
                    deadline_s = self.deadline_for(encoded_length(frame), request)
                    if give_up is None:
                        give_up = started + (tries + 1) * deadline_s
                    self._send(link, frame, request)
                    until = min(answers.now() + deadline_s, give_up)
                    while answers.now() < until:
                        try:
                            reply = await answers.next(until)
                        except TimeoutError:
                            break
                        if isinstance(reply, SessionOpenResponse):
                            if reply.nonce_echo not in sent:
                                self.counters.stale_responses += 1
                                continue
                            rank = order[reply.nonce_echo]
                            answered = sent[reply.nonce_echo]
                        elif isinstance(reply, Nak):
                            rank, answered = attempt, request
                        else:
                            continue
                        if best is None or rank >= best[0]:
                            best = (rank, answered, reply)
                        if rank == attempt:
                            return best[1], best[2]
                        # The pump is alive, only slow.
                        until = min(answers.now() + deadline_s, give_up)
                    if best is not None:
                        return best[1], best[2]  # the latest try's answer was lost
                    self.counters.timeouts += 1
            finally:
                self._waiting = None
            raise NoResponse(f"no answer from the pump on {link.url} after {_tries(tries)}")


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


class _Answers(Protocol):
    """The answers taken for the request in flight, in the order they came, and a wait for
    the next: on the event loop, or reading a blocking link in this thread."""

    def now(self) -> float: ...

    def take(self, reply: Message) -> None: ...

    async def next(self, until: float) -> Message:
        """The next answer; ``TimeoutError`` when none has come by ``until`` (``now``)."""
        ...


class _LoopAnswers:
    def __init__(self, deadline: _Deadline) -> None:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._deadline = deadline
        self._taken: deque[Message] = deque()
        self._wake: asyncio.Future[None] | None = None

    def now(self) -> float:
        return self._loop.time()

    def take(self, reply: Message) -> None:
        self._taken.append(reply)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def next(self, until: float) -> Message:
        while not self._taken:
            self._wake = wake = self._loop.create_future()
            self._deadline.arm(self._loop, wake, until)
            try:
                await wake
            finally:
                self._deadline.disarm()
                self._wake = None
        return self._taken.popleft()


class _LineAnswers:
    def __init__(self, link: BlockingLink) -> None:
        self._link = link
        self._taken: deque[Message] = deque()

    def now(self) -> float:
        return time.monotonic()

    def take(self, reply: Message) -> None:
        self._taken.append(reply)

    async def next(self, until: float) -> Message:
        while not self._taken:
            if not self._link.receive(until):
                raise TimeoutError
        return self._taken.popleft()


class _Deadline:
    """The request in flight's deadline, kept by one timer for many requests: a request is
    answered long before its deadline, and a timer per request (scheduled, then cancelled)
    cost the event loop more than the answer. The timer rings at the earliest deadline it was
    set for; the request then in flight times out if its own has passed, or the timer is set
    again for it."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._when = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def arm(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], when: float
    ) -> None:
        self._future, self._when = future, when
        timer = self._timer
        if timer is not None and (self._loop is not loop or timer.when() > when):
            timer.cancel()  # rings too late for this request, or on another loop
            timer = None
        if timer is None:
            self._loop = loop
            self._timer = loop.call_at(when, self._ring)

    def disarm(self) -> None:
        self._future = None

    def _ring(self) -> None:
        self._timer = None
        future, loop = self._future, self._loop
        if future is None or future.done() or loop is None:
            return
        if loop.time() >= self._when:
            future.set_exception(TimeoutError())
        else:
            self._timer = loop.call_at(self._when, self._ring)
