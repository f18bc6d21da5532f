"""The pump's rules for its program (a simple rate or a flexible-dosing schedule) as a whole.

A change of program is judged time of day by time of day against the program in force: every
rule the pump applies to a simple rate (maximum dose, minimum flow, the steps, the interval
between increases, confirmation of a large change) holds for each step of the new schedule
against what the old one delivered at that time, and the daily maximum holds over the worst
real 24 h window: the past as it was programmed, every bolus, and the new program ahead.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from firmware_sim.model import battery
from firmware_sim.model.periodic import Periodic, effective, per_day
from firmware_sim.model.periodic import describe as describe_bolus
from firmware_sim.model.periodic import shape_error as periodic_shape_error
from firmware_sim.model.schedule import (
    GRANULARITY_MIN,
    MAX_STEPS,
    MS_PER_MIN,
    Basal,
    Rate,
    Steps,
    clock,
    daily_dose,
    daily_dose_ng,
    delivered,
    flat,
    pieces,
    shape_error,
    spans,
    time_to_deliver_ms,
    volume_nl,
)
from firmware_sim.model.state import Bolus, PumpState
from firmware_sim.model.units import MS_PER_DAY, NL_PER_ML, flow_nl_per_day
from pumpctl.protocol.messages import (
    AlarmCode,
    EventCode,
    NakCode,
    ReadScheduleRequest,
    ScheduleResponse,
    ScheduleStep,
    SetPeriodicBolusRequest,
    SetPeriodicBolusResponse,
    SetRateRequest,
    SetRateResponse,
    SetScheduleRequest,
    SetScheduleResponse,
)
from pumpctl.units import format_amount

if TYPE_CHECKING:
    from firmware_sim.model.pump import Pump

WINDOW_MS = MS_PER_DAY


def program(state: PumpState) -> list[tuple[int, int]]:
    """The basal program in force (a simple rate or a schedule), as steps."""
    if state.schedule is None:
        return flat(state.dose_ng_per_day)
    return [(start, dose) for start, dose in state.schedule]


def periodic_of(state: PumpState) -> Periodic | None:
    if state.periodic is None:
        return None
    dose, duration, interval, first = state.periodic
    return dose, duration, interval, first


def stepped(state: PumpState) -> bool:
    """Whether delivery follows daily steps (a schedule, periodic boluses) rather than one rate."""
    return state.schedule is not None or state.periodic is not None


def delivering(state: PumpState) -> Steps:
    """What the pump delivers day after day: the basal program and the periodic boluses."""
    return effective(program(state), periodic_of(state))


def rate_nl_per_ms(state: PumpState, at_ms: int) -> Fraction:
    """The basal and periodic delivery at ``at_ms``, nL/ms (boluses on demand apart)."""
    return (
        Fraction(dose_at(state, at_ms)) * NL_PER_ML / (state.concentration_ng_per_ml * MS_PER_DAY)
    )


def dose_at(state: PumpState, at_ms: int) -> Rate:
    """The rate in force at ``at_ms`` (ng/day), periodic boluses included."""
    if not stepped(state):
        return state.dose_ng_per_day
    minute = (at_ms % MS_PER_DAY) // MS_PER_MIN
    return max((step for step in delivering(state) if step[0] <= minute), key=lambda s: s[0])[1]


def periodic_bolus_running(state: PumpState) -> bool:
    """A periodic bolus is being delivered now (STATUS's ``bolus_active``)."""
    periodic = periodic_of(state)
    if periodic is None or not state.running or state.reservoir_nl <= 0:
        return False
    _, duration, interval, first = periodic
    since_first_ms = (state.anchor_ms % MS_PER_DAY - first * MS_PER_MIN) % (interval * MS_PER_MIN)
    return since_first_ms < duration * MS_PER_MIN


def next_step_ms(state: PumpState, at_ms: int) -> int:
    """When the step after the one in force at ``at_ms`` starts."""
    day_ms = at_ms - at_ms % MS_PER_DAY
    minute = (at_ms - day_ms) // MS_PER_MIN
    for start, _ in delivering(state):
        if start > minute:
            return day_ms + start * MS_PER_MIN
    return day_ms + MS_PER_DAY


# A dose-history entry (``PumpState.dose_history``): [start_ms, dose] for a simple rate;
# [start_ms, daily dose, start_min, dose, ...] for a schedule; either followed by
# PERIODIC_MARK and the periodic boluses' four numbers when there are any.
PERIODIC_MARK = -1


def history_steps(entry: list[int]) -> Steps:
    """What a dose-history entry delivered, as daily steps."""
    periodic: Periodic | None = None
    if PERIODIC_MARK in entry[2:]:
        mark = entry.index(PERIODIC_MARK, 2)
        dose, duration, interval, first = entry[mark + 1 : mark + 5]
        periodic = (dose, duration, interval, first)
        entry = entry[:mark]
    rest = entry[2:]
    basal = list(zip(rest[::2], rest[1::2], strict=True)) if rest else flat(entry[1])
    return basal if periodic is None else effective(basal, periodic)


def history_entry(at_ms: int, steps: Basal, periodic: Periodic | None = None) -> list[int]:
    ints = list(steps)
    entry = [at_ms, ints[0][1]] if len(ints) == 1 else [at_ms, daily_dose_ng(ints)]
    if len(ints) > 1:
        entry += [x for step in ints for x in step]
    if periodic is not None:
        entry += [PERIODIC_MARK, *periodic]
    return entry


def merged(first: list[int], second: list[int]) -> list[int]:
    """Two history entries as one constant at the higher rate of either: only stricter."""
    highest = max(dose for _, dose in (*history_steps(first), *history_steps(second)))
    return [first[0], math.ceil(highest)]


def peak_24h_ng(state: PumpState, future: Steps, extra: Bolus | None = None) -> Fraction:
    """The most drug any 24 h window around now would hold with ``future`` programmed from
    now on and ``extra`` added (``Pump.peak_24h_ng``, for any program)."""
    now = state.anchor_ms
    earliest, latest = now - WINDOW_MS, now + WINDOW_MS
    rated: list[tuple[int, int, Fraction]] = []  # [start, end) at ng/ms
    history = state.dose_history or [[earliest, state.dose_ng_per_day]]
    for i, entry in enumerate(history):
        until_ms = history[i + 1][0] if i + 1 < len(history) else now
        since_ms = max(entry[0], earliest)
        if until_ms > since_ms:
            for since, until, dose in pieces(history_steps(entry), since_ms, until_ms):
                rated.append((since, until, Fraction(dose, MS_PER_DAY)))
    for since, until, dose in pieces(future, now, latest):
        rated.append((since, until, Fraction(dose, MS_PER_DAY)))
    boluses = [*state.boluses, extra] if extra is not None else state.boluses
    for b in boluses:
        if b.end_ms > earliest and b.end_ms > b.start_ms:
            rated.append((b.start_ms, b.end_ms, Fraction(b.dose_ng, b.duration_ms)))
    edges = {edge for piece in rated for edge in piece[:2]}
    starts = {earliest, now} | {
        s for e in edges for s in (e, e - WINDOW_MS) if earliest <= s <= now
    }

    def window(start: int) -> Fraction:
        end = start + WINDOW_MS
        return sum(
            (
                rate * (min(until, end) - max(since, start))
                for since, until, rate in rated
                if since < end and until > start
            ),
            Fraction(0),
        )

    return max(window(start) for start in starts)


def time_to_low_ms(pump: Pump) -> int | None:
    """How long until the reservoir reaches the low threshold on the steps (and periodic
    boluses) with every allowed demand bolus taken on top, as the pump's projection assumes
    (the daily maximum capping them, periodic boluses included), exactly."""
    state, limits = pump.state, pump.limits
    room = limits.max_dose_ng_per_day - state.dose_ng_per_day - per_day(periodic_of(state))
    extra = min(limits.bolus_max_ng * limits.max_boluses_per_day, max(0, room))
    above_nl = state.reservoir_nl - pump.model.low_reservoir_ul * 1000
    steps = [(start, dose + extra) for start, dose in delivering(state)]
    return time_to_deliver_ms(steps, state.anchor_ms, _ng(above_nl, state))


def _ng(nl: Fraction, state: PumpState) -> Fraction:
    return nl * state.concentration_ng_per_ml / NL_PER_ML


def advance_on_schedule(pump: Pump, target_ms: int) -> None:
    """One stretch of ``Pump.advance_to`` on a schedule with no bolus running: whole days at
    the daily dose, up to the target or the next reservoir threshold, whichever is first."""
    state = pump.state
    now = state.anchor_ms
    end = target_ms
    given = Fraction(0)
    delivering_now = state.running and state.catheter != "occluded" and state.reservoir_nl > 0
    steps = delivering(state) if delivering_now else flat(0)
    conc = state.concentration_ng_per_ml
    if delivering_now:
        low_nl = pump.model.low_reservoir_ul * 1000
        given = volume_nl(delivered(steps, now, end), conc)
        # A threshold crossed on the way ends the stretch there (most stretches cross none).
        crossings = [state.reservoir_nl - low_nl] if state.reservoir_nl > low_nl else []
        crossings.append(state.reservoir_nl)
        for nl in crossings:
            if given >= nl:
                after = time_to_deliver_ms(steps, now, _ng(nl, state))
                assert after is not None
                end = max(now + 1, now + after)
                given = volume_nl(delivered(steps, now, end), conc)
                break
    # So does a battery threshold: the drain is the program's drug plus the time drain as a
    # constant dose (battery.time_drain_as_ng_per_day), so the same exact search finds it.
    drained = battery.drain(end - now, given)
    quiet = pump.battery_below_thresholds(float(drained))
    used = state.battery_used_uah + drained if not quiet else Fraction(0)
    for threshold in [] if quiet else pump.battery_thresholds_uah():
        if state.battery_used_uah < threshold <= used:
            extra = battery.time_drain_as_ng_per_day(conc)
            with_time = [(start, dose + extra) for start, dose in steps]
            ng = battery.uah_as_ng(threshold - state.battery_used_uah, conc)
            after = time_to_deliver_ms(with_time, now, ng)
            assert after is not None
            end = max(now + 1, min(end, now + after))
            given = volume_nl(delivered(steps, now, end), conc) if delivering_now else given
            break
    state.reservoir_nl = max(Fraction(0), state.reservoir_nl - given)
    state.anchor_ms = end
    pump._finish_boluses(end)
    pump._reconcile(end)


# --- commands --------------------------------------------------------------------------


def read_schedule(pump: Pump, _: ReadScheduleRequest) -> ScheduleResponse:
    state = pump.state
    steps = program(state)
    minute = (state.anchor_ms % MS_PER_DAY) // MS_PER_MIN
    current = max(i for i, (start, _) in enumerate(steps) if start <= minute)
    dose, duration, interval, first = periodic_of(state) or (0, 0, 0, 0)
    return ScheduleResponse(
        active=state.schedule is not None,
        dose_ng_per_day=state.dose_ng_per_day,
        current_step=current,
        max_steps=MAX_STEPS,
        granularity_min=GRANULARITY_MIN,
        steps=[ScheduleStep(start_min=s, dose_ng_per_day=d) for s, d in steps],
        periodic_dose_ng=dose,
        periodic_duration_min=duration,
        periodic_interval_min=interval,
        periodic_first_min=first,
    )


def set_schedule(pump: Pump, request: SetScheduleRequest) -> SetScheduleResponse:
    from firmware_sim.model.pump import RuleRefusal

    state = pump.state
    old = program(state)
    believed = [(s.start_min, s.dose_ng_per_day) for s in request.believed_steps]
    if believed != old:
        raise RuleRefusal(
            NakCode.STALE_DOSE,
            f"programmer believes {describe(pump, believed)} but the pump delivers "
            f"{describe(pump, old)}: interrogate again",
            state.dose_ng_per_day,
        )
    new = [(s.start_min, s.dose_ng_per_day) for s in request.steps]
    problem = shape_error(new)
    if problem is not None:
        raise RuleRefusal(NakCode.INVALID_ARGUMENT, problem)
    return _apply(pump, old, new, request.request_id, request.confirm_large_change)


def set_rate_over_schedule(pump: Pump, request: SetRateRequest) -> SetRateResponse:
    """SET_RATE while a schedule is in force: the schedule gives way to the simple rate,
    judged against it time of day by time of day (the believed dose is checked already)."""
    state = pump.state
    previous = state.dose_ng_per_day
    new = request.dose_ng_per_day
    _apply(pump, program(state), flat(new), request.request_id, request.confirm_large_change)
    return SetRateResponse(
        request_id=request.request_id,
        dose_ng_per_day=new,
        previous_dose_ng_per_day=previous,
        flow_nl_per_day=flow_nl_per_day(new, state.concentration_ng_per_ml),
        applied_at_s=state.anchor_ms // 1000,
    )


def _apply(
    pump: Pump, old: Basal, new: Basal, request_id: int, confirmed: bool
) -> SetScheduleResponse:
    state = pump.state
    check_steps(pump, new)
    increase = check_change(pump, old, new, confirmed)
    previous = state.dose_ng_per_day
    now = state.anchor_ms
    scheduled = len(new) > 1
    state.schedule = [[s, d] for s, d in new] if scheduled else None
    state.dose_ng_per_day = daily_dose_ng(new)
    state.last_rate_change_ms = now
    if increase:
        state.last_increase_ms = now
    record(pump, now, new)
    pump._forget_old(now)
    before, after = describe(pump, old), describe(pump, new)
    if scheduled:
        pump._log(
            EventCode.SCHEDULE_SET,
            request_id,
            previous,
            state.dose_ng_per_day,
            f"{before} -> {after}",
        )
    else:
        if len(old) > 1:
            pump._log(
                EventCode.SCHEDULE_CLEARED,
                request_id,
                previous,
                state.dose_ng_per_day,
                f"schedule cleared: {before}",
            )
        pump._log(
            EventCode.RATE_CHANGED,
            request_id,
            previous,
            state.dose_ng_per_day,
            f"{pump._dose(previous)} -> {pump._dose(state.dose_ng_per_day)}",
        )
    return SetScheduleResponse(
        request_id=request_id,
        dose_ng_per_day=state.dose_ng_per_day,
        previous_dose_ng_per_day=previous,
        flow_nl_per_day=flow_nl_per_day(state.dose_ng_per_day, state.concentration_ng_per_ml),
        applied_at_s=now // 1000,
    )


def record(pump: Pump, at_ms: int, steps: Basal) -> None:
    """Add ``steps`` to the dose history from ``at_ms`` (``Pump._record_dose`` for any
    program)."""
    history = pump.state.dose_history
    entry = history_entry(at_ms, steps, periodic_of(pump.state))
    if history and history[-1][0] == at_ms:
        history[-1] = entry  # the program it replaces held no drug: it lasted 0 ms
    else:
        history.append(entry)
    from firmware_sim.model.pump import DOSE_HISTORY_MAX

    if len(history) > DOSE_HISTORY_MAX:
        history[:2] = [merged(history[0], history[1])]


def check_steps(pump: Pump, steps: Basal) -> None:
    """The program on its own: its daily dose (the integral) at most the maximum daily dose,
    each step at least the minimum flow. A step's rate may exceed the daily maximum for part
    of the day; the worst 24 h window (``check_change``) bounds what it delivers."""
    from firmware_sim.model.pump import RuleRefusal

    state, limits = pump.state, pump.limits
    periodic_ng = per_day(periodic_of(state))
    if daily_dose(steps) + periodic_ng > limits.max_dose_ng_per_day:  # exactly, not rounded
        with_boluses = f" with {pump._dose(periodic_ng, False)} of periodic boluses a day"
        raise RuleRefusal(
            NakCode.ABOVE_MAX_DOSE,
            f"{describe(pump, steps)}{with_boluses if periodic_ng else ''} exceeds the maximum "
            "daily dose "
            f"{pump._dose(limits.max_dose_ng_per_day)}",
            limits.max_dose_ng_per_day,
        )
    min_flow = pump.model.min_flow_nl_per_day
    for start, dose in steps:
        at = f"the {clock(start)} step's " if len(steps) > 1 else ""
        if flow_nl_per_day(dose, state.concentration_ng_per_ml) < min_flow:
            raise RuleRefusal(
                NakCode.BELOW_MIN_FLOW,
                f"{at}{pump._dose(dose)} needs a flow below the pump's minimum of "
                f"{pump._min_flow()}: use a lower concentration at the next refill",
                min_flow,
            )


def compare(old: Steps, new: Steps) -> list[tuple[int, Rate, Rate]]:
    """``(start_min, old_dose, new_dose)`` over every stretch of the day where neither
    program changes."""
    starts = sorted({s for s, _, _ in spans(old)} | {s for s, _, _ in spans(new)})
    out = []
    for start in starts:
        o = next(d for s, e, d in spans(old) if s <= start < e)
        n = next(d for s, e, d in spans(new) if s <= start < e)
        out.append((start, o, n))
    return out


def check_step(pump: Pump, old: int, new: int, at: str = "") -> None:
    """STEP_TOO_LARGE for an increase from ``old`` to ``new`` ng/day beyond the step limits
    (absolute, then percentage); ``at`` names the time of day in a schedule."""
    from firmware_sim.model.pump import RuleRefusal

    limits, step = pump.limits, new - old
    if step > limits.max_step_ng_per_day:
        raise RuleRefusal(
            NakCode.STEP_TOO_LARGE,
            f"{at}increase of {pump._dose(step)} exceeds the maximum step of "
            f"{pump._dose(limits.max_step_ng_per_day)}",
            limits.max_step_ng_per_day,
        )
    if old > 0 and step * 100 > old * limits.max_step_pct:
        raise RuleRefusal(
            NakCode.STEP_TOO_LARGE,
            f"{at}increase of {pump._dose(step)} exceeds the maximum step of "
            f"{limits.max_step_pct}% of {pump._dose(old)}",
            old + old * limits.max_step_pct // 100,
        )


def check_increase_interval(pump: Pump) -> None:
    """INCREASE_TOO_SOON within the drug's minimum interval after the last increase."""
    from firmware_sim.model.pump import RuleRefusal

    state, limits = pump.state, pump.limits
    if state.last_increase_ms is None:
        return
    elapsed_ms = state.anchor_ms - state.last_increase_ms
    interval_ms = limits.min_increase_interval_s * 1000
    if elapsed_ms < interval_ms:
        wait_min = math.ceil((interval_ms - elapsed_ms) / 60_000)
        raise RuleRefusal(
            NakCode.INCREASE_TOO_SOON,
            f"last increase was {elapsed_ms // 60_000} min ago; increases must be "
            f"{limits.min_increase_interval_s // 3600} h apart ({wait_min} min to wait)",
            limits.min_increase_interval_s,
        )


def check_change(pump: Pump, old: Basal, new: Basal, confirmed: bool) -> bool:
    """Refuse a change of program a rule forbids; returns whether it increases any time of
    day. The same rules as a simple rate's, at every time of day (docs/simulator.md §3.11)."""
    from firmware_sim.model.pump import RuleRefusal

    state, limits = pump.state, pump.limits
    stretches = [(start, int(o), int(n)) for start, o, n in compare(old, new)]
    increase = any(n > o for _, o, n in stretches)
    several = len(old) > 1 or len(new) > 1
    if increase and (state.catheter == "occluded" or AlarmCode.OCCLUSION in state.alarms):
        raise RuleRefusal(NakCode.OCCLUSION_PRESENT, "an occlusion is present: no increase")
    factor = limits.large_change_factor
    for start, o, n in stretches:
        at = f"at {clock(start)}: " if several else ""
        change = f"{at}{pump._dose(o)} -> {pump._dose(n)}"
        if o > 0 and n >= o * factor and not confirmed:
            raise RuleRefusal(
                NakCode.LARGE_CHANGE_UNCONFIRMED,
                f"{change} multiplies the dose by {factor} or more: confirm explicitly",
                factor,
            )
        if o > 0 and n < o and n * factor <= o and not confirmed:
            raise RuleRefusal(
                NakCode.LARGE_CHANGE_UNCONFIRMED,
                f"{change} divides the dose by {factor} or more: confirm explicitly",
                factor,
            )
    for start, o, n in stretches:
        check_step(pump, o, n, f"at {clock(start)}: " if several else "")
    if not increase:
        return False
    check_increase_interval(pump)
    peak_ng = peak_24h_ng(state, effective(new, periodic_of(state)))
    if peak_ng > limits.max_dose_ng_per_day:
        raise RuleRefusal(
            NakCode.DAILY_LIMIT,
            f"{describe(pump, new)} with the boluses and doses of the last 24 h would put "
            f"{pump._dose(math.ceil(peak_ng), False)} in one 24 h window, above the maximum "
            f"daily dose {pump._dose(limits.max_dose_ng_per_day)}",
            limits.max_dose_ng_per_day,
        )
    return True


def describe(pump: Pump, steps: Basal) -> str:
    """A program as a person reads it: ``1.4 mg/day`` or ``00:00 1.4, 08:00 1.8 mg/day``."""
    if len(steps) == 1:
        return pump._dose(steps[0][1])
    unit = pump.limits.display_unit
    parts = [
        f"{clock(s)} {format_amount(d, unit, False).removesuffix(' ' + unit)}" for s, d in steps
    ]
    return f"{', '.join(parts)} {unit}/day ({pump._dose(daily_dose_ng(steps))} a day)"


def set_periodic(pump: Pump, request: SetPeriodicBolusRequest) -> SetPeriodicBolusResponse:
    """SET_PERIODIC_BOLUS: within the bolus maximum, and with the basal program within the
    daily maximum, over the day and over the worst real 24 h window (docs/simulator.md §3.12).
    A dose of 0 clears them: always allowed."""
    from firmware_sim.model.pump import RuleRefusal

    state, limits = pump.state, pump.limits
    old = periodic_of(state)
    believed = (request.believed_dose_ng, request.believed_interval_min)
    if believed != ((old[0], old[2]) if old is not None else (0, 0)):
        raise RuleRefusal(
            NakCode.STALE_DOSE,
            "programmer believes other periodic boluses than the pump's: interrogate again",
            old[0] if old is not None else 0,
        )
    new: Periodic | None = None
    if request.dose_ng:
        new = (request.dose_ng, request.duration_min, request.interval_min, request.first_min)
        problem = periodic_shape_error(*new)
        if problem is not None:
            raise RuleRefusal(NakCode.INVALID_ARGUMENT, problem)
        if request.dose_ng > limits.bolus_max_ng:
            raise RuleRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"a periodic bolus of {pump._dose(request.dose_ng, False)} exceeds the maximum "
                f"bolus of {pump._dose(limits.bolus_max_ng, False)}",
                limits.bolus_max_ng,
            )
        basal = program(state)
        daily = daily_dose(basal) + per_day(new)
        if daily > limits.max_dose_ng_per_day:
            raise RuleRefusal(
                NakCode.ABOVE_MAX_DOSE,
                f"{describe(pump, basal)} with {pump._dose(per_day(new), False)} of periodic "
                f"boluses a day exceeds the maximum daily dose "
                f"{pump._dose(limits.max_dose_ng_per_day)}",
                limits.max_dose_ng_per_day,
            )
        before, after = effective(basal, old), effective(basal, new)
        if any(n > o for _, o, n in compare(before, after)):
            if state.catheter == "occluded" or AlarmCode.OCCLUSION in state.alarms:
                raise RuleRefusal(NakCode.OCCLUSION_PRESENT, "an occlusion is present: no increase")
            peak_ng = peak_24h_ng(state, after)
            if peak_ng > limits.max_dose_ng_per_day:
                raise RuleRefusal(
                    NakCode.DAILY_LIMIT,
                    f"{describe_periodic(pump, new)} with the doses and boluses of the last "
                    f"24 h would put {pump._dose(math.ceil(peak_ng), False)} in one 24 h "
                    f"window, above the maximum daily dose "
                    f"{pump._dose(limits.max_dose_ng_per_day)}",
                    limits.max_dose_ng_per_day,
                )
    now = state.anchor_ms
    state.periodic = list(new) if new is not None else None
    record(pump, now, program(state))
    pump._forget_old(now)
    was = describe_periodic(pump, old) if old is not None else "none"
    pump._log(
        EventCode.PERIODIC_BOLUS_SET,
        request.request_id,
        per_day(old),
        per_day(new),
        f"periodic boluses: {was} -> {describe_periodic(pump, new) if new is not None else 'none'}",
    )
    return SetPeriodicBolusResponse(
        request_id=request.request_id,
        dose_ng=request.dose_ng,
        interval_min=request.interval_min if new is not None else 0,
        periodic_ng_per_day=per_day(new),
        previous_periodic_ng_per_day=per_day(old),
        applied_at_s=now // 1000,
    )


def describe_periodic(pump: Pump, periodic: Periodic) -> str:
    return describe_bolus(periodic, pump._dose(periodic[0], False))
