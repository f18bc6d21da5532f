"""Short torture runs (the long one: python -m pumpctl.testing.torture --commands 10000)."""

from __future__ import annotations

import pytest

from firmware_sim.faults import LineFaults
from pumpctl.testing.torture import run_torture

REALISTIC = (
    "corrupt=0.0001,drop=0.0002,duplicate=0.0002,garbage=0.0002,swap=0.0002,"
    "stall=0.002,stall_s=0.05,cut=0.001,cut_s=0.03"
)


@pytest.mark.parametrize(
    ("spec", "commands"),
    [(f"{REALISTIC},seed=21", 400), ("corrupt=0.01,seed=22", 60)],
    ids=["realistic", "hostile-1-in-100"],
)
def test_nothing_lost_nothing_done_twice(spec: str, commands: int) -> None:
    report = run_torture(commands, LineFaults.parse(spec), deadline_s=0.01)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    assert report.mis_executed == report.misreported == report.duplicated == report.phantom == 0
    assert report.confirmed > commands // 4
    assert (
        report.sent
        == report.confirmed + report.refused + report.unknown_resolved + report.unresolved
    )


def test_a_hostile_line_really_forces_retries_and_uncertainty() -> None:
    # 20 commands: with sealed session frames, 1 byte in 50 costs ~12 retries a command.
    report = run_torture(20, LineFaults.parse("corrupt=0.02,seed=5"), deadline_s=0.01)
    assert report.ok, report.summary()
    assert report.retried > 50
    assert report.unknown_resolved > 0
