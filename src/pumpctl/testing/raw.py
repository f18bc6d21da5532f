"""A raw line to the pump for tests that must send frames the client never would:
malformed payloads, replays, flipped bits. It can open a session like the client does, and
then reads the pump's sealed answers with the session's key."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import serial

from pumpctl.keystore import KeySource
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.frames import Frame, FrameFlags, StreamDecoder, encode_frame
from pumpctl.protocol.messages import Message, SessionOpenRequest, SessionOpenResponse
from pumpctl.protocol.session import NONCE_LEN, Direction, Role, SessionKeys, session_key

if TYPE_CHECKING:
    from firmware_sim.simulator import Simulator


def read_as_the_pump(simulator: Simulator, frame: Frame) -> Message:
    """What ``frame``, seen on the line of an in-process ``simulator``, says: a sealed one
    decrypted with that pump's own session keys (its counter neither checked nor taken), so
    a test's line tamper can act on the content the encryption hides from anyone else."""
    if FrameFlags.AUTHENTICATED in frame.flags:
        keys = simulator.sessions.keys(frame.session_id)
        if keys is None:
            raise ValueError(f"the pump has no session {frame.session_id}")
        direction = Direction.TO_PROGRAMMER if frame.is_response else Direction.TO_PUMP
        frame = keys.peek(frame, direction)
    return from_frame(frame)


class RawLine:
    def __init__(self, port: str, timeout_s: float = 0.5) -> None:
        self.port = serial.serial_for_url(port, timeout=0.05)
        self.port.reset_input_buffer()
        self.timeout_s = timeout_s
        self.decoder = StreamDecoder()
        self.session: SessionKeys | None = None
        self._seq = 100

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> RawLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_bytes(self, wire: bytes) -> Frame | None:
        """Write bytes as they are; the first frame that comes back, or ``None``."""
        self.port.write(wire)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            frames = self.decoder.feed(self.port.read(self.port.in_waiting or 1))
            if frames:
                return frames[0]
        return None

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def seal(self, frame: Frame) -> bytes:
        """The frame as it goes on the wire in the open session."""
        assert self.session is not None, "open a session first"
        return encode_frame(self.session.seal(frame, Direction.TO_PUMP))

    def message(self, frame: Frame | None) -> Message:
        """The message ``frame`` carries, decrypted if the pump sealed it in this line's
        session (its tag and counter checked as the programmer checks them)."""
        assert frame is not None, "no answer from the pump"
        if FrameFlags.AUTHENTICATED in frame.flags and self.session is not None:
            frame = self.session.open(frame, Direction.TO_PROGRAMMER)
        return from_frame(frame)

    def request(self, message: Message, *, sealed: bool = True) -> Message | None:
        frame = to_frame(message, self.next_seq())
        reply = self.send_bytes(self.seal(frame) if sealed else encode_frame(frame))
        return None if reply is None else self.message(reply)

    def open_session(self, keys: KeySource, role: Role = Role.CLINICIAN) -> SessionOpenResponse:
        nonce = secrets.token_bytes(NONCE_LEN)
        self.session = None
        programmer_id = keys.programmer_ids(role)[0]
        request = SessionOpenRequest(role=role, programmer_id=programmer_id, programmer_nonce=nonce)
        answer = self.request(request, sealed=False)
        if not isinstance(answer, SessionOpenResponse):
            raise RuntimeError(f"no session: {answer}")
        key = keys.key_for(answer.serial_number, role)
        if key is None:
            raise RuntimeError("not paired")
        self.session = SessionKeys(
            answer.session_id,
            session_key(key, role, nonce, answer.pump_nonce, answer.session_id),
            role,
        )
        return answer
