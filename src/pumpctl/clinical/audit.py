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
    return read(db)[0]


def read(db: sqlite3.Connection) -> tuple[AuditReport, list[dict[str, Any]]]:
    """Check the chain and return its entries, each parsed once (the checks that compare the
    record's tables with the trail read these, so the trail is not parsed again)."""
    expected_prev = GENESIS
    texts: list[str] = []
    sha256 = hashlib.sha256
    for seq, entry, prev_hash, stored_hash in db.execute(
        "SELECT seq, entry, prev_hash, hash FROM audit ORDER BY seq"
    ):
        count = len(texts) + 1
        if seq != count:
            return AuditReport(count - 1, f"entry {count} is missing (next is {seq})"), []
        if prev_hash != expected_prev:
            return AuditReport(count - 1, f"entry {seq} does not follow entry {seq - 1}"), []
        if sha256((prev_hash + entry).encode()).hexdigest() != stored_hash:  # _digest, inlined
            return AuditReport(count - 1, f"entry {seq} was altered"), []
        texts.append(entry)
        expected_prev = stored_hash
    parsed = _parse_all(texts)
    for seq, data in enumerate(parsed, start=1):
        if not isinstance(data, dict) or data.get("seq") != seq:
            return AuditReport(seq - 1, f"entry {seq} was altered"), []
    return AuditReport(len(parsed)), parsed


def _parse_all(texts: list[str]) -> list[Any]:
    """Every entry's JSON in one parse (one call into the decoder, not one per entry); an
    entry that is not JSON on its own comes back as ``None``."""
    try:
        parsed = json.loads("[" + ",".join(texts) + "]")
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and len(parsed) == len(texts):
        return parsed
    return [_parse_one(text) for text in texts]


def _parse_one(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def entries(db: sqlite3.Connection, pump_serial: str | None = None) -> list[dict[str, Any]]:
    if pump_serial is None:
        rows = db.execute("SELECT entry FROM audit ORDER BY seq")
    else:
        rows = db.execute(
            "SELECT entry FROM audit WHERE json_extract(entry, '$.pump') = ? ORDER BY seq",
            (pump_serial,),
        )
    return [json.loads(r[0]) for r in rows]
