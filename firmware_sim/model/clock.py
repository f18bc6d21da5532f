"""The pump's clock: real time plus an offset, or frozen; advanced by the simulation."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class PumpClock:
    """Pump time in ms since the Unix epoch.

    ``frozen`` clocks move only when advanced (tests); running clocks follow the wall clock
    plus an offset, so a restarted simulator resumes at the time the pump would have reached.
    """

    frozen: bool
    offset_ms: int = 0
    frozen_ms: int = 0

    @classmethod
    def starting_at(cls, pump_ms: int, *, frozen: bool) -> PumpClock:
        if frozen:
            return cls(frozen=True, frozen_ms=pump_ms)
        return cls(frozen=False, offset_ms=pump_ms - _wall_ms())

    def now_ms(self) -> int:
        return self.frozen_ms if self.frozen else _wall_ms() + self.offset_ms

    def advance(self, delta_ms: int) -> None:
        if delta_ms < 0:
            raise ValueError("the pump clock never runs backwards")
        if self.frozen:
            self.frozen_ms += delta_ms
        else:
            self.offset_ms += delta_ms

    def to_json(self) -> dict[str, int | bool]:
        return {"frozen": self.frozen, "offset_ms": self.offset_ms, "frozen_ms": self.frozen_ms}

    @classmethod
    def from_json(cls, data: dict[str, int | bool]) -> PumpClock:
        return cls(
            frozen=bool(data["frozen"]),
            offset_ms=int(data["offset_ms"]),
            frozen_ms=int(data["frozen_ms"]),
        )


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
