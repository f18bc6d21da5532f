"""How long to wait for an answer, and for the next byte of one, on a line of a given speed
(docs/protocol.md §8).

A deadline is the pump's handling time plus the time the request and the longest answer it
can bring take on the line; the inter-byte timeout lets a USB-serial adapter's burst (up to
64 bytes at once) arrive before a silence counts as the end of a broken frame. The memory link
(``sim://``) has no line time: its answers arrive as soon as the pump has handled the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.protocol.frames import MAX_ENCODED

DEFAULT_BAUD = 115_200
BITS_PER_BYTE = 10  # 8N1: a start bit, 8 data bits, a stop bit
BURST_BYTES = 64  # what a USB-serial adapter or the simulator's pty sends at once
HANDLING_S = 0.3  # the pump's handling time, its NV commit included (design default — verify)
MEMORY_HANDLING_S = 0.05  # the simulator in this process answers within the call
MIN_INTER_BYTE_S = 0.05  # docs/protocol.md §2.1
LINE_MARGIN = 1.5  # bytes may come slower than the baud rate (adapter latency, a busy host)
ANSWER_BYTES = 256  # an upper bound on every answer but an event page (encoded, sealed)
READ_TRIES = 15  # reads and QUERY_OUTCOME change nothing: more tries, each as short
COMMAND_TRIES = 3  # the same frame at most three times (docs/protocol.md §8)
SILENT_TRIES = 5  # a read stops after as many tries when not one byte came back


@dataclass(frozen=True)
class LineTiming:
    """Timing for a line at ``baud`` (8N1), or for the memory link when ``baud`` is None."""

    baud: int | None

    @property
    def byte_time_s(self) -> float:
        return 0.0 if self.baud is None else BITS_PER_BYTE / self.baud

    @property
    def inter_byte_timeout_s(self) -> float:
        """Silence after which a partial frame is noise."""
        return max(MIN_INTER_BYTE_S, 2 * BURST_BYTES * self.byte_time_s)

    def line_time_s(self, size: int) -> float:
        return size * self.byte_time_s * LINE_MARGIN

    def deadline_s(self, request_bytes: int, answer_bytes: int = ANSWER_BYTES) -> float:
        """From the first byte of a request sent to the last byte of its answer."""
        if self.baud is None:
            return MEMORY_HANDLING_S
        return (
            HANDLING_S
            + self.line_time_s(request_bytes + answer_bytes)
            + self.inter_byte_timeout_s  # the answer's last burst
        )

    @property
    def longest_deadline_s(self) -> float:
        return self.deadline_s(MAX_ENCODED, MAX_ENCODED)
