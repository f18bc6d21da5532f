"""The clinical record: per pump (by serial number) the VAS readings, a mirror of the
pump's event log, every requested change with its outcome, and the audit trail.

SQLite in WAL mode with ``synchronous=FULL``; every write is one transaction together with
its audit entry, committed before the pump is told anything that depends on it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pumpctl.clinical import audit, schema
from pumpctl.protocol.messages import EventCode, EventRecord

if TYPE_CHECKING:  # a read opens the record without the guard or the systemic opioids
    from pumpctl.clinical import systemic
    from pumpctl.clinical.guard import DoseChange, Reading
    from pumpctl.clinical.systemic import SystemicEntry


class ChangeOutcome(StrEnum):
    """How a dose change ended, as the ``changes`` table stores it."""

    PENDING = "pending"  # the intent is committed, the answer not yet recorded
    APPLIED = "applied"
    REFUSED = "refused"
    NOT_APPLIED = "not-applied"
    UNCERTAIN = "uncertain"
    VERIFY_FAILED = "verify-failed"


class CommandOutcome(StrEnum):
    """How any other therapy command ended, as the ``commands`` table stores it."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    NOT_SENT = "not-sent"
    UNCERTAIN = "uncertain"
    VERIFY_FAILED = "verify-failed"


UNRESOLVED_OUTCOMES = (ChangeOutcome.PENDING, ChangeOutcome.UNCERTAIN)
# Verdicts a pump event can contradict (verify-failed already says the pump differs).
SETTLED_CHANGE_OUTCOMES = (ChangeOutcome.APPLIED, ChangeOutcome.REFUSED, ChangeOutcome.NOT_APPLIED)
SETTLED_COMMAND_OUTCOMES = (
    CommandOutcome.CONFIRMED,
    CommandOutcome.REFUSED,
    CommandOutcome.NOT_SENT,
)
# The pump's answer to a SET_RATE: the change, or the refusal.
RATE_ANSWERS = (EventCode.RATE_CHANGED, EventCode.REFUSED)
# The events that set the daily dose the pump delivers.
DOSE_EVENTS = (EventCode.RATE_CHANGED, EventCode.SCHEDULE_SET)
# Marks the mirror of a pump's former event log, set aside when the log was reset.
ARCHIVE_MARK = "~"


class RecordError(Exception):
    """The clinical record cannot be opened or written; the message says why in one line."""


def default_path() -> Path:
    import platformdirs  # not when PUMPCTL_DB or --db names the record

    return Path(platformdirs.user_data_dir("pumpctl")) / "clinical.db"


@dataclass(frozen=True)
class CommandRow:
    """A therapy command other than a dose change (bolus, stop, refill, ...) and its outcome."""

    id: int
    pump_serial: str
    time_s: int
    clinician: str
    kind: str
    request_id: int
    review: dict[str, Any]
    outcome: str
    detail: str


@dataclass(frozen=True)
class ChangeRow:
    id: int
    pump_serial: str
    time_s: int
    clinician: str
    old_ng_per_day: int
    new_ng_per_day: int
    request_id: int
    override_reason: str | None
    override_note: str | None
    outcome: str
    detail: str


class ClinicalRecord:
    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self._db = db
        self.path = path
        # The programmer writing, as the pump knows it (its enrolled id; 0: an implant key):
        # named in every audit entry while it is set.
        self.programmer_id: int | None = None
        self._patients: dict[str, str | None] = {}  # serial -> patient id, as the trail says

    @classmethod
    def open(cls, path: Path | str | None = None) -> ClinicalRecord:
        """Open (creating if new) the record at ``path``, ``$PUMPCTL_DB`` or the default."""
        target = Path(path or os.environ.get("PUMPCTL_DB") or default_path())
        if path is None and not os.environ.get("PUMPCTL_DB"):
            target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.is_dir():
            raise RecordError(f"cannot open clinical record {target}: no such directory")
        try:
            db = sqlite3.connect(target, isolation_level=None, timeout=10)
            schema.refuse_newer(db, target)  # before anything writes to the file
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            schema.migrate(db, target)
        except sqlite3.Error as error:
            raise RecordError(f"cannot open clinical record {target}: {error}") from None
        except schema.SchemaError as error:
            db.close()
            raise RecordError(str(error)) from None
        return cls(db, str(target))

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise RecordError(f"cannot write clinical record {self.path}: {error}") from None
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise RecordError(f"cannot write clinical record {self.path}: {error}") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # A failed COMMIT (a full disk) may already have rolled back: no transaction is left.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _audit(
        self, db: sqlite3.Connection, serial: str, actor: str, action: str, time_s: int, **data: Any
    ) -> None:
        entry = {
            "time_s": time_s,
            "pump": serial,
            "actor": actor,
            "action": action,
            "data": data,
            "wall_time_s": int(time.time()),
        }
        if self.programmer_id is not None:
            entry["programmer"] = self.programmer_id
        patient = self.patient_id(serial)
        if patient is not None:
            entry["patient_id"] = patient
        audit.append(db, entry)

    # --- the pump's event log, mirrored --------------------------------------------------

    def last_event_index(self, serial: str) -> int | None:
        row = self._db.execute(
            "SELECT MAX(idx) FROM pump_events WHERE pump_serial = ?", (serial,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def mirror_events(self, serial: str, events: list[EventRecord]) -> None:
        if not events:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO pump_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        serial,
                        e.index,
                        e.time_s,
                        int(e.code),
                        str(e.request_id),
                        e.value_a,
                        e.value_b,
                        e.detail,
                    )
                    for e in events
                ],
            )

    def mirrored_event(self, serial: str, index: int) -> EventRecord | None:
        query, args = _event_filter(serial, None, None)
        row = self._db.execute(query + " AND idx = ?", [*args, index]).fetchone()
        return None if row is None else _event(row)

    def last_dose_event(self, serial: str) -> EventRecord | None:
        """The last mirrored event that set the daily dose (a rate or a schedule)."""
        query, args = _event_filter(serial, DOSE_EVENTS, None)
        row = self._db.execute(query + " ORDER BY idx DESC LIMIT 1", args).fetchone()
        return None if row is None else _event(row)

    def programmed_events(self, serial: str) -> tuple[int, int | None]:
        """How many mirrored dose events a programmer sent (a request id), and the last's index."""
        query, args = _event_filter(serial, DOSE_EVENTS, None)
        rows = self._db.execute(query + " AND request_id != '0' ORDER BY idx", args).fetchall()
        return len(rows), int(rows[-1][0]) if rows else None

    def latest_event_time_s(self, serial: str) -> int | None:
        row = self._db.execute(
            "SELECT MAX(time_s) FROM pump_events WHERE pump_serial = ?", (serial,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def confirmed_concentration(self, serial: str) -> tuple[int, str] | None:
        """``(command id, concentration)`` as the review of the last confirmed command that
        showed one gave it after the command (a refill's new concentration)."""
        row = self._db.execute(
            "SELECT id, review FROM commands WHERE pump_serial = ? AND outcome = 'confirmed' "
            "AND review LIKE '%\"Concentration\"%' ORDER BY id DESC LIMIT 1",
            (serial,),
        ).fetchone()
        if row is None:
            return None
        rows = json.loads(row[1]).get("rows", [])
        after = next((r[2] for r in rows if r and r[0] == "Concentration"), None)
        return None if after is None else (int(row[0]), str(after))

    def knows_programming(self, serial: str) -> bool:
        """Whether the record holds any change or command sent to this pump."""
        change = "SELECT 1 FROM changes WHERE pump_serial = ? LIMIT 1"
        command = "SELECT 1 FROM commands WHERE pump_serial = ? LIMIT 1"
        return any(self._db.execute(q, (serial,)).fetchone() for q in (change, command))

    def archive_mirror(self, serial: str, *, clinician: str, time_s: int, reason: str) -> str:
        """Set the mirror of a pump's former event log aside (its log was reset or replaced),
        so the pump's new log is mirrored from its start; returns the archive's name. The
        audit check still finds the former events (``_Answers``)."""
        with self._transaction() as db:
            archives = db.execute(
                "SELECT COUNT(DISTINCT pump_serial) FROM pump_events WHERE pump_serial LIKE ?",
                (f"{serial}{ARCHIVE_MARK}%",),
            ).fetchone()[0]
            name = f"{serial}{ARCHIVE_MARK}{int(archives) + 1}"
            moved = db.execute(
                "UPDATE pump_events SET pump_serial = ? WHERE pump_serial = ?", (name, serial)
            ).rowcount
            self._audit(
                db,
                serial,
                clinician,
                "event-mirror-archived",
                time_s,
                archive=name,
                events=moved,
                reason=reason,
            )
        return name

    def discrepancy_marks(self, serial: str) -> dict[str, set[str]]:
        """Fingerprints of the discrepancies already audited for ``serial``, by action
        (``discrepancy-found``, ``discrepancy-reconciled``)."""
        marks: dict[str, set[str]] = {}
        for (text,) in self._db.execute(
            "SELECT entry FROM audit "
            "WHERE (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.pump') END) = ? "
            'AND entry LIKE \'%"action":"discrepancy-%\' ORDER BY seq',
            (serial,),
        ):
            entry = json.loads(text)
            if entry.get("pump") != serial:
                continue
            found = marks.setdefault(str(entry.get("action")), set())
            found.update(str(f) for f in entry.get("data", {}).get("fingerprints", []))
        return marks

    def pump_events(
        self,
        serial: str,
        *,
        codes: tuple[EventCode, ...] | None = None,
        since_s: int | None = None,
    ) -> list[EventRecord]:
        """The mirrored events in the pump's order, only ``codes`` and those from ``since_s``
        on when given (filtered in SQL, so a screen or a report does not read the whole log)."""
        query, args = _event_filter(serial, codes, since_s)
        return [_event(r) for r in self._db.execute(query + " ORDER BY idx", args)]

    def last_event(self, serial: str, code: EventCode) -> EventRecord | None:
        query, args = _event_filter(serial, (code,), None)
        row = self._db.execute(query + " ORDER BY idx DESC LIMIT 1", args).fetchone()
        return None if row is None else _event(row)

    def dose_changes(self, serial: str) -> list[DoseChange]:
        from pumpctl.clinical.guard.inputs import DoseChange

        rows = self._db.execute(
            "SELECT idx, time_s, value_a, value_b FROM pump_events "
            "WHERE pump_serial = ? AND code IN (?, ?) ORDER BY idx",
            # A schedule's events carry its daily dose, the integral the guard compares.
            (serial, int(EventCode.RATE_CHANGED), int(EventCode.SCHEDULE_SET)),
        ).fetchall()
        return [DoseChange(r[0], r[1], r[2], r[3]) for r in rows if r[2] != r[3]]

    # --- pain scores ---------------------------------------------------------------------

    def log_vas(
        self,
        serial: str,
        time_s: int,
        score_tenths: int,
        *,
        events_seen: int | None,
        clinician: str,
        note: str = "",
        taken_at_s: int | None = None,
    ) -> Reading:
        """Log a reading at ``time_s`` (the record's timeline); ``taken_at_s`` when the score
        was taken earlier than it is logged (a phone follow-up, a score noted on paper)."""
        from pumpctl.clinical.guard.inputs import Reading

        if not 0 <= score_tenths <= 100:
            raise ValueError("VAS is 0-10")
        if taken_at_s == time_s:
            taken_at_s = None
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO readings (pump_serial, time_s, score_tenths, events_seen, "
                "clinician, note, taken_at_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (serial, time_s, score_tenths, events_seen, clinician, note, taken_at_s),
            )
            self._audit(
                db,
                serial,
                clinician,
                "vas-logged",
                time_s,
                score_tenths=score_tenths,
                note=note,
                reading_id=cursor.lastrowid,
                events_seen=events_seen,
                **({"taken_at_s": taken_at_s} if taken_at_s is not None else {}),
            )
        if taken_at_s is None:
            return Reading(time_s, score_tenths, events_seen)
        return Reading(taken_at_s, score_tenths, events_seen, logged_s=time_s)

    def readings(self, serial: str) -> list[Reading]:
        from pumpctl.clinical.guard.inputs import Reading

        rows = self._db.execute(
            "SELECT time_s, score_tenths, events_seen, taken_at_s FROM readings "
            "WHERE pump_serial = ? ORDER BY id",
            (serial,),
        ).fetchall()
        return [
            Reading(r[0], r[1], r[2]) if r[3] is None else Reading(r[3], r[1], r[2], logged_s=r[0])
            for r in rows
        ]

    # --- programmed changes --------------------------------------------------------------

    def begin_change(
        self,
        serial: str,
        time_s: int,
        *,
        clinician: str,
        old_ng_per_day: int,
        new_ng_per_day: int,
        request_id: int,
        override_reason: str | None = None,
        override_note: str | None = None,
        review: dict[str, Any] | None = None,
    ) -> int:
        """Commit the intent (outcome ``pending``) and the review shown, before the pump is
        told anything."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO changes (pump_serial, time_s, clinician, old_ng_per_day, "
                "new_ng_per_day, request_id, override_reason, override_note, outcome, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', '')",
                (
                    serial,
                    time_s,
                    clinician,
                    old_ng_per_day,
                    new_ng_per_day,
                    str(request_id),
                    override_reason,
                    override_note,
                ),
            )
            change_id = int(cursor.lastrowid or 0)
            self._audit(
                db,
                serial,
                clinician,
                "change-requested",
                time_s,
                change_id=change_id,
                old_ng_per_day=old_ng_per_day,
                new_ng_per_day=new_ng_per_day,
                request_id=str(request_id),
                override_reason=override_reason,
                override_note=override_note,
                **({"review": review} if review is not None else {}),
            )
        return change_id

    def finish_change(self, change_id: int, outcome: ChangeOutcome, detail: str = "") -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT pump_serial, clinician, time_s FROM changes WHERE id = ?", (change_id,)
            ).fetchone()
            if row is None:
                raise RecordError(f"no change {change_id} in the clinical record")
            db.execute(
                "UPDATE changes SET outcome = ?, detail = ? WHERE id = ?",
                (outcome, detail, change_id),
            )
            self._audit(
                db, row[0], row[1], f"change-{outcome}", row[2], change_id=change_id, detail=detail
            )

    def changes(self, serial: str) -> list[ChangeRow]:
        rows = self._db.execute(
            "SELECT id, pump_serial, time_s, clinician, old_ng_per_day, new_ng_per_day, "
            "request_id, override_reason, override_note, outcome, detail FROM changes "
            "WHERE pump_serial = ? ORDER BY id",
            (serial,),
        ).fetchall()
        with _damaged("changes"):
            return [
                ChangeRow(
                    id=r[0],
                    pump_serial=r[1],
                    time_s=r[2],
                    clinician=r[3],
                    old_ng_per_day=r[4],
                    new_ng_per_day=r[5],
                    request_id=int(r[6]),
                    override_reason=r[7],
                    override_note=r[8],
                    outcome=r[9],
                    detail=r[10],
                )
                for r in rows
            ]

    def unresolved_changes(self, serial: str) -> list[ChangeRow]:
        """Changes whose outcome is still open: ``pending`` (the programmer stopped between
        committing the intent and recording the answer) or ``uncertain`` (the answer was
        lost and could not be read back)."""
        return [c for c in self.changes(serial) if c.outcome in UNRESOLVED_OUTCOMES]

    def event_for_request(
        self, serial: str, request_id: int, codes: tuple[EventCode, ...] | None = None
    ) -> EventRecord | None:
        """The first mirrored pump event left under ``request_id`` (of ``codes``, if given):
        how the pump answered a command, executed or refused."""
        query, args = _event_filter(serial, codes, None)
        query, args = query + " AND request_id = ?", [*args, str(request_id)]
        row = self._db.execute(query + " ORDER BY idx LIMIT 1", args).fetchone()
        return None if row is None else _event(row)

    def events_complete_since(self, serial: str, time_s: int) -> bool:
        """Whether the mirror holds every pump event from the last one before ``time_s`` on,
        without a gap (events the pump's ring buffer overwrote before they were mirrored)."""
        row = self._db.execute(
            "SELECT MAX(idx) FROM pump_events WHERE pump_serial = ? AND time_s < ?",
            (serial, time_s),
        ).fetchone()
        first = row[0]
        if first is None:
            first = self._db.execute(
                "SELECT MIN(idx) FROM pump_events WHERE pump_serial = ?", (serial,)
            ).fetchone()[0]
        if first is None:
            return False
        count, last = self._db.execute(
            "SELECT COUNT(*), MAX(idx) FROM pump_events WHERE pump_serial = ? AND idx >= ?",
            (serial, first),
        ).fetchone()
        return int(count) == int(last) - int(first) + 1

    # --- other therapy commands ----------------------------------------------------------

    def begin_command(
        self,
        serial: str,
        time_s: int,
        *,
        clinician: str,
        kind: str,
        request_id: int,
        review: dict[str, Any],
    ) -> int:
        """Commit a therapy command's intent and the review shown (outcome ``pending``)."""
        text = json.dumps(review, sort_keys=True, separators=(",", ":"))
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO commands (pump_serial, time_s, clinician, kind, request_id, review, "
                "outcome, detail) VALUES (?, ?, ?, ?, ?, ?, 'pending', '')",
                (serial, time_s, clinician, kind, str(request_id), text),
            )
            command_id = int(cursor.lastrowid or 0)
            self._audit(
                db,
                serial,
                clinician,
                "command-requested",
                time_s,
                command_id=command_id,
                kind=kind,
                request_id=str(request_id),
                review=review,
            )
        return command_id

    def finish_command(self, command_id: int, outcome: CommandOutcome, detail: str = "") -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT pump_serial, clinician, time_s, kind FROM commands WHERE id = ?",
                (command_id,),
            ).fetchone()
            if row is None:
                raise RecordError(f"no command {command_id} in the clinical record")
            db.execute(
                "UPDATE commands SET outcome = ?, detail = ? WHERE id = ?",
                (outcome, detail, command_id),
            )
            self._audit(
                db,
                row[0],
                row[1],
                f"command-{outcome}",
                row[2],
                command_id=command_id,
                kind=row[3],
                detail=detail,
            )

    def commands(self, serial: str | None = None) -> list[CommandRow]:
        query = (
            "SELECT id, pump_serial, time_s, clinician, kind, request_id, review, outcome, "
            "detail FROM commands"
        )
        args: tuple[Any, ...] = ()
        if serial is not None:
            query, args = query + " WHERE pump_serial = ?", (serial,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        with _damaged("commands"):
            return [
                CommandRow(r[0], r[1], r[2], r[3], r[4], int(r[5]), json.loads(r[6]), r[7], r[8])
                for r in rows
            ]

    def unresolved_commands(self, serial: str) -> list[CommandRow]:
        return [c for c in self.commands(serial) if c.outcome in UNRESOLVED_OUTCOMES]

    def last_refill_s(self, serial: str) -> int | None:
        """When the pump was last refilled, from its mirrored log (a waiver's note aside)."""
        row = self._db.execute(
            "SELECT MAX(time_s) FROM pump_events WHERE pump_serial = ? AND code = ? "
            "AND NOT (value_a = 0 AND value_b = 0)",
            (serial, int(EventCode.REFILLED)),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    # --- what the record knows of each pump ----------------------------------------------

    def remember_pump(self, serial: str, drug: str, display_unit: str) -> None:
        """The drug and its display unit, so the record reads right without the pump."""
        known = self._db.execute(
            "SELECT drug, display_unit FROM pumps WHERE pump_serial = ?", (serial,)
        ).fetchone()
        if known == (drug, display_unit):
            return
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pumps (pump_serial, drug, display_unit) VALUES (?, ?, ?) "
                "ON CONFLICT (pump_serial) DO UPDATE SET drug = excluded.drug, "
                "display_unit = excluded.display_unit",
                (serial, drug, display_unit),
            )

    def patient_id(self, serial: str) -> str | None:
        """The patient the pump's implant record names, as last read from it; None if never
        read. Every audit entry for the pump from its ``patient-identified`` entry on carries
        it, so the pump's latest entry says (found from the end of the trail)."""
        if serial not in self._patients:
            row = self._db.execute(
                "SELECT json_extract(entry, '$.patient_id') FROM audit "
                "WHERE (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.pump') END) = ? "
                "ORDER BY seq DESC LIMIT 1",
                (serial,),
            ).fetchone()
            self._patients[serial] = None if row is None or row[0] is None else str(row[0])
        return self._patients[serial]

    def knows_patient(self, serial: str) -> bool:
        return self.patient_id(serial) is not None

    def remember_patient(self, serial: str, patient_id: str, *, actor: str, time_s: int) -> None:
        """Note the patient identifier read from the pump's implant record, when it is new:
        every later audit entry for the pump names it (a ``patient_id`` field)."""
        if self.patient_id(serial) == patient_id:
            return
        self._patients[serial] = patient_id
        try:
            with self._transaction() as db:
                self._audit(db, serial, actor, "patient-identified", time_s, patient_id=patient_id)
        except BaseException:
            self._patients.pop(serial, None)
            raise

    def pump_unit(self, serial: str) -> str | None:
        row = self._db.execute(
            "SELECT display_unit FROM pumps WHERE pump_serial = ?", (serial,)
        ).fetchone()
        return None if row is None else str(row[0])

    # --- the patient's systemic opioids --------------------------------------------------

    def set_systemic_opioid(
        self, serial: str, time_s: int, name: str, amount_text: str, *, clinician: str
    ) -> SystemicEntry:
        """Record that the patient takes ``amount_text`` of ``name`` from ``time_s`` on
        (replacing any earlier amount); checked first (``SystemicError``)."""
        from pumpctl.clinical import systemic

        name, amount_text = systemic.normalise(name, amount_text)
        return self._systemic_row(serial, time_s, clinician, "set", name, amount_text)

    def stop_systemic_opioid(
        self, serial: str, time_s: int, name: str, *, clinician: str
    ) -> SystemicEntry:
        from pumpctl.clinical import systemic

        name = systemic.drug(name).name
        return self._systemic_row(serial, time_s, clinician, "stop", name, "")

    def _systemic_row(
        self,
        serial: str,
        time_s: int,
        clinician: str,
        action: systemic.Action,
        name: str,
        amount_text: str,
    ) -> SystemicEntry:
        from pumpctl.clinical import systemic
        from pumpctl.clinical.systemic import SystemicEntry, SystemicError

        with self._transaction() as db:
            last = db.execute(
                "SELECT id, pump_serial, time_s, clinician, action, name, amount_text "
                "FROM systemic_opioids WHERE pump_serial = ? AND name = ? "
                "ORDER BY time_s DESC, id DESC LIMIT 1",
                (serial, name),
            ).fetchone()
            if action == "stop" and (last is None or last[4] != "set"):
                raise SystemicError(f"{name} is not recorded as taken for pump {serial}")
            if action == "set" and last is not None and last[4:] == ("set", name, amount_text):
                return SystemicEntry(*last)  # already recorded: nothing to write
            cursor = db.execute(
                "INSERT INTO systemic_opioids (pump_serial, time_s, clinician, action, name, "
                "amount_text) VALUES (?, ?, ?, ?, ?, ?)",
                (serial, time_s, clinician, action, name, amount_text),
            )
            entry_id = int(cursor.lastrowid or 0)
            mme = systemic.mme_per_day(name, amount_text) if action == "set" else None
            self._audit(
                db,
                serial,
                clinician,
                f"systemic-opioid-{action}",
                time_s,
                entry_id=entry_id,
                name=name,
                amount_text=amount_text,
                mme_per_day=None if mme is None else systemic.fraction_text(mme),
            )
        return SystemicEntry(entry_id, serial, time_s, clinician, action, name, amount_text)

    def systemic_entries(self, serial: str | None = None) -> list[SystemicEntry]:
        from pumpctl.clinical.systemic import SystemicEntry

        query = (
            "SELECT id, pump_serial, time_s, clinician, action, name, amount_text "
            "FROM systemic_opioids"
        )
        args: tuple[Any, ...] = ()
        if serial is not None:
            query, args = query + " WHERE pump_serial = ?", (serial,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [SystemicEntry(*row) for row in rows]

    def note(self, serial: str, actor: str, action: str, time_s: int, **data: Any) -> None:
        """An audit entry of its own (a guard block, an authentication failure, ...)."""
        with self._transaction() as db:
            self._audit(db, serial, actor, action, time_s, **data)

    # --- audit ---------------------------------------------------------------------------

    def verify_audit(self) -> audit.AuditReport:
        """Check the hash chain, then that the readings and changes the guard and the
        history read agree with the audit entries written with them."""
        with audit.without_gc():
            return self._verify_audit()

    def _verify_audit(self) -> audit.AuditReport:
        report, entries = audit.read(self._db)
        if not report.intact:
            return report
        answers = _Answers(self._db)
        kinds = _by_kind(entries)
        problem = (
            self._check_readings(kinds["vas"])
            or self._check_changes(kinds["change"], answers)
            or self._check_commands(kinds["command"], answers)
            or self._check_systemic(kinds["systemic"])
        )
        return report if problem is None else audit.AuditReport(report.entries, problem)

    def _check_readings(self, entries: list[dict[str, Any]]) -> str | None:
        logged = [e for e in entries if e.get("action") == "vas-logged"]
        rows = self._db.execute(
            "SELECT id, pump_serial, time_s, score_tenths, events_seen, clinician, note, "
            "taken_at_s FROM readings ORDER BY id"
        ).fetchall()
        for row, entry in itertools.zip_longest(rows, logged):
            if row is None:
                return f"the VAS reading of audit entry {entry['seq']} is missing from the record"
            if entry is None:
                return f"VAS reading {row[0]} has no audit entry (added outside pumpctl)"
            data = entry.get("data", {})
            expected: list[Any] = [entry.get("pump"), entry.get("time_s")]
            expected += [data.get("score_tenths"), entry.get("actor"), data.get("note")]
            expected.append(data.get("taken_at_s"))
            actual: list[Any] = [row[1], row[2], row[3], row[5], row[6], row[7]]
            if "reading_id" in data:  # entries written since reading ids were audited
                expected += [data["reading_id"], data.get("events_seen")]
                actual += [row[0], row[4]]
            if actual != expected:
                return f"VAS reading {row[0]} differs from its audit entry {entry['seq']}"
        return None

    def _check_changes(self, entries: list[dict[str, Any]], answers: _Answers) -> str | None:
        requested: dict[Any, dict[str, Any]] = {}
        answered: dict[Any, tuple[Any, Any]] = {}
        for entry in entries:  # each with an action "change-..." (_by_kind)
            action: str = entry["action"]
            data = entry.get("data", {})
            if action == "change-requested":
                requested[data.get("change_id")] = entry
            else:
                answered[data.get("change_id")] = (action[len("change-") :], data.get("detail"))
        rate_event = answers.first_rate_row
        rows = self._db.execute(
            "SELECT id, pump_serial, time_s, clinician, old_ng_per_day, new_ng_per_day, "
            "request_id, override_reason, override_note, outcome, detail FROM changes "
            "ORDER BY id"
        ).fetchall()
        for row in rows:
            if row[0] not in requested:
                return f"change {row[0]} has no audit entry (added outside pumpctl)"
            entry = requested.pop(row[0])
            data = entry.get("data", {})
            outcome, detail = answered.get(row[0], (ChangeOutcome.PENDING, ""))
            expected = (
                entry.get("pump"),
                entry.get("time_s"),
                entry.get("actor"),
                data.get("old_ng_per_day"),
                data.get("new_ng_per_day"),
                data.get("request_id"),
                data.get("override_reason"),
                data.get("override_note"),
                outcome,
                detail,
            )
            if row[1:] != expected:
                return f"change {row[0]} differs from its audit entries"
            event = rate_event(row[1], row[6])
            if event is not None:
                applied = event[2] == EventCode.RATE_CHANGED
                settled = row[9] in SETTLED_CHANGE_OUTCOMES
                if applied != (row[9] == ChangeOutcome.APPLIED) and settled:
                    return _disagreement(f"change {row[0]}", row[9], _EventRow._make(event[:7]))
            if row[9] == ChangeOutcome.APPLIED and event is None:
                return (
                    f"change {row[0]} is recorded as applied but its pump event is missing "
                    "from the record"
                )
        for change_id, entry in requested.items():
            return f"change {change_id} of audit entry {entry['seq']} is missing from the record"
        return None

    def _check_commands(self, entries: list[dict[str, Any]], answers: _Answers) -> str | None:
        requested: dict[Any, dict[str, Any]] = {}
        answered: dict[Any, list[Any]] = {}
        for entry in entries:
            action = str(entry.get("action", ""))
            data = entry.get("data", {})
            if action == "command-requested":
                requested[data.get("command_id")] = entry
            elif action.startswith("command-"):
                answered[data.get("command_id")] = [action[len("command-") :], data.get("detail")]
        for command in self.commands():
            if command.id not in requested:
                return f"command {command.id} has no audit entry (added outside pumpctl)"
            entry = requested.pop(command.id)
            data = entry.get("data", {})
            expected = [entry.get("pump"), entry.get("time_s"), entry.get("actor")]
            expected += [data.get("kind"), data.get("request_id"), data.get("review")]
            expected += answered.get(command.id, [CommandOutcome.PENDING, ""])
            actual = [command.pump_serial, command.time_s, command.clinician, command.kind]
            actual += [str(command.request_id), command.review, command.outcome, command.detail]
            if actual != expected:
                return f"{command.kind} command {command.id} differs from its audit entries"
            event = answers.first(command.pump_serial, str(command.request_id))
            executed = event is not None and event.code != EventCode.REFUSED
            if (
                event is not None
                and command.outcome in SETTLED_COMMAND_OUTCOMES
                and executed != (command.outcome == CommandOutcome.CONFIRMED)
            ):
                return _disagreement(f"{command.kind} command {command.id}", command.outcome, event)
            if command.outcome == CommandOutcome.CONFIRMED and not executed:
                return (
                    f"{command.kind} command {command.id} is recorded as confirmed but its "
                    "pump event is missing from the record"
                )
        for command_id, entry in requested.items():
            return f"command {command_id} of audit entry {entry['seq']} is missing from the record"
        return None

    def _check_systemic(self, entries: list[dict[str, Any]]) -> str | None:
        logged = [e for e in entries if str(e.get("action")).startswith("systemic-opioid-")]
        for row, entry in itertools.zip_longest(self.systemic_entries(), logged):
            if row is None:
                return (
                    f"the systemic opioid of audit entry {entry['seq']} is missing from the record"
                )
            if entry is None:
                return f"systemic opioid entry {row.id} has no audit entry (added outside pumpctl)"
            data = entry.get("data", {})
            expected = [entry.get("pump"), entry.get("time_s"), entry.get("actor")]
            expected += [entry.get("action"), data.get("entry_id"), data.get("name")]
            expected.append(data.get("amount_text"))
            actual = [row.pump_serial, row.time_s, row.clinician, f"systemic-opioid-{row.action}"]
            actual += [row.id, row.name, row.amount_text]
            if actual != expected:
                return f"systemic opioid entry {row.id} differs from its audit entry {entry['seq']}"
        return None

    def audit_entries(self, serial: str | None = None) -> list[dict[str, Any]]:
        return audit.entries(self._db, serial)


def _disagreement(what: str, outcome: str, event: _EventRow) -> str:
    shows = "refused it" if event.code == EventCode.REFUSED else "executed it"
    return (
        f"{what} is recorded as {outcome} but the pump's log (event {event.idx}) {shows}: "
        "the recorded outcome disagrees with the pump (a sync with the pump settles it)"
    )


def _event(row: tuple[Any, ...]) -> EventRecord:
    """A mirrored event from its row (idx, time_s, code, request_id, value_a, value_b, detail)."""
    with _damaged("pump_events"):
        return EventRecord(
            index=row[0],
            time_s=row[1],
            code=EventCode(row[2]),
            request_id=int(row[3]),
            value_a=row[4],
            value_b=row[5],
            detail=row[6],
        )


@contextlib.contextmanager
def _damaged(table: str) -> Iterator[None]:
    """A row that no longer parses (a value altered on disk) is a damaged record: one line."""
    try:
        yield
    except (ValueError, TypeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RecordError(
            f"the clinical record's {table} table holds a damaged row ({first}); "
            "pumpctl audit verify names it"
        ) from error


def _event_filter(
    serial: str, codes: tuple[EventCode, ...] | None, since_s: int | None
) -> tuple[str, list[Any]]:
    query = (
        "SELECT idx, time_s, code, request_id, value_a, value_b, detail FROM pump_events "
        "WHERE pump_serial = ?"
    )
    args: list[Any] = [serial]
    if codes is not None:
        query += f" AND code IN ({', '.join('?' * len(codes))})"
        args += [int(c) for c in codes]
    if since_s is not None:
        query += " AND time_s >= ?"
        args.append(since_s)
    return query, args


def _by_kind(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The audit entries each table check reads, sorted out in one pass over the trail."""
    kinds: dict[str, list[dict[str, Any]]] = {
        "vas": [],
        "change": [],
        "command": [],
        "systemic": [],
    }
    for entry in entries:
        action = entry.get("action")
        if not isinstance(action, str):
            continue
        if action == "vas-logged":
            kinds["vas"].append(entry)
        elif action.startswith("change-"):
            kinds["change"].append(entry)
        elif action.startswith("command-"):
            kinds["command"].append(entry)
        elif action.startswith("systemic-opioid-"):
            kinds["systemic"].append(entry)
    return kinds


class _Answers:
    """The first mirrored event under each request id (and the first that answers a SET_RATE),
    read in one pass, so checking every change and command against the pump's log does not
    query the mirror once per row."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._any: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._rate: dict[tuple[str, str], tuple[Any, ...]] = {}
        first_any, first_rate = self._any.setdefault, self._rate.setdefault
        rate_codes = {int(c) for c in RATE_ANSWERS}
        # The pump's serial last, so that each row is kept as it comes: an _EventRow and then
        # the serial it was mirrored under.
        for row in db.execute(
            "SELECT idx, time_s, code, request_id, value_a, value_b, detail, pump_serial "
            "FROM pump_events WHERE request_id != '0' ORDER BY pump_serial, idx"
        ):
            serial = row[7]
            if ARCHIVE_MARK in serial:
                serial = serial.split(ARCHIVE_MARK, 1)[0]  # a former log's, too
            key = (serial, row[3])
            first_any(key, row)
            if row[2] in rate_codes:
                first_rate(key, row)

    def first_rate_row(self, serial: str, request_id: str) -> tuple[Any, ...] | None:
        """The first answer to a SET_RATE as its row holds it (the code third), for the
        check of every change, which looks at the code alone unless they disagree."""
        return self._rate.get((serial, request_id))

    def first(self, serial: str, request_id: str) -> _EventRow | None:
        row = self._any.get((serial, request_id))
        return None if row is None else _EventRow._make(row[:7])


class _EventRow(NamedTuple):
    """A mirrored event as its row holds it: what the checks compare, without building the
    validated ``EventRecord`` unless a message needs it."""

    idx: int
    time_s: int
    code: int
    request_id: str
    value_a: int
    value_b: int
    detail: str
