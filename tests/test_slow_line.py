"""A 2,400-baud line works, slowly: deadlines and the inter-byte timeout follow the baud rate
(docs/protocol.md §8), so the simulator's 64-byte bursts are one answer, not noise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.link.timing import LineTiming
from pumpctl.testing.targets import SimulatorProcess

pytestmark = [pytest.mark.needs_simulator, pytest.mark.needs_pty]


@pytest.fixture
def slow_pump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess(extra_args=("--baud", "2400")).start()
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(sim.keystore_path))
    monkeypatch.setenv("PUMPCTL_DB", str(tmp_path / "clinical.db"))
    monkeypatch.setenv("PUMPCTL_CLINICIAN", "test")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    try:
        yield sim
    finally:
        sim.cleanup()


def test_status_at_2400_baud(
    slow_pump: SimulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", slow_pump.port, "--baud", "2400", "--json", "status"]) == 0, (
        capsys.readouterr().err
    )
    assert '"dose_ng_per_day": 1400000' in capsys.readouterr().out


def test_the_timing_follows_the_line() -> None:
    fast, slow = LineTiming(115_200), LineTiming(2_400)
    # A burst of 64 bytes takes 267 ms at 2,400 baud: a silence shorter than two is no gap.
    assert slow.inter_byte_timeout_s > 2 * 64 * 10 / 2_400 - 1e-9
    assert fast.inter_byte_timeout_s == 0.05
    # The longest answer (an event page, ~1.1 kB) fits its deadline at either speed.
    assert slow.deadline_s(64, 1_100) > 1_100 * 10 / 2_400
    assert fast.deadline_s(64, 1_100) < 0.6
