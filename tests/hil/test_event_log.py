"""The event log through READ_EVENTS: paged, in order, and never silently truncated — once
the ring is full the oldest events go and the overflow counter says how many."""

from __future__ import annotations

from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest
from tests.hil.conftest import MakePump


def test_events_page_in_order_to_an_empty_page(pump: PumpUnderTest) -> None:
    """Runs on hardware too: it only adds catheter-check events."""
    checks = [pump.client.catheter_check().request_id for _ in range(12)]
    end = pump.client.read_events(0xFFFF_FFFF, 1)
    assert end.events == []

    seen = []
    index = max(0, end.next_index - 12)
    while True:
        page = pump.client.read_events(index, 5)
        if not page.events:
            assert page.next_index == end.next_index
            break
        assert len(page.events) <= 5
        assert [e.index for e in page.events] == list(range(index, index + len(page.events)))
        assert page.next_index == page.events[-1].index + 1
        seen += page.events
        index = page.next_index
    assert [e.request_id for e in seen] == checks
    assert all(e.code == EventCode.CATHETER_CHECKED for e in seen)
    times = [e.time_s for e in seen]
    assert times == sorted(times)


def test_a_full_ring_drops_the_oldest_and_counts_them(make_pump: MakePump) -> None:
    pump = make_pump("--event-capacity", "32")
    assert pump.sim is not None
    for _ in range(40):
        pump.client.catheter_check()
    logged = 1 + 1 + 40  # the boot, the session's opening, then one event per check

    events, last = pump.client.read_all_events()
    assert last.oldest_index == logged - 32
    assert last.overflow_count == logged - 32
    assert [e.index for e in events] == list(range(logged - 32, logged))
    assert all(e.code == EventCode.CATHETER_CHECKED for e in events[-30:])

    # The capacity belongs to the NV memory: a restart keeps it (and logs its boot).
    pump.client.close()
    pump.sim.restart(hard=True)
    pump.reconnect()
    events, last = pump.client.read_all_events()
    assert len(events) == 32
    assert last.overflow_count == logged + 2 - 32  # the restart's boot and the new session
    assert events[-2].code == EventCode.BOOT
    assert events[-2].detail.startswith("restart")
    assert events[-1].code == EventCode.SESSION_OPENED

    below = pump.client.read_events(0, 64)  # from before the oldest: starts at the oldest
    assert below.events[0].index == last.oldest_index
