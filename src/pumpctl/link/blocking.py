"""A serial line that waits for its answers in the calling thread, with no event loop.

A read from the shell (``pumpctl status``) needs one request at a time and nothing else to
do while it waits, so it opens its port this way: each frame goes out in one write, and the
bytes that come back are read until the answer or its deadline. The transaction manager's
waits on this link return without suspending, so the client's coroutines run to their end
when driven once (``complete``) and the process never starts an event loop.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import serial

from pumpctl.link.errors import LinkError
from pumpctl.link.lines import port_error
from pumpctl.link.receiver import FrameReceiver
from pumpctl.link.timing import DEFAULT_BAUD, LineTiming
from pumpctl.protocol.frames import Frame, StreamDecoder

T = TypeVar("T")
READ_SIZE = 4096  # more than the longest frame: one read takes an answer that has arrived
WRITE_WAIT_S = 1.0  # for a full line buffer to drain (a pump that has stopped reading)


class BlockingLink:
    blocking = True

    def __init__(self, port: serial.Serial, receiver: FrameReceiver, url: str) -> None:
        self._port = port
        self._receiver = receiver
        self._fd: int | None = getattr(port, "fd", None)  # a file descriptor, not a URL handler
        self._lost = False
        self.url = url

    @classmethod
    def open(
        cls,
        url: str,
        on_frame: Callable[[Frame], None],
        on_bytes: Callable[[bytes], None] = lambda _: None,
        baud: int = DEFAULT_BAUD,
        *,
        exclusive: bool = True,
    ) -> BlockingLink:
        """Open ``url``; ``exclusive`` locks the port, as ``SerialLink.open`` does."""
        receiver = FrameReceiver(on_frame, on_bytes, LineTiming(baud).inter_byte_timeout_s)
        try:
            port = serial.serial_for_url(url, baudrate=baud, timeout=0, exclusive=exclusive or None)
        except (serial.SerialException, OSError, ValueError) as error:
            raise port_error(url, error, exclusive) from None
        port.reset_input_buffer()  # bytes left from an earlier session are not ours
        return cls(port, receiver, url)

    @property
    def decoder(self) -> StreamDecoder:
        return self._receiver.decoder

    @property
    def is_closed(self) -> bool:
        return self._lost or not self._port.is_open

    def write(self, data: bytes) -> None:
        """One write of the whole frame. A line that fails here is lost, as on the event
        loop's link: the request then goes unanswered, and a command's outcome is uncertain."""
        if self.is_closed:
            raise LinkError(f"the line to {self.url} is closed")
        try:
            if self._fd is None:
                self._port.write(data)
            else:
                self._write_fd(self._fd, data)
        except (serial.SerialException, OSError):
            self._lost = True

    @staticmethod
    def _write_fd(fd: int, data: bytes) -> None:
        """One ``write`` for a frame, unless the line's buffer is full: then what is left
        goes as the line drains, or (past ``WRITE_WAIT_S``) not at all, as on a line that
        loses bytes, and the request goes unanswered."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                _, writable, _ = select.select([], [fd], [], WRITE_WAIT_S)
                if not writable:
                    return

    def receive(self, until: float) -> bool:
        """Wait for bytes until ``until`` (``time.monotonic``) and hand them to the
        receiver; False once that time has passed with none, or the line is lost."""
        left = until - time.monotonic()
        if left <= 0 or self.is_closed:
            return False
        if self._fd is None:
            self._port.timeout = left
            data = self._port.read(max(1, self._port.in_waiting))
        else:
            data = self._read_fd(self._fd, left)
        if data:
            self._receiver.feed(data)
            return True
        return not self._lost and time.monotonic() < until

    def _read_fd(self, fd: int, left: float) -> bytes:
        try:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return b""
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError:  # the far end of a pty closed, an adapter pulled out
            self._lost = True
            return b""
        if not data:
            self._lost = True
        return data

    async def close(self) -> None:
        self._port.close()


def complete(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine whose every wait is on blocking links: driven once, it
    runs to its end without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a call on a blocking link waited for an event loop")
