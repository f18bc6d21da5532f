"""``pumpsim`` start-up: options it cannot start with, a memory it must not replace, a corrupt
memory — one line each, exit 2, no traceback, nothing booted. And its line threads stay up:
an exception is logged and the line goes on serving."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import serial

from firmware_sim import cli
from firmware_sim.pty_thread import MAX_RESTARTS, FdThread
from firmware_sim.server import PtyServer
from firmware_sim.simulator import InitialProgram, Simulator
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.frames import Frame, StreamDecoder, encode_frame
from pumpctl.protocol.messages import IdentifyRequest, IdentifyResponse


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    code = cli.main(["--pty", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pumpsim: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_a_missing_state_file_is_not_first_booted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = tmp_path / "pump.db"
    one_line(capsys, ["--state", str(state)], "holds no pump memory", "--first-boot")
    assert not state.exists()


def test_an_empty_state_file_is_not_first_booted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = tmp_path / "pump.db"
    state.touch()
    one_line(capsys, ["--state", str(state), "--pair", str(tmp_path / "k.json")], "--first-boot")
    assert state.stat().st_size == 0
    assert not (tmp_path / "k.json").exists()  # nothing paired with a pump that is not there


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--baud", "-1"], "--baud -1"),
        (["--baud", "0"], "--baud 0"),
        (["--event-capacity", "0"], "--event-capacity 0"),
        (["--first-boot", "--serial", "S" * 300], "serial number must be 1 to 32"),
        (["--first-boot", "--serial", "SIM\n1"], "serial number"),
    ],
)
def test_options_a_pump_cannot_start_with_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], needle: str
) -> None:
    one_line(capsys, ["--state", str(tmp_path / "pump.db"), *argv], needle)


def test_paths_that_cannot_be_used_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one_line(capsys, ["--state", str(tmp_path)], "is a directory")
    one_line(capsys, ["--state", str(tmp_path / "no" / "pump.db")], "does not exist")
    state = str(tmp_path / "pump.db")
    one_line(
        capsys,
        ["--first-boot", "--state", state, "--control", str(tmp_path / "no" / "ctl")],
        "--control",
        "does not exist",
    )
    assert not Path(state).exists()


def test_a_corrupt_state_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = tmp_path / "pump.db"
    Simulator(state, InitialProgram(frozen_clock=True)).close()
    data = bytearray(state.read_bytes())
    data[100:4096] = bytes(4096 - 100)  # the first page's b-tree gone
    state.write_bytes(bytes(data))
    one_line(capsys, ["--state", str(state)], str(state))
    state.write_bytes(b"not a database at all, " * 100)
    one_line(capsys, ["--state", str(state)], "unreadable")


class FailsOnce:
    """A fault in the simulator outside a command's handling, on the first frame only."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.handle_frame = simulator.handle_frame
        self.raised = False

    def __call__(self, frame: Frame) -> Frame | None:
        if not self.raised:
            self.raised = True
            raise RuntimeError("injected fault")
        return self.handle_frame(frame)


def test_an_exception_on_the_line_is_logged_and_the_line_keeps_serving(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = Simulator(tmp_path / "pump.db", InitialProgram(frozen_clock=True))
    fault = FailsOnce(simulator)
    monkeypatch.setattr(simulator, "handle_frame", fault)
    server = PtyServer(simulator).start()
    port = serial.Serial(server.port, timeout=5)
    try:
        first, second = (encode_frame(to_frame(IdentifyRequest(), seq)) for seq in (7, 8))
        port.write(first + second)  # the first meets the fault, the second is answered
        decoder, frames = StreamDecoder(), list[Frame]()
        while not frames:
            chunk = port.read(1)
            assert chunk, "the line went silent"
            frames = decoder.feed(chunk + port.read(port.in_waiting))
        assert [f.seq for f in frames] == [8]
        assert isinstance(from_frame(frames[0]), IdentifyResponse)
    finally:
        port.close()
        server.stop()
        simulator.close()
    assert fault.raised
    err = capfd.readouterr().err
    assert "pumpsim: pumpsim-line: RuntimeError: injected fault; frame dropped" in err


def test_a_serve_loop_that_keeps_failing_ends_and_says_so(
    capfd: pytest.CaptureFixture[str],
) -> None:
    calls: list[int] = []
    failed = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        calls.append(1)
        raise OSError("the line is gone")

    def on_failure(error: BaseException) -> None:
        errors.append(error)
        failed.set()

    thread = FdThread(serve, "test-line", (), on_failure)
    thread.start()
    try:
        assert failed.wait(10)
    finally:
        thread.stop()
    assert len(calls) == MAX_RESTARTS + 1
    assert isinstance(errors[0], OSError)
    lines = capfd.readouterr().err.splitlines()
    assert lines[0] == "pumpsim: test-line: OSError: the line is gone; serving again"
    assert lines[-1] == "pumpsim: test-line: OSError: the line is gone; the line stops"
