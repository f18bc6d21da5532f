"""A thread that serves file descriptors until woken to stop: the lifecycle shared by the
simulator's line (``PtyServer``) and the faulty line (``FaultyLine``)."""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from collections.abc import Callable


def open_raw_pty() -> tuple[int, int, str]:
    """A new pty pair in raw mode, master non-blocking: ``(master, slave, slave path)``."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class FdThread:
    """Runs ``serve`` in a daemon thread; ``wake_fd`` becomes readable when it must return.
    ``stop`` closes the fds handed in ``owned`` exactly once, however often it is called."""

    def __init__(self, serve: Callable[[], None], name: str, owned: tuple[int, ...]) -> None:
        self.wake_fd, self._wake_w = os.pipe()
        self._owned = (*owned, self.wake_fd, self._wake_w)
        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._stopped = False

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
