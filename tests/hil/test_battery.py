"""The battery through the serial port: it drains with time, with each mL delivered and with
each bolus; ELECTIVE_REPLACEMENT comes when what is left lasts 90 days at the program in
force, to the millisecond; at end of service the pump stops delivering for good and RESUME is
refused; STATUS projects both dates.

The documented figures (docs/simulator.md §3.15, design defaults): 2 555 000 µAh, 1 000 µAh a
day, 400 µAh a mL moved, 50 µAh a bolus, ERI 90 days ahead. The plugin's pump: morphine
25 mg/mL at 1.4 mg/day (56 µL/day) in an IT-20 with 20 mL, frozen clock from 2026-01-01."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from pumpctl.protocol.messages import AlarmCode, EventCode, NakCode, PumpState, StopReason
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.expect import DAY_MS, MG, START_MS, START_S, alarm, events, raised, refused

pytestmark = pytest.mark.needs_simulator

CAPACITY_UAH = 2_555_000
PER_DAY_UAH = 1_000
PER_ML_UAH = 400
PER_BOLUS_UAH = 50
ERI_NOTICE_DAYS = 90
FLOW_ML_PER_DAY = Fraction(56, 1000)
# The program's drain a day: time, and the motor at 56 µL/day.
DRAIN_UAH_PER_DAY = PER_DAY_UAH + FLOW_ML_PER_DAY * PER_ML_UAH  # 1 022.4


def eos_s(now_ms: int, left_uah: Fraction) -> int:
    """End of service at the program's drain, as STATUS gives it."""
    return (now_ms + math.ceil(left_uah * DAY_MS / DRAIN_UAH_PER_DAY)) // 1000


def test_status_projects_elective_replacement_and_end_of_service(pump: PumpUnderTest) -> None:
    status = pump.client.status()
    assert status.battery_pct == 100
    eos = eos_s(START_MS, Fraction(CAPACITY_UAH))  # about 6.8 years at 56 µL/day
    assert status.battery_eos_projected_s == eos
    assert status.battery_eri_projected_s == eos - ERI_NOTICE_DAYS * 86_400
    # A bolus takes its 50 µAh at once.
    pump.client.bolus(100_000, 600)
    after = pump.client.status()
    assert after.battery_eos_projected_s == eos_s(START_MS, Fraction(CAPACITY_UAH - 50))


def test_a_year_drains_time_and_delivery(pump: PumpUnderTest, simulator: SimulatorProcess) -> None:
    simulator.advance(365 * DAY_MS)
    status = pump.client.status()
    # The 20 mL ran out on day 357 (and delivery stopped): 365 days and 20 mL of motor.
    assert (status.state, status.stop_reason) == (PumpState.STOPPED, StopReason.RESERVOIR_EMPTY)
    used = 365 * PER_DAY_UAH + 20 * PER_ML_UAH
    assert status.battery_pct == math.ceil(Fraction((CAPACITY_UAH - used) * 100, CAPACITY_UAH))
    assert status.battery_pct == 86
    now_ms = START_MS + 365 * DAY_MS
    assert status.battery_eos_projected_s == eos_s(now_ms, Fraction(CAPACITY_UAH - used))
    assert alarm(status, AlarmCode.ELECTIVE_REPLACEMENT) is None


def test_elective_replacement_is_raised_90_days_ahead_to_the_millisecond(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.stop()  # only time drains now; ERI still counts 90 days at the program
    reserve = ERI_NOTICE_DAYS * DRAIN_UAH_PER_DAY
    eri_ms = math.ceil((CAPACITY_UAH - reserve) * DAY_MS / PER_DAY_UAH)
    assert eri_ms == 212_801_817_600  # 2 462.984 days
    simulator.advance(eri_ms - 1)
    assert alarm(pump.client.status(), AlarmCode.ELECTIVE_REPLACEMENT) is None
    simulator.advance(1)
    status = pump.client.status()
    found = alarm(status, AlarmCode.ELECTIVE_REPLACEMENT)
    assert found is not None
    assert not found.acknowledged
    [event] = raised(pump.client, AlarmCode.ELECTIVE_REPLACEMENT)
    assert event.time_s == (START_MS + eri_ms) // 1000
    # Raised: STATUS gives when, and end of service the 90 days at the program's drain.
    assert status.battery_eri_projected_s == event.time_s
    left = CAPACITY_UAH - Fraction(eri_ms * PER_DAY_UAH, DAY_MS)
    assert status.battery_eos_projected_s == eos_s(START_MS + eri_ms, left)
    assert status.battery_eos_projected_s - event.time_s == pytest.approx(90 * 86_400, abs=1)
    assert alarm(status, AlarmCode.LOW_BATTERY) is not None  # 20 % came years before


def test_end_of_service_stops_delivery_for_good(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    simulator.fault("battery", "1")  # 25 550 µAh left
    assert alarm(pump.client.status(), AlarmCode.ELECTIVE_REPLACEMENT) is not None
    eos_ms = math.ceil(Fraction(CAPACITY_UAH, 100) * DAY_MS / DRAIN_UAH_PER_DAY)
    simulator.advance(eos_ms - 1)
    assert pump.client.status().state == PumpState.RUNNING
    simulator.advance(1)
    status = pump.client.status()
    assert (status.state, status.stop_reason) == (PumpState.STOPPED, StopReason.BATTERY_DEPLETED)
    assert status.battery_pct == 0
    assert alarm(status, AlarmCode.PUMP_STOPPED) is not None
    delivered_nl = Fraction(56_000 * eos_ms, DAY_MS)
    assert status.reservoir_ul == math.floor((20_000_000 - delivered_nl) / 1000)
    stopped = events(pump.client, EventCode.STOPPED)
    assert [(e.value_a, e.time_s) for e in stopped] == [
        (StopReason.BATTERY_DEPLETED, START_S + eos_ms // 1000)
    ]

    simulator.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == status.reservoir_ul  # nothing delivered
    refusal = refused(pump.client.resume, NakCode.PUMP_STOPPED)
    assert "end of service" in refusal.nak.detail
    refused(lambda: pump.client.bolus(MG // 10, 600), NakCode.PUMP_STOPPED)
    pump.client.stop()  # stopping a stopped pump is never refused
