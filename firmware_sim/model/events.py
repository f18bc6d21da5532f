"""The event log interface the pump model writes through (implemented by the NV store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pumpctl.protocol.messages import EventCode


@dataclass(frozen=True, slots=True)
class Event:
    time_ms: int
    code: EventCode
    request_id: int = 0
    value_a: int = 0
    value_b: int = 0
    detail: str = ""


class EventSink(Protocol):
    def append(self, event: Event) -> None: ...
