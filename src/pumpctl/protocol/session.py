"""Authenticated sessions: key derivation, proofs and frame MACs (docs/protocol.md §11).

Shared by the programmer and the pump. Each pump holds a 32-byte secret; each role has its
own key derived from it, so a programmer holding the patient key cannot act as a clinician.
A session key binds the role key, both nonces, the role and the session id; every frame
after the handshake carries a strictly increasing counter and a MAC under that key. The
pump's proof also covers its whole handshake answer (identity, drug, concentration), so a
man in the middle cannot change what the programmer believes is in the pump.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum

from pumpctl.protocol.codec import encode_payload
from pumpctl.protocol.frames import Frame, FrameFlags, pack_header
from pumpctl.protocol.messages import SessionOpenResponse

MAC_LEN = 16  # HMAC-SHA-256 truncated to 128 bits
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
    """A frame that fails authentication; ``reason`` says which check."""


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


def frame_mac(key: bytes, direction: Direction, frame: Frame, counter: int) -> bytes:
    header = pack_header(frame)
    return _hmac(key, bytes([direction]), header, frame.payload, _COUNTER.pack(counter))[:MAC_LEN]


@dataclass
class SessionKeys:
    """One side's view of an open session: the key, and both directions' counters."""

    session_id: int
    key: bytes
    role: Role
    sent: int = 0  # last counter this side used
    received: int = 0  # last counter accepted from the other side

    def seal(self, frame: Frame, direction: Direction) -> Frame:
        """``frame`` with the session id, the AUTHENTICATED flag and a fresh counter + MAC."""
        self.sent += 1
        unsealed = Frame(
            frame.msg_type,
            frame.seq,
            frame.payload,
            frame.flags | FrameFlags.AUTHENTICATED,
            self.session_id,
        )
        mac = frame_mac(self.key, direction, unsealed, self.sent)
        return Frame(
            unsealed.msg_type,
            unsealed.seq,
            unsealed.payload,
            unsealed.flags,
            self.session_id,
            _COUNTER.pack(self.sent) + mac,
        )

    def open(self, frame: Frame, direction: Direction) -> int:
        """Check ``frame``'s session, MAC and counter; accept its counter and return it."""
        if FrameFlags.AUTHENTICATED not in frame.flags:
            raise AuthError("frame is not authenticated")
        if frame.session_id != self.session_id:
            raise AuthError("frame belongs to another session")
        counter = int(_COUNTER.unpack_from(frame.auth_trailer)[0])
        expected = frame_mac(self.key, direction, frame, counter)
        if not hmac.compare_digest(expected, frame.auth_trailer[_COUNTER.size :]):
            raise AuthError("message authentication code does not match")
        if counter <= self.received:
            raise AuthError(f"counter {counter} is not above {self.received}: a replay")
        self.received = counter
        return counter
