"""Range checks on the pump's state as loaded from NV memory: every field against the drug
library it holds and the hard limits built into the firmware (docs/simulator.md §3.10.1).

A MAC says the memory holds what the firmware wrote; these say that what it wrote is a
program the firmware would have accepted. Either failing puts the pump in its safe state.
"""

from __future__ import annotations

from firmware_sim.model import demand
from firmware_sim.model.battery import CAPACITY_UAH
from firmware_sim.model.hard_limits import BOUNDS, hard_limits_for
from firmware_sim.model.implant import state_problems as implant_problems
from firmware_sim.model.library import DrugLibrary, DrugLimits
from firmware_sim.model.periodic import shape_error as periodic_shape_error
from firmware_sim.model.schedule import daily_dose_ng, shape_error
from firmware_sim.model.state import PumpState
from pumpctl.protocol.messages import AlarmCode, CatheterVerdict, Severity, StopReason

CATHETER_STATES = ("patent", "partial", "occluded", "leak")
SERIAL_MAX_BYTES = 32  # design default — verify against the pump's label format
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1


def library_problems(library: DrugLibrary) -> list[str]:
    """What in the drug library is inconsistent or beyond the firmware's hard limits."""
    found: list[str] = []
    for limits in library.drugs.values():
        found += _drug_problems(limits)
    for model in library.pump_models.values():
        if not (
            0 < model.low_reservoir_ul < model.reservoir_capacity_ul
            and 0 <= model.refill_tolerance_ul <= model.reservoir_capacity_ul
            and model.min_flow_nl_per_day > 0
        ):
            found.append(f"pump model {model.name}: inconsistent volumes or flow")
    return found


def _drug_problems(limits: DrugLimits) -> list[str]:
    name = limits.drug
    found: list[str] = []
    if not (
        0 < limits.min_concentration_ng_per_ml <= limits.max_concentration_ng_per_ml <= U32_MAX
        and 0 < limits.max_dose_ng_per_day <= U32_MAX
        and 0 <= limits.bolus_max_ng <= limits.max_dose_ng_per_day
        and 0 <= limits.bridge_bolus_max_ng <= limits.max_dose_ng_per_day
        and limits.large_change_factor >= 2
        and limits.max_step_pct >= 0
        and limits.max_step_ng_per_day >= 0
        and limits.min_increase_interval_s >= 0
        and limits.bolus_lockout_s >= 0
        and limits.max_boluses_per_day >= 0
        and limits.retitration_interval_s >= 0
        and limits.max_refill_interval_s > 0
    ):
        found.append(f"{name}: inconsistent limits in the drug library")
    bounds = hard_limits_for(name)
    if bounds is None:
        return found
    for field, (kind, _) in BOUNDS.items():
        value, bound = int(getattr(limits, field)), bounds[field]
        if (kind == "ceiling" and value > bound) or (kind == "floor" and value < bound):
            word = "above" if kind == "ceiling" else "below"
            found.append(f"{name}: {field} {value} is {word} the hard limit {bound}")
    return found


def state_problems(state: PumpState, library: DrugLibrary) -> list[str]:
    """What in the state no command the firmware accepts could have left there."""
    found: list[str] = []
    if not 0 < len(state.serial_number.encode()) <= SERIAL_MAX_BYTES:
        found.append("serial number: empty or too long")
    limits = library.drugs.get(state.drug)
    model = library.pump_models.get(state.model_name)
    if limits is None:
        return [*found, f"drug {state.drug!r} is not in the drug library"]
    if model is None:
        return [*found, f"pump model {state.model_name!r} is not in the drug library"]
    unit = limits.display_unit
    low, high = limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml
    if not low <= state.concentration_ng_per_ml <= high:
        found.append(
            f"concentration {state.concentration_ng_per_ml} ng/mL is outside {state.drug}'s "
            f"range {low}-{high} ng/mL ({unit}/mL x 10^6)"
        )
    if not 0 <= state.dose_ng_per_day <= limits.max_dose_ng_per_day:
        found.append(
            f"dose {state.dose_ng_per_day} ng/day is outside 0-{limits.max_dose_ng_per_day} ng/day"
        )
    if not 0 <= state.reservoir_nl <= model.reservoir_capacity_ul * 1000:
        found.append(f"reservoir {state.reservoir_nl} nL is outside the {model.name}'s capacity")
    found += _program_problems(state, limits)
    found += demand.problems(state, limits)
    found += _timing_problems(state)
    if state.running != (state.stop_reason == StopReason.NONE) or state.stop_reason not in set(
        StopReason
    ):
        found.append(f"running {state.running} with stop reason {state.stop_reason}")
    for code, alarm in state.alarms.items():
        if code not in set(AlarmCode) or alarm.severity not in set(Severity):
            found.append(f"alarm {code} (severity {alarm.severity}) is unknown")
    if state.catheter not in CATHETER_STATES:
        found.append(f"catheter state {state.catheter!r} is unknown")
    if not 0 <= state.battery_pct <= 100:
        found.append(f"battery {state.battery_pct}% is outside 0-100%")
    if not 0 <= state.battery_used_uah <= CAPACITY_UAH:
        found.append(f"battery charge used {state.battery_used_uah} µAh is outside its capacity")
    if not (
        0 <= state.battery_since_ms <= state.anchor_ms
        and state.battery_moved_nl >= 0
        and state.battery_fill_nl >= state.reservoir_nl
    ):
        found.append("battery: its time or volumes are inconsistent")
    found += implant_problems(state.implant)
    if state.last_check_verdict is not None and state.last_check_verdict not in set(
        CatheterVerdict
    ):
        found.append(f"catheter verdict {state.last_check_verdict} is unknown")
    for bolus in state.boluses:
        most = limits.bridge_bolus_max_ng if bolus.bridge else limits.bolus_max_ng
        if not (0 < bolus.dose_ng <= most and bolus.duration_ms > 0):
            found.append(f"a bolus of {bolus.dose_ng} ng is outside the drug library's limits")
        if not 0 <= bolus.request_id <= U64_MAX:
            found.append("a bolus's request id is not a u64")
    return found


def _program_problems(state: PumpState, limits: DrugLimits) -> list[str]:
    found: list[str] = []
    if state.schedule is not None:
        steps = [(int(s), int(d)) for s, d in state.schedule]
        problem = shape_error(steps)
        if problem is not None:
            found.append(f"schedule: {problem}")
        elif daily_dose_ng(steps) != state.dose_ng_per_day:
            found.append("schedule: its daily dose is not the dose programmed")
        if any(dose > limits.max_dose_ng_per_day * 24 for _, dose in steps):
            found.append("schedule: a step beyond any daily maximum")
    if state.periodic is not None:
        if len(state.periodic) != 4:
            found.append("periodic boluses: not four numbers")
        else:
            dose, duration, interval, first = state.periodic
            problem = periodic_shape_error(dose, duration, interval, first)
            if problem is not None:
                found.append(f"periodic boluses: {problem}")
            if not 0 < dose <= limits.bolus_max_ng:
                found.append("periodic boluses: dose outside the bolus maximum")
    for entry in state.dose_history:
        if len(entry) < 2 or not 0 <= entry[1] <= limits.max_dose_ng_per_day:
            found.append("dose history: a dose outside the drug library's maximum")
            break
    return found


def _timing_problems(state: PumpState) -> list[str]:
    now = state.anchor_ms
    found: list[str] = []
    if now < 0:
        found.append("pump time is negative")
    if not 0 <= state.last_rate_change_ms <= now:
        found.append("last rate change is after the pump's time")
    if state.last_increase_ms is not None and not 0 <= state.last_increase_ms <= now:
        found.append("last increase is after the pump's time")
    if any(entry and entry[0] > now for entry in state.dose_history):
        found.append("dose history: an entry after the pump's time")
    if any(bolus.start_ms > now for bolus in state.boluses):
        found.append("a bolus starts after the pump's time")
    return found
