"""The pump: rules the firmware enforces whatever a programmer sends.

Every handler takes a validated request and returns a response or a ``Nak`` naming the rule
that refused it. Delivery is integrated analytically between events with exact fractions,
so advancing a year costs a handful of steps and the reservoir never drifts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from firmware_sim.model import battery, demand
from firmware_sim.model import implant as implant_record
from firmware_sim.model import program as flexible
from firmware_sim.model.events import Event, EventSink
from firmware_sim.model.hard_limits import patient_bolus_min_duration_s
from firmware_sim.model.library import DrugLibrary, DrugLimits, PumpModel
from firmware_sim.model.periodic import effective
from firmware_sim.model.schedule import daily_dose, flat
from firmware_sim.model.state import AlarmState, Bolus, PumpState
from firmware_sim.model.status_figures import status_figures
from firmware_sim.model.units import (
    MS_PER_DAY,
    bolus_nl_per_ms,
    flow_nl_per_day,
    flow_nl_per_ms,
)
from pumpctl.protocol.messages import (
    AckAlarmRequest,
    AckAlarmResponse,
    ActiveAlarm,
    AlarmCode,
    AlarmRecord,
    BolusRequest,
    BolusResponse,
    CatheterCheckRequest,
    CatheterCheckResponse,
    CatheterVerdict,
    DemandBolusRequest,
    EventCode,
    IdentifyRequest,
    IdentifyResponse,
    LimitsResponse,
    Message,
    Nak,
    NakCode,
    PumpStateResponse,
    ReadAlarmsRequest,
    ReadAlarmsResponse,
    ReadDemandBolusRequest,
    ReadDemandLogRequest,
    ReadImplantRequest,
    ReadLimitsRequest,
    ReadScheduleRequest,
    RefillRequest,
    RefillResponse,
    ResumeRequest,
    ResumeResponse,
    SetDemandBolusRequest,
    SetPeriodicBolusRequest,
    SetRateRequest,
    SetRateResponse,
    SetScheduleRequest,
    Severity,
    StatusRequest,
    StatusResponse,
    StopReason,
    StopRequest,
    WithdrawalRisk,
    WriteImplantRequest,
)
from pumpctl.protocol.messages import PumpState as WirePumpState
from pumpctl.units import format_amount, format_volume

SEVERITY = {
    AlarmCode.LOW_RESERVOIR: Severity.WARNING,
    AlarmCode.EMPTY_RESERVOIR: Severity.CRITICAL,
    AlarmCode.OCCLUSION: Severity.CRITICAL,
    AlarmCode.LOW_BATTERY: Severity.WARNING,
    AlarmCode.ELECTIVE_REPLACEMENT: Severity.WARNING,
    AlarmCode.VOLUME_DISCREPANCY: Severity.WARNING,
    AlarmCode.MOTOR_STALL: Severity.CRITICAL,
    AlarmCode.CATHETER_LEAK: Severity.CRITICAL,
    # Loss of delivery causes withdrawal: critical unless the drug has none (Pump._severity).
    AlarmCode.PUMP_STOPPED: Severity.CRITICAL,
    # The memory failed its check at boot: what the pump delivers may not be what was
    # programmed until a clinician has reviewed it (docs/simulator.md §3.10.1).
    AlarmCode.NV_INTEGRITY: Severity.CRITICAL,
}
UNVERIFIED_PROGRAM = (
    "the program did not verify at boot (NV_INTEGRITY): review it, set the dose, "
    "acknowledge NV_INTEGRITY, then resume"
)
CATHETER_STATES = {
    "patent": CatheterVerdict.PATENT,
    "partial": CatheterVerdict.PARTIAL_OCCLUSION,
    "occluded": CatheterVerdict.OCCLUDED,
    "leak": CatheterVerdict.LEAK,
}
# What a catheter check measures in each state: delivered fraction (%), peak pressure (mmHg).
CATHETER_MEASUREMENTS = {
    "patent": (100, 12),
    "partial": (55, 48),
    "occluded": (0, 140),
    "leak": (100, 3),
}
LOW_BATTERY_PCT = battery.LOW_BATTERY_PCT
BRIDGE_BOLUS_DURATION_MS = 3_600_000
# A refill that changes the concentration by this factor or more, either way, needs confirming.
LARGE_CONCENTRATION_CHANGE_FACTOR = 2
BOLUS_WINDOW_MS = MS_PER_DAY
# NV memory and the time to answer are finite: at most this many programmed doses are kept for
# the 24 h rule (its check is quadratic in them), enough for any real day of titration. Beyond
# it the oldest two merge into the larger dose, which can only make the rule stricter.
DOSE_HISTORY_MAX = 128


class RuleRefusal(Exception):
    def __init__(self, code: NakCode, detail: str, limit: int = 0) -> None:
        super().__init__(detail)
        self.nak = Nak(code=code, limit=limit, detail=clip_text(detail))


class Pump:
    def __init__(self, state: PumpState, library: DrugLibrary, log: EventSink) -> None:
        self.state = state
        self.library = library
        self.log = log
        self._patient = False  # the request being handled came in a patient's session
        # The battery's thresholds for the program in force, and the lowest as a float.
        self._thresholds: tuple[object, list[Fraction], float] | None = None
        self._handlers: dict[type[Message], Callable[[Any], Message]] = {
            IdentifyRequest: self._identify,
            StatusRequest: self._status,
            SetRateRequest: self._set_rate,
            BolusRequest: self._bolus,
            StopRequest: self._stop,
            ResumeRequest: self._resume,
            CatheterCheckRequest: self._catheter_check,
            RefillRequest: self._refill,
            AckAlarmRequest: self._ack_alarm,
            ReadAlarmsRequest: self._read_alarms,
            ReadLimitsRequest: self._read_limits,
            SetScheduleRequest: lambda r: flexible.set_schedule(self, r),
            SetPeriodicBolusRequest: lambda r: flexible.set_periodic(self, r),
            ReadScheduleRequest: lambda r: flexible.read_schedule(self, r),
            SetDemandBolusRequest: lambda r: demand.set_demand(self, r),
            DemandBolusRequest: lambda r: demand.activate(self, r),
            ReadDemandBolusRequest: lambda r: demand.read_settings(self, r),
            ReadDemandLogRequest: lambda r: demand.read_log(self, r),
            WriteImplantRequest: lambda r: implant_record.write(self, r),
            ReadImplantRequest: lambda r: implant_record.read(self, r),
        }

    # --- properties ----------------------------------------------------------------------

    @property
    def limits(self) -> DrugLimits:
        return self.library.limits_for(self.state.drug)

    @property
    def model(self) -> PumpModel:
        return self.library.model(self.state.model_name)

    @property
    def reservoir_ul(self) -> int:
        return math.floor(self.state.reservoir_nl / 1000)

    def now_ms(self) -> int:
        return self.state.clock.now_ms()

    def handles(self, request_type: type[Message]) -> bool:
        return request_type in self._handlers

    def handle(self, request: Message, *, patient: bool = False) -> Message:
        """Bring the pump up to its clock, then answer ``request`` (``patient``: sent in a
        patient's session, whose boluses have a minimum duration)."""
        self.advance_to(self.now_ms())
        handler = self._handlers[type(request)]
        self._patient = patient
        try:
            response = handler(request)
        except RuleRefusal as refusal:
            request_id = getattr(request, "request_id", 0)
            self._log(EventCode.REFUSED, request_id, refusal.nak.code, 0, refusal.nak.detail)
            return refusal.nak
        return response

    # --- delivery ------------------------------------------------------------------------

    def _delivery_rate(self, at_ms: int) -> Fraction:
        state = self.state
        if not state.running or state.catheter == "occluded" or state.reservoir_nl <= 0:
            return Fraction(0)
        rate = flexible.rate_nl_per_ms(state, at_ms)
        for bolus in state.boluses:
            if bolus.start_ms <= at_ms < bolus.end_ms:
                rate += bolus_nl_per_ms(
                    bolus.dose_ng, bolus.duration_ms, state.concentration_ng_per_ml
                )
        return rate

    def advance_to(self, target_ms: int) -> None:
        """Integrate delivery up to ``target_ms``, stopping at every event on the way."""
        state = self.state
        while state.anchor_ms < target_ms:
            now = state.anchor_ms
            if flexible.stepped(state) and all(b.end_ms <= now for b in state.boluses):
                flexible.advance_on_schedule(self, target_ms)
                continue
            rate = self._delivery_rate(now)
            boundaries = [target_ms]
            if flexible.stepped(state):
                boundaries.append(flexible.next_step_ms(state, now))
            boundaries += [b.end_ms for b in state.boluses if now < b.end_ms]
            if rate > 0:
                low_nl = self.model.low_reservoir_ul * 1000
                if state.reservoir_nl > low_nl:
                    boundaries.append(now + math.ceil((state.reservoir_nl - low_nl) / rate))
                boundaries.append(now + math.ceil(state.reservoir_nl / rate))
            boundaries += self._battery_boundaries(now, target_ms - now, rate)
            end = max(now + 1, min(boundaries))
            state.reservoir_nl = max(Fraction(0), state.reservoir_nl - rate * (end - now))
            state.anchor_ms = end
            self._finish_boluses(end)
            self._reconcile(end)

    # --- battery -------------------------------------------------------------------------

    def program_flow_nl_per_day(self) -> Fraction:
        """The program's average daily volume (basal and periodic boluses), as programmed:
        what the battery's ERI rule and projections assume, running or not."""
        state = self.state
        return daily_dose(flexible.delivering(state)) * 1_000_000 / state.concentration_ng_per_ml

    def battery_thresholds_uah(self) -> list[Fraction]:
        """The charge used at which an alarm or end of service comes: LOW_BATTERY,
        ELECTIVE_REPLACEMENT, then empty (kept while the program stays the same)."""
        state = self.state
        key = (
            state.concentration_ng_per_ml,
            state.dose_ng_per_day,
            None if state.schedule is None else tuple(map(tuple, state.schedule)),
            None if state.periodic is None else tuple(state.periodic),
        )
        if self._thresholds is None or self._thresholds[0] != key:
            capacity = battery.CAPACITY_UAH
            eri = capacity - battery.eri_reserve_uah(self.program_flow_nl_per_day())
            low = Fraction(capacity * (100 - LOW_BATTERY_PCT), 100)
            self._thresholds = (key, [low, eri, Fraction(capacity)], float(min(low, eri)))
        return self._thresholds[1]

    def battery_below_thresholds(self, more_uah: float = 0.0) -> bool:
        """Whether the battery, after ``more_uah`` more, is clearly below every threshold (a
        float screen with a margin far above its rounding; anything closer is compared
        exactly). Most stretches of time end here."""
        self.battery_thresholds_uah()
        assert self._thresholds is not None
        return self.state.battery_used_estimate() + more_uah + 1 < self._thresholds[2]

    def _battery_boundaries(self, now: int, span_ms: int, rate: Fraction) -> list[int]:
        """When, within ``span_ms`` at ``rate`` nL/ms, the battery reaches a threshold. The
        motor can move at most what the reservoir holds: a stretch that cannot reach the next
        threshold even so (nearly all) is not searched."""
        most = battery.drain(span_ms, self.state.reservoir_nl)
        if self.battery_below_thresholds(float(most)):
            return []
        used = self.state.battery_used_uah
        thresholds = self.battery_thresholds_uah()
        return [
            now + battery.ms_to_use(threshold - used, rate)
            for threshold in thresholds
            if used < threshold <= used + most
        ]

    def drain_battery(self, uah: int) -> None:
        """A bolus's charge (time and delivery drain as the state moves on)."""
        state = self.state
        if state.battery_used_uah < battery.CAPACITY_UAH:
            state.battery_extra_uah += uah

    def battery_projection_ms(self, used_uah: Fraction | None = None) -> tuple[int, int]:
        """When ERI comes (when it came, if raised) and when the battery runs out, at the
        program in force (``used_uah``: the charge used now, if the caller has it)."""
        state = self.state
        flow = self.program_flow_nl_per_day()
        used = state.battery_used_uah if used_uah is None else used_uah
        eos = state.anchor_ms + battery.end_of_service_after_ms(used, flow)
        raised = state.alarms.get(AlarmCode.ELECTIVE_REPLACEMENT)
        eri = (
            raised.raised_ms
            if raised is not None
            else max(state.anchor_ms, eos - battery.ERI_NOTICE_MS)
        )
        return eri, eos

    def _finish_boluses(self, at_ms: int) -> None:
        for bolus in self.state.boluses:
            if bolus.stopped_ms is None and bolus.end_ms == at_ms:
                self._log(EventCode.BOLUS_FINISHED, bolus.request_id, bolus.dose_ng, 0, "", at_ms)
        self._forget_old(at_ms)

    def _forget_old(self, at_ms: int) -> None:
        """Drop boluses and doses no 24 h window reaching ``at_ms`` or later can contain."""
        state = self.state
        horizon = at_ms - BOLUS_WINDOW_MS
        state.boluses = [b for b in state.boluses if b.end_ms > horizon]
        history = state.dose_history
        while len(history) > 1 and history[1][0] <= horizon:
            del history[0]

    def _record_dose(self, at_ms: int, dose_ng_per_day: int) -> None:
        history = self.state.dose_history
        if history and history[-1][0] == at_ms:
            history[-1][1] = dose_ng_per_day  # the dose it replaces held no drug: it lasted 0 ms
        else:
            history.append([at_ms, dose_ng_per_day])
        if len(history) > DOSE_HISTORY_MAX:
            history[:2] = [flexible.merged(history[0], history[1])]

    def _stop_delivery(self, reason: StopReason, at_ms: int, request_id: int = 0) -> None:
        """Stop the pump; a bolus being delivered ends here, counted as far as it got."""
        state = self.state
        state.running = False
        state.stop_reason = reason
        for bolus in state.boluses:
            if bolus.start_ms <= at_ms < bolus.end_ms:
                bolus.stopped_ms = at_ms
                delivered_ng = bolus.dose_ng * (at_ms - bolus.start_ms) // bolus.duration_ms
                self._log(
                    EventCode.BOLUS_FINISHED,
                    bolus.request_id,
                    delivered_ng,
                    0,
                    f"bolus stopped with the pump: {self._dose(delivered_ng, False)} of "
                    f"{self._dose(bolus.dose_ng, False)} delivered",
                    at_ms,
                )
        detail = f"delivery stopped: {reason.name}"
        self._log(EventCode.STOPPED, request_id, reason, 0, detail, at_ms)
        if AlarmCode.PUMP_STOPPED not in state.alarms:
            self._raise(AlarmCode.PUMP_STOPPED, at_ms)

    def reconcile(self) -> None:
        """Bring the alarms in line with the state as it stands (e.g. at boot)."""
        self._reconcile(self.state.anchor_ms)

    def _reconcile(self, at_ms: int) -> None:
        """Raise and clear the condition alarms; stop delivery on empty and motor stall."""
        state = self.state
        low = state.reservoir_nl <= self.model.low_reservoir_ul * 1000
        empty = state.reservoir_nl <= 0
        low_battery, eri, _ = self.battery_thresholds_uah()
        quiet = self.battery_below_thresholds()
        depleted = not quiet and state.battery_used_uah >= battery.CAPACITY_UAH
        conditions = {
            AlarmCode.LOW_RESERVOIR: low,
            AlarmCode.EMPTY_RESERVOIR: empty,
            AlarmCode.OCCLUSION: state.catheter == "occluded",
            AlarmCode.LOW_BATTERY: not quiet and state.battery_used_uah >= low_battery,
            AlarmCode.ELECTIVE_REPLACEMENT: not quiet and state.battery_used_uah >= eri,
            AlarmCode.MOTOR_STALL: state.motor_stall,
            # Raised when delivery stops (_stop_delivery) and cleared by RESUME; here it only
            # follows `running` for a state that predates it (an old NV memory restored).
            AlarmCode.PUMP_STOPPED: not state.running,
        }
        for code, active in conditions.items():
            if active and code not in state.alarms:
                self._raise(code, at_ms)
            elif not active and code in state.alarms:
                self._clear(code, at_ms)
        if state.running and (empty or state.motor_stall or depleted):
            reason = (
                StopReason.BATTERY_DEPLETED
                if depleted
                else StopReason.RESERVOIR_EMPTY
                if empty
                else StopReason.MOTOR_STALL
            )
            self._stop_delivery(reason, at_ms)

    def memory_damaged(self, *, safe_state: bool) -> None:
        """Boot found the NV memory damaged: raise NV_INTEGRITY; with ``safe_state`` (no
        verified program, or one outside the library or the hard limits) stop delivery too,
        as of the last committed instant (docs/simulator.md §3.10.1)."""
        state = self.state
        at_ms = state.anchor_ms
        state.alarms.pop(AlarmCode.NV_INTEGRITY, None)
        self._raise(AlarmCode.NV_INTEGRITY, at_ms)
        if safe_state and state.running:
            self._stop_delivery(StopReason.NV_INTEGRITY, at_ms)

    def _severity(self, code: AlarmCode) -> Severity:
        if code == AlarmCode.PUMP_STOPPED and self.limits.withdrawal_risk == "none":
            return Severity.WARNING  # e.g. ziconotide: stopping it causes no withdrawal
        return SEVERITY[code]

    def _raise(self, code: AlarmCode, at_ms: int) -> None:
        severity = self._severity(code)
        self.state.alarms[code] = AlarmState(severity=severity, raised_ms=at_ms)
        self._log(EventCode.ALARM_RAISED, 0, code, severity, code.name, at_ms)

    def _clear(self, code: AlarmCode, at_ms: int) -> None:
        del self.state.alarms[code]
        self._log(EventCode.ALARM_CLEARED, 0, code, 0, code.name, at_ms)

    def _log(
        self,
        code: EventCode,
        request_id: int = 0,
        value_a: int = 0,
        value_b: int = 0,
        detail: str = "",
        at_ms: int | None = None,
    ) -> None:
        time_ms = self.state.anchor_ms if at_ms is None else at_ms
        self.log.append(Event(time_ms, code, request_id, value_a, value_b, clip_text(detail)))

    # --- reads ---------------------------------------------------------------------------

    def _identify(self, _: IdentifyRequest) -> IdentifyResponse:
        state = self.state
        return IdentifyResponse(
            model=state.model_name,
            serial_number=state.serial_number,
            firmware_version=state.firmware_version,
            reservoir_capacity_ul=self.model.reservoir_capacity_ul,
            drug=state.drug,
            concentration_ng_per_ml=state.concentration_ng_per_ml,
        )

    def _status(self, _: StatusRequest) -> StatusResponse:
        state = self.state
        figures = status_figures(self)
        state.battery_pct = figures.battery_pct
        return StatusResponse(
            state=WirePumpState.RUNNING if state.running else WirePumpState.STOPPED,
            stop_reason=StopReason(state.stop_reason),
            dose_ng_per_day=state.dose_ng_per_day,
            flow_nl_per_day=flow_nl_per_day(state.dose_ng_per_day, state.concentration_ng_per_ml),
            reservoir_ul=figures.reservoir_ul,
            battery_pct=state.battery_pct,
            pump_time_s=state.anchor_ms // 1000,
            last_rate_change_s=state.last_rate_change_ms // 1000,
            low_reservoir_projected_s=figures.low_reservoir_ms // 1000,
            bolus_active=any(b.start_ms <= state.anchor_ms < b.end_ms for b in state.boluses)
            or flexible.periodic_bolus_running(state),
            battery_eri_projected_s=figures.eri_ms // 1000,
            battery_eos_projected_s=figures.eos_ms // 1000,
            alarms=[
                ActiveAlarm(
                    code=AlarmCode(code), severity=Severity(a.severity), acknowledged=a.acknowledged
                )
                for code, a in sorted(state.alarms.items())
            ],
        )

    def projected_low_reservoir_ms(self) -> int:
        """When the reservoir reaches the low threshold if every allowed bolus is taken; 0 if
        it is already there or nothing is being delivered."""
        state = self.state
        low_nl = self.model.low_reservoir_ul * 1000
        if not state.running or state.catheter == "occluded" or state.reservoir_nl <= low_nl:
            return 0
        limits = self.limits
        # The daily maximum caps the boluses as well as their count and size.
        boluses_ng = min(
            limits.bolus_max_ng * limits.max_boluses_per_day,
            max(0, limits.max_dose_ng_per_day - state.dose_ng_per_day),
        )
        if flexible.stepped(state):
            after_ms = flexible.time_to_low_ms(self)
            return 0 if after_ms is None else state.anchor_ms + after_ms
        rate = flow_nl_per_ms(state.dose_ng_per_day + boluses_ng, state.concentration_ng_per_ml)
        if rate <= 0:
            return 0
        return state.anchor_ms + math.ceil((state.reservoir_nl - low_nl) / rate)

    def _read_alarms(self, _: ReadAlarmsRequest) -> ReadAlarmsResponse:
        return ReadAlarmsResponse(
            alarms=[
                AlarmRecord(
                    code=AlarmCode(code),
                    severity=Severity(a.severity),
                    raised_at_s=a.raised_ms // 1000,
                    acknowledged=a.acknowledged,
                )
                for code, a in sorted(self.state.alarms.items())
            ]
        )

    def _read_limits(self, _: ReadLimitsRequest) -> LimitsResponse:
        limits, model = self.limits, self.model
        return LimitsResponse(
            drug=limits.drug,
            min_concentration_ng_per_ml=limits.min_concentration_ng_per_ml,
            max_concentration_ng_per_ml=limits.max_concentration_ng_per_ml,
            max_dose_ng_per_day=limits.max_dose_ng_per_day,
            max_step_pct=limits.max_step_pct,
            max_step_ng_per_day=limits.max_step_ng_per_day,
            min_increase_interval_s=limits.min_increase_interval_s,
            bolus_max_ng=limits.bolus_max_ng,
            bolus_lockout_s=limits.bolus_lockout_s,
            max_boluses_per_day=limits.max_boluses_per_day,
            min_flow_nl_per_day=model.min_flow_nl_per_day,
            low_reservoir_ul=model.low_reservoir_ul,
            large_change_factor=limits.large_change_factor,
            display_unit=limits.display_unit,
            refill_tolerance_ul=model.refill_tolerance_ul,
            bridge_bolus_max_ng=limits.bridge_bolus_max_ng,
            withdrawal_risk=WithdrawalRisk[limits.withdrawal_risk.upper()],
            retitration_interval_s=limits.retitration_interval_s,
            max_refill_interval_s=limits.max_refill_interval_s,
        )

    # --- commands ------------------------------------------------------------------------

    # Every text a person reads from the pump is in the drug's own unit and in mL.

    def _dose(self, ng: int, per_day: bool = True) -> str:
        return format_amount(ng, self.limits.display_unit, per_day)

    def _concentration(self, ng_per_ml: int) -> str:
        return f"{format_amount(ng_per_ml, self.limits.display_unit, False)}/mL"

    def _min_flow(self) -> str:
        nl_per_day = self.model.min_flow_nl_per_day
        return f"{(Decimal(nl_per_day) / 1_000_000).normalize():f} mL/day"

    def peak_24h_ng(self, dose_ng_per_day: int, extra: Bolus | None = None) -> Fraction:
        """The most drug any 24 h window around now would hold if the dose from now on were
        ``dose_ng_per_day`` (the dose in force: the program in force, a schedule's steps) and
        ``extra`` were added: past programmed doses, every bolus (bridge boluses too) as
        delivered over its duration, and the future at that dose.

        Past doses count as programmed even while the pump was stopped, which can only
        overestimate. Windows starting within the last 24 h are the ones a change now can
        push over; the total is piecewise linear in the window's start, so its maximum is
        at a start or end lying on a breakpoint (``program.peak_24h_ng``).
        """
        state = self.state
        if dose_ng_per_day == state.dose_ng_per_day:
            future = flexible.delivering(state)
        else:
            future = effective(flat(dose_ng_per_day), flexible.periodic_of(state))
        return flexible.peak_24h_ng(state, future, extra)

    def _set_rate(self, request: SetRateRequest) -> SetRateResponse:
        state, limits = self.state, self.limits
        current, new = state.dose_ng_per_day, request.dose_ng_per_day
        if request.believed_dose_ng_per_day != current:
            raise RuleRefusal(
                NakCode.STALE_DOSE,
                f"programmer believes {self._dose(request.believed_dose_ng_per_day)} but the "
                f"pump delivers {self._dose(current)}: interrogate again",
                current,
            )
        if flexible.stepped(state):  # judged against the steps (and periodic boluses)
            return flexible.set_rate_over_schedule(self, request)
        if new > limits.max_dose_ng_per_day:
            raise RuleRefusal(
                NakCode.ABOVE_MAX_DOSE,
                f"{self._dose(new)} exceeds the maximum daily dose "
                f"{self._dose(limits.max_dose_ng_per_day)}",
                limits.max_dose_ng_per_day,
            )
        min_flow = self.model.min_flow_nl_per_day
        if flow_nl_per_day(new, state.concentration_ng_per_ml) < min_flow:
            raise RuleRefusal(
                NakCode.BELOW_MIN_FLOW,
                f"{self._dose(new)} needs a flow below the pump's minimum of "
                f"{self._min_flow()}: use a lower concentration at the next refill",
                min_flow,
            )
        if new > current:
            self._check_increase(current, new, request.confirm_large_change)
        elif new < current:
            self._check_decrease(current, new, request.confirm_large_change)
        state.dose_ng_per_day = new
        state.last_rate_change_ms = state.anchor_ms
        if new > current:
            state.last_increase_ms = state.anchor_ms
        self._record_dose(state.anchor_ms, new)
        self._forget_old(state.anchor_ms)
        self._log(
            EventCode.RATE_CHANGED,
            request.request_id,
            current,
            new,
            f"{self._dose(current)} -> {self._dose(new)}",
        )
        return SetRateResponse(
            request_id=request.request_id,
            dose_ng_per_day=new,
            previous_dose_ng_per_day=current,
            flow_nl_per_day=flow_nl_per_day(new, state.concentration_ng_per_ml),
            applied_at_s=state.anchor_ms // 1000,
        )

    def _check_decrease(self, current: int, new: int, confirmed: bool) -> None:
        """A decrease is always allowed (no step or interval rule), but a cut to a tenth or
        less is the decimal-point error the other way, and an abrupt cut can cause
        withdrawal: it needs confirming."""
        factor = self.limits.large_change_factor
        if current > 0 and new * factor <= current and not confirmed:
            raise RuleRefusal(
                NakCode.LARGE_CHANGE_UNCONFIRMED,
                f"{self._dose(current)} -> {self._dose(new)} divides the dose by {factor} or "
                "more: confirm explicitly",
                factor,
            )

    def _check_increase(self, current: int, new: int, confirmed: bool) -> None:
        state, limits = self.state, self.limits
        if state.catheter == "occluded" or AlarmCode.OCCLUSION in state.alarms:
            raise RuleRefusal(NakCode.OCCLUSION_PRESENT, "an occlusion is present: no increase")
        factor = limits.large_change_factor
        if current > 0 and new >= current * factor and not confirmed:
            raise RuleRefusal(
                NakCode.LARGE_CHANGE_UNCONFIRMED,
                f"{self._dose(current)} -> {self._dose(new)} multiplies the dose by {factor} or "
                "more: confirm explicitly",
                factor,
            )
        flexible.check_step(self, current, new)
        flexible.check_increase_interval(self)
        peak_ng = self.peak_24h_ng(new)
        if peak_ng > limits.max_dose_ng_per_day:
            raise RuleRefusal(
                NakCode.DAILY_LIMIT,
                f"{self._dose(new)} with the boluses and doses of the last 24 h would put "
                f"{self._dose(math.ceil(peak_ng), False)} in one 24 h window, above the maximum "
                f"daily dose {self._dose(limits.max_dose_ng_per_day)}",
                limits.max_dose_ng_per_day,
            )

    def _bolus(self, request: BolusRequest) -> BolusResponse:
        state, limits = self.state, self.limits
        now = state.anchor_ms
        if request.dose_ng == 0 or request.duration_s == 0:
            raise RuleRefusal(NakCode.INVALID_ARGUMENT, "a bolus needs a dose and a duration")
        min_duration_s = patient_bolus_min_duration_s(state.drug)
        if self._patient and request.duration_s < min_duration_s:
            raise RuleRefusal(
                NakCode.BOLUS_TOO_SHORT,
                f"a patient's bolus lasts at least {min_duration_s // 60} min for "
                f"{state.drug}, not {request.duration_s} s",
                min_duration_s,
            )
        if not state.running:
            why = StopReason(state.stop_reason).name.lower().replace("_", " ")
            raise RuleRefusal(NakCode.PUMP_STOPPED, f"the pump is stopped ({why}): no bolus")
        if state.reservoir_nl <= 0:
            raise RuleRefusal(NakCode.RESERVOIR_EMPTY, "the reservoir is empty")
        if state.catheter == "occluded" or AlarmCode.OCCLUSION in state.alarms:
            raise RuleRefusal(NakCode.OCCLUSION_PRESENT, "an occlusion is present: no bolus")
        if request.dose_ng > limits.bolus_max_ng:
            raise RuleRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"bolus of {self._dose(request.dose_ng, False)} exceeds the maximum of "
                f"{self._dose(limits.bolus_max_ng, False)}",
                limits.bolus_max_ng,
            )
        demand = [b for b in state.boluses if not b.bridge and now - b.start_ms < BOLUS_WINDOW_MS]
        if demand:
            since_ms = now - max(b.start_ms for b in demand)
            if since_ms < limits.bolus_lockout_s * 1000:
                raise RuleRefusal(
                    NakCode.BOLUS_LOCKOUT,
                    f"last bolus was {since_ms // 60_000} min ago; lockout is "
                    f"{limits.bolus_lockout_s // 60} min",
                    limits.bolus_lockout_s,
                )
        if len(demand) >= limits.max_boluses_per_day:
            raise RuleRefusal(
                NakCode.BOLUS_COUNT_LIMIT,
                f"{len(demand)} boluses in the last 24 h; the maximum is "
                f"{limits.max_boluses_per_day}",
                limits.max_boluses_per_day,
            )
        bolus = Bolus(now, request.dose_ng, request.duration_s * 1000, request.request_id)
        peak_ng = self.peak_24h_ng(state.dose_ng_per_day, bolus)
        if peak_ng > limits.max_dose_ng_per_day:
            raise RuleRefusal(
                NakCode.DAILY_LIMIT,
                f"this bolus would put {self._dose(math.ceil(peak_ng), False)} in one 24 h "
                f"window, above the maximum daily dose {self._dose(limits.max_dose_ng_per_day)}",
                limits.max_dose_ng_per_day,
            )
        state.boluses.append(bolus)
        self.drain_battery(battery.BOLUS_UAH)
        self._log(
            EventCode.BOLUS_STARTED,
            request.request_id,
            request.dose_ng,
            request.duration_s,
            f"bolus {self._dose(request.dose_ng, False)} over {request.duration_s} s",
        )
        self._reconcile(now)  # its charge may be the battery's last
        return BolusResponse(
            request_id=request.request_id,
            dose_ng=request.dose_ng,
            duration_s=request.duration_s,
            ends_at_s=bolus.end_ms // 1000,
        )

    def _stop(self, request: StopRequest) -> PumpStateResponse:
        state = self.state
        if state.running:
            self._stop_delivery(StopReason.CLINICIAN, state.anchor_ms, request.request_id)
        else:
            detail = "already stopped (no change)"
            self._log(EventCode.STOPPED, request.request_id, state.stop_reason, 0, detail)
        return PumpStateResponse(
            request_id=request.request_id,
            state=WirePumpState.STOPPED,
            stop_reason=StopReason(state.stop_reason),
        )

    def _resume(self, request: ResumeRequest) -> ResumeResponse:
        state = self.state
        if state.battery_used_uah >= battery.CAPACITY_UAH:
            raise RuleRefusal(
                NakCode.PUMP_STOPPED,
                "the battery is depleted (end of service): the pump cannot resume; replace it",
            )
        if state.motor_stall:
            raise RuleRefusal(NakCode.PUMP_STOPPED, "the motor is stalled: the pump cannot resume")
        if state.reservoir_nl <= 0:
            raise RuleRefusal(NakCode.RESERVOIR_EMPTY, "the reservoir is empty: refill first")
        if state.stop_reason == StopReason.NV_INTEGRITY and AlarmCode.NV_INTEGRITY in state.alarms:
            raise RuleRefusal(NakCode.PROGRAM_UNVERIFIED, UNVERIFIED_PROGRAM)
        detail = "already running (no change)" if state.running else "resumed"
        state.running = True
        state.stop_reason = StopReason.NONE
        self._log(EventCode.RESUMED, request.request_id, 0, 0, detail)
        if AlarmCode.PUMP_STOPPED in state.alarms:
            self._clear(AlarmCode.PUMP_STOPPED, state.anchor_ms)
        return ResumeResponse(
            request_id=request.request_id,
            state=WirePumpState.RUNNING,
            stop_reason=StopReason.NONE,
        )

    def _catheter_check(self, request: CatheterCheckRequest) -> CatheterCheckResponse:
        state = self.state
        verdict = CATHETER_STATES[state.catheter]
        delivered_pct, pressure = CATHETER_MEASUREMENTS[state.catheter]
        state.last_check_ms = state.anchor_ms
        state.last_check_verdict = verdict
        self._log(
            EventCode.CATHETER_CHECKED,
            request.request_id,
            verdict,
            pressure,
            f"catheter {verdict.name}: {delivered_pct}% delivered, peak {pressure} mmHg",
        )
        if verdict == CatheterVerdict.LEAK and AlarmCode.CATHETER_LEAK not in state.alarms:
            self._raise(AlarmCode.CATHETER_LEAK, state.anchor_ms)
        elif verdict != CatheterVerdict.LEAK and AlarmCode.CATHETER_LEAK in state.alarms:
            self._clear(AlarmCode.CATHETER_LEAK, state.anchor_ms)
        return CatheterCheckResponse(
            request_id=request.request_id,
            verdict=verdict,
            delivered_pct=delivered_pct,
            peak_pressure_mmhg=pressure,
            checked_at_s=state.anchor_ms // 1000,
        )

    def _refill(self, request: RefillRequest) -> RefillResponse:
        """Checked in this order (docs/simulator.md §3.9): what the request asks for is
        possible and consistent, then the hard limits, then what needs the clinician's
        confirmation, so a confirmed request meets nothing but the other confirmation."""
        state, limits, model = self.state, self.limits, self.model
        concentration = request.concentration_ng_per_ml
        current = state.concentration_ng_per_ml
        low, high = limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml
        if not low <= concentration <= high:
            raise RuleRefusal(
                NakCode.CONCENTRATION_OUT_OF_RANGE,
                f"concentration {self._concentration(concentration)} is outside "
                f"{limits.drug}'s range {self._concentration(low)} to "
                f"{self._concentration(high)}",
                high if concentration > high else low,
            )
        if request.volume_added_ul > model.reservoir_capacity_ul:
            raise RuleRefusal(
                NakCode.OVERFILL,
                f"{format_volume(request.volume_added_ul)} overfills the "
                f"{format_volume(model.reservoir_capacity_ul)} reservoir",
                model.reservoir_capacity_ul,
            )
        changing = concentration != current
        if request.bridge_bolus_ng and not changing:
            raise RuleRefusal(
                NakCode.INVALID_ARGUMENT,
                "a bridge bolus goes with a concentration change, and the concentration stays "
                f"{self._concentration(current)}: send no bridge bolus",
            )
        if request.bridge_bolus_ng and request.waive_bridge_bolus:
            raise RuleRefusal(NakCode.INVALID_ARGUMENT, "give a bridge bolus or waive it, not both")
        if changing and request.bridge_bolus_ng == 0 and not request.waive_bridge_bolus:
            raise RuleRefusal(
                NakCode.BRIDGE_BOLUS_REQUIRED,
                "a concentration change needs a bridge bolus or an explicit waiver",
            )
        if request.bridge_bolus_ng and not state.running:
            # Were it taken, the old drug in the pump and catheter would go out at the new
            # flow on resume, with no bridge: the clinician resumes first, or waives it.
            why = StopReason(state.stop_reason).name.lower().replace("_", " ")
            if state.motor_stall or state.reservoir_nl <= 0:  # RESUME would be refused
                detail = "cannot resume now and would not deliver the bridge bolus: waive it"
            else:
                detail = "would not deliver the bridge bolus: resume it first, or waive it"
            raise RuleRefusal(NakCode.PUMP_STOPPED, f"the pump is stopped ({why}) and {detail}")
        if request.bridge_bolus_ng > limits.bridge_bolus_max_ng:
            raise RuleRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"bridge bolus of {self._dose(request.bridge_bolus_ng, False)} exceeds the "
                f"maximum bridge bolus of {self._dose(limits.bridge_bolus_max_ng, False)}",
                limits.bridge_bolus_max_ng,
            )
        lowest = min(dose for _, dose in flexible.program(state))  # each step's flow counts
        if flow_nl_per_day(lowest, concentration) < model.min_flow_nl_per_day:
            raise RuleRefusal(
                NakCode.BELOW_MIN_FLOW,
                f"at {self._concentration(concentration)} the current dose of "
                f"{self._dose(state.dose_ng_per_day)} needs a flow below the pump's minimum of "
                f"{self._min_flow()}: fill at a lower concentration",
                model.min_flow_nl_per_day,
            )
        bridge = None
        if changing and request.bridge_bolus_ng:
            bridge = Bolus(
                state.anchor_ms,
                request.bridge_bolus_ng,
                BRIDGE_BOLUS_DURATION_MS,
                request.request_id,
                bridge=True,
            )
            # A bridge bolus is drug like any other: the 24 h maximum holds it too.
            peak_ng = self.peak_24h_ng(state.dose_ng_per_day, bridge)
            if peak_ng > limits.max_dose_ng_per_day:
                raise RuleRefusal(
                    NakCode.DAILY_LIMIT,
                    f"the bridge bolus of {self._dose(request.bridge_bolus_ng, False)} would "
                    f"put {self._dose(math.ceil(peak_ng), False)} in one 24 h window, above "
                    f"the maximum daily dose {self._dose(limits.max_dose_ng_per_day)}",
                    limits.max_dose_ng_per_day,
                )
        factor = LARGE_CONCENTRATION_CHANGE_FACTOR
        large = concentration >= current * factor or concentration * factor <= current
        if large and not request.confirm_large_change:
            raise RuleRefusal(
                NakCode.LARGE_CHANGE_UNCONFIRMED,
                f"{self._concentration(current)} -> {self._concentration(concentration)} "
                f"changes the concentration by a factor of {factor} or more: confirm explicitly",
                factor,
            )
        expected_ul = self.reservoir_ul
        discrepancy = request.residual_withdrawn_ul - expected_ul
        alert = abs(discrepancy) > model.refill_tolerance_ul
        if alert:
            side = (
                "less than expected: possible pocket fill"
                if discrepancy < 0
                else "more than expected: possible under-delivery (stall, occlusion)"
            )
            found = f"{format_volume(abs(discrepancy))} {side}"
            if not request.discrepancy_acknowledged:
                raise RuleRefusal(
                    NakCode.DISCREPANCY_UNACKNOWLEDGED,
                    f"withdrew {format_volume(request.residual_withdrawn_ul)}, {found}; the "
                    f"pump expected {format_volume(expected_ul)} (tolerance "
                    f"{format_volume(model.refill_tolerance_ul)}): assess the patient, then "
                    "acknowledge the discrepancy",
                    model.refill_tolerance_ul,
                )
        state.battery_refilled(request.volume_added_ul * 1000)
        state.reservoir_nl = Fraction(request.volume_added_ul * 1000)
        state.concentration_ng_per_ml = concentration
        detail = (
            f"withdrew {format_volume(request.residual_withdrawn_ul)} (expected "
            f"{format_volume(expected_ul)}), added {format_volume(request.volume_added_ul)} "
            f"at {self._concentration(concentration)}"
        )
        if alert:
            detail += f"; {found} (acknowledged)"
        self._log(
            EventCode.REFILLED,
            request.request_id,
            request.residual_withdrawn_ul,
            request.volume_added_ul,
            detail,
        )
        if alert:
            state.alarms.pop(AlarmCode.VOLUME_DISCREPANCY, None)
            self._raise(AlarmCode.VOLUME_DISCREPANCY, state.anchor_ms)
        if bridge is not None:
            state.boluses.append(bridge)
            self.drain_battery(battery.BOLUS_UAH)
            self._log(
                EventCode.BOLUS_STARTED,
                request.request_id,
                request.bridge_bolus_ng,
                BRIDGE_BOLUS_DURATION_MS // 1000,
                f"bridge bolus {self._dose(request.bridge_bolus_ng, False)}",
            )
        elif changing:
            self._log(EventCode.REFILLED, request.request_id, 0, 0, "bridge bolus waived")
        self._reconcile(state.anchor_ms)
        self._forget_old(state.anchor_ms)
        return RefillResponse(
            request_id=request.request_id,
            reservoir_ul=self.reservoir_ul,
            expected_residual_ul=expected_ul,
            discrepancy_ul=discrepancy,
            discrepancy_alert=alert,
            concentration_ng_per_ml=concentration,
        )

    def _ack_alarm(self, request: AckAlarmRequest) -> AckAlarmResponse:
        alarm = self.state.alarms.get(request.code)
        if alarm is None:
            raise RuleRefusal(NakCode.NO_SUCH_ALARM, f"no active {request.code.name} alarm")
        self._log(EventCode.ALARM_ACKNOWLEDGED, request.request_id, request.code, 0, "")
        if request.code in (AlarmCode.VOLUME_DISCREPANCY, AlarmCode.NV_INTEGRITY):
            self._clear(request.code, self.state.anchor_ms)
        else:
            alarm.acknowledged = True
        return AckAlarmResponse(request_id=request.request_id, code=request.code)

    # --- simulation controls (the debug port, not the pump protocol) ---------------------

    def advance(self, delta_ms: int) -> None:
        self.state.clock.advance(delta_ms)
        self.advance_to(self.now_ms())

    def set_fault(self, name: str, value: str) -> None:
        state = self.state
        self.advance_to(self.now_ms())
        if name == "catheter":
            if value not in CATHETER_STATES:
                raise ValueError(f"catheter fault must be one of {', '.join(CATHETER_STATES)}")
            state.catheter = value
        elif name == "motor_stall":
            state.motor_stall = _parse_switch(value)
        elif name == "battery":
            pct = int(value)
            if not 0 <= pct <= 100:
                raise ValueError("battery must be 0-100 (%)")
            state.battery_used_uah = battery.used_for_percent(pct)
        else:
            raise ValueError(f"unknown fault {name!r} (catheter, motor_stall, battery)")
        self._log(EventCode.FAULT_INJECTED, 0, 0, 0, f"{name}={value}")
        self._reconcile(state.anchor_ms)

    def clear_faults(self) -> None:
        self.advance_to(self.now_ms())
        self.state.catheter = "patent"
        self.state.motor_stall = False
        self.state.battery_used_uah = Fraction(0)
        self._log(EventCode.FAULT_INJECTED, 0, 0, 0, "faults cleared")
        self._reconcile(self.state.anchor_ms)


def _parse_switch(value: str) -> bool:
    if value in ("on", "1", "true"):
        return True
    if value in ("off", "0", "false"):
        return False
    raise ValueError(f"expected on or off, not {value!r}")


def clip_text(text: str, max_bytes: int = 255) -> str:
    """``text`` cut to fit a wire text field, which counts UTF-8 bytes, not characters."""
    return text.encode()[:max_bytes].decode(errors="ignore")
