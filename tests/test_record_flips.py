"""A flipped byte in the clinical record's readings or changes never changes the guard's
verdict silently: each flip either leaves the verdict as it was or is caught (the record
refuses to open, or its audit trail does not verify and the guard trusts none of it).

The run is a bounded sample of (row, column, byte, bit) in the suite; ``PUMPCTL_RECORD_FLIP_ALL=1``
flips a bit of every byte (docs/faults.md)."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pumpctl.client import PumpClient
from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.programmer import Programmer
from pumpctl.programmer.commands import SetRate
from pumpctl.programmer.errors import GuardBlocked
from pumpctl.testing.plugin import PumpUnderTest
from tests.clinical.clinic import Clinic
from tests.clinical.test_scenarios import CASE_CHECKED

pytestmark = pytest.mark.needs_simulator  # the pump's clock

SAMPLE = 48  # flips per history in the suite's run; every byte with PUMPCTL_RECORD_FLIP_ALL=1
TABLES = ("readings", "changes")
TOLERANCE: tuple[str, ...] = ("vas 7", "days 3", "set-rate 1.6", "days 1", "vas 6")
TOLERANCE += ("set-rate 1.8", "days 1", "vas 4.5")
PROPOSED_NG_PER_DAY = 2_000_000  # 2.0 mg/day of morphine: an increase the guard weighs
CAUGHT = "caught"


@dataclass(frozen=True)
class Flip:
    table: str
    row_id: int
    column: str
    byte: int
    bit: int

    def __str__(self) -> str:
        return f"{self.table} row {self.row_id} {self.column} byte {self.byte} bit {self.bit}"


def verdict(pump: PumpUnderTest, db: Path) -> str:
    """The guard's verdict on 2.0 mg/day from this record (nothing is sent: only planned)."""

    async def plan(client: PumpClient) -> str:
        try:
            record = ClinicalRecord.open(db)
        except RecordError:
            return CAUGHT
        try:
            programmer = Programmer(client, record, clinician="dr-case")
            try:
                made = await programmer.plan(SetRate(dose_ng_per_day=PROPOSED_NG_PER_DAY))
            except GuardBlocked as blocked:
                return f"{blocked.decision.verdict.value} {blocked.decision.rule.value}"
            except RecordError:
                return CAUGHT
            assert made.guard is not None
            return f"{made.guard.verdict.value} {made.guard.rule.value}"
        finally:
            record.close()

    result: str = pump.client.run(plan)
    return result


def flips(db: Path, rng: random.Random) -> list[Flip]:
    """Every (row, column, byte) of the readings and changes, a random bit each."""
    conn = sqlite3.connect(db)
    try:
        found = []
        for table in TABLES:
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT id, * FROM {table}"):
                for column, value in zip(columns, row[1:], strict=True):
                    size = 8 if isinstance(value, int) else len(str(value or "").encode())
                    for byte in range(size):
                        found.append(Flip(table, row[0], column, byte, rng.randrange(7)))
        return found
    finally:
        conn.close()


def apply(db: Path, flip: Flip) -> bool:
    """Flip one bit of one stored value, as a fault in the disk would: past every constraint.
    False if the flip would make two rows share an id (a malformed table SQLite itself
    reports, not a value the record could read)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        query = f"SELECT {flip.column} FROM {flip.table} WHERE id = ?"
        (value,) = conn.execute(query, (flip.row_id,)).fetchone()
        if isinstance(value, int):
            (as_unsigned,) = struct.unpack("<Q", struct.pack("<q", value))
            flipped: object = struct.unpack(
                "<q", struct.pack("<Q", as_unsigned ^ (1 << (8 * flip.byte + flip.bit)))
            )[0]
        else:
            raw = bytearray(str(value).encode())
            raw[flip.byte] ^= 1 << flip.bit
            flipped = raw.decode(errors="replace")
        try:
            with conn:
                conn.execute(
                    f"UPDATE {flip.table} SET {flip.column} = ? WHERE id = ?",
                    (flipped, flip.row_id),
                )
        except sqlite3.IntegrityError:
            return False
        return True
    finally:
        conn.close()


def sample(found: list[Flip], rng: random.Random) -> list[Flip]:
    if os.environ.get("PUMPCTL_RECORD_FLIP_ALL") == "1":
        return found
    return rng.sample(found, min(SAMPLE, len(found)))


@pytest.fixture
def clinic(pump: PumpUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Clinic:
    assert pump.sim is not None
    return Clinic(pump.sim, tmp_path / "clinical.db", capsys)


def history(clinic: Clinic, steps: tuple[str, ...]) -> Path:
    for step in steps:
        clinic.step(step)
    return clinic.db


def run_flips(pump: PumpUnderTest, db: Path, tmp_path: Path, expected: str) -> Iterator[str]:
    """Each sampled flip's verdict, on a fresh copy of the record; yields what went wrong."""
    assert verdict(pump, db) == expected  # the record as written: the verdict to keep
    pristine = tmp_path / "pristine.db"
    shutil.copy(db, pristine)
    rng = random.Random(1729)
    checked = tmp_path / "flipped.db"
    seen: dict[str, int] = {}
    for flip in sample(flips(pristine, rng), rng):
        shutil.copy(pristine, checked)
        got = verdict(pump, checked) if apply(checked, flip) else "unrepresentable"
        seen[got] = seen.get(got, 0) + 1
        if got not in (expected, CAUGHT, "unrepresentable"):
            yield f"{flip}: {got}"
    assert seen.get(CAUGHT, 0) > 0, f"no flip was caught, the sample checked nothing: {seen}"


def test_no_flip_in_the_published_case_lets_the_blocked_increase_through(
    pump: PumpUnderTest, clinic: Clinic, tmp_path: Path
) -> None:
    db = history(clinic, CASE_CHECKED)
    wrong = list(run_flips(pump, db, tmp_path, "block step-rise"))
    assert wrong == []
    assert clinic.dose() == 1_800_000  # nothing reached the pump


def test_no_flip_in_a_tolerance_history_turns_its_verdict_silently(
    pump: PumpUnderTest, clinic: Clinic, tmp_path: Path
) -> None:
    db = history(clinic, TOLERANCE)
    wrong = list(run_flips(pump, db, tmp_path, "allow no-pattern"))
    assert wrong == []
    assert clinic.dose() == 1_800_000
