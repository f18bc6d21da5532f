"""Bytes from a line to frames, for every kind of link: what arrives is counted, decoded and
handed on frame by frame, and a partial frame left silent past the inter-byte timeout is
dropped as noise rather than taken for the start of an answer."""

from __future__ import annotations

import time
from collections.abc import Callable

from pumpctl.protocol.frames import Frame, StreamDecoder


class FrameReceiver:
    def __init__(
        self,
        on_frame: Callable[[Frame], None],
        on_bytes: Callable[[bytes], None],
        inter_byte_timeout_s: float,
    ) -> None:
        self.decoder = StreamDecoder()
        self.inter_byte_timeout_s = inter_byte_timeout_s
        self._last_byte_s = 0.0
        self._on_frame = on_frame
        self._on_bytes = on_bytes

    def feed(self, data: bytes) -> None:
        self._on_bytes(data)
        now = time.monotonic()
        if self.decoder.has_partial and now - self._last_byte_s > self.inter_byte_timeout_s:
            self.decoder.reset()
        self._last_byte_s = now
        for frame in self.decoder.feed(data):
            self._on_frame(frame)
