"""The test vectors in docs/protocol.md §10–§11 are exactly what the codec and the session
layer produce and accept."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pumpctl.protocol import messages
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.frames import Frame, FrameFlags, StreamDecoder, encode_frame
from pumpctl.protocol.messages import (
    REQUESTS,
    RESPONSES,
    Message,
    SessionIdentity,
    SessionOpenResponse,
)
from pumpctl.protocol.session import (
    AuthError,
    Direction,
    Role,
    SessionKeys,
    aead_nonce,
    handshake_answer,
    handshake_transcript,
    open_identity,
    pump_proof,
    role_key,
    session_key,
)

SPEC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
BLOCK = re.compile(r"^```vector\n(.*?)^```$", re.DOTALL | re.MULTILINE)
DERIVATION = re.compile(r"^```derivation\n(.*?)^```$", re.DOTALL | re.MULTILINE)
MESSAGE_CLASSES: dict[str, type[Message]] = {cls.__name__: cls for cls in (*REQUESTS, *RESPONSES)}


@dataclass(frozen=True)
class Vector:
    fields: dict[str, str]

    @property
    def name(self) -> str:
        return self.fields["name"]

    @property
    def wire(self) -> bytes:
        return bytes.fromhex(self.fields["hex"])

    @property
    def damaged(self) -> bool:
        return self.fields.get("expect", "").startswith("reject ")

    @property
    def forged(self) -> bool:
        return self.fields.get("expect", "").startswith("refuse ")

    def session(self, *, counter: int | None = None) -> SessionKeys | None:
        """The session a sealed vector belongs to, ready to seal (``counter``) or to open."""
        if "key" not in self.fields:
            return None
        last = (counter if counter is not None else 1) - 1
        return SessionKeys(
            int(self.fields["session"]), bytes.fromhex(self.fields["key"]), Role.CLINICIAN, last, 0
        )

    @property
    def direction(self) -> Direction:
        return Direction[self.fields["direction"].upper().replace("-", "_")]

    def message(self) -> Message:
        class_name, _, data = self.fields["message"].partition(" ")
        return MESSAGE_CLASSES[class_name].model_validate(json.loads(data))

    def extra_flags(self) -> FrameFlags:
        flags = FrameFlags(0)
        for flag_name in self.fields.get("flags", "").split():
            flags |= FrameFlags[flag_name]
        return flags

    def frame(self) -> Frame:
        frame = to_frame(self.message(), int(self.fields["seq"]))
        frame = Frame(
            frame.msg_type,
            frame.seq,
            frame.payload,
            frame.flags | self.extra_flags(),
            frame.session_id,
        )
        session = self.session(counter=int(self.fields.get("counter", "1")))
        return frame if session is None else session.seal(frame, self.direction)


def parse_block(text: str) -> Vector:
    fields: dict[str, str] = {}
    last_key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            assert last_key is not None, f"continuation line before any key: {line!r}"
            fields[last_key] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        assert sep, f"not a 'key: value' line: {line!r}"
        key = key.strip()
        assert key not in fields, f"key {key!r} repeated"
        fields[key] = value.strip()
        last_key = key
    return Vector(fields)


def load_vectors() -> list[Vector]:
    return [parse_block(match.group(1)) for match in BLOCK.finditer(SPEC.read_text("utf-8"))]


VECTORS = load_vectors()
MESSAGE_VECTORS = [v for v in VECTORS if not v.damaged and not v.forged]
FORGED_VECTORS = [v for v in VECTORS if v.forged]
DAMAGED_VECTORS = [v for v in VECTORS if v.damaged]
BY_NAME = {v.name: v for v in VECTORS}


def test_the_spec_has_vectors_with_unique_names() -> None:
    assert len(MESSAGE_VECTORS) >= len(REQUESTS) + len(RESPONSES)
    assert DAMAGED_VECTORS
    assert len(BY_NAME) == len(VECTORS)


def test_every_message_type_has_a_vector() -> None:
    covered = {v.fields["message"].partition(" ")[0] for v in MESSAGE_VECTORS}
    missing = {cls.__name__ for cls in (*REQUESTS, *RESPONSES)} - covered
    assert not missing, f"docs/protocol.md has no vector for {sorted(missing)}"


def test_the_enumerations_in_the_spec_match_the_code() -> None:
    """Every value of every enumeration appears in the spec's tables with its number."""
    text = SPEC.read_text("utf-8")
    for enum in (
        messages.MsgType,
        messages.PumpState,
        messages.StopReason,
        messages.AlarmCode,
        messages.Severity,
        messages.CatheterVerdict,
        messages.WithdrawalRisk,
        messages.OutcomeState,
        messages.DemandOutcome,
        messages.NakCode,
        messages.EventCode,
    ):
        for member in enum:
            hexadecimal = enum in (messages.MsgType, messages.NakCode)
            number = f"0x{member.value:02X}" if hexadecimal else str(member.value)
            row = re.compile(rf"^\| {re.escape(number)} \| {member.name} \|", re.MULTILINE)
            assert row.search(text), f"no table row for {enum.__name__}.{member.name} = {number}"


@pytest.mark.parametrize("vector", MESSAGE_VECTORS, ids=lambda v: v.name)
def test_encoding_the_message_gives_the_vector_bytes(vector: Vector) -> None:
    assert encode_frame(vector.frame()).hex(" ") == vector.wire.hex(" ")


@pytest.mark.parametrize("vector", MESSAGE_VECTORS, ids=lambda v: v.name)
def test_decoding_the_vector_bytes_gives_the_message(vector: Vector) -> None:
    wire = vector.wire
    assert wire.endswith(b"\x00")
    assert wire.count(0) == 1, "COBS leaves no zero byte but the delimiter"
    decoder = StreamDecoder()
    frames = decoder.feed(wire)
    assert len(frames) == 1
    assert decoder.frames_rejected == 0
    frame = frames[0]
    assert frame.seq == int(vector.fields["seq"])
    assert frame.flags == vector.frame().flags
    session = vector.session()
    if session is None:
        assert frame.session_id == 0
    else:
        assert frame.session_id == int(vector.fields["session"])
        frame = session.open(frame, vector.direction)
        assert session.received == int(vector.fields["counter"])
    decoded = from_frame(frame)
    assert type(decoded) is type(vector.message())
    assert decoded == vector.message()


@pytest.mark.parametrize("vector", DAMAGED_VECTORS, ids=lambda v: v.name)
def test_damaged_vectors_are_rejected(vector: Vector) -> None:
    expect = vector.fields["expect"]
    assert expect.startswith("reject ")
    reason = expect.removeprefix("reject ")
    decoder = StreamDecoder()
    assert decoder.feed(vector.wire) == []
    assert decoder.frames_rejected == 1
    assert decoder.frames_decoded == 0
    assert decoder.last_error is not None
    assert reason in decoder.last_error


@pytest.mark.parametrize("vector", DAMAGED_VECTORS, ids=lambda v: v.name)
def test_damaged_vectors_are_derived_from_a_valid_vector(vector: Vector) -> None:
    original = BY_NAME[vector.fields["from"]].wire
    damaged = vector.wire
    assert damaged != original
    if len(damaged) == len(original):
        flipped = [a ^ b for a, b in zip(original, damaged, strict=True) if a != b]
        assert len(flipped) == 1, "exactly one byte differs"
        assert flipped[0].bit_count() == 1, "in exactly one bit"
    else:
        assert damaged[:-1] in original, "bytes lost from the original, delimiter kept"


def test_a_crc_mismatch_vector_exists() -> None:
    assert any("CRC" in v.fields["expect"] for v in DAMAGED_VECTORS)


def test_the_decoder_recovers_after_each_damaged_vector() -> None:
    decoder = StreamDecoder()
    good = BY_NAME["SET_RATE request"]
    stream = b"".join(v.wire + good.wire for v in DAMAGED_VECTORS)
    frames = decoder.feed(stream)
    assert [from_frame(f) for f in frames] == [good.message()] * len(DAMAGED_VECTORS)
    assert decoder.frames_rejected == len(DAMAGED_VECTORS)


def test_a_forged_tag_passes_the_frame_checks_but_not_the_session() -> None:
    assert FORGED_VECTORS
    for vector in FORGED_VECTORS:
        frames = StreamDecoder().feed(vector.wire)
        assert len(frames) == 1, "the CRC is right: only the session layer can tell"
        session = vector.session()
        assert session is not None
        reason = vector.fields["expect"].removeprefix("refuse ")
        with pytest.raises(AuthError, match=reason):
            session.open(frames[0], vector.direction)


def _derivation() -> dict[str, str]:
    (block,) = [parse_block(m.group(1)) for m in DERIVATION.finditer(SPEC.read_text("utf-8"))]
    return block.fields


def _identity(values: dict[str, str]) -> SessionIdentity:
    class_name, _, data = values["identity"].partition(" ")
    assert class_name == "SessionIdentity"
    return SessionIdentity.model_validate(json.loads(data))


def test_the_key_derivation_vector() -> None:
    values = _derivation()
    role = Role(int(values["role"]))
    key = role_key(bytes.fromhex(values["pump-secret"]), role)
    assert key.hex() == values["role-key"]
    context = (
        bytes.fromhex(values["programmer-nonce"]),
        bytes.fromhex(values["pump-nonce"]),
        int(values["session-id"]),
    )
    transcript = bytes.fromhex(values["transcript"])
    assert pump_proof(key, role, *context, transcript).hex() == values["pump-proof"]
    assert session_key(key, role, *context).hex() == values["session-key"]
    assert aead_nonce(Direction.TO_PROGRAMMER, 0).hex() == values["identity-nonce"]
    assert aead_nonce(Direction.TO_PUMP, 1).hex() == values["first-request-nonce"]


def test_the_handshake_answer_is_sealed_and_proved_exactly_as_the_vector() -> None:
    values = _derivation()
    answer = BY_NAME["SESSION_OPEN response"].message()
    assert isinstance(answer, SessionOpenResponse)
    key = bytes.fromhex(values["role-key"])
    nonce = bytes.fromhex(values["programmer-nonce"])
    unsealed = answer.model_copy(update={"pump_proof": bytes(16), "sealed_identity": b""})
    rebuilt = handshake_answer(key, Role.CLINICIAN, nonce, unsealed, _identity(values))
    assert rebuilt == answer
    assert answer.sealed_identity.hex() == values["sealed-identity"].replace(" ", "")
    k_s = bytes.fromhex(values["session-key"])
    assert open_identity(k_s, answer) == _identity(values)
    assert b"morphine" not in BY_NAME["SESSION_OPEN response"].wire


def test_the_pump_proof_covers_the_whole_session_open_answer() -> None:
    values = _derivation()
    answer = BY_NAME["SESSION_OPEN response"].message()
    assert isinstance(answer, SessionOpenResponse)
    assert handshake_transcript(answer).hex() == values["transcript"].replace(" ", "")
    assert answer.pump_proof.hex() == values["pump-proof"]
    key = bytes.fromhex(values["role-key"])
    nonce = bytes.fromhex(values["programmer-nonce"])
    sealed = bytearray(answer.sealed_identity)
    sealed[0] ^= 1
    altered = answer.model_copy(update={"sealed_identity": bytes(sealed)})
    for forged in (answer.model_copy(update={"serial_number": "SIM000002"}), altered):
        proof = pump_proof(
            key,
            Role.CLINICIAN,
            nonce,
            answer.pump_nonce,
            answer.session_id,
            handshake_transcript(forged),
        )
        assert proof != answer.pump_proof
    with pytest.raises(AuthError):
        open_identity(bytes.fromhex(values["session-key"]), altered)


def test_the_sealed_vectors_use_the_derived_session_key() -> None:
    sealed = [v for v in VECTORS if "key" in v.fields]
    assert sealed
    assert {v.fields["key"] for v in sealed} == {_derivation()["session-key"]}


def test_a_sealed_payload_is_ciphertext_of_the_same_length() -> None:
    vector = BY_NAME["STATUS response, authenticated"]
    (frame,) = StreamDecoder().feed(vector.wire)
    clear = to_frame(vector.message(), frame.seq)
    assert len(frame.payload) == len(clear.payload)
    assert frame.payload != clear.payload
    assert (1_400_000).to_bytes(4, "little") not in frame.payload
