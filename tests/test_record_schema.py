"""The clinical record carries its schema version: an older record is migrated in one
transaction after a copy is made, losing nothing; a newer one is refused untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from pumpctl.clinical import schema
from pumpctl.clinical.record import ClinicalRecord, RecordError
from tests.power_cut import cut_when_inside
from tests.test_cli import run_in_process

FIXTURES = Path(__file__).parent / "fixtures"
V1_TABLES = ("readings", "pump_events", "changes", "commands", "pumps", "audit")


def v1_record(tmp_path: Path) -> Path:
    """The record as the release before schema versions wrote it (tests/fixtures)."""
    path = tmp_path / "clinical.db"
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / "clinical-record-v1.sql").read_text())
    db.close()
    return path


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in V1_TABLES
        }
    finally:
        db.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_record_is_created_at_the_current_version(tmp_path: Path) -> None:
    ClinicalRecord.open(tmp_path / "new.db").close()
    db = sqlite3.connect(tmp_path / "new.db")
    assert schema.version_of(db) == schema.VERSION
    db.close()
    assert not list(tmp_path.glob("*.bak"))  # nothing to keep a copy of


def test_a_record_of_the_previous_release_is_migrated_losing_nothing(tmp_path: Path) -> None:
    path = v1_record(tmp_path)
    before = rows(path)
    record = ClinicalRecord.open(path)
    try:
        assert record.verify_audit().intact
        assert [r.score_tenths for r in record.readings("SIM000001")] == [40, 60]
        assert [c.outcome for c in record.changes("SIM000001")] == ["applied"]
        assert [c.kind for c in record.commands("SIM000001")] == ["catheter-check"]
        assert record.pump_unit("SIM000001") == "mg"
    finally:
        record.close()
    after = rows(path)
    for table in V1_TABLES:
        width = len(before[table][0]) if before[table] else 0
        # Old columns keep every value; new columns are empty on old rows.
        assert [r[:width] for r in after[table]] == before[table], table
    assert rows(tmp_path / "clinical.db.v0.bak") == before  # the copy made first
    db = sqlite3.connect(path)
    assert schema.version_of(db) == schema.VERSION
    db.close()


def test_a_migrated_record_takes_new_rows(tmp_path: Path) -> None:
    path = v1_record(tmp_path)
    record = ClinicalRecord.open(path)
    try:
        record.log_vas("SIM000001", 1767400000, 30, events_seen=3, clinician="dr-b")
        record.set_systemic_opioid(
            "SIM000001", 1767400000, "oxycodone", "60mg/day", clinician="dr-b"
        )
        assert record.verify_audit().intact
    finally:
        record.close()


def test_a_newer_record_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = v1_record(tmp_path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    db.close()
    original = digest(path)
    with pytest.raises(RecordError, match=f"schema version {schema.VERSION + 1}, newer"):
        ClinicalRecord.open(path)
    env = {"PATH": os.environ.get("PATH", ""), "PUMPCTL_DB": str(path), "HOME": str(tmp_path)}
    result = run_in_process(env, ["audit", "verify"])
    assert result.returncode == 5
    assert result.stderr.count("\n") == 1
    assert f"newer than this pumpctl's {schema.VERSION}" in result.stderr
    assert digest(path) == original
    assert not list(tmp_path.glob("*.bak"))


def test_a_failing_step_rolls_the_whole_migration_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = v1_record(tmp_path)
    before = rows(path)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "VERSION", len(schema.MIGRATIONS))
    with pytest.raises(RecordError, match="disk I/O error"):
        ClinicalRecord.open(path)
    assert rows(path) == before
    db = sqlite3.connect(path)
    assert schema.version_of(db) == 0
    assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'").fetchone() == (
        0,
    )
    db.close()


MIGRATE_AND_HANG = """
import sys, time
from pathlib import Path
from pumpctl.clinical import audit, schema
from pumpctl.clinical.record import ClinicalRecord

def hang(db):
    db.execute("CREATE TABLE half_done (x)")
    print("inside", flush=True)  # the migration's transaction is open: cut here
    time.sleep(60)

schema.MIGRATIONS.append(hang)
schema.VERSION = len(schema.MIGRATIONS)
ClinicalRecord.open(Path(sys.argv[1]))
"""


def test_a_power_cut_during_a_migration_leaves_the_old_record(tmp_path: Path) -> None:
    path = v1_record(tmp_path)
    before = rows(path)
    cut_when_inside(MIGRATE_AND_HANG, str(path))
    db = sqlite3.connect(path)
    assert schema.version_of(db) == 0
    db.close()
    assert rows(path) == before
    record = ClinicalRecord.open(path)  # and the next open migrates it
    try:
        assert record.verify_audit().intact
    finally:
        record.close()


V2_TABLES = (*V1_TABLES, "systemic_opioids")


def test_a_version_2_record_gains_the_per_pump_indexes_losing_nothing(tmp_path: Path) -> None:
    path = tmp_path / "clinical.db"
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / "clinical-record-v2.sql").read_text())
    before = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in V2_TABLES}
    db.close()
    record = ClinicalRecord.open(path)
    try:
        assert record.verify_audit().intact
        every = record.audit_entries()
        for serial in ("SIM000001", "SIM000002"):
            assert record.audit_entries(serial) == [e for e in every if e["pump"] == serial]
        assert record.patient_id("SIM000001") == "P-0042"
        assert [r.score_tenths for r in record.readings("SIM000002")] == [50]
        trace: list[str] = []
        record._db.set_trace_callback(trace.append)
        record.audit_entries("SIM000001")
        record._patients.clear()
        record.patient_id("SIM000001")
        record.discrepancy_marks("SIM000001")
        record._db.set_trace_callback(None)
        assert len(trace) == 3
        for query in trace:  # one pump's entries are found by the index, not by a scan
            plan = record._db.execute("EXPLAIN QUERY PLAN " + query).fetchall()
            assert "USING INDEX audit_by_pump" in str(plan), query
    finally:
        record.close()
    db = sqlite3.connect(path)
    assert schema.version_of(db) == schema.VERSION == 3
    assert {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in V2_TABLES} == (
        before
    )
    db.close()
    assert (tmp_path / "clinical.db.v2.bak").exists()


def test_a_version_2_record_with_a_damaged_audit_row_opens_and_its_check_names_the_row(
    tmp_path: Path,
) -> None:
    """The per-pump index takes a row that is no longer JSON (a torn write, a disk error, a
    hand edit): the record opens, and the trail's check reports the row, as before."""
    path = tmp_path / "clinical.db"
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / "clinical-record-v2.sql").read_text())
    db.execute("UPDATE audit SET entry = substr(entry, 1, 40) WHERE seq = 4")
    db.commit()
    db.close()
    record = ClinicalRecord.open(path)
    try:
        report = record.verify_audit()
        assert (report.intact, report.problem) == (False, "entry 4 was altered")
        assert record.patient_id("SIM000001") == "P-0042"  # the other rows still read
    finally:
        record.close()
