"""The link end to end through a real pty: request ids, retransmission, noise, uncertainty."""

from __future__ import annotations

import threading
import time

import pytest
import serial

from pumpctl.client import PumpClient, Resolution, SyncPumpClient
from pumpctl.link.errors import NoResponse, OutcomeUncertain, PumpRefused
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import (
    BolusRequest,
    BolusResponse,
    EventCode,
    NakCode,
    SetRateRequest,
    SetRateResponse,
    StatusRequest,
)
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.raw import RawLine
from tests.hil.expect import events, events_for

REQUEST_ID = 0x0123_4567_89AB_CDEF


def test_identify_and_status_over_the_serial_port(pump: PumpUnderTest) -> None:
    identity = pump.client.identify()
    status = pump.client.status()
    assert identity.reservoir_capacity_ul in (20_000, 40_000)
    assert identity.concentration_ng_per_ml > 0
    assert status.flow_nl_per_day == (
        status.dose_ng_per_day * 1_000_000 // identity.concentration_ng_per_ml
    )


def test_set_rate_changes_what_status_reports(pump: PumpUnderTest) -> None:
    before = pump.client.status().dose_ng_per_day
    new = before - before // 10
    reply = pump.client.set_rate(new, before)
    assert reply.previous_dose_ng_per_day == before
    assert pump.client.status().dose_ng_per_day == new


def test_stale_believed_dose_is_refused_and_changes_nothing(pump: PumpUnderTest) -> None:
    current = pump.client.status().dose_ng_per_day
    with pytest.raises(PumpRefused) as refused:
        pump.client.set_rate(current - 1000, current + 1000)
    assert refused.value.code == NakCode.STALE_DOSE
    assert "interrogate again" in str(refused.value)
    assert refused.value.nak.limit == current
    assert pump.client.status().dose_ng_per_day == current


def test_retransmitted_set_rate_is_executed_once(pump: PumpUnderTest) -> None:
    current = pump.client.status().dose_ng_per_day
    request = SetRateRequest(
        request_id=REQUEST_ID,
        dose_ng_per_day=current - current // 10,
        believed_dose_ng_per_day=current,
    )
    first = pump.client.send(request)
    again = pump.client.send(request)
    assert isinstance(first, SetRateResponse)
    assert again == first  # the recorded outcome, not a second execution (or a STALE_DOSE)
    changes = [e for e in events_for(pump.client, REQUEST_ID) if e.code == EventCode.RATE_CHANGED]
    assert len(changes) == 1


@pytest.mark.needs_simulator
def test_retransmission_after_a_pump_restart_is_still_executed_once(
    pump: PumpUnderTest,
) -> None:
    assert pump.sim is not None
    current = pump.client.status().dose_ng_per_day
    set_rate = SetRateRequest(
        request_id=REQUEST_ID,
        dose_ng_per_day=current - current // 10,
        believed_dose_ng_per_day=current,
    )
    bolus = BolusRequest(request_id=REQUEST_ID + 1, dose_ng=50_000, duration_s=600)
    first_rate = pump.client.send(set_rate)
    first_bolus = pump.client.send(bolus)
    assert isinstance(first_bolus, BolusResponse)

    for hard in (False, True):  # an orderly restart, then a power cut
        pump.client.close()
        pump.sim.restart(hard=hard)
        pump.reconnect()
        assert pump.client.send(set_rate) == first_rate
        assert pump.client.send(bolus) == first_bolus

    events, _ = pump.client.read_all_events()
    assert [e.code for e in events if e.request_id == REQUEST_ID] == [EventCode.RATE_CHANGED]
    assert [e.code for e in events if e.request_id == REQUEST_ID + 1] == [EventCode.BOLUS_STARTED]
    assert len([e for e in events if e.code == EventCode.BOOT]) == 3


@pytest.mark.needs_pty
def test_garbage_on_the_line_is_survived(pump: PumpUnderTest) -> None:
    rng = __import__("random").Random(1234)
    with serial.serial_for_url(pump.port, timeout=0.3) as raw:
        raw.write(bytes(rng.randrange(256) for _ in range(4000)))
        raw.write(b"\x00")  # end whatever partial frame the noise left
        raw.flush()
        time.sleep(0.1)
        raw.reset_input_buffer()
    assert pump.client.status().dose_ng_per_day > 0


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (Frame(0x5A, 9, b""), NakCode.UNKNOWN_MESSAGE),
        (Frame(0x10, 9, b"\x01\x02\x03"), NakCode.MALFORMED_PAYLOAD),
        (Frame(0x02, 9, b"\x00"), NakCode.MALFORMED_PAYLOAD),
    ],
    ids=["unknown-type", "truncated-set-rate", "status-with-payload"],
)
@pytest.mark.needs_pty
def test_malformed_requests_get_a_defined_nak(
    pump: PumpUnderTest, frame: Frame, expected: NakCode
) -> None:
    from pumpctl.protocol.messages import Nak

    pump.client.close()
    with RawLine(pump.port) as line:
        line.open_session(pump.keys)
        reply = line.send_bytes(line.seal(frame))
        assert reply is not None
        assert reply.seq == 9
        nak = line.message(reply)  # sealed: a refusal inside the session
    assert isinstance(nak, Nak)
    assert nak.code == expected
    pump.reconnect()
    assert pump.client.status().dose_ng_per_day > 0


@pytest.mark.needs_pty
def test_a_corrupted_request_is_ignored_not_answered(pump: PumpUnderTest) -> None:
    pump.client.close()
    with RawLine(pump.port) as line:
        line.open_session(pump.keys)
        wire = bytearray(line.seal(to_frame(StatusRequest(), 5)))
        wire[3] ^= 0x10
        assert line.send_bytes(bytes(wire)) is None
    pump.reconnect()


def test_concurrent_callers_are_serialised_by_the_library(pump: PumpUnderTest) -> None:
    async def many() -> list[int]:
        import asyncio

        async with await PumpClient.open(pump.port, keys=pump.keys) as client:
            replies = await asyncio.gather(*(client.status() for _ in range(20)))
            return [r.dose_ng_per_day for r in replies]

    pump.client.close()
    import asyncio

    doses = asyncio.run(many())
    assert len(doses) == 20
    assert len(set(doses)) == 1
    pump.reconnect()


@pytest.mark.needs_simulator
@pytest.mark.needs_process
def test_a_silent_pump_makes_a_read_fail_cleanly(pump: PumpUnderTest) -> None:
    assert pump.sim is not None
    assert pump.sim.process is not None
    # The client gives up after its own deadline and retries: an answer, not a hang.
    with pump.sim.frozen(), pytest.raises(NoResponse, match="no answer"):
        pump.client.status()


@pytest.mark.needs_simulator
@pytest.mark.needs_process
def test_an_unanswered_command_is_uncertain_then_resolved_by_reading_back(
    pump: PumpUnderTest,
) -> None:
    """The pump stalls while the command is in flight: every try times out, so the client
    reports it uncertain; once the pump runs again the event log shows it applied once."""
    assert pump.sim is not None
    assert pump.sim.process is not None
    current = pump.client.status().dose_ng_per_day
    new = current - current // 10
    with pump.sim.frozen(), pytest.raises(OutcomeUncertain) as uncertain:
        pump.client.set_rate(new, current)
    assert "unknown" in str(uncertain.value)
    outcome = pump.client.resolve(uncertain.value.request_id)
    assert outcome.resolution is Resolution.APPLIED
    assert pump.client.status().dose_ng_per_day == new
    applied = events_for(pump.client, uncertain.value.request_id)
    assert [e.code for e in applied] == [EventCode.RATE_CHANGED]


def test_a_command_that_never_arrived_resolves_as_not_executed(pump: PumpUnderTest) -> None:
    outcome = pump.client.resolve(0xDEAD_BEEF)
    assert outcome.resolution is Resolution.NOT_EXECUTED


def test_sync_facade_from_several_threads_in_turn(pump: PumpUnderTest) -> None:
    results: list[int] = []
    pump.client.close()

    def interrogate() -> None:
        with SyncPumpClient(pump.port, keys=pump.keys) as client:
            results.append(client.status().dose_ng_per_day)

    for _ in range(3):
        worker = threading.Thread(target=interrogate)
        worker.start()
        worker.join(timeout=10)
    assert len(results) == 3
    pump.reconnect()
    assert events(pump.client, EventCode.BOOT)


def test_reading_the_whole_event_log_crosses_pages(pump: PumpUnderTest) -> None:
    """More events than fit in one READ_EVENTS page: the reader must not stop at the first."""
    for _ in range(40):
        pump.client.catheter_check()
    current = pump.client.status().dose_ng_per_day
    applied = pump.client.set_rate(current - current // 10, current)
    events, _ = pump.client.read_all_events()
    assert [e.index for e in events] == list(range(len(events)))
    assert len(events) >= 42
    outcome = pump.client.resolve(applied.request_id)
    assert outcome.resolution is Resolution.APPLIED
