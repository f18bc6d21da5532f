"""Authenticated, encrypted sessions: key derivation, proofs and sealed frames
(docs/protocol.md §11).

Shared by the programmer and the pump. Each pump holds a 32-byte secret; each role has its
own key derived from it, so a programmer holding the patient key cannot act as a clinician.
A session key binds the role key, both nonces, the role and the session id. Every frame
after the handshake carries a strictly increasing counter; its payload is encrypted and
authenticated with ChaCha20-Poly1305 under the session key, the header in clear as associated
data and the direction and counter as the nonce. The pump's proof covers its whole handshake
answer, and the identity in it (drug, concentration) is sealed for the key holder alone.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pumpctl.protocol.codec import DecodeError, decode_payload, encode_payload
from pumpctl.protocol.frames import (
    FLAGS,
    HEADER,
    PROTOCOL_VERSION,
    Frame,
    FrameFlags,
    pack_header,
)
from pumpctl.protocol.messages import SessionIdentity, SessionOpenResponse

MAC_LEN = 16  # the pump's proof: HMAC-SHA-256 truncated to 128 bits
TAG_LEN = 16  # ChaCha20-Poly1305's tag, the last 16 bytes of a sealed frame's trailer
COUNTER_MAX = 0xFFFF_FFFF  # the last counter a side may seal with in a session
COUNTER_RESERVE = 64  # counters kept for one request's tries before a new session
HANDSHAKE_COUNTER = 0  # the sealed identity's nonce; sealed frames count from 1
NONCE_LEN = 16
NONCE_ECHO_LEN = 4  # of the programmer's nonce, echoed in the pump's answer
KEY_LEN = 32
_COUNTER = struct.Struct("<I")


class Role(IntEnum):
    CLINICIAN = 1
    PATIENT = 2
    SERVICE = 3


class Direction(IntEnum):
    TO_PUMP = 1
    TO_PROGRAMMER = 2


class AuthError(ValueError):
    """A frame that fails authentication; the message says which check."""


class Replayed(AuthError):
    """A frame whose counter is not above the last one accepted: a replay."""


def _hmac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def role_key(pump_secret: bytes, role: Role) -> bytes:
    return _hmac(pump_secret, b"pumpctl role key v1", bytes([role]))


def _context(role: Role, programmer_nonce: bytes, pump_nonce: bytes, session_id: int) -> bytes:
    return bytes([role]) + programmer_nonce + pump_nonce + struct.pack("<I", session_id)


def handshake_transcript(answer: SessionOpenResponse) -> bytes:
    """The SESSION_OPEN answer's payload as sent, its 16 proof bytes zero: what the proof
    covers (docs/protocol.md §11.2)."""
    return encode_payload(answer.model_copy(update={"pump_proof": bytes(MAC_LEN)}))


def pump_proof(
    key: bytes,
    role: Role,
    programmer_nonce: bytes,
    pump_nonce: bytes,
    session_id: int,
    transcript: bytes,
) -> bytes:
    """The pump's proof that it holds the role key and sent ``transcript`` (the programmer
    checks it)."""
    context = _context(role, programmer_nonce, pump_nonce, session_id)
    return _hmac(key, b"pump proof v2", context, transcript)[:MAC_LEN]


def proven_answer(
    key: bytes, role: Role, programmer_nonce: bytes, answer: SessionOpenResponse
) -> SessionOpenResponse:
    """``answer`` with the proof over its own transcript filled in (the pump's side)."""
    proof = pump_proof(
        key,
        role,
        programmer_nonce,
        answer.pump_nonce,
        answer.session_id,
        handshake_transcript(answer),
    )
    return answer.model_copy(update={"pump_proof": proof})


def session_key(
    key: bytes, role: Role, programmer_nonce: bytes, pump_nonce: bytes, session_id: int
) -> bytes:
    return _hmac(key, b"session key", _context(role, programmer_nonce, pump_nonce, session_id))


def aead_nonce(direction: Direction, counter: int) -> bytes:
    """The 12-byte ChaCha20-Poly1305 nonce: ``direction ‖ seven zero bytes ‖ counter (u32
    LE)``. Each side counts its own frames, so the direction keeps the two apart."""
    return bytes([direction]) + bytes(7) + _COUNTER.pack(counter)


def seal_identity(key: bytes, identity: SessionIdentity) -> bytes:
    """``identity`` encrypted under the session key ``key``, its tag last (the pump's side)."""
    nonce = aead_nonce(Direction.TO_PROGRAMMER, HANDSHAKE_COUNTER)
    return ChaCha20Poly1305(key).encrypt(nonce, encode_payload(identity), None)


def open_identity(key: bytes, answer: SessionOpenResponse) -> SessionIdentity:
    """The identity sealed in ``answer`` under the session key ``key``, or ``AuthError``."""
    nonce = aead_nonce(Direction.TO_PROGRAMMER, HANDSHAKE_COUNTER)
    try:
        plain = ChaCha20Poly1305(key).decrypt(nonce, answer.sealed_identity, None)
        return decode_payload(SessionIdentity, plain)
    except (InvalidTag, DecodeError):
        raise AuthError("the sealed identity does not open under the session key") from None


def handshake_answer(
    key: bytes,
    role: Role,
    programmer_nonce: bytes,
    answer: SessionOpenResponse,
    identity: SessionIdentity,
) -> SessionOpenResponse:
    """``answer`` with ``identity`` sealed in it and the proof over it all (the pump's side;
    ``key`` is the role key)."""
    k_s = session_key(key, role, programmer_nonce, answer.pump_nonce, answer.session_id)
    sealed = answer.model_copy(update={"sealed_identity": seal_identity(k_s, identity)})
    return proven_answer(key, role, programmer_nonce, sealed)


@dataclass
class SessionKeys:
    """One side's view of an open session: the key, and both directions' counters."""

    session_id: int
    key: bytes = field(repr=False)
    role: Role
    sent: int = 0  # last counter this side used
    received: int = 0  # last counter accepted from the other side
    _aead: ChaCha20Poly1305 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._aead = ChaCha20Poly1305(self.key)

    @property
    def nearly_spent(self) -> bool:
        """Too few counters left for one more request and its tries: open a new session."""
        return self.sent >= COUNTER_MAX - COUNTER_RESERVE

    def seal(self, frame: Frame, direction: Direction) -> Frame:
        """``frame`` with the session id, the AUTHENTICATED flag, a fresh counter, and its
        payload encrypted (the header, as sent, authenticated with it)."""
        if self.sent >= COUNTER_MAX:
            raise AuthError("the session's counter is used up: open a new session")
        self.sent += 1
        flags = FLAGS[int(frame.flags) | _AUTHENTICATED]
        header = HEADER.pack(
            PROTOCOL_VERSION, frame.msg_type, flags, frame.seq, self.session_id, len(frame.payload)
        )
        counter = _COUNTER.pack(self.sent)
        sealed = self._aead.encrypt(_NONCE_PREFIX[direction] + counter, frame.payload, header)
        return Frame(
            frame.msg_type,
            frame.seq,
            sealed[:-TAG_LEN],
            flags,
            self.session_id,
            counter + sealed[-TAG_LEN:],
        )

    def open(self, frame: Frame, direction: Direction) -> Frame:
        """Check ``frame``'s session, tag and counter; accept its counter (``received``) and
        return the frame with its payload decrypted."""
        plain = self.peek(frame, direction)
        counter = self.counter_of(frame)
        if counter <= self.received:
            raise Replayed(f"counter {counter} is not above {self.received}: a replay")
        self.received = counter
        return plain

    @staticmethod
    def counter_of(frame: Frame) -> int:
        return int(_COUNTER.unpack_from(frame.auth_trailer)[0])

    def peek(self, frame: Frame, direction: Direction) -> Frame:
        """``frame`` decrypted once its session and tag are checked, its counter neither
        checked nor taken (``open`` does both)."""
        if FrameFlags.AUTHENTICATED not in frame.flags:
            raise AuthError("frame is not authenticated")
        if frame.session_id != self.session_id:
            raise AuthError("frame belongs to another session")
        trailer = frame.auth_trailer
        try:
            plain = self._aead.decrypt(
                _NONCE_PREFIX[direction] + trailer[: _COUNTER.size],
                frame.payload + trailer[_COUNTER.size :],
                pack_header(frame),
            )
        except InvalidTag:
            raise AuthError("message authentication code does not match") from None
        return Frame(
            frame.msg_type,
            frame.seq,
            plain,
            frame.flags,
            frame.session_id,
            trailer,
            frame.version,
        )


# Each direction's nonce up to its counter (``aead_nonce``), built once.
_NONCE_PREFIX = {d: aead_nonce(d, 0)[: -_COUNTER.size] for d in Direction}
_AUTHENTICATED = int(FrameFlags.AUTHENTICATED)
