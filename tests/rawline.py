"""A raw line to the test's pump (``pumpctl.testing.raw.RawLine``), whichever kind it is.

To an in-process simulator the bytes go straight into its frame server, the same
``receive`` the memory link feeds, and its answer is there as soon as it returns: a frame the
pump ignores costs no wait for an answer that cannot come, and no simulator process is
started. To a simulator on a pty, or real hardware, they go through pyserial."""

from __future__ import annotations

from pumpctl.protocol.frames import Frame
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.raw import RawLine
from pumpctl.testing.targets import InProcessSimulator


class MemoryRawLine(RawLine):
    def __init__(self, sim: InProcessSimulator) -> None:
        super().__init__("loop://")  # pyserial's loopback: never written to
        self._line = sim.line

    def send_bytes(self, wire: bytes) -> Frame | None:
        pump = self._line.pump
        assert pump is not None, "the simulator has stopped"
        frames = self.decoder.feed(pump.receive(wire))
        return frames[0] if frames else None


def raw_line(pump: PumpUnderTest, timeout_s: float = 0.5) -> RawLine:
    """``timeout_s``: how long a line through pyserial waits for an answer."""
    if isinstance(pump.sim, InProcessSimulator):
        return MemoryRawLine(pump.sim)
    return RawLine(pump.port, timeout_s)
