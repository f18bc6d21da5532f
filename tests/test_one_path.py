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
from pumpctl.link.errors import OutcomeUncertain
from pumpctl.programmer import Bolus, Programmer
from pumpctl.protocol.messages import Command, EventCode
from pumpctl.testing.plugin import PumpUnderTest

SRC = Path(__file__).resolve().parent.parent / "src" / "pumpctl"
FACES = [SRC / "cli.py", SRC / "report.py", *sorted((SRC / "tui").rglob("*.py"))]
CLIENT_MUTATIONS = {
    "set_rate",
    "bolus",
    "stop",
    "resume",
    "catheter_check",
    "refill",
    "ack_alarm",
    "write_limits",
    "send",
    "send_once",
}


def test_the_mutations_listed_are_the_clients_commands() -> None:
    assert {name for name in dir(PumpClient) if not name.startswith("_")} >= CLIENT_MUTATIONS


@pytest.mark.parametrize("face", FACES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_face_calls_a_client_mutation(face: Path) -> None:
    tree = ast.parse(face.read_text())
    offences = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = ast.unparse(node.func.value)
        if node.func.attr in CLIENT_MUTATIONS and "client" in receiver.lower():
            offences.append(f"line {node.lineno}: {ast.unparse(node.func)}")
    assert offences == [], f"{face.name} changes therapy behind the programmer's back"


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
