"""The faulty line itself: seeded, reproducible, and a transparent wire when clean."""

from __future__ import annotations

import pytest

from firmware_sim.faults import FaultyLine, LineFaults, Mangler
from pumpctl.client import SyncPumpClient
from pumpctl.testing.plugin import PumpUnderTest

HOSTILE = "corrupt=0.01,drop=0.01,duplicate=0.01,garbage=0.01,swap=0.01"


def test_spec_parses_and_refuses_nonsense() -> None:
    faults = LineFaults.parse("corrupt=0.01,stall=0.1,stall_s=0.5,seed=7")
    assert (faults.corrupt, faults.stall, faults.stall_s, faults.seed) == (0.01, 0.1, 0.5, 7)
    assert LineFaults.parse("0.001").corrupt == 0.001
    with pytest.raises(ValueError, match="unknown line fault 'jitter'"):
        LineFaults.parse("jitter=0.1")
    with pytest.raises(ValueError, match="probability"):
        LineFaults.parse("drop=2")
    with pytest.raises(ValueError, match="not a number"):
        LineFaults.parse("corrupt=lots")


def test_the_same_seed_breaks_the_same_bytes() -> None:
    data = bytes(range(256)) * 20
    first = Mangler(LineFaults.parse(f"{HOSTILE},seed=3"), 3).mangle(data)
    again = Mangler(LineFaults.parse(f"{HOSTILE},seed=3"), 3).mangle(data)
    other = Mangler(LineFaults.parse(f"{HOSTILE},seed=4"), 4).mangle(data)
    assert first == again
    assert first != other


def test_fault_rates_are_roughly_what_was_asked() -> None:
    mangler = Mangler(LineFaults.parse(HOSTILE), 1)
    mangler.mangle(bytes(100_000))
    counters = mangler.counters
    for count in (counters.corrupted, counters.dropped, counters.duplicated, counters.swapped):
        assert 700 < count < 1300


@pytest.mark.needs_pty
def test_a_clean_line_is_transparent(pump: PumpUnderTest) -> None:
    expected = pump.client.status()
    pump.client.close()
    with (
        FaultyLine(pump.port, LineFaults()) as line,
        SyncPumpClient(line.port, keys=pump.keys) as client,
    ):
        assert client.status() == expected
        assert client.identify().serial_number
    pump.reconnect()


@pytest.mark.needs_pty
def test_the_programmer_gets_true_answers_through_a_hostile_line(pump: PumpUnderTest) -> None:
    expected = pump.client.status()
    pump.client.close()
    faults = LineFaults.parse("corrupt=0.005,drop=0.002,garbage=0.002,seed=11")
    with (
        FaultyLine(pump.port, faults) as line,
        SyncPumpClient(line.port, deadline_s=0.02, retries=25, keys=pump.keys) as client,
    ):
        for _ in range(30):
            assert client.status() == expected
        damaged = line.to_programmer.counters.corrupted + line.to_pump.counters.corrupted
        assert damaged > 0
        assert client.client.transactions.counters.retransmissions > 0
    pump.reconnect()
