"""Serial transport over pyserial-asyncio-fast: any pyserial URL, frames in and out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import serial
import serial_asyncio_fast

from pumpctl.link.errors import LinkError
from pumpctl.link.lines import port_error
from pumpctl.link.receiver import FrameReceiver
from pumpctl.link.timing import DEFAULT_BAUD, LineTiming
from pumpctl.protocol.frames import Frame, StreamDecoder

INTER_BYTE_TIMEOUT_S = 0.05  # the least; a slower line waits longer (pumpctl.link.timing)


class _FrameProtocol(asyncio.Protocol):
    def __init__(
        self,
        on_frame: Callable[[Frame], None],
        on_bytes: Callable[[bytes], None],
        inter_byte_timeout_s: float = INTER_BYTE_TIMEOUT_S,
    ) -> None:
        self.receiver = FrameReceiver(on_frame, on_bytes, inter_byte_timeout_s)
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.receiver.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class SerialLink:
    """An open serial line on the event loop that delivers decoded frames to ``on_frame``."""

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
            raise port_error(url, error, exclusive) from None
        port = getattr(transport, "serial", None)
        if port is not None and hasattr(port, "reset_input_buffer"):
            # Bytes left from an earlier session are not ours; a network port (socket://)
            # read by the transport itself has no buffer of its own to reset.
            with contextlib.suppress(serial.SerialException):
                port.reset_input_buffer()
        return cls(transport, protocol, url)

    @property
    def decoder(self) -> StreamDecoder:
        return self._protocol.receiver.decoder

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
