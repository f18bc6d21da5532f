"""The one place that owns sequence numbers, the response deadline and retries.

One request is in flight per link; concurrent callers queue on a lock. A retry resends the
same frame (same sequence number, same request id), so the pump answers a command it has
already executed with the outcome it recorded instead of executing it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pumpctl.link.errors import NoResponse
from pumpctl.link.transport import SerialLink
from pumpctl.protocol.codec import DecodeError, from_frame, to_frame
from pumpctl.protocol.frames import Frame, FrameFlags, encode_frame
from pumpctl.protocol.messages import Message, NakCode
from pumpctl.protocol.session import AuthError, Direction, SessionKeys

# Refusals of the session itself come unsealed; nothing else may.
_SESSION_NAKS = {
    bytes([code])
    for code in (
        NakCode.AUTH_REQUIRED,
        NakCode.AUTH_FAILED,
        NakCode.REPLAYED,
        NakCode.SESSION_EXPIRED,
        NakCode.LOCKED_OUT,
    )
}

DEADLINE_S = 0.5
RETRIES = 2

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
    extra: dict[str, int] = field(default_factory=dict)


class TransactionManager:
    def __init__(
        self,
        deadline_s: float = DEADLINE_S,
        retries: int = RETRIES,
        trace: Trace | None = None,
    ) -> None:
        self.deadline_s = deadline_s
        self.retries = retries
        self.trace = trace
        self.counters = LinkCounters()
        self._lock = asyncio.Lock()
        self._seq = 0
        self._waiting: tuple[int, asyncio.Future[Message]] | None = None
        self.link: SerialLink | None = None
        self.session: SessionKeys | None = None  # set once a session is open

    def on_frame(self, frame: Frame) -> None:
        """Frames from the link; only a valid answer to the request in flight is taken."""
        waiting = self._waiting
        if waiting is None or not frame.is_response or frame.seq != waiting[0]:
            self.counters.stale_responses += 1
            self._trace("rx-stale", frame, None)
            return
        if self.session is not None and not self._authentic(frame):
            return
        try:
            reply = from_frame(frame)
        except DecodeError:
            # Passed the CRC but is not a valid answer: keep waiting; a retry gets the
            # pump's recorded outcome.
            self.counters.corrupt_responses += 1
            self._trace("rx-bad", frame, None)
            return
        self._trace("rx", frame, reply)
        if not waiting[1].done():
            waiting[1].set_result(reply)

    def _authentic(self, frame: Frame) -> bool:
        """In a session, only sealed answers count, but for the pump's refusals of the
        session itself, which it cannot seal (it may not know the key in use)."""
        assert self.session is not None
        if FrameFlags.AUTHENTICATED in frame.flags:
            try:
                self.session.open(frame, Direction.TO_PROGRAMMER)
            except AuthError:
                self.counters.bad_macs += 1
                self._trace("rx-forged", frame, None)
                return False
            return True
        if FrameFlags.NAK in frame.flags and frame.payload[:1] in _SESSION_NAKS:
            return True
        self.counters.bad_macs += 1
        self._trace("rx-unsealed", frame, None)
        return False

    def _trace(self, direction: str, frame: Frame, message: Message | None) -> None:
        if self.trace is not None:
            self.trace(direction, frame, message)

    async def request(self, message: Message) -> Message:
        """Send ``message`` and return the pump's answer (a response or a ``Nak``).

        Raises ``NoResponse`` when no valid answer arrives after the retries.
        """
        link = self.link
        if link is None:
            raise NoResponse("not connected")
        async with self._lock:
            self._seq = (self._seq + 1) & 0xFFFF
            self.counters.requests += 1
            frame = to_frame(message, self._seq)
            loop = asyncio.get_running_loop()
            for attempt in range(1 + self.retries):
                if attempt:
                    self.counters.retransmissions += 1
                    frame = Frame(
                        frame.msg_type,
                        frame.seq,
                        frame.payload,
                        frame.flags | FrameFlags.RETRANSMISSION,
                    )
                wire = (
                    frame if self.session is None else self.session.seal(frame, Direction.TO_PUMP)
                )
                future: asyncio.Future[Message] = loop.create_future()
                self._waiting = (frame.seq, future)
                expiry = loop.call_later(self.deadline_s, _expire, future)
                self._trace("tx", wire, message)
                try:
                    link.write(encode_frame(wire))
                    return await future
                except TimeoutError:
                    self.counters.timeouts += 1
                finally:
                    expiry.cancel()
                    self._waiting = None
            raise NoResponse(
                f"no answer from the pump on {link.url} after {1 + self.retries} tries"
            )


def _expire(future: asyncio.Future[Message]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
