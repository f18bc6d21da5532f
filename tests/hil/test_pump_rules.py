"""The pump's own rate rules, through the serial port: each limit refused with its rule, its
limit and a reason naming it; the same limit met exactly is accepted; decreases always go.

The plugin's pump is morphine 25 mg/mL at 1.4 mg/day in an IT-20 (limits: 20 mg/day, steps of
25 % and 1 mg/day, 24 h between increases, ×10 needs confirming, 48 µL/day minimum flow).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_sim.model.library import default_library
from pumpctl.protocol.messages import AlarmCode, EventCode, NakCode
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import DAY_MS, MG, SECOND_MS, START_S, alarm, events, refused

# --- maximum daily dose --------------------------------------------------------------------


def test_above_the_maximum_daily_dose_is_refused(pump: PumpUnderTest) -> None:
    """Runs on hardware too: it reads the pump's own limits and changes nothing."""
    limits = pump.client.read_limits()
    current = pump.client.status().dose_ng_per_day
    refusal = refused(
        lambda: pump.client.set_rate(limits.max_dose_ng_per_day + 1, current),
        NakCode.ABOVE_MAX_DOSE,
    )
    assert refusal.nak.limit == limits.max_dose_ng_per_day
    assert "maximum daily dose" in refusal.nak.detail
    assert pump.client.status().dose_ng_per_day == current
    logged = [e for e in events(pump.client, EventCode.REFUSED) if e.detail == refusal.nak.detail]
    assert [e.value_a for e in logged] == [NakCode.ABOVE_MAX_DOSE]


def test_the_maximum_daily_dose_exactly_is_accepted(make_pump: MakePump) -> None:
    pump = make_pump("--dose", "19.5")
    assert pump.client.set_rate(20 * MG, 19_500_000).dose_ng_per_day == 20 * MG
    refusal = refused(lambda: pump.client.set_rate(20 * MG + 1, 20 * MG), NakCode.ABOVE_MAX_DOSE)
    assert refusal.nak.limit == 20 * MG
    assert "20 mg/day" in refusal.nak.detail


# --- maximum step --------------------------------------------------------------------------


@pytest.mark.needs_simulator
def test_a_step_above_25_percent_is_refused_and_25_percent_exactly_accepted(
    pump: PumpUnderTest,
) -> None:
    refusal = refused(lambda: pump.client.set_rate(1_750_001, 1_400_000), NakCode.STEP_TOO_LARGE)
    assert refusal.nak.limit == 1_750_000  # percentage rule: the largest dose it allows
    assert "25% of 1.4 mg/day" in refusal.nak.detail
    assert pump.client.set_rate(1_750_000, 1_400_000).dose_ng_per_day == 1_750_000


def test_a_step_above_1_mg_per_day_is_refused_and_1_mg_exactly_accepted(
    make_pump: MakePump,
) -> None:
    pump = make_pump("--dose", "8")  # 25 % of 8 would allow 2 mg/day: the 1 mg rule binds
    refusal = refused(lambda: pump.client.set_rate(9 * MG + 1, 8 * MG), NakCode.STEP_TOO_LARGE)
    assert refusal.nak.limit == 1 * MG  # absolute rule: the largest step
    assert "maximum step of 1 mg/day" in refusal.nak.detail
    assert pump.client.set_rate(9 * MG, 8 * MG).dose_ng_per_day == 9 * MG


def test_where_both_step_rules_meet_exactly_the_step_is_accepted(make_pump: MakePump) -> None:
    pump = make_pump("--dose", "4")
    assert pump.client.set_rate(5 * MG, 4 * MG).dose_ng_per_day == 5 * MG  # +25 % = +1 mg


# --- interval between increases ------------------------------------------------------------


def test_an_increase_within_24_h_is_refused_and_at_24_h_exactly_accepted(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.set_rate(1_500_000, 1_400_000)
    simulator.advance(DAY_MS - SECOND_MS)
    refusal = refused(lambda: pump.client.set_rate(1_600_000, 1_500_000), NakCode.INCREASE_TOO_SOON)
    assert refusal.nak.limit == 86_400
    assert "24 h apart" in refusal.nak.detail
    assert "1 min to wait" in refusal.nak.detail
    simulator.advance(SECOND_MS)
    reply = pump.client.set_rate(1_600_000, 1_500_000)
    assert reply.applied_at_s == START_S + 86_400


def test_the_documented_case_schedule_is_accepted_by_the_pump(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    """1.4 → 1.6 → 1.8 → 2.0 mg/day over 8 days: the device was not what should have stopped
    that escalation (the pain scores were, and that is the guard's job)."""
    schedule = [(3, 1_600_000), (5, 1_800_000), (8, 2_000_000)]
    day, dose = 0, 1_400_000
    for on_day, new in schedule:
        simulator.advance((on_day - day) * DAY_MS)
        reply = pump.client.set_rate(new, dose)
        assert reply.applied_at_s == START_S + on_day * 86_400
        day, dose = on_day, new
    assert pump.client.status().dose_ng_per_day == 2_000_000
    changes = [(e.value_a, e.value_b) for e in events(pump.client, EventCode.RATE_CHANGED)]
    assert changes == [(1_400_000, 1_600_000), (1_600_000, 1_800_000), (1_800_000, 2_000_000)]
    assert not events(pump.client, EventCode.REFUSED)


# --- the ×10 (decimal point) rule ----------------------------------------------------------


@pytest.mark.needs_simulator
def test_a_tenfold_increase_names_the_confirmation_rule_first(pump: PumpUnderTest) -> None:
    refusal = refused(
        lambda: pump.client.set_rate(14 * MG, 1_400_000), NakCode.LARGE_CHANGE_UNCONFIRMED
    )
    assert refusal.nak.limit == 10
    assert "confirm" in refusal.nak.detail
    # Confirmed, the same change still meets the step rule: confirming lifts one rule only.
    refused(
        lambda: pump.client.set_rate(14 * MG, 1_400_000, confirm_large_change=True),
        NakCode.STEP_TOO_LARGE,
    )
    # Just under ×10 is an ordinary (too large) step, not a suspected decimal-point error.
    refused(lambda: pump.client.set_rate(13_999_999, 1_400_000), NakCode.STEP_TOO_LARGE)
    assert pump.client.status().dose_ng_per_day == 1_400_000


def test_a_tenfold_increase_goes_through_when_confirmed(
    make_pump: MakePump, tmp_path: Path
) -> None:
    """A drug library whose step limits allow ×10, so the confirmation rule alone decides."""
    library = default_library().to_json()
    library["drugs"]["trialdrug"] = {
        **library["drugs"]["morphine"],
        "max_step_pct": 1000,
        "max_step_ng_per_day": 20 * MG,
    }
    path = tmp_path / "library.json"
    path.write_text(json.dumps(library))
    pump = make_pump(
        "--library", str(path), "--drug", "trialdrug", "--concentration", "25", "--dose", "1.2"
    )
    refusal = refused(
        lambda: pump.client.set_rate(12 * MG, 1_200_000), NakCode.LARGE_CHANGE_UNCONFIRMED
    )
    assert refusal.nak.limit == 10
    reply = pump.client.set_rate(12 * MG, 1_200_000, confirm_large_change=True)
    assert reply.dose_ng_per_day == 12 * MG


# --- minimum flow --------------------------------------------------------------------------


@pytest.mark.needs_simulator
def test_the_minimum_flow_exactly_is_accepted_and_below_it_refused(pump: PumpUnderTest) -> None:
    # 48 000 nL/day at 25 mg/mL is 1.2 mg/day.
    refusal = refused(lambda: pump.client.set_rate(1_199_999, 1_400_000), NakCode.BELOW_MIN_FLOW)
    assert refusal.nak.limit == 48_000
    assert "minimum of 0.048 mL/day" in refusal.nak.detail
    assert "lower concentration" in refusal.nak.detail  # what to do instead ...
    assert "stop the pump" not in refusal.nak.detail  # ... never to stop the therapy
    reply = pump.client.set_rate(1_200_000, 1_400_000)
    assert reply.flow_nl_per_day == 48_000


# --- decreases -----------------------------------------------------------------------------


def test_decreases_are_accepted_right_after_an_increase_and_during_an_occlusion(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.set_rate(1_750_000, 1_400_000)
    assert pump.client.set_rate(1_500_000, 1_750_000).dose_ng_per_day == 1_500_000
    assert pump.client.set_rate(1_300_000, 1_500_000).dose_ng_per_day == 1_300_000

    simulator.fault("catheter", "occluded")
    assert alarm(pump.client.status(), AlarmCode.OCCLUSION) is not None
    refusal = refused(lambda: pump.client.set_rate(1_400_000, 1_300_000), NakCode.OCCLUSION_PRESENT)
    assert "occlusion" in refusal.nak.detail
    assert pump.client.set_rate(1_200_000, 1_300_000).dose_ng_per_day == 1_200_000

    changes = [(e.value_a, e.value_b) for e in events(pump.client, EventCode.RATE_CHANGED)]
    assert changes[-3:] == [
        (1_750_000, 1_500_000),
        (1_500_000, 1_300_000),
        (1_300_000, 1_200_000),
    ]


def test_a_decrease_does_not_restart_the_increase_interval(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    pump.client.set_rate(1_600_000, 1_400_000)
    simulator.advance(DAY_MS // 2)
    pump.client.set_rate(1_500_000, 1_600_000)
    simulator.advance(DAY_MS // 2)
    assert pump.client.set_rate(1_700_000, 1_500_000).dose_ng_per_day == 1_700_000


# --- daily maximum with boluses ------------------------------------------------------------


def test_an_increase_that_would_put_boluses_over_the_daily_maximum_is_refused(
    make_pump: MakePump,
) -> None:
    pump = make_pump("--dose", "19.2")
    pump.client.bolus(200_000, 600)
    # The coming 24 h hold the new dose and the 0.2 mg bolus: 19.8 + 0.2 = 20.0 exactly.
    refusal = refused(lambda: pump.client.set_rate(19_800_001, 19_200_000), NakCode.DAILY_LIMIT)
    assert refusal.nak.limit == 20 * MG
    assert "24 h window" in refusal.nak.detail
    assert pump.client.set_rate(19_800_000, 19_200_000).dose_ng_per_day == 19_800_000
