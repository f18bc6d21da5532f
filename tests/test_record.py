"""The clinical record: its hash-chained audit trail, what ``verify`` detects (and what it
cannot), and a record that cannot be opened or written failing cleanly before the pump is
told anything."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpctl.clinical import audit
from pumpctl.clinical.record import ChangeOutcome, ClinicalRecord, RecordError
from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import run_in_process

SERIAL = "SN1"


# --- helpers -----------------------------------------------------------------------------


def pumpctl(
    db: Path | str, *args: str, port: str | None = None, keys: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PUMPCTL_PORT", "PUMPCTL_HIL_PORT")}
    env["PUMPCTL_DB"] = str(db)
    env["PUMPCTL_CLINICIAN"] = "dr-test"
    env["XDG_DATA_HOME"] = str(Path(db).parent / "xdg")
    if keys is not None:
        env["PUMPCTL_KEYSTORE"] = str(keys)
    return run_in_process(env, [*(["--port", port] if port else []), *args])


def one_line_failure(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pumpctl: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def filled_record(path: Path) -> None:
    """Seven audit entries: VAS, a change applied, VAS, a change refused, a guard note."""
    record = ClinicalRecord.open(path)
    try:
        record.mirror_events(SERIAL, [event(0, EventCode.BOOT, 0, 0, 0)])
        record.log_vas(SERIAL, 100, 40, events_seen=0, clinician="a")  # 1
        change = record.begin_change(  # 2
            SERIAL,
            200,
            clinician="a",
            old_ng_per_day=1_400_000,
            new_ng_per_day=1_600_000,
            request_id=77,
        )
        record.mirror_events(SERIAL, [event(1, EventCode.RATE_CHANGED, 77, 1_400_000, 1_600_000)])
        record.finish_change(change, ChangeOutcome.APPLIED, "verified by read-back")  # 3
        record.log_vas(SERIAL, 300, 60, events_seen=1, clinician="a", note="worse")  # 4
        change = record.begin_change(  # 5
            SERIAL,
            400,
            clinician="a",
            old_ng_per_day=1_600_000,
            new_ng_per_day=1_800_000,
            request_id=78,
        )
        record.finish_change(change, ChangeOutcome.REFUSED, "pump refused (INCREASE_TOO_SOON)")  # 6
        record.note(SERIAL, "a", "guard-hold", 500, reason="reassess")  # 7
    finally:
        record.close()


def event(index: int, code: EventCode, request_id: int, a: int, b: int) -> EventRecord:
    return EventRecord(
        index=index,
        time_s=index * 100,
        code=code,
        request_id=request_id,
        value_a=a,
        value_b=b,
        detail="",
    )


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A direct SQLite connection, as someone editing the file outside pumpctl would use."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def verify(path: Path) -> tuple[int, str | None]:
    record = ClinicalRecord.open(path)
    try:
        report = record.verify_audit()
    finally:
        record.close()
    return report.entries, report.problem


def audit_count(path: Path) -> int:
    with raw(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "clinical.db"
    filled_record(path)
    return path


# --- the chain ---------------------------------------------------------------------------


def test_a_fresh_record_verifies(tmp_path: Path) -> None:
    assert verify(tmp_path / "new.db") == (0, None)


def test_a_record_written_through_the_api_verifies(db: Path) -> None:
    assert verify(db) == (7, None)
    record = ClinicalRecord.open(db)
    try:
        entries = record.audit_entries()
    finally:
        record.close()
    assert [e["action"] for e in entries] == [
        "vas-logged",
        "change-requested",
        "change-applied",
        "vas-logged",
        "change-requested",
        "change-refused",
        "guard-hold",
    ]
    assert [e["seq"] for e in entries] == list(range(1, 8))


def test_an_edited_entry_is_detected_at_its_seq(db: Path) -> None:
    with raw(db) as sql:
        text = sql.execute("SELECT entry FROM audit WHERE seq = 4").fetchone()[0]
        edited = text.replace('"score_tenths":60', '"score_tenths":30')
        assert edited != text
        sql.execute("UPDATE audit SET entry = ? WHERE seq = 4", (edited,))
    assert verify(db) == (3, "entry 4 was altered")


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link(db: Path) -> None:
    with raw(db) as sql:
        text, prev = sql.execute("SELECT entry, prev_hash FROM audit WHERE seq = 2").fetchone()
        edited = text.replace('"new_ng_per_day":1600000', '"new_ng_per_day":2600000')
        digest = hashlib.sha256((prev + edited).encode()).hexdigest()
        sql.execute("UPDATE audit SET entry = ?, hash = ? WHERE seq = 2", (edited, digest))
    assert verify(db) == (2, "entry 3 does not follow entry 2")


def test_a_deleted_middle_entry_is_detected(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("DELETE FROM audit WHERE seq = 3")
    assert verify(db) == (2, "entry 3 is missing (next is 4)")


def test_a_deleted_first_entry_is_detected(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("DELETE FROM audit WHERE seq = 1")
    assert verify(db) == (0, "entry 1 is missing (next is 2)")


def test_a_swapped_order_is_detected_at_the_first_swapped_seq(db: Path) -> None:
    with raw(db) as sql:
        rows = {
            seq: (entry, prev, digest)
            for seq, entry, prev, digest in sql.execute(
                "SELECT seq, entry, prev_hash, hash FROM audit WHERE seq IN (4, 5)"
            )
        }
        for seq, other in ((4, 5), (5, 4)):
            sql.execute(
                "UPDATE audit SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (*rows[other], seq),
            )
    assert verify(db) == (3, "entry 4 does not follow entry 3")


def test_a_renumbered_swap_is_detected_too(db: Path) -> None:
    """Swapping two entries' sequence numbers (rows keep their text) breaks the chain."""
    with raw(db) as sql:
        sql.execute("UPDATE audit SET seq = -1 WHERE seq = 5")
        sql.execute("UPDATE audit SET seq = 5 WHERE seq = 6")
        sql.execute("UPDATE audit SET seq = 6 WHERE seq = -1")
    entries, problem = verify(db)
    assert entries == 4
    assert problem is not None
    assert problem.startswith("entry 5 ")


@pytest.mark.parametrize("batch_rows", [1, 2, 3])
def test_a_break_is_found_wherever_the_trail_is_cut_into_batches(
    db: Path, batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trail is checked a batch of rows at a time: a break on either side of a batch's
    edge is found at its seq, and a break in the chain is named before an entry that no
    longer parses, even one earlier in the trail."""
    monkeypatch.setattr(audit, "BATCH_ROWS", batch_rows)
    assert verify(db) == (7, None)
    with raw(db) as sql:  # entry 2 says it is entry 9, and every hash after it is redone
        prev = audit.GENESIS
        for seq, text in sql.execute("SELECT seq, entry FROM audit ORDER BY seq").fetchall():
            text = text.replace('"seq":2', '"seq":9') if seq == 2 else text
            digest = hashlib.sha256((prev + text).encode()).hexdigest()
            sql.execute(
                "UPDATE audit SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (text, prev, digest, seq),
            )
            prev = digest
    assert verify(db) == (1, "entry 2 was altered")
    with raw(db) as sql:
        sql.execute("UPDATE audit SET prev_hash = ? WHERE seq = 6", (audit.GENESIS,))
    assert verify(db) == (5, "entry 6 does not follow entry 5")
    with raw(db) as sql:
        sql.execute("DELETE FROM audit WHERE seq = 4")
    assert verify(db) == (3, "entry 4 is missing (next is 5)")


# --- the record agrees with its audit trail ----------------------------------------------


def test_an_edited_vas_reading_is_detected(db: Path) -> None:
    """The guard reads the readings table: an edit there must not pass unseen."""
    with raw(db) as sql:
        sql.execute("UPDATE readings SET score_tenths = 30 WHERE id = 2")
    assert verify(db) == (7, "VAS reading 2 differs from its audit entry 4")


def test_a_deleted_vas_reading_is_detected(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("DELETE FROM readings WHERE id = 2")
    assert verify(db) == (7, "the VAS reading of audit entry 4 is missing from the record")


def test_an_inserted_vas_reading_is_detected(db: Path) -> None:
    with raw(db) as sql:
        sql.execute(
            "INSERT INTO readings (pump_serial, time_s, score_tenths, events_seen, clinician, "
            "note) VALUES (?, 350, 20, 1, 'a', '')",
            (SERIAL,),
        )
    assert verify(db) == (7, "VAS reading 3 has no audit entry (added outside pumpctl)")


def test_an_edited_change_outcome_is_detected(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("UPDATE changes SET outcome = 'applied' WHERE id = 2")
    assert verify(db) == (7, "change 2 differs from its audit entries")


def test_a_deleted_change_is_detected(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("DELETE FROM changes WHERE id = 1")
    assert verify(db) == (7, "change 1 of audit entry 2 is missing from the record")


def test_an_applied_change_whose_pump_event_was_deleted_is_detected(db: Path) -> None:
    """The guard reads dose changes from the mirror of the pump's event log."""
    with raw(db) as sql:
        sql.execute("DELETE FROM pump_events WHERE idx = 1")
    problem = verify(db)[1]
    assert problem is not None
    assert "change 1 is recorded as applied but its pump event is missing" in problem


def test_limit_truncating_the_tail_with_its_rows_is_not_detectable(db: Path) -> None:
    """The documented limit (docs/guard.md): a chain proves what precedes its head, not
    that nothing came after. Deleting the last entries together with the rows they describe
    leaves an intact, shorter chain; only a head hash exported elsewhere reveals it."""
    with raw(db) as sql:
        head = sql.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()[0]
        sql.execute("DELETE FROM audit WHERE seq >= 5")
        sql.execute("DELETE FROM changes WHERE id = 2")
        new_head = sql.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert verify(db) == (4, None)
    assert new_head != head  # which an exported head hash would show


def test_readings_audited_before_reading_ids_were_recorded_still_verify(tmp_path: Path) -> None:
    """Records written before ``reading_id``/``events_seen`` went into the audit entry are
    matched by order (and still caught when edited)."""
    path = tmp_path / "old.db"
    ClinicalRecord.open(path).close()
    with raw(path) as sql:
        sql.execute("BEGIN")
        sql.execute(
            "INSERT INTO readings (pump_serial, time_s, score_tenths, events_seen, clinician, "
            "note) VALUES (?, 100, 40, 3, 'a', '')",
            (SERIAL,),
        )
        old_entry = {"time_s": 100, "pump": SERIAL, "actor": "a", "action": "vas-logged"}
        old_entry |= {"data": {"score_tenths": 40, "note": ""}, "wall_time_s": 0}
        audit.append(sql, old_entry)
        sql.execute("COMMIT")
    assert verify(path) == (1, None)
    with raw(path) as sql:
        sql.execute("UPDATE readings SET score_tenths = 20")
    assert verify(path) == (1, "VAS reading 1 differs from its audit entry 1")


def test_truncating_only_the_audit_tail_is_detected_by_the_rows_it_leaves(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("DELETE FROM audit WHERE seq >= 4")
    assert verify(db) == (3, "VAS reading 2 has no audit entry (added outside pumpctl)")


# --- audit verify on the command line ----------------------------------------------------


def test_audit_verify_cli_intact(db: Path) -> None:
    result = pumpctl(db, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Audit trail intact: 7 entries"
    result = pumpctl(db, "--json", "audit", "verify")
    assert json.loads(result.stdout) == {
        "schema": "pumpctl.audit.verify/1",
        "intact": True,
        "entries": 7,
    }


def test_audit_verify_cli_names_the_first_broken_entry(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("UPDATE audit SET entry = replace(entry, '\"worse\"', '\"better\"')")
    result = pumpctl(db, "audit", "verify")
    line = one_line_failure(result, 5, "entry 4 was altered", "3 entries verified before it")
    assert str(db) in line
    assert result.stdout == ""


def test_audit_verify_cli_names_an_edited_reading(db: Path) -> None:
    with raw(db) as sql:
        sql.execute("UPDATE readings SET score_tenths = 30 WHERE id = 2")
    one_line_failure(pumpctl(db, "audit", "verify"), 5, "VAS reading 2 differs")


# --- a record that cannot be opened or written -------------------------------------------


def pump_dose(pump: PumpUnderTest) -> int:
    return int(pump.client.status().dose_ng_per_day)


def test_db_in_a_missing_directory(pump: PumpUnderTest, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "clinical.db"
    before = pump_dose(pump)
    for args in (("vas", "5"), ("set-rate", "1.2")):
        result = pumpctl(target, *args, port=pump.port, keys=pump.keys.path)
        one_line_failure(result, 5, "cannot open clinical record", "no such directory")
    # --db wins over $PUMPCTL_DB, and is refused the same way
    result = pumpctl(
        tmp_path / "ok.db", "--db", str(target), "vas", "5", port=pump.port, keys=pump.keys.path
    )
    one_line_failure(result, 5, str(target), "no such directory")
    assert not target.parent.exists()  # not created behind the clinician's back
    assert pump_dose(pump) == before


def test_db_path_is_a_directory(pump: PumpUnderTest, tmp_path: Path) -> None:
    target = tmp_path / "a-directory"
    target.mkdir()
    before = pump_dose(pump)
    result = pumpctl(target, "set-rate", "1.2", port=pump.port, keys=pump.keys.path)
    one_line_failure(result, 5, "cannot open clinical record", "unable to open database file")
    assert list(target.iterdir()) == []
    assert pump_dose(pump) == before


def test_db_is_not_a_database(pump: PumpUnderTest, tmp_path: Path) -> None:
    target = tmp_path / "clinical.db"
    target.write_bytes(b"these are someone's notes, not a clinical record\n" * 100)
    content = target.read_bytes()
    before = pump_dose(pump)
    for args in (("vas", "5"), ("set-rate", "1.2"), ("audit", "verify")):
        result = pumpctl(target, *args, port=pump.port, keys=pump.keys.path)
        one_line_failure(result, 5, "cannot open clinical record", "file is not a database")
    assert target.read_bytes() == content
    assert pump_dose(pump) == before


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` read-only for this process, really: root ignores file modes, so as root
    the file is made immutable (``chattr +i``, which binds root too); skips where neither
    works (e.g. no CAP_LINUX_IMMUTABLE, or a filesystem without the attribute)."""
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("root ignores file modes and chattr is not available")
        done = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"root ignores file modes and chattr +i failed: {done.stderr!r}")
        immutable = True
    else:
        path.chmod(0o444)
    try:
        try:
            with path.open("r+b"):
                pass
        except OSError:
            pass
        else:
            pytest.skip(f"could not make {path} read-only")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)


def record_state(path: Path) -> tuple[int, list[tuple[int, str]], int]:
    with raw(path) as sql:
        return (
            int(sql.execute("SELECT COUNT(*) FROM audit").fetchone()[0]),
            sql.execute("SELECT id, outcome FROM changes ORDER BY id").fetchall(),
            int(sql.execute("SELECT COUNT(*) FROM readings").fetchone()[0]),
        )


def test_read_only_db_fails_before_the_pump_is_told_anything(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    target = tmp_path / "clinical.db"
    assert pumpctl(target, "vas", "5", port=pump.port, keys=pump.keys.path).returncode == 0
    before = record_state(target)
    dose = pump_dose(pump)
    events_before = pump.client.read_events(0xFFFF_FFFF, 1).next_index
    with read_only(target):
        one_line_failure(
            pumpctl(target, "vas", "6", port=pump.port, keys=pump.keys.path), 5, "readonly database"
        )
        for dose_text in ("1.2", "1.5"):  # a decrease and an increase
            one_line_failure(
                pumpctl(target, "set-rate", dose_text, port=pump.port, keys=pump.keys.path),
                5,
                "readonly database",
            )
        # reading still works
        result = pumpctl(target, "audit", "verify")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Audit trail intact: 1 entries"
    assert record_state(target) == before
    assert pump_dose(pump) == dose
    # the pump handled no command: no new event at all
    since, _ = pump.client.read_all_events(events_before)
    # The pump was told nothing: the programmer only opened sessions to interrogate it.
    assert {e.code for e in since} <= {EventCode.SESSION_OPENED}


def test_record_open_errors_are_record_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no such directory"):
        ClinicalRecord.open(tmp_path / "nope" / "x.db")
    (tmp_path / "junk.db").write_bytes(b"x" * 4096)
    with pytest.raises(RecordError, match="file is not a database"):
        ClinicalRecord.open(tmp_path / "junk.db")


def test_pumpctl_db_environment_is_honoured(tmp_path: Path) -> None:
    target = tmp_path / "env.db"
    filled_record(target)
    result = pumpctl(target, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "7 entries" in result.stdout
    assert audit_count(target) == 7
