"""Simulators forked from the warm server behave as ``pumpsim`` processes started afresh:
their output, their exit status, a stop signal, and this process's environment and working
directory as they were when it was forked."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pumpctl.testing.forked import ForkedPumpsim

pytestmark = pytest.mark.needs_process


def test_what_pumpsim_prints_and_its_exit_status() -> None:
    version = ForkedPumpsim(["--version"])
    out, err = version.communicate(timeout=30)
    assert (version.returncode, err) == (0, "")
    assert out.startswith("pumpsim ")
    refused = ForkedPumpsim(["--pty", "--frozen-clock", "--drug", "unobtainium"])
    out, err = refused.communicate(timeout=30)
    assert refused.returncode == 2
    assert out == ""
    assert err.startswith("pumpsim: ")
    assert len(err.splitlines()) == 1


def test_a_served_pump_stops_on_sigterm_with_this_processs_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(tmp_path / "from-the-environment.json"))
    served = ForkedPumpsim(["--pty", "--frozen-clock", "--state", "pump.db", "--first-boot"])
    try:
        assert served.stdout.readline().startswith("/dev/")
        assert served.poll() is None
        served.send_signal(signal.SIGTERM)
        assert served.wait(timeout=30) == 0
    finally:
        served.kill()
    assert (tmp_path / "pump.db").exists()  # relative to the directory it was forked in
    paired = ForkedPumpsim(["--pty", "--frozen-clock", "--first-boot", "--pair"])
    try:
        assert paired.stdout.readline().startswith("/dev/")
        assert (tmp_path / "from-the-environment.json").exists()  # the default key store
    finally:
        paired.terminate()  # an orderly stop removes its scratch memory
        paired.wait(timeout=30)
