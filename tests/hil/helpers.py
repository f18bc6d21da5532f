"""Reading the pump back, as a HIL test checks what the device did."""

from __future__ import annotations

from pumpctl.client import SyncPumpClient
from pumpctl.protocol.messages import EventCode, EventRecord


def events_for(client: SyncPumpClient, request_id: int) -> list[EventRecord]:
    events, _ = client.read_all_events()
    return [e for e in events if e.request_id == request_id]


def events_of(client: SyncPumpClient, code: EventCode) -> list[EventRecord]:
    events, _ = client.read_all_events()
    return [e for e in events if e.code == code]
