"""The NV store and restarts in-process: the event ring and its overflow counter, the ring's
capacity kept with the memory, state files and drug libraries from before a field existed,
and a restart of a pump whose clock follows real time."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.model import clock
from firmware_sim.model.events import Event
from firmware_sim.model.library import DrugLibrary, default_library
from firmware_sim.model.state import PumpState
from firmware_sim.simulator import InitialProgram, Simulator
from firmware_sim.store import EVENT_CAPACITY, NonVolatileStore
from pumpctl.protocol.messages import AlarmCode, EventCode, Severity, StopRequest
from tests.nv_schema import as_schema_0
from tests.power_cut import cut_when_inside

DAY_MS = 86_400_000


def test_the_ring_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    store = NonVolatileStore(tmp_path / "nv.db")
    state = Simulator(tmp_path / "seed.db", InitialProgram(frozen_clock=True)).pump.state
    for i in range(EVENT_CAPACITY + 4):
        store.append(Event(i, EventCode.CATHETER_CHECKED, i + 1))
        if i % 1000 == 999:
            store.commit(state)
    store.commit(state)
    page = store.read_events(0, 3)
    assert (page.oldest_index, page.overflow_count, page.next_index) == (4, 4, 4100)
    assert [s.index for s in page.events] == [4, 5, 6]
    assert page.events[0].event.request_id == 5
    store.close()


def test_the_ring_capacity_is_kept_with_the_memory(tmp_path: Path) -> None:
    path = tmp_path / "nv.db"
    NonVolatileStore(path, event_capacity=8).close()
    store = NonVolatileStore(path, event_capacity=100)
    assert store.event_capacity == 8
    store.close()
    with pytest.raises(ValueError, match="at least one event"):
        NonVolatileStore(tmp_path / "other.db", event_capacity=0)


def test_a_state_saved_before_boluses_could_stop_and_doses_had_a_history_loads(
    tmp_path: Path,
) -> None:
    sim = Simulator(tmp_path / "nv.db", InitialProgram(frozen_clock=True))
    data = sim.pump.state.to_json()
    sim.close()
    del data["dose_history"]
    data["boluses"] = [{"start_ms": 1, "dose_ng": 2, "duration_ms": 3, "request_id": 4}]
    state = PumpState.from_json(data)
    assert state.boluses[0].stopped_ms is None
    assert state.dose_history == [[state.last_rate_change_ms, state.dose_ng_per_day]]
    assert PumpState.from_json(state.to_json()) == state


def test_a_restart_with_a_running_clock_boots_at_the_time_it_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pump kept pumping while the simulator was down: what it delivered meanwhile is
    there, its events come before the restart's BOOT, and the BOOT is at restart time."""
    wall = [1_800_000_000_000]
    monkeypatch.setattr(clock, "_wall_ms", lambda: wall[0])
    path = tmp_path / "nv.db"
    sim = Simulator(path, InitialProgram(volume_ul=3_100))  # 100 µL above the threshold
    boot_ms = sim.pump.now_ms()
    assert boot_ms == wall[0]
    sim.close()

    wall[0] += 2 * DAY_MS
    sim = Simulator(path)
    pump = sim.pump
    assert pump.now_ms() == pump.state.anchor_ms == boot_ms + 2 * DAY_MS
    assert pump.state.reservoir_nl == 3_100_000 - 2 * 56_000
    page = sim.store.read_events(0, 64)
    codes = [(s.event.code, s.event.time_ms) for s in page.events]
    low_ms = boot_ms + -(-100_000 * DAY_MS // 56_000)  # ceil: 100 µL at 56 µL/day
    assert codes == [
        (EventCode.BOOT, boot_ms),
        (EventCode.ALARM_RAISED, low_ms),
        (EventCode.BOOT, boot_ms + 2 * DAY_MS),
    ]
    assert page.events[-1].event.detail.startswith("restart")
    sim.close()


def test_a_restart_with_a_frozen_clock_resumes_at_the_same_instant(tmp_path: Path) -> None:
    path = tmp_path / "nv.db"
    sim = Simulator(path, InitialProgram(frozen_clock=True))
    sim.advance(DAY_MS // 3)
    before = sim.snapshot()
    sim.close()
    sim = Simulator(path)
    after = sim.snapshot()
    assert after["pump_time_ms"] == before["pump_time_ms"]
    assert Fraction(*after["reservoir_nl"]) == Fraction(*before["reservoir_nl"])
    sim.close()


# --- memories written by firmware before the drug library's schema 2 ----------------------


def _rewrite(path: Path, key: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change one JSON value of the NV memory, as an older firmware left it: the memory is
    turned back into schema 0 (no MACs, no copies), which boot migrates."""
    db = sqlite3.connect(path)
    (text,) = db.execute("SELECT value FROM nv WHERE key = ?", (key,)).fetchone()
    data = json.loads(text)
    edit(data)
    if db.execute("PRAGMA user_version").fetchone()[0] != 0:
        db.executescript(
            "CREATE TABLE old (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO old SELECT key, value FROM nv; DROP TABLE nv; DROP TABLE nv_copy;"
            "ALTER TABLE old RENAME TO nv; PRAGMA user_version = 0;"
        )
    db.execute("UPDATE nv SET value = ? WHERE key = ?", (json.dumps(data), key))
    db.commit()
    db.close()


SCHEMA_2_FIELDS = (
    "bridge_bolus_max_ng",
    "withdrawal_risk",
    "retitration_interval_s",
    "max_refill_interval_s",
)


def _as_schema_1(library: dict[str, Any]) -> None:
    library["schema"] = 1
    for limits in library["drugs"].values():
        for field in SCHEMA_2_FIELDS:
            del limits[field]


def test_a_memory_holding_a_schema_1_library_boots_with_the_shipped_values(
    tmp_path: Path,
) -> None:
    """A drug the shipped library knows gets its values; any other drug the strictest."""
    path = tmp_path / "nv.db"
    library = default_library().to_json()
    library["drugs"]["trialdrug"] = {**library["drugs"]["morphine"], "bolus_max_ng": 50_000}
    Simulator(path, InitialProgram(frozen_clock=True), DrugLibrary.from_json(library)).close()
    _rewrite(path, "library", _as_schema_1)
    sim = Simulator(path)
    loaded = sim.pump.library
    assert loaded.drugs["morphine"] == default_library().drugs["morphine"]
    assert loaded.drugs["ziconotide"].withdrawal_risk == "none"
    trial = loaded.drugs["trialdrug"]
    assert (trial.bridge_bolus_max_ng, trial.withdrawal_risk, trial.retitration_interval_s) == (
        50_000,
        "opioid",
        7 * 86_400,
    )
    sim.close()


def test_a_schema_1_library_gets_each_drugs_maximum_refill_interval() -> None:
    """The shipped value for a drug the shipped library knows (ziconotide 40 days, baclofen
    180), 180 days for any other drug."""
    library = default_library().to_json()
    library["drugs"]["trialdrug"] = dict(library["drugs"]["morphine"])
    _as_schema_1(library)
    assert all("max_refill_interval_s" not in d for d in library["drugs"].values())
    loaded = DrugLibrary.from_json(library)
    days = {name: d.max_refill_interval_s / 86_400 for name, d in loaded.drugs.items()}
    assert days == {
        "morphine": 180,
        "hydromorphone": 180,
        "ziconotide": 40,
        "baclofen": 180,
        "trialdrug": 180,
    }
    assert loaded.drugs == {**default_library().drugs, "trialdrug": loaded.drugs["trialdrug"]}


def test_a_schema_2_library_lacking_a_field_is_refused() -> None:
    """Only schema 1 is filled in: a schema-2 entry without a schema-2 field is refused, the
    maximum refill interval like the others."""
    for field in SCHEMA_2_FIELDS:
        library = default_library().to_json()
        del library["drugs"]["ziconotide"][field]
        with pytest.raises(ValueError, match=field):
            DrugLibrary.from_json(library)


def test_a_library_of_a_newer_schema_is_refused() -> None:
    library = default_library().to_json()
    library["schema"] = 3
    with pytest.raises(ValueError, match="schema 3 is newer than this firmware's"):
        DrugLibrary.from_json(library)
    library["schema"] = 2
    library["drugs"]["morphine"]["withdrawal_risk"] = "mild"
    with pytest.raises(ValueError, match="withdrawal_risk 'mild'"):
        DrugLibrary.from_json(library)


def test_a_stopped_pump_saved_before_the_stopped_alarm_gets_it_at_boot(tmp_path: Path) -> None:
    path = tmp_path / "nv.db"
    sim = Simulator(path, InitialProgram(frozen_clock=True))
    sim.pump.handle(StopRequest(request_id=1))
    sim.store.commit(sim.pump.state)
    sim.advance(DAY_MS)
    sim.close()
    _rewrite(path, "state", lambda state: state["alarms"].pop(str(int(AlarmCode.PUMP_STOPPED))))
    _rewrite(path, "library", _as_schema_1)

    sim = Simulator(path)
    stopped = sim.pump.state.alarms[AlarmCode.PUMP_STOPPED]
    assert stopped.severity == Severity.CRITICAL  # morphine, from the shipped library
    assert stopped.raised_ms == sim.pump.now_ms()  # the boot: when it stopped was not kept
    assert not sim.pump.state.running
    sim.close()
    sim = Simulator(path)  # and a restart after that changes nothing
    assert sim.pump.state.alarms[AlarmCode.PUMP_STOPPED] == stopped
    sim.close()


NV_FIXTURE = Path(__file__).parent / "fixtures" / "pump-nv-v1.sql"


def _nv_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("nv", "nv_copy", "events", "outcomes")
        }
    finally:
        db.close()


def test_a_memory_written_by_this_release_boots_as_it_was(tmp_path: Path) -> None:
    """tests/fixtures/pump-nv-v1.sql: a pump's memory (schema 1) after a dose change to 1.6
    mg/day and a bolus, as this release writes it. The next schema's migration starts here."""
    path = tmp_path / "pump.db"
    db = sqlite3.connect(path)
    db.executescript(NV_FIXTURE.read_text())
    db.close()
    before = _nv_rows(path)
    sim = Simulator(path, first_boot_allowed=False)
    try:
        state = sim.pump.state
        assert AlarmCode.NV_INTEGRITY not in state.alarms
        assert (state.dose_ng_per_day, len(state.boluses)) == (1_600_000, 1)
        logged = [s.event.code for s in sim.store.read_events(0, 100).events]
        assert logged[:4] == [e[2] for e in before["events"]]  # every event kept, in order
        assert logged[4] == EventCode.BOOT
    finally:
        sim.close()
    after = _nv_rows(path)
    assert after["events"][: len(before["events"])] == before["events"]
    assert after["outcomes"] == before["outcomes"]  # each request's recorded outcome


HALF_SEAL_AND_HANG = """
import sys, time
from pathlib import Path
from firmware_sim.simulator import Simulator
from firmware_sim.store import NonVolatileStore

write = NonVolatileStore._write

def write_then_hang(self, key, value):
    write(self, key, value)
    print("inside", flush=True)  # one value sealed, the migration's transaction open: cut here
    time.sleep(60)

NonVolatileStore._write = write_then_hang
Simulator(Path(sys.argv[1]), first_boot_allowed=False)
"""


def test_a_power_cut_while_an_older_memory_is_sealed_leaves_it_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "pump.db"
    db = sqlite3.connect(path)
    db.executescript(NV_FIXTURE.read_text())
    db.close()
    as_schema_0(path)
    db = sqlite3.connect(path)
    before = db.execute("SELECT * FROM nv ORDER BY key").fetchall()
    db.close()
    cut_when_inside(HALF_SEAL_AND_HANG, str(path))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert db.execute("SELECT * FROM nv ORDER BY key").fetchall() == before
    db.close()
    sim = Simulator(path, first_boot_allowed=False)  # the next boot seals it whole
    try:
        assert AlarmCode.NV_INTEGRITY not in sim.pump.state.alarms
        assert sim.pump.state.dose_ng_per_day == 1_600_000
    finally:
        sim.close()
