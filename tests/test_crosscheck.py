"""The pump and the clinical record check each other on every interrogation: a dose no
recorded change explains, a record that knows nothing of a programmed pump, an event log
that went backwards, tampered readings -- each is shown and blocks increases until a
clinician reconciles it, and never blocks a decrease."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Static

from pumpctl.clinical.record import ClinicalRecord
from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator
from tests.clinical.clinic import Clinic
from tests.test_cli import assert_fails, assert_ok, env, pumpctl, status_json
from tests.tui.conftest import SERIAL, SIZE, connected, make_app, plain, run_async

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = pytest.mark.needs_simulator


def dose_ng(env: dict[str, str], port: str) -> int:
    status = status_json(env, port)["status"]
    assert isinstance(status, dict)
    return int(status["dose_ng_per_day"])


def flip_dose(pump: PumpUnderTest[InProcessSimulator], bit: int) -> int:
    """Flip one bit of the dose in the pump's memory, behind the programmer's back."""
    assert pump.sim is not None
    simulator = pump.sim.simulator
    with simulator.lock:
        state = simulator.pump.state
        state.dose_ng_per_day ^= 1 << bit
        return int(state.dose_ng_per_day)


def audit_actions(env: dict[str, str]) -> list[str]:
    db = sqlite3.connect(env["PUMPCTL_DB"])
    try:
        rows = db.execute("SELECT entry FROM audit ORDER BY seq").fetchall()
    finally:
        db.close()
    return [str(r[0]).split('"action":"', 1)[1].split('"', 1)[0] for r in rows]


def test_a_flipped_dose_is_shown_blocks_increases_not_decreases_until_reconciled(
    pump: PumpUnderTest[InProcessSimulator], env: dict[str, str], tmp_path: Path
) -> None:
    port = pump.port
    assert_ok(pumpctl(env, "set-rate", "1.5", port=port))
    flipped = flip_dose(pump, 21)  # 1.5 -> 3.597152 mg/day
    assert flipped == 3_597_152

    out = assert_ok(pumpctl(env, "status", port=port))
    assert "Discrepancy the pump delivers 3.597152 mg/day" in out
    assert "set 1.5 mg/day: no recorded change explains the dose" in out
    assert "pumpctl reconcile --reason TEXT" in out
    assert audit_actions(env).count("discrepancy-found") == 1

    assert_fails(
        pumpctl(env, "set-rate", "3.7", port=port), 1, "DISCREPANCY_UNACKNOWLEDGED", "reconcile"
    )
    assert_fails(pumpctl(env, "bolus", "0.1", port=port), 1, "DISCREPANCY_UNACKNOWLEDGED")
    assert dose_ng(env, port) == flipped

    # A decrease goes ahead (below half: the slipped-decimal confirmation, as always).
    assert_ok(pumpctl(env, "set-rate", "1.5", "--confirm-large-change", port=port))
    assert dose_ng(env, port) == 1_500_000
    assert status_json(env, port)["discrepancies"] == []

    flip_dose(pump, 21)
    assert_fails(pumpctl(env, "reconcile", "--reason", " ", port=port), 2, "reason")
    out = assert_ok(pumpctl(env, "reconcile", "--reason", "dose checked at the bedside", port=port))
    assert out.startswith("Reconciled  the pump delivers 3.597152 mg/day")
    assert status_json(env, port)["discrepancies"] == []
    assert "discrepancy-reconciled" in audit_actions(env)
    assert "nothing to reconcile" in assert_ok(
        pumpctl(env, "reconcile", "--reason", "again", port=port)
    )
    assert "intact" in assert_ok(pumpctl(env, "audit", "verify"))
    assert_ok(pumpctl(env, "report", "--out", str(tmp_path), port=port))
    (markdown,) = tmp_path.glob("*.md")
    text = markdown.read_text()
    assert "found: the pump delivers 3.597152 mg/day" in text
    assert "reconciled by test (dose checked at the bedside)" in text


def test_a_concentration_no_recorded_refill_explains_is_a_discrepancy(
    pump: PumpUnderTest[InProcessSimulator], env: dict[str, str]
) -> None:
    port = pump.port
    status = status_json(env, port)["status"]
    assert isinstance(status, dict)
    withdrawn = f"{int(status['reservoir_ul']) / 1000:.3f}"
    assert_ok(pumpctl(env, "refill", "--withdrawn", withdrawn, "--added", "20", port=port))
    assert pump.sim is not None
    simulator = pump.sim.simulator
    with simulator.lock:
        simulator.pump.state.concentration_ng_per_ml ^= 1 << 25  # 25 -> 58.554432 mg/mL

    out = assert_ok(pumpctl(env, "status", port=port))
    assert "the pump holds 58.554432 mg/mL but the last confirmed command" in out
    assert "left 25 mg/mL: no recorded refill explains it" in out
    assert_fails(pumpctl(env, "set-rate", "1.5", port=port), 1, "DISCREPANCY_UNACKNOWLEDGED")


@pytest.mark.parametrize("how", ["truncated", "deleted"])
def test_a_record_emptied_while_the_pump_has_history_is_detected(
    pump: PumpUnderTest, env: dict[str, str], how: str
) -> None:
    port = pump.port
    assert_ok(pumpctl(env, "set-rate", "1.5", port=port))
    record = Path(env["PUMPCTL_DB"])
    if how == "truncated":
        record.write_bytes(b"")
    else:
        record.unlink()

    found = status_json(env, port)["discrepancies"]
    assert isinstance(found, list)
    assert [d["kind"] for d in found] == ["unknown-history"]
    assert_ok(pumpctl(env, "vas", "8", port=port))
    assert_fails(
        pumpctl(env, "set-rate", "1.6", port=port),
        1,
        "knows nothing of: the record was emptied or replaced",
    )
    assert dose_ng(env, port) == 1_500_000
    assert_ok(pumpctl(env, "set-rate", "1.45", port=port))  # a decrease goes ahead


def test_a_pump_whose_event_log_was_reset_is_detected_and_reconciled(
    pump: PumpUnderTest[InProcessSimulator], env: dict[str, str]
) -> None:
    sim = pump.sim
    assert sim is not None
    assert_ok(pumpctl(env, "set-rate", "1.5", port=pump.port))
    sim.stop()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sim.state_path}{suffix}").unlink(missing_ok=True)
    port = sim.start().port  # first boot, the same serial number

    out = assert_ok(pumpctl(env, "status", port=port))
    assert "the pump's event log went backwards" in out
    assert_fails(pumpctl(env, "set-rate", "1.5", port=port), 1, "DISCREPANCY_UNACKNOWLEDGED")
    out = assert_ok(pumpctl(env, "reconcile", "--reason", "pump memory reset", port=port))
    assert "went backwards" in out
    assert status_json(env, port)["discrepancies"] == []
    assert_ok(pumpctl(env, "set-rate", "1.5", port=port))
    assert "intact" in assert_ok(pumpctl(env, "audit", "verify"))


def test_tampered_readings_are_not_used_by_the_guard(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    port = pump.port
    assert_ok(pumpctl(env, "vas", "9", port=port))
    db = sqlite3.connect(env["PUMPCTL_DB"])
    with db:
        db.execute("UPDATE readings SET score_tenths = 20")
    db.close()
    assert_fails(
        pumpctl(env, "set-rate", "1.5", port=port), 5, "audit trail does not verify", "no increase"
    )
    assert dose_ng(env, port) == 1_400_000
    assert_ok(pumpctl(env, "set-rate", "1.3", port=port))  # a decrease goes ahead


@run_async
async def test_the_terminal_programmer_shows_a_discrepancy_in_a_banner(tmp_path: Path) -> None:
    record = ClinicalRecord.open(tmp_path / "clinic.db")
    try:  # the record mirrored a log the pump no longer holds
        record.mirror_events(
            SERIAL,
            [
                EventRecord(
                    index=0,
                    time_s=0,
                    code=EventCode.RATE_CHANGED,
                    request_id=7,
                    value_a=1_400_000,
                    value_b=2_000_000,
                    detail="1.4 -> 2 mg/day",
                )
            ],
        )
    finally:
        record.close()
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        banner = app.query_one("#discrepancy", Static)
        assert banner.has_class("shown")
        text = plain(banner)
        assert "DISCREPANCY: the pump's event log went backwards" in text
        assert "pumpctl reconcile --reason TEXT" in text


def test_a_second_programmers_increase_counts_in_the_first_ones_guard(
    pump: PumpUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two programmers, two records, one pump (docs/programmer.md, "More than one
    programmer"): each sees the other's doses through the pump's log, not its pain scores."""
    assert pump.sim is not None
    office = Clinic(pump.sim, tmp_path / "office.db", capsys)
    ward = Clinic(pump.sim, tmp_path / "ward.db", capsys)
    for step in ("vas 4", "days 3", "set-rate 1.6", "days 1", "vas 4.5"):
        office.step(step)

    code, _, err = ward.run("set-rate 1.8")  # new to a pump with a history: held
    assert code == 1
    assert "DISCREPANCY_UNACKNOWLEDGED" in err
    ward.ok("reconcile --reason 'second programmer: ward record'")
    ward.ok("vas 5")
    ward.ok("set-rate 1.8")

    code, decision, _ = office.propose("2.0")  # the ward's increase, no reading here since
    assert code == 1
    assert decision["rule"] == "no-reassessment"
    assert office.dose() == 1_800_000
