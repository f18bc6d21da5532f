"""The blocking link on a real pty pair, the far end played by this test: a frame goes out
in one write, an answer split across writes arrives whole, a wait ends at its deadline, a
silent pump is given up on after its tries, a lost line says so, and a second programmer
cannot open the port."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from pumpctl.link.blocking import BlockingLink, complete
from pumpctl.link.errors import LinkError, NoResponse
from pumpctl.link.timing import SILENT_TRIES
from pumpctl.link.transactions import TransactionManager
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import DELIMITER, Frame, encode_frame
from pumpctl.protocol.messages import StatusRequest


class FarEnd:
    """The pump's side of a pty pair: what the programmer wrote, and bytes to send it."""

    def __init__(self) -> None:
        self.fd, self._other = os.openpty()
        self.port = os.ttyname(self._other)

    def read(self) -> bytes:
        return os.read(self.fd, 4096)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        for fd in (self.fd, self._other):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def far_end() -> Iterator[FarEnd]:
    end = FarEnd()
    try:
        yield end
    finally:
        end.close()


def soon() -> float:
    return time.monotonic() + 5.0  # an upper bound for a wait that ends earlier


def test_a_frame_goes_out_in_one_write(far_end: FarEnd) -> None:
    link = BlockingLink.open(far_end.port, lambda frame: None)
    wire = DELIMITER + encode_frame(to_frame(StatusRequest(), 7))
    link.write(wire)
    assert far_end.read() == wire
    complete(link.close())


def test_an_answer_split_across_writes_arrives_whole(far_end: FarEnd) -> None:
    frames: list[Frame] = []
    link = BlockingLink.open(far_end.port, frames.append)
    frame = to_frame(StatusRequest(), 9)
    wire = encode_frame(frame)
    far_end.write(wire[:3])
    assert link.receive(soon())
    assert frames == []  # half a frame is no frame yet
    far_end.write(wire[3:])
    assert link.receive(soon())
    assert frames == [frame]
    complete(link.close())


def test_a_wait_with_nothing_on_the_line_ends_at_its_deadline(far_end: FarEnd) -> None:
    frames: list[Frame] = []
    link = BlockingLink.open(far_end.port, frames.append)
    assert not link.receive(time.monotonic() + 0.01)
    assert not link.receive(time.monotonic() - 1)  # a deadline passed: no wait at all
    assert frames == []
    complete(link.close())


def test_a_silent_pump_is_given_up_on_after_its_tries(far_end: FarEnd) -> None:
    manager = TransactionManager(deadline_s=0.01)
    manager.link = BlockingLink.open(far_end.port, manager.on_frame, manager.on_bytes)
    with pytest.raises(NoResponse, match=f"no answer from the pump on {far_end.port} after"):
        complete(manager.request(StatusRequest()))
    sent = far_end.read()
    assert sent.count(DELIMITER) == 2 * SILENT_TRIES  # each try: a delimiter, then the frame
    assert manager.counters.timeouts == SILENT_TRIES


def test_a_line_whose_far_end_closes_is_lost(far_end: FarEnd) -> None:
    link = BlockingLink.open(far_end.port, lambda frame: None)
    far_end.close()
    assert not link.receive(soon())
    assert link.is_closed
    with pytest.raises(LinkError, match="is closed"):
        link.write(b"\x00")


def test_a_second_programmer_cannot_open_the_port(far_end: FarEnd) -> None:
    link = BlockingLink.open(far_end.port, lambda frame: None)
    with pytest.raises(LinkError, match="in use by another program"):
        BlockingLink.open(far_end.port, lambda frame: None)
    complete(link.close())
    complete(BlockingLink.open(far_end.port, lambda frame: None).close())
