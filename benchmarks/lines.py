"""Pseudo-terminal plumbing for the floor and the peer: an echo and a pty↔pty forwarder."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tty

ECHO = """
import os, select, sys, tty
master, slave = os.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
while True:
    data = os.read(master, 65536)
    os.write(master, data)
"""

FORWARD = """
import os, select, sys, tty
pairs = [os.openpty(), os.openpty()]
for _, slave in pairs:
    tty.setraw(slave)
print(os.ttyname(pairs[0][1]), os.ttyname(pairs[1][1]), flush=True)
a, b = pairs[0][0], pairs[1][0]
while True:
    ready, _, _ = select.select([a, b], [], [])
    for fd in ready:
        os.write(b if fd == a else a, os.read(fd, 65536))
"""


class Helper:
    """A small Python process that prints its pty paths on its first line."""

    def __init__(self, script: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.paths = self.process.stdout.readline().split()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def echo() -> Helper:
    return Helper(ECHO)


def forwarder() -> Helper:
    return Helper(FORWARD)


def raw_pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


__all__ = ["Helper", "echo", "forwarder", "raw_pty", "select"]
