"""Shared helpers for the suite; the ``pump`` fixtures come from the pumpctl pytest plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.testing.plugin import PumpUnderTest


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
