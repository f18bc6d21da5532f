"""Coverage-guided fuzzing (atheris) of the stream decoder and the simulator's frame handler.

``python -m pumpctl.testing.fuzz decoder -atheris_runs=200000`` (or ``handler``); any
libFuzzer option may follow. The suite runs a short version. A crash is any exception other
than the defined ones: ``FrameError``/``DecodeError`` are how malformed input is refused.
Only our own packages are instrumented for coverage (they are imported inside ``main``).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def decoder_target() -> Callable[[bytes], None]:
    from pumpctl.protocol.codec import DecodeError, from_frame
    from pumpctl.protocol.frames import StreamDecoder, encode_frame

    def fuzz(data: bytes) -> None:
        """Arbitrary chunks in: only frames that re-encode to bytes on the wire come out."""
        decoder = StreamDecoder()
        split = data[0] if data else 0
        for chunk in (data[:split], data[split:]):
            for frame in decoder.feed(chunk):
                if encode_frame(frame)[:-1] not in data:
                    raise AssertionError("decoded a frame that was not on the wire")
                with contextlib.suppress(DecodeError):
                    from_frame(frame)

    return fuzz


def handler_target() -> Callable[[bytes], None]:
    from firmware_sim.simulator import InitialProgram, Simulator
    from pumpctl.protocol.codec import from_frame, to_frame
    from pumpctl.protocol.frames import Frame, FrameFlags
    from pumpctl.protocol.messages import Nak, NakCode, SessionOpenRequest, SessionOpenResponse
    from pumpctl.protocol.session import NONCE_LEN, Direction, Role, SessionKeys, session_key

    scratch = tempfile.mkdtemp(prefix="pumpfuzz-")
    simulator = Simulator(Path(scratch) / "pump.db", InitialProgram(frozen_clock=True))
    sessions: dict[Role, SessionKeys] = {}
    lost = {NakCode.AUTH_REQUIRED, NakCode.SESSION_EXPIRED}

    def open_session(role: Role) -> SessionKeys:
        """A session as a paired programmer opens it; the fuzzed frames ride inside it."""
        nonce = bytes(NONCE_LEN)
        request = SessionOpenRequest(role=role, programmer_nonce=nonce)
        reply = simulator.handle_frame(to_frame(request, 0))
        answer = None if reply is None else from_frame(reply)
        if not isinstance(answer, SessionOpenResponse):
            raise AssertionError(f"the pump refused a paired session: {answer!r}")
        key = session_key(
            simulator.role_key(role), role, nonce, answer.pump_nonce, answer.session_id
        )
        sessions.clear()  # the pump holds one session at a time
        sessions[role] = SessionKeys(answer.session_id, key, role)
        return sessions[role]

    def fuzz(data: bytes) -> None:
        """Arbitrary request frames into the pump: each gets a valid answer, never a crash.

        The first byte chooses how the frame arrives: raw (bit 0 clear: only IDENTIFY and
        SESSION_OPEN get past the session guard), or sealed in a clinician, patient or service
        session (bits 1-2), so the command handlers themselves are reached."""
        if len(data) < 3:
            return
        frame = Frame(msg_type=data[1], seq=data[2], payload=data[3:1027], flags=FrameFlags(0))
        session = None
        if data[0] & 1:
            role = list(Role)[(data[0] >> 1) % len(Role)]
            session = sessions.get(role) or open_session(role)
            sealed = session.seal(frame, Direction.TO_PUMP)
            reply = simulator.handle_frame(sealed)
            unsealed = reply is not None and FrameFlags.AUTHENTICATED not in reply.flags
            answer = from_frame(reply) if unsealed and reply is not None else None
            if isinstance(answer, Nak) and answer.code in lost:  # a fuzzed SESSION_OPEN
                session = open_session(role)
                reply = simulator.handle_frame(session.seal(frame, Direction.TO_PUMP))
        else:
            reply = simulator.handle_frame(frame)
        if reply is None:
            raise AssertionError("a request went unanswered")
        if session is not None and FrameFlags.AUTHENTICATED in reply.flags:
            from_frame(session.open(reply, Direction.TO_PROGRAMMER))  # sealed correctly
        else:
            from_frame(reply)
        if simulator.pump.reservoir_ul < 0:
            raise AssertionError("negative reservoir")

    return fuzz


TARGETS = {"decoder": decoder_target, "handler": handler_target}


def main(argv: list[str] | None = None) -> None:
    import atheris

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in TARGETS:
        print(f"usage: python -m pumpctl.testing.fuzz {{{'|'.join(TARGETS)}}} [libFuzzer options]")
        raise SystemExit(2)
    with atheris.instrument_imports(include=["pumpctl", "firmware_sim"]):
        target = TARGETS[args[0]]()
    atheris.Setup([sys.argv[0], *args[1:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
