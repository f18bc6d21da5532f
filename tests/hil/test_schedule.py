"""Flexible dosing through the serial port: a schedule of timed steps repeating daily, judged
by the pump as a whole (daily maximum over the worst real 24 h window) and step by step (the
minimum flow, the step limits against the program in force, the interval between increases),
delivered exactly (a year of a 6-step schedule ends on the microlitre the arithmetic
predicts) and logged.

The plugin's pump is morphine 25 mg/mL at 1.4 mg/day in an IT-20, frozen clock from
2026-01-01 00:00 UTC (steps are times of day on that clock).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.protocol.messages import (
    EventCode,
    NakCode,
    ScheduleStep,
    SetRateRequest,
    SetScheduleRequest,
    SetScheduleResponse,
)
from pumpctl.protocol.session import Role
from pumpctl.schedule import projected_low_reservoir_s
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import DAY_MS, HOUR_MS, MG, events, refused

MORPHINE = 25 * MG  # ng/mL
MIN_PER_DAY = 1440
_request_ids = iter(range(0x5C4E_D000, 0x5C4E_FFFF))

Program = list[tuple[int, int]]  # (start_min, dose_ng_per_day)


def steps(program: Program) -> list[ScheduleStep]:
    return [ScheduleStep(start_min=s, dose_ng_per_day=d) for s, d in program]


def in_force(client: SyncPumpClient) -> Program:
    return [(s.start_min, s.dose_ng_per_day) for s in client.read_schedule().steps]


def set_schedule(client: SyncPumpClient, program: Program) -> SetScheduleResponse:
    request = SetScheduleRequest(
        request_id=next(_request_ids), steps=steps(program), believed_steps=steps(in_force(client))
    )
    reply = client.send_once(request)
    assert isinstance(reply, SetScheduleResponse)
    return reply


def ng_delivered(program: Program, start_ms: int, end_ms: int) -> Fraction:
    """Drug the program delivers over [start_ms, end_ms), exactly, independent of the pump's
    arithmetic: whole days at the sum over the day's minutes, the rest minute by minute (each
    step starts on a whole minute)."""
    minute_ms = 60_000

    def dose_at(t: int) -> int:
        minute = (t % DAY_MS) // minute_ms
        return max(step for step in program if step[0] <= minute)[1]

    days, rest_ms = divmod(end_ms - start_ms, DAY_MS)
    total = days * Fraction(sum(dose_at(m * minute_ms) for m in range(MIN_PER_DAY)), MIN_PER_DAY)
    t, end = start_ms, start_ms + rest_ms
    while t < end:
        until = min(end, t - t % minute_ms + minute_ms)
        total += Fraction(dose_at(t) * (until - t), DAY_MS)
        t = until
    return total


def ul(ng: Fraction) -> Fraction:
    return ng * 1000 / MORPHINE


# --- the program in force and its read-back ------------------------------------------------


def test_a_schedule_is_read_back_step_by_step_with_its_daily_dose(pump: PumpUnderTest) -> None:
    client = pump.client
    simple = client.read_schedule()
    assert not simple.active
    assert in_force(client) == [(0, 1_400_000)]
    program = [(0, 1_400_000), (480, 1_700_000), (1200, 1_400_000)]
    reply = set_schedule(client, program)
    daily = (1_400_000 * 12 + 1_700_000 * 12) // 24  # 8 h + 4 h at 1.4, 12 h at 1.7
    assert (reply.dose_ng_per_day, reply.previous_dose_ng_per_day) == (daily, 1_400_000)
    read = client.read_schedule()
    assert read.active
    assert in_force(client) == program
    assert read.current_step == 0  # 00:00 on the pump's clock
    assert client.status().dose_ng_per_day == daily
    (logged,) = events(client, EventCode.SCHEDULE_SET)
    assert (logged.value_a, logged.value_b) == (1_400_000, daily)
    assert "08:00 1.7" in logged.detail


def test_a_stale_program_and_a_malformed_schedule_are_refused(pump: PumpUnderTest) -> None:
    client = pump.client
    stale = SetScheduleRequest(
        request_id=next(_request_ids),
        steps=steps([(0, 1_400_000), (480, 1_500_000)]),
        believed_steps=steps([(0, 1_300_000)]),
    )
    refusal = refused(lambda: client.send_once(stale), NakCode.STALE_DOSE)
    assert refusal.nak.limit == 1_400_000
    for program, why in [
        ([(0, 1_400_000)], "2 to 24 steps"),
        ([(60, 1_400_000), (480, 1_500_000)], "first step starts at 00:00"),
        ([(0, 1_400_000), (490, 1_500_000)], "15 min boundary"),
        ([(0, 1_400_000), (480, 1_400_000)], "same dose"),
        ([(0, 1_400_000), (480, 1_500_000), (480, 1_450_000)], "does not start after"),
    ]:
        bad = SetScheduleRequest(
            request_id=next(_request_ids),
            steps=steps(program),
            believed_steps=steps([(0, 1_400_000)]),
        )
        refusal = refused(partial(client.send_once, bad), NakCode.INVALID_ARGUMENT)
        assert why in refusal.nak.detail
    assert in_force(client) == [(0, 1_400_000)]


# --- per step: the minimum flow and the step limits ---------------------------------------


def test_a_step_below_the_minimum_flow_is_refused_and_the_minimum_accepted(
    pump: PumpUnderTest,
) -> None:
    client = pump.client
    # 1.19 mg/day at 25 mg/mL needs 47.6 µL/day, below the IT-20's 48.
    refusal = refused(
        lambda: set_schedule(client, [(0, 1_400_000), (480, 1_190_000)]), NakCode.BELOW_MIN_FLOW
    )
    assert refusal.nak.limit == 48_000
    assert refusal.nak.detail.startswith("the 08:00 step's 1.19 mg/day needs a flow below")
    assert in_force(client) == [(0, 1_400_000)]
    set_schedule(client, [(0, 1_400_000), (480, 1_200_000)])  # 48 µL/day exactly
    assert in_force(client) == [(0, 1_400_000), (480, 1_200_000)]


def test_step_limits_hold_against_the_program_in_force_time_of_day_by_time_of_day(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    client = pump.client
    # +25 % of 1.4 mg/day is 1.75: one ng more is refused, naming the step and the bound.
    refusal = refused(
        lambda: set_schedule(client, [(0, 1_400_000), (480, 1_750_001)]), NakCode.STEP_TOO_LARGE
    )
    assert refusal.nak.limit == 1_750_000
    assert refusal.nak.detail.startswith("at 08:00: increase of")
    set_schedule(client, [(0, 1_400_000), (480, 1_750_000)])
    # The next increase is judged against the schedule: +25 % at 08:00 is of 1.75, and it
    # waits for the interval between increases; a decrease does not.
    simulator.advance(12 * HOUR_MS)
    refused(
        lambda: set_schedule(client, [(0, 1_500_000), (480, 1_750_000)]),
        NakCode.INCREASE_TOO_SOON,
    )
    set_schedule(client, [(0, 1_300_000), (480, 1_750_000)])
    simulator.advance(12 * HOUR_MS)
    refused(
        lambda: set_schedule(client, [(0, 1_300_000), (480, 2_187_501)]), NakCode.STEP_TOO_LARGE
    )
    set_schedule(client, [(0, 1_300_000), (480, 2_187_500)])
    assert in_force(client) == [(0, 1_300_000), (480, 2_187_500)]


def test_a_large_change_at_any_time_of_day_needs_confirming(pump: PumpUnderTest) -> None:
    client = pump.client
    set_schedule(client, [(0, 1_400_000), (480, 1_300_000)])
    # 1.4 -> 0.14 at 00:00 (a tenth) without confirmation: refused; SET_RATE over the
    # schedule is judged the same way (to 0.13, a tenth of 1.3 at 08:00).
    cut = SetScheduleRequest(
        request_id=next(_request_ids),
        steps=steps([(0, 140_000), (480, 1_300_000)]),
        believed_steps=steps(in_force(client)),
    )
    # 0.14 mg/day is below the minimum flow at 25 mg/mL: that rule comes first.
    refused(lambda: client.send_once(cut), NakCode.BELOW_MIN_FLOW)
    flat = SetRateRequest(
        request_id=next(_request_ids),
        dose_ng_per_day=1_300_000,
        believed_dose_ng_per_day=client.status().dose_ng_per_day,
    )
    client.send_once(flat)
    assert not client.read_schedule().active
    assert [e.code for e in events(client)[-2:]] == [
        EventCode.SCHEDULE_CLEARED,
        EventCode.RATE_CHANGED,
    ]


# --- the whole: the worst real 24 h window --------------------------------------------------


def test_a_schedule_whose_worst_24h_window_exceeds_the_maximum_is_refused(
    make_pump: MakePump,
) -> None:
    """Each program's daily dose is 20 mg, the maximum; moving the high half of the day from
    evening to morning would put 20.5 mg in the 24 h from yesterday noon. Twelve hours later
    the same schedule is accepted: no real window holds more than 20 mg."""
    pump = make_pump("--dose", "19.5")
    assert pump.sim is not None
    client = pump.client
    set_schedule(client, [(0, 18_500_000), (720, 20_500_000)])  # 19.5 mg a day
    pump.sim.advance(DAY_MS)
    set_schedule(client, [(0, 19_500_000), (720, 20_500_000)])  # 20 mg; window exactly 20
    pump.sim.advance(DAY_MS)
    swapped = [(0, 20_500_000), (720, 19_500_000)]  # 20 mg a day
    refusal = refused(lambda: set_schedule(client, swapped), NakCode.DAILY_LIMIT)
    assert refusal.nak.limit == 20_000_000
    assert "would put 20.5 mg in one 24 h window" in refusal.nak.detail
    assert in_force(client) == [(0, 19_500_000), (720, 20_500_000)]
    pump.sim.advance(12 * HOUR_MS)
    set_schedule(client, swapped)
    assert in_force(client) == swapped


def test_a_daily_dose_above_the_maximum_is_refused(make_pump: MakePump) -> None:
    pump = make_pump("--dose", "19.5")
    client = pump.client
    refusal = refused(
        lambda: set_schedule(client, [(0, 19_500_000), (720, 20_500_001)]), NakCode.ABOVE_MAX_DOSE
    )
    assert refusal.nak.limit == 20_000_000


# --- a year, exactly -----------------------------------------------------------------------


SIX_STEPS: Program = [
    (0, 1_234_567),
    (225, 1_345_678),  # 03:45
    (480, 1_456_789),
    (735, 1_398_765),  # 12:15
    (1005, 1_287_654),  # 16:45
    (1275, 1_212_121),  # 21:15
]


def test_a_year_of_a_six_step_schedule_ends_on_the_microlitre(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    """Set at 05:00, refilled every 60 days (at 05:00) with the residual the step-by-step
    arithmetic predicts, read at an odd hour in between, for a year."""
    client = pump.client
    simulator.advance(5 * HOUR_MS)
    now = 5 * HOUR_MS  # since the pump's 2026-01-01 00:00
    set_schedule(client, SIX_STEPS)
    reservoir = 20_000 - ul(ng_delivered([(0, 1_400_000)], 0, now))  # µL, exact
    for refill_day in (60, 120, 180, 240, 300, 360):
        odd = now + 17 * DAY_MS + 7 * HOUR_MS + 31 * 60_000
        simulator.advance(odd - now)
        in_between = reservoir - ul(ng_delivered(SIX_STEPS, now, odd))
        assert client.status().reservoir_ul == math.floor(in_between)
        end = refill_day * DAY_MS + 5 * HOUR_MS
        simulator.advance(end - odd)
        reservoir -= ul(ng_delivered(SIX_STEPS, now, end))
        refill = client.refill(math.floor(reservoir), 20_000, MORPHINE)
        assert refill.expected_residual_ul == math.floor(reservoir)
        reservoir, now = Fraction(20_000), end
    simulator.advance(5 * DAY_MS)
    reservoir -= ul(ng_delivered(SIX_STEPS, now, now + 5 * DAY_MS))
    assert client.status().reservoir_ul == math.floor(reservoir)


def test_the_low_reservoir_date_follows_the_schedule(make_pump: MakePump) -> None:
    """Projected from the steps, not from the daily dose: the day it is reached, the
    reservoir crosses the threshold in the step the arithmetic says."""
    pump = make_pump("--volume", "4")
    assert pump.sim is not None
    client = pump.client
    program = [(0, 1_400_000), (480, 1_750_000), (1200, 1_200_000)]
    set_schedule(client, program)
    status = client.status()
    projected_ms = status.low_reservoir_projected_s * 1000 - status.pump_time_s * 1000
    # Every allowed bolus counts (4 × 0.2 mg a day, within the maximum): as a flat addition.
    with_boluses = [(s, d + 800_000) for s, d in program]
    need = Fraction(1000 * MORPHINE, 1000)  # 1 mL (4 mL down to the 3 mL threshold), in ng
    assert ng_delivered(with_boluses, 0, projected_ms - 1000) < need
    assert ng_delivered(with_boluses, 0, projected_ms) >= need
    # The programmer's review projects it with the pump's own formula, to the second.
    preview = projected_low_reservoir_s(
        status.pump_time_s, status.reservoir_ul, client.read_limits(), MORPHINE, tuple(program)
    )
    assert preview == status.low_reservoir_projected_s


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.needs_simulator
@pytest.mark.parametrize("role", [Role.PATIENT, Role.SERVICE], ids=["patient", "service"])
def test_only_the_clinician_programs_a_schedule(pump: PumpUnderTest, role: Role) -> None:
    assert pump.sim is not None
    path = pump.sim.workdir / f"{role.name.lower()}-keys.json"
    pump.sim.control.pair(str(path), role.name.lower())
    other = SyncPumpClient(pump.port, keys=Keystore(path), role=role)
    try:
        request = SetScheduleRequest(
            request_id=next(_request_ids),
            steps=steps([(0, 1_400_000), (480, 1_500_000)]),
            believed_steps=steps([(0, 1_400_000)]),
        )
        refused(partial(other.send_once, request), NakCode.ROLE_FORBIDDEN)
        if role == Role.PATIENT:
            refused(other.read_schedule, NakCode.ROLE_FORBIDDEN)
        else:
            assert not other.read_schedule().active  # the service role may read it
    finally:
        other.close()
    assert in_force(pump.client) == [(0, 1_400_000)]
