"""Non-volatile memory: SQLite in WAL mode, one transaction per command.

A command's state change, its events and its recorded outcome commit together or not at
all, so a power cut at any instant resumes the pump exactly as of its last answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.model.events import Event
from firmware_sim.model.library import DrugLibrary
from firmware_sim.model.state import PumpState
from pumpctl.protocol.messages import EventCode

EVENT_CAPACITY = 4096
OUTCOME_CAPACITY = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    idx INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, code INTEGER NOT NULL,
    request_id INTEGER NOT NULL, value_a INTEGER NOT NULL, value_b INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    request_id INTEGER PRIMARY KEY, ord INTEGER NOT NULL UNIQUE,
    msg_type INTEGER NOT NULL, flags INTEGER NOT NULL, payload BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    index: int
    event: Event


@dataclass(frozen=True, slots=True)
class Outcome:
    msg_type: int
    flags: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StoredEvent]
    next_index: int
    oldest_index: int
    overflow_count: int


class NonVolatileStore:
    """The pump's NV memory. Events are buffered until ``commit`` writes them with the state."""

    def __init__(self, path: Path | str, event_capacity: int | None = None) -> None:
        """Open (or create) the NV memory at ``path``. The event ring's capacity is fixed when
        the memory is created (``event_capacity``, default 4096) and kept with it."""
        self.path = str(path)
        _owner_only(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._pending: list[Event] = []
        stored = self._get("event_capacity")
        if stored is None:
            capacity = EVENT_CAPACITY if event_capacity is None else event_capacity
            if capacity < 1:
                raise ValueError("the event log needs room for at least one event")
            stored = str(capacity)
            self._put("event_capacity", stored)
        self.event_capacity = int(stored)

    def close(self) -> None:
        self._db.close()

    # EventSink
    def append(self, event: Event) -> None:
        self._pending.append(event)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def discard_pending(self) -> None:
        self._pending.clear()

    def _get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM nv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _put(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO nv (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def secret(self) -> bytes:
        """The pump's 32-byte secret, made once at first boot; never leaves the device."""
        stored = self._get("secret")
        if stored is None:
            stored = secrets.token_hex(32)
            self._db.execute("BEGIN IMMEDIATE")
            self._put("secret", stored)
            self._db.execute("COMMIT")
        return bytes.fromhex(stored)

    def security(self) -> dict[str, int] | None:
        stored = self._get("security")
        return None if stored is None else dict(json.loads(stored))

    def load(self) -> tuple[PumpState, DrugLibrary] | None:
        state, library = self._get("state"), self._get("library")
        if state is None or library is None:
            return None
        return PumpState.from_json(json.loads(state)), DrugLibrary.from_json(json.loads(library))

    def commit(
        self,
        state: PumpState,
        *,
        library: DrugLibrary | None = None,
        outcome: tuple[int, Outcome] | None = None,
        security: dict[str, int] | None = None,
    ) -> None:
        """Write the state, the pending events and a request's outcome in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._put("state", json.dumps(state.to_json(), separators=(",", ":")))
            if library is not None:
                self._put("library", json.dumps(library.to_json(), separators=(",", ":")))
            if security is not None:
                self._put("security", json.dumps(security))
            self._write_events()
            if outcome is not None:
                self._write_outcome(*outcome)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._pending.clear()

    def _write_events(self) -> None:
        if not self._pending:
            return
        next_index = int(self._get("next_event_index") or 0)
        rows = [
            (
                next_index + i,
                e.time_ms,
                int(e.code),
                _signed(e.request_id),
                e.value_a,
                e.value_b,
                e.detail,
            )
            for i, e in enumerate(self._pending)
        ]
        self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        next_index += len(rows)
        self._put("next_event_index", str(next_index))
        cutoff = next_index - self.event_capacity
        dropped = self._db.execute("DELETE FROM events WHERE idx < ?", (cutoff,)).rowcount
        if dropped:
            overflow = int(self._get("event_overflow") or 0) + dropped
            self._put("event_overflow", str(overflow))

    def _write_outcome(self, request_id: int, outcome: Outcome) -> None:
        ord_row = self._db.execute("SELECT COALESCE(MAX(ord), 0) + 1 FROM outcomes").fetchone()
        order = int(ord_row[0])
        self._db.execute(
            "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?)",
            (_signed(request_id), order, outcome.msg_type, outcome.flags, outcome.payload),
        )
        self._db.execute("DELETE FROM outcomes WHERE ord <= ?", (order - OUTCOME_CAPACITY,))

    def outcome(self, request_id: int) -> Outcome | None:
        row = self._db.execute(
            "SELECT msg_type, flags, payload FROM outcomes WHERE request_id = ?",
            (_signed(request_id),),
        ).fetchone()
        return None if row is None else Outcome(int(row[0]), int(row[1]), bytes(row[2]))

    def read_events(self, first_index: int, max_count: int) -> EventPage:
        next_index = int(self._get("next_event_index") or 0)
        overflow = int(self._get("event_overflow") or 0)
        oldest = max(0, next_index - self.event_capacity)
        rows = self._db.execute(
            "SELECT idx, time_ms, code, request_id, value_a, value_b, detail FROM events "
            "WHERE idx >= ? ORDER BY idx LIMIT ?",
            (max(first_index, oldest), max_count),
        ).fetchall()
        events = [
            StoredEvent(
                int(r[0]),
                Event(int(r[1]), EventCode(r[2]), _unsigned(int(r[3])), int(r[4]), int(r[5]), r[6]),
            )
            for r in rows
        ]
        return EventPage(events, next_index, oldest, overflow)


def _owner_only(path: str) -> None:
    """The NV memory holds the pump's secret: readable by its owner alone. SQLite gives its
    WAL and shared-memory files the database file's mode; older ones are tightened too."""
    if path == ":memory:":
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)


def _signed(value: int) -> int:
    """SQLite integers are signed 64-bit; request ids are unsigned 64-bit."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value
