"""The faces (CLI, TUI, report) change therapy only through the programmer: no face calls a
client method that changes therapy. And the programmer resolves a lost answer to any command
by reading the pump back, never by sending it again."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from pumpctl.client import PumpClient
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.link.errors import OutcomeUncertain, PumpRefused
from pumpctl.programmer import (
    Bolus,
    ConfirmationRequired,
    Confirmations,
    Context,
    Plan,
    Programmer,
    ProgrammerRefusal,
    Refill,
    Review,
    SetRate,
    Stop,
)
from pumpctl.protocol.messages import (
    Command,
    EventCode,
    Nak,
    NakCode,
    PumpState,
    SetRateRequest,
)
from pumpctl.testing.plugin import PumpUnderTest

SRC = Path(__file__).resolve().parent.parent / "src" / "pumpctl"
FACES = [
    SRC / "cli.py",
    *sorted(SRC.glob("cli_*.py")),
    SRC / "report.py",
    *sorted((SRC / "tui").rglob("*.py")),
]
CLIENT_MUTATIONS = {
    "set_rate",
    "bolus",
    "demand_bolus",
    "stop",
    "resume",
    "catheter_check",
    "refill",
    "ack_alarm",
    "write_limits",
    "send",
    "send_once",
    "enrol_programmer",
    "revoke_programmer",
}


def test_the_mutations_listed_are_the_clients_commands() -> None:
    assert {name for name in dir(PumpClient) if not name.startswith("_")} >= CLIENT_MUTATIONS


# What a face may ask the client itself: reads, and closing the link.
CLIENT_READS = {"read_alarms", "read_all_events", "read_events", "status", "identify", "close"}


def therapy_behind_the_programmers_back(source: str) -> list[str]:
    """Through any name: a command's method name called on anything but a Textual event
    (``event.stop()``), or whatever holds a client asked for more than a read."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value)
            if node.func.attr in CLIENT_MUTATIONS and receiver != "event":
                found.append(f"line {node.lineno}: {ast.unparse(node.func)}")
        holds_client = isinstance(node, ast.Attribute) and ast.unparse(node.value).endswith(
            "client"
        )
        if holds_client and isinstance(node, ast.Attribute) and node.attr not in CLIENT_READS:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("face", FACES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_face_calls_a_client_mutation(face: Path) -> None:
    assert therapy_behind_the_programmers_back(face.read_text()) == []


def test_the_rule_sees_a_client_behind_another_name() -> None:
    hidden = (
        "async def f(self, event):\n"
        "    c = self.client\n"
        "    await c.stop()\n"
        "    await self.client.refill(1, 2, 3)\n"
        "    await self.client.read_all_events(0)\n"
        "    event.stop()\n"
    )
    found = therapy_behind_the_programmers_back(hidden)
    assert sorted(found) == [
        "line 3: c.stop",
        "line 4: self.client.refill",
        "line 4: self.client.refill",
    ]


@pytest.mark.needs_simulator
def test_a_lost_answer_to_a_bolus_is_resolved_by_reading_back(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    """The pump gives the bolus but its answer is lost: the programmer asks QUERY_OUTCOME,
    reads back, and records it confirmed; the bolus ran once."""

    async def go(client: PumpClient) -> tuple[bool, int]:
        class LosesTheAnswer:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            async def send_once(self, request: Command) -> Any:
                await client.send_once(request)
                raise OutcomeUncertain("no answer (lost on the line)", request.request_id)

        record = ClinicalRecord.open(tmp_path / "clinical.db")
        try:
            programmer = Programmer(LosesTheAnswer(), record, clinician="dr-line")  # type: ignore[arg-type]
            result = await programmer.run(Bolus(100_000, 600))
            (command,) = record.commands()
            assert (command.kind, command.outcome, command.clinician) == (
                "bolus",
                "confirmed",
                "dr-line",
            )
            events, _ = await client.read_all_events(0)
            started = [e for e in events if e.code == EventCode.BOLUS_STARTED]
            return result.resolved_after_lost_answer, len(started)
        finally:
            record.close()

    assert pump.client.run(go) == (True, 1)


@pytest.mark.needs_simulator
def test_commands_left_pending_by_a_dead_programmer_are_settled_from_the_event_log(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    """A programmer killed between committing a command's intent and recording the answer:
    the next session settles it from the pump's log -- run if the pump logged it, not sent if
    the pump never saw it."""
    db = tmp_path / "clinical.db"
    serial = pump.client.identify().serial_number
    now_s = pump.client.status().pump_time_s
    record = ClinicalRecord.open(db)
    try:
        sent = record.begin_command(
            serial, now_s, clinician="dr-a", kind="stop", request_id=0xA1, review={}
        )
        lost = record.begin_command(
            serial, now_s, clinician="dr-a", kind="bolus", request_id=0xB2, review={}
        )
    finally:
        record.close()
    pump.client.stop(request_id=0xA1)  # reached the pump; its answer never reached the record

    async def next_session(client: PumpClient) -> dict[int, str]:
        record = ClinicalRecord.open(db)
        try:
            programmer = Programmer(client, record, clinician="dr-b")
            await programmer.sync_record(await programmer.interrogate())
            return {c.id: c.outcome for c in record.commands(serial)}
        finally:
            record.close()

    assert pump.client.run(next_session) == {sent: "confirmed", lost: "not-sent"}
    record = ClinicalRecord.open(db)
    try:
        assert record.verify_audit().intact
    finally:
        record.close()


@pytest.mark.needs_simulator
def test_a_session_refusal_of_an_executed_command_is_resolved_not_recorded_refused(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    """The pump ran the stop, but what came back was a REPLAYED refusal (one late copy of the
    frame, or a forgery on the line): the programmer asks the pump, and records the truth."""

    async def go(client: PumpClient) -> tuple[bool, str]:
        class ReplayedCopy:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            async def send_once(self, request: Command) -> Any:
                await client.send_once(request)
                raise PumpRefused(Nak(code=NakCode.REPLAYED, limit=0, detail="counter reused"))

        record = ClinicalRecord.open(tmp_path / "clinical.db")
        try:
            programmer = Programmer(ReplayedCopy(), record, clinician="dr-line")  # type: ignore[arg-type]
            result = await programmer.run(Stop(), Confirmations(withdrawal_risk=True))
            (command,) = record.commands()
            return result.resolved_after_lost_answer, command.outcome
        finally:
            record.close()

    assert pump.client.run(go) == (True, "confirmed")
    assert pump.client.status().state == PumpState.STOPPED


@pytest.mark.needs_simulator
def test_a_plan_built_by_hand_cannot_skip_the_checks_or_the_confirmations(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    async def go(client: PumpClient) -> None:
        record = ClinicalRecord.open(tmp_path / "clinical.db")
        try:
            programmer = Programmer(client, record)
            seen = await programmer.interrogate()
            ctx = Context(seen)
            bare = Review("nothing to see")
            with pytest.raises(ConfirmationRequired):
                await programmer.execute(Plan(Stop(), ctx, bare))
            unchanged_with_bridge = Refill(seen.status.reservoir_ul, 20_000, bridge_bolus_ng=1)
            with pytest.raises(ProgrammerRefusal):
                await programmer.execute(Plan(unchanged_with_bridge, ctx, bare))
            assert record.commands() == []
        finally:
            record.close()

    pump.client.run(go)
    assert pump.client.status().state == PumpState.RUNNING


@pytest.mark.needs_simulator
def test_only_the_confirmations_the_review_asked_for_are_sent_and_recorded(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    sent: list[Command] = []

    async def go(client: PumpClient) -> dict[str, Any]:
        class Recording:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            async def send_once(self, request: Command) -> Any:
                sent.append(request)
                return await client.send_once(request)

        record = ClinicalRecord.open(tmp_path / "clinical.db")
        try:
            programmer = Programmer(Recording(), record)  # type: ignore[arg-type]
            everything = Confirmations(True, "always passed", True, True)
            await programmer.run(SetRate(1_500_000), everything)
            requested = [e for e in record.audit_entries() if e["action"] == "change-requested"]
            return dict(requested[-1]["data"]["review"]["confirmations"])
        finally:
            record.close()

    recorded = pump.client.run(go)
    assert recorded == {
        "large_change": False,
        "discrepancy_reason": "",
        "withdrawal_risk": False,
        "full_dose_restart": False,
    }
    (request,) = sent
    assert isinstance(request, SetRateRequest)
    assert not request.confirm_large_change
