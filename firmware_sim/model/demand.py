"""Patient demand boluses and their activation log.

The clinician sets the dose, its duration, the lockout between boluses and the count per 24 h
(SET_DEMAND_BOLUS); the patient's activation (DEMAND_BOLUS) carries no dose, so the patient
chooses only when. Each activation is logged, given or refused, in a bounded log kept in the
pump's sealed state (docs/simulator.md §3.13). A given demand bolus is a bolus like any other:
delivered over its duration, in the event log, counted by every 24 h maximum.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from firmware_sim.model.hard_limits import hard_limits_for, patient_bolus_min_duration_s
from firmware_sim.model.periodic import per_day as periodic_per_day
from firmware_sim.model.program import periodic_of, program
from firmware_sim.model.schedule import daily_dose
from firmware_sim.model.state import Bolus, PumpState
from firmware_sim.model.units import MS_PER_DAY
from pumpctl.protocol.messages import (
    AlarmCode,
    DemandBolusRequest,
    DemandBolusResponse,
    DemandLogEntry,
    DemandOutcome,
    DemandSettingsResponse,
    EventCode,
    Message,
    Nak,
    NakCode,
    ReadDemandBolusRequest,
    ReadDemandLogRequest,
    ReadDemandLogResponse,
    SetDemandBolusRequest,
    SetDemandBolusResponse,
    StopReason,
)

if TYPE_CHECKING:
    from firmware_sim.model.library import DrugLimits
    from firmware_sim.model.pump import Pump

# The activation log keeps this many entries, the oldest dropped first; consecutive refusals
# of one kind within a day share one entry with their count, so a patient pressing in a
# lockout cannot push the given boluses out of it. Design default — verify (no public
# Prometra labelling of its log's capacity was found).
LOG_CAPACITY = 256
COALESCE_MS = MS_PER_DAY
COUNT_MAX = 0xFFFF
# The longest lockout the settings take: a day, the window the count per day is judged over.
# Design default — verify.
LOCKOUT_MAX_S = 86_400
WINDOW_MS = MS_PER_DAY

Settings = tuple[int, int, int, int]  # (dose_ng, duration_s, lockout_s, per_day)

_NAK = {
    DemandOutcome.REFUSED_LOCKOUT: NakCode.BOLUS_LOCKOUT,
    DemandOutcome.REFUSED_DAILY_COUNT: NakCode.BOLUS_COUNT_LIMIT,
    DemandOutcome.REFUSED_NOT_PROGRAMMED: NakCode.DEMAND_NOT_PROGRAMMED,
    DemandOutcome.REFUSED_STOPPED: NakCode.PUMP_STOPPED,
    DemandOutcome.REFUSED_EMPTY: NakCode.RESERVOIR_EMPTY,
    DemandOutcome.REFUSED_OCCLUSION: NakCode.OCCLUSION_PRESENT,
    DemandOutcome.REFUSED_DAILY_LIMIT: NakCode.DAILY_LIMIT,
}


def settings_of(state: PumpState) -> Settings | None:
    if state.demand is None:
        return None
    dose, duration, lockout, count = state.demand
    return dose, duration, lockout, count


def allowance_ng(state: PumpState) -> int:
    """The most the demand boluses can give in a day: every allowed one taken."""
    settings = settings_of(state)
    return 0 if settings is None else settings[0] * settings[3]


def given_in_window(state: PumpState, now_ms: int) -> list[Bolus]:
    """The demand boluses started in the 24 h up to ``now_ms``."""
    return [b for b in state.boluses if b.demand and now_ms - b.start_ms < WINDOW_MS]


def next_allowed_ms(state: PumpState, now_ms: int) -> int:
    """When the lockout after the last demand bolus ends; 0 if it has."""
    settings = settings_of(state)
    given = given_in_window(state, now_ms)
    if settings is None or not given:
        return 0
    end = max(b.start_ms for b in given) + settings[2] * 1000
    return end if end > now_ms else 0


def describe(pump: Pump, settings: Settings | None) -> str:
    if settings is None:
        return "off"
    dose, duration, lockout, count = settings
    return (
        f"{pump._dose(dose, False)} over {_minutes(duration)}, lockout {_minutes(lockout)}, "
        f"{count} a day"
    )


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


# --- the clinician's settings ----------------------------------------------------------


def set_demand(pump: Pump, request: SetDemandBolusRequest) -> SetDemandBolusResponse:
    """SET_DEMAND_BOLUS: within the bolus limits of the drug library and the firmware's hard
    limits, no faster than the drug's patient-bolus minimum, and with the program's daily
    dose within the daily maximum when every allowed demand bolus is taken. A dose of 0
    switches them off: always allowed."""
    from firmware_sim.model.pump import RuleRefusal

    state = pump.state
    old = settings_of(state)
    believed = (request.believed_dose_ng, request.believed_per_day)
    if believed != ((old[0], old[3]) if old is not None else (0, 0)):
        raise RuleRefusal(
            NakCode.STALE_DOSE,
            "programmer believes other demand-bolus settings than the pump's: interrogate again",
            old[0] if old is not None else 0,
        )
    new: Settings | None = None
    if request.dose_ng:
        new = (request.dose_ng, request.duration_s, request.lockout_s, request.per_day)
        check(pump, new)
    now = state.anchor_ms
    state.demand = list(new) if new is not None else None
    pump._log(
        EventCode.DEMAND_BOLUS_SET,
        request.request_id,
        new[0] if new is not None else 0,
        new[3] if new is not None else 0,
        f"demand bolus: {describe(pump, old)} -> {describe(pump, new)}",
    )
    return SetDemandBolusResponse(
        request_id=request.request_id,
        dose_ng=new[0] if new is not None else 0,
        per_day=new[3] if new is not None else 0,
        previous_dose_ng=old[0] if old is not None else 0,
        previous_per_day=old[3] if old is not None else 0,
        applied_at_s=now // 1000,
    )


def check(pump: Pump, settings: Settings) -> None:
    """Refuse settings a rule forbids, naming it (docs/simulator.md §3.13)."""
    from firmware_sim.model.pump import RuleRefusal

    state, limits = pump.state, pump.limits
    dose, duration, lockout, count = settings
    hard = hard_limits_for(state.drug) or {}
    if count < 1:
        raise RuleRefusal(
            NakCode.INVALID_ARGUMENT, "a demand bolus needs a count per day of 1 or more"
        )
    if not 0 < lockout <= LOCKOUT_MAX_S:
        raise RuleRefusal(
            NakCode.INVALID_ARGUMENT,
            f"a demand bolus's lockout is up to {LOCKOUT_MAX_S // 3600} h, not {_minutes(lockout)}",
        )
    if not 0 < duration <= lockout:
        raise RuleRefusal(
            NakCode.INVALID_ARGUMENT,
            f"a demand bolus lasts up to its lockout ({_minutes(lockout)}), not "
            f"{_minutes(duration)}: one ends before the next may start",
        )
    min_duration = patient_bolus_min_duration_s(state.drug)
    if duration < min_duration:
        raise RuleRefusal(
            NakCode.BOLUS_TOO_SHORT,
            f"a patient's bolus lasts at least {min_duration // 60} min for {state.drug}, not "
            f"{_minutes(duration)}",
            min_duration,
        )
    most = min(limits.bolus_max_ng, hard.get("bolus_max_ng", limits.bolus_max_ng))
    if dose > most:
        raise RuleRefusal(
            NakCode.BOLUS_TOO_LARGE,
            f"a demand bolus of {pump._dose(dose, False)} exceeds the maximum bolus of "
            f"{pump._dose(most, False)}",
            most,
        )
    floor = max(limits.bolus_lockout_s, hard.get("bolus_lockout_s", limits.bolus_lockout_s))
    if lockout < floor:
        raise RuleRefusal(
            NakCode.BOLUS_LOCKOUT,
            f"a lockout of {_minutes(lockout)} is shorter than the drug library's "
            f"{_minutes(floor)}",
            floor,
        )
    ceiling = min(
        limits.max_boluses_per_day,
        hard.get("max_boluses_per_day", limits.max_boluses_per_day),
    )
    if count > ceiling:
        raise RuleRefusal(
            NakCode.BOLUS_COUNT_LIMIT,
            f"{count} demand boluses a day exceeds the drug library's {ceiling} for {state.drug}",
            ceiling,
        )
    basal = daily_dose(program(state)) + periodic_per_day(periodic_of(state))
    if basal + dose * count > limits.max_dose_ng_per_day:  # exactly, not rounded
        raise RuleRefusal(
            NakCode.ABOVE_MAX_DOSE,
            f"{pump._dose(math.ceil(basal))} with {count} demand boluses of "
            f"{pump._dose(dose, False)} a day ({pump._dose(dose * count, False)}) exceeds "
            f"the maximum daily dose {pump._dose(limits.max_dose_ng_per_day)}",
            limits.max_dose_ng_per_day,
        )


# --- the patient's activation ----------------------------------------------------------


def activate(pump: Pump, request: DemandBolusRequest) -> Message:
    """DEMAND_BOLUS: give the clinician's demand bolus, or refuse it; either way logged."""
    state = pump.state
    now = state.anchor_ms
    settings = settings_of(state)
    outcome, detail, limit = _verdict(pump, settings, now)
    dose = settings[0] if settings is not None else 0
    if outcome is not DemandOutcome.GIVEN:
        if log_activation(state, now, outcome, dose):
            pump._log(
                EventCode.DEMAND_BOLUS_REFUSED, request.request_id, outcome, _NAK[outcome], detail
            )
        return Nak(code=_NAK[outcome], limit=limit, detail=detail)
    assert settings is not None
    _, duration, _, _ = settings
    bolus = Bolus(now, dose, duration * 1000, request.request_id, demand=True)
    state.boluses.append(bolus)
    log_activation(state, now, outcome, dose)
    pump._log(
        EventCode.BOLUS_STARTED,
        request.request_id,
        dose,
        duration,
        f"demand bolus {pump._dose(dose, False)} over {_minutes(duration)}",
    )
    return DemandBolusResponse(
        request_id=request.request_id,
        dose_ng=dose,
        duration_s=duration,
        ends_at_s=bolus.end_ms // 1000,
        given_last_24h=min(0xFF, len(given_in_window(state, now))),
    )


def _verdict(pump: Pump, settings: Settings | None, now: int) -> tuple[DemandOutcome, str, int]:
    state, limits = pump.state, pump.limits
    if settings is None:
        return DemandOutcome.REFUSED_NOT_PROGRAMMED, "no demand bolus is programmed", 0
    dose, duration, lockout, count = settings
    if not state.running:
        why = StopReason(state.stop_reason).name.lower().replace("_", " ")
        return DemandOutcome.REFUSED_STOPPED, f"the pump is stopped ({why}): no bolus", 0
    if state.reservoir_nl <= 0:
        return DemandOutcome.REFUSED_EMPTY, "the reservoir is empty", 0
    if state.catheter == "occluded" or AlarmCode.OCCLUSION in state.alarms:
        return DemandOutcome.REFUSED_OCCLUSION, "an occlusion is present: no bolus", 0
    given = given_in_window(state, now)
    if given:
        since_ms = now - max(b.start_ms for b in given)
        if since_ms < lockout * 1000:
            wait = math.ceil((lockout * 1000 - since_ms) / 60_000)
            return (
                DemandOutcome.REFUSED_LOCKOUT,
                f"last demand bolus was {since_ms // 60_000} min ago; lockout is "
                f"{_minutes(lockout)} ({wait} min to wait)",
                lockout,
            )
    if len(given) >= count:
        return (
            DemandOutcome.REFUSED_DAILY_COUNT,
            f"{len(given)} demand boluses in the last 24 h; the maximum is {count}",
            count,
        )
    peak_ng = pump.peak_24h_ng(state.dose_ng_per_day, Bolus(now, dose, duration * 1000, 0))
    if peak_ng > limits.max_dose_ng_per_day:
        return (
            DemandOutcome.REFUSED_DAILY_LIMIT,
            f"this bolus would put {pump._dose(math.ceil(peak_ng), False)} in one 24 h window, "
            f"above the maximum daily dose {pump._dose(limits.max_dose_ng_per_day)}",
            limits.max_dose_ng_per_day,
        )
    return DemandOutcome.GIVEN, "", 0


def log_activation(state: PumpState, now_ms: int, outcome: DemandOutcome, dose_ng: int) -> bool:
    """Add an activation to the log; True if it took a new entry (a refusal like the last
    entry's, begun within the day, is counted there instead)."""
    log = state.demand_log
    if log and outcome is not DemandOutcome.GIVEN:
        last = log[-1]
        if last[2] == outcome and now_ms - last[0] < COALESCE_MS and last[3] < COUNT_MAX:
            last[1] = now_ms
            last[3] += 1
            return False
    log.append([now_ms, now_ms, int(outcome), 1, dose_ng])
    state.demand_log_next += 1
    del log[:-LOG_CAPACITY]
    return True


# --- reads -----------------------------------------------------------------------------


def read_settings(pump: Pump, _: ReadDemandBolusRequest) -> DemandSettingsResponse:
    state = pump.state
    now = state.anchor_ms
    dose, duration, lockout, count = settings_of(state) or (0, 0, 0, 0)
    return DemandSettingsResponse(
        dose_ng=dose,
        duration_s=duration,
        lockout_s=lockout,
        per_day=count,
        given_last_24h=min(0xFF, len(given_in_window(state, now))),
        next_allowed_s=-(-next_allowed_ms(state, now) // 1000),
        min_duration_s=patient_bolus_min_duration_s(state.drug),
        log_next_index=state.demand_log_next,
    )


def read_log(pump: Pump, request: ReadDemandLogRequest) -> ReadDemandLogResponse:
    state = pump.state
    oldest = state.demand_log_next - len(state.demand_log)
    first = max(request.first_index, oldest)
    chosen = state.demand_log[first - oldest : first - oldest + request.max_count]
    return ReadDemandLogResponse(
        next_index=first + len(chosen),
        oldest_index=oldest,
        entries=[
            DemandLogEntry(
                index=first + i,
                time_s=entry[0] // 1000,
                last_time_s=entry[1] // 1000,
                outcome=DemandOutcome(entry[2]),
                count=entry[3],
                dose_ng=entry[4],
            )
            for i, entry in enumerate(chosen)
        ],
    )


# --- integrity -------------------------------------------------------------------------


def problems(state: PumpState, limits: DrugLimits) -> list[str]:
    """What in the demand settings and log no command the firmware accepts could leave."""
    found: list[str] = []
    if state.demand is not None:
        if len(state.demand) != 4:
            found.append("demand bolus: not four numbers")
        else:
            dose, duration, lockout, count = state.demand
            if not (0 < dose <= limits.bolus_max_ng and 0 < duration <= lockout <= LOCKOUT_MAX_S):
                found.append("demand bolus: settings outside the bolus limits")
            if not 0 < count <= limits.max_boluses_per_day:
                found.append("demand bolus: count per day outside the drug library's")
    if len(state.demand_log) > LOG_CAPACITY or state.demand_log_next < len(state.demand_log):
        found.append("demand log: longer than its capacity or its index")
    for entry in state.demand_log:
        if len(entry) != 5 or entry[2] not in set(DemandOutcome) or entry[0] > state.anchor_ms:
            found.append("demand log: an entry no activation could leave")
            break
    return found
