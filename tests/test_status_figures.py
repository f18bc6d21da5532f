"""STATUS's battery, reservoir and projection figures, computed in whole numbers, are the
figures the pump's exact (fraction) arithmetic gives, whatever the state."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from firmware_sim.model import battery
from firmware_sim.model.library import default_library
from firmware_sim.model.pump import Pump
from firmware_sim.model.state import AlarmState
from firmware_sim.model.status_figures import status_figures
from firmware_sim.simulator import InitialProgram, first_boot
from pumpctl.protocol.messages import AlarmCode

DAY_MS = 86_400_000


def _pump() -> Pump:
    state, library = first_boot(InitialProgram(frozen_clock=True), default_library())
    return Pump(state, library, [])


@settings(max_examples=300, deadline=None)
@given(
    reservoir_nl=st.fractions(min_value=0, max_value=40_000_000, max_denominator=10**9),
    elapsed_ms=st.integers(0, 8 * 365 * DAY_MS),
    moved_nl=st.integers(0, 10**10),
    extra_uah=st.fractions(min_value=-(10**6), max_value=3 * 10**6, max_denominator=10**6),
    dose_ng_per_day=st.integers(0, 50_000_000),
    concentration_ng_per_ml=st.integers(1, 50_000_000),
    running=st.booleans(),
    occluded=st.booleans(),
    eri_raised_ms=st.none() | st.integers(0, 10**12),
    schedule=st.none()
    | st.lists(st.integers(0, 20_000_000), min_size=2, max_size=6).map(
        lambda doses: [[i * 60, dose] for i, dose in enumerate(doses)]
    ),
    periodic=st.none() | st.just([100_000, 30, 360, 60]),
)
@example(  # running on a simple rate, nothing dividing evenly: every rounding shows
    reservoir_nl=Fraction(12_345_678_901, 7),
    elapsed_ms=123_456_789,
    moved_nl=7_654_321,
    extra_uah=Fraction(50, 3),
    dose_ng_per_day=1_400_000,
    concentration_ng_per_ml=25_000_000,
    running=True,
    occluded=False,
    eri_raised_ms=None,
    schedule=None,
    periodic=None,
)
def test_status_figures_are_the_exact_arithmetics_figures(
    reservoir_nl: Fraction,
    elapsed_ms: int,
    moved_nl: int,
    extra_uah: Fraction,
    dose_ng_per_day: int,
    concentration_ng_per_ml: int,
    running: bool,
    occluded: bool,
    eri_raised_ms: int | None,
    schedule: list[list[int]] | None,
    periodic: list[int] | None,
) -> None:
    pump = _pump()
    state = pump.state
    state.battery_since_ms = state.anchor_ms
    state.anchor_ms += elapsed_ms
    state.reservoir_nl = reservoir_nl
    state.battery_moved_nl = moved_nl
    state.battery_fill_nl = 20_000_000
    state.battery_extra_uah = extra_uah
    state.dose_ng_per_day = dose_ng_per_day
    state.concentration_ng_per_ml = concentration_ng_per_ml
    state.running = running
    state.catheter = "occluded" if occluded else "patent"
    state.schedule = schedule
    state.periodic = periodic
    if eri_raised_ms is not None:
        state.alarms[int(AlarmCode.ELECTIVE_REPLACEMENT)] = AlarmState(2, eri_raised_ms)

    figures = status_figures(pump)

    used = state.battery_used_uah
    assert figures.battery_pct == battery.percent(used)
    assert (figures.eri_ms, figures.eos_ms) == pump.battery_projection_ms(used)
    assert figures.reservoir_ul == pump.reservoir_ul
    assert figures.low_reservoir_ms == pump.projected_low_reservoir_ms()
