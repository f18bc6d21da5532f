"""``pumpctl set-rate`` through each kind of line fault, as a clinician's script would run it:
every exit status says what the pump did, and after one clean sync the record and the audit
trail agree with the pump's log. The CLI runs in this process, the simulator behind a faulty
memory line (``firmware_sim.faults.MemoryFaults``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from firmware_sim.faults import LineFaults, MemoryFaults
from pumpctl.cli import main
from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator

pytestmark = pytest.mark.needs_simulator

KINDS = {  # about 1 byte in 200 broken, the line of the targets
    "corrupt": "corrupt=0.005",
    "drop": "drop=0.004",
    "duplicate": "duplicate=0.005",
    "swap": "swap=0.005",
    "garbage": "garbage=0.004",
    "stall": "stall=0.15,stall_s=0.15",
    "cut": "cut=0.05,cut_s=0.15",
    "mixed": "corrupt=0.001,drop=0.001,duplicate=0.001,swap=0.001,garbage=0.001,"
    "stall=0.03,stall_s=0.15,cut=0.01,cut_s=0.15",
}
DOSES = {"mixed": ("1.35", "1.3", "1.25")}  # one command for each single kind
# What each exit status may leave in the record for the command it ran.
MAY_LEAVE: dict[int, set[str | None]] = {
    0: {"applied"},
    1: {"refused"},
    3: {None, "not-applied"},  # nothing sent, or the pump shows it never received it
    4: {"uncertain"},
}


def _rows(db: Path) -> list[tuple[int, int, str]]:
    if not db.exists():
        return []
    connection = sqlite3.connect(db)
    try:
        query = "SELECT id, request_id, outcome FROM changes ORDER BY id"
        return [(int(i), int(r), str(o)) for i, r, o in connection.execute(query).fetchall()]
    finally:
        connection.close()


@pytest.mark.parametrize("kind", KINDS)
def test_every_exit_status_says_what_the_pump_did(
    pump: PumpUnderTest, cli_env: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = pump.sim
    assert isinstance(sim, InProcessSimulator)
    faults = MemoryFaults(LineFaults.parse(f"{KINDS[kind]},seed=3"))
    sim.line.tamper = faults
    said: list[tuple[int, str | None]] = []
    for dose in DOSES.get(kind, ("1.3",)):
        before = len(_rows(cli_env))
        code = main(["--port", pump.port, "set-rate", dose])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert code in MAY_LEAVE, err
        rows = _rows(cli_env)
        assert len(rows) - before in (0, 1)
        outcome = rows[-1][2] if len(rows) > before else None
        assert outcome in MAY_LEAVE[code], (code, outcome, err)
        said.append((code, outcome))
    counters = faults.counters
    assert any(vars(c) != vars(type(c)()) for c in counters.values())  # faults happened
    sim.line.tamper = None
    assert main(["--port", pump.port, "history"]) == 0  # one clean sync settles the rest
    events, _ = pump.client.read_all_events(0)
    by_request = {e.request_id: e.code for e in events if e.request_id}
    for _, request_id, outcome in _rows(cli_env):
        expected = {
            EventCode.RATE_CHANGED: "applied",
            EventCode.REFUSED: "refused",
            None: "not-applied",
        }[by_request.get(request_id)]
        assert outcome == expected, (said, _rows(cli_env))
    assert main(["audit", "verify"]) == 0, capsys.readouterr().err
