"""Killing the programmer with SIGKILL while it logs and programs leaves a record that
opens, verifies, and holds every committed entry; a change the kill left ``pending`` is
settled from the pump's event log by the next session (``Programmer.reconcile_pending``).

SIGKILL kills the process, not the machine: what is tested is that no half-written
transaction survives and nothing committed is lost. An OS crash or real power loss (the
case ``PRAGMA synchronous=FULL`` is for) is not something a test can stage here.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pumpctl.client import PumpClient
from pumpctl.clinical.record import ChangeOutcome, ClinicalRecord, RecordError
from pumpctl.link.errors import PumpRefused
from pumpctl.programmer import AppliedNotRecorded, Programmer
from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.testing.plugin import PumpUnderTest

T = TypeVar("T")
SERIAL = "SIM000001"

pytestmark = pytest.mark.needs_simulator

# The child: a programmer that logs VAS and steps the dose up and down for as long as it
# lives, advancing the pump's clock a day and checking the catheter before each increase (the
# pump's 24 h rule; the guard's delivery check), and
# printing one line after each operation is committed to the record.
CHILD = r"""
import asyncio, random, sys

from firmware_sim.control import ControlClient
from pumpctl.client import PumpClient
from pumpctl.clinical.guard import OverrideReason
from pumpctl.keystore import Keystore
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.programmer import CatheterCheck, Override, Programmer


async def main(port, db, control_path, seed, keystore):
    rng = random.Random(seed)
    control = ControlClient(control_path)
    record = ClinicalRecord.open(db)
    client = await PumpClient.open(port, keys=Keystore(keystore))
    programmer = Programmer(client, record, clinician="powercut")
    # every increase is documented, so the guard never stops the loop
    override = Override(OverrideReason.TOLERANCE_CONFIRMED, "power-cut test")
    print("ready", flush=True)
    while True:
        if rng.random() < 0.4:
            score = rng.randint(0, 100)
            await programmer.log_vas(score)
            print(f"vas {score}", flush=True)
            continue
        seen = await programmer.interrogate()
        current = seen.status.dose_ng_per_day
        up = current <= 1_300_000 or (current < 2_000_000 and rng.random() < 0.5)
        if up:
            control.advance(86_400_000)
            # a patent catheter check first: delivery is ruled out, which no override does
            await programmer.run(CatheterCheck())
            seen = await programmer.interrogate()
        new = current + 100_000 if up else current - 100_000
        await programmer.set_rate(new, believed=seen, override=override)
        change = record.changes(seen.identity.serial_number)[-1]
        assert change.new_ng_per_day == new and change.outcome == "applied"
        print(f"change {change.id} {new}", flush=True)


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
"""

# More kills, elsewhere: PUMPCTL_PROGRAMMER_KILLS=200 PUMPCTL_PROGRAMMER_KILL_SEED=7
RUNS = int(os.environ.get("PUMPCTL_PROGRAMMER_KILLS", "8"))
SEED = int(os.environ.get("PUMPCTL_PROGRAMMER_KILL_SEED", "20260104"))


def on_pump(pump: PumpUnderTest, call: Callable[[PumpClient], Awaitable[T]]) -> T:
    return pump.client.run(call)


def sync(pump: PumpUnderTest, db: Path) -> list[tuple[int, str]]:
    """A new session: interrogate and sync the record (which settles open changes)."""

    async def go(client: PumpClient) -> list[tuple[int, str]]:
        record = ClinicalRecord.open(db)
        try:
            before = {c.id: c.outcome for c in record.changes(SERIAL)}
            programmer = Programmer(client, record, clinician="next-session")
            await programmer.sync_record(await programmer.interrogate())
            return [(c.id, c.outcome) for c in record.changes(SERIAL) if before[c.id] != c.outcome]
        finally:
            record.close()

    return on_pump(pump, go)


def begin(db: Path, pump: PumpUnderTest, new: int, request_id: int) -> int:
    """Commit a change's intent as ``Programmer.set_rate`` does, after a sync."""
    sync(pump, db)
    status = pump.client.status()
    record = ClinicalRecord.open(db)
    try:
        return record.begin_change(
            SERIAL,
            status.pump_time_s,
            clinician="killed",
            old_ng_per_day=status.dose_ng_per_day,
            new_ng_per_day=new,
            request_id=request_id,
        )
    finally:
        record.close()


def changes(db: Path) -> dict[int, Any]:
    record = ClinicalRecord.open(db)
    try:
        return {c.id: c for c in record.changes(SERIAL)}
    finally:
        record.close()


def verified(db: Path) -> int:
    record = ClinicalRecord.open(db)
    try:
        report = record.verify_audit()
    finally:
        record.close()
    assert report.intact, report.problem
    return report.entries


# --- settling open changes from the pump's event log -------------------------------------


def test_a_pending_change_the_pump_applied_is_settled_applied(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    db = tmp_path / "clinical.db"
    change = begin(db, pump, 1_300_000, request_id=0xC0FFEE)
    pump.client.set_rate(1_300_000, 1_400_000, request_id=0xC0FFEE)  # then the kill
    assert changes(db)[change].outcome == "pending"
    assert sync(pump, db) == [(change, "applied")]
    assert changes(db)[change].detail.startswith("settled from the pump's event log (event ")
    assert sync(pump, db) == []  # settled once
    assert verified(db) == 2


def test_a_pending_change_never_sent_is_settled_not_applied(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    db = tmp_path / "clinical.db"
    change = begin(db, pump, 1_300_000, request_id=0xBEEF)  # killed before sending
    assert sync(pump, db) == [(change, "not-applied")]
    assert pump.client.status().dose_ng_per_day == 1_400_000
    assert verified(db) == 2


def test_a_pending_change_the_pump_refused_is_settled_refused(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    db = tmp_path / "clinical.db"
    change = begin(db, pump, 5_000_000, request_id=0xF00D)
    with pytest.raises(PumpRefused):
        pump.client.set_rate(5_000_000, 1_400_000, request_id=0xF00D)
    assert sync(pump, db) == [(change, "refused")]
    assert changes(db)[change].detail.startswith("settled from the pump's event log (event ")
    assert verified(db) == 2


def test_an_uncertain_change_is_settled_by_the_next_session(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    db = tmp_path / "clinical.db"
    change = begin(db, pump, 1_300_000, request_id=0xABCD)
    pump.client.set_rate(1_300_000, 1_400_000, request_id=0xABCD)
    record = ClinicalRecord.open(db)
    record.finish_change(change, ChangeOutcome.UNCERTAIN, "no answer, and the read-back failed")
    record.close()
    assert sync(pump, db) == [(change, "applied")]
    assert verified(db) == 3


def test_a_record_failure_after_sending_leaves_pending_then_settled(
    pump: PumpUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record cannot be written once the pump has been told: the command stands, the
    programmer reports it applied but not recorded, and the next session settles the change."""
    db = tmp_path / "clinical.db"

    async def go(client: PumpClient) -> None:
        record = ClinicalRecord.open(db)
        try:
            programmer = Programmer(client, record)

            def broken(*args: Any, **kwargs: Any) -> None:
                raise RecordError("cannot write clinical record: disk I/O error")

            monkeypatch.setattr(record, "finish_change", broken)
            with pytest.raises(AppliedNotRecorded):
                await programmer.set_rate(1_300_000)
        finally:
            record.close()

    on_pump(pump, go)
    assert pump.client.status().dose_ng_per_day == 1_300_000
    (change,) = changes(db).values()
    assert change.outcome == "pending"
    assert sync(pump, db) == [(change.id, "applied")]
    assert verified(db) == 2


def test_a_change_in_flight_is_not_settled_under_the_programmer(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    """A sync while this programmer's own change awaits its answer leaves it alone."""
    db = tmp_path / "clinical.db"
    seen_outcomes: list[str] = []

    async def go(client: PumpClient) -> None:
        record = ClinicalRecord.open(db)
        try:
            programmer: Programmer

            class Spy:
                def __getattr__(self, name: str) -> Any:
                    return getattr(client, name)

                async def send_once(self, *args: Any, **kwargs: Any) -> Any:
                    reply = await client.send_once(*args, **kwargs)
                    await programmer.sync_record(await programmer.interrogate())
                    seen_outcomes.append(record.changes(SERIAL)[-1].outcome)
                    return reply

            programmer = Programmer(Spy(), record)  # type: ignore[arg-type]
            await programmer.set_rate(1_300_000)
        finally:
            record.close()

    on_pump(pump, go)
    assert seen_outcomes == ["pending"]
    (change,) = changes(db).values()
    assert change.outcome == "applied"
    assert change.detail == "verified by read-back"
    assert verified(db) == 2


def test_a_gap_in_the_mirrored_event_log_makes_a_pending_change_uncertain(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    """Events the pump's ring buffer overwrote before they were mirrored might have held
    the answer: the change is then uncertain, not "not applied"."""

    def events(*indices: int) -> list[EventRecord]:
        return [
            EventRecord(
                index=i,
                time_s=1000 + i,
                code=EventCode.ALARM_RAISED,
                request_id=0,
                value_a=0,
                value_b=0,
                detail="",
            )
            for i in indices
        ]

    record = ClinicalRecord.open(tmp_path / "clinical.db")
    try:
        record.mirror_events(SERIAL, events(0, 1, 2))
        gap = record.begin_change(
            SERIAL, 1002, clinician="a", old_ng_per_day=1, new_ng_per_day=2, request_id=5
        )
        record.mirror_events(SERIAL, events(7, 8))  # 3..6 overwritten before this read
        programmer = Programmer(pump.client.client, record)  # the record's side only
        assert programmer.reconcile_pending(SERIAL) == [(gap, "uncertain")]
        assert programmer.reconcile_pending(SERIAL) == []  # and stays so
        record.mirror_events(SERIAL, events(9))
        later = record.begin_change(
            SERIAL, 1009, clinician="a", old_ng_per_day=1, new_ng_per_day=2, request_id=6
        )
        record.mirror_events(SERIAL, events(10, 11))  # no gap since this one began
        assert programmer.reconcile_pending(SERIAL) == [(later, "not-applied")]
        assert record.verify_audit().intact
    finally:
        record.close()


# --- SIGKILL at random moments -----------------------------------------------------------


@pytest.mark.needs_process
def test_sigkill_while_logging_and_programming_loses_nothing_committed(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    assert pump.sim is not None
    pump.client.close()  # the children own the port while they run
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db = tmp_path / "clinical.db"
    rng = random.Random(SEED)
    left_pending = operations = 0
    for run in range(RUNS):
        before = _contents(db)
        child = subprocess.Popen(
            [
                sys.executable,
                str(script),
                pump.port,
                str(db),
                pump.sim.control_path,
                str(run),
                str(pump.keys.path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        watchdog = threading.Timer(20, child.kill)  # never hang the suite on a stuck child
        watchdog.start()
        ready = child.stdout.readline()
        assert ready == "ready\n", (ready, child.communicate(timeout=10))
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=10)
        watchdog.cancel()
        assert child.returncode == -signal.SIGKILL, err  # it was running, not failing
        reported = [line.split() for line in out.splitlines()]
        operations += len(reported)

        # the record opens and verifies
        verified(db)
        after = _contents(db)
        # every reading the child reported committed is there, in order; at most one more
        # (committed, killed before it could say so)
        new_readings = after["readings"][len(before["readings"]) :]
        said_vas = [int(line[1]) for line in reported if line[0] == "vas"]
        assert new_readings[: len(said_vas)] == said_vas
        assert len(new_readings) - len(said_vas) in (0, 1)
        # every change it reported is there, applied; a later one may be open
        said_changes = [(int(line[1]), int(line[2])) for line in reported if line[0] == "change"]
        for change_id, dose in said_changes:
            change = after["changes"][change_id]
            assert (change.new_ng_per_day, change.outcome) == (dose, "applied")
        last_said = max((c for c, _ in said_changes), default=0)
        unsaid = [
            c for i, c in after["changes"].items() if i > last_said and i not in before["changes"]
        ]
        assert len(unsaid) <= 1
        left_pending += sum(c.outcome == "pending" for c in unsaid)

    # the next session settles whatever the last kill left open
    pump.reconnect()
    sync(pump, db)
    verified(db)
    final = changes(db)
    events, _ = pump.client.read_all_events()
    answer = {
        e.request_id: e for e in events if e.code in (EventCode.RATE_CHANGED, EventCode.REFUSED)
    }
    for change in final.values():
        event = answer.get(change.request_id)
        if event is None:
            assert change.outcome == "not-applied", change
        elif event.code == EventCode.REFUSED:
            assert change.outcome == "refused", change
        else:
            assert change.outcome == "applied", change
            assert event.value_b == change.new_ng_per_day
    applied = [c for c in final.values() if c.outcome == "applied"]
    assert applied, "no change was ever applied: the runs were too short to test anything"
    assert pump.client.status().dose_ng_per_day == applied[-1].new_ng_per_day
    assert operations >= RUNS
    print(f"{RUNS} kills, {operations} operations reported, {left_pending} left pending")


def _contents(db: Path) -> dict[str, Any]:
    if not db.exists():
        return {"readings": [], "changes": {}}
    record = ClinicalRecord.open(db)
    try:
        return {
            "readings": [r.score_tenths for r in record.readings(SERIAL)],
            "changes": {c.id: c for c in record.changes(SERIAL)},
        }
    finally:
        record.close()
