"""Every therapy command from the shell takes the one path: checks and review before anything
is sent, confirmations named by their flag, the pump read back, and the audit trail under the
clinician's name -- against the simulator on a real pty."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pumpctl.protocol.messages import EventCode, PumpState
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_fails, assert_ok, env, pumpctl, status_json

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = pytest.mark.needs_simulator
DAY_MS = 86_400_000


def reservoir_ul(env: dict[str, str], port: str) -> int:
    status = status_json(env, port)["status"]
    assert isinstance(status, dict)
    return int(status["reservoir_ul"])


def audit(env: dict[str, str]) -> list[dict[str, object]]:
    out = assert_ok(pumpctl(env, "--json", "audit", "show"))
    entries = json.loads(out)["entries"]
    assert isinstance(entries, list)
    return entries


def commands(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(kind, outcome, clinician) of every therapy command in the record."""
    db = sqlite3.connect(env["PUMPCTL_DB"])
    try:
        rows = db.execute("SELECT kind, outcome, clinician FROM commands ORDER BY id").fetchall()
    finally:
        db.close()
    return [(str(k), str(o), str(c)) for k, o, c in rows]


def refill_events(pump: PumpUnderTest) -> list[int]:
    events, _ = pump.client.read_all_events(0)
    return [e.index for e in events if e.code == EventCode.REFILLED]


def test_a_pocket_fill_discrepancy_stops_the_refill_before_it_is_sent(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    expected = reservoir_ul(env, pump.port)
    withdrawn = f"{(expected - 10_000) / 1000:.3f}"  # 10 mL short
    result = pumpctl(env, "refill", "--withdrawn", withdrawn, "--added", "20", port=pump.port)
    assert_fails(result, 1, "not sent", "LESS", "pocket fill", "--discrepancy-reason")
    assert "Expected residual" in result.stdout  # the review came first
    assert refill_events(pump) == []
    assert reservoir_ul(env, pump.port) <= expected

    out = assert_ok(
        pumpctl(
            env,
            "refill",
            "--withdrawn",
            withdrawn,
            "--added",
            "20",
            "--discrepancy-reason",
            "needle repositioned under fluoroscopy; residual confirmed",
            port=pump.port,
        )
    )
    assert "Refilled" in out
    assert len(refill_events(pump)) == 1
    requested = [e for e in audit(env) if e["action"] == "command-requested"]
    review = requested[-1]["data"]["review"]  # type: ignore[index]
    assert review["confirmations"]["discrepancy_reason"].startswith("needle repositioned")
    assert ("refill", "confirmed", "test") in commands(env)


def test_more_withdrawn_than_expected_is_named_possible_under_delivery(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    expected = reservoir_ul(env, pump.port)
    withdrawn = f"{(expected + 1_001) / 1000:.3f}"  # 1 µL past the 1 mL tolerance
    result = pumpctl(env, "refill", "--withdrawn", withdrawn, "--added", "20", port=pump.port)
    assert_fails(result, 1, "MORE", "under-delivery")
    at_tolerance = f"{(expected + 1_000) / 1000:.3f}"
    assert_ok(pumpctl(env, "refill", "--withdrawn", at_tolerance, "--added", "20", port=pump.port))


def test_a_tenfold_concentration_slip_needs_confirming_and_shows_the_flow(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    withdrawn = f"{reservoir_ul(env, pump.port) / 1000:.3f}"
    args = ("refill", "--withdrawn", withdrawn, "--added", "20", "--concentration", "2.5")
    result = pumpctl(env, *args, "--waive-bridge", port=pump.port)
    assert_fails(result, 1, "not sent", "--confirm-large-change")
    assert "25 mg/mL -> 2.5 mg/mL" in result.stdout
    assert "0.056 mL/day -> 0.56 mL/day" in result.stdout  # the flow at 1.4 mg/day
    assert refill_events(pump) == []


def test_bridge_bolus_bounds(pump: PumpUnderTest, env: dict[str, str]) -> None:
    withdrawn = f"{reservoir_ul(env, pump.port) / 1000:.3f}"
    base = ("refill", "--withdrawn", withdrawn, "--added", "20")
    too_big = pumpctl(env, *base, "--concentration", "10", "--bridge-bolus", "15", port=pump.port)
    assert_fails(too_big, 1, "BOLUS_TOO_LARGE", "15 mg", "maximum")
    unchanged = pumpctl(env, *base, "--bridge-bolus", "0.5", port=pump.port)
    assert_fails(unchanged, 1, "concentration is unchanged")
    missing = pumpctl(env, *base, "--concentration", "10", port=pump.port)
    assert_fails(missing, 1, "BRIDGE_BOLUS_REQUIRED", "--waive-bridge")
    assert refill_events(pump) == []
    out = assert_ok(
        pumpctl(
            env,
            *base,
            "--concentration",
            "10",
            "--bridge-bolus",
            "0.5",
            "--confirm-large-change",
            port=pump.port,
        )
    )
    assert "at 10 mg/mL, confirmed" in out
    assert pump.client.identify().concentration_ng_per_ml == 10_000_000


def test_a_decimal_slip_downwards_needs_confirming(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    # At 1 mg/mL the pump's minimum flow allows doses down to 0.048 mg/day.
    withdrawn = f"{reservoir_ul(env, pump.port) / 1000:.3f}"
    refill = ("refill", "--withdrawn", withdrawn, "--added", "20", "--concentration", "1")
    assert_ok(pumpctl(env, *refill, "--waive-bridge", "--confirm-large-change", port=pump.port))
    result = pumpctl(env, "set-rate", "0.14", port=pump.port)
    assert_fails(result, 1, "not sent", "below half", "--confirm-large-change")
    assert pump.client.status().dose_ng_per_day == 1_400_000
    assert_ok(pumpctl(env, "set-rate", "0.8", port=pump.port))  # a cut above half goes through
    assert_ok(pumpctl(env, "set-rate", "0.08", "--confirm-large-change", port=pump.port))
    assert pump.client.status().dose_ng_per_day == 80_000


def test_the_current_dose_sends_nothing_and_says_so(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    out = assert_ok(pumpctl(env, "set-rate", "1.4", port=pump.port))
    assert "nothing sent" in out
    events, _ = pump.client.read_all_events(0)
    assert EventCode.RATE_CHANGED not in [e.code for e in events]


def test_below_minimum_flow_says_what_to_do_instead(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    line = assert_fails(
        pumpctl(env, "set-rate", "1.19", "--confirm-large-change", port=pump.port), 1
    )
    assert "lower concentration" in line
    assert "stop the pump" not in line
    assert "nL" not in line


def test_stop_names_the_withdrawal_risk_and_resume_how_long_it_was_off(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert pump.sim is not None
    result = pumpctl(env, "stop", port=pump.port)
    assert_fails(result, 1, "not sent", "withdrawal", "--confirm-withdrawal-risk")
    assert pump.client.status().state == PumpState.RUNNING
    out = assert_ok(pumpctl(env, "stop", "--confirm-withdrawal-risk", port=pump.port))
    assert "withdrawal" in out
    assert "Pump stopped, confirmed by read-back" in out
    alarms = assert_ok(pumpctl(env, "alarms", port=pump.port))
    assert "PUMP_STOPPED" in alarms
    pump.sim.advance(8 * DAY_MS)
    result = pumpctl(env, "resume", port=pump.port)
    assert_fails(result, 1, "not sent", "re-titration interval", "--confirm-full-dose")
    assert pump.client.status().state == PumpState.STOPPED
    out = assert_ok(pumpctl(env, "resume", "--confirm-full-dose", port=pump.port))
    assert "1.4 mg/day" in out
    assert "Off for" in out
    assert "8 d" in out
    assert "re-titration interval" in out
    assert "PUMP_STOPPED" not in assert_ok(pumpctl(env, "alarms", port=pump.port))


def test_every_therapy_command_is_in_the_audit_trail_under_the_clinician(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert_ok(pumpctl(env, "bolus", "0.1", port=pump.port))
    assert_fails(pumpctl(env, "bolus", "0.1", port=pump.port), 1, "BOLUS_LOCKOUT")
    assert_ok(pumpctl(env, "catheter-check", port=pump.port))
    assert_ok(pumpctl(env, "stop", "--confirm-withdrawal-risk", port=pump.port))
    assert_ok(pumpctl(env, "ack", "PUMP_STOPPED", port=pump.port))
    assert_ok(pumpctl(env, "resume", port=pump.port))
    withdrawn = f"{reservoir_ul(env, pump.port) / 1000:.3f}"
    assert_ok(pumpctl(env, "refill", "--withdrawn", withdrawn, "--added", "20", port=pump.port))
    assert commands(env) == [
        ("bolus", "confirmed", "test"),
        ("bolus", "refused", "test"),
        ("catheter-check", "confirmed", "test"),
        ("stop", "confirmed", "test"),
        ("ack-alarm", "confirmed", "test"),
        ("resume", "confirmed", "test"),
        ("refill", "confirmed", "test"),
    ]
    shown = assert_ok(pumpctl(env, "audit", "show"))
    assert "command-refused bolus: pump refused (BOLUS_LOCKOUT)" in shown
    assert "Audit trail intact" in assert_ok(pumpctl(env, "audit", "verify"))
    out_dir = Path(env["PUMPCTL_DB"]).parent / "report"
    out_dir.mkdir()
    assert_ok(pumpctl(env, "report", "--out", str(out_dir), port=pump.port))
    (markdown,) = out_dir.glob("*.md")
    text = markdown.read_text()
    assert "Refill morphine by test: CONFIRMED" in text
    assert "Give a bolus by test: REFUSED - pump refused (BOLUS_LOCKOUT)" in text


def test_json_keeps_exact_integers_with_units_in_the_keys(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    out = assert_ok(pumpctl(env, "--json", "set-rate", "1.5", port=pump.port))
    data = json.loads(out)
    assert data["outcome"] == "confirmed"
    assert data["dose_ng_per_day"] == 1_500_000
    assert data["unit"] == "mg"
    assert ["Dose", "1.4 mg/day", "1.5 mg/day"] in data["review"]["rows"]


def test_offline_history_reads_the_drug_unit_the_record_remembers(
    pump: PumpUnderTest, env: dict[str, str], tmp_path: Path
) -> None:
    assert_ok(pumpctl(env, "set-rate", "1.5", port=pump.port))
    serial = pump.client.identify().serial_number
    out = assert_ok(pumpctl(env, "history", "--serial", serial))
    assert "1.4 mg/day -> 1.5 mg/day" in out
    assert_fails(pumpctl(env, "history", "--serial", "NOSUCH"), 2, "not in the clinical record")
