"""Serial transport over pyserial-asyncio-fast: any pyserial URL, frames in and out."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Callable

import serial
import serial_asyncio_fast

from pumpctl.link.errors import LinkError
from pumpctl.link.timing import LineTiming
from pumpctl.protocol.frames import Frame, StreamDecoder

DEFAULT_BAUD = 115_200
INTER_BYTE_TIMEOUT_S = 0.05  # the least; a slower line waits longer (pumpctl.link.timing)


class _FrameProtocol(asyncio.Protocol):
    def __init__(
        self,
        on_frame: Callable[[Frame], None],
        on_bytes: Callable[[bytes], None],
        inter_byte_timeout_s: float = INTER_BYTE_TIMEOUT_S,
    ) -> None:
        self.decoder = StreamDecoder()
        self.inter_byte_timeout_s = inter_byte_timeout_s
        self._last_byte_s = 0.0
        self._on_frame = on_frame
        self._on_bytes = on_bytes
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._on_bytes(data)
        now = time.monotonic()
        if self.decoder.has_partial and now - self._last_byte_s > self.inter_byte_timeout_s:
            self.decoder.reset()  # a stale partial frame is noise, not the start of a reply
        self._last_byte_s = now
        for frame in self.decoder.feed(data):
            self._on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class SerialLink:
    """An open serial line that delivers decoded frames to ``on_frame``."""

    def __init__(self, transport: asyncio.Transport, protocol: _FrameProtocol, url: str) -> None:
        self._transport = transport
        self._protocol = protocol
        self.url = url

    @classmethod
    async def open(
        cls,
        url: str,
        on_frame: Callable[[Frame], None],
        on_bytes: Callable[[bytes], None] = lambda _: None,
        baud: int = DEFAULT_BAUD,
        *,
        exclusive: bool = True,
    ) -> SerialLink:
        """Open ``url``; ``exclusive`` locks the port so that a second programmer cannot
        talk over this one (the pump would answer both, each in the other's session)."""
        loop = asyncio.get_running_loop()
        protocol = _FrameProtocol(on_frame, on_bytes, LineTiming(baud).inter_byte_timeout_s)
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: protocol, url, baudrate=baud, exclusive=exclusive or None
            )
        except (serial.SerialException, OSError, ValueError) as error:
            if exclusive and getattr(error, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise LinkError(
                    f"port {url} is in use by another program (another programmer?): "
                    "close it and try again"
                ) from None
            raise LinkError(f"cannot open port {url}: {_reason(error)}") from None
        port = getattr(transport, "serial", None)
        if port is not None and hasattr(port, "reset_input_buffer"):
            port.reset_input_buffer()  # bytes left from an earlier session are not ours
        return cls(transport, protocol, url)

    @property
    def decoder(self) -> StreamDecoder:
        return self._protocol.decoder

    @property
    def is_closed(self) -> bool:
        return self._protocol.lost.done() or self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.is_closed:
            raise LinkError(f"the line to {self.url} is closed")
        self._transport.write(data)

    async def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), 2.0)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and isinstance(error.errno, int):
        return os.strerror(error.errno)
    return str(error) or type(error).__name__
