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
    from pumpctl.protocol.codec import from_frame
    from pumpctl.protocol.frames import Frame, FrameFlags

    scratch = tempfile.mkdtemp(prefix="pumpfuzz-")
    simulator = Simulator(Path(scratch) / "pump.db", InitialProgram(frozen_clock=True))

    def fuzz(data: bytes) -> None:
        """Arbitrary request frames into the pump: each gets a valid answer, never a crash."""
        if len(data) < 2:
            return
        frame = Frame(msg_type=data[0], seq=data[1], payload=data[2:1026], flags=FrameFlags(0))
        reply = simulator.handle_frame(frame)
        if reply is None:
            raise AssertionError("a request went unanswered")
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
