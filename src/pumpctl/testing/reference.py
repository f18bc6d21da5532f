"""A reference model of the pump's rules, written apart from ``firmware_sim.model.pump``.

The stateful test (``tests/faults/test_pump_state_machine.py``) and the soak
(``pumpctl.testing.soak``) run it beside the simulator and compare. It shares data with the
pump (the drug library, the protocol's codes) but no code, and it is deliberately naive: it
keeps every dose and bolus it was given, integrates delivery segment by segment with exact
fractions, and finds the fullest 24 h window by trying every window edge. Where it and the
pump disagree, one of them is wrong.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

from firmware_sim.model.library import DrugLimits, PumpModel, shipped_json
from firmware_sim.model.pump import Pump
from pumpctl.protocol.messages import (
    AlarmCode,
    NakCode,
    SetDemandBolusRequest,
    SetPeriodicBolusRequest,
    Severity,
    StopReason,
)

DAY_MS = 86_400_000
NL_PER_ML = 1_000_000
BRIDGE_BOLUS_MS = 3_600_000
LOW_BATTERY_PCT = 20
# The battery (docs/simulator.md §3.15): µAh, drained by time, by each mL moved and by each
# bolus started; ELECTIVE_REPLACEMENT when what is left lasts 90 days at the program's drain.
BATTERY_UAH = 7 * 365 * 1000
BATTERY_UAH_PER_DAY = 1000
BATTERY_UAH_PER_ML = 400
BATTERY_UAH_PER_BOLUS = 50
ERI_NOTICE_DAYS = 90
CONCENTRATION_FACTOR = 2  # a refill changing the concentration ×2 or ÷2 needs confirming
# Hard limits (docs/simulator.md §4.1), read from the shipped library: fields no WRITE_LIMITS
# may raise, and fields none may lower.
CEILINGS = (
    "max_concentration_ng_per_ml",
    "max_dose_ng_per_day",
    "max_step_pct",
    "max_step_ng_per_day",
    "bolus_max_ng",
    "max_boluses_per_day",
    "large_change_factor",
)
FLOORS = ("min_concentration_ng_per_ml", "min_increase_interval_s", "bolus_lockout_s")
UNKNOWN_DRUG_PATIENT_BOLUS_MIN_S = 600
# Flexible dosing (docs/simulator.md §3.11): a program is steps (start_min, ng/day) from
# 00:00, a simple rate the one step (0, dose).
SCHEDULE_MAX_STEPS = 24
DEMAND_LOG_CAPACITY = 256  # the activation log's entries (docs/simulator.md §3.13)
SCHEDULE_GRANULARITY_MIN = 15
MIN_PER_DAY = 1440
Program = tuple[tuple[int, int], ...]
Rated = tuple[tuple[int, int | Fraction], ...]  # a program with periodic boluses on top
Periodic = tuple[int, int, int, int]  # dose_ng, duration_min, interval_min, first_min
PERIODIC_INTERVALS_H = (1, 2, 3, 4, 6, 8, 12, 24)
WARNINGS = {
    AlarmCode.LOW_RESERVOIR,
    AlarmCode.LOW_BATTERY,
    AlarmCode.ELECTIVE_REPLACEMENT,
    AlarmCode.VOLUME_DISCREPANCY,
}


@dataclass
class ReferenceBolus:
    request_id: int
    start_ms: int
    dose_ng: int
    duration_ms: int
    bridge: bool
    end_ms: int  # the planned end, or when the pump stopped
    demand: bool = False  # a patient's demand bolus

    @property
    def ng_per_ms(self) -> Fraction:
        return Fraction(self.dose_ng, self.duration_ms)


@dataclass
class ReferencePump:
    """The pump as the documented rules (docs/simulator.md §3) say it must be."""

    limits: DrugLimits
    model: PumpModel
    now_ms: int
    dose_ng_per_day: int
    concentration_ng_per_ml: int
    reservoir_nl: Fraction
    running: bool = True
    stop_reason: StopReason = StopReason.NONE
    last_increase_ms: int | None = None
    catheter: str = "patent"
    motor_stall: bool = False
    battery_used_uah: Fraction = Fraction(0)
    fill_nl: Fraction = Fraction(0)  # the reservoir when last filled
    discrepancy: bool = False
    leak_found: bool = False
    acknowledged: set[AlarmCode] = field(default_factory=set)
    doses: list[tuple[int, int]] = field(default_factory=list)  # (since_ms, ng/day)
    schedule: Program | None = None  # the flexible-dosing steps in force, if any
    periodic: Periodic | None = None  # periodic boluses, if any
    # Demand boluses (docs/simulator.md §3.13): (dose_ng, duration_s, lockout_s, per_day),
    # and the activation log, [time_ms, last_time_ms, outcome, count, dose_ng] each.
    demand: tuple[int, int, int, int] | None = None
    demand_log: list[list[int]] = field(default_factory=list)
    demand_log_next: int = 0
    # (since_ms, program) beside ``doses``: what was programmed, step by step
    programs: list[tuple[int, Rated]] = field(default_factory=list)
    boluses: list[ReferenceBolus] = field(default_factory=list)
    # The ledger: reservoir == added - delivered - withdrawn, always, exactly.
    added_nl: Fraction = Fraction(0)
    delivered_nl: Fraction = Fraction(0)
    withdrawn_nl: Fraction = Fraction(0)
    # What actually left the reservoir: (from_ms, to_ms, ng/ms)
    deliveries: list[tuple[int, int, Fraction]] = field(default_factory=list)

    @classmethod
    def implanted(
        cls,
        limits: DrugLimits,
        model: PumpModel,
        *,
        now_ms: int,
        dose_ng_per_day: int,
        concentration_ng_per_ml: int,
        volume_ul: int,
    ) -> ReferencePump:
        pump = cls(
            limits,
            model,
            now_ms,
            dose_ng_per_day,
            concentration_ng_per_ml,
            Fraction(volume_ul * 1000),
            doses=[(now_ms, dose_ng_per_day)],
            programs=[(now_ms, ((0, dose_ng_per_day),))],
            added_nl=Fraction(volume_ul * 1000),
            fill_nl=Fraction(volume_ul * 1000),
        )
        pump._settle()
        return pump

    # --- what the pump must show ---------------------------------------------------------

    @property
    def battery_left_uah(self) -> Fraction:
        return BATTERY_UAH - self.battery_used_uah

    def eri_reserve_uah(self) -> Fraction:
        """90 days of the drain at the program in force, running or not."""
        ml_per_day = _daily(self.delivering()) / self.concentration_ng_per_ml
        return ERI_NOTICE_DAYS * (BATTERY_UAH_PER_DAY + ml_per_day * BATTERY_UAH_PER_ML)

    def active_alarms(self) -> set[AlarmCode]:
        left = self.battery_left_uah
        conditions = {
            AlarmCode.LOW_RESERVOIR: self.reservoir_nl <= self.model.low_reservoir_ul * 1000,
            AlarmCode.EMPTY_RESERVOIR: self.reservoir_nl <= 0,
            AlarmCode.OCCLUSION: self.catheter == "occluded",
            AlarmCode.LOW_BATTERY: left * 100 <= BATTERY_UAH * LOW_BATTERY_PCT,
            AlarmCode.ELECTIVE_REPLACEMENT: left <= self.eri_reserve_uah(),
            AlarmCode.VOLUME_DISCREPANCY: self.discrepancy,
            AlarmCode.MOTOR_STALL: self.motor_stall,
            AlarmCode.CATHETER_LEAK: self.leak_found,
            AlarmCode.PUMP_STOPPED: not self.running,
        }
        return {code for code, active in conditions.items() if active}

    def severity(self, code: AlarmCode) -> Severity:
        """Warnings need attention; anything that stops or compromises delivery is critical,
        and a stopped pump is critical unless its drug has no withdrawal."""
        if code == AlarmCode.PUMP_STOPPED:
            none = self.limits.withdrawal_risk == "none"
            return Severity.WARNING if none else Severity.CRITICAL
        return Severity.WARNING if code in WARNINGS else Severity.CRITICAL

    def ledger_nl(self) -> Fraction:
        return self.added_nl - self.delivered_nl - self.withdrawn_nl

    # --- time ----------------------------------------------------------------------------

    def advance_to(self, target_ms: int) -> None:
        while self.now_ms < target_ms:
            t = self.now_ms
            if not self.running or self.catheter == "occluded" or self.reservoir_nl <= 0:
                until = target_ms
                if self.running and self.battery_used_uah < BATTERY_UAH:
                    per_ms = Fraction(BATTERY_UAH_PER_DAY, DAY_MS)
                    until = min(until, t + math.ceil(self.battery_left_uah / per_ms))
                self._use_battery(t, until, Fraction(0))
                self.now_ms = until
                if self.battery_used_uah >= BATTERY_UAH and self.running:
                    self._stop(StopReason.BATTERY_DEPLETED)
                continue
            active = [b for b in self.boluses if b.start_ms <= t < b.end_ms]
            until = min([target_ms] + [b.end_ms for b in active])
            rate: int | Fraction = self.dose_ng_per_day
            if self.schedule is not None or self.periodic is not None:
                rate, step_end = _step_at(self.delivering(), t)
                until = min(until, step_end)
            ng_per_ms = Fraction(rate, DAY_MS) + sum((b.ng_per_ms for b in active), Fraction(0))
            nl_per_ms = ng_per_ms * NL_PER_ML / self.concentration_ng_per_ml
            if self.battery_used_uah < BATTERY_UAH:
                # The pump stops at the end of the millisecond its battery runs out in.
                per_ms = (
                    Fraction(BATTERY_UAH_PER_DAY, DAY_MS)
                    + nl_per_ms * BATTERY_UAH_PER_ML / NL_PER_ML
                )
                until = min(until, t + math.ceil(self.battery_left_uah / per_ms))
            volume = nl_per_ms * (until - t)
            if volume >= self.reservoir_nl:
                # The pump notices the empty reservoir at the end of the millisecond it
                # runs out in; the last drop is all that was left.
                empty_ms = t + math.ceil(self.reservoir_nl / nl_per_ms)
                share = self.reservoir_nl / (nl_per_ms * (empty_ms - t))
                self._deliver(t, empty_ms, ng_per_ms * share, self.reservoir_nl)
                self._use_battery(t, empty_ms, self.reservoir_nl)
                self.reservoir_nl = Fraction(0)
                self.now_ms = empty_ms
                self._stop(StopReason.RESERVOIR_EMPTY)
            else:
                self._deliver(t, until, ng_per_ms, volume)
                self._use_battery(t, until, volume)
                self.reservoir_nl -= volume
                self.now_ms = until
                if self.battery_used_uah >= BATTERY_UAH and self.running:
                    self._stop(StopReason.BATTERY_DEPLETED)
        self._forget_acknowledgements()

    def _use_battery(self, start: int, end: int, moved_nl: Fraction, boluses: int = 0) -> None:
        used = (
            self.battery_used_uah
            + Fraction(BATTERY_UAH_PER_DAY * (end - start), DAY_MS)
            + moved_nl * BATTERY_UAH_PER_ML / NL_PER_ML
            + boluses * BATTERY_UAH_PER_BOLUS
        )
        if self.battery_used_uah < BATTERY_UAH:
            self.battery_used_uah = min(used, Fraction(BATTERY_UAH))

    def _deliver(self, start: int, end: int, ng_per_ms: Fraction, nl: Fraction) -> None:
        self.delivered_nl += nl
        self.deliveries.append((start, end, ng_per_ms))

    def _stop(self, reason: StopReason) -> None:
        self.running = False
        self.stop_reason = reason
        for b in self.boluses:
            if b.start_ms <= self.now_ms < b.end_ms:
                b.end_ms = self.now_ms

    def _settle(self) -> None:
        depleted = self.battery_used_uah >= BATTERY_UAH
        if self.running and (self.reservoir_nl <= 0 or self.motor_stall or depleted):
            reason = (
                StopReason.BATTERY_DEPLETED
                if depleted
                else StopReason.RESERVOIR_EMPTY
                if self.reservoir_nl <= 0
                else StopReason.MOTOR_STALL
            )
            self._stop(reason)
        self._forget_acknowledgements()

    def _forget_acknowledgements(self) -> None:
        self.acknowledged &= self.active_alarms()

    def forget_before(self, ms: int) -> None:
        """Drop what no rule can look at any more once the clock is past ``ms`` + 24 h (the
        soak's memory; the stateful test keeps everything)."""
        self.boluses = [b for b in self.boluses if b.end_ms > ms or b.start_ms > ms - DAY_MS]
        while len(self.doses) > 1 and self.doses[1][0] <= ms:
            del self.doses[0]
        while len(self.programs) > 1 and self.programs[1][0] <= ms:
            del self.programs[0]
        self.deliveries = [d for d in self.deliveries if d[1] > ms]

    # --- the 24 h maximum ----------------------------------------------------------------

    def peak_24h_ng(
        self,
        dose_from_now: int,
        extra: ReferenceBolus | None = None,
        *,
        program: Program | None = None,
    ) -> Fraction:
        """The fullest 24 h window starting within the last 24 h, counting past programs as
        programmed (step by step), boluses as delivered over their duration, and
        ``dose_from_now`` after now (``program``: those steps instead; the dose in force under
        a schedule: its steps). Tries every window whose start or end lies on an edge of what
        it holds."""
        now, earliest = self.now_ms, self.now_ms - DAY_MS
        if program is None:
            same = dose_from_now == self.dose_ng_per_day
            future = (
                self.delivering() if same else _with_periodic(((0, dose_from_now),), self.periodic)
            )
        else:
            future = _with_periodic(program, self.periodic)
        pieces: list[tuple[int, int, Fraction]] = []
        for i, (since, steps) in enumerate(self.programs):
            until = self.programs[i + 1][0] if i + 1 < len(self.programs) else now
            pieces += _stepped(steps, max(since, earliest), until)
        pieces += _stepped(future, now, now + DAY_MS)
        for b in [*self.boluses, *([extra] if extra else [])]:
            pieces.append((b.start_ms, b.end_ms, b.ng_per_ms))
        pieces = [p for p in pieces if p[1] > earliest and p[1] > p[0]]
        candidates = {earliest, now}
        for since, until, _ in pieces:
            for edge in (since, until):
                candidates |= {edge, edge - DAY_MS}
        best = Fraction(0)
        for start in candidates:
            if not earliest <= start <= now:
                continue
            end = start + DAY_MS
            held = sum(
                (
                    rate * max(0, min(until, end) - max(since, start))
                    for since, until, rate in pieces
                ),
                Fraction(0),
            )
            best = max(best, held)
        return best

    def worst_delivered_24h_ng(self, from_ms: int) -> Fraction:
        """The most drug (boluses of every kind included) that actually left the reservoir in
        any 24 h window starting at or after ``from_ms``, as far as the clock has got."""
        spans = [d for d in self.deliveries if d[1] > from_ms]
        edges: list[int] = []
        totals: list[Fraction] = []
        total = Fraction(0)
        for start, end, rate in spans:
            if not edges or edges[-1] != start:
                edges.append(start)
                totals.append(total)
            total += rate * (end - start)
            edges.append(end)
            totals.append(total)

        def cumulative(ms: int) -> Fraction:
            i = bisect_right(edges, ms) - 1
            if i < 0:
                return Fraction(0)
            if i + 1 == len(edges):
                return totals[-1]
            gap = edges[i + 1] - edges[i]
            return totals[i] + (totals[i + 1] - totals[i]) * (ms - edges[i]) / gap

        now = self.now_ms
        candidates = {from_ms, max(from_ms, now - DAY_MS)}
        for edge in edges:
            candidates |= {edge, edge - DAY_MS}
        return max(
            (
                cumulative(min(start + DAY_MS, now)) - cumulative(start)
                for start in candidates
                if from_ms <= start <= now
            ),
            default=Fraction(0),
        )

    # --- commands: each returns the NAK the pump must answer, or None and applies it -----

    def set_rate(self, new: int, believed: int, confirm: bool) -> NakCode | None:
        limits, current = self.limits, self.dose_ng_per_day
        if believed != current:
            return NakCode.STALE_DOSE
        if self.schedule is not None or self.periodic is not None:
            return self._change_program(((0, new),), confirm)
        if new > limits.max_dose_ng_per_day:
            return NakCode.ABOVE_MAX_DOSE
        if self._flow_too_low(new, self.concentration_ng_per_ml):
            return NakCode.BELOW_MIN_FLOW
        if new < current and new * limits.large_change_factor <= current and not confirm:
            return NakCode.LARGE_CHANGE_UNCONFIRMED  # no other rule holds a decrease back
        if new > current:
            step = new - current
            if self.catheter == "occluded":
                return NakCode.OCCLUSION_PRESENT
            if new >= current * limits.large_change_factor and not confirm:
                return NakCode.LARGE_CHANGE_UNCONFIRMED
            if step > limits.max_step_ng_per_day or step * 100 > current * limits.max_step_pct:
                return NakCode.STEP_TOO_LARGE
            interval_ms = limits.min_increase_interval_s * 1000
            if self.last_increase_ms is not None and (
                self.now_ms - self.last_increase_ms < interval_ms
            ):
                return NakCode.INCREASE_TOO_SOON
            if self.peak_24h_ng(new) > limits.max_dose_ng_per_day:
                return NakCode.DAILY_LIMIT
            self.last_increase_ms = self.now_ms
        self.dose_ng_per_day = new
        self.doses.append((self.now_ms, new))
        self.programs.append((self.now_ms, ((0, new),)))
        return None

    def program(self) -> Program:
        return self.schedule if self.schedule is not None else ((0, self.dose_ng_per_day),)

    def delivering(self) -> Rated:
        return _with_periodic(self.program(), self.periodic)

    def periodic_believed(self) -> tuple[int, int]:
        """What a programmer that read the pump believes of its periodic boluses: the dose
        and the interval, (0, 0) for none."""
        old = self.periodic
        return (old[0], old[2]) if old else (0, 0)

    def set_periodic(self, periodic: Periodic | None, believed: tuple[int, int]) -> NakCode | None:
        """SET_PERIODIC_BOLUS (docs/simulator.md §3.12); ``None`` clears them."""
        limits = self.limits
        if believed != self.periodic_believed():
            return NakCode.STALE_DOSE
        if periodic is not None:
            dose, duration, interval, first = periodic
            if (
                interval % 60
                or interval // 60 not in PERIODIC_INTERVALS_H
                or not 1 <= duration <= interval
                or first >= interval
                or first % SCHEDULE_GRANULARITY_MIN
            ):
                return NakCode.INVALID_ARGUMENT
            if dose > limits.bolus_max_ng:
                return NakCode.BOLUS_TOO_LARGE
            if _daily(self.program()) + _per_day(periodic) > limits.max_dose_ng_per_day:
                return NakCode.ABOVE_MAX_DOSE
            before, after = self.delivering(), _with_periodic(self.program(), periodic)
            if any(_dose_at(after, m) > _dose_at(before, m) for m in range(MIN_PER_DAY)):
                if self.catheter == "occluded":
                    return NakCode.OCCLUSION_PRESENT
                self.periodic, kept = periodic, self.periodic
                peak = self.peak_24h_ng(self.dose_ng_per_day)
                self.periodic = kept
                if peak > limits.max_dose_ng_per_day:
                    return NakCode.DAILY_LIMIT
        self.periodic = periodic
        self.programs.append((self.now_ms, self.delivering()))
        return None

    def set_schedule(self, steps: Program, believed: Program, confirm: bool) -> NakCode | None:
        """SET_SCHEDULE: the rules of SET_RATE at every time of day (docs/simulator.md §3.11)."""
        if believed != self.program():
            return NakCode.STALE_DOSE
        starts = [s for s, _ in steps]
        doses = [d for _, d in steps]
        if (
            not 2 <= len(steps) <= SCHEDULE_MAX_STEPS
            or starts[0] != 0
            or any(b <= a for a, b in itertools.pairwise(starts))
            or any(a == b for a, b in itertools.pairwise(doses))
            or any(s >= MIN_PER_DAY or s % SCHEDULE_GRANULARITY_MIN for s in starts)
        ):
            return NakCode.INVALID_ARGUMENT
        return self._change_program(steps, confirm)

    def _change_program(self, new: Program, confirm: bool) -> NakCode | None:
        limits, old = self.limits, self.program()
        if _daily(new) + _per_day(self.periodic) > limits.max_dose_ng_per_day:
            return NakCode.ABOVE_MAX_DOSE
        if any(self._flow_too_low(d, self.concentration_ng_per_ml) for _, d in new):
            return NakCode.BELOW_MIN_FLOW
        # Minute by minute: naive, and independent of the pump's stretches.
        pairs = {(_dose_at(old, m), _dose_at(new, m)) for m in range(MIN_PER_DAY)}
        increase = any(n > o for o, n in pairs)
        factor = limits.large_change_factor
        if increase and self.catheter == "occluded":
            return NakCode.OCCLUSION_PRESENT
        if not confirm and any(
            o > 0 and (n >= o * factor or (n < o and n * factor <= o)) for o, n in pairs
        ):
            return NakCode.LARGE_CHANGE_UNCONFIRMED
        if any(
            n - o > limits.max_step_ng_per_day
            or (o > 0 and (n - o) * 100 > o * limits.max_step_pct)
            for o, n in pairs
        ):
            return NakCode.STEP_TOO_LARGE
        if increase:
            interval_ms = limits.min_increase_interval_s * 1000
            if self.last_increase_ms is not None and (
                self.now_ms - self.last_increase_ms < interval_ms
            ):
                return NakCode.INCREASE_TOO_SOON
            if self.peak_24h_ng(0, program=new) > limits.max_dose_ng_per_day:
                return NakCode.DAILY_LIMIT
            self.last_increase_ms = self.now_ms
        self.schedule = new if len(new) > 1 else None
        self.dose_ng_per_day = math.floor(_daily(new))
        self.doses.append((self.now_ms, self.dose_ng_per_day))
        self.programs.append((self.now_ms, self.delivering()))
        return None

    def _flow_too_low(self, dose: int, concentration: int) -> bool:
        return Fraction(dose * NL_PER_ML, concentration) < self.model.min_flow_nl_per_day

    def bolus(
        self, request_id: int, dose_ng: int, duration_s: int, *, patient: bool = False
    ) -> NakCode | None:
        limits, now = self.limits, self.now_ms
        if dose_ng == 0 or duration_s == 0:
            return NakCode.INVALID_ARGUMENT
        hard = self.hard_limits()
        minimum_s = (
            hard["patient_bolus_min_duration_s"] if hard else UNKNOWN_DRUG_PATIENT_BOLUS_MIN_S
        )
        if patient and duration_s < minimum_s:
            return NakCode.BOLUS_TOO_SHORT
        if not self.running:
            return NakCode.PUMP_STOPPED
        if self.reservoir_nl <= 0:
            return NakCode.RESERVOIR_EMPTY
        if self.catheter == "occluded":
            return NakCode.OCCLUSION_PRESENT
        if dose_ng > limits.bolus_max_ng:
            return NakCode.BOLUS_TOO_LARGE
        recent = [b.start_ms for b in self.boluses if not b.bridge and now - b.start_ms < DAY_MS]
        if recent and now - max(recent) < limits.bolus_lockout_s * 1000:
            return NakCode.BOLUS_LOCKOUT
        if len(recent) >= limits.max_boluses_per_day:
            return NakCode.BOLUS_COUNT_LIMIT
        duration_ms = duration_s * 1000
        bolus = ReferenceBolus(request_id, now, dose_ng, duration_ms, False, now + duration_ms)
        if self.peak_24h_ng(self.dose_ng_per_day, bolus) > limits.max_dose_ng_per_day:
            return NakCode.DAILY_LIMIT
        self.boluses.append(bolus)
        self._use_battery(now, now, Fraction(0), boluses=1)
        self._settle()
        return None

    def demand_believed(self) -> tuple[int, int]:
        """What a programmer that read the pump believes of its demand bolus: the dose and
        the count a day, (0, 0) for none."""
        old = self.demand
        return (old[0], old[3]) if old else (0, 0)

    def set_demand(
        self, settings: tuple[int, int, int, int] | None, believed: tuple[int, int]
    ) -> NakCode | None:
        """SET_DEMAND_BOLUS (docs/protocol.md §5.3); ``None`` switches them off."""
        limits = self.limits
        if believed != self.demand_believed():
            return NakCode.STALE_DOSE
        if settings is not None:
            dose, duration, lockout, count = settings
            hard = self.hard_limits() or {}
            if count < 1 or not 0 < lockout <= DAY_MS // 1000 or not 0 < duration <= lockout:
                return NakCode.INVALID_ARGUMENT
            minimum_s = hard.get("patient_bolus_min_duration_s", UNKNOWN_DRUG_PATIENT_BOLUS_MIN_S)
            if duration < minimum_s:
                return NakCode.BOLUS_TOO_SHORT
            if dose > min(limits.bolus_max_ng, hard.get("bolus_max_ng", limits.bolus_max_ng)):
                return NakCode.BOLUS_TOO_LARGE
            if lockout < max(limits.bolus_lockout_s, hard.get("bolus_lockout_s", 0)):
                return NakCode.BOLUS_LOCKOUT
            most = hard.get("max_boluses_per_day", limits.max_boluses_per_day)
            if count > min(limits.max_boluses_per_day, most):
                return NakCode.BOLUS_COUNT_LIMIT
            basal = _daily(self.program()) + _per_day(self.periodic)
            if basal + dose * count > limits.max_dose_ng_per_day:
                return NakCode.ABOVE_MAX_DOSE
        self.demand = settings
        return None

    def demand_bolus(self, request_id: int) -> tuple[NakCode | None, bool]:
        """DEMAND_BOLUS: the pump's answer, and whether the activation took a log entry of
        its own (a refusal like the entry before it, within a day, is counted there)."""
        now, settings = self.now_ms, self.demand
        outcome, code = self._demand_verdict()
        dose = settings[0] if settings else 0
        log = self.demand_log
        if outcome != 1 and log and log[-1][2] == outcome and now - log[-1][0] < DAY_MS:
            log[-1][1] = now
            log[-1][3] += 1
            return code, False
        log.append([now, now, outcome, 1, dose])
        self.demand_log_next += 1
        del log[:-DEMAND_LOG_CAPACITY]
        if outcome == 1:
            assert settings is not None
            ms = settings[1] * 1000
            self.boluses.append(
                ReferenceBolus(request_id, now, dose, ms, False, now + ms, demand=True)
            )
        return code, True

    def _demand_verdict(self) -> tuple[int, NakCode | None]:
        """(DemandOutcome value, NAK) of an activation now."""
        now, settings = self.now_ms, self.demand
        if settings is None:
            return 4, NakCode.DEMAND_NOT_PROGRAMMED
        if not self.running:
            return 5, NakCode.PUMP_STOPPED
        if self.reservoir_nl <= 0:
            return 6, NakCode.RESERVOIR_EMPTY
        if self.catheter == "occluded":
            return 7, NakCode.OCCLUSION_PRESENT
        dose, duration, lockout, count = settings
        given = [b.start_ms for b in self.boluses if b.demand and now - b.start_ms < DAY_MS]
        if given and now - max(given) < lockout * 1000:
            return 2, NakCode.BOLUS_LOCKOUT
        if len(given) >= count:
            return 3, NakCode.BOLUS_COUNT_LIMIT
        ms = duration * 1000
        bolus = ReferenceBolus(0, now, dose, ms, False, now + ms)
        if self.peak_24h_ng(self.dose_ng_per_day, bolus) > self.limits.max_dose_ng_per_day:
            return 8, NakCode.DAILY_LIMIT
        return 1, None

    def hard_limits(self) -> dict[str, int] | None:
        found: dict[str, int] | None = shipped_json().get("hard_limits", {}).get(self.limits.drug)
        return found

    def write_limits(self, values: dict[str, int]) -> NakCode | None:
        """WRITE_LIMITS for the drug in the reservoir (``values``: its limit fields)."""
        if not (
            0 < values["min_concentration_ng_per_ml"] <= values["max_concentration_ng_per_ml"]
            and values["max_dose_ng_per_day"] > 0
            and values["large_change_factor"] >= 2
            and values["bolus_max_ng"] <= values["max_dose_ng_per_day"]
        ):
            return NakCode.INVALID_ARGUMENT
        # A drug the build does not know: what it holds now bounds it.
        bound = self.hard_limits() or dataclasses.asdict(self.limits)
        if any(values[f] > bound[f] for f in CEILINGS) or any(values[f] < bound[f] for f in FLOORS):
            return NakCode.ABOVE_HARD_LIMIT
        changes: dict[str, object] = dict(values)
        self.limits = dataclasses.replace(self.limits, **changes)  # type: ignore[arg-type]
        return None

    def stop(self) -> None:
        if self.running:
            self._stop(StopReason.CLINICIAN)

    def resume(self) -> NakCode | None:
        if self.battery_used_uah >= BATTERY_UAH or self.motor_stall:
            return NakCode.PUMP_STOPPED
        if self.reservoir_nl <= 0:
            return NakCode.RESERVOIR_EMPTY
        self.running = True
        self.stop_reason = StopReason.NONE
        self._forget_acknowledgements()
        return None

    def refill(
        self,
        request_id: int,
        residual_ul: int,
        added_ul: int,
        concentration: int,
        bridge_ng: int,
        waive: bool,
        *,
        discrepancy_acknowledged: bool = False,
        confirm_large_change: bool = False,
    ) -> NakCode | None:
        limits, model = self.limits, self.model
        if not (
            limits.min_concentration_ng_per_ml
            <= concentration
            <= limits.max_concentration_ng_per_ml
        ):
            return NakCode.CONCENTRATION_OUT_OF_RANGE
        if added_ul > model.reservoir_capacity_ul:
            return NakCode.OVERFILL
        old = self.concentration_ng_per_ml
        changing = concentration != old
        if bridge_ng and not changing:
            return NakCode.INVALID_ARGUMENT  # a bridge bolus goes with a change
        if bridge_ng and waive:
            return NakCode.INVALID_ARGUMENT  # give it or waive it, not both
        if changing and not bridge_ng and not waive:
            return NakCode.BRIDGE_BOLUS_REQUIRED
        if bridge_ng and not self.running:
            return NakCode.PUMP_STOPPED  # it would not be delivered: resume first, or waive
        if bridge_ng > limits.bridge_bolus_max_ng:
            return NakCode.BOLUS_TOO_LARGE
        if any(self._flow_too_low(d, concentration) for _, d in self.program()):
            return NakCode.BELOW_MIN_FLOW
        now = self.now_ms
        bridge = None
        if bridge_ng:
            bridge = ReferenceBolus(
                request_id, now, bridge_ng, BRIDGE_BOLUS_MS, True, now + BRIDGE_BOLUS_MS
            )
            if self.peak_24h_ng(self.dose_ng_per_day, bridge) > limits.max_dose_ng_per_day:
                return NakCode.DAILY_LIMIT
        ratio = Fraction(concentration, old)
        large = ratio >= CONCENTRATION_FACTOR or ratio <= Fraction(1, CONCENTRATION_FACTOR)
        if large and not confirm_large_change:
            return NakCode.LARGE_CHANGE_UNCONFIRMED
        expected_ul = math.floor(self.reservoir_nl / 1000)
        if abs(residual_ul - expected_ul) > model.refill_tolerance_ul:
            if not discrepancy_acknowledged:
                return NakCode.DISCREPANCY_UNACKNOWLEDGED
            self.discrepancy = True
        # The battery counts the volume a fill moved in whole nL (the rest is dropped).
        moved = self.fill_nl - self.reservoir_nl
        if self.battery_used_uah < BATTERY_UAH:
            self.battery_used_uah -= (moved - math.floor(moved)) * BATTERY_UAH_PER_ML / NL_PER_ML
        self.fill_nl = Fraction(added_ul * 1000)
        self.withdrawn_nl += self.reservoir_nl
        self.added_nl += added_ul * 1000
        self.reservoir_nl = Fraction(added_ul * 1000)
        self.concentration_ng_per_ml = concentration
        if bridge is not None:
            self.boluses.append(bridge)
            self._use_battery(now, now, Fraction(0), boluses=1)
        self._settle()
        return None

    def catheter_check(self) -> None:
        self.leak_found = self.catheter == "leak"
        self._forget_acknowledgements()

    def ack_alarm(self, code: AlarmCode) -> NakCode | None:
        if code not in self.active_alarms():
            return NakCode.NO_SUCH_ALARM
        if code == AlarmCode.VOLUME_DISCREPANCY:
            self.discrepancy = False
        else:
            self.acknowledged.add(code)
        return None

    # --- the simulation's faults ---------------------------------------------------------

    def set_fault(self, name: str, value: str) -> None:
        if name == "catheter":
            self.catheter = value
        elif name == "motor_stall":
            self.motor_stall = value == "on"
        elif name == "battery":
            self.battery_used_uah = Fraction(BATTERY_UAH * (100 - int(value)), 100)
        else:
            raise ValueError(f"unknown fault {name!r}")
        self._settle()

    def clear_faults(self) -> None:
        self.catheter, self.motor_stall = "patent", False
        self.battery_used_uah = Fraction(0)
        self._settle()


def _dose_at(program: Rated, minute: int) -> int | Fraction:
    return max((step for step in program if step[0] <= minute), key=lambda step: step[0])[1]


def _per_day(periodic: Periodic | None) -> int:
    return 0 if periodic is None else periodic[0] * (MIN_PER_DAY // periodic[2])


def _with_periodic(program: Program, periodic: Periodic | None) -> Rated:
    """Minute by minute: the program, and each periodic bolus spread over its minutes."""
    if periodic is None:
        return program
    dose, duration, interval, first = periodic
    steps: list[tuple[int, int | Fraction]] = []
    for minute in range(MIN_PER_DAY):
        rate: int | Fraction = _dose_at(program, minute)
        if (minute - first) % interval < duration:
            rate += Fraction(dose * MIN_PER_DAY, duration)
        if not steps or steps[-1][1] != rate:
            steps.append((minute, rate))
    return tuple(steps)


def _step_at(program: Rated, ms: int) -> tuple[int | Fraction, int]:
    """The dose in force at ``ms`` and when its step ends."""
    day_ms = ms - ms % DAY_MS
    minute = (ms - day_ms) // 60_000
    later = [s for s, _ in program if s > minute]
    end = day_ms + (later[0] * 60_000 if later else DAY_MS)
    return _dose_at(program, minute), end


def _stepped(program: Rated, start_ms: int, end_ms: int) -> list[tuple[int, int, Fraction]]:
    pieces = []
    t = start_ms
    while t < end_ms:
        dose, step_end = _step_at(program, t)
        until = min(end_ms, step_end)
        pieces.append((t, until, Fraction(dose, DAY_MS)))
        t = until
    return pieces


def _daily(program: Rated) -> Fraction:
    """The day's mean dose: each step's rate for the minutes until the next step starts (the
    same sum as minute by minute through ``_dose_at``, in one pass over the steps)."""
    first: dict[int, int | Fraction] = {}
    for start, rate in program:  # of two steps at one minute, ``_dose_at`` takes the first
        first.setdefault(start, rate)
    starts = sorted(first)
    ends = [*starts[1:], MIN_PER_DAY]
    return Fraction(
        sum(first[s] * (end - s) for s, end in zip(starts, ends, strict=True)), MIN_PER_DAY
    )


def disagreements(pump: Pump, ref: ReferencePump) -> list[str]:
    """Where the pump's state differs from the reference's (empty when they agree)."""
    state, found = pump.state, []

    def differ(what: str, actual: object, expected: object) -> None:
        if actual != expected:
            found.append(f"{what}: pump {actual!r}, reference {expected!r}")

    differ("pump time (ms)", state.anchor_ms, ref.now_ms)
    differ("reservoir (nL)", state.reservoir_nl, ref.reservoir_nl)
    differ("reservoir against the ledger (nL)", state.reservoir_nl, ref.ledger_nl())
    capacity_ul = ref.model.reservoir_capacity_ul
    if not 0 <= state.reservoir_nl <= capacity_ul * 1000:
        found.append(f"reservoir {state.reservoir_nl} nL outside 0-{capacity_ul} µL")
    differ("dose (ng/day)", state.dose_ng_per_day, ref.dose_ng_per_day)
    schedule = None if ref.schedule is None else [list(step) for step in ref.schedule]
    differ("schedule (start_min, ng/day)", state.schedule, schedule)
    differ("periodic boluses", state.periodic, None if ref.periodic is None else list(ref.periodic))
    differ("demand bolus", state.demand, None if ref.demand is None else list(ref.demand))
    differ(
        "demand log",
        (state.demand_log, state.demand_log_next),
        (ref.demand_log, ref.demand_log_next),
    )
    differ("concentration (ng/mL)", state.concentration_ng_per_ml, ref.concentration_ng_per_ml)
    differ("running", state.running, ref.running)
    differ("stop reason", StopReason(state.stop_reason), ref.stop_reason)
    differ("last increase (ms)", state.last_increase_ms, ref.last_increase_ms)
    differ("battery used (µAh)", state.battery_used_uah, ref.battery_used_uah)
    differ("alarms", set(state.alarms), ref.active_alarms())
    severities = {AlarmCode(code): Severity(alarm.severity) for code, alarm in state.alarms.items()}
    differ("alarm severities", severities, {c: ref.severity(c) for c in ref.active_alarms()})
    acknowledged = {code for code, alarm in state.alarms.items() if alarm.acknowledged}
    differ("acknowledged alarms", acknowledged, ref.acknowledged)
    # The pump may forget a bolus once no 24 h window reaching now can hold it, not sooner.
    live = [
        (b.request_id, b.start_ms, b.dose_ng, b.end_ms, b.bridge, b.demand)
        for b in ref.boluses
        if b.end_ms > ref.now_ms - DAY_MS
    ]
    kept = [
        (b.request_id, b.start_ms, b.dose_ng, b.end_ms, b.bridge, b.demand) for b in state.boluses
    ]
    differ("boluses (id, start, ng, end, bridge, demand)", kept, live)
    return found


def periodic_request(
    request_id: int, periodic: Periodic | None, believed: tuple[int, int]
) -> SetPeriodicBolusRequest:
    """SET_PERIODIC_BOLUS for ``periodic`` (None: clear them) from a programmer believing
    ``believed``."""
    dose, duration, interval, first = periodic or (0, 0, 0, 0)
    return SetPeriodicBolusRequest(
        request_id=request_id,
        dose_ng=dose,
        duration_min=duration,
        interval_min=interval,
        first_min=first,
        believed_dose_ng=believed[0],
        believed_interval_min=believed[1],
    )


def demand_request(
    request_id: int, settings: tuple[int, int, int, int], believed: tuple[int, int]
) -> SetDemandBolusRequest:
    """SET_DEMAND_BOLUS with ``settings`` (dose ng, duration s, lockout s, count a day; a dose
    of 0 switches them off) from a programmer believing ``believed``."""
    dose, duration, lockout, count = settings
    return SetDemandBolusRequest(
        request_id=request_id,
        dose_ng=dose,
        duration_s=duration,
        lockout_s=lockout,
        per_day=count,
        believed_dose_ng=believed[0],
        believed_per_day=believed[1],
    )
