"""The blocking link on a real pty pair, the far end played by this test: a frame goes out
whole, an answer split across writes arrives whole, a wait ends at its deadline, a silent
pump is given up on after its tries, replayed answers cannot hold a handshake open, a pump
that stops reading cannot hold a write, a lost line says so, a second programmer cannot open
the port, and a URL is refused."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from pumpctl.link import blocking
from pumpctl.link.blocking import BlockingLink, complete
from pumpctl.link.errors import LinkError, NoResponse
from pumpctl.link.timing import SILENT_TRIES
from pumpctl.link.transactions import TransactionManager
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.frames import DELIMITER, Frame, FrameFlags, StreamDecoder, encode_frame
from pumpctl.protocol.messages import SessionOpenRequest, SessionOpenResponse, StatusRequest
from pumpctl.protocol.session import NONCE_ECHO_LEN, NONCE_LEN


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


def test_a_frame_goes_out_whole(far_end: FarEnd) -> None:
    link = BlockingLink.open(far_end.port, lambda frame: None)
    wire = DELIMITER + encode_frame(to_frame(StatusRequest(), 7))
    link.write(wire)
    assert far_end.read() == wire
    complete(link.close())


def test_an_answer_split_across_writes_arrives_whole(far_end: FarEnd) -> None:
    frames: list[Frame] = []
    # However long the test takes between the two halves, they are one frame.
    link = BlockingLink.open(far_end.port, frames.append, inter_byte_timeout_s=3600)
    frame = to_frame(StatusRequest(), 9)
    wire = encode_frame(frame)
    far_end.write(wire[:3])
    assert link.receive(soon())
    assert frames == []  # half a frame is no frame yet
    far_end.write(wire[3:])
    assert link.receive(soon())
    assert frames == [frame]
    complete(link.close())


def test_a_wait_with_nothing_on_the_line_ends_with_nothing(far_end: FarEnd) -> None:
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


def test_replayed_answers_to_an_earlier_try_cannot_hold_a_handshake_open(
    far_end: FarEnd,
) -> None:
    """The far end answers the first SESSION_OPEN only once the second is out, then replays
    that answer without end. The answer is taken when every try's time is up, not when the
    replaying stops."""
    manager = TransactionManager(deadline_s=0.2, retries=2)
    manager.link = BlockingLink.open(far_end.port, manager.on_frame, manager.on_bytes)
    replaying, stop, gave_up = threading.Event(), threading.Event(), threading.Event()
    replayer = threading.Thread(
        target=replay_the_first_answer, args=(far_end, replaying, stop, gave_up)
    )
    replayer.start()
    nonces = iter(bytes([n]) * NONCE_LEN for n in range(1, 10))
    try:
        request, answer = complete(
            manager.handshake(lambda: SessionOpenRequest(role=1, programmer_nonce=next(nonces)))
        )
        assert replaying.is_set()
        assert not gave_up.is_set()  # taken while the replaying went on
    finally:
        stop.set()
        replayer.join()
    assert request.programmer_nonce == bytes([1]) * NONCE_LEN
    assert isinstance(answer, SessionOpenResponse)


def replay_the_first_answer(
    far_end: FarEnd, replaying: threading.Event, stop: threading.Event, gave_up: threading.Event
) -> None:
    decoder = StreamDecoder()
    requests: list[Frame] = []
    ends_at = time.monotonic() + 20  # a handshake held this long has failed the test
    while not stop.is_set():
        if time.monotonic() > ends_at:
            gave_up.set()
            return
        if len(requests) < 2:
            if select.select([far_end.fd], [], [], 0.05)[0]:
                requests += decoder.feed(far_end.read())
            continue
        first = requests[0]
        nonce = SessionOpenRequest.model_validate(from_frame(first)).programmer_nonce
        answer = SessionOpenResponse(
            session_id=1,
            pump_nonce=bytes(NONCE_LEN),
            pump_proof=bytes(16),
            nonce_echo=nonce[:NONCE_ECHO_LEN],
            idle_timeout_s=60,
            model="IT-20",
            serial_number="SIM000001",
            sealed_identity=b"",
        )
        frame = to_frame(answer, first.seq)
        far_end.write(encode_frame(frame._replace(flags=frame.flags | FrameFlags.RESPONSE)))
        replaying.set()
        stop.wait(0.005)


def test_a_pump_that_stops_reading_cannot_hold_a_write(
    far_end: FarEnd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocking, "WRITE_WAIT_S", 0.01)
    link = BlockingLink.open(far_end.port, lambda frame: None)
    link.write(bytes(1 << 20))  # far more than the line holds: the rest is lost
    assert not link.is_closed
    assert far_end.read()  # what the line took
    complete(link.close())


def test_a_pump_that_reads_slowly_cannot_hold_a_write(
    far_end: FarEnd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is on the whole frame, not on each wait for the line to drain."""
    monkeypatch.setattr(blocking, "WRITE_WAIT_S", 0.2)
    link = BlockingLink.open(far_end.port, lambda frame: None)
    taken = bytearray()
    done = threading.Event()

    def read_slowly() -> None:  # 256 bytes every 5 ms: 1 MiB would take 20 s
        while not done.wait(0.005):
            if select.select([far_end.fd], [], [], 0)[0]:
                taken.extend(os.read(far_end.fd, 256))

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        link.write(bytes(1 << 20))
    finally:
        done.set()
        reader.join()
    while select.select([far_end.fd], [], [], 0)[0]:
        taken.extend(os.read(far_end.fd, 4096))  # and what the line still holds
    assert 0 < len(taken) < 1 << 19  # given up on long before the line took it all
    complete(link.close())


def test_a_handshake_gives_up_when_the_line_takes_its_tries_too_slowly(
    far_end: FarEnd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each try stalls on a full line for longer than all the tries may take: after the
    first, none is sent (none of them waited for) and the failure says one try went out."""
    link = BlockingLink.open(far_end.port, lambda frame: None)
    monkeypatch.setattr(blocking, "WRITE_WAIT_S", 0.01)
    link.write(bytes(1 << 20))  # the line is full; the far end reads nothing
    monkeypatch.setattr(blocking, "WRITE_WAIT_S", 0.1)
    complete(link.close())
    manager = TransactionManager(deadline_s=0.02, retries=2)
    manager.link = BlockingLink.open(far_end.port, manager.on_frame, manager.on_bytes)
    nonces = iter(bytes([n]) * NONCE_LEN for n in range(1, 10))
    with pytest.raises(NoResponse, match=r"after 1 try$"):
        complete(
            manager.handshake(lambda: SessionOpenRequest(role=1, programmer_nonce=next(nonces)))
        )
    assert manager.counters.retransmissions == 0


@pytest.mark.parametrize("url", ["socket://127.0.0.1:7", "sim://a-pump", "loop://"])
def test_a_url_is_not_opened_as_a_blocking_link(url: str) -> None:
    with pytest.raises(LinkError, match=f"cannot open port {url}: a blocking link takes a"):
        BlockingLink.open(url, lambda frame: None)
