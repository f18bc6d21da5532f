"""What a HIL test talks to: the simulator in this process on the memory link, the simulator
in its own process on a pty, or a real port."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from firmware_sim.control import ControlClient

if TYPE_CHECKING:
    from firmware_sim.control import ControlServer
    from firmware_sim.simulator import Simulator
    from pumpctl.link.memory import MemoryLine

START_TIMEOUT_S = 20.0


class _Simulated(ABC):
    """What both simulators offer a test: power cycles and the debug port's controls."""

    port: str

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> int | None: ...

    @abstractmethod
    def kill(self) -> None: ...

    @abstractmethod
    def _call(self, **request: Any) -> dict[str, Any]:
        """The debug port's answer to ``request`` (firmware_sim.control)."""

    def restart(self, *, hard: bool = False) -> str:
        """Power-cycle from the same NV memory; returns the new port."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start().port

    def advance(self, duration_ms: int) -> dict[str, Any]:
        return self._state(op="advance", ms=duration_ms)

    def fault(self, name: str, value: str) -> dict[str, Any]:
        return self._state(op="fault", name=name, value=value)

    def clear_faults(self) -> dict[str, Any]:
        return self._state(op="clear")

    def state(self) -> dict[str, Any]:
        return self._state(op="state")

    def _state(self, **request: Any) -> dict[str, Any]:
        state: dict[str, Any] = self._call(**request)["state"]
        return state


class SimulatorProcess(_Simulated):
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
            "--first-boot",
            "--control",
            self.control_path,
            "--frozen-clock",
            "--serial",
            serial_number,
            "--pair",
            str(self.keystore_path),
            "--pair-implant-key",
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

    def _call(self, **request: Any) -> dict[str, Any]:
        return self.control.call(**request)

    def _close_pipes(self) -> None:
        if self.process is not None:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


class InProcessSimulator(_Simulated):
    """The same simulator (``firmware_sim.Simulator``, its sessions, codec and NV memory)
    in this process, served on the memory link: ``port`` is a ``sim://NAME`` URL that
    ``PumpClient`` opens without a pty. Started from the same pumpsim options as
    ``SimulatorProcess``, with the same controls; what needs a process (``kill`` at any
    instant, ``process``) or a pty (``--line-faults``, ``--baud``) is not available here:
    such tests are marked ``needs_process`` or ``needs_pty``."""

    process: subprocess.Popen[str] | None = None  # there is none: the pump is in this process

    def __init__(self, extra_args: tuple[str, ...] = (), serial_number: str = "SIM000001") -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="pumpsim-"))
        self.state_path = self.workdir / "pump.db"
        self.control_path = str(self.workdir / "ctl")  # served on first use of ``control``
        self.keystore_path = self.workdir / "keys.json"
        self.args = (
            "--pty",
            "--state",
            str(self.state_path),
            "--first-boot",
            "--frozen-clock",
            "--serial",
            serial_number,
            "--pair",
            str(self.keystore_path),
            "--pair-implant-key",
            *extra_args,
        )
        self.port = ""
        self._simulator: Simulator | None = None
        self._line: MemoryLine | None = None
        self._control_server: ControlServer | None = None
        self._control: ControlClient | None = None

    def start(self) -> InProcessSimulator:
        """Boot from the NV memory (first boot if there is none), as ``pumpsim`` does."""
        from firmware_sim.cli import _library, _program, _serve_parser
        from firmware_sim.pairing import pair
        from firmware_sim.server import FrameServer
        from firmware_sim.simulator import Simulator
        from pumpctl.keystore import Keystore
        from pumpctl.link.memory import register
        from pumpctl.protocol.session import Role

        args = _serve_parser().parse_args(list(self.args))
        if args.line_faults is not None or args.baud is not None:
            raise ValueError("--line-faults and --baud need a pty: mark the test needs_pty")
        library = _library(args)
        simulator = Simulator(
            args.state,
            _program(args, library),
            library,
            event_capacity=args.event_capacity,
            first_boot_allowed=args.first_boot,
        )
        if args.pair is not None:
            keystore = Keystore(args.pair or None)
            pair(simulator, keystore, Role.CLINICIAN, implant_key=args.pair_implant_key)
        self._simulator = simulator
        self._line = register(FrameServer(simulator))
        self.port = self._line.url
        if args.control is not None:
            self._serve_control()
        return self

    @property
    def simulator(self) -> Simulator:
        if self._simulator is None:
            raise RuntimeError("the simulator is not running")
        return self._simulator

    @property
    def line(self) -> MemoryLine:
        """The memory line it serves (set ``line.tamper`` for a faulty one)."""
        if self._line is None:
            raise RuntimeError("the simulator is not running")
        return self._line

    def _serve_control(self) -> None:
        from firmware_sim.control import ControlServer

        self._control_server = ControlServer(self.simulator, self.control_path).start()

    @property
    def control(self) -> ControlClient:
        """The debug port, for ``pumpsim ctl --control``; a Unix socket served in a thread
        from first use (most tests call ``advance`` and friends directly)."""
        if self._control_server is None:
            self.args = (*self.args, "--control", self.control_path)  # and after a restart
            self._serve_control()
        if self._control is None:
            self._control = ControlClient(self.control_path)
        return self._control

    def stop(self) -> int | None:
        """Orderly shutdown: hang up the line, close the NV memory; returns 0 as pumpsim."""
        if self._simulator is None:
            return None
        from pumpctl.link.memory import unregister

        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.close()
            self._control = None
        if self._control_server is not None:
            self._control_server.stop()
            self._control_server = None
        if self._line is not None:
            unregister(self._line)  # returns once no frame is being answered
            self._line = None
        self._simulator.close()
        self._simulator = None
        return 0

    def kill(self) -> None:
        """A power cut between two frames: what is not in NV memory is lost (a cut in the
        middle of a frame needs a process to kill: ``needs_process``)."""
        self.stop()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """A pump that says nothing: what arrives meanwhile waits, and is answered (late)
        once it runs again, as a stopped process's pty would."""
        if self._line is None:
            raise RuntimeError("the simulator is not running")
        line = self._line
        line.freeze()
        try:
            yield
        finally:
            line.thaw()

    def _call(self, **request: Any) -> dict[str, Any]:
        """What the control port would answer (the same ``execute``, the same JSON)."""
        from firmware_sim.control import execute

        answer: dict[str, Any] = json.loads(json.dumps(execute(self.simulator, request)))
        if not answer.get("ok"):
            raise ValueError(answer.get("error", "control request failed"))
        return answer

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


SimulatedPump = SimulatorProcess | InProcessSimulator
"""Either simulator: the same controls, in this process or in its own."""


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
