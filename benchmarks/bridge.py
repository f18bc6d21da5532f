"""Copy bytes both ways between two ports (our STATUS through the pymodbus forwarder)."""

from __future__ import annotations

import os
import select
import sys


def main() -> None:
    a = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
    b = os.open(sys.argv[2], os.O_RDWR | os.O_NOCTTY)
    import tty

    tty.setraw(a)
    tty.setraw(b)
    while True:
        ready, _, _ = select.select([a, b], [], [])
        for fd in ready:
            os.write(b if fd == a else a, os.read(fd, 65536))


if __name__ == "__main__":
    main()
