"""A thread that serves file descriptors until woken to stop: the lifecycle shared by the
simulator's line (``PtyServer``) and the faulty line (``FaultyLine``)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import tty
from collections.abc import Callable


def open_raw_pty() -> tuple[int, int, str]:
    """A new pty pair in raw mode, master non-blocking: ``(master, slave, slave path)``."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


# A serve loop that keeps failing is not recovering: after this many failures in a row
# (without one clean return) the thread gives up and says so through ``on_failure``.
MAX_RESTARTS = 10


def log_line_error(name: str, error: BaseException, what: str) -> None:
    """One line on stderr for an exception a line survives (or does not)."""
    print(f"pumpsim: {name}: {type(error).__name__}: {error}; {what}", file=sys.stderr, flush=True)


class FdThread:
    """Runs ``serve`` in a daemon thread; ``wake_fd`` becomes readable when it must return.
    ``stop`` closes the fds handed in ``owned`` exactly once, however often it is called.

    An exception out of ``serve`` never leaves a silent dead line: it is logged to stderr
    and ``serve`` runs again; after ``MAX_RESTARTS`` in a row the thread ends and calls
    ``on_failure`` (``pumpsim`` then exits non-zero)."""

    def __init__(
        self,
        serve: Callable[[], None],
        name: str,
        owned: tuple[int, ...],
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.wake_fd, self._wake_w = os.pipe()
        self._owned = (*owned, self.wake_fd, self._wake_w)
        self._serve = serve
        self._name = name
        self._on_failure = on_failure
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopped = False
        self.restarts = 0

    def _run(self) -> None:
        failures = 0
        while not self._stopped:
            try:
                self._serve()
                return
            except Exception as error:
                if self._stopped:
                    return
                failures += 1
                self.restarts += 1
                if failures > MAX_RESTARTS:
                    log_line_error(self._name, error, "the line stops")
                    if self._on_failure is not None:
                        self._on_failure(error)
                    return
                log_line_error(self._name, error, "serving again")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return  # the fd numbers may already belong to something else
        self._stopped = True
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
        for fd in self._owned:
            with contextlib.suppress(OSError):
                os.close(fd)
