"""Append-only audit trail: each entry is chained to the one before it by SHA-256.

``hash = SHA-256(prev_hash ‖ canonical JSON of the entry)``; editing, deleting or reordering
any entry breaks every hash after it, which ``verify`` reports.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
"""


def _digest(prev_hash: str, entry: str) -> str:
    return hashlib.sha256((prev_hash + entry).encode()).hexdigest()


def append(db: sqlite3.Connection, entry: dict[str, Any]) -> int:
    """Append ``entry`` inside the caller's transaction; returns its sequence number."""
    row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)
    text = json.dumps({"seq": seq, **entry}, sort_keys=True, separators=(",", ":"))
    db.execute(
        "INSERT INTO audit (seq, entry, prev_hash, hash) VALUES (?, ?, ?, ?)",
        (seq, text, prev_hash, _digest(prev_hash, text)),
    )
    return seq


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(db: sqlite3.Connection) -> AuditReport:
    expected_prev = GENESIS
    count = 0
    for seq, entry, prev_hash, stored_hash in db.execute(
        "SELECT seq, entry, prev_hash, hash FROM audit ORDER BY seq"
    ):
        count += 1
        if seq != count:
            return AuditReport(count - 1, f"entry {count} is missing (next is {seq})")
        if prev_hash != expected_prev:
            return AuditReport(count - 1, f"entry {seq} does not follow entry {seq - 1}")
        try:
            recorded_seq = json.loads(entry).get("seq")
        except json.JSONDecodeError:
            recorded_seq = None
        if recorded_seq != seq or _digest(prev_hash, entry) != stored_hash:
            return AuditReport(count - 1, f"entry {seq} was altered")
        expected_prev = stored_hash
    return AuditReport(count)


def entries(db: sqlite3.Connection, pump_serial: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(r[0]) for r in db.execute("SELECT entry FROM audit ORDER BY seq")]
    if pump_serial is None:
        return rows
    return [r for r in rows if r.get("pump") == pump_serial]
