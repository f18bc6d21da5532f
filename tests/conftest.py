"""Shared helpers for the suite; the ``pump`` fixtures come from the pumpctl pytest plugin."""

from __future__ import annotations

import atexit
import compileall
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from pumpctl.testing.plugin import PumpUnderTest

# Bytecode is cached for this run even where PYTHONDONTWRITEBYTECODE is set: otherwise every
# xdist worker rewrites every test module's asserts again, and every simulator or CLI process
# a test starts compiles the package from source.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
ROOT = Path(__file__).resolve().parents[1]

# Nothing the suite runs, in this process or another, reads or writes this machine's own
# programmer data (its clinical record, key store, training pump, reports): other checkouts'
# runs and benchmarks share it, and may have migrated the record to a newer schema.
_OWN_DIRS = tempfile.mkdtemp(prefix="pumpctl-suite-")
atexit.register(shutil.rmtree, _OWN_DIRS, True)
os.environ["XDG_DATA_HOME"] = os.path.join(_OWN_DIRS, "data")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_OWN_DIRS, "config")

pytest_plugins = ("tests.cpu_report",)


def pytest_configure(config: pytest.Config) -> None:
    """Before the workers start (once, in the controller): the package compiled, so four
    workers and every process a test starts do not each compile it from source."""
    if not hasattr(config, "workerinput"):
        for folder in ("src", "firmware_sim"):
            compileall.compile_dir(ROOT / folder, quiet=1)


@pytest.fixture
def cli_env(pump: PumpUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment ``pumpctl`` reads, for ``pumpctl.cli.main([...])`` in this process,
    paired with the test's pump; returns the clinical record's path."""
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(pump.keys.path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PUMPCTL_DB", str(tmp_path / "clinical.db"))
    monkeypatch.setenv("PUMPCTL_CLINICIAN", "dr-test")
    return tmp_path / "clinical.db"


# The runs that keep a core busy the whole time (fuzzing, the state machine, torture, power
# cuts, the benchmarks' smoke run) share one worker under `--dist loadgroup`, so they do not
# starve each other while the other workers mostly wait on lines and terminals.
CPU_BOUND = (
    "tests/faults/test_fuzz.py",
    "tests/faults/test_pump_state_machine.py",
    "tests/faults/test_torture.py",
    "tests/faults/test_regressions.py",
    "tests/hil/test_power_cuts.py",
    "tests/test_record_powercut.py",
    "tests/test_benchmarks_smoke.py",
)

# The longest tests (seconds each: mypy, a Pilot session, a browser, a full disk at every
# write) go out to the workers first, so none of them is left running alone at the end.
LONG_FIRST = (
    "tests/test_quality.py",
    "tests/tui/",
    "tests/test_visit_report.py",
    "tests/test_storage_faults.py",
    "tests/faults/test_cli_line_faults.py",
    "tests/test_record_flips.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(CPU_BOUND):
            item.add_marker(pytest.mark.xdist_group("cpu-bound"))
    if hasattr(config, "workerinput"):  # an xdist worker: the order work is handed out in
        items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (the package, Textual, pydantic's models, every test item)
    lives until the end: kept out of the cyclic collector, each full collection in the run
    walks only what the tests made (about 1 s less per worker)."""
    gc.collect()
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    # pytest collects garbage five times over at exit, through everything still alive: most
    # of a second per worker for nothing, as the process ends anyway.
    gc.freeze()
