"""The ``pumpsim`` console script: serving on a pty, stopping cleanly, its state file, and
``pumpsim ctl`` on the debug socket."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.cli import main as pumpsim_main
from firmware_sim.model.library import default_library
from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.protocol.messages import EventCode

PUMPSIM = Path(sys.executable).parent / "pumpsim"
# Every pumpsim started here pairs into this key store (its own directory, removed at exit).
_KEYS_DIR = tempfile.mkdtemp(prefix="pumpsim-keys-")
atexit.register(shutil.rmtree, _KEYS_DIR, True)
KEYS = Keystore(Path(_KEYS_DIR) / "keys.json")
TIMEOUT_S = 30
MORPHINE_START_NG = 1_400_000  # 1.4 mg/day at 25 mg/mL: 56 µL a day

Start = Callable[..., tuple["subprocess.Popen[str]", str]]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short directory for state files and Unix sockets (sun_path is ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="pumpsim-t-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start() -> Iterator[Start]:
    """Start ``pumpsim --pty --frozen-clock ARGS``; returns the process and its port."""
    processes: list[subprocess.Popen[str]] = []

    def run(*args: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [str(PUMPSIM), "--pty", "--frozen-clock", "--pair", str(KEYS.path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port:
            _, err = process.communicate(timeout=TIMEOUT_S)
            pytest.fail(f"pumpsim did not start: {err}")
        return process, port

    yield run
    for process in processes:
        if process.poll() is None:
            process.terminate()  # an orderly stop removes a scratch memory (no --state)
        try:
            process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=TIMEOUT_S)


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, err


def wait_until_serving(port: str) -> None:
    """One status round trip: the simulator is up (and past its start-up) when it answers."""
    with SyncPumpClient(port, keys=KEYS) as client:
        client.status()


def ctl(*args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """``pumpsim ctl ARGS``: its ``main`` in this process (the simulator it controls is a
    process of its own all the same), or with ``process=True`` the console script."""
    return pumpsim("ctl", *args, process=process)


def pumpsim(*argv: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """``pumpsim ARGV`` run by its ``main`` in this process (for what never serves), or with
    ``process=True`` the console script."""
    if process:
        return subprocess.run(
            [str(PUMPSIM), *argv], capture_output=True, text=True, timeout=TIMEOUT_S
        )
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = pumpsim_main(list(argv))
    return subprocess.CompletedProcess(list(argv), code, stdout.getvalue(), stderr.getvalue())


def ctl_state(control: str) -> dict[str, Any]:
    result = ctl("--control", control, "state", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    state: dict[str, Any] = json.loads(lines[0])
    return state


def assert_one_line_error(
    result: tuple[int, str] | subprocess.CompletedProcess[str], prefix: str, *needles: str
) -> str:
    code, err = (result.returncode, result.stderr) if not isinstance(result, tuple) else result
    assert code == 2, (code, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- serving -----------------------------------------------------------------------------


def test_first_line_is_the_pty_path(start: Start) -> None:
    process, port = start()
    assert port.startswith("/dev/pts/")
    assert stat.S_ISCHR(os.stat(port).st_mode)
    assert process.poll() is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("when", ["serving", "at-once"])
def test_exits_0_on_a_stop_signal(start: Start, signum: int, when: str) -> None:
    process, port = start()
    if when == "serving":
        wait_until_serving(port)
    # "at-once": a supervisor may signal the moment the port appears on stdout.
    code, err = stop(process, signum)
    assert code == 0, err
    assert "Traceback" not in err


def test_serves_one_programmer_after_another(start: Start) -> None:
    _, port = start()
    for _ in range(5):
        client = SyncPumpClient(port, keys=KEYS)
        try:
            status = client.status()
        finally:
            client.close()
        assert status.dose_ng_per_day == MORPHINE_START_NG


def test_state_file_survives_a_restart(start: Start, workdir: Path) -> None:
    state = str(workdir / "pump.db")
    first, port = start("--state", state, "--first-boot", "--serial", "SIM000042")
    with SyncPumpClient(port, keys=KEYS) as client:
        client.set_rate(1_600_000, MORPHINE_START_NG)
        assert client.status().dose_ng_per_day == 1_600_000
    assert stop(first)[0] == 0

    _, port = start("--state", state, "--serial", "SIM999999", "--dose", "3")
    with SyncPumpClient(port, keys=KEYS) as client:
        assert client.identify().serial_number == "SIM000042"  # first-boot options ignored
        assert client.status().dose_ng_per_day == 1_600_000
        events, _ = client.read_all_events()
    boots = [e for e in events if e.code == EventCode.BOOT]
    assert len(boots) == 2
    assert boots[-1].detail.startswith("restart")
    changes = [(e.value_a, e.value_b) for e in events if e.code == EventCode.RATE_CHANGED]
    assert changes == [(MORPHINE_START_NG, 1_600_000)]


@pytest.mark.parametrize(
    "option",
    [("--drug", "unobtainium"), ("--dose", "abc"), ("--concentration", "999")],
    ids=["drug", "dose", "concentration"],
)
def test_bad_start_options(option: tuple[str, str]) -> None:
    # A process of its own: if the option were taken, it would serve, not hang this one.
    result = pumpsim("--pty", "--frozen-clock", *option, process=True)
    assert result.stdout == ""
    assert_one_line_error(result, "pumpsim: ")


def test_a_library_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    library = default_library().to_json()
    library["schema"] = 3
    path = tmp_path / "library.json"
    path.write_text(json.dumps(library))
    result = pumpsim("--pty", "--frozen-clock", "--library", str(path), process=True)
    assert result.stdout == ""
    assert_one_line_error(result, "pumpsim: ", "schema 3 is newer than this firmware's (2)")


# --- pumpsim ctl -------------------------------------------------------------------------


def test_ctl_advance_moves_time_and_delivers(start: Start, workdir: Path) -> None:
    control = str(workdir / "ctl")
    _, port = start("--control", control)
    before = ctl_state(control)
    with SyncPumpClient(port, keys=KEYS) as client:
        status_before = client.status()
    assert before["reservoir_ul"] == status_before.reservoir_ul == 20_000

    result = ctl("--control", control, "advance", "3d")
    assert result.returncode == 0, result.stderr
    pump_time_s = (before["pump_time_ms"] + 259_200_000) // 1000
    when = datetime.fromtimestamp(pump_time_s, UTC)
    assert result.stdout.strip() == f"pump time {when:%Y-%m-%d %H:%M:%S} UTC, reservoir 19.832 mL"

    after = ctl_state(control)
    assert after["pump_time_ms"] - before["pump_time_ms"] == 259_200_000
    assert before["reservoir_ul"] - after["reservoir_ul"] == 168  # 3 days x 56 µL

    with SyncPumpClient(port, keys=KEYS) as client:
        status = client.status()
    assert status.pump_time_s - status_before.pump_time_s == 259_200
    assert status.reservoir_ul == after["reservoir_ul"] == 19_832


def test_ctl_advance_with_a_bad_duration(start: Start, workdir: Path) -> None:
    control = str(workdir / "ctl")
    start("--control", control)
    before = ctl_state(control)
    assert_one_line_error(ctl("--control", control, "advance", "3x"), "pumpsim ctl: ", "3x")
    assert ctl_state(control)["pump_time_ms"] == before["pump_time_ms"]


def test_ctl_without_a_simulator() -> None:
    result = ctl("--control", "/nonexistent", "state", process=True)
    assert result.stdout == ""
    assert_one_line_error(result, "pumpsim ctl: ", "/nonexistent")
