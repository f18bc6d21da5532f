"""Soak: a year (or any number of days) of simulated therapy on the pump model, checked as it
goes.

A seeded patient and clinician use the pump as they would: demand boluses (some pressed too
soon), visits that titrate up and down, check the catheter, acknowledge alarms and refill
when the reservoir runs low (sometimes late, sometimes at another concentration, sometimes
with a residual that does not match — sending the refill again, acknowledged, confirmed or
with a smaller bridge bolus, when the pump asks, and resuming a stopped pump first or waiving
the bridge bolus when it will not take one), stops and resumes, and faults that come and go
(occlusion, motor stall, leak, a failing battery). Every command goes to the simulator's pump
and is committed to its NV memory as the firmware does; a reference model of the rules
(``pumpctl.testing.reference``) runs beside it.

Checked continuously: every answer is the one the rules give; the reservoir equals, to the
fraction of a nanolitre, the reference's ledger of everything filled, delivered and
withdrawn, and is never negative or above capacity; the alarms are those the state implies;
no 24 h window ever held more drug than the daily maximum (bridge boluses included). Every
``--reload-days`` simulated days the simulator is closed and reopened from its file, and must
come back in exactly the state it had; the event log's indices run on without a gap, and it
holds every accepted command and every refusal.

``python -m pumpctl.testing.soak --days 365 --seed 1`` prints a summary; the suite runs a
short version (tests/faults/test_soak.py).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from firmware_sim.model.library import DrugLibrary, default_library
from firmware_sim.simulator import InitialProgram, Simulator
from pumpctl.protocol.messages import (
    AckAlarmRequest,
    AlarmCode,
    BolusRequest,
    CatheterCheckRequest,
    Command,
    DemandBolusRequest,
    EventCode,
    Message,
    Nak,
    NakCode,
    RefillRequest,
    ResumeRequest,
    ScheduleStep,
    SetRateRequest,
    SetScheduleRequest,
    StopReason,
    StopRequest,
)
from pumpctl.testing.reference import (
    BATTERY_UAH,
    DAY_MS,
    ReferencePump,
    demand_request,
    disagreements,
    periodic_request,
)

HOUR_MS = 3_600_000
EVENT_CAPACITY = 1 << 22  # a year of events without the ring wrapping: loss must be visible
# Flexible-dosing schedules begin once the patient has been titrated on a simple rate for a
# month (and the runs before stay those the regression tests replay).
SCHEDULES_FROM_DAY = 32


class Diverged(Exception):
    """The pump and the rules (or an invariant) disagree; the message says where."""


@dataclass
class SoakReport:
    seed: int
    days: int
    drug: str = ""
    model: str = ""
    commands: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    faults: int = 0
    reloads: int = 0
    events: int = 0
    empty_episodes: int = 0
    worst_24h_ng: Fraction = Fraction(0)
    max_dose_ng_per_day: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        accepted = ", ".join(f"{k} {v}" for k, v in sorted(self.accepted.items()))
        refused = ", ".join(f"{k} {v}" for k, v in sorted(self.refused.items())) or "none"
        worst = float(self.worst_24h_ng / self.max_dose_ng_per_day) * 100
        return "\n".join(
            [
                f"soak seed={self.seed} days={self.days} drug={self.drug} model={self.model}: "
                + ("OK" if self.ok else "FAILED"),
                f"  commands {self.commands}: accepted {sum(self.accepted.values())} ({accepted})",
                f"  refused {sum(self.refused.values())} ({refused})",
                f"  faults injected or cleared {self.faults}, empty reservoir {self.empty_episodes}"
                f" times, NV reloads {self.reloads}, events logged {self.events}",
                f"  fullest 24 h window {worst:.1f} % of the daily maximum",
                f"  {self.seconds:.1f} s",
                *(f"  PROBLEM: {p}" for p in self.problems),
            ]
        )


class Soak:
    def __init__(
        self,
        path: Path,
        seed: int,
        days: int,
        *,
        drug: str | None = None,
        model: str | None = None,
        reload_days: int = 7,
        library: DrugLibrary | None = None,
    ) -> None:
        self.path = path
        self.rng = random.Random(seed)
        # Schedules draw from their own generator: the runs of a seed before they begin stay
        # as they were (tests/faults/test_regressions.py replays some).
        self.schedule_rng = random.Random(f"{seed}-schedule")
        self.demand_rng = random.Random(f"{seed}-demand")  # demand boluses, likewise
        self.days = days
        self.reload_days = reload_days
        library = library or default_library()
        self.drug = drug or self.rng.choice(sorted(library.drugs))
        model_name = model or self.rng.choice(sorted(library.pump_models))
        limits, pump_model = library.limits_for(self.drug), library.model(model_name)
        concentration = self.rng.choice(
            [limits.max_concentration_ng_per_ml, limits.min_concentration_ng_per_ml]
        )
        top = limits.max_dose_ng_per_day
        start = self.rng.choice([top // 8, top * 9 // 10])
        dose = max(self._min_flow_dose(concentration, pump_model.min_flow_nl_per_day), start)
        program = InitialProgram(
            drug=self.drug,
            concentration_ng_per_ml=concentration,
            dose_ng_per_day=min(dose, limits.max_dose_ng_per_day),
            volume_ul=pump_model.reservoir_capacity_ul,
            model=model_name,
            serial_number=f"SOAK{seed}",
            frozen_clock=True,
        )
        self.sim = Simulator(path, program, library, event_capacity=EVENT_CAPACITY)
        self.limits, self.model = limits, pump_model
        self.start_ms = self.sim.pump.state.anchor_ms
        self.ref = ReferencePump.implanted(
            limits,
            pump_model,
            now_ms=self.start_ms,
            dose_ng_per_day=program.dose_ng_per_day,
            concentration_ng_per_ml=program.concentration_ng_per_ml,
            volume_ul=program.volume_ul,
        )
        self.report = SoakReport(seed, days, self.drug, model_name)
        self.report.max_dose_ng_per_day = limits.max_dose_ng_per_day
        self.next_id = seed << 32
        self.accepted_ids: set[int] = set()
        self.expected_events: Counter[EventCode] = Counter({EventCode.BOOT: 1})
        self.events_read = 0
        self.logged: Counter[EventCode] = Counter()
        self.logged_ids: set[int] = set()
        self.last_event_ms = 0
        self.window_checked_ms = self.start_ms
        self.clinician_stop = False
        self.target_dose = self.rng.choice([top, top - limits.bolus_max_ng, top * 3 // 4])

    @staticmethod
    def _min_flow_dose(concentration: int, min_flow_nl_per_day: int) -> int:
        return math.ceil(min_flow_nl_per_day * concentration / 1_000_000)

    # --- running -------------------------------------------------------------------------

    def run(self) -> SoakReport:
        started = time.perf_counter()
        try:
            for day in range(self.days):
                self._day(day)
                if (day + 1) % self.reload_days == 0:
                    self._reload()
            self._check_event_log()
        except Diverged as error:
            self.report.problems.append(
                f"day {(self.ref.now_ms - self.start_ms) / DAY_MS:.3f}: {error}"
            )
        finally:
            self.sim.close()
            self.report.seconds = time.perf_counter() - started
        return self.report

    def _day(self, day: int) -> None:
        rng = self.rng
        day_start = self.start_ms + day * DAY_MS
        plan: list[tuple[int, str]] = []
        if self.limits.bolus_max_ng:
            plan += [(rng.randrange(DAY_MS), "bolus") for _ in range(rng.randint(0, 5))]
        alarmed = bool(self.ref.active_alarms() - self.ref.acknowledged) or not self.ref.running
        if rng.random() < 0.25 or (alarmed and rng.random() < 0.8):
            plan.append((rng.randrange(8 * HOUR_MS, 18 * HOUR_MS), "visit"))
        if rng.random() < 0.04:
            plan.append((rng.randrange(DAY_MS), "fault"))
        if rng.random() < 0.02:
            plan.append((rng.randrange(DAY_MS), "stop"))
        if self.clinician_stop and rng.random() < 0.7:
            plan.append((rng.randrange(DAY_MS), "resume"))
        if self.ref.demand is not None:  # the patient presses, some too soon
            presses = self.demand_rng.randint(0, 8)
            plan += [(self.demand_rng.randrange(DAY_MS), "press") for _ in range(presses)]
        actions = {
            "bolus": self._bolus,
            "visit": self._visit,
            "fault": self._fault,
            "stop": self._stop,
            "resume": self._resume,
            "press": self._press,
        }
        for offset, action in sorted(plan):
            self._advance_to(day_start + offset)
            actions[action]()
        self._advance_to(day_start + DAY_MS)

    def _advance_to(self, target_ms: int) -> None:
        if target_ms <= self.ref.now_ms:
            return
        empty_before = self.ref.reservoir_nl <= 0
        self.sim.advance(target_ms - self.ref.now_ms)
        self.ref.advance_to(target_ms)
        if not empty_before and self.ref.reservoir_nl <= 0:
            self.report.empty_episodes += 1
        self._check()

    # --- who does what -------------------------------------------------------------------

    def _command(self, request: Command, expected: NakCode | None, what: str) -> Message:
        sim = self.sim
        with sim.lock:
            reply = sim.pump.handle(request)
            sim.store.commit(sim.pump.state)  # one transaction per command, as the firmware
        self.report.commands += 1
        kind = type(request).__name__.removesuffix("Request")
        got = NakCode(reply.code) if isinstance(reply, Nak) else None
        if got != expected:
            raise Diverged(f"{what}: pump answered {reply!r}, the rules say {expected!r}")
        if got is None:
            self.report.accepted[kind] += 1
            self.accepted_ids.add(request.request_id)
        else:
            self.report.refused[f"{kind}:{got.name}"] += 1
            self.expected_events[EventCode.REFUSED] += 1
        self._check()
        return reply

    def _request_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _bolus(self) -> None:
        dose = self.limits.bolus_max_ng
        if self.rng.random() < 0.3:
            dose = self.rng.randint(1, dose)
        duration_s = self.rng.choice([60, 600, 1800, 3600])
        request_id = self._request_id()
        expected = self.ref.bolus(request_id, dose, duration_s)
        request = BolusRequest(request_id=request_id, dose_ng=dose, duration_s=duration_s)
        self._command(request, expected, f"bolus {dose} ng over {duration_s} s")
        if expected is None:
            self.expected_events[EventCode.BOLUS_STARTED] += 1

    def _stop(self) -> None:
        self.ref.stop()
        self._command(StopRequest(request_id=self._request_id()), None, "stop")
        self.clinician_stop = True

    def _resume(self) -> None:
        expected = self.ref.resume()
        self._command(ResumeRequest(request_id=self._request_id()), expected, "resume")
        if expected is None:
            self.clinician_stop = False
            self.expected_events[EventCode.RESUMED] += 1

    def _fault(self) -> None:
        rng = self.rng
        name, value = rng.choice(
            [
                ("catheter", "occluded"),
                ("catheter", "partial"),
                ("catheter", "leak"),
                ("motor_stall", "on"),
                ("battery", str(rng.choice([25, 20, 15, 10, 5, 3, 0]))),
            ]
        )
        self._inject(name, value)

    def _inject(self, name: str, value: str) -> None:
        self.sim.set_fault(name, value)
        self.ref.set_fault(name, value)
        self.report.faults += 1
        self.expected_events[EventCode.FAULT_INJECTED] += 1
        self._check()

    def _visit(self) -> None:
        """The clinician interrogates, fixes what is wrong, maybe titrates, maybe refills."""
        rng, ref = self.rng, self.ref
        # A battery fault leaves 25 % or less; the battery's own drain takes years to get there.
        weak = ref.battery_left_uah * 4 <= BATTERY_UAH
        faulty = ref.catheter != "patent" or ref.motor_stall or weak
        if faulty and rng.random() < 0.7:
            self.sim.clear_faults()
            self.ref.clear_faults()
            self.report.faults += 1
            self.expected_events[EventCode.FAULT_INJECTED] += 1
            self._check()
        if rng.random() < 0.3 or AlarmCode.CATHETER_LEAK in ref.active_alarms():
            ref.catheter_check()
            self._command(CatheterCheckRequest(request_id=self._request_id()), None, "check")
            self.expected_events[EventCode.CATHETER_CHECKED] += 1
        low_ul = self.model.low_reservoir_ul
        due = ref.reservoir_nl <= (low_ul + 2000) * 1000 or rng.random() < 0.03
        if due and rng.random() < 0.9:  # sometimes the refill waits for the next visit
            self._refill()
        for code in sorted(ref.active_alarms() - ref.acknowledged):
            if rng.random() < 0.9:
                expected = ref.ack_alarm(code)
                request = AckAlarmRequest(request_id=self._request_id(), code=code)
                self._command(request, expected, f"ack {code.name}")
                if expected is None:
                    self.expected_events[EventCode.ALARM_ACKNOWLEDGED] += 1
        if not ref.running and (ref.stop_reason != StopReason.CLINICIAN or rng.random() < 0.5):
            self._resume()
        if rng.random() < 0.8:
            self._titrate()

    def _titrate(self) -> None:
        rng, ref, limits = self.rng, self.ref, self.limits
        day = (ref.now_ms - self.start_ms) // DAY_MS
        if day >= SCHEDULES_FROM_DAY:
            roll = self.schedule_rng.random()
            if roll < 0.15:
                self._reschedule()
                return
            if roll < 0.2:
                self._periodic()
                return
            if roll < 0.25:
                self._demand()
                return
        current = ref.dose_ng_per_day
        step = min(limits.max_step_ng_per_day, current * limits.max_step_pct // 100)
        floor_dose = self._min_flow_dose(
            ref.concentration_ng_per_ml, self.model.min_flow_nl_per_day
        )
        roll = rng.random()
        believed = current
        # Titrate towards the patient's need, which wanders and often sits near the maximum
        # (where the 24 h rule bites), with the odd mistake a programmer must catch.
        if rng.random() < 0.05:
            self.target_dose = rng.randint(floor_dose, limits.max_dose_ng_per_day)
        if roll < 0.8:
            if self.target_dose > current:
                new = current + rng.randint(1, max(1, min(step, self.target_dose - current)))
            else:
                new = max(floor_dose, current - rng.randint(0, max(1, current // 4)))
        elif roll < 0.9:
            new = current + step + rng.randint(1, 1000)  # too large a step
        elif roll < 0.95:
            new, believed = current + 1, current - 1  # a stale programmer
        elif roll < 0.99:
            new = max(0, floor_dose - 1)  # below the minimum flow
        else:
            new = limits.max_dose_ng_per_day + 1
        expected = ref.set_rate(new, believed, False)
        request = SetRateRequest(
            request_id=self._request_id(),
            dose_ng_per_day=new,
            believed_dose_ng_per_day=believed,
        )
        scheduled = ref.schedule is not None
        self._command(request, expected, f"set rate {current} -> {new} (believed {believed})")
        if expected is None:
            self.expected_events[EventCode.RATE_CHANGED] += 1
            if scheduled:
                self.expected_events[EventCode.SCHEDULE_CLEARED] += 1

    def _periodic(self) -> None:
        """Periodic boluses of up to the bolus maximum every 4 to 24 h, or none, now and
        then more than the maximum bolus or the day allows."""
        rng, ref, limits = self.schedule_rng, self.ref, self.limits
        old = ref.periodic
        if old is not None and rng.random() < 0.4:
            periodic = None
        else:
            dose = rng.randint(1, max(1, limits.bolus_max_ng + limits.bolus_max_ng // 10))
            every_h = rng.choice([4, 6, 8, 12, 24])
            periodic = (
                dose,
                rng.choice([10, 30, 60]),
                every_h * 60,
                rng.randrange(every_h * 4) * 15,
            )
        believed = ref.periodic_believed()
        expected = ref.set_periodic(periodic, believed)
        request = periodic_request(self._request_id(), periodic, believed)
        self._command(request, expected, f"set periodic boluses {old} -> {periodic}")
        if expected is None:
            self.expected_events[EventCode.PERIODIC_BOLUS_SET] += 1

    def _demand(self) -> None:
        """The patient's demand bolus set, changed or switched off; now and then beyond the
        bolus limits, the drug's minimum duration or the daily maximum."""
        rng, ref, limits = self.demand_rng, self.ref, self.limits
        old = ref.demand
        settings: tuple[int, int, int, int] | None = None
        if old is None or rng.random() < 0.7:
            settings = (
                rng.randint(1, max(1, limits.bolus_max_ng + limits.bolus_max_ng // 10)),
                rng.choice([300, 600, 900, 1800]),
                limits.bolus_lockout_s + rng.choice([-600, 0, 0, 3600]),
                rng.randint(1, max(1, limits.max_boluses_per_day + 1)),
            )
        believed = ref.demand_believed()
        expected = ref.set_demand(settings, believed)
        dose, duration, lockout, count = settings or (0, 0, 0, 0)
        request = demand_request(
            self._request_id(), (dose, duration, max(0, lockout), count), believed
        )
        self._command(request, expected, f"set demand boluses {old} -> {settings}")
        if expected is None:
            self.expected_events[EventCode.DEMAND_BOLUS_SET] += 1

    def _press(self) -> None:
        """The patient's activation: given or refused, always in the activation log."""
        request_id = self._request_id()
        expected, new_entry = self.ref.demand_bolus(request_id)
        sim = self.sim
        with sim.lock:
            reply = sim.pump.handle(DemandBolusRequest(request_id=request_id), patient=True)
            sim.store.commit(sim.pump.state)
        self.report.commands += 1
        got = NakCode(reply.code) if isinstance(reply, Nak) else None
        if got != expected:
            raise Diverged(f"demand bolus: pump answered {reply!r}, the rules say {expected!r}")
        if got is None:
            self.report.accepted["DemandBolus"] += 1
            self.accepted_ids.add(request_id)
            self.expected_events[EventCode.BOLUS_STARTED] += 1
        else:
            self.report.refused[f"DemandBolus:{got.name}"] += 1
            if new_entry:
                self.expected_events[EventCode.DEMAND_BOLUS_REFUSED] += 1
        self._check()

    def _reschedule(self) -> None:
        """A flexible-dosing schedule of 2 to 6 steps on the 15 min grid, each step moved
        from what the program in force delivers then, mostly within the step limits and
        towards the patient's need, now and then beyond them."""
        rng, ref, limits = self.schedule_rng, self.ref, self.limits
        old = ref.program()
        minutes = sorted({0, *(rng.randrange(96) * 15 for _ in range(rng.randint(1, 5)))})
        steps: list[tuple[int, int]] = []
        for minute in minutes:
            before = max(step for step in old if step[0] <= minute)[1]
            room = min(limits.max_step_ng_per_day, before * limits.max_step_pct // 100)
            if rng.random() < 0.9:
                up = self.target_dose > before
                change = rng.randint(0, max(1, room)) * (1 if up else -1)
            else:
                change = room + rng.randint(1, 1000)  # too large a step
            dose = max(0, before + change)
            if not steps or steps[-1][1] != dose:
                steps.append((minute, dose))
        if len(steps) < 2:
            return
        program = tuple(steps)
        expected = ref.set_schedule(program, old, False)
        request = SetScheduleRequest(
            request_id=self._request_id(),
            steps=[ScheduleStep(start_min=m, dose_ng_per_day=d) for m, d in program],
            believed_steps=[ScheduleStep(start_min=m, dose_ng_per_day=d) for m, d in old],
        )
        self._command(request, expected, f"set schedule {old} -> {program}")
        if expected is None:
            self.expected_events[EventCode.SCHEDULE_SET] += 1

    def _refill(self) -> None:
        rng, ref, limits, model = self.rng, self.ref, self.limits, self.model
        expected_ul = math.floor(ref.reservoir_nl / 1000)
        tolerance = model.refill_tolerance_ul
        if rng.random() < 0.9:
            withdrawn = max(0, expected_ul + rng.randint(-tolerance, tolerance))
        else:
            withdrawn = expected_ul + tolerance + rng.randint(1, 3000)  # a pocket fill?
        capacity = model.reservoir_capacity_ul
        added = capacity if rng.random() < 0.7 else rng.randint(capacity // 2, capacity)
        concentration, bridge, waive = ref.concentration_ng_per_ml, 0, False
        if rng.random() < 0.15:
            concentration = rng.choice(
                [limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml]
            )
            if rng.random() < 0.5:
                # Up to half a day's dose, now and then more than the day has room for.
                bridge = rng.randint(1, max(1, ref.dose_ng_per_day // 2))
            else:
                waive = rng.random() < 0.9
        changing = concentration != ref.concentration_ng_per_ml
        acknowledged = confirmed = False
        # The clinician sends what was planned; when the pump asks for a confirmation (a
        # residual beyond the tolerance, a concentration ×2 or ÷2), refuses a bridge bolus
        # above the maximum or one without a concentration change, the clinician confirms,
        # gives the maximum or none, and sends it again. A stopped pump will not take a
        # bridge bolus: the clinician resumes it first when it can, or waives the bolus.
        for _ in range(5):
            request_id = self._request_id()
            expected = ref.refill(
                request_id,
                withdrawn,
                added,
                concentration,
                bridge,
                waive,
                discrepancy_acknowledged=acknowledged,
                confirm_large_change=confirmed,
            )
            request = RefillRequest(
                request_id=request_id,
                residual_withdrawn_ul=withdrawn,
                volume_added_ul=added,
                concentration_ng_per_ml=concentration,
                bridge_bolus_ng=bridge,
                waive_bridge_bolus=waive,
                discrepancy_acknowledged=acknowledged,
                confirm_large_change=confirmed,
            )
            self._command(request, expected, f"refill {added} µL at {concentration} ng/mL")
            if expected == NakCode.DISCREPANCY_UNACKNOWLEDGED:
                acknowledged = True
            elif expected == NakCode.LARGE_CHANGE_UNCONFIRMED:
                confirmed = True
            elif expected == NakCode.BOLUS_TOO_LARGE and bridge > limits.bridge_bolus_max_ng:
                bridge = limits.bridge_bolus_max_ng
            elif expected == NakCode.INVALID_ARGUMENT and not changing:
                bridge = 0  # the concentration stays: no bridge bolus
            elif expected == NakCode.PUMP_STOPPED:
                # The refusal says whether the pump can resume (no stall, not empty).
                can_resume = not ref.motor_stall and ref.reservoir_nl > 0
                if can_resume and rng.random() < 0.5:
                    self._resume()
                else:
                    bridge, waive = 0, True
            else:
                break
        if expected is None:
            self.expected_events[EventCode.REFILLED] += 2 if changing and not bridge else 1
            if changing and bridge:
                self.expected_events[EventCode.BOLUS_STARTED] += 1

    # --- checks --------------------------------------------------------------------------

    def _check(self) -> None:
        ref = self.ref
        problems = disagreements(self.sim.pump, ref)
        if problems:
            raise Diverged("; ".join(problems))
        worst = ref.worst_delivered_24h_ng(self.window_checked_ms)
        self.report.worst_24h_ng = max(self.report.worst_24h_ng, worst)
        if worst > self.limits.max_dose_ng_per_day:
            raise Diverged(f"{worst} ng delivered in one 24 h window")
        self.window_checked_ms = max(self.window_checked_ms, ref.now_ms - DAY_MS)
        ref.forget_before(ref.now_ms - 2 * DAY_MS)

    def _reload(self) -> None:
        """Power the simulator down and up from its NV file: the same pump must come back."""
        before = self.sim.pump.state.to_json()
        library = self.sim.pump.library
        self.sim.close()
        self.sim = Simulator(self.path)
        self.report.reloads += 1
        self.expected_events[EventCode.BOOT] += 1
        after = self.sim.pump.state.to_json()
        if after != before or self.sim.pump.library != library:
            changed = sorted(k for k in before if before[k] != after.get(k))
            raise Diverged(f"the state reloaded from NV memory differs in {changed}")
        self._check()
        self._check_event_log()

    def _check_event_log(self) -> None:
        """The events logged since the last look: contiguous indices, nothing overwritten,
        in time order; at the end, one for every accepted command and every refusal."""
        store = self.sim.store
        while True:
            page = store.read_events(self.events_read, 1000)
            if page.oldest_index != 0 or page.overflow_count:
                raise Diverged(f"the event log lost events (oldest {page.oldest_index})")
            if not page.events:
                break
            for stored in page.events:
                if stored.index != self.events_read:
                    raise Diverged(f"event index {stored.index} where {self.events_read} was due")
                event = stored.event
                if event.time_ms < self.last_event_ms:
                    raise Diverged(f"event {stored.index} is older than the one before it")
                self.last_event_ms = event.time_ms
                self.events_read += 1
                self.logged[event.code] += 1
                self.logged_ids.add(event.request_id)
        self.report.events = self.events_read
        for code, count in self.expected_events.items():
            if self.logged[code] != count:
                raise Diverged(f"{count} {code.name} events expected, {self.logged[code]} logged")
        missing = self.accepted_ids - self.logged_ids
        if missing:
            raise Diverged(f"{len(missing)} accepted commands are not in the event log")


def run_soak(
    days: int,
    seed: int,
    *,
    drug: str | None = None,
    model: str | None = None,
    reload_days: int = 7,
) -> SoakReport:
    with tempfile.TemporaryDirectory(prefix="pumpsoak-") as scratch:
        soak = Soak(
            Path(scratch) / "pump.db", seed, days, drug=drug, model=model, reload_days=reload_days
        )
        return soak.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pumpctl.testing.soak",
        description="Simulated therapy on the pump model with continuous invariant checks.",
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drug", default=None, help="default: chosen by the seed")
    parser.add_argument("--model", default=None, help="IT-20 or IT-40; default: by the seed")
    parser.add_argument(
        "--reload-days", type=int, default=7, help="reopen the simulator from NV every N days"
    )
    args = parser.parse_args(argv)
    report = run_soak(
        args.days, args.seed, drug=args.drug, model=args.model, reload_days=args.reload_days
    )
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
