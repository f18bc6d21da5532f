"""A rule-based state machine throws random clinician commands, faults and time at the pump
model and compares every answer with a reference model of the rules
(``pumpctl.testing.reference``, written apart from the pump).

After every step: the pump accepted exactly what the reference allows, refusing with the same
rule; the reservoir is exactly what the reference integrated (fractions of a nanolitre) and
within the reservoir; the alarms are those the state implies; events are in time order; no
24 h window ever held more drug than the daily maximum (continuous dose, demand and bridge
boluses, as they actually left the reservoir); and the state survives a round trip through
its NV form.

The suite runs a short, derandomised version. A long run, with fresh random examples::

    PUMP_STATEFUL_EXAMPLES=2000 PUMP_STATEFUL_STEPS=100 \\
        python -m pytest tests/faults/test_pump_state_machine.py -p no:cacheprovider

(docs/faults.md gives the times.) A failure prints the steps that reproduce it; keep them as a
named test in tests/faults/test_regressions.py once the root cause is fixed.
"""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from firmware_sim.model.events import Event
from firmware_sim.model.library import default_library
from firmware_sim.model.pump import Pump
from firmware_sim.model.state import PumpState
from firmware_sim.simulator import DEFAULT_START_MS, InitialProgram, first_boot
from pumpctl.protocol.messages import (
    AckAlarmRequest,
    AlarmCode,
    BolusRequest,
    BolusResponse,
    CatheterCheckRequest,
    DemandBolusRequest,
    Message,
    Nak,
    NakCode,
    RefillRequest,
    RefillResponse,
    ResumeRequest,
    ScheduleStep,
    SetRateRequest,
    SetRateResponse,
    SetScheduleRequest,
    SetScheduleResponse,
    StatusRequest,
    StatusResponse,
    StopRequest,
)
from pumpctl.testing.reference import (
    DAY_MS,
    ReferencePump,
    demand_request,
    disagreements,
    periodic_request,
)

EXAMPLES = int(os.environ.get("PUMP_STATEFUL_EXAMPLES", "60"))
STEPS = int(os.environ.get("PUMP_STATEFUL_STEPS", "50"))
LONG_RUN = "PUMP_STATEFUL_EXAMPLES" in os.environ or "PUMP_STATEFUL_STEPS" in os.environ

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
LIBRARY = default_library()


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def append(self, event: Event) -> None:
        self.events.append(event)


def refusal(reply: Message) -> NakCode | None:
    return NakCode(reply.code) if isinstance(reply, Nak) else None


@st.composite
def programs(draw: st.DrawFn) -> InitialProgram:
    """A first-boot program the pump accepts, often at the edges of its ranges."""
    drug = draw(st.sampled_from(sorted(LIBRARY.drugs)))
    model = LIBRARY.model(draw(st.sampled_from(sorted(LIBRARY.pump_models))))
    limits = LIBRARY.limits_for(drug)
    low, high = limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml
    concentration = draw(st.sampled_from([low, high]) | st.integers(low, high))
    min_dose = math.ceil(model.min_flow_nl_per_day * concentration / 1_000_000)
    top = limits.max_dose_ng_per_day
    # Near the top, the 24 h maximum and the boluses meet.
    near_top = max(min_dose, top - 2 * limits.bolus_max_ng, top - top // 50)
    dose = draw(st.sampled_from([near_top, min_dose, top]) | st.integers(min_dose, top))
    low_ul, capacity = model.low_reservoir_ul, model.reservoir_capacity_ul
    volume = draw(
        st.sampled_from([0, 1, 150, low_ul, low_ul + 1, capacity]) | st.integers(0, capacity)
    )
    return InitialProgram(
        drug=drug,
        concentration_ng_per_ml=concentration,
        dose_ng_per_day=dose,
        volume_ul=volume,
        model=model.name,
        serial_number="SM",
        frozen_clock=True,
    )


class PumpMachine(RuleBasedStateMachine):
    pump: Pump
    ref: ReferencePump
    log: Log

    def __init__(self) -> None:
        super().__init__()
        self.next_id = 0
        self.checked_events = 0
        self.checked_window_ms = DEFAULT_START_MS

    def request_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # --- set-up --------------------------------------------------------------------------

    @initialize(program=programs())
    def implant(self, program: InitialProgram) -> None:
        state, library = first_boot(program, LIBRARY)
        self.log = Log()
        self.pump = Pump(state, library, self.log)
        self.pump.reconcile()
        self.ref = ReferencePump.implanted(
            library.limits_for(program.drug),
            library.model(program.model),
            now_ms=state.anchor_ms,
            dose_ng_per_day=program.dose_ng_per_day,
            concentration_ng_per_ml=program.concentration_ng_per_ml,
            volume_ul=program.volume_ul,
        )

    def _agree(self, reply: Message, expected: NakCode | None, what: str) -> None:
        assert refusal(reply) == expected, f"{what}: pump said {reply!r}, rules say {expected!r}"

    # --- the clinician -------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(
            [
                "step",
                "max",
                "up",
                "down",
                "step",
                "max",
                "same",
                "above_max",
                "min_flow",
                "below_min_flow",
                "times10",
                "tenth",
                "above_tenth",
                "any",
            ]
        ),
        amount=st.integers(0, 1 << 20),
        stale=st.sampled_from([0, 0, 0, 1, -1, 1000]),
        confirm=st.booleans(),
    )
    def set_rate(self, kind: str, amount: int, stale: int, confirm: bool) -> None:
        limits, ref = self.pump.limits, self.ref
        current = ref.dose_ng_per_day
        step = min(limits.max_step_ng_per_day, current * limits.max_step_pct // 100)
        min_flow_dose = math.ceil(
            self.pump.model.min_flow_nl_per_day * ref.concentration_ng_per_ml / 1_000_000
        )
        new = {
            "step": current + step,  # the largest increase the step rules allow, exactly
            "up": current + 1 + amount % max(1, step + step // 4),
            "down": max(0, current - 1 - amount % max(1, current)),
            "same": current,
            "max": limits.max_dose_ng_per_day,
            "above_max": limits.max_dose_ng_per_day + 1 + amount % 1000,
            "min_flow": min_flow_dose,
            "below_min_flow": max(0, min_flow_dose - 1 - amount % 10),
            "times10": current * limits.large_change_factor,
            "tenth": current // limits.large_change_factor,  # a cut to a tenth or less
            "above_tenth": current // limits.large_change_factor + 1,
            "any": amount * (2 * limits.max_dose_ng_per_day) >> 20,
        }[kind]
        new = min(new, (1 << 32) - 1)
        believed = max(0, current + stale)
        expected = ref.set_rate(new, believed, confirm)
        reply = self.pump.handle(
            SetRateRequest(
                request_id=self.request_id(),
                dose_ng_per_day=new,
                believed_dose_ng_per_day=believed,
                confirm_large_change=confirm,
            )
        )
        self._agree(reply, expected, f"set_rate {current} -> {new} ({kind}, believed {believed})")
        if expected is None:
            assert isinstance(reply, SetRateResponse)
            assert (reply.dose_ng_per_day, reply.previous_dose_ng_per_day) == (new, current)

    @rule(
        starts=st.lists(st.integers(0, 95), min_size=1, max_size=6, unique=True),
        factors=st.lists(
            st.sampled_from([75, 90, 100, 105, 110, 125, 126, 200, 1000]), min_size=6, max_size=6
        ),
        shape=st.sampled_from(["ok", "ok", "ok", "off_grid", "stale", "one_step"]),
        confirm=st.booleans(),
    )
    def set_schedule(
        self, starts: list[int], factors: list[int], shape: str, confirm: bool
    ) -> None:
        """A schedule of up to 6 steps on the 15 min grid, each dose a percentage of what
        the program in force delivers at that time (within the step, at it, or beyond)."""
        ref = self.ref
        old = ref.program()
        minutes = sorted({0, *(q * 15 for q in starts)})
        if shape == "off_grid":
            minutes = [0, *(m + 7 for m in minutes[1:])] if len(minutes) > 1 else [0, 7]
        if shape == "one_step":
            minutes = [0]
        steps: list[tuple[int, int]] = []
        for minute, factor in zip(minutes, factors, strict=False):
            before = max(s for s in old if s[0] <= minute)[1]
            steps.append((minute, before * factor // 100))
        program = tuple(steps)
        believed = old if shape != "stale" else ((0, ref.dose_ng_per_day + 1),)
        expected = ref.set_schedule(program, believed, confirm)
        reply = self.pump.handle(
            SetScheduleRequest(
                request_id=self.request_id(),
                steps=[ScheduleStep(start_min=m, dose_ng_per_day=d) for m, d in program],
                believed_steps=[ScheduleStep(start_min=m, dose_ng_per_day=d) for m, d in believed],
                confirm_large_change=confirm,
            )
        )
        self._agree(reply, expected, f"set_schedule {old} -> {program} ({shape})")
        if expected is None:
            assert isinstance(reply, SetScheduleResponse)
            assert reply.dose_ng_per_day == ref.dose_ng_per_day

    @rule(
        dose=st.sampled_from(["max", "half", "small", "over", "clear"]),
        every_h=st.sampled_from([1, 4, 6, 6, 8, 24, 5]),
        duration=st.sampled_from([1, 10, 30, 60, 0]),
        first=st.sampled_from([0, 15, 120, 7]),
        stale=st.booleans(),
    )
    def set_periodic(self, dose: str, every_h: int, duration: int, first: int, stale: bool) -> None:
        """Periodic boluses of the bolus maximum or less (or more), at times that repeat
        daily or not, from a programmer that read the pump or one that did not."""
        ref, limits = self.ref, self.pump.limits
        amount = {
            "max": limits.bolus_max_ng,
            "half": limits.bolus_max_ng // 2,
            "small": 1 + limits.bolus_max_ng // 10,
            "over": limits.bolus_max_ng + 1,
            "clear": 0,
        }[dose]
        periodic = (amount, duration, every_h * 60, first) if amount else None
        old = ref.periodic
        believed = ref.periodic_believed()
        if stale:
            believed = (believed[0] + 1, believed[1])
        expected = ref.set_periodic(periodic, believed)
        reply = self.pump.handle(periodic_request(self.request_id(), periodic, believed))
        self._agree(reply, expected, f"set_periodic {old} -> {periodic} (stale {stale})")

    @rule(
        dose=st.sampled_from(["max", "small", "any", "over", "zero"]),
        amount=st.integers(1, 1 << 20),
        duration_s=st.sampled_from([600, 60, 1, 3600, 6 * 3600, 30 * 3600, 0])
        | st.integers(1, 48 * 3600),
    )
    def bolus(self, dose: str, amount: int, duration_s: int) -> None:
        top = self.pump.limits.bolus_max_ng
        dose_ng = {
            "max": top,
            "over": top + 1 + amount % 1000,
            "zero": 0,
            "small": 1 + amount % max(1, top // 10),
            "any": amount * 2 * max(top, 1000) >> 20,
        }[dose]
        self._bolus(dose_ng, duration_s)

    @rule(
        count=st.integers(2, 6),
        gap_ms=st.sampled_from([0, -1, 1, 3_600_000]),
        duration_s=st.sampled_from([600, 60, 4 * 3600]),
    )
    def boluses_at_the_lockout(self, count: int, gap_ms: int, duration_s: int) -> None:
        """The patient presses as often as the lockout allows (or a millisecond sooner):
        the count, lockout and 24 h rules meet here."""
        limits = self.pump.limits
        for _ in range(count):
            self._bolus(max(1, limits.bolus_max_ng), duration_s)
            self._advance(max(1, limits.bolus_lockout_s * 1000 + gap_ms))
            self._check_all()

    @rule(
        dose=st.sampled_from(["max", "half", "over", "off"]),
        duration_s=st.sampled_from([600, 900, 599, 4 * 3600, 5 * 3600]),
        lockout=st.sampled_from(["library", "longer", "shorter"]),
        per_day=st.integers(0, 7),
        stale=st.booleans(),
    )
    def set_demand(
        self, dose: str, duration_s: int, lockout: str, per_day: int, stale: bool
    ) -> None:
        """The clinician's demand-bolus settings, within the limits or just beyond one."""
        ref, limits = self.ref, self.pump.limits
        amount = {
            "max": limits.bolus_max_ng,
            "half": max(1, limits.bolus_max_ng // 2),
            "over": limits.bolus_max_ng + 1,
            "off": 0,
        }[dose]
        lockout_s = {
            "library": limits.bolus_lockout_s,
            "longer": limits.bolus_lockout_s + 3600,
            "shorter": max(1, limits.bolus_lockout_s - 1),
        }[lockout]
        settings = (amount, duration_s, lockout_s, per_day) if amount else None
        old = ref.demand
        believed = ref.demand_believed()
        if stale:
            believed = (believed[0] + 1, believed[1])
        expected = ref.set_demand(settings, believed)
        request = demand_request(
            self.request_id(), (amount, duration_s, lockout_s, per_day), believed
        )
        reply = self.pump.handle(request)
        self._agree(reply, expected, f"set_demand {old} -> {settings} (stale {stale})")

    @rule(presses=st.integers(1, 4), gap_ms=st.sampled_from([0, 1, 3_600_000, 4 * 3_600_000]))
    def demand_presses(self, presses: int, gap_ms: int) -> None:
        """The patient presses, again and again or once the lockout is over: given or refused,
        every press is in the activation log."""
        for _ in range(presses):
            request_id = self.request_id()
            expected, _ = self.ref.demand_bolus(request_id)
            reply = self.pump.handle(DemandBolusRequest(request_id=request_id), patient=True)
            self._agree(reply, expected, "demand bolus")
            self._advance(gap_ms)
            self._check_all()

    def _bolus(self, dose_ng: int, duration_s: int) -> None:
        request_id = self.request_id()
        expected = self.ref.bolus(request_id, dose_ng, duration_s)
        reply = self.pump.handle(
            BolusRequest(request_id=request_id, dose_ng=dose_ng, duration_s=duration_s)
        )
        self._agree(reply, expected, f"bolus {dose_ng} ng over {duration_s} s")
        if expected is None:
            assert isinstance(reply, BolusResponse)
            assert reply.ends_at_s == (self.ref.now_ms + duration_s * 1000) // 1000

    @rule()
    def stop(self) -> None:
        self.ref.stop()
        self._agree(self.pump.handle(StopRequest(request_id=self.request_id())), None, "stop")

    @rule()
    def resume(self) -> None:
        expected = self.ref.resume()
        reply = self.pump.handle(ResumeRequest(request_id=self.request_id()))
        self._agree(reply, expected, "resume")

    @rule(
        volume=st.sampled_from(["full", "any", "low", "above_low", "zero", "over"]),
        concentration=st.sampled_from(
            [
                "same",
                "same",
                "other",
                "lowest",
                "highest",
                "outside",
                "double",
                "half",
                "under_double",
            ]
        ),
        residual=st.sampled_from(["expected", "tolerance", "beyond", "any"]),
        amount=st.integers(0, 1 << 20),
        bridge=st.sampled_from([0, 0, 1, 10_000, 100_000, 1_000_000, "max", "over_max"]),
        waiver=st.sampled_from(["without_a_bridge", "without_a_bridge", "never", "always"]),
        acknowledge=st.booleans(),
        confirm=st.booleans(),
        stopped_first=st.sampled_from([False, False, False, True]),
        if_stopped=st.sampled_from(["give_up", "resume", "waive"]),
    )
    def refill(
        self,
        volume: str,
        concentration: str,
        residual: str,
        amount: int,
        bridge: int | str,
        waiver: str,
        acknowledge: bool,
        confirm: bool,
        stopped_first: bool,
        if_stopped: str,
    ) -> None:
        """Any refill; now and then of a pump the clinician has just stopped, and with a
        bridge bolus and its waiver both."""
        if stopped_first:
            self.stop()
        limits, model, ref = self.pump.limits, self.pump.model, self.ref
        capacity, low_ul = model.reservoir_capacity_ul, model.low_reservoir_ul
        added = {
            "full": capacity,
            "over": capacity + 1 + amount % 100,
            "zero": 0,
            "low": low_ul,
            "above_low": low_ul + 1,
            "any": amount % (capacity + 1),
        }[volume]
        lowest, highest = limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml
        new_concentration = {
            "same": ref.concentration_ng_per_ml,
            "other": lowest + amount % (highest - lowest + 1),
            "lowest": lowest,
            "highest": highest,
            "outside": highest + 1 if amount % 2 else max(0, lowest - 1),
            "double": ref.concentration_ng_per_ml * 2,
            "half": ref.concentration_ng_per_ml // 2,
            "under_double": ref.concentration_ng_per_ml * 2 - 1,
        }[concentration]
        bridge_max = limits.bridge_bolus_max_ng
        bridge_ng = {"max": bridge_max, "over_max": bridge_max + 1}.get(str(bridge), bridge)
        assert isinstance(bridge_ng, int)
        waive = {"without_a_bridge": bridge_ng == 0, "never": False, "always": True}[waiver]
        expected_ul = math.floor(ref.reservoir_nl / 1000)
        sign = 1 if amount % 2 else -1
        withdrawn = {
            "expected": expected_ul,
            "tolerance": expected_ul + sign * model.refill_tolerance_ul,
            "beyond": expected_ul + sign * (model.refill_tolerance_ul + 1),
            "any": amount % (capacity + 1),
        }[residual]
        withdrawn = max(0, withdrawn)
        self._refill_as_a_clinician(
            if_stopped, withdrawn, added, new_concentration, bridge_ng, waive, acknowledge, confirm
        )

    @rule(
        change=st.sampled_from(["up", "down", "double", "half"]),
        bridge=st.sampled_from([1, 10_000, 100_000, "max", "max", "over_max", "half_a_day"]),
        waive=st.sampled_from([False, False, False, True]),
        first=st.sampled_from(["nothing", "stop", "resume"]),
        if_stopped=st.sampled_from(["give_up", "resume", "waive"]),
    )
    def refill_with_a_bridge_bolus(
        self, change: str, bridge: int | str, waive: bool, first: str, if_stopped: str
    ) -> None:
        """A refill the clinician got right but for the bridge bolus: full, the residual as
        expected, another concentration within the drug's range and confirmed. What decides
        is the bridge bolus: on a stopped pump, with a waiver too, above its maximum, or
        more than the 24 h maximum has room for."""
        if first == "stop":
            self.stop()
        elif first == "resume":
            self.resume()
        limits, ref = self.pump.limits, self.ref
        low, high = limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml
        current = ref.concentration_ng_per_ml
        wanted = {
            "up": current * 3 // 2,
            "down": current * 2 // 3,
            "double": current * 2,
            "half": current // 2,
        }[change]
        concentration = min(high, max(low, wanted))
        if concentration == current:  # at an end of the range: go the other way
            concentration = min(high, max(low, current * 2 // 3 if change in ("up", "double")
                                          else current * 3 // 2))  # fmt: skip
        bridge_ng = {
            "max": limits.bridge_bolus_max_ng,
            "over_max": limits.bridge_bolus_max_ng + 1,
            "half_a_day": ref.dose_ng_per_day // 2,
        }.get(str(bridge), bridge)
        assert isinstance(bridge_ng, int)
        self._refill_as_a_clinician(
            if_stopped,
            math.floor(ref.reservoir_nl / 1000),
            self.pump.model.reservoir_capacity_ul,
            concentration,
            bridge_ng,
            waive,
            False,
            True,
        )

    def _refill_as_a_clinician(
        self,
        if_stopped: str,
        withdrawn: int,
        added: int,
        concentration: int,
        bridge_ng: int,
        waive: bool,
        acknowledge: bool,
        confirm: bool,
    ) -> None:
        """Send a refill; refused because a stopped pump would not deliver its bridge bolus,
        give up, or resume the pump and send it again, or send it again with a waiver."""
        flags = (acknowledge, confirm)
        refused = self._refill(withdrawn, added, concentration, bridge_ng, waive, *flags)
        if refused == NakCode.PUMP_STOPPED and if_stopped != "give_up":
            self._check_all()  # the refusal changed nothing
            if if_stopped == "resume":
                self.resume()  # refused too while the motor stalls or the reservoir is empty
            else:
                bridge_ng, waive = 0, True
            self._refill(withdrawn, added, concentration, bridge_ng, waive, *flags)

    def _refill(
        self,
        withdrawn: int,
        added: int,
        new_concentration: int,
        bridge_ng: int,
        waive: bool,
        acknowledge: bool,
        confirm: bool,
    ) -> NakCode | None:
        ref, model = self.ref, self.pump.model
        expected_ul = math.floor(ref.reservoir_nl / 1000)
        request_id = self.request_id()
        alerting = abs(withdrawn - expected_ul) > model.refill_tolerance_ul
        expected = ref.refill(
            request_id,
            withdrawn,
            added,
            new_concentration,
            bridge_ng,
            waive,
            discrepancy_acknowledged=acknowledge,
            confirm_large_change=confirm,
        )
        reply = self.pump.handle(
            RefillRequest(
                request_id=request_id,
                residual_withdrawn_ul=withdrawn,
                volume_added_ul=added,
                concentration_ng_per_ml=new_concentration,
                bridge_bolus_ng=bridge_ng,
                waive_bridge_bolus=waive,
                discrepancy_acknowledged=acknowledge,
                confirm_large_change=confirm,
            )
        )
        self._agree(
            reply,
            expected,
            f"refill {added} µL at {new_concentration} ng/mL, withdrew {withdrawn} µL, "
            f"bridge {bridge_ng} ng, waive {waive}, acknowledged {acknowledge}, "
            f"confirmed {confirm}",
        )
        if expected is None:
            assert isinstance(reply, RefillResponse)
            assert reply.expected_residual_ul == expected_ul
            assert reply.discrepancy_alert == alerting
            assert reply.reservoir_ul == added
        return expected

    @rule()
    def catheter_check(self) -> None:
        self.ref.catheter_check()
        reply = self.pump.handle(CatheterCheckRequest(request_id=self.request_id()))
        self._agree(reply, None, "catheter check")

    @rule(active=st.booleans(), code=st.sampled_from(list(AlarmCode)))
    def ack_alarm(self, active: bool, code: AlarmCode) -> None:
        raised = sorted(self.ref.active_alarms())
        if active and raised:
            code = raised[code % len(raised)]
        expected = self.ref.ack_alarm(code)
        reply = self.pump.handle(AckAlarmRequest(request_id=self.request_id(), code=code))
        self._agree(reply, expected, f"ack {code.name}")

    # --- the world -----------------------------------------------------------------------

    @rule(
        fault=st.sampled_from(
            [("catheter", s) for s in ("patent", "partial", "occluded", "leak")]
            + [("motor_stall", "on"), ("motor_stall", "off")]
            + [("battery", str(p)) for p in (100, 21, 20, 11, 10, 0)]
        )
    )
    def set_fault(self, fault: tuple[str, str]) -> None:
        self.pump.set_fault(*fault)
        self.ref.set_fault(*fault)

    @rule()
    def clear_faults(self) -> None:
        self.pump.clear_faults()
        self.ref.clear_faults()

    @rule(
        ms=st.sampled_from([1, 1000, MINUTE_MS, HOUR_MS, 4 * HOUR_MS, DAY_MS, 56 * HOUR_MS])
        | st.integers(1, 59).map(lambda n: n * MINUTE_MS)
        | st.integers(1, 23).map(lambda n: n * HOUR_MS)
        | st.integers(1, 42).map(lambda n: n * DAY_MS)
        | st.integers(1, 6 * 7 * DAY_MS)
    )
    def advance(self, ms: int) -> None:
        self._advance(ms)

    @rule(which=st.integers(0, 1 << 10), off_ms=st.sampled_from([-1, 0, 0, 1]))
    def advance_to_a_rule_boundary(self, which: int, off_ms: int) -> None:
        """Right onto (or a millisecond either side of) the instant a rule changes its mind:
        an increase allowed again, a lockout over, a bolus leaving the 24 h window, a bolus
        ending."""
        boundaries = self._boundaries() or [self.ref.now_ms + 1]
        target = boundaries[which % len(boundaries)] + off_ms
        if target > self.ref.now_ms:
            self._advance(target - self.ref.now_ms)

    def _boundaries(self) -> list[int]:
        ref, limits = self.ref, self.pump.limits
        now = ref.now_ms
        points = []
        if ref.last_increase_ms is not None:
            points.append(ref.last_increase_ms + limits.min_increase_interval_s * 1000)
        for b in ref.boluses:
            points += [b.start_ms + limits.bolus_lockout_s * 1000, b.start_ms + DAY_MS]
            points += [b.end_ms, b.end_ms + DAY_MS]
        return sorted(p for p in set(points) if p >= now)

    def _advance(self, ms: int) -> None:
        self.pump.advance(ms)
        self.ref.advance_to(self.ref.now_ms + ms)

    # --- after every step ----------------------------------------------------------------

    def _check_all(self) -> None:
        self.agrees_with_the_reference()
        self.alarms_match_the_state()
        self.events_are_in_time_order()
        self.no_day_holds_more_than_the_maximum()

    @invariant()
    def agrees_with_the_reference(self) -> None:
        """Time, reservoir (to the fraction of a nL, and against the ledger of fills and
        deliveries), dose, concentration, running, last increase, alarms and their
        acknowledgement, and the boluses the pump still holds."""
        problems = disagreements(self.pump, self.ref)
        assert not problems, "\n".join(problems)
        assert 0 <= self.pump.reservoir_ul <= self.pump.model.reservoir_capacity_ul

    @invariant()
    def alarms_match_the_state(self) -> None:
        state, ref = self.pump.state, self.ref
        alarms = set(state.alarms)
        assert alarms == ref.active_alarms()
        acknowledged = {code for code, alarm in state.alarms.items() if alarm.acknowledged}
        assert acknowledged == ref.acknowledged
        low_nl = self.pump.model.low_reservoir_ul * 1000
        assert (AlarmCode.EMPTY_RESERVOIR in alarms) == (state.reservoir_nl == 0)
        assert (AlarmCode.LOW_RESERVOIR in alarms) == (state.reservoir_nl <= low_nl)
        assert (AlarmCode.OCCLUSION in alarms) == (state.catheter == "occluded")
        assert (AlarmCode.PUMP_STOPPED in alarms) == (not state.running)
        if state.reservoir_nl == 0 or state.motor_stall:
            assert not state.running
        status = self.pump.handle(StatusRequest())
        assert isinstance(status, StatusResponse)
        assert {a.code for a in status.alarms} == alarms
        assert status.reservoir_ul == math.floor(ref.reservoir_nl / 1000)

    @invariant()
    def events_are_in_time_order(self) -> None:
        events = self.log.events
        start = max(0, self.checked_events - 1)
        times = [e.time_ms for e in events[start:]]
        assert times == sorted(times)
        assert not times or times[-1] <= self.pump.state.anchor_ms
        self.checked_events = len(events)

    @invariant()
    def no_day_holds_more_than_the_maximum(self) -> None:
        ref = self.ref
        worst = ref.worst_delivered_24h_ng(self.checked_window_ms)
        assert worst <= self.pump.limits.max_dose_ng_per_day, (
            f"{worst} ng delivered in one 24 h window"
        )
        self.checked_window_ms = max(self.checked_window_ms, ref.now_ms - DAY_MS)

    @invariant()
    def survives_its_nv_form(self) -> None:
        saved: dict[str, Any] = json.loads(json.dumps(self.pump.state.to_json()))
        assert PumpState.from_json(saved) == self.pump.state


PumpMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None if not LONG_RUN else settings().database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPumpStateMachine = PumpMachine.TestCase


def test_the_reference_integrates_like_the_units_say() -> None:
    """A sanity check of the reference itself: a day at 1.4 mg/day of 25 mg/mL is 56 µL."""
    limits, model = LIBRARY.limits_for("morphine"), LIBRARY.model("IT-20")
    ref = ReferencePump.implanted(
        limits,
        model,
        now_ms=0,
        dose_ng_per_day=1_400_000,
        concentration_ng_per_ml=25_000_000,
        volume_ul=20_000,
    )
    ref.advance_to(DAY_MS)
    assert ref.reservoir_nl == 20_000_000 - 56_000
    assert ref.worst_delivered_24h_ng(0) == 1_400_000
    assert ref.peak_24h_ng(1_400_000) == 1_400_000
    assert ref.bolus(1, 200_000, 600) is None
    assert ref.peak_24h_ng(1_400_000) == Fraction(1_600_000)
