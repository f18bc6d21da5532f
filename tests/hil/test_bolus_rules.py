"""Boluses through the serial port: delivered over their duration to the microlitre, and
refused by size, lockout, count, the 24 h maximum, and when the pump cannot deliver.

The plugin's morphine pump allows boluses of 0.2 mg, 4 h apart, 4 a day (design defaults).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from pumpctl.protocol.messages import AlarmCode, EventCode, NakCode, StopReason
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import (
    DAY_MS,
    HOUR_MS,
    MCG,
    MG,
    SECOND_MS,
    START_S,
    events,
    refused,
)

CONCENTRATION = 25 * MG  # ng/mL


def reservoir_ul(delivered_ng: Fraction | int) -> int:
    """What a full 20 mL reservoir shows after ``delivered_ng`` of morphine left it."""
    return int((20_000_000 - Fraction(delivered_ng) * 1_000_000 / CONCENTRATION) // 1000)


def test_a_bolus_is_delivered_over_its_duration_to_the_microlitre(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    reply = pump.client.bolus(200_000, 600)  # 0.2 mg = 8 µL over 10 min
    assert reply.ends_at_s == START_S + 600
    assert pump.client.status().bolus_active

    simulator.advance(300 * SECOND_MS)  # half the bolus and 5 min of 1.4 mg/day
    continuous = Fraction(1_400_000 * 300 * SECOND_MS, DAY_MS)
    status = pump.client.status()
    assert status.bolus_active
    assert status.reservoir_ul == reservoir_ul(100_000 + continuous) == 19_995

    simulator.advance(300 * SECOND_MS)
    assert not pump.client.status().bolus_active
    finished = events(pump.client, EventCode.BOLUS_FINISHED)
    assert [(e.time_s, e.value_a, e.request_id) for e in finished] == [
        (START_S + 600, 200_000, reply.request_id)
    ]

    simulator.advance(DAY_MS - 600 * SECOND_MS)
    assert pump.client.status().reservoir_ul == 20_000 - 8 - 56


@pytest.mark.needs_simulator
def test_the_largest_bolus_exactly_is_accepted_and_larger_refused(pump: PumpUnderTest) -> None:
    refusal = refused(lambda: pump.client.bolus(200_001, 600), NakCode.BOLUS_TOO_LARGE)
    assert refusal.nak.limit == 200_000
    assert "maximum of 0.2 mg" in refusal.nak.detail
    assert pump.client.bolus(200_000, 600).dose_ng == 200_000


def test_a_bolus_within_the_lockout_is_refused_and_at_its_end_accepted(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.bolus(100_000, 60)
    simulator.advance(4 * HOUR_MS - SECOND_MS)
    refusal = refused(lambda: pump.client.bolus(100_000, 60), NakCode.BOLUS_LOCKOUT)
    assert refusal.nak.limit == 4 * 3600
    assert "lockout is 240 min" in refusal.nak.detail
    simulator.advance(SECOND_MS)
    pump.client.bolus(100_000, 60)


def test_no_more_than_the_daily_number_of_boluses_in_any_24_h(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    for _ in range(4):
        pump.client.bolus(50_000, 60)
        simulator.advance(4 * HOUR_MS)
    refusal = refused(lambda: pump.client.bolus(50_000, 60), NakCode.BOLUS_COUNT_LIMIT)
    assert refusal.nak.limit == 4
    assert "the maximum is 4" in refusal.nak.detail
    simulator.advance(8 * HOUR_MS - SECOND_MS)  # 1 s before the first leaves the 24 h
    refused(lambda: pump.client.bolus(50_000, 60), NakCode.BOLUS_COUNT_LIMIT)
    simulator.advance(SECOND_MS)
    pump.client.bolus(50_000, 60)


def test_boluses_never_take_any_24_h_over_the_daily_maximum(make_pump: MakePump) -> None:
    """19.4 mg/day: three 0.2 mg boluses reach 20 mg exactly. Boluses count as delivered over
    their 10 minutes, so a fourth fits once no 24 h window can hold more than 10 minutes of
    it and the first together: 24 h after the first started, not a second earlier."""
    pump = make_pump("--dose", "19.4")
    assert pump.sim is not None
    for _ in range(3):
        pump.client.bolus(200_000, 600)
        pump.sim.advance(4 * HOUR_MS)
    refusal = refused(lambda: pump.client.bolus(200_000, 600), NakCode.DAILY_LIMIT)
    assert refusal.nak.limit == 20 * MG
    assert "24 h window" in refusal.nak.detail
    assert "20 mg/day" in refusal.nak.detail

    pump.sim.advance(12 * HOUR_MS - SECOND_MS)  # a window could hold 601 s of boluses
    refused(lambda: pump.client.bolus(200_000, 600), NakCode.DAILY_LIMIT)
    pump.sim.advance(SECOND_MS)
    pump.client.bolus(200_000, 600)


def test_a_decrease_does_not_make_room_for_boluses_in_the_trailing_24_h(
    make_pump: MakePump,
) -> None:
    """20 → 19.2 mg/day, then boluses: a window still holding hours of 20 mg/day must not
    receive 0.8 mg of boluses on top."""
    pump = make_pump("--dose", "20")
    assert pump.sim is not None
    pump.sim.advance(DAY_MS)
    pump.client.set_rate(19_200_000, 20 * MG)
    refused(lambda: pump.client.bolus(200_000, 600), NakCode.DAILY_LIMIT)
    pump.sim.advance(DAY_MS)
    pump.client.bolus(200_000, 600)


def test_no_bolus_when_the_pump_cannot_deliver(make_pump: MakePump) -> None:
    pump = make_pump("--volume", "0.1")  # 100 µL: empty in under 2 days at 56 µL/day
    assert pump.sim is not None
    refusal = refused(lambda: pump.client.bolus(0, 60), NakCode.INVALID_ARGUMENT)
    assert "needs a dose and a duration" in refusal.nak.detail
    refused(lambda: pump.client.bolus(100_000, 0), NakCode.INVALID_ARGUMENT)

    pump.client.stop()
    refusal = refused(lambda: pump.client.bolus(100_000, 60), NakCode.PUMP_STOPPED)
    assert "stopped (clinician)" in refusal.nak.detail
    pump.client.resume()

    pump.sim.fault("catheter", "occluded")
    refusal = refused(lambda: pump.client.bolus(100_000, 60), NakCode.OCCLUSION_PRESENT)
    assert "occlusion" in refusal.nak.detail
    pump.sim.clear_faults()

    pump.sim.advance(2 * DAY_MS)
    assert pump.client.status().stop_reason == StopReason.RESERVOIR_EMPTY
    refusal = refused(lambda: pump.client.bolus(100_000, 60), NakCode.PUMP_STOPPED)
    assert "reservoir empty" in refusal.nak.detail
    assert not pump.client.status().bolus_active
    assert not events(pump.client, EventCode.BOLUS_STARTED)


def test_a_drug_without_boluses_refuses_every_bolus(make_pump: MakePump) -> None:
    pump = make_pump("--drug", "ziconotide", "--concentration", "25", "--dose", "2.4")
    refusal = refused(lambda: pump.client.bolus(1 * MCG, 60), NakCode.BOLUS_TOO_LARGE)
    assert refusal.nak.limit == 0


def test_stopping_mid_bolus_ends_it_and_keeps_the_lockout(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    first = pump.client.bolus(200_000, 600)
    simulator.advance(150 * SECOND_MS)  # a quarter delivered
    pump.client.stop()
    assert not pump.client.status().bolus_active
    pump.client.resume()
    assert not pump.client.status().bolus_active
    refused(lambda: pump.client.bolus(200_000, 600), NakCode.BOLUS_LOCKOUT)

    finished = [e for e in events(pump.client, EventCode.BOLUS_FINISHED)]
    assert [(e.request_id, e.value_a) for e in finished] == [(first.request_id, 50_000)]
    assert "0.05 mg of 0.2 mg delivered" in finished[0].detail

    simulator.advance(DAY_MS - 150 * SECOND_MS)
    assert pump.client.status().reservoir_ul == 20_000 - 2 - 56  # 0.05 mg is 2 µL


def test_motor_stall_mid_bolus_ends_the_bolus(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.bolus(200_000, 600)
    simulator.advance(300 * SECOND_MS)
    simulator.fault("motor_stall", "on")
    status = pump.client.status()
    assert not status.bolus_active
    assert status.stop_reason == StopReason.MOTOR_STALL
    assert any(a.code == AlarmCode.MOTOR_STALL for a in status.alarms)
    before = status.reservoir_ul
    simulator.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == before
