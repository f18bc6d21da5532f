"""A serial device that waits for its answers in the calling thread, with no event loop.

A read from the shell (``pumpctl status``) needs one request at a time and nothing else to
do while it waits, so it opens its device this way: each frame is written as the line takes
it (at once, unless the device's buffer is full), and what comes back is read until the
answer or its deadline. The transaction manager's waits on this link return without
suspending, so the client's coroutines run to their end when driven once (``complete``), and
the process never starts an event loop.

Only a device path on Linux is opened so (``/dev/ttyUSB0``, a pty): pyserial's URL handlers
(``socket://``, ``rfc2217://``, ``spy://``) and other systems keep the event loop's link.
"""

from __future__ import annotations

import math
import os
import select
import sys
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
# poll(2) on a serial device: Linux. (macOS's poll does not take devices; Windows has none.)
SUPPORTED = sys.platform.startswith("linux")
READ_SIZE = 4096  # more than the longest frame: one read takes an answer that has arrived
WRITE_WAIT_S = 1.0  # for a frame to leave a full buffer (a pump that has stopped reading)


class BlockingLink:
    def __init__(self, port: serial.Serial, receiver: FrameReceiver, url: str) -> None:
        self._port = port
        self._receiver = receiver
        assert port.fd is not None  # an open device
        self._fd = port.fd
        self._readable = select.poll()
        self._readable.register(self._fd, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(self._fd, select.POLLOUT)
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
        inter_byte_timeout_s: float | None = None,
    ) -> BlockingLink:
        """Open the device ``url``; ``exclusive`` locks it, as ``SerialLink.open`` does. The
        inter-byte timeout follows ``baud`` unless given."""
        refused = refusal(url)
        if refused is not None:
            raise LinkError(f"cannot open port {url}: {refused}")
        if inter_byte_timeout_s is None:
            inter_byte_timeout_s = LineTiming(baud).inter_byte_timeout_s
        receiver = FrameReceiver(on_frame, on_bytes, inter_byte_timeout_s)
        try:
            port = serial.Serial(url, baudrate=baud, timeout=0, exclusive=exclusive or None)
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
        """The whole frame, as the line takes it: one write, unless the device's buffer is
        full; then within ``WRITE_WAIT_S`` in all, or the rest is lost, as on a line that
        loses bytes, and the request goes unanswered. A line that fails here is lost, as on
        the event loop's link: a command's outcome is then uncertain."""
        if self.is_closed:
            raise LinkError(f"the line to {self.url} is closed")
        view = memoryview(data)
        give_up = time.monotonic() + WRITE_WAIT_S
        try:
            while view:
                try:
                    view = view[os.write(self._fd, view) :]
                except BlockingIOError:
                    left = give_up - time.monotonic()
                    if left <= 0 or not self._writable.poll(_ms(left)):
                        return
        except OSError:
            self._lost = True

    def receive(self, until: float) -> bool:
        """Wait for bytes until ``until`` (``time.monotonic``) and hand them to the receiver.
        False once that time has passed or the line is lost: the wait is over. True while it
        may go on (bytes came, or the wait woke early)."""
        left = until - time.monotonic()
        if left <= 0 or self.is_closed:
            return False
        try:
            if not self._readable.poll(_ms(left)):
                return False
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return True
        except OSError:  # the far end of a pty closed, an adapter pulled out
            self._lost = True
            return False
        if not data:
            self._lost = True
            return False
        self._receiver.feed(data)
        return True

    async def close(self) -> None:
        self._port.close()


def refusal(url: str) -> str | None:
    """Why ``url`` cannot be a blocking link, or None if it can."""
    if "://" in url:
        return "a blocking link takes a device path"
    if not SUPPORTED:
        return f"no blocking link on {sys.platform}"
    return None


def _ms(seconds: float) -> int:
    """A poll timeout that never wakes before ``seconds`` have passed."""
    return max(1, math.ceil(seconds * 1000))


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
