"""The ``pumpctl`` command end to end, against the plugin's simulator.

``pumpctl()`` runs the command's ``main`` in this process with the given environment and
arguments (the simulator on the memory link); ``process=True`` runs the console script as
its own process, for what only a process shows (a hang, a pty).

Every failure must be one line on stderr starting ``pumpctl: `` with the documented exit
status: 1 refused, 2 bad input, 3 no pump.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pumpctl import cli
from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest

PUMPCTL = Path(sys.executable).parent / "pumpctl"
TIMEOUT_S = 30

# These tests set exact doses and read the simulator's serial number: simulator only.
pytestmark = pytest.mark.needs_simulator


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment for ``pumpctl``: no inherited port, anything it stores kept in tmp,
    and the key store paired with the test's pump."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PUMPCTL_PORT", "PUMPCTL_HIL_PORT")}
    clean["PUMPCTL_KEYSTORE"] = str(tmp_path / "unpaired-keys.json")
    if "pump" in request.fixturenames:
        clean["PUMPCTL_KEYSTORE"] = str(request.getfixturevalue("pump").keys.path)
    clean["XDG_DATA_HOME"] = str(tmp_path / "data")
    clean["PUMPCTL_DB"] = str(tmp_path / "clinical.db")
    clean["PUMPCTL_CLINICIAN"] = "test"
    return clean


def pumpctl(
    env: dict[str, str], *args: str, port: str | None = None, process: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [*(["--port", port] if port is not None else []), *args]
    if process:
        return subprocess.run(
            [str(PUMPCTL), *argv], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    return run_in_process(env, argv)


def run_in_process(env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``pumpctl ARGV`` as the console script runs it, in this process: exactly ``env`` as
    the environment, stdout and stderr captured, the exit status returned or raised."""
    saved = dict(os.environ)
    stdout, stderr = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = cli.main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def assert_fails(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """Exit ``code`` with exactly one ``pumpctl: `` line on stderr containing ``needles``."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("pumpctl: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def status_json(env: dict[str, str], port: str) -> dict[str, object]:
    out = assert_ok(pumpctl(env, "--json", "status", port=port))
    lines = out.splitlines()
    assert len(lines) == 1, out
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def dose_ng(env: dict[str, str], port: str) -> int:
    status = status_json(env, port)["status"]
    assert isinstance(status, dict)
    return int(status["dose_ng_per_day"])


def rate_changes(pump: PumpUnderTest) -> list[tuple[int, int]]:
    events, _ = pump.client.read_all_events()
    return [(e.value_a, e.value_b) for e in events if e.code == EventCode.RATE_CHANGED]


# --- reads -------------------------------------------------------------------------------


def test_json_status_is_exactly_one_object(pump: PumpUnderTest, env: dict[str, str]) -> None:
    result = pumpctl(env, "--json", "status", port=pump.port)
    out = assert_ok(result)
    assert result.stderr == ""
    data = json.loads(out)  # the whole of stdout is the one object
    assert isinstance(data, dict)
    assert data["status"]["dose_ng_per_day"] == 1_400_000
    assert data["identity"]["serial_number"] == "SIM000001"
    assert data["unit"] == "mg"


def test_text_status(pump: PumpUnderTest, env: dict[str, str]) -> None:
    out = assert_ok(pumpctl(env, "status", port=pump.port))
    assert "SIM000001" in out
    assert "1.4 mg/day" in out
    assert "Alarms     none" in out


def test_port_from_environment(pump: PumpUnderTest, env: dict[str, str]) -> None:
    out = assert_ok(pumpctl({**env, "PUMPCTL_PORT": pump.port}, "status"))
    assert "SIM000001" in out


def test_trace_shows_frames_on_stderr(pump: PumpUnderTest, env: dict[str, str]) -> None:
    result = pumpctl(env, "--trace", "status", port=pump.port)
    out = assert_ok(result)
    assert "SIM000001" in out
    trace = result.stderr.splitlines()
    sent = [line for line in trace if line.split()[:1] == ["tx"]]
    received = [line for line in trace if line.split()[:1] == ["rx"]]
    assert sent
    assert received
    assert any("SESSION_OPEN" in line for line in sent)  # the handshake brings the identity
    assert any("STATUS" in line and "1400000" in line for line in received)
    assert "frame" not in out  # the trace never mixes into stdout


def test_events_list_boot_then_rate_change(pump: PumpUnderTest, env: dict[str, str]) -> None:
    before = json.loads(assert_ok(pumpctl(env, "--json", "events", port=pump.port)))
    codes = [e["code"] for e in before["events"]]
    assert codes[0] == "BOOT"  # enums by name
    assert "RATE_CHANGED" not in codes

    assert_ok(pumpctl(env, "set-rate", "1.6", port=pump.port))

    after = json.loads(assert_ok(pumpctl(env, "--json", "events", port=pump.port)))
    changed = [e for e in after["events"] if e["code"] == "RATE_CHANGED"]
    assert [(e["value_a"], e["value_b"]) for e in changed] == [(1_400_000, 1_600_000)]
    assert after["next_index"] == after["events"][-1]["index"] + 1


def test_catheter_check_reports_patent(pump: PumpUnderTest, env: dict[str, str]) -> None:
    out = assert_ok(pumpctl(env, "catheter-check", port=pump.port))
    assert "patent" in out


def test_no_active_alarms(pump: PumpUnderTest, env: dict[str, str]) -> None:
    out = assert_ok(pumpctl(env, "alarms", port=pump.port))
    assert out.strip() == "No active alarms"


# --- set-rate ----------------------------------------------------------------------------


def test_set_rate_is_shown_by_status(pump: PumpUnderTest, env: dict[str, str]) -> None:
    out = assert_ok(pumpctl(env, "set-rate", "1.6", port=pump.port))
    assert "1.4 mg/day -> 1.6 mg/day" in out
    text = assert_ok(pumpctl(env, "status", port=pump.port))
    assert "Dose       1.6 mg/day" in text
    assert dose_ng(env, pump.port) == 1_600_000
    assert pump.client.status().dose_ng_per_day == 1_600_000


@pytest.mark.parametrize("dose", ["1.76", "3"])
def test_step_above_the_limit_is_refused(
    pump: PumpUnderTest, env: dict[str, str], dose: str
) -> None:
    # 1.76 is 25.7 % of 1.4 mg/day; 3 is also more than 1 mg/day in one step.
    result = pumpctl(env, "set-rate", dose, port=pump.port)
    assert_fails(result, 1, "STEP_TOO_LARGE")
    assert result.stdout == ""
    assert dose_ng(env, pump.port) == 1_400_000
    assert rate_changes(pump) == []


def test_second_increase_waits_a_day(pump: PumpUnderTest, env: dict[str, str]) -> None:
    assert pump.sim is not None
    assert_ok(pumpctl(env, "set-rate", "1.6", port=pump.port))
    # The programmer's titration guard holds an increase until a VAS taken a day after the
    # last one; past it (a documented override), the 24 h interval is the pump's own rule.
    assert_ok(pumpctl(env, "vas", "5", port=pump.port))
    why = ("--override-reason", "tolerance-confirmed", "--override-note", "relieved in hours")
    result = pumpctl(env, "set-rate", "1.7", *why, port=pump.port)
    assert_fails(result, 1, "pump refused", "INCREASE_TOO_SOON")
    assert dose_ng(env, pump.port) == 1_600_000

    pump.sim.advance(86_400_000)

    assert_ok(pumpctl(env, "vas", "5", port=pump.port))
    assert_ok(pumpctl(env, "set-rate", "1.7", port=pump.port))
    assert dose_ng(env, pump.port) == 1_700_000
    assert rate_changes(pump) == [(1_400_000, 1_600_000), (1_600_000, 1_700_000)]


def test_decrease_right_after_an_increase(pump: PumpUnderTest, env: dict[str, str]) -> None:
    assert_ok(pumpctl(env, "set-rate", "1.6", port=pump.port))
    out = assert_ok(pumpctl(env, "set-rate", "1.5", port=pump.port))
    assert "1.6 mg/day -> 1.5 mg/day" in out
    assert dose_ng(env, pump.port) == 1_500_000


@pytest.mark.parametrize("dose", ["abc", "1,5", "nan", "-1", "1.0000001"])
def test_a_dose_that_is_not_a_dose_is_bad_input(
    pump: PumpUnderTest, env: dict[str, str], dose: str
) -> None:
    result = pumpctl(env, "set-rate", dose, port=pump.port)
    assert_fails(result, 2, f"dose {dose!r}")
    assert result.stdout == ""
    assert rate_changes(pump) == []
    assert pump.client.status().dose_ng_per_day == 1_400_000


# --- alarms ------------------------------------------------------------------------------


def test_ack_of_an_alarm_that_is_not_raised_is_refused(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert_fails(pumpctl(env, "ack", "LOW_RESERVOIR", port=pump.port), 1, "NO_SUCH_ALARM")


def test_ack_of_an_unknown_alarm_is_bad_input(pump: PumpUnderTest, env: dict[str, str]) -> None:
    assert_fails(pumpctl(env, "ack", "BOGUS", port=pump.port), 2, "BOGUS")


# --- no pump -----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_a_port_that_cannot_be_opened(env: dict[str, str], tmp_path: Path, where: str) -> None:
    port = "/dev/does-not-exist" if where == "missing" else str(tmp_path)
    assert_fails(pumpctl(env, "status", port=port), 3, port)


def test_no_port_at_all_is_bad_input(env: dict[str, str]) -> None:
    assert_fails(pumpctl(env, "status"), 2, "--port", "PUMPCTL_PORT")


@pytest.mark.needs_process
def test_a_pump_that_does_not_answer(pump: PumpUnderTest, env: dict[str, str]) -> None:
    assert pump.sim is not None
    process = pump.sim.process
    assert process is not None
    with pump.sim.frozen():
        # A hang fails on the subprocess's own timeout; how long the tries take is a
        # benchmark's business, not a test's.
        result = pumpctl(env, "status", port=pump.port, process=True)
    assert_fails(result, 3, "no answer", pump.port)
    assert result.stdout == ""


def test_status_reads_the_pump_when_the_record_cannot_be_opened(
    pump: PumpUnderTest, env: dict[str, str], tmp_path: Path
) -> None:
    """A read goes on without the clinical record, and says why it has none."""
    unusable = tmp_path / "not-a-directory"
    unusable.write_text("")
    out = assert_ok(pumpctl(env, "--db", str(unusable / "clinical.db"), "status", port=pump.port))
    assert "Dose       1.4 mg/day" in out
    assert "Record     not synced: cannot open clinical record" in out
