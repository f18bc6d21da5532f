"""The pump's own safety on every therapy change, through the serial port, whatever the
programmer sends: a refill's residual discrepancy must be acknowledged, a concentration ×2 or
÷2 and a dose cut to a tenth must be confirmed, a bridge bolus is bounded, goes only with a
concentration change and to a running pump, and is given or waived, not both; a stopped pump
says so until it resumes, READ_LIMITS carries what a programmer needs to plan a change, and
every text the pump gives a person is in the drug's unit and mL. Boundaries are met exactly
on both sides.

The plugin's pump is morphine 25 mg/mL at 1.4 mg/day in an IT-20 (20 mL, refill tolerance
1 mL), frozen clock: without an advance the reservoir stays at 20 mL.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from firmware_sim.model.library import default_library
from pumpctl.client import SyncPumpClient
from pumpctl.protocol.messages import (
    AlarmCode,
    EventCode,
    NakCode,
    PumpState,
    Severity,
    StatusResponse,
    StopReason,
    WithdrawalRisk,
)
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import (
    DAY_MS,
    HOUR_MS,
    MCG,
    MG,
    START_S,
    alarm,
    events,
    raised,
    refused,
)

MORPHINE = 25 * MG  # ng/mL, the plugin pump's concentration
FULL_UL = 20_000


def snapshot(client: SyncPumpClient) -> tuple[StatusResponse, int]:
    """What a refused command must leave as it was: the status and the drug in the pump."""
    return client.status(), client.identify().concentration_ng_per_ml


# --- the residual discrepancy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "tolerance_ul"), [("IT-20", 1000), ("IT-40", 2000)], ids=["IT-20", "IT-40"]
)
@pytest.mark.parametrize(
    ("sign", "side"),
    [(-1, "possible pocket fill"), (+1, "possible under-delivery (stall, occlusion)")],
    ids=["less-came-out", "more-came-out"],
)
def test_a_discrepancy_beyond_the_tolerance_is_refused_until_acknowledged(
    make_pump: MakePump, model: str, tolerance_ul: int, sign: int, side: str
) -> None:
    pump = make_pump("--model", model, "--volume", "10")
    assert pump.sim is not None
    client = pump.client
    expected_ul = 10_000

    # The tolerance exactly: accepted, no alarm, no flag needed.
    at_tolerance = client.refill(expected_ul + sign * tolerance_ul, 10_000, MORPHINE)
    assert at_tolerance.discrepancy_ul == sign * tolerance_ul
    assert not at_tolerance.discrepancy_alert
    assert alarm(client.status(), AlarmCode.VOLUME_DISCREPANCY) is None

    # One µL more: refused, naming the side, and nothing in the pump changes.
    pump.sim.advance(DAY_MS)  # 56 µL delivered: the pump now expects 9.944 mL
    expected_ul -= 56
    before = snapshot(client)
    withdrawn = expected_ul + sign * (tolerance_ul + 1)
    refusal = refused(
        lambda: client.refill(withdrawn, 20_000, MORPHINE), NakCode.DISCREPANCY_UNACKNOWLEDGED
    )
    assert refusal.nak.limit == tolerance_ul
    assert side in refusal.nak.detail
    more_or_less = "less" if sign < 0 else "more"
    tolerance_ml = f"{tolerance_ul // 1000} mL"
    assert f"{(tolerance_ul + 1) / 1000} mL {more_or_less} than expected" in refusal.nak.detail
    assert f"the pump expected 9.944 mL (tolerance {tolerance_ml})" in refusal.nak.detail
    assert snapshot(client) == before
    assert not raised(client, AlarmCode.VOLUME_DISCREPANCY)
    assert [e.value_a for e in events(client, EventCode.REFUSED)] == [
        NakCode.DISCREPANCY_UNACKNOWLEDGED
    ]

    # Acknowledged: it goes ahead, and the alarm is raised as before.
    reply = client.refill(withdrawn, 20_000, MORPHINE, discrepancy_acknowledged=True)
    assert reply.discrepancy_alert
    assert reply.discrepancy_ul == sign * (tolerance_ul + 1)
    assert reply.reservoir_ul == 20_000
    found = alarm(client.status(), AlarmCode.VOLUME_DISCREPANCY)
    assert found is not None
    assert found.severity == Severity.WARNING
    (refilled,) = [
        e for e in events(client, EventCode.REFILLED) if e.request_id == reply.request_id
    ]
    assert side in refilled.detail
    assert "(acknowledged)" in refilled.detail


def test_an_acknowledgement_changes_nothing_within_the_tolerance(pump: PumpUnderTest) -> None:
    reply = pump.client.refill(FULL_UL - 1000, FULL_UL, MORPHINE, discrepancy_acknowledged=True)
    assert not reply.discrepancy_alert
    assert alarm(pump.client.status(), AlarmCode.VOLUME_DISCREPANCY) is None


def test_the_refill_event_reads_in_ml_and_the_drugs_unit(make_pump: MakePump) -> None:
    pump = make_pump("--volume", "3")
    assert pump.sim is not None
    pump.sim.advance(2 * DAY_MS + 2 * HOUR_MS)  # 56 µL/day: 3000 - 116.67 µL left
    reply = pump.client.refill(2_880, 20_000, MORPHINE)
    assert reply.expected_residual_ul == 2_883
    (refilled,) = events(pump.client, EventCode.REFILLED)
    assert refilled.detail == "withdrew 2.88 mL (expected 2.883 mL), added 20 mL at 25 mg/mL"


# --- a concentration change by ×2 or ÷2 ----------------------------------------------------


@pytest.mark.needs_simulator
def test_doubling_the_concentration_needs_confirming_and_just_under_does_not(
    make_pump: MakePump,
) -> None:
    pump = make_pump("--concentration", "10")
    client = pump.client
    before = snapshot(client)
    refusal = refused(
        lambda: client.refill(FULL_UL, FULL_UL, 20 * MG, waive_bridge_bolus=True),
        NakCode.LARGE_CHANGE_UNCONFIRMED,
    )
    assert refusal.nak.limit == 2
    assert "10 mg/mL -> 20 mg/mL" in refusal.nak.detail
    assert "confirm" in refusal.nak.detail
    assert snapshot(client) == before
    just_under = client.refill(FULL_UL, FULL_UL, 20 * MG - 1, waive_bridge_bolus=True)
    assert just_under.concentration_ng_per_ml == 20 * MG - 1


@pytest.mark.needs_simulator
def test_halving_the_concentration_needs_confirming_and_just_above_does_not(
    pump: PumpUnderTest,
) -> None:
    client = pump.client
    half = MORPHINE // 2  # 12.5 mg/mL
    refusal = refused(
        lambda: client.refill(FULL_UL, FULL_UL, half, waive_bridge_bolus=True),
        NakCode.LARGE_CHANGE_UNCONFIRMED,
    )
    assert refusal.nak.limit == 2
    assert "25 mg/mL -> 12.5 mg/mL" in refusal.nak.detail
    assert client.identify().concentration_ng_per_ml == MORPHINE
    just_above = client.refill(FULL_UL, FULL_UL, half + 1, waive_bridge_bolus=True)
    assert just_above.concentration_ng_per_ml == half + 1


@pytest.mark.needs_simulator
def test_a_confirmed_halving_goes_through_with_its_bridge_bolus(pump: PumpUnderTest) -> None:
    reply = pump.client.refill(
        FULL_UL, FULL_UL, MORPHINE // 2, bridge_bolus_ng=100_000, confirm_large_change=True
    )
    assert reply.concentration_ng_per_ml == MORPHINE // 2
    assert pump.client.status().bolus_active


# --- the bridge bolus ----------------------------------------------------------------------


@pytest.mark.needs_simulator
def test_a_bridge_bolus_at_its_maximum_is_accepted_and_one_ng_more_refused(
    pump: PumpUnderTest,
) -> None:
    maximum = pump.client.read_limits().bridge_bolus_max_ng
    assert maximum == 1 * MG  # morphine
    before = snapshot(pump.client)
    refusal = refused(
        lambda: pump.client.refill(FULL_UL, FULL_UL, 20 * MG, bridge_bolus_ng=maximum + 1),
        NakCode.BOLUS_TOO_LARGE,
    )
    assert refusal.nak.limit == maximum
    assert refusal.nak.detail == (
        "bridge bolus of 1.000001 mg exceeds the maximum bridge bolus of 1 mg"
    )
    assert snapshot(pump.client) == before
    reply = pump.client.refill(FULL_UL, FULL_UL, 20 * MG, bridge_bolus_ng=maximum)
    started = events(pump.client, EventCode.BOLUS_STARTED)
    assert [(e.request_id, e.value_a) for e in started] == [(reply.request_id, maximum)]


def test_a_bridge_bolus_within_its_maximum_still_meets_the_daily_maximum(
    make_pump: MakePump,
) -> None:
    """Baclofen at its 1000 mcg/day maximum: a 100 mcg bridge bolus (its maximum) would put
    1.1 mg in a day; 1 mcg more is refused as too large first."""
    pump = make_pump("--drug", "baclofen", "--concentration", "500", "--dose", "1000")
    client = pump.client
    too_large = refused(
        lambda: client.refill(
            FULL_UL, FULL_UL, 1000 * MCG, bridge_bolus_ng=100 * MCG + 1, confirm_large_change=True
        ),
        NakCode.BOLUS_TOO_LARGE,
    )
    assert too_large.nak.limit == 100 * MCG
    assert "maximum bridge bolus of 100 mcg" in too_large.nak.detail
    over_the_day = refused(
        lambda: client.refill(
            FULL_UL, FULL_UL, 1000 * MCG, bridge_bolus_ng=100 * MCG, confirm_large_change=True
        ),
        NakCode.DAILY_LIMIT,
    )
    assert over_the_day.nak.limit == 1000 * MCG
    assert "1100 mcg in one 24 h window" in over_the_day.nak.detail


@pytest.mark.needs_simulator
def test_a_bridge_bolus_with_an_unchanged_concentration_is_refused(pump: PumpUnderTest) -> None:
    before = snapshot(pump.client)
    refusal = refused(
        lambda: pump.client.refill(FULL_UL, FULL_UL, MORPHINE, bridge_bolus_ng=100_000),
        NakCode.INVALID_ARGUMENT,
    )
    assert "a bridge bolus goes with a concentration change" in refusal.nak.detail
    assert "25 mg/mL" in refusal.nak.detail
    assert snapshot(pump.client) == before
    assert not events(pump.client, EventCode.BOLUS_STARTED)
    assert not events(pump.client, EventCode.REFILLED)


@pytest.mark.needs_simulator
def test_a_stopped_pump_refuses_a_bridge_bolus_and_changes_nothing(pump: PumpUnderTest) -> None:
    """A stopped pump would not deliver the bridge bolus, and on resume the old drug in the
    pump and catheter would go out at the new flow with no bridge: refused, not logged as
    "not delivered". Resumed first, the same refill goes ahead with its bridge bolus."""
    client = pump.client
    client.stop()
    before = snapshot(client)
    refusal = refused(
        lambda: client.refill(FULL_UL, FULL_UL, 20 * MG, bridge_bolus_ng=100_000),
        NakCode.PUMP_STOPPED,
    )
    assert refusal.nak.limit == 0
    assert refusal.nak.detail == (
        "the pump is stopped (clinician) and would not deliver the bridge bolus: resume it "
        "first, or waive it"
    )
    readable(refusal.nak.detail)
    assert snapshot(client) == before
    assert client.identify().concentration_ng_per_ml == MORPHINE
    assert client.status().reservoir_ul == FULL_UL
    assert not events(client, EventCode.REFILLED)
    assert not events(client, EventCode.BOLUS_STARTED)
    assert [e.value_a for e in events(client, EventCode.REFUSED)] == [NakCode.PUMP_STOPPED]

    client.resume()
    reply = client.refill(FULL_UL, FULL_UL, 20 * MG, bridge_bolus_ng=100_000)
    assert reply.concentration_ng_per_ml == 20 * MG
    assert client.status().bolus_active
    started = events(client, EventCode.BOLUS_STARTED)
    assert [(e.request_id, e.value_a) for e in started] == [(reply.request_id, 100_000)]


@pytest.mark.needs_simulator
def test_a_stopped_pump_takes_the_same_refill_with_the_bridge_bolus_waived(
    pump: PumpUnderTest,
) -> None:
    client = pump.client
    client.stop()
    refused(
        lambda: client.refill(FULL_UL, FULL_UL, 20 * MG, bridge_bolus_ng=100_000),
        NakCode.PUMP_STOPPED,
    )
    reply = client.refill(FULL_UL, FULL_UL, 20 * MG, waive_bridge_bolus=True)
    assert reply.concentration_ng_per_ml == 20 * MG
    assert client.identify().concentration_ng_per_ml == 20 * MG
    status = client.status()
    assert status.state == PumpState.STOPPED  # the clinician still resumes it
    assert not status.bolus_active
    logged = [e.detail for e in events(client) if e.request_id == reply.request_id]
    assert logged[-1] == "bridge bolus waived"
    assert not events(client, EventCode.BOLUS_STARTED)


@pytest.mark.needs_simulator
@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_a_bridge_bolus_and_its_waiver_together_are_refused(
    pump: PumpUnderTest, stopped: bool
) -> None:
    """Give it or waive it: both is a request that contradicts itself, refused before the
    pump's own state is looked at."""
    client = pump.client
    if stopped:
        client.stop()
    before = snapshot(client)
    refusal = refused(
        lambda: client.refill(
            FULL_UL, FULL_UL, 20 * MG, bridge_bolus_ng=100_000, waive_bridge_bolus=True
        ),
        NakCode.INVALID_ARGUMENT,
    )
    assert refusal.nak.detail == "give a bridge bolus or waive it, not both"
    assert snapshot(client) == before
    assert not events(client, EventCode.BOLUS_STARTED)
    assert not events(client, EventCode.REFILLED)


# --- the refill's checks, in their documented order ----------------------------------------


@pytest.mark.needs_simulator
def test_the_first_failing_refill_rule_is_the_one_reported(pump: PumpUnderTest) -> None:
    """docs/protocol.md §7: hard rules before the confirmations, and of the confirmations the
    concentration before the discrepancy; each one fixed, the next one speaks."""
    client = pump.client
    far_off = FULL_UL - 5_000  # a residual 5 mL short of the expected 20 mL
    ask = {"waive_bridge_bolus": True}

    def attempt(**flags: bool) -> Callable[[], object]:
        return lambda: client.refill(far_off, FULL_UL, 10 * MG, **{**ask, **flags})

    refused(
        lambda: client.refill(far_off, FULL_UL, 10 * MG, bridge_bolus_ng=2 * MG),
        NakCode.BOLUS_TOO_LARGE,
    )
    refused(attempt(), NakCode.LARGE_CHANGE_UNCONFIRMED)
    refused(attempt(confirm_large_change=True), NakCode.DISCREPANCY_UNACKNOWLEDGED)
    refused(attempt(discrepancy_acknowledged=True), NakCode.LARGE_CHANGE_UNCONFIRMED)
    reply = attempt(confirm_large_change=True, discrepancy_acknowledged=True)()
    assert reply is not None
    assert client.identify().concentration_ng_per_ml == 10 * MG
    assert alarm(client.status(), AlarmCode.VOLUME_DISCREPANCY) is not None


# --- a large decrease ----------------------------------------------------------------------


@pytest.mark.needs_simulator
def test_a_cut_to_a_tenth_needs_confirming(make_pump: MakePump) -> None:
    pump = make_pump("--dose", "15")
    refusal = refused(
        lambda: pump.client.set_rate(1_500_000, 15 * MG), NakCode.LARGE_CHANGE_UNCONFIRMED
    )
    assert refusal.nak.limit == 10
    assert refusal.nak.detail == (
        "15 mg/day -> 1.5 mg/day divides the dose by 10 or more: confirm explicitly"
    )
    assert pump.client.status().dose_ng_per_day == 15 * MG
    reply = pump.client.set_rate(1_500_000, 15 * MG, confirm_large_change=True)
    assert reply.dose_ng_per_day == 1_500_000


@pytest.mark.needs_simulator
def test_a_cut_to_just_above_a_tenth_goes_unconfirmed(make_pump: MakePump) -> None:
    """Decreases have no step or interval rule: right after an increase, too."""
    pump = make_pump("--dose", "15")
    pump.client.set_rate(16 * MG, 15 * MG)
    assert pump.client.set_rate(1_600_001, 16 * MG).dose_ng_per_day == 1_600_001


# --- a stopped pump ------------------------------------------------------------------------


@pytest.mark.needs_simulator
def test_a_clinician_stop_raises_pump_stopped_until_resume(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    client = pump.client
    simulator.advance(HOUR_MS)
    stop = client.stop()
    assert stop.stop_reason == StopReason.CLINICIAN
    stopped = alarm(client.status(), AlarmCode.PUMP_STOPPED)
    assert stopped is not None
    assert stopped.severity == Severity.CRITICAL  # morphine: an opioid
    assert not stopped.acknowledged
    (record,) = [a for a in client.read_alarms().alarms if a.code == AlarmCode.PUMP_STOPPED]
    assert record.raised_at_s == START_S + 3600  # the moment delivery stopped
    logged = [(e.code, e.value_a) for e in events(client) if e.time_s == START_S + 3600]
    assert logged[-2:] == [
        (EventCode.STOPPED, StopReason.CLINICIAN),
        (EventCode.ALARM_RAISED, AlarmCode.PUMP_STOPPED),
    ]

    client.ack_alarm(AlarmCode.PUMP_STOPPED)
    simulator.advance(DAY_MS)
    still = alarm(client.status(), AlarmCode.PUMP_STOPPED)
    assert still is not None
    assert still.acknowledged  # acknowledged, and still active: nothing is delivered

    client.resume()
    assert alarm(client.status(), AlarmCode.PUMP_STOPPED) is None
    cleared = events(client, EventCode.ALARM_CLEARED)
    assert [(e.value_a, e.time_s) for e in cleared] == [
        (AlarmCode.PUMP_STOPPED, START_S + 3600 + 86_400)
    ]
    # A new stop is a new, unacknowledged alarm.
    client.stop()
    again = alarm(client.status(), AlarmCode.PUMP_STOPPED)
    assert again is not None
    assert not again.acknowledged


def test_an_empty_reservoir_raises_pump_stopped_which_a_refill_does_not_clear(
    make_pump: MakePump,
) -> None:
    pump = make_pump("--volume", "0.056")  # one day at 1.4 mg/day of 25 mg/mL
    assert pump.sim is not None
    client = pump.client
    pump.sim.advance(2 * DAY_MS)
    status = client.status()
    assert status.stop_reason == StopReason.RESERVOIR_EMPTY
    stopped = alarm(status, AlarmCode.PUMP_STOPPED)
    assert stopped is not None
    assert stopped.severity == Severity.CRITICAL
    (record,) = [a for a in client.read_alarms().alarms if a.code == AlarmCode.PUMP_STOPPED]
    assert record.raised_at_s == START_S + 86_400  # when the last drop left
    client.ack_alarm(AlarmCode.PUMP_STOPPED)

    client.refill(0, FULL_UL, MORPHINE)
    status = client.status()
    assert status.state == PumpState.STOPPED
    assert alarm(status, AlarmCode.EMPTY_RESERVOIR) is None
    after_refill = alarm(status, AlarmCode.PUMP_STOPPED)
    assert after_refill is not None  # the clinician must resume
    assert after_refill.acknowledged

    client.resume()
    assert client.status().alarms == []


def test_a_motor_stall_raises_pump_stopped_which_outlasts_the_stall(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    simulator.fault("motor_stall", "on")
    assert alarm(pump.client.status(), AlarmCode.PUMP_STOPPED) is not None
    refused(pump.client.resume, NakCode.PUMP_STOPPED)
    simulator.fault("motor_stall", "off")
    status = pump.client.status()
    assert alarm(status, AlarmCode.MOTOR_STALL) is None
    assert alarm(status, AlarmCode.PUMP_STOPPED) is not None
    pump.client.resume()
    assert alarm(pump.client.status(), AlarmCode.PUMP_STOPPED) is None


def test_pump_stopped_survives_a_restart(pump: PumpUnderTest, simulator: SimulatorProcess) -> None:
    pump.client.stop()
    simulator.restart(hard=True)
    client = pump.reconnect()
    stopped = alarm(client.status(), AlarmCode.PUMP_STOPPED)
    assert stopped is not None
    assert len(raised(client, AlarmCode.PUMP_STOPPED)) == 1  # the same alarm, not a new one


@pytest.mark.parametrize(
    ("drug", "severity"),
    [("ziconotide", Severity.WARNING), ("baclofen", Severity.CRITICAL)],
)
def test_the_stopped_alarm_is_critical_unless_the_drug_has_no_withdrawal(
    make_pump: MakePump, drug: str, severity: Severity
) -> None:
    pump = make_pump("--drug", drug)
    pump.client.stop()
    stopped = alarm(pump.client.status(), AlarmCode.PUMP_STOPPED)
    assert stopped is not None
    assert stopped.severity == severity


# --- what READ_LIMITS tells a programmer ---------------------------------------------------


@pytest.mark.parametrize(
    ("drug", "unit", "risk", "bridge_max_ng"),
    [
        ("morphine", "mg", WithdrawalRisk.OPIOID, 1 * MG),
        ("hydromorphone", "mg", WithdrawalRisk.OPIOID, 200_000),
        ("ziconotide", "mcg", WithdrawalRisk.NONE, 1_200),
        ("baclofen", "mcg", WithdrawalRisk.BACLOFEN, 100 * MCG),
    ],
)
def test_the_limits_carry_the_drugs_unit_withdrawal_risk_and_bridge_maximum(
    make_pump: MakePump, drug: str, unit: str, risk: WithdrawalRisk, bridge_max_ng: int
) -> None:
    pump = make_pump("--drug", drug)
    limits = pump.client.read_limits()
    shipped = default_library().limits_for(drug)
    assert limits.drug == drug
    assert limits.display_unit == unit == shipped.display_unit
    assert limits.withdrawal_risk == risk
    assert limits.bridge_bolus_max_ng == bridge_max_ng == shipped.bridge_bolus_max_ng
    assert limits.retitration_interval_s == shipped.retitration_interval_s == 7 * 86_400
    assert limits.refill_tolerance_ul == 1000  # IT-20


@pytest.mark.parametrize(
    ("drug", "days"),
    [("ziconotide", 40), ("baclofen", 180), ("morphine", 180), ("hydromorphone", 180)],
)
def test_the_limits_carry_the_drugs_maximum_refill_interval(
    make_pump: MakePump, drug: str, days: int
) -> None:
    """How long a fill may stay in the pump, for the programmer's next refill date: ziconotide
    40 days (its diluted limit), baclofen 180 (label); the opioids' 180 a design default."""
    limits = make_pump("--drug", drug).client.read_limits()
    shipped = default_library().limits_for(drug)
    assert limits.max_refill_interval_s == shipped.max_refill_interval_s == days * 86_400


def test_the_limits_carry_the_models_refill_tolerance(make_pump: MakePump) -> None:
    assert make_pump("--model", "IT-40").client.read_limits().refill_tolerance_ul == 2000


# --- every text a person reads ------------------------------------------------------------

WIRE_UNITS = re.compile(r"\b(ng|nL)\b|µL|ng/mL|nL/day")


def readable(text: str) -> None:
    """Clinical text: the drug's unit and mL, never the wire's integers' units, and never
    an invitation to stop the therapy."""
    assert not WIRE_UNITS.search(text), text
    assert "stop the pump" not in text.lower(), text


def test_refusal_and_event_texts_use_the_drugs_unit_and_ml(make_pump: MakePump) -> None:
    pump = make_pump("--concentration", "10", "--dose", "1.1", "--volume", "10")
    assert pump.sim is not None
    client = pump.client
    limits = client.read_limits()
    attempts: list[tuple[Callable[[], object], NakCode]] = [
        (
            lambda: client.set_rate(limits.max_dose_ng_per_day + 1, 1_100_000),
            NakCode.ABOVE_MAX_DOSE,
        ),
        (lambda: client.set_rate(400_000, 1_100_000), NakCode.BELOW_MIN_FLOW),
        (lambda: client.set_rate(1_000_000, 1_400_000), NakCode.STALE_DOSE),
        (lambda: client.set_rate(2_000_000, 1_100_000), NakCode.STEP_TOO_LARGE),
        (lambda: client.bolus(limits.bolus_max_ng + 1, 600), NakCode.BOLUS_TOO_LARGE),
        (lambda: client.refill(10_000, 20_001, 10 * MG), NakCode.OVERFILL),
        (lambda: client.refill(10_000, 20_000, 26 * MG), NakCode.CONCENTRATION_OUT_OF_RANGE),
        (
            lambda: client.refill(10_000, 20_000, 25 * MG, waive_bridge_bolus=True),
            NakCode.BELOW_MIN_FLOW,
        ),
        (
            lambda: client.refill(10_000, 20_000, 10 * MG, bridge_bolus_ng=100_000),
            NakCode.INVALID_ARGUMENT,
        ),
        (
            lambda: client.refill(10_000, 20_000, 6 * MG, bridge_bolus_ng=MG + 1),
            NakCode.BOLUS_TOO_LARGE,
        ),
        (
            lambda: client.refill(10_000, 20_000, 5 * MG, waive_bridge_bolus=True),
            NakCode.LARGE_CHANGE_UNCONFIRMED,
        ),
        (lambda: client.refill(8_000, 20_000, 10 * MG), NakCode.DISCREPANCY_UNACKNOWLEDGED),
        (lambda: client.refill(12_000, 20_000, 10 * MG), NakCode.DISCREPANCY_UNACKNOWLEDGED),
    ]
    for call, code in attempts:
        readable(refused(call, code).nak.detail)
    pump.sim.advance(DAY_MS)
    client.refill(7_000, 20_000, 6 * MG, bridge_bolus_ng=50_000, discrepancy_acknowledged=True)
    client.bolus(100_000, 600)
    client.stop()
    client.resume()
    logged = events(client)
    assert {EventCode.REFUSED, EventCode.REFILLED, EventCode.BOLUS_STARTED} <= {
        e.code for e in logged
    }
    for event in logged:
        readable(event.detail)
