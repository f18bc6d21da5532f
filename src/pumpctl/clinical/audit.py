"""Append-only audit trail: each entry is chained to the one before it by SHA-256.

``hash = SHA-256(prev_hash ‖ canonical JSON of the entry)``; editing, deleting or reordering
any entry breaks every hash after it, which ``verify`` reports.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import sqlite3
from collections.abc import Iterator
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


# Rows checked and parsed at a time: a batch stays in the CPU's caches, so the cost per
# entry does not grow with the trail.
BATCH_ROWS = 2048


def read(db: sqlite3.Connection) -> tuple[AuditReport, list[dict[str, Any]]]:
    """Check the chain and return its entries, each parsed once (the checks that compare the
    record's tables with the trail read these, so the trail is not parsed again). A break in
    the chain is reported before an entry that does not parse, wherever each is."""
    with without_gc():
        cursor = db.execute("SELECT seq, entry, prev_hash, hash FROM audit ORDER BY seq")
        parsed: list[Any] = []
        unparsed: AuditReport | None = None
        count, head = 0, GENESIS
        while rows := cursor.fetchmany(BATCH_ROWS):
            broken = _chain_problem(rows, count, head)
            if broken is not None:
                return broken, []
            if unparsed is None:
                batch = _parse_all([row[1] for row in rows])
                for seq, data in enumerate(batch, start=count + 1):
                    if not isinstance(data, dict) or data.get("seq") != seq:
                        unparsed = AuditReport(seq - 1, f"entry {seq} was altered")
                        break
                parsed += batch
            count, head = count + len(rows), rows[-1][3]
        if unparsed is not None:
            return unparsed, []
        return AuditReport(count), parsed


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Build a whole trail's objects (acyclic: rows, strings, dicts) without the cyclic
    collector rescanning them again and again as they accumulate, which made the cost per
    row grow with the trail."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _chain_problem(
    rows: list[tuple[int, str, str, str]], before: int, head: str
) -> AuditReport | None:
    """None if ``rows`` continue the chain after ``before`` entries ending in ``head``:
    checked column by column (whole tuples compared, one digest per entry), and only where
    that fails entry by entry, for the first that breaks."""
    seqs, texts, prevs, hashes = zip(*rows, strict=True)
    sha256 = hashlib.sha256
    if (
        seqs == tuple(range(before + 1, before + len(rows) + 1))
        and prevs[0] == head
        and prevs[1:] == hashes[:-1]
        and [sha256((p + t).encode()).hexdigest() for p, t in zip(prevs, texts, strict=True)]
        == list(hashes)
    ):
        return None
    expected_prev = head
    for count, (seq, entry, prev_hash, stored_hash) in enumerate(rows, start=before + 1):
        if seq != count:
            return AuditReport(count - 1, f"entry {count} is missing (next is {seq})")
        if prev_hash != expected_prev:
            return AuditReport(count - 1, f"entry {seq} does not follow entry {seq - 1}")
        if _digest(prev_hash, entry) != stored_hash:
            return AuditReport(count - 1, f"entry {seq} was altered")
        expected_prev = stored_hash
    return None


def _parse_all(texts: list[str]) -> list[Any]:
    """Every entry's JSON in one parse (one call into the decoder, not one per entry); an
    entry that is not JSON on its own comes back as ``None``."""
    from pydantic_core import from_json  # a faster decoder, already installed with pydantic

    try:
        parsed = from_json("[" + ",".join(texts) + "]")
    except ValueError:
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
            # Spelt as the record's audit_by_pump index is built, so that the index is used.
            "SELECT entry FROM audit "
            "WHERE (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.pump') END) = ? "
            "ORDER BY seq",
            (pump_serial,),
        )
    with without_gc():
        texts = [row[0] for row in rows]
        parsed = _parse_all(texts)
        if None in parsed:  # an entry that is not JSON: its own error, as one parse gives it
            return [json.loads(text) for text in texts]
        return parsed
