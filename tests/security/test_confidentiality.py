"""Nothing clinical reads on the line: sealed payloads are encrypted (ChaCha20-Poly1305), the
handshake and an IDENTIFY outside a session name only the product and the serial number, and
the encryption is authenticated, so a flipped ciphertext bit or a replayed frame is refused,
never decrypted into another dose. Through the in-process pump's memory line, as a listener
or a man in the middle on it would see and change the bytes."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.client import SyncPumpClient
from pumpctl.protocol.codec import encode_payload, from_frame, to_frame
from pumpctl.protocol.frames import (
    CRC,
    DELIMITER,
    Frame,
    FrameFlags,
    StreamDecoder,
    cobs_decode,
    cobs_encode,
    encode_frame,
)
from pumpctl.protocol.messages import (
    EventCode,
    IdentifyResponse,
    MsgType,
    Nak,
    NakCode,
    SetRateRequest,
    StatusRequest,
)
from pumpctl.protocol.session import (
    COUNTER_MAX,
    COUNTER_RESERVE,
    AuthError,
    Direction,
    Role,
    SessionKeys,
)
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.raw import read_as_the_pump
from pumpctl.testing.targets import InProcessSimulator

pytestmark = pytest.mark.needs_simulator

SERIAL = b"SIM000001"
DRUG = b"morphine"
CONCENTRATION = 25_000_000  # ng/mL
DOSES = (1_400_000, 1_300_000)  # ng/day: before and after the change
FLOWS = (56_000, 52_000)  # nL/day at 25 mg/mL


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


SECRETS = {
    "serial": SERIAL,
    "drug": DRUG,
    "concentration": _u32(CONCENTRATION),
    **{f"dose {d}": _u32(d) for d in DOSES},
    **{f"flow {f}": _u32(f) for f in FLOWS},
}


def _sim(pump: PumpUnderTest) -> InProcessSimulator:
    assert isinstance(pump.sim, InProcessSimulator)
    return pump.sim


@dataclass
class Listener:
    """Records every byte both ways, and (to show there was something to hide) what each
    sealed frame says, read with the pump's own keys as it passes."""

    sim: InProcessSimulator
    wire: bytearray = field(default_factory=bytearray)
    handshakes: list[Frame] = field(default_factory=list)
    sealed: list[Frame] = field(default_factory=list)
    plain: bytearray = field(default_factory=bytearray)

    def _hear(self, data: bytes) -> None:
        self.wire += data
        for frame in StreamDecoder().feed(data):
            if frame.msg_type == MsgType.SESSION_OPEN:
                self.handshakes.append(frame)
            elif FrameFlags.AUTHENTICATED in frame.flags:
                self.sealed.append(frame)
                message = read_as_the_pump(self.sim.simulator, frame)
                self.plain += encode_payload(message)

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        self._hear(data)
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        self._hear(data)
        return [(0.0, data)]


def test_a_listener_finds_no_serial_drug_concentration_or_dose_in_sealed_frames(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = Listener(_sim(pump))
    _sim(pump).line.tamper = listener
    try:
        for args in (["set-rate", "1.3"], ["events"], ["--json", "identify"]):
            assert main(["--port", pump.port, *args]) == 0, capsys.readouterr().err
    finally:
        _sim(pump).line.tamper = None
    assert '"drug": "morphine"' in capsys.readouterr().out  # the programmer sees it all
    types = {frame.msg_type for frame in listener.sealed}
    assert {MsgType.STATUS, MsgType.SET_RATE, MsgType.READ_EVENTS} <= types
    for name, secret in SECRETS.items():
        assert secret in listener.plain, f"the session never carried the {name}"
        for frame in listener.sealed:
            assert secret not in frame.payload + frame.auth_trailer, f"{name} in clear"
    # The raw bytes hold the serial in the handshakes' clear part only; nothing else at all.
    clinical = {k: v for k, v in SECRETS.items() if k != "serial"}
    for name, secret in clinical.items():
        assert secret not in listener.wire, f"{name} readable on the line"
    assert len(listener.handshakes) >= 6  # three sessions at least: a request, an answer
    for frame in listener.handshakes:
        assert DRUG not in frame.payload
        assert _u32(CONCENTRATION) not in frame.payload


def test_identify_outside_a_session_names_only_the_product_and_serial(
    pump: PumpUnderTest,
) -> None:
    stranger = SyncPumpClient(pump.port, exclusive=False)  # no key, no session
    try:
        seen = stranger.identify()
    finally:
        stranger.close()
    assert seen == IdentifyResponse(
        model="IT-20",
        serial_number="SIM000001",
        firmware_version="",
        reservoir_capacity_ul=0,
        drug="",
        concentration_ng_per_ml=0,
    )
    assert pump.client.identify().drug == "morphine"  # in a session, all of it


def _recrc(body: bytes) -> bytes:
    content = body[: -CRC.size]
    return content + CRC.pack(zlib.crc32(content))


@dataclass
class FlipsTheDose:
    """A man in the middle who knows where SET_RATE carries its dose flips one bit of it in
    the ciphertext (in a bare stream cipher that flips the same bit of the dose) and sends
    the altered copy, then the genuine one; records the pump's refusals."""

    bit: int
    altered: int = 0
    naks: list[int] = field(default_factory=list)

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        frames = StreamDecoder().feed(data)
        if self.altered or not any(f.msg_type == MsgType.SET_RATE for f in frames):
            return [(0.0, data)]
        (frame,) = frames
        layout = encode_payload(
            SetRateRequest(request_id=1, dose_ng_per_day=0x0A0B0C0D, believed_dose_ng_per_day=0)
        )
        at = 11 + layout.index(_u32(0x0A0B0C0D)) + self.bit // 8  # header, then the dose
        body = bytearray(cobs_decode(encode_frame(frame)[:-1]))
        body[at] ^= 1 << (self.bit % 8)
        self.altered += 1
        flipped = DELIMITER + cobs_encode(_recrc(bytes(body))) + DELIMITER
        return [(0.0, flipped), (0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        for frame in StreamDecoder().feed(data):
            if FrameFlags.NAK in frame.flags and FrameFlags.AUTHENTICATED not in frame.flags:
                nak = from_frame(frame)
                assert isinstance(nak, Nak)
                self.naks.append(nak.code)
        return [(0.0, data)]


def test_a_flipped_ciphertext_bit_is_refused_not_decrypted_into_another_dose(
    pump: PumpUnderTest,
) -> None:
    line = FlipsTheDose(bit=17)  # 1.3 mg/day would read 1.17, a change the rules allow
    _sim(pump).line.tamper = line
    try:
        reply = pump.client.set_rate(1_300_000, 1_400_000)
    finally:
        _sim(pump).line.tamper = None
    assert line.altered == 1
    assert line.naks == [NakCode.AUTH_FAILED]
    assert reply.dose_ng_per_day == 1_300_000  # the genuine copy, behind it
    assert pump.client.status().dose_ng_per_day == 1_300_000
    events, _ = pump.client.read_all_events()
    changes = [e for e in events if e.code == EventCode.RATE_CHANGED]
    assert [e.value_b for e in changes][-1:] == [1_300_000]
    assert len(changes) == 1


@dataclass
class Replays:
    """Captures the first sealed SET_RATE; puts it on the line again in front of the next
    frame to the pump; records the pump's unsealed refusals."""

    captured: bytes = b""
    replayed: int = 0
    naks: list[int] = field(default_factory=list)

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        if not self.captured:
            if any(f.msg_type == MsgType.SET_RATE for f in StreamDecoder().feed(data)):
                self.captured = data
            return [(0.0, data)]
        if self.replayed:
            return [(0.0, data)]
        self.replayed += 1
        return [(0.0, self.captured), (0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        for frame in StreamDecoder().feed(data):
            if FrameFlags.NAK in frame.flags and FrameFlags.AUTHENTICATED not in frame.flags:
                nak = from_frame(frame)
                assert isinstance(nak, Nak)
                self.naks.append(nak.code)
        return [(0.0, data)]


def test_a_replayed_sealed_frame_is_refused(pump: PumpUnderTest) -> None:
    line = Replays()
    _sim(pump).line.tamper = line
    try:
        pump.client.set_rate(1_300_000, 1_400_000)
        status = pump.client.status()  # the captured SET_RATE goes again just before it
    finally:
        _sim(pump).line.tamper = None
    assert line.replayed == 1
    assert line.naks == [NakCode.REPLAYED]
    assert status.dose_ng_per_day == 1_300_000
    events, _ = pump.client.read_all_events()
    assert [e.code for e in events].count(EventCode.RATE_CHANGED) == 1


def test_a_spent_counter_brings_a_new_session_never_a_reused_nonce(pump: PumpUnderTest) -> None:
    """Counters are the nonces: neither side seals past the last one. The programmer opens a
    new session before its counter runs out; the pump expires a session that could not seal
    another answer, and the programmer opens a new one and carries on."""
    client = pump.client.client
    first = client.transactions.session
    assert first is not None
    first.sent = COUNTER_MAX - COUNTER_RESERVE
    assert pump.client.status().dose_ng_per_day == 1_400_000
    second = client.transactions.session
    assert second is not None
    assert second.session_id != first.session_id
    assert second.key != first.key

    on_pump = _sim(pump).simulator.sessions.keys(second.session_id)
    assert on_pump is not None
    on_pump.sent = COUNTER_MAX
    assert pump.client.status().dose_ng_per_day == 1_400_000
    third = client.transactions.session
    assert third is not None
    assert third.session_id not in {first.session_id, second.session_id}

    spent = SessionKeys(1, bytes(32), Role.CLINICIAN, sent=COUNTER_MAX)
    with pytest.raises(AuthError, match="used up"):
        spent.seal(to_frame(StatusRequest(), 1), Direction.TO_PUMP)
