"""The battery in the pump's NV state: a state saved before the battery drained loads as full
as its level said and drains on from there; a saved state loads back exactly."""

from __future__ import annotations

from fractions import Fraction

from firmware_sim.model.battery import CAPACITY_UAH
from firmware_sim.model.library import default_library
from firmware_sim.model.state import PumpState
from firmware_sim.simulator import InitialProgram, first_boot

DAY_MS = 86_400_000


def test_an_older_state_keeps_its_battery_level_and_drains_from_there() -> None:
    state, _ = first_boot(InitialProgram(frozen_clock=True), default_library())
    old = state.to_json()
    for key in ("battery_since_ms", "battery_moved_nl", "battery_fill_nl", "battery_extra_uah"):
        del old[key]
    old["battery_pct"] = 40
    old["anchor_ms"] += 30 * DAY_MS  # saved a month after implant
    loaded = PumpState.from_json(old)
    assert loaded.battery_used_uah == Fraction(CAPACITY_UAH * 60, 100)
    assert loaded.implant is None
    loaded.anchor_ms += DAY_MS  # a day later, nothing delivered: the time drain alone
    assert loaded.battery_used_uah == Fraction(CAPACITY_UAH * 60, 100) + 1000


def test_a_saved_state_loads_back_exactly() -> None:
    state, _ = first_boot(InitialProgram(frozen_clock=True), default_library())
    state.anchor_ms += 3 * DAY_MS
    state.reservoir_nl -= Fraction(168_000 * 7, 3)
    state.battery_extra_uah += 50
    state.implant = {"patient_id": "P-1", "written_ms": state.anchor_ms}
    loaded = PumpState.from_json(state.to_json())
    assert loaded == state
    assert loaded.battery_used_uah == state.battery_used_uah
    assert loaded.to_json()["battery_pct"] == 100
