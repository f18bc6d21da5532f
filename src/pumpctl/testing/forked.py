"""``pumpsim`` processes forked from a warm server instead of started afresh.

A new Python process spends ~0.2 s of CPU importing pydantic, the message models and the
simulator before it serves; the HIL tests that need the simulator in a process of its own
start dozens. A fork server (``multiprocessing``'s ``forkserver``) imports them once, and
each simulator is a fork of it: its own process, pid and pty, killed and stopped like any
other, running the same ``pumpsim`` entry point with this process's environment and working
directory.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import IO, Any

PRELOAD = [
    "firmware_sim.cli",
    "firmware_sim.control",
    "firmware_sim.faults",
    "firmware_sim.pairing",
    "firmware_sim.server",
    "firmware_sim.simulator",
    "pumpctl.keystore",
]

_context: Any = None


def _forkserver() -> Any:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _context = context
    return _context


class ForkedPumpsim:
    """``pumpsim ARGV`` in a process forked from the server; what a test uses of a
    ``subprocess.Popen``: ``pid``, ``poll``, ``wait``, ``send_signal``, ``kill``,
    ``communicate`` and the ``stdout`` and ``stderr`` it wrote (text)."""

    def __init__(self, argv: list[str]) -> None:
        context = _forkserver()
        out_r, out_w = context.Pipe(duplex=False)
        err_r, err_w = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run, args=(argv, dict(os.environ), os.getcwd(), out_w, err_w), daemon=False
        )
        self._process.start()
        out_w.close()
        err_w.close()
        self.stdout: IO[str] = _reader(out_r)
        self.stderr: IO[str] = _reader(err_r)
        self.args = argv

    @property
    def pid(self) -> int:
        pid = self._process.pid
        assert pid is not None  # started
        return int(pid)

    @property
    def returncode(self) -> int | None:
        code = self._process.exitcode
        return None if code is None else int(code)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self.returncode
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.stdout.read(), self.stderr.read()


def _reader(connection: Connection) -> IO[str]:
    fd = os.dup(connection.fileno())
    connection.close()
    return os.fdopen(fd, "r")


def _run(
    argv: list[str], environ: dict[str, str], cwd: str, stdout: Connection, stderr: Connection
) -> None:
    """The child: ``pumpsim ARGV`` with the starting process's environment and directory,
    its output to the pipes; ends the process with pumpsim's exit status."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    os.dup2(stdout.fileno(), 1)
    os.dup2(stderr.fileno(), 2)
    stdout.close()
    stderr.close()
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (the process's own)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    from firmware_sim.cli import main

    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
