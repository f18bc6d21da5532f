"""Non-volatile memory: SQLite in WAL mode, one transaction per command, every value sealed.

A command's state change, its events and its recorded outcome commit together or not at
all, so a power cut at any instant resumes the pump exactly as of its last answer.

Every value is kept twice (tables ``nv`` and ``nv_copy``), each copy with a MAC under a key
derived from the pump's secret; the events and the outcomes are covered by a set digest (the
XOR of each row's MAC) kept as a sealed value. At boot a copy whose MAC fails is repaired from
the other, and what no copy verifies is reported (docs/simulator.md §3.10.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from firmware_sim.model.events import Event
from firmware_sim.model.library import DrugLibrary
from firmware_sim.model.state import PumpState
from pumpctl.protocol.messages import EventCode

EVENT_CAPACITY = 4096
OUTCOME_CAPACITY = 1024
# The NV schema (PRAGMA user_version). 0: the first firmware's, unsealed; 1: sealed copies.
SCHEMA_VERSION = 1
_NV_KEY_LABEL = b"pumpctl nv integrity v1"
_SEALED_TABLES = ("nv", "nv_copy")
# A pump's memory holds these once it has booted; any of them missing is damage.
_REQUIRED = ("secret", "state", "library", "event_capacity", "events_digest", "outcomes_digest")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nv (key TEXT PRIMARY KEY, value TEXT NOT NULL, tag BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nv_copy (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, tag BLOB NOT NULL
);
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
_SELECT_SEALED = {t: f"SELECT key, value, tag FROM {t}" for t in _SEALED_TABLES}  # noqa: S608
_UPSERT_SEALED = {
    t: f"INSERT INTO {t} (key, value, tag) VALUES (?, ?, ?) "  # noqa: S608
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, tag = excluded.tag"
    for t in _SEALED_TABLES
}
_DELETE_SEALED = {t: f"DELETE FROM {t}" for t in _SEALED_TABLES}  # noqa: S608
_EVENTS = "SELECT idx, time_ms, code, request_id, value_a, value_b, detail FROM events"
_EVENTS_BEFORE = _EVENTS + " WHERE idx < ?"
_OUTCOMES = "SELECT request_id, ord, msg_type, flags, payload FROM outcomes"
_OUTCOMES_REPLACED = _OUTCOMES + " WHERE request_id = ? OR ord <= ?"


class NvError(Exception):
    """The NV memory cannot be used: unreadable, of a newer schema, or holding no pump.
    The message is one line naming the file (SQLite's own may span lines: joined here)."""

    def __init__(self, message: str) -> None:
        line = " ".join(message.split())
        super().__init__(line if len(line) <= 300 else line[:299] + "…")


class NoPumpMemory(NvError):
    """The file is missing or empty: booting there would be a first boot."""


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


@dataclass
class Loaded:
    """What boot found: the state and library, what was damaged (repaired from a copy or
    not), and whether the state and the library are the ones the firmware sealed."""

    state: PumpState
    library: DrugLibrary
    damage: list[str] = field(default_factory=list)
    verified: bool = True


class NonVolatileStore:
    """The pump's NV memory. Events are buffered until ``commit`` writes them with the state."""

    def __init__(self, path: Path | str, event_capacity: int | None = None) -> None:
        """Open (or create) the NV memory at ``path``; ``NvError`` (one line) if it is
        unreadable or of a newer schema. The event ring's capacity is fixed when the memory
        is created (``event_capacity``, default 4096) and kept with it."""
        self.path = str(path)
        capacity = EVENT_CAPACITY if event_capacity is None else event_capacity
        if capacity < 1:
            raise ValueError("the event log needs room for at least one event")
        self._pending: list[Event] = []
        self._values: dict[str, str] = {}  # what both copies hold, as verified or repaired
        self._unverified: dict[str, str] = {}  # what no copy's MAC vouches for
        self.damage: list[str] = []
        self._key = b""
        # What the sealed ``demand_log`` holds, by a cheap mark: written only when it changes.
        self._log_mark: list[int] | None = None
        try:
            _owner_only(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # A flipped byte may leave text that is not UTF-8: it reads as other text, which
            # fails its MAC, instead of failing the whole query (and the good copy with it).
            self._db.text_factory = _text
        except (OSError, sqlite3.Error) as error:
            raise NvError(f"cannot open the NV memory {self.path}: {_reason(error)}") from None
        try:
            self._open(capacity)
        except (sqlite3.Error, ValueError) as error:
            self._db.close()
            raise NvError(f"NV memory {self.path} is unreadable: {_reason(error)}") from None
        except NvError:
            self._db.close()
            raise

    @staticmethod
    def is_blank(path: Path | str) -> bool:
        """Whether ``path`` holds nothing yet (missing, or an empty file): a first boot."""
        path = str(path)
        if path == ":memory:":
            return True
        try:
            if os.path.getsize(path) > 0:
                return False
        except FileNotFoundError:
            return True
        with contextlib.suppress(FileNotFoundError):
            return os.path.getsize(f"{path}-wal") == 0
        return True

    def _open(self, capacity: int) -> None:
        db = self._db
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise NvError(
                f"NV memory {self.path} is schema {version}, newer than this firmware's "
                f"({SCHEMA_VERSION}): update the firmware"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # integrity_check, not quick_check: an index that no longer matches its table (a flip
        # there) fails the first write, not a read.
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problems = [line for line in str(check).splitlines() if not line.startswith("***")]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise NvError(f"NV memory {self.path} is unreadable: {problems[0]}{more}")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "nv" in tables and not _has_tag(db):
            self._migrate_from_0()
        elif version != SCHEMA_VERSION and "nv" in tables:
            self.damage.append(f"schema version {version} where {SCHEMA_VERSION} was written")
        _create_tables(db)
        self._read_sealed()
        if not self._values and not self._unverified:
            secret = secrets.token_bytes(32)  # a new pump: its secret, sealed at once
            self._key = _derive(secret)
            db.execute("BEGIN IMMEDIATE")
            for key, value in (
                ("secret", secret.hex()),
                ("event_capacity", str(capacity)),
                ("events_digest", _ZERO.hex()),
                ("outcomes_digest", _ZERO.hex()),
            ):
                self._put(key, value)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        # No state and no library: a first boot never finished (both are written together).
        self._fresh = not any(
            k in d for k in ("state", "library") for d in (self._values, self._unverified)
        )
        if self._fresh:
            return
        if "next_event_index" not in self._values:  # damaged beyond its copy: from the log
            last = self._db.execute("SELECT MAX(idx) FROM events").fetchone()[0]
            if last is not None:
                self._values["next_event_index"] = str(int(last) + 1)
        missing = [k for k in _REQUIRED if k not in self._values and k not in self._unverified]
        if missing:
            self.damage.append(f"missing: {', '.join(missing)}")
        self._check_digests()

    _fresh = False

    def _read_sealed(self) -> None:
        """Both copies of every value: a copy verified by its MAC wins; a damaged copy is
        named in ``damage`` (and rewritten at the next ``reseal``)."""
        copies: dict[str, list[tuple[str, bytes]]] = {}
        for table in _SEALED_TABLES:
            for key, value, tag in self._db.execute(_SELECT_SEALED[table]):
                # A flip can change a column's type: a tag that is not a blob verifies nothing.
                seal = tag if isinstance(tag, bytes) else b""
                copies.setdefault(str(key), []).append((str(value), seal))
        if not copies:
            return
        secret = self._secret_from(copies.pop("secret", []))
        if secret is None:
            raise NvError(f"NV memory {self.path}: the pump's secret is damaged in both copies")
        self._key = _derive(secret)
        self._values["secret"] = secret.hex()
        for key, found in copies.items():
            good = [v for v, t in found if hmac.compare_digest(t, self._tag(key, v))]
            if good:
                self._values[key] = good[0]
                if len(good) < len(_SEALED_TABLES):
                    self.damage.append(f"{key}: a damaged copy, repaired from the other")
            else:
                self._unverified[key] = found[0][0]
                self.damage.append(f"{key}: no copy verifies")

    def _secret_from(self, found: list[tuple[str, bytes]]) -> bytes | None:
        good, damaged = None, len(_SEALED_TABLES) - len(found)
        for value, tag in found:
            try:
                candidate = bytes.fromhex(value)
            except ValueError:
                damaged += 1
                continue
            if len(candidate) == 32 and hmac.compare_digest(
                tag, _mac(_derive(candidate), b"secret", value.encode())
            ):
                good = candidate
            else:
                damaged += 1
        if good is not None and damaged:
            self.damage.append("secret: a damaged copy, repaired from the other")
        return good

    def _check_digests(self) -> None:
        for name, rows in (("events", self._event_rows()), ("outcomes", self._outcome_rows())):
            stored = self._values.get(f"{name}_digest")
            actual = self._digest(name, rows)
            if stored is not None and stored != actual.hex():
                self.damage.append(f"{name}: the log does not match its digest")
            self._values[f"{name}_digest"] = actual.hex()  # from now on, what is there

    def _event_rows(self, query: str = "", args: tuple[int, ...] = ()) -> list[tuple[object, ...]]:
        return list(self._db.execute(query or _EVENTS, args))

    def _outcome_rows(
        self, query: str = "", args: tuple[int, ...] = ()
    ) -> list[tuple[object, ...]]:
        return list(self._db.execute(query or _OUTCOMES, args))

    def _digest(self, table: str, rows: Iterable[tuple[object, ...]], start: bytes = b"") -> bytes:
        digest = int.from_bytes(start or _ZERO, "big")
        for row in rows:
            encoded = json.dumps([r.hex() if isinstance(r, bytes) else r for r in row])
            digest ^= int.from_bytes(_mac(self._key, table.encode(), encoded.encode()), "big")
        return digest.to_bytes(32, "big")

    def _tag(self, key: str, value: str) -> bytes:
        return _mac(self._key, key.encode(), value.encode())

    def _migrate_from_0(self) -> None:
        """Schema 0 (no MACs, no copies, no version): back the file up, then seal what it
        holds, in one transaction. Its values are range-checked at boot like any others."""
        db = self._db
        if self.path != ":memory:":
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            backup = f"{self.path}.schema0"  # it holds the secret too: owner only, from birth
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(self.path, "rb") as source, os.fdopen(fd, "wb") as target:
                shutil.copyfileobj(source, target)
                target.flush()
                os.fsync(target.fileno())
        rows = dict(db.execute("SELECT key, value FROM nv").fetchall())
        secret_hex = rows.get("secret") or secrets.token_hex(32)
        rows["secret"] = secret_hex
        self._key = _derive(bytes.fromhex(secret_hex))
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("ALTER TABLE nv RENAME TO nv_schema0")
            _create_tables(db)
            rows["events_digest"] = self._digest("events", self._event_rows()).hex()
            rows["outcomes_digest"] = self._digest("outcomes", self._outcome_rows()).hex()
            rows.setdefault("event_capacity", str(EVENT_CAPACITY))
            for key, value in rows.items():
                self._write(key, str(value))
            db.execute("DROP TABLE nv_schema0")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._key = b""

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

    @property
    def event_capacity(self) -> int:
        return int(self._values.get("event_capacity") or EVENT_CAPACITY)

    def _get(self, key: str) -> str | None:
        return self._values.get(key)

    def _put(self, key: str, value: str) -> None:
        self._values[key] = value
        self._unverified.pop(key, None)
        self._write(key, value)

    def _write(self, key: str, value: str) -> None:
        if key == "secret":
            tag = _mac(_derive(bytes.fromhex(value)), b"secret", value.encode())
        else:
            tag = self._tag(key, value)
        for table in _SEALED_TABLES:
            self._db.execute(_UPSERT_SEALED[table], (key, value, tag))

    def secret(self) -> bytes:
        """The pump's 32-byte secret, made once at first boot; never leaves the device."""
        return bytes.fromhex(self._values["secret"])

    def security(self) -> dict[str, int] | None:
        stored = self._get("security")
        if stored is None:
            return None
        try:
            return dict(json.loads(stored))
        except (ValueError, TypeError):
            return None  # an unverified copy that does not parse: start the counters afresh

    def programmers(self) -> dict[str, object] | None:
        """The enrolled programmers as sealed (``firmware_sim.programmers``); ``None`` if
        none were ever enrolled, or no copy verifies (then only the implant keys open
        sessions: a revoked key never comes back from damaged memory)."""
        stored = self._get("programmers")
        if stored is None:
            return None
        try:
            return dict(json.loads(stored))
        except (ValueError, TypeError):
            return None

    def load(self) -> Loaded | None:
        """The state and library as sealed; ``None`` for a blank memory (first boot).
        Values no copy verifies are parsed as they are and ``verified`` is false; a state
        that cannot be parsed at all raises ``NvError``."""
        if self._fresh:
            return None
        state_text = self._values.get("state") or self._unverified.get("state")
        library_text = self._values.get("library") or self._unverified.get("library")
        verified = "state" in self._values and "library" in self._values
        if state_text is None:
            raise NvError(f"NV memory {self.path} holds no pump state: it cannot boot")
        try:
            data = json.loads(state_text)
            if isinstance(data, dict) and "demand_log" not in data:
                data["demand_log"] = self._demand_log()
            state = PumpState.from_json(data)
        except (ValueError, TypeError, KeyError) as error:
            raise NvError(
                f"NV memory {self.path}: the pump state is damaged beyond reading ({error})"
            ) from None
        library = None
        if library_text is not None:
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                library = DrugLibrary.from_json(json.loads(library_text))
        if library is None:
            from firmware_sim.model.library import default_library

            self.damage.append("library: unreadable, the shipped library is used")
            library, verified = default_library(), False
        self._log_mark = None
        return Loaded(state, library, list(self.damage), verified)

    def _demand_log(self) -> list[list[int]]:
        """The patient's activation log, kept apart from the state (it changes only with an
        activation). A log no copy vouches for, or one that does not read as entries, is
        dropped: it records, it does not program (docs/simulator.md §3.13)."""
        text = self._values.get("demand_log")
        if text is None:
            return []  # none yet, or unverified (named in ``damage`` already)
        with contextlib.suppress(ValueError, TypeError):
            log = json.loads(text)
            if isinstance(log, list) and all(
                isinstance(e, list) and len(e) == 5 and all(type(v) is int for v in e) for e in log
            ):
                return log
        self.damage.append("demand_log: unreadable, the activation log starts afresh")
        return []

    def commit(
        self,
        state: PumpState,
        *,
        library: DrugLibrary | None = None,
        outcome: tuple[int, Outcome] | None = None,
        security: dict[str, int] | None = None,
        programmers: dict[str, object] | None = None,
        reseal: bool = False,
    ) -> None:
        """Write the state, the pending events and a request's outcome in one transaction.
        ``reseal`` rewrites every value in both copies (first boot, a boot that found damage)."""
        db = self._db
        saved, saved_mark = dict(self._values), self._log_mark
        data = state.to_json()
        log = data.pop("demand_log")
        mark = [state.demand_log_next, *(state.demand_log[-1] if state.demand_log else [])]
        db.execute("BEGIN IMMEDIATE")
        try:
            if reseal or self._fresh:
                for table in _SEALED_TABLES:  # damaged rows (a key flipped too) go
                    db.execute(_DELETE_SEALED[table])
                for key, value in list(self._values.items()):
                    self._write(key, value)
                self._unverified.clear()
            self._put("state", json.dumps(data, separators=(",", ":")))
            if mark != self._log_mark or "demand_log" not in self._values:
                self._put("demand_log", json.dumps(log, separators=(",", ":")))
                self._log_mark = mark
            if library is not None:
                self._put("library", json.dumps(library.to_json(), separators=(",", ":")))
            if security is not None:
                self._put("security", json.dumps(security))
            if programmers is not None:
                self._put("programmers", json.dumps(programmers, separators=(",", ":")))
            self._write_events()
            if outcome is not None:
                self._write_outcome(*outcome)
            if reseal or self._fresh:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._values, self._log_mark = saved, saved_mark
            raise
        self._fresh = False
        self.damage.clear()
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
        dropped = self._event_rows(_EVENTS_BEFORE, (cutoff,))
        digest = self._digest("events", [*rows, *dropped], self._digest_of("events"))
        if dropped:
            self._db.execute("DELETE FROM events WHERE idx < ?", (cutoff,))
            overflow = int(self._get("event_overflow") or 0) + len(dropped)
            self._put("event_overflow", str(overflow))
        self._put("events_digest", digest.hex())

    def _digest_of(self, name: str) -> bytes:
        return bytes.fromhex(self._values.get(f"{name}_digest") or _ZERO.hex())

    def _write_outcome(self, request_id: int, outcome: Outcome) -> None:
        ord_row = self._db.execute("SELECT COALESCE(MAX(ord), 0) + 1 FROM outcomes").fetchone()
        order = int(ord_row[0])
        key = _signed(request_id)
        replaced = self._outcome_rows(_OUTCOMES_REPLACED, (key, order - OUTCOME_CAPACITY))
        row = (key, order, outcome.msg_type, outcome.flags, outcome.payload)
        digest = self._digest("outcomes", [row, *replaced], self._digest_of("outcomes"))
        self._db.execute(
            "DELETE FROM outcomes WHERE request_id = ? OR ord <= ?",
            (key, order - OUTCOME_CAPACITY),
        )
        self._db.execute("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?)", row)
        self._put("outcomes_digest", digest.hex())

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


_ZERO = bytes(32)


def _create_tables(db: sqlite3.Connection) -> None:
    """The schema, statement by statement (``executescript`` would commit a transaction)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _has_tag(db: sqlite3.Connection) -> bool:
    return any(row[1] == "tag" for row in db.execute("PRAGMA table_info(nv)"))


def _derive(secret: bytes) -> bytes:
    """The NV sealing key: derived from the pump's secret, used for nothing else."""
    return hmac.new(secret, _NV_KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, label: bytes, data: bytes) -> bytes:
    return hmac.new(key, label + b"\0" + data, hashlib.sha256).digest()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


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
