"""What a HIL test talks to: the simulator in its own process, or a real port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from firmware_sim.control import ControlClient

START_TIMEOUT_S = 20.0


class SimulatorProcess:
    """``pumpsim --pty`` out of process, with its control port and a state file to restart from."""

    def __init__(self, extra_args: tuple[str, ...] = (), serial_number: str = "SIM000001") -> None:
        # Unix socket paths are limited to ~100 bytes: keep them short, outside pytest's tmp.
        self.workdir = Path(tempfile.mkdtemp(prefix="pumpsim-"))
        self.state_path = self.workdir / "pump.db"
        self.control_path = str(self.workdir / "ctl")
        self.keystore_path = self.workdir / "keys.json"
        self.args = (
            "--pty",
            "--state",
            str(self.state_path),
            "--control",
            self.control_path,
            "--frozen-clock",
            "--serial",
            serial_number,
            "--pair",
            str(self.keystore_path),
            *extra_args,
        )
        self.process: subprocess.Popen[str] | None = None
        self.port = ""
        self._control: ControlClient | None = None

    def start(self) -> SimulatorProcess:
        command = [sys.executable, "-m", "firmware_sim.cli", *self.args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline().strip()
        if not line.startswith("/dev/"):
            _, err = self.process.communicate(timeout=START_TIMEOUT_S)
            raise RuntimeError(f"pumpsim did not start: {err.strip() or line}")
        self.port = line
        return self

    @property
    def control(self) -> ControlClient:
        if self._control is None:
            self._control = ControlClient(self.control_path)
        return self._control

    def _drop_control(self) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.close()
            self._control = None

    def stop(self) -> int | None:
        """SIGTERM and wait: the simulator's orderly shutdown; returns its exit status."""
        self._drop_control()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=10)
        self._close_pipes()
        return code

    def kill(self) -> None:
        """SIGKILL: a power cut at whatever instant the process is in."""
        self._drop_control()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_pipes()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """A pump that says nothing: SIGSTOP, and wait until every thread has really stopped
        (the signal is asynchronous, and a loaded machine may let one more answer out)."""
        if self.process is None:
            raise RuntimeError("the simulator is not running")
        pid = self.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 5
            while not _all_threads_stopped(pid):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"simulator {pid} did not stop")
                time.sleep(0.001)
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def restart(self, *, hard: bool = False) -> str:
        """Power-cycle from the same NV memory; returns the new port path."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start().port

    def _close_pipes(self) -> None:
        if self.process is not None:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()

    def advance(self, duration_ms: int) -> dict[str, Any]:
        return self.control.advance(duration_ms)["state"]  # type: ignore[no-any-return]

    def fault(self, name: str, value: str) -> dict[str, Any]:
        return self.control.fault(name, value)["state"]  # type: ignore[no-any-return]

    def clear_faults(self) -> dict[str, Any]:
        return self.control.clear()["state"]  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        return self.control.state()

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _all_threads_stopped(pid: int) -> bool:
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread has gone
        state = stat.rsplit(")", 1)[1].split()[0]
        if state not in ("T", "t"):
            return False
    return True


def hardware_port_from(option: str | None) -> str | None:
    return option or os.environ.get("PUMPCTL_HIL_PORT") or None
