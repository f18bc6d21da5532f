"""The clinical record's schema, versioned (``PRAGMA user_version``), and its migrations.

A record written by an older pumpctl is migrated when opened: a copy of the file is made
first (``clinical.db.v1.bak``), then every step runs in one transaction together with the
new version number, so a power cut during a migration leaves the old record as it was. A
record written by a newer pumpctl is refused, never read as if it were current.

Version 0 is a record from before versions were kept: its tables are those of version 1.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from pumpctl.clinical import audit

VERSION_1 = (
    """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY, pump_serial TEXT NOT NULL, time_s INTEGER NOT NULL,
    score_tenths INTEGER NOT NULL CHECK (score_tenths BETWEEN 0 AND 100),
    events_seen INTEGER, clinician TEXT NOT NULL, note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pump_events (
    pump_serial TEXT NOT NULL, idx INTEGER NOT NULL, time_s INTEGER NOT NULL,
    code INTEGER NOT NULL, request_id TEXT NOT NULL, value_a INTEGER NOT NULL,
    value_b INTEGER NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (pump_serial, idx)
);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY, pump_serial TEXT NOT NULL, time_s INTEGER NOT NULL,
    clinician TEXT NOT NULL, old_ng_per_day INTEGER NOT NULL, new_ng_per_day INTEGER NOT NULL,
    request_id TEXT NOT NULL, override_reason TEXT, override_note TEXT,
    outcome TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, pump_serial TEXT NOT NULL, time_s INTEGER NOT NULL,
    clinician TEXT NOT NULL, kind TEXT NOT NULL, request_id TEXT NOT NULL,
    review TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pumps (
    pump_serial TEXT PRIMARY KEY, drug TEXT NOT NULL, display_unit TEXT NOT NULL
);
"""
    + audit.SCHEMA
)

VERSION_2 = """
CREATE INDEX IF NOT EXISTS pump_events_by_request ON pump_events (pump_serial, request_id, idx);
CREATE INDEX IF NOT EXISTS pump_events_by_code ON pump_events (pump_serial, code, idx);
CREATE TABLE IF NOT EXISTS systemic_opioids (
    id INTEGER PRIMARY KEY, pump_serial TEXT NOT NULL, time_s INTEGER NOT NULL,
    clinician TEXT NOT NULL, action TEXT NOT NULL CHECK (action IN ('set', 'stop')),
    name TEXT NOT NULL, amount_text TEXT NOT NULL
);
"""


def _version_2(db: sqlite3.Connection) -> None:
    """When a score was taken (if not when it was logged), systemic opioids, and the indexes
    that keep lookups by request id and by event code from scanning the mirror."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
    if "taken_at_s" not in columns:
        db.execute("ALTER TABLE readings ADD COLUMN taken_at_s INTEGER")
    _script(db, VERSION_2)


# The audit's index is on the pump each entry names, NULL for a row that is not JSON (damaged:
# the index takes it without failing, and the trail's check reports it). A query uses the
# index only where it spells the same expression.
VERSION_3 = """
CREATE INDEX IF NOT EXISTS audit_by_pump
    ON audit ((CASE WHEN json_valid(entry) THEN json_extract(entry, '$.pump') END), seq);
CREATE INDEX IF NOT EXISTS readings_by_pump ON readings (pump_serial, id);
CREATE INDEX IF NOT EXISTS changes_by_pump ON changes (pump_serial, id);
CREATE INDEX IF NOT EXISTS commands_by_pump ON commands (pump_serial, id);
"""


def _version_3(db: sqlite3.Connection) -> None:
    """Indexes that keep one pump's reads (its audit entries, readings, changes, commands)
    from scanning every pump's rows. The audit's is on the pump each entry names, so it
    selects by what the hash chain covers; a query uses it only where it spells the same
    expression."""
    _script(db, VERSION_3)


def _script(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction; one statement at a time.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    lambda db: _script(db, VERSION_1),  # → 1
    _version_2,  # → 2
    _version_3,  # → 3
]
VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """The record's schema cannot be used by this pumpctl; the message says why."""


def version_of(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(db: sqlite3.Connection, path: Path) -> int:
    """The record's version; :class:`SchemaError` if a newer pumpctl wrote it."""
    found = version_of(db)
    if found > VERSION:
        raise SchemaError(
            f"clinical record {path} is schema version {found}, newer than this pumpctl's "
            f"{VERSION}: use a newer pumpctl (nothing was changed)"
        )
    return found


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the record at ``path`` (open as ``db``, autocommit) to :data:`VERSION`; returns
    the version it had. A newer record raises :class:`SchemaError`."""
    found = refuse_newer(db, path)
    if found == VERSION:
        return found
    has_tables = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] > 0
    if has_tables:
        _backup(db, path.with_name(f"{path.name}.v{found}.bak"))
    db.execute("BEGIN IMMEDIATE")
    try:
        if version_of(db) != found:  # another programmer migrated it meanwhile
            db.execute("ROLLBACK")
            return migrate(db, path)
        for step in MIGRATIONS[found:]:
            step(db)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return found


def _backup(db: sqlite3.Connection, target: Path) -> None:
    """A consistent copy of the record as it was, before anything is migrated."""
    if target.exists():
        return  # the copy from an interrupted migration of the same version: keep it
    partial = target.with_name(target.name + ".part")
    copy = sqlite3.connect(partial)
    try:
        db.backup(copy)
    finally:
        copy.close()
    partial.replace(target)
