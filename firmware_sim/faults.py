"""A faulty serial line: a pty proxy between programmer and pump that breaks bytes on purpose.

From a fixed seed it corrupts bits, drops, duplicates and swaps bytes, inserts garbage,
stalls for longer than the response deadline, and cuts the line for a while, in both
directions. The programmer opens ``FaultyLine.port`` as it would any serial port, so its
real code path is what gets tested. ``MemoryFaults`` does the same on the memory link
(``sim://NAME``), for the simulator in the programmer's own process.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import random
import select
import time
import tty
from dataclasses import dataclass, fields

from firmware_sim.pty_thread import FdThread, open_raw_pty


@dataclass(frozen=True)
class LineFaults:
    """Per-byte probabilities, and per-chunk ones for stalls and cuts."""

    corrupt: float = 0.0  # flip one bit of the byte
    drop: float = 0.0
    duplicate: float = 0.0
    garbage: float = 0.0  # insert 1–8 random bytes before the byte
    swap: float = 0.0  # exchange the byte with the next one
    stall: float = 0.0  # hold a chunk back for stall_s
    stall_s: float = 0.0
    cut: float = 0.0  # lose everything for cut_s
    cut_s: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, spec: str) -> LineFaults:
        """``"corrupt=0.01,drop=0.001,seed=7"``; a bare rate means ``corrupt``."""
        values: dict[str, float | int] = {}
        names = {f.name for f in fields(cls)}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                name, value = "corrupt", part
            if name not in names:
                raise ValueError(f"unknown line fault {name!r} ({', '.join(sorted(names))})")
            try:
                values[name] = int(value) if name == "seed" else float(value)
            except ValueError:
                raise ValueError(f"line fault {name}={value!r} is not a number") from None
            if name != "seed" and not name.endswith("_s") and not 0 <= values[name] <= 1:
                raise ValueError(f"line fault {name} is a probability from 0 to 1")
        return cls(**values)  # type: ignore[arg-type]


@dataclass
class LineCounters:
    bytes_in: int = 0
    corrupted: int = 0
    dropped: int = 0
    duplicated: int = 0
    garbage_bytes: int = 0
    swapped: int = 0
    stalls: int = 0
    cuts: int = 0


class Mangler:
    """Applies ``LineFaults`` to a chunk of bytes with its own seeded generator."""

    def __init__(self, faults: LineFaults, seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(seed)
        self.counters = LineCounters()

    def mangle(self, data: bytes) -> bytes:
        faults, rng, counters = self.faults, self.rng, self.counters
        counters.bytes_in += len(data)
        out = bytearray()
        pending_swap: int | None = None
        for byte in data:
            if faults.garbage and rng.random() < faults.garbage:
                junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
                counters.garbage_bytes += len(junk)
                out += junk
            if faults.drop and rng.random() < faults.drop:
                counters.dropped += 1
                continue
            if faults.corrupt and rng.random() < faults.corrupt:
                byte ^= 1 << rng.randrange(8)
                counters.corrupted += 1
            if pending_swap is not None:
                out += bytes((byte, pending_swap))
                pending_swap = None
                continue
            if faults.swap and rng.random() < faults.swap:
                pending_swap = byte
                counters.swapped += 1
                continue
            out.append(byte)
            if faults.duplicate and rng.random() < faults.duplicate:
                out.append(byte)
                counters.duplicated += 1
        if pending_swap is not None:
            out.append(pending_swap)
        return bytes(out)


class _Timing:
    """Stalls and cuts, drawn once per chunk from their own seeded generator. A line delays
    bytes but never reorders them: a chunk sent after a stalled one waits for it."""

    def __init__(self, faults: LineFaults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.cut_until = 0.0
        self._busy_until: dict[int, float] = {}  # per direction (its mangler)

    def delay(self, now: float, mangler: Mangler, size: int) -> float | None:
        """How long the chunk is held back, or None when the line is cut."""
        faults = self.faults
        if faults.cut and self.rng.random() < faults.cut:
            self.cut_until = now + faults.cut_s
            mangler.counters.cuts += 1
        if now < self.cut_until:
            mangler.counters.dropped += size
            return None
        delay = 0.0
        if faults.stall and self.rng.random() < faults.stall:
            mangler.counters.stalls += 1
            delay = faults.stall_s
        delay = max(delay, self._busy_until.get(id(mangler), 0.0) - now)
        self._busy_until[id(mangler)] = now + delay
        return delay


class MemoryFaults:
    """``LineFaults`` on the memory link: set as ``MemoryLine.tamper``."""

    def __init__(self, faults: LineFaults) -> None:
        self.faults = faults
        self.to_pump_mangler = Mangler(faults, faults.seed * 2 + 1)
        self.to_programmer_mangler = Mangler(faults, faults.seed * 2 + 2)
        self._timing = _Timing(faults)

    @property
    def counters(self) -> dict[str, LineCounters]:
        return {
            "to_pump": self.to_pump_mangler.counters,
            "to_programmer": self.to_programmer_mangler.counters,
        }

    def _pieces(self, data: bytes, mangler: Mangler) -> list[tuple[float, bytes]]:
        delay = self._timing.delay(time.monotonic(), mangler, len(data))
        return [] if delay is None else [(delay, mangler.mangle(data))]

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        return self._pieces(data, self.to_pump_mangler)

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        return self._pieces(data, self.to_programmer_mangler)


class FaultyLine:
    """Serves a new pty (``port``) and forwards to ``upstream`` through a ``Mangler`` each way."""

    def __init__(self, upstream: str, faults: LineFaults) -> None:
        self.faults = faults
        self._up = os.open(upstream, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._up)
        self._master, self._slave, self.port = open_raw_pty()
        self.to_pump = Mangler(faults, faults.seed * 2 + 1)
        self.to_programmer = Mangler(faults, faults.seed * 2 + 2)
        self._timing = _Timing(faults)
        self._queue: list[tuple[float, int, int, bytes]] = []
        self._order = 0
        self._thread = FdThread(self._run, "faulty-line", (self._up, self._master, self._slave))
        self._wake_r = self._thread.wake_fd

    def start(self) -> FaultyLine:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop forwarding and close both ends; safe to call more than once."""
        self._thread.stop()

    def __enter__(self) -> FaultyLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def counters(self) -> dict[str, LineCounters]:
        return {"to_pump": self.to_pump.counters, "to_programmer": self.to_programmer.counters}

    def _schedule(self, fd: int, data: bytes, mangler: Mangler) -> None:
        now = time.monotonic()
        delay = self._timing.delay(now, mangler, len(data))
        if delay is None:
            return
        self._order += 1
        heapq.heappush(self._queue, (now + delay, self._order, fd, mangler.mangle(data)))

    def _run(self) -> None:
        while True:
            timeout = None
            if self._queue:
                timeout = max(0.0, self._queue[0][0] - time.monotonic())
            ready, _, _ = select.select([self._master, self._up, self._wake_r], [], [], timeout)
            if self._wake_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    continue
                if fd == self._master:
                    self._schedule(self._up, data, self.to_pump)
                else:
                    self._schedule(self._master, data, self.to_programmer)
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, target, data = heapq.heappop(self._queue)
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(target, data)
