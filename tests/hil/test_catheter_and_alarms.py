"""Catheter checks and device alarms through the serial port: an occlusion found and
blocking increases until cleared, a leak reported as such, a stalled motor, the battery
alarms, and acknowledging alarms."""

from __future__ import annotations

from pumpctl.protocol.messages import (
    AlarmCode,
    CatheterVerdict,
    EventCode,
    NakCode,
    PumpState,
    Severity,
    StopReason,
)
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.expect import DAY_MS, START_S, alarm, events, raised, refused


def test_a_catheter_check_leaves_its_event(pump: PumpUnderTest) -> None:
    """Runs on hardware too: whatever the verdict, it is logged with its measurements."""
    check = pump.client.catheter_check()
    logged = [e for e in events(pump.client) if e.request_id == check.request_id]
    assert [(e.code, e.value_a, e.value_b) for e in logged] == [
        (EventCode.CATHETER_CHECKED, check.verdict, check.peak_pressure_mmhg)
    ]
    assert f"{check.delivered_pct}% delivered" in logged[0].detail


def test_an_occlusion_is_found_alarms_and_blocks_increases_until_cleared(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    assert pump.client.catheter_check().verdict == CatheterVerdict.PATENT
    simulator.fault("catheter", "occluded")

    check = pump.client.catheter_check()
    assert check.verdict == CatheterVerdict.OCCLUDED
    assert (check.delivered_pct, check.peak_pressure_mmhg) == (0, 140)
    status = pump.client.status()
    occlusion = alarm(status, AlarmCode.OCCLUSION)
    assert occlusion is not None
    assert occlusion.severity == Severity.CRITICAL
    assert status.low_reservoir_projected_s == 0  # nothing leaves the reservoir

    refused(lambda: pump.client.set_rate(1_500_000, 1_400_000), NakCode.OCCLUSION_PRESENT)
    refused(lambda: pump.client.bolus(100_000, 60), NakCode.OCCLUSION_PRESENT)
    assert pump.client.set_rate(1_300_000, 1_400_000).dose_ng_per_day == 1_300_000
    before = status.reservoir_ul
    simulator.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == before
    refused(lambda: pump.client.set_rate(1_400_000, 1_300_000), NakCode.OCCLUSION_PRESENT)

    simulator.clear_faults()
    assert alarm(pump.client.status(), AlarmCode.OCCLUSION) is None
    cleared = [e for e in events(pump.client, EventCode.ALARM_CLEARED)]
    assert [(e.value_a, e.time_s) for e in cleared] == [(AlarmCode.OCCLUSION, START_S + 86_400)]
    assert pump.client.catheter_check().verdict == CatheterVerdict.PATENT
    assert pump.client.set_rate(1_400_000, 1_300_000).dose_ng_per_day == 1_400_000
    pump.client.bolus(100_000, 60)


def test_a_leak_is_reported_as_such_with_its_alarm(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    """Drug leaves the reservoir but not into the intrathecal space: it mimics withdrawal."""
    simulator.fault("catheter", "leak")
    check = pump.client.catheter_check()
    assert check.verdict == CatheterVerdict.LEAK
    assert (check.delivered_pct, check.peak_pressure_mmhg) == (100, 3)
    leak = alarm(pump.client.status(), AlarmCode.CATHETER_LEAK)
    assert leak is not None
    assert leak.severity == Severity.CRITICAL
    logged = events(pump.client, EventCode.CATHETER_CHECKED)[-1]
    assert (logged.value_a, logged.value_b) == (CatheterVerdict.LEAK, 3)
    assert "LEAK" in logged.detail

    simulator.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == 20_000 - 56  # the pump still pumps

    simulator.clear_faults()  # repaired; the alarm stands until a check shows it
    assert alarm(pump.client.status(), AlarmCode.CATHETER_LEAK) is not None
    assert pump.client.catheter_check().verdict == CatheterVerdict.PATENT
    assert alarm(pump.client.status(), AlarmCode.CATHETER_LEAK) is None


def test_a_partial_occlusion_is_reported(pump: PumpUnderTest, simulator: SimulatorProcess) -> None:
    simulator.fault("catheter", "partial")
    check = pump.client.catheter_check()
    assert check.verdict == CatheterVerdict.PARTIAL_OCCLUSION
    assert (check.delivered_pct, check.peak_pressure_mmhg) == (55, 48)
    assert "PARTIAL_OCCLUSION" in events(pump.client, EventCode.CATHETER_CHECKED)[-1].detail


def test_a_motor_stall_stops_delivery_and_resume_waits_for_it_to_clear(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    simulator.fault("motor_stall", "on")
    status = pump.client.status()
    assert (status.state, status.stop_reason) == (PumpState.STOPPED, StopReason.MOTOR_STALL)
    stall = alarm(status, AlarmCode.MOTOR_STALL)
    assert stall is not None
    assert stall.severity == Severity.CRITICAL
    stops = events(pump.client, EventCode.STOPPED)
    assert [(e.request_id, e.value_a) for e in stops] == [(0, StopReason.MOTOR_STALL)]

    simulator.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == 20_000
    refusal = refused(pump.client.resume, NakCode.PUMP_STOPPED)
    assert "motor is stalled" in refusal.nak.detail

    simulator.fault("motor_stall", "off")
    status = pump.client.status()
    assert alarm(status, AlarmCode.MOTOR_STALL) is None
    assert status.state == PumpState.STOPPED  # stays stopped until a clinician resumes
    pump.client.resume()
    simulator.advance(DAY_MS)
    assert pump.client.status().reservoir_ul == 20_000 - 56


def test_battery_alarms_at_their_thresholds(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    low, replace = AlarmCode.LOW_BATTERY, AlarmCode.ELECTIVE_REPLACEMENT
    for battery, expected in [
        (21, set()),
        (20, {low}),
        (4, {low}),
        # ERI: what is left lasts 90 days at this program (3.6 %, docs/simulator.md §3.15)
        (3, {low, replace}),
        (4, {low}),
        (100, set()),
    ]:
        simulator.fault("battery", str(battery))
        status = pump.client.status()
        assert status.battery_pct == battery
        assert {a.code for a in status.alarms} == expected, battery
        assert all(a.severity == Severity.WARNING for a in status.alarms)
        assert status.state == PumpState.RUNNING
    assert [e.value_a for e in events(pump.client, EventCode.ALARM_RAISED)] == [low, replace]
    assert [e.value_a for e in events(pump.client, EventCode.ALARM_CLEARED)] == [replace, low]


def test_ack_alarm_marks_it_acknowledged_until_it_clears(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    refusal = refused(lambda: pump.client.ack_alarm(AlarmCode.LOW_BATTERY), NakCode.NO_SUCH_ALARM)
    assert "LOW_BATTERY" in refusal.nak.detail

    simulator.fault("battery", "15")
    found = alarm(pump.client.status(), AlarmCode.LOW_BATTERY)
    assert found is not None
    assert not found.acknowledged
    ack = pump.client.ack_alarm(AlarmCode.LOW_BATTERY)
    found = alarm(pump.client.status(), AlarmCode.LOW_BATTERY)
    assert found is not None
    assert found.acknowledged
    records = pump.client.read_alarms().alarms
    assert [(r.code, r.acknowledged, r.raised_at_s) for r in records] == [
        (AlarmCode.LOW_BATTERY, True, START_S)
    ]
    logged = [e for e in events(pump.client) if e.request_id == ack.request_id]
    assert [(e.code, e.value_a) for e in logged] == [
        (EventCode.ALARM_ACKNOWLEDGED, AlarmCode.LOW_BATTERY)
    ]

    simulator.fault("battery", "100")
    refused(lambda: pump.client.ack_alarm(AlarmCode.LOW_BATTERY), NakCode.NO_SUCH_ALARM)
    simulator.fault("battery", "15")  # raised again: a new alarm, not yet acknowledged
    found = alarm(pump.client.status(), AlarmCode.LOW_BATTERY)
    assert found is not None
    assert not found.acknowledged
    assert len(raised(pump.client, AlarmCode.LOW_BATTERY)) == 2
