"""Flexible dosing in the pump model, in process: delivery does not depend on how time is cut
(whole days, step by step, around a bolus), matches a minute-by-minute integration to the
fraction of a nanolitre, and NV memory written before schedules existed still loads."""

from __future__ import annotations

import json
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.model.events import Event
from firmware_sim.model.library import default_library
from firmware_sim.model.pump import Pump
from firmware_sim.model.state import PumpState
from firmware_sim.simulator import InitialProgram, first_boot
from pumpctl.protocol.messages import (
    BolusRequest,
    BolusResponse,
    ScheduleStep,
    SetScheduleRequest,
    SetScheduleResponse,
)

MINUTE_MS = 60_000
DAY_MS = 86_400_000
CONCENTRATION = 25_000_000


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def append(self, event: Event) -> None:
        self.events.append(event)


def scheduled(program: list[tuple[int, int]]) -> Pump:
    state, library = first_boot(
        InitialProgram(frozen_clock=True, serial_number="T", volume_ul=20_000), default_library()
    )
    pump = Pump(state, library, Log())
    pump.reconcile()
    reply = pump.handle(
        SetScheduleRequest(
            request_id=1,
            steps=[ScheduleStep(start_min=s, dose_ng_per_day=d) for s, d in program],
            believed_steps=[ScheduleStep(start_min=0, dose_ng_per_day=1_400_000)],
        )
    )
    assert isinstance(reply, SetScheduleResponse), reply
    return pump


def by_the_minute(program: list[tuple[int, int]], start_ms: int, end_ms: int) -> Fraction:
    """nL the program delivers over [start_ms, end_ms), minute by minute (steps start on whole
    minutes)."""
    total = Fraction(0)
    t = start_ms
    while t < end_ms:
        minute = (t % DAY_MS) // MINUTE_MS
        dose = max(step for step in program if step[0] <= minute)[1]
        until = min(end_ms, t - t % MINUTE_MS + MINUTE_MS)
        total += Fraction(dose * (until - t) * 1_000_000, CONCENTRATION * DAY_MS)
        t = until
    return total


# Schedules the step rules accept from 1.4 mg/day (each step within 25 %, above the minimum
# flow of 1.2 mg/day at 25 mg/mL), with starts on the 15 min grid.
@st.composite
def schedules(draw: st.DrawFn) -> list[tuple[int, int]]:
    starts = draw(st.lists(st.integers(1, 95), min_size=1, max_size=5, unique=True))
    program = [(0, 1_400_000)]
    for quarter in sorted(starts):
        dose = draw(st.integers(1_200_000, 1_749_999))
        dose += dose >= program[-1][1]  # never the previous step's dose
        program.append((quarter * 15, dose))
    return program


@settings(max_examples=25, deadline=None)
@given(
    program=schedules(),
    cuts=st.lists(st.integers(1, 3 * DAY_MS), min_size=1, max_size=8),
)
def test_delivery_matches_the_minute_by_minute_integral_however_time_is_cut(
    program: list[tuple[int, int]], cuts: list[int]
) -> None:
    whole, cut = scheduled(program), scheduled(program)
    start = whole.state.anchor_ms
    end = start + sum(cuts)
    whole.advance(end - start)
    for step in cuts:
        cut.advance(step)
    expected = 20_000_000 - by_the_minute(program, start, end)
    assert whole.state.reservoir_nl == expected
    assert cut.state.reservoir_nl == expected


def test_a_bolus_on_a_schedule_adds_exactly_its_dose() -> None:
    program = [(0, 1_400_000), (600, 1_600_000), (1080, 1_300_000)]
    pump = scheduled(program)
    start = pump.state.anchor_ms
    pump.advance(9 * 60 * MINUTE_MS + 50 * MINUTE_MS)  # 09:50: the bolus crosses 10:00
    reply = pump.handle(BolusRequest(request_id=2, dose_ng=100_000, duration_s=1800))
    assert isinstance(reply, BolusResponse), reply
    pump.advance(2 * DAY_MS)
    end = pump.state.anchor_ms
    bolus_nl = Fraction(100_000 * 1_000_000, CONCENTRATION)
    assert pump.state.reservoir_nl == 20_000_000 - by_the_minute(program, start, end) - bolus_nl


def test_nv_memory_from_before_schedules_loads_as_a_simple_rate() -> None:
    state, _ = first_boot(InitialProgram(frozen_clock=True, serial_number="T"), default_library())
    saved = json.loads(json.dumps(state.to_json()))
    del saved["schedule"]
    loaded = PumpState.from_json(saved)
    assert loaded.schedule is None
    assert loaded == state


def test_a_schedule_survives_its_nv_form() -> None:
    pump = scheduled([(0, 1_400_000), (480, 1_700_000)])
    saved = json.loads(json.dumps(pump.state.to_json()))
    assert PumpState.from_json(saved) == pump.state
    assert saved["schedule"] == [[0, 1_400_000], [480, 1_700_000]]
