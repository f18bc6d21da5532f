"""``pumpsim --pty --line-faults SPEC``: the simulator serves through a FaultyLine and prints
the faulty port; the programmer's real serial path works through it, and a bad spec is a
one-line usage error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.protocol.messages import EventCode
from pumpctl.testing.targets import SimulatorProcess

PUMPSIM = Path(sys.executable).parent / "pumpsim"
HOSTILE = "corrupt=0.003,drop=0.001,duplicate=0.001,garbage=0.001,swap=0.001,seed=11"


@pytest.fixture
def start_faulty() -> Iterator[Callable[[str], SimulatorProcess]]:
    started: list[SimulatorProcess] = []

    def start(spec: str) -> SimulatorProcess:
        sim = SimulatorProcess(extra_args=("--line-faults", spec)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.cleanup()


def test_a_clean_spec_is_a_transparent_line(
    start_faulty: Callable[[str], SimulatorProcess],
) -> None:
    sim = start_faulty("seed=3")
    with SyncPumpClient(sim.port, keys=Keystore(sim.keystore_path)) as client:
        before = client.status()
        reply = client.set_rate(1_500_000, before.dose_ng_per_day)
        assert reply.dose_ng_per_day == 1_500_000
        assert client.status().dose_ng_per_day == sim.state()["dose_ng_per_day"] == 1_500_000
        events, _ = client.read_all_events()
        assert [e.request_id for e in events if e.code == EventCode.RATE_CHANGED] == [
            reply.request_id
        ]


def test_a_hostile_spec_still_gives_true_status(
    start_faulty: Callable[[str], SimulatorProcess],
) -> None:
    sim = start_faulty(HOSTILE)
    state = sim.advance(3 * 86_400_000)  # the truth, read on the debug port
    keys = Keystore(sim.keystore_path)
    with SyncPumpClient(sim.port, deadline_s=0.02, retries=10, keys=keys) as client:
        for _ in range(30):
            status = client.status()
            assert status.dose_ng_per_day == state["dose_ng_per_day"]
            assert status.reservoir_ul == state["reservoir_ul"]
            assert status.pump_time_s == state["pump_time_ms"] // 1000
        assert client.client.transactions.counters.retransmissions > 0  # the line really is bad


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jitter=0.1", "unknown line fault 'jitter'"),
        ("drop=2", "probability"),
        ("corrupt=lots", "not a number"),
    ],
)
def test_a_bad_spec_exits_2_with_one_line(tmp_path: Path, spec: str, message: str) -> None:
    state = tmp_path / "pump.db"
    result = subprocess.run(
        [str(PUMPSIM), "--pty", "--state", str(state), "--line-faults", spec],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pumpsim: ")
    assert message in lines[0]
    assert not state.exists()  # refused before first boot
