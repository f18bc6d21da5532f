"""A bad line never turns an executed command into "refused" or "no pump": the CLI, run in this
process against the simulator on a faulty memory line, says what the pump did, and the
record and the audit trail agree with the pump's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.clinical.record import ChangeOutcome, ClinicalRecord, CommandOutcome
from pumpctl.programmer import core
from pumpctl.protocol.frames import Frame, StreamDecoder
from pumpctl.protocol.messages import EventCode, MsgType
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator
from tests.recorded import changes

pytestmark = pytest.mark.needs_simulator


def _frames(data: bytes) -> list[Frame]:
    return StreamDecoder().feed(data)


class AnswerLostThenLateCopy:
    """The first ``msg_type`` request reaches the pump; its answer is lost; then a late copy
    of the same frame arrives (the line duplicated it), and the pump's answer to that copy
    (a session-level refusal: the frame's counter was used) is the one that gets back."""

    def __init__(self, msg_type: MsgType) -> None:
        self.msg_type = msg_type
        self.copy: bytes | None = None
        self.drop_next_answer = False
        self.done = False

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        if self.done or not any(f.msg_type == self.msg_type for f in _frames(data)):
            return [(0.0, data)]
        self.done = self.drop_next_answer = True
        return [(0.0, data), (0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        if self.drop_next_answer:
            self.drop_next_answer = False
            return []
        return [(0.0, data)]


class AnswersLost:
    """Every answer to a ``msg_type`` request is lost (the pump handles each one)."""

    def __init__(self, msg_type: MsgType, times: int) -> None:
        self.msg_type, self.times = msg_type, times
        self.drop_next_answer = False

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        if self.times and any(f.msg_type == self.msg_type for f in _frames(data)):
            self.times -= 1
            self.drop_next_answer = True
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        if self.drop_next_answer:
            self.drop_next_answer = False
            return []
        return [(0.0, data)]


def _line(pump: PumpUnderTest) -> InProcessSimulator:
    assert isinstance(pump.sim, InProcessSimulator)
    return pump.sim


def _dose(pump: PumpUnderTest) -> int:
    return int(pump.client.status().dose_ng_per_day)


def test_a_late_copy_of_set_rate_is_not_reported_refused(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _line(pump).line.tamper = AnswerLostThenLateCopy(MsgType.SET_RATE)
    code = main(["--port", pump.port, "set-rate", "1.3"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "refused" not in err
    _line(pump).line.tamper = None
    assert _dose(pump) == 1_300_000
    assert changes(cli_env) == [(1_300_000, "applied")]
    assert main(["audit", "verify"]) == 0


def test_a_late_copy_of_a_bolus_is_not_reported_refused(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _line(pump).line.tamper = AnswerLostThenLateCopy(MsgType.BOLUS)
    code = main(["--port", pump.port, "bolus", "0.05"])
    err = capsys.readouterr().err
    assert code == 0, err
    _line(pump).line.tamper = None
    events, _ = pump.client.read_all_events(0)
    assert [e.code for e in events].count(EventCode.BOLUS_STARTED) == 1


def test_a_sync_overrides_an_earlier_verdict_and_verify_flags_a_mismatch(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", pump.port, "set-rate", "1.3"]) == 0
    record = ClinicalRecord.open(cli_env)
    try:
        change = record.changes("SIM000001")[-1]
        # An earlier programmer's verdict that the pump's log contradicts.
        record.finish_change(change.id, ChangeOutcome.REFUSED, "pump refused (REPLAYED)")
        assert not record.verify_audit().intact
        assert "executed it" in str(record.verify_audit().problem)
    finally:
        record.close()
    capsys.readouterr()
    assert main(["audit", "verify"]) != 0
    assert "disagrees" in capsys.readouterr().err
    assert main(["--port", pump.port, "history"]) == 0  # a sync with the pump
    assert changes(cli_env)[-1] == (1_300_000, "applied")
    assert main(["audit", "verify"]) == 0


def test_uncertain_names_the_request_id_and_what_to_do(
    pump: PumpUnderTest,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "RESOLVE_ROUNDS", 1)  # give up sooner: the suite's time
    # Every answer to the command and to every read after it is lost.
    _line(pump).line.tamper = _Mute(after=MsgType.SET_RATE)
    code = main(["--port", pump.port, "set-rate", "1.3"])
    err = capsys.readouterr().err
    assert code == 4, err
    (change,) = changes(cli_env, "request_id")
    assert change[1] == "uncertain"
    assert f"request id {change[0]}" in err
    assert "status" in err  # what to do
    _line(pump).line.tamper = None
    assert main(["--port", pump.port, "status"]) == 0
    assert changes(cli_env) == [(1_300_000, "applied")]


class _Mute:
    """The line goes silent towards the programmer from the first ``after`` request on."""

    def __init__(self, after: MsgType) -> None:
        self.after = after
        self.muted = False

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        if any(f.msg_type == self.after for f in _frames(data)):
            self.muted = True
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        return [] if self.muted else [(0.0, data)]


def test_a_lost_answer_to_an_executed_command_is_never_no_pump(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _line(pump).line.tamper = AnswersLost(MsgType.SET_RATE, times=3)
    code = main(["--port", pump.port, "set-rate", "1.3"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert changes(cli_env) == [(1_300_000, "applied")]


def test_a_command_verdict_the_pump_contradicts_is_flagged_then_overridden(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", pump.port, "catheter-check"]) == 0
    record = ClinicalRecord.open(cli_env)
    try:
        (command,) = record.commands("SIM000001")
        record.finish_command(
            command.id, CommandOutcome.NOT_SENT, "no answer"
        )  # an earlier verdict
    finally:
        record.close()
    capsys.readouterr()
    assert main(["audit", "verify"]) != 0
    assert "recorded as not-sent but the pump's log" in capsys.readouterr().err
    assert main(["--port", pump.port, "history"]) == 0
    record = ClinicalRecord.open(cli_env)
    try:
        (command,) = record.commands("SIM000001")
        assert command.outcome == "confirmed"
        assert "overrides the earlier verdict (not-sent)" in command.detail
    finally:
        record.close()
    assert main(["audit", "verify"]) == 0
