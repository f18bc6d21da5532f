"""The benchmarks run (a smoke version): every row is measured. Timings are reported by
``python -m benchmarks``, never asserted here: a slow machine must not fail the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = (
    "STATUS round trip",
    "STATUS round trip, blocking link",
    "SET_RATE round trip",
    "STATUS via pty forwarder",
    "Event log read",
    "365 simulated days",
    "pumpctl status, whole process",
    "pydantic and the wire's models, imported",
    "TUI start to first dashboard",
    "TUI key to verified dose",
    "TUI confirm to verified dose drawn",
    "Session handshake",
    "HIL pump setup, simulator on the memory link",
    "HIL pump teardown, simulator on the memory link",
    "audit verify, 1k audit rows",
    "a visit report's record reads of one pump",
)


def test_the_benchmark_table_is_produced() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for row in ROWS:
        assert any(line.startswith(f"| {row}") for line in table), (row, result.stdout)
    assert "Machine:" in result.stdout
