"""The reservoir through the serial port: refill rules, the discrepancy alert, a
concentration change, running empty, the low-reservoir projection, and a year of therapy
that ends on the microlitre the arithmetic predicts."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from pumpctl.protocol.messages import (
    AlarmCode,
    EventCode,
    NakCode,
    PumpState,
    Severity,
    StopReason,
)
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import (
    DAY_MS,
    HOUR_MS,
    MCG,
    MG,
    START_MS,
    alarm,
    events,
    raised,
    refused,
)

MORPHINE = 25 * MG  # ng/mL, the plugin pump's concentration


def used_ul(dose_ng_per_day: int, concentration_ng_per_ml: int, ms: int) -> Fraction:
    """Volume a dose takes from the reservoir in ``ms``, exactly."""
    return Fraction(dose_ng_per_day * 1000 * ms, concentration_ng_per_ml * DAY_MS)


# --- refill rules --------------------------------------------------------------------------


@pytest.mark.needs_simulator
def test_overfill_is_refused_and_the_capacity_exactly_accepted(pump: PumpUnderTest) -> None:
    refusal = refused(lambda: pump.client.refill(20_000, 20_001, MORPHINE), NakCode.OVERFILL)
    assert refusal.nak.limit == 20_000
    assert refusal.nak.detail == "20.001 mL overfills the 20 mL reservoir"
    assert pump.client.refill(20_000, 20_000, MORPHINE).reservoir_ul == 20_000


@pytest.mark.needs_simulator
@pytest.mark.parametrize(
    ("concentration", "bound"),
    [(25 * MG + 1, 25 * MG), (1 * MG - 1, 1 * MG)],
    ids=["above", "below"],
)
def test_a_concentration_outside_the_range_is_refused(
    pump: PumpUnderTest, concentration: int, bound: int
) -> None:
    refusal = refused(
        lambda: pump.client.refill(20_000, 20_000, concentration, waive_bridge_bolus=True),
        NakCode.CONCENTRATION_OUT_OF_RANGE,
    )
    assert refusal.nak.limit == bound
    assert "morphine's range" in refusal.nak.detail
    assert pump.client.identify().concentration_ng_per_ml == MORPHINE


def test_a_concentration_the_current_dose_cannot_flow_at_is_refused(make_pump: MakePump) -> None:
    """1.1 mg/day at 25 mg/mL would be 44 µL/day, under the 48 µL/day minimum; 1.2 mg/day
    is 48 µL/day exactly."""
    pump = make_pump("--concentration", "10", "--dose", "1.1")
    refusal = refused(
        lambda: pump.client.refill(19_000, 20_000, MORPHINE, waive_bridge_bolus=True),
        NakCode.BELOW_MIN_FLOW,
    )
    assert refusal.nak.limit == 48_000
    assert "minimum of 0.048 mL/day" in refusal.nak.detail
    assert "at 25 mg/mL the current dose of 1.1 mg/day" in refusal.nak.detail
    pump.client.set_rate(1_200_000, 1_100_000)
    reply = pump.client.refill(
        20_000, 20_000, MORPHINE, waive_bridge_bolus=True, confirm_large_change=True
    )  # 10 -> 25 mg/mL: ×2.5
    assert reply.concentration_ng_per_ml == MORPHINE
    assert pump.client.status().flow_nl_per_day == 48_000


@pytest.mark.parametrize(
    ("model", "tolerance_ul"), [("IT-20", 1000), ("IT-40", 2000)], ids=["IT-20", "IT-40"]
)
def test_a_discrepancy_beyond_the_tolerance_raises_its_alarm(
    make_pump: MakePump, model: str, tolerance_ul: int
) -> None:
    """Beyond the tolerance the refill needs the discrepancy acknowledged (the boundaries,
    side by side: tests/hil/test_therapy_change_rules.py); acknowledged, it goes ahead and
    raises the alarm, as before."""
    pump = make_pump("--model", model, "--volume", "20")
    assert pump.sim is not None
    pump.sim.advance(10 * DAY_MS)
    expected_ul = 20_000 - 560  # 10 days at 56 µL/day

    within = pump.client.refill(expected_ul + tolerance_ul, 20_000, MORPHINE)
    assert within.expected_residual_ul == expected_ul
    assert within.discrepancy_ul == tolerance_ul
    assert not within.discrepancy_alert
    assert alarm(pump.client.status(), AlarmCode.VOLUME_DISCREPANCY) is None

    pump.sim.advance(10 * DAY_MS)
    refused(
        lambda: pump.client.refill(expected_ul - tolerance_ul - 1, 20_000, MORPHINE),
        NakCode.DISCREPANCY_UNACKNOWLEDGED,
    )
    beyond = pump.client.refill(
        expected_ul - tolerance_ul - 1, 20_000, MORPHINE, discrepancy_acknowledged=True
    )
    assert beyond.discrepancy_ul == -tolerance_ul - 1
    assert beyond.discrepancy_alert
    found = alarm(pump.client.status(), AlarmCode.VOLUME_DISCREPANCY)
    assert found is not None
    assert found.severity == Severity.WARNING
    assert len(raised(pump.client, AlarmCode.VOLUME_DISCREPANCY)) == 1

    pump.client.ack_alarm(AlarmCode.VOLUME_DISCREPANCY)  # acknowledging clears this one
    assert alarm(pump.client.status(), AlarmCode.VOLUME_DISCREPANCY) is None


@pytest.mark.needs_simulator
def test_a_concentration_change_needs_a_bridge_bolus_or_a_logged_waiver(
    pump: PumpUnderTest,
) -> None:
    refusal = refused(
        lambda: pump.client.refill(20_000, 20_000, 10 * MG), NakCode.BRIDGE_BOLUS_REQUIRED
    )
    assert "bridge bolus" in refusal.nak.detail
    assert pump.client.identify().concentration_ng_per_ml == MORPHINE

    bridged = pump.client.refill(
        20_000, 20_000, 10 * MG, bridge_bolus_ng=100_000, confirm_large_change=True
    )  # 25 -> 10 mg/mL: ÷2.5
    assert bridged.concentration_ng_per_ml == 10 * MG
    assert pump.client.status().flow_nl_per_day == 140_000  # 1.4 mg/day at 10 mg/mL
    assert pump.client.status().bolus_active
    logged = [e for e in events(pump.client) if e.request_id == bridged.request_id]
    assert [(e.code, e.value_a) for e in logged] == [
        (EventCode.REFILLED, 20_000),
        (EventCode.BOLUS_STARTED, 100_000),
    ]

    waived = pump.client.refill(
        20_000, 20_000, MORPHINE, waive_bridge_bolus=True, confirm_large_change=True
    )
    assert waived.concentration_ng_per_ml == MORPHINE
    logged = [e for e in events(pump.client) if e.request_id == waived.request_id]
    assert [(e.code, e.detail) for e in logged][-1] == (
        EventCode.REFILLED,
        "bridge bolus waived",
    )


def test_a_refill_during_a_bolus_keeps_the_dose_exact_in_nanograms(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    """The rest of a running bolus is delivered from the new fill at its concentration."""
    pump.client.bolus(200_000, 3600)
    simulator.advance(HOUR_MS // 2)
    pump.client.refill(19_970, 20_000, 10 * MG, waive_bridge_bolus=True, confirm_large_change=True)
    simulator.advance(HOUR_MS // 2)
    # From the new fill: 0.1 mg of bolus at 10 mg/mL (10 µL), 30 min of 1.4 mg/day (~2.9 µL).
    expected = 20_000 - 10 - used_ul(1_400_000, 10 * MG, HOUR_MS // 2)
    assert pump.client.status().reservoir_ul == math.floor(expected) == 19_987


# --- empty and low ------------------------------------------------------------------------


def test_an_empty_reservoir_stops_delivery_with_a_critical_alarm(make_pump: MakePump) -> None:
    pump = make_pump("--volume", "1")  # 1000 µL at 56 µL/day
    assert pump.sim is not None
    low = alarm(pump.client.status(), AlarmCode.LOW_RESERVOIR)
    assert low is not None  # below the 3 mL threshold from the start
    assert low.severity == Severity.WARNING

    pump.sim.advance(18 * DAY_MS)
    status = pump.client.status()
    assert status.state == PumpState.STOPPED
    assert status.stop_reason == StopReason.RESERVOIR_EMPTY
    assert status.reservoir_ul == 0
    empty = alarm(status, AlarmCode.EMPTY_RESERVOIR)
    assert empty is not None
    assert empty.severity == Severity.CRITICAL
    empty_ms = START_MS + math.ceil(Fraction(1000 * DAY_MS, 56))
    assert [e.time_s for e in raised(pump.client, AlarmCode.EMPTY_RESERVOIR)] == [empty_ms // 1000]
    stops = events(pump.client, EventCode.STOPPED)
    assert [(e.time_s, e.value_a) for e in stops] == [
        (empty_ms // 1000, StopReason.RESERVOIR_EMPTY)
    ]
    assert "reservoir is empty" in refused(pump.client.resume, NakCode.RESERVOIR_EMPTY).nak.detail

    pump.client.refill(0, 20_000, MORPHINE)
    status = pump.client.status()
    # A refill does not restart delivery by itself, and the pump says so until it resumes.
    assert [a.code for a in status.alarms] == [AlarmCode.PUMP_STOPPED]
    assert status.state == PumpState.STOPPED
    pump.client.resume()
    assert pump.client.status().alarms == []
    pump.sim.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == 20_000 - 56


def test_the_low_reservoir_alarm_fires_on_the_projected_date(make_pump: MakePump) -> None:
    """Ziconotide has no boluses, so the projection is exactly what happens: 2.4 mcg/day at
    25 mcg/mL is 96 µL/day, from 20 000 µL to the 3 000 µL threshold."""
    pump = make_pump("--drug", "ziconotide", "--concentration", "25", "--dose", "2.4")
    assert pump.sim is not None
    projected_ms = START_MS + math.ceil(Fraction(17_000 * DAY_MS, 96))
    assert pump.client.status().low_reservoir_projected_s == projected_ms // 1000

    pump.sim.advance(100 * DAY_MS)  # a step on the way changes nothing
    assert pump.client.status().low_reservoir_projected_s == projected_ms // 1000
    pump.sim.advance(100 * DAY_MS)
    status = pump.client.status()
    assert alarm(status, AlarmCode.LOW_RESERVOIR) is not None
    assert status.low_reservoir_projected_s == 0  # already there
    assert [e.time_s for e in raised(pump.client, AlarmCode.LOW_RESERVOIR)] == [
        projected_ms // 1000
    ]


@pytest.mark.needs_simulator
def test_the_projection_assumes_every_allowed_bolus(pump: PumpUnderTest) -> None:
    """Morphine 1.4 mg/day plus four 0.2 mg boluses: 2.2 mg/day, 88 µL/day."""
    projected_ms = START_MS + math.ceil(Fraction(17_000 * DAY_MS, 88))
    assert pump.client.status().low_reservoir_projected_s == projected_ms // 1000


# --- a year -------------------------------------------------------------------------------


def test_a_year_of_therapy_ends_on_the_microlitre(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    """1.234567 mg/day (49.38268 µL/day: no whole number of µL or nL a day), refilled every
    60 days with the residual the arithmetic predicts, for 365 days."""
    dose = 1_234_567
    pump.client.set_rate(dose, 1_400_000)
    reservoir = Fraction(20_000)  # µL, exact
    day = 0
    for refill_day in (60, 120, 180, 240, 300, 360):
        simulator.advance((refill_day - day) * DAY_MS)
        reservoir -= used_ul(dose, MORPHINE, (refill_day - day) * DAY_MS)
        refill = pump.client.refill(math.floor(reservoir), 20_000, MORPHINE)
        assert refill.expected_residual_ul == math.floor(reservoir)
        assert refill.discrepancy_ul == 0
        reservoir, day = Fraction(20_000), refill_day
    simulator.advance((365 - day) * DAY_MS)
    reservoir -= used_ul(dose, MORPHINE, (365 - day) * DAY_MS)

    status = pump.client.status()
    assert status.pump_time_s * 1000 == START_MS + 365 * DAY_MS
    assert status.reservoir_ul == math.floor(reservoir) == 19_753
    assert status.alarms == []


def test_a_bridge_bolus_is_delivered_from_the_new_concentration(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.refill(20_000, 20_000, 10 * MG, bridge_bolus_ng=50 * MCG, confirm_large_change=True)
    simulator.advance(HOUR_MS)
    assert not pump.client.status().bolus_active
    # 0.05 mg at 10 mg/mL is 5 µL; an hour of 1.4 mg/day at 10 mg/mL is 5.83 µL.
    expected = 20_000 - 5 - used_ul(1_400_000, 10 * MG, HOUR_MS)
    assert pump.client.status().reservoir_ul == math.floor(expected) == 19_989
