"""What a clinician reads of the guard: the CLI's text and JSON, the visit report, and the
pain scores logged with when they were taken, or without the pump."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from pumpctl.clinical.record import ClinicalRecord
from tests.clinical.clinic import Clinic
from tests.clinical.test_scenarios import CASE

pytestmark = pytest.mark.needs_simulator


def test_the_text_names_the_rule_the_evidence_with_times_and_what_to_do(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    for step in CASE:
        clinic.step(step)
    code, out, err = clinic.run("set-rate 2.0")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("Guard: HOLD (delivery-first) - rule out a delivery failure")
    assert "  2026-01-04 00:00  1.4 mg/day -> 1.6 mg/day: VAS 4 (2026-01-01 00:00) -> 6" in out
    assert "Rule out a delivery failure:" in lines
    assert "Run a catheter check (pumpctl catheter-check), then try again." in lines
    assert "--override-reason" not in out  # a catheter check, not a reason, clears it
    assert err.count("\n") == 1

    clinic.step("hours 1")
    clinic.step("catheter-check")
    code, out, _ = clinic.run(
        "set-rate 2.0 --override-reason delivery-fault-corrected --override-note 'no fault found'"
    )
    assert code == 1
    assert "Guard: BLOCK (step-rise)" in out
    assert "Override refused: a corrected delivery fault is a reason to return to the dose" in out


def test_an_allowed_increase_carries_its_warnings_into_the_review_and_the_audit(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    for step in ("opioids set oxycodone 240mg/day", "vas 6", "days 1", "set-rate 1.6"):
        clinic.step(step)
    clinic.step("days 1")
    clinic.step("vas 5")
    out = clinic.ok("set-rate 1.8")
    assert "! Guard (taper-systemic-first): taper systemic opioids first: 360 MME/day" in out
    entries = json.loads(clinic.ok("--json audit show"))["entries"]
    warn = [e for e in entries if e["action"] == "guard-warn"][-1]
    assert warn["data"]["rule"] == "no-pattern"
    assert warn["data"]["proposed_ng_per_day"] == 1_800_000
    requested = [e for e in entries if e["action"] == "change-requested"][-1]
    assert any("taper systemic" in w for w in requested["data"]["review"]["warnings"])


def test_the_visit_report_carries_each_verdict_with_its_rule_and_evidence(
    clinic_for: Callable[..., Clinic], tmp_path: Path
) -> None:
    clinic = clinic_for()
    for step in (*CASE, "hours 1", "catheter-check"):
        clinic.step(step)
    clinic.run("set-rate 2.0")
    clinic.ok(f"report --out {tmp_path} --since-hours 240")
    markdown = next(tmp_path.glob("*.md")).read_text()
    (line,) = [x for x in markdown.splitlines() if "BLOCK (step-rise) of 2 mg/day" in x]
    assert "suspect opioid-induced hyperalgesia" in line
    assert "evidence: " in line
    assert "1.6 mg/day -> 1.8 mg/day: VAS 6 (2026-01-05 00:00) -> 8 (2026-01-06 00:00)" in line


def test_a_score_with_its_time_taken_or_without_the_pump(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    clinic.step("days 1")
    data = json.loads(clinic.ok("--json vas 5 --taken-at -2h"))
    assert data["logged_s"] - data["time_s"] == 7200
    text = clinic.ok("vas 6 --taken-at 2026-01-01T18:00")
    assert text.startswith("VAS 6 logged at 2026-01-02 00:00:00 UTC, taken at 2026-01-01 18:00")
    # a phone follow-up: no pump, on the record's timeline
    out = clinic.ok("vas --serial SIM000001 4 --note 'phone'")
    assert out.startswith("VAS 4 logged at 2026-01-02 00:00")
    history = json.loads(clinic.ok("--json history --serial SIM000001"))["timeline"]
    assert [(r["kind"], r["value"]) for r in history] == [("vas", 60), ("vas", 50), ("vas", 40)]
    assert "Audit trail intact" in clinic.ok("audit verify")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("vas 5 --taken-at yesterday", "taken-at 'yesterday' is neither"),
        ("vas 5 --taken-at +2h", "taken-at '+2h' is neither"),
        ("vas 5 --taken-at 2027-01-01T00:00", "is in the future"),
        ("vas --serial NOPE 5", "pump NOPE is not in the clinical record"),
    ],
)
def test_a_bad_time_or_pump_is_one_line_and_writes_nothing(
    clinic_for: Callable[..., Clinic], line: str, says: str
) -> None:
    clinic = clinic_for()
    code, out, err = clinic.run(line)
    assert (code, out) == (2, "")
    assert err.startswith("pumpctl: ")
    assert says in err
    assert len(err.splitlines()) == 1


def test_a_record_from_before_taken_at_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    record = ClinicalRecord.open(path)
    record.log_vas("SN1", 100, 40, events_seen=0, clinician="a")
    record.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE readings DROP COLUMN taken_at_s")  # the layout of version 1
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    record = ClinicalRecord.open(path)
    try:
        record.log_vas("SN1", 200, 50, events_seen=0, clinician="a", taken_at_s=150)
        assert [(r.time_s, r.score_tenths, r.logged_s) for r in record.readings("SN1")] == [
            (100, 40, None),
            (150, 50, 200),
        ]
        assert record.verify_audit().intact
    finally:
        record.close()
