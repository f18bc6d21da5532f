"""No flood of bogus frames can wipe the event log: authentication failures are counted and
coalesced into one event per window, so every therapy event stays. Through the serial
port, on a pump whose ring holds 128 events, with 5000 frames no key produced."""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore, StaticKeys
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.frames import Frame, FrameFlags, encode_frame
from pumpctl.protocol.messages import (
    EventCode,
    Nak,
    NakCode,
    SessionOpenRequest,
    SessionOpenResponse,
    SetRateRequest,
    StatusRequest,
    StatusResponse,
)
from pumpctl.protocol.session import KEY_LEN, NONCE_LEN, Role
from pumpctl.testing.plugin import simulator_for
from pumpctl.testing.raw import RawLine
from pumpctl.testing.targets import SimulatedPump

pytestmark = [pytest.mark.needs_simulator, pytest.mark.needs_pty]
WRONG = StaticKeys({("SIM000001", Role.CLINICIAN): bytes(KEY_LEN)})
THERAPY = {
    EventCode.BOOT,
    EventCode.RATE_CHANGED,
    EventCode.BOLUS_STARTED,
    EventCode.BOLUS_FINISHED,
}
CHUNK = 64


@pytest.fixture
def small_ring(request: pytest.FixtureRequest) -> Iterator[SimulatedPump]:
    sim = simulator_for(request.node, ("--event-capacity", "128"))
    try:
        yield sim
    finally:
        sim.cleanup()


def flood(line: RawLine, frames: list[bytes]) -> list[Nak | SessionOpenResponse]:
    """Send ``frames`` back to back, a chunk at a time; every answer, in order."""
    answers: list[Nak | SessionOpenResponse] = []
    for start in range(0, len(frames), CHUNK):
        chunk = frames[start : start + CHUNK]
        line.port.write(b"".join(chunk))
        got: list[Frame] = []
        while len(got) < len(chunk):
            data = line.port.read(line.port.in_waiting or 1)
            if not data:
                raise AssertionError(f"{len(chunk) - len(got)} frames went unanswered")
            got += line.decoder.feed(data)
        for frame in got:
            answer = from_frame(frame)
            assert isinstance(answer, Nak | SessionOpenResponse), answer
            answers.append(answer)
    return answers


def test_five_thousand_bogus_frames_leave_every_therapy_event(small_ring: SimulatedPump) -> None:
    keys = Keystore(small_ring.keystore_path)
    with SyncPumpClient(small_ring.port, keys=keys) as client:
        client.set_rate(1_600_000, 1_400_000)
        client.bolus(50_000, 600)
        small_ring.advance(3_600_000)  # the bolus finishes
        before, _ = client.read_all_events()
    therapy = [(e.index, e.code) for e in before if e.code in THERAPY]
    assert {code for _, code in therapy} == THERAPY

    sent = 0
    with RawLine(small_ring.port, timeout_s=2.0) as attacker:
        # A session whose frames the attacker has seen (its id, one sealed frame).
        attacker.open_session(keys)
        captured = attacker.seal(to_frame(StatusRequest(), attacker.next_seq()))
        assert isinstance(attacker.message(attacker.send_bytes(captured)), StatusResponse)
        session_id = attacker.session.session_id  # type: ignore[union-attr]
        sent += 1
        forged = [
            encode_frame(
                Frame(
                    0x02,
                    attacker.next_seq(),
                    b"",
                    FrameFlags.AUTHENTICATED,
                    session_id,
                    struct.pack("<I", 1000 + i) + secrets.token_bytes(16),
                )
            )
            for i in range(1500)
        ]
        unsealed = [
            encode_frame(
                to_frame(
                    SetRateRequest(
                        request_id=i + 1, dose_ng_per_day=1, believed_dose_ng_per_day=1_600_000
                    ),
                    attacker.next_seq(),
                )
            )
            for i in range(1000)
        ]
        opens = [
            encode_frame(
                to_frame(
                    SessionOpenRequest(role=1, programmer_nonce=secrets.token_bytes(NONCE_LEN)),
                    attacker.next_seq(),
                )
            )
            for _ in range(500)
        ]
        answers = flood(attacker, [captured] * 1000 + forged + unsealed + opens)
        sent += len(answers)
        codes = [a.code if isinstance(a, Nak) else None for a in answers]
        assert codes.count(NakCode.REPLAYED) == 1000
        assert codes.count(NakCode.AUTH_FAILED) == 1500
        assert codes.count(NakCode.AUTH_REQUIRED) == 1000
        assert codes.count(None) == 500  # each SESSION_OPEN answered, no session ended
        for _ in range(500):  # and failed proofs, each in a session of its own
            attacker.open_session(WRONG)
            answer = attacker.request(StatusRequest())
            assert isinstance(answer, Nak)
            assert answer.code == NakCode.AUTH_FAILED
            sent += 2
    assert sent >= 5000

    with SyncPumpClient(small_ring.port, keys=keys) as client:
        after, page = client.read_all_events()
    assert [(e.index, e.code) for e in after if e.code in THERAPY] == therapy
    assert page.overflow_count == 0
    added = [e for e in after if e.index > before[-1].index]
    assert [e.code for e in added] == [
        EventCode.SESSION_OPENED,  # the attacker's session, with a key
        EventCode.AUTH_THROTTLED,  # failures began
        EventCode.AUTH_FAILURE,  # ... and how many, closed by the next proof
        EventCode.SESSION_OPENED,
    ]
    assert added[2].value_a == 1000 + 1500 + 500
