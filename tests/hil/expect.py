"""Numbers and small readers the rule tests share: the simulated pump's start, units, and
how a refusal, an alarm or an event is looked up through the serial port."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.link.errors import PumpRefused
from pumpctl.protocol.messages import (
    ActiveAlarm,
    AlarmCode,
    EventCode,
    EventRecord,
    NakCode,
    StatusResponse,
)

START_S = 1_767_225_600  # the plugin's simulators boot with a frozen clock at 2026-01-01
START_MS = START_S * 1000
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
MG = 1_000_000  # ng
MCG = 1_000  # ng


def refused(call: Callable[[], object], code: NakCode) -> PumpRefused:
    """Run ``call``, which the pump must refuse under rule ``code``; the refusal."""
    with pytest.raises(PumpRefused) as info:
        call()
    assert info.value.code == code, str(info.value)
    return info.value


def alarm(status: StatusResponse, code: AlarmCode) -> ActiveAlarm | None:
    return next((a for a in status.alarms if a.code == code), None)


def events(client: SyncPumpClient, code: EventCode | None = None) -> list[EventRecord]:
    records, _ = client.read_all_events()
    return [e for e in records if code is None or e.code == code]


def events_for(client: SyncPumpClient, request_id: int) -> list[EventRecord]:
    """The events a request caused: how a test sees what one command did."""
    records, _ = client.read_all_events()
    return [e for e in records if e.request_id == request_id]


def raised(client: SyncPumpClient, code: AlarmCode) -> list[EventRecord]:
    """The ALARM_RAISED events for alarm ``code``."""
    return [e for e in events(client, EventCode.ALARM_RAISED) if e.value_a == code]
