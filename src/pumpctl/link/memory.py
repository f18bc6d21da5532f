"""The memory link: a simulated pump in this process, reached by URL (``sim://NAME``).

python-can's ``virtual`` bus and pymodbus's null modem, for the pump: the programmer's side
is the serial link's own (``SerialLink`` with its frame protocol and stream decoder), the
pump's side is whatever was registered under NAME — a byte stream in, the reply bytes out
(``firmware_sim.server.FrameServer``). Only the OS pty is left out: the bytes are COBS
frames both ways, exactly as on the wire.

Bytes written are handed to the pump from the event loop, never inside ``write``, and its
replies reach the decoder from the loop too, so the transaction manager sees the same order
of events as on a serial port: write, await, a frame arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pumpctl.link.errors import LinkError
from pumpctl.link.lines import SCHEME
from pumpctl.link.timing import DEFAULT_BAUD
from pumpctl.link.transport import SerialLink, _FrameProtocol
from pumpctl.protocol.frames import Frame


class PumpEnd(Protocol):
    """The pump's side of a line: the bytes a programmer sent in, the bytes it answers."""

    def receive(self, data: bytes) -> bytes: ...


Pieces = list[tuple[float, bytes]]
"""What a line makes of a chunk: pieces of bytes, each arriving after a delay in seconds."""


class LineTamper(Protocol):
    """A line that breaks bytes on purpose (``firmware_sim.faults.MemoryFaults``): what
    reaches the far end of each chunk sent, and when."""

    def to_pump(self, data: bytes) -> Pieces: ...

    def to_programmer(self, data: bytes) -> Pieces: ...


class MemoryLine:
    """One simulated UART, registered by name. While ``frozen`` the pump reads nothing;
    what arrives waits, as in a stopped process's pty, and is answered on ``thaw``."""

    def __init__(self, name: str, pump: PumpEnd) -> None:
        self.name = name
        self.pump: PumpEnd | None = pump
        self.tamper: LineTamper | None = None  # a faulty line between programmer and pump
        self._lock = threading.Lock()
        self._serving = threading.Lock()  # one pump, one byte stream: a read at a time
        self._frozen = False
        self._held: list[tuple[_MemoryTransport, bytes]] = []
        self._transports: set[_MemoryTransport] = set()

    @property
    def url(self) -> str:
        return SCHEME + self.name

    def attach(self, transport: _MemoryTransport) -> None:
        with self._lock:
            if self.pump is None:
                raise LinkError(f"cannot open port {self.url}: the simulator has stopped")
            self._transports.add(transport)

    def detach(self, transport: _MemoryTransport) -> None:
        with self._lock:
            self._transports.discard(transport)

    def send(self, transport: _MemoryTransport, data: bytes) -> None:
        """Bytes from a programmer; called from its event loop."""
        tamper = self.tamper
        if tamper is None:
            self._arrive(transport, data)
            return
        for delay_s, piece in tamper.to_pump(data):
            if delay_s > 0:
                transport.call_later(delay_s, self._arrive, transport, piece)
            else:
                self._arrive(transport, piece)

    def _arrive(self, transport: _MemoryTransport, data: bytes) -> None:
        with self._lock:
            if self._frozen:
                self._held.append((transport, data))
                return
        self._answer(transport, self._serve(data))

    def _answer(self, transport: _MemoryTransport, reply: bytes) -> None:
        tamper = self.tamper
        if tamper is None or not reply:
            transport.deliver(reply)
            return
        for delay_s, piece in tamper.to_programmer(reply):
            if delay_s > 0:
                transport.call_later(delay_s, transport.deliver, piece)
            else:
                transport.deliver(piece)

    def _serve(self, data: bytes) -> bytes:
        with self._serving:
            # Nobody serving the line any more: the bytes are lost, as on a UART.
            return b"" if self.pump is None else self.pump.receive(data)

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def thaw(self) -> None:
        """The pump runs again and reads, in order, what arrived meanwhile — even from a
        programmer that has gone since; each answer reaches its programmer from that
        programmer's event loop (late: it has most likely given up waiting)."""
        with self._serving:  # before any byte sent from now on
            with self._lock:
                self._frozen = False
                held, self._held = self._held, []
            for transport, data in held:
                reply = b"" if self.pump is None else self.pump.receive(data)
                if reply:
                    transport.call_soon(self._answer, transport, reply)

    def hang_up(self) -> None:
        """The simulator stops: open links lose their line, later opens fail. Returns once
        no byte is being served, so the pump may be closed."""
        with self._serving, self._lock:
            self.pump = None
            self._frozen = False
            self._held.clear()
            transports = list(self._transports)
            self._transports.clear()
        for transport in transports:
            transport.lose_line()


_lines: dict[str, MemoryLine] = {}
_lines_lock = threading.Lock()
_names = itertools.count(1)


def register(pump: PumpEnd, name: str | None = None) -> MemoryLine:
    """Serve ``pump`` at ``sim://NAME`` (a fresh name if none is given)."""
    with _lines_lock:
        name = name or f"pump{next(_names)}"
        if name in _lines:
            raise ValueError(f"{SCHEME}{name} is already registered")
        line = _lines[name] = MemoryLine(name, pump)
    return line


def unregister(line: MemoryLine) -> None:
    """Take ``line`` off the registry and hang it up; safe to call more than once."""
    with _lines_lock:
        if _lines.get(line.name) is line:
            del _lines[line.name]
    line.hang_up()


class _MemoryTransport(asyncio.Transport):
    def __init__(
        self, loop: asyncio.AbstractEventLoop, line: MemoryLine, protocol: _FrameProtocol
    ) -> None:
        super().__init__({"line": line.url})
        self._loop = loop
        self._line = line
        self._protocol = protocol
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._loop.call_soon(self._line.send, self, bytes(data))

    def deliver(self, data: bytes) -> None:
        if data and not self._closing:
            self._protocol.data_received(data)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """``callback`` on this transport's loop, from any thread; dropped once it is
        closed (the bytes of a programmer that has gone)."""
        if self._closing:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
            self._loop.call_soon_threadsafe(callback, *args)

    def call_later(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """``callback`` on this transport's loop after ``delay_s`` (a stalled line)."""
        if self._closing:
            return

        def later() -> None:
            if not self._closing:
                callback(*args)

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.call_later, delay_s, later)

    def lose_line(self) -> None:
        self.call_soon(self._lost)

    def _lost(self) -> None:
        if not self._closing:
            self._closing = True
            self._protocol.connection_lost(None)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._line.detach(self)
        self._loop.call_soon(self._protocol.connection_lost, None)


class MemoryLink(SerialLink):
    """A serial link whose far end is a simulated pump in this process."""

    @classmethod
    async def open(
        cls,
        url: str,
        on_frame: Callable[[Frame], None],
        on_bytes: Callable[[bytes], None] = lambda _: None,
        baud: int = DEFAULT_BAUD,
        *,
        exclusive: bool = True,
    ) -> MemoryLink:
        name = url.removeprefix(SCHEME)
        with _lines_lock:
            line = _lines.get(name)
        if line is None:
            raise LinkError(f"cannot open port {url}: no simulator is registered as {name!r}")
        loop = asyncio.get_running_loop()
        protocol = _FrameProtocol(on_frame, on_bytes)
        transport = _MemoryTransport(loop, line, protocol)
        line.attach(transport)
        protocol.connection_made(transport)
        return cls(transport, protocol, url)
