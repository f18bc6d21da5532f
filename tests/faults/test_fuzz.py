"""Short coverage-guided fuzz runs.

The long run: ``python -m pumpctl.testing.fuzz decoder -atheris_runs=N`` (or ``handler``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris has no wheel for this platform")


@pytest.mark.parametrize(("target", "runs"), [("decoder", 30_000), ("handler", 10_000)])
def test_fuzzing_finds_no_crash(target: str, runs: int, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pumpctl.testing.fuzz", target, f"-atheris_runs={runs}", "-seed=1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        # The fuzzer ends its process from C, past any cleanup: its scratch pump memory
        # goes where pytest removes it.
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    output = result.stdout + result.stderr
    assert f"Done {runs} " in output, output[-3000:]
    assert "Uncaught Python exception" not in output, output[-3000:]
