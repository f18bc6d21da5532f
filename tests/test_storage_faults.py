"""A disk that fills up never makes the programmer misreport: the record's write fails at
each of a set-rate's writes in turn (a file-size limit, as a full disk answers), and the
outcome says exactly what the pump did -- not sent (exit 5, the pump unchanged) or applied
but not recorded (exit 8, the pump changed) -- and the next sync completes the record.

The simulator runs in its own process, so the limit only ever falls on the clinical record.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator

import pytest

from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.test_cli import assert_ok, env, pumpctl, status_json

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = [pytest.mark.needs_simulator, pytest.mark.needs_process]
WAL_HEADER, FRAME_HEADER = 32, 24
DAY_MS = 86_400_000


@contextlib.contextmanager
def file_size_limit(limit_bytes: int) -> Iterator[None]:
    """No file written past ``limit_bytes`` (EFBIG, as a full disk fails a write)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def dose_ng(env: dict[str, str], port: str) -> int:
    status = status_json(env, port)["status"]
    assert isinstance(status, dict)
    return int(status["dose_ng_per_day"])


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_full_disk_at_each_write_of_a_set_rate_never_misreports(
    pump: PumpUnderTest[SimulatorProcess], env: dict[str, str]
) -> None:
    sim, port = pump.sim, pump.port
    assert sim is not None
    assert_ok(pumpctl(env, "status", port=port))  # the record exists and mirrors the pump
    # Held open, so the WAL and its index outlive each run: a run's writes then start at the
    # WAL's beginning after each checkpoint, and a limit of N frames fails its (N+1)th page.
    watcher = sqlite3.connect(env["PUMPCTL_DB"], isolation_level=None)
    try:
        page = int(watcher.execute("PRAGMA page_size").fetchone()[0])
        outcomes: list[int] = []
        for frames in range(60):
            sim.advance(DAY_MS)  # the pump's interval between increases
            before = dose_ng(env, port)
            target = 1_500_000 if before == 1_400_000 else 1_400_000
            watcher.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with file_size_limit(WAL_HEADER + frames * (FRAME_HEADER + page)):
                result = pumpctl(env, "set-rate", f"{target / 1e6:g}", port=port)
            outcomes.append(result.returncode)
            now = dose_ng(env, port)  # the next sync, with room again
            if result.returncode == 5:
                assert "clinical record" in one_line(result)
                assert now == before, frames
            elif result.returncode == 8:
                line = one_line(result)
                assert "applied but not recorded" in line
                assert "completed at the next sync" in line
                assert now == target, frames
            else:
                assert result.returncode == 0, (frames, result.stderr)
                assert now == target
            rows = watcher.execute("SELECT new_ng_per_day, outcome FROM changes").fetchall()
            assert all(outcome != "pending" for _, outcome in rows), (frames, rows)
            if now != before:
                assert rows[-1] == (target, "applied"), frames
            assert status_json(env, port)["discrepancies"] == []
            if result.returncode == 0:
                break
        assert outcomes[-1] == 0
        assert 5 in outcomes
        assert 8 in outcomes
    finally:
        watcher.close()
    assert "intact" in assert_ok(pumpctl(env, "audit", "verify"))
