"""Frames in → simulator → frames out, over a pseudo-terminal or the memory link.

``FrameServer`` is the pump's side of any line: bytes in, COBS frames decoded, each answered
by the simulator, the replies encoded. ``PtyServer`` serves it on a pty in a thread; the
memory link (``pumpctl.link.memory``, ``sim://NAME``) feeds it from the programmer's event
loop in the same process.

On a pty, the simulator holds the slave end open itself, so programmers may open and close
the port as often as they like (one interrogation after another) without the line hanging
up. Bytes sent while no programmer listens are lost, as on a real UART.
"""

from __future__ import annotations

import os
import select
import termios
import time
from collections.abc import Callable, Iterator

from firmware_sim.pty_thread import FdThread, log_line_error, open_raw_pty
from firmware_sim.simulator import Simulator
from pumpctl.protocol.frames import StreamDecoder, encode_frame

INTER_BYTE_TIMEOUT_S = 0.05
WRITE_STALL_S = 0.2


class FrameServer:
    """Bytes in → frames → simulator → encoded replies out. A partial frame left without a
    byte for longer than the inter-byte timeout is noise and is dropped: ``line_idle`` says
    so, or ``receive`` notices itself when given ``inter_byte_timeout_s``."""

    def __init__(
        self, simulator: Simulator, *, inter_byte_timeout_s: float | None = INTER_BYTE_TIMEOUT_S
    ) -> None:
        self.simulator = simulator
        self.decoder = StreamDecoder()
        self.partial_frames_dropped = 0
        self.frames_failed = 0
        self._timeout_s = inter_byte_timeout_s
        self._idle_since_s = 0.0

    def receive(self, data: bytes) -> bytes:
        """The encoded answers to the frames ``data`` completes (empty if none)."""
        return b"".join(self.replies(data))

    def replies(self, data: bytes) -> Iterator[bytes]:
        """Each encoded answer as soon as its frame is handled."""
        if self._timeout_s is not None and time.monotonic() - self._idle_since_s > self._timeout_s:
            self.line_idle()
        for frame in self.decoder.feed(data):
            try:
                reply = self.simulator.handle_frame(frame)
            except Exception as error:
                # A fault outside a command's handling: logged, memory back to its last
                # commit, no answer (the programmer resolves a lost answer by reading back),
                # and the line goes on serving the next frame.
                self.frames_failed += 1
                log_line_error("pumpsim-line", error, "frame dropped, serving on")
                self.simulator.recover()
                continue
            if reply is not None:
                yield encode_frame(reply)
        self._idle_since_s = time.monotonic()  # the line is read again from now on

    def line_idle(self) -> None:
        """No byte for an inter-byte timeout: drop a partial frame."""
        if self.decoder.has_partial:
            self.decoder.reset()
            self.partial_frames_dropped += 1


class PtyServer:
    """Serves one simulator on a new pty; ``port`` is the path a programmer opens."""

    def __init__(
        self,
        simulator: Simulator,
        *,
        baud: int | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.simulator = simulator
        self.frames = FrameServer(simulator, inter_byte_timeout_s=None)  # select times out
        self.byte_time_s = 10.0 / baud if baud else 0.0  # 8N1: ten bit times a byte
        self._master, self._slave, self.port = open_raw_pty()
        self._thread = FdThread(
            self._serve, "pumpsim-line", (self._master, self._slave), on_failure
        )
        self._wake_r = self._thread.wake_fd
        self.bytes_dropped = 0

    @property
    def partial_frames_dropped(self) -> int:
        return self.frames.partial_frames_dropped

    def start(self) -> PtyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pty; safe to call more than once."""
        self._thread.stop()

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._master, self._wake_r], [], [], INTER_BYTE_TIMEOUT_S)
            if self._wake_r in ready:
                return
            if not ready:
                self.frames.line_idle()
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            for reply in self.frames.replies(data):
                self._send(reply)

    def _send(self, data: bytes) -> None:
        chunk = 64 if self.byte_time_s else len(data)
        start = time.monotonic()
        sent = 0
        while sent < len(data):
            try:
                sent += os.write(self._master, data[sent : sent + chunk])
            except BlockingIOError:
                _, writable, _ = select.select([], [self._master], [], WRITE_STALL_S)
                if not writable:
                    # Nobody is reading the line: drop what is queued, as a UART would.
                    termios.tcflush(self._slave, termios.TCIFLUSH)
                    self.bytes_dropped += len(data) - sent
                    return
                continue
            if self.byte_time_s:
                delay = start + sent * self.byte_time_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
