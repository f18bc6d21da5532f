"""The therapy commands, one class each: its programmer checks, the review it shows, the
request it sends once, and how the read-back verifies it.

The programmer (``core.Programmer.plan`` / ``execute``) runs every one of them down the same
path; the faces build a command and render its review, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from pumpctl import schedule
from pumpctl.battery import depleted
from pumpctl.display import duration_text, projected_date
from pumpctl.implant import DeadVolumeBolus, dead_volume_bolus
from pumpctl.limits import check_rate_change, is_large_concentration_change, is_large_rate_change
from pumpctl.preview import flow_nl_per_day, projected_low_reservoir_s
from pumpctl.programmer.errors import NothingToSend, ProgrammerRefusal
from pumpctl.programmer.interrogation import Context, Interrogation, Override
from pumpctl.programmer.review import Confirmation, Confirmations, Review, ReviewRow
from pumpctl.protocol import messages
from pumpctl.protocol.messages import (
    AckAlarmRequest,
    AlarmCode,
    BolusRequest,
    CatheterCheckRequest,
    EventCode,
    EventRecord,
    NakCode,
    RefillRequest,
    ResumeRequest,
    SetPeriodicBolusRequest,
    SetRateRequest,
    SetScheduleRequest,
    StopReason,
    StopRequest,
    WithdrawalRisk,
)
from pumpctl.units import format_amount, format_concentration, format_flow, format_volume

NONE = "-"
WITHDRAWAL_WARNING = {
    WithdrawalRisk.OPIOID: (
        "Stopping an intrathecal opioid abruptly causes withdrawal (agitation, sweating, "
        "cramps, rebound pain): plan to resume or taper"
    ),
    WithdrawalRisk.BACLOFEN: (
        "Boxed warning: abrupt discontinuation of intrathecal baclofen can cause high fever, "
        "altered mental status, rebound spasticity, rhabdomyolysis and death"
    ),
}


class TherapyCommand:
    """One row of the command table."""

    KIND: ClassVar[str]
    EVENT_CODES: ClassVar[tuple[EventCode, ...]]  # the pump event that shows it ran
    NEEDS_ALARMS: ClassVar[bool] = False
    NEEDS_SCHEDULE: ClassVar[bool] = False  # planned against the program in force
    VERIFIES_SCHEDULE: ClassVar[bool] = False  # the read-back includes the program
    NEEDS_DEMAND: ClassVar[bool] = False  # planned against the demand-bolus settings
    VERIFIES_DEMAND: ClassVar[bool] = False  # the read-back includes them
    NEEDS_IMPLANT: ClassVar[bool] = False  # planned against the implant record
    VERIFIES_IMPLANT: ClassVar[bool] = False  # the read-back includes the implant record

    def daily_dose_after(self, seen: Interrogation) -> int | None:
        """The daily dose this command programs, which the guard judges; None if it
        programs none."""
        return None

    def check(self, ctx: Context) -> None:
        """Refuse (``ProgrammerRefusal``) or say there is nothing to do (``NothingToSend``)."""

    def review(self, ctx: Context) -> Review:
        raise NotImplementedError

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        raise NotImplementedError

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        """What the read-back (``after``, and the pump's ``event`` for this request) shows
        wrong, or None."""
        return None

    def done(self, ctx: Context, after: Interrogation) -> str:
        """One line saying what was confirmed."""
        return f"{self.KIND} confirmed by read-back"


def _low_date_rows(seen: Interrogation, dose_after: int, *, running_after: bool) -> ReviewRow:
    status, limits = seen.status, seen.limits
    running = running_after and not seen.alarm_active(AlarmCode.OCCLUSION)
    conc = seen.identity.concentration_ng_per_ml
    periodic = schedule.periodic_of(seen.schedule)
    if periodic is not None:  # the pump's projection follows the periodic boluses' steps
        after = schedule.projected_low_reservoir_s(
            status.pump_time_s,
            status.reservoir_ul,
            limits,
            conc,
            ((0, dose_after),),
            running=running,
            periodic=periodic,
        )
    else:
        after = projected_low_reservoir_s(
            status.pump_time_s, status.reservoir_ul, limits, conc, dose_after, running=running
        )
    before = status.low_reservoir_projected_s or None
    shown = projected_date(after)
    if before is not None and after is not None and after != before:
        days = (after - before) // 86_400 if after > before else -((before - after) // 86_400)
        if days:
            shown += f" ({abs(days)} days {'later' if days > 0 else 'sooner'})"
    return ReviewRow("Low-reservoir date", projected_date(before), shown)


@dataclass(frozen=True)
class SetRate(TherapyCommand):
    dose_ng_per_day: int
    override: Override | None = None
    KIND: ClassVar[str] = "set-rate"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.RATE_CHANGED,)
    # A simple rate replaces a schedule: it is judged against it, time of day by time of day.
    NEEDS_SCHEDULE: ClassVar[bool] = True

    def daily_dose_after(self, seen: Interrogation) -> int | None:
        return self.dose_ng_per_day

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        current = seen.status.dose_ng_per_day
        scheduled = seen.schedule is not None and seen.schedule.active
        if self.dose_ng_per_day == current and not scheduled:
            raise NothingToSend(
                f"the pump already delivers {format_amount(current, seen.unit)}: nothing sent"
            )
        conc = seen.identity.concentration_ng_per_ml
        if seen.schedule is not None and scheduled:
            rules = schedule.Rules(seen.schedule.max_steps, seen.schedule.granularity_min)
            new = ((0, self.dose_ng_per_day),)
            violation = schedule.check_change(
                seen.limits, rules, conc, _program(seen), new, _periodic_ng(seen)
            )
        else:
            violation = check_rate_change(seen.limits, current, self.dose_ng_per_day, conc)
            if violation is None and _periodic_ng(seen):
                rules = schedule.Rules(1, 1)
                new = ((0, self.dose_ng_per_day),)
                violation = schedule.check_change(
                    seen.limits, rules, conc, new, new, _periodic_ng(seen)
                )
        if violation is not None:
            raise ProgrammerRefusal(violation.rule, violation.reason, limit=violation.limit)

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        unit, limits, conc = seen.unit, seen.limits, seen.identity.concentration_ng_per_ml
        current, new = seen.status.dose_ng_per_day, self.dose_ng_per_day
        rows = (
            ReviewRow("Dose", format_amount(current, unit), format_amount(new, unit)),
            ReviewRow(
                "Flow",
                format_flow(flow_nl_per_day(current, conc)),
                format_flow(flow_nl_per_day(new, conc)),
            ),
            ReviewRow("Concentration", *[format_concentration(conc, unit)] * 2),
            ReviewRow("Reservoir", *[format_volume(seen.status.reservoir_ul)] * 2),
            _low_date_rows(seen, new, running_after=seen.running),
            ReviewRow("Maximum daily dose", *[format_amount(limits.max_dose_ng_per_day, unit)] * 2),
            ReviewRow(
                "Maximum step",
                *[f"{limits.max_step_pct}% and {format_amount(limits.max_step_ng_per_day, unit)}"]
                * 2,
            ),
        )
        warnings: list[str] = []
        required: set[Confirmation] = set()
        if is_large_rate_change(limits, current, new):
            required.add(Confirmation.LARGE_CHANGE)
            if new > current:
                warnings.append(
                    f"{format_amount(current, unit)} -> {format_amount(new, unit)} multiplies "
                    f"the dose by {limits.large_change_factor} or more: a slipped decimal point?"
                )
            else:
                warnings.append(
                    f"{format_amount(current, unit)} -> {format_amount(new, unit)} cuts the dose "
                    "below half: a slipped decimal point? A large cut can cause withdrawal"
                )
        if new > current and limits.withdrawal_risk == WithdrawalRisk.OPIOID:
            warnings.append(
                "Respiratory depression is most likely after an increase: observe for 24 h"
            )
        if not seen.running:
            warnings.append("The pump is stopped: the new dose starts when it is resumed")
        if seen.schedule is not None and seen.schedule.active:
            program = schedule.describe(_program(seen), unit)
            warnings.insert(
                0,
                f"Replaces the flexible-dosing schedule ({program}) with {format_amount(new, unit)}"
                " around the clock; the pump judges the change at every time of day",
            )
        title = "Increase the daily dose" if new > current else "Decrease the daily dose"
        return Review(title, rows, tuple(warnings), frozenset(required))

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return SetRateRequest(
            request_id=request_id,
            dose_ng_per_day=self.dose_ng_per_day,
            believed_dose_ng_per_day=ctx.seen.status.dose_ng_per_day,
            confirm_large_change=confirmations.large_change,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        if after.status.dose_ng_per_day == self.dose_ng_per_day:
            return None
        unit = ctx.seen.unit
        return (
            f"the pump acknowledged {format_amount(self.dose_ng_per_day, unit)} but reads back "
            f"{format_amount(after.status.dose_ng_per_day, unit)}"
        )

    def done(self, ctx: Context, after: Interrogation) -> str:
        unit = ctx.seen.unit
        return (
            f"Dose {format_amount(ctx.seen.status.dose_ng_per_day, unit)} -> "
            f"{format_amount(after.status.dose_ng_per_day, unit)}, verified by read-back"
        )


@dataclass(frozen=True)
class Bolus(TherapyCommand):
    dose_ng: int
    duration_s: int
    KIND: ClassVar[str] = "bolus"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.BOLUS_STARTED,)

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        unit, limits = seen.unit, seen.limits
        if self.dose_ng <= 0 or self.duration_s <= 0:
            raise ProgrammerRefusal(NakCode.INVALID_ARGUMENT, "a bolus needs a dose and a duration")
        if limits.bolus_max_ng == 0:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"the drug library allows no bolus of {limits.drug}",
                limit=0,
            )
        if self.dose_ng > limits.bolus_max_ng:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"bolus of {format_amount(self.dose_ng, unit, False)} exceeds the maximum of "
                f"{format_amount(limits.bolus_max_ng, unit, False)}",
                limit=limits.bolus_max_ng,
            )
        if not seen.running:
            raise ProgrammerRefusal(NakCode.PUMP_STOPPED, "the pump is stopped: no bolus")
        if seen.alarm_active(AlarmCode.OCCLUSION):
            raise ProgrammerRefusal(NakCode.OCCLUSION_PRESENT, "an occlusion is present: no bolus")

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        unit, limits = seen.unit, seen.limits
        rows = (
            ReviewRow(
                "Bolus",
                NONE,
                f"{format_amount(self.dose_ng, unit, False)} over {duration_text(self.duration_s)}",
            ),
            ReviewRow("Daily dose", *[format_amount(seen.status.dose_ng_per_day, unit)] * 2),
            ReviewRow("Bolus maximum", *[format_amount(limits.bolus_max_ng, unit, False)] * 2),
            ReviewRow("Maximum daily dose", *[format_amount(limits.max_dose_ng_per_day, unit)] * 2),
        )
        return Review("Give a bolus", rows)

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return BolusRequest(request_id=request_id, dose_ng=self.dose_ng, duration_s=self.duration_s)

    def done(self, ctx: Context, after: Interrogation) -> str:
        dose = format_amount(self.dose_ng, ctx.seen.unit, False)
        return f"Bolus {dose} over {duration_text(self.duration_s)} started, confirmed by read-back"


@dataclass(frozen=True)
class Stop(TherapyCommand):
    KIND: ClassVar[str] = "stop"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.STOPPED,)

    def check(self, ctx: Context) -> None:
        if not ctx.seen.running:
            raise NothingToSend("the pump is already stopped: nothing sent")

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        dose = format_amount(seen.status.dose_ng_per_day, seen.unit)
        rows = (
            ReviewRow("Delivery", "running", "STOPPED"),
            ReviewRow("Drug delivered", dose, "none"),
            _low_date_rows(seen, seen.status.dose_ng_per_day, running_after=False),
        )
        # The withdrawal risk first: it is what a refusal for want of confirmation quotes.
        risk = WITHDRAWAL_WARNING.get(WithdrawalRisk(seen.limits.withdrawal_risk))
        required = frozenset({Confirmation.WITHDRAWAL_RISK}) if risk else frozenset()
        warnings = [risk] if risk else []
        warnings.append(f"{seen.limits.drug}: nothing is delivered until the pump is resumed")
        if seen.status.bolus_active:
            warnings.append("A bolus is running (a bridge bolus after a refill?): stopping ends it")
        return Review(f"Stop delivery of {seen.limits.drug}", rows, tuple(warnings), required)

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return StopRequest(request_id=request_id)

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        return None if not after.running else "the pump acknowledged the stop but reads running"

    def done(self, ctx: Context, after: Interrogation) -> str:
        return "Pump stopped, confirmed by read-back; resume it before the patient leaves"


@dataclass(frozen=True)
class Resume(TherapyCommand):
    KIND: ClassVar[str] = "resume"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.RESUMED,)
    NEEDS_ALARMS: ClassVar[bool] = True

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        if seen.running:
            raise NothingToSend("the pump is already running: nothing sent")
        if depleted(seen.status):
            raise ProgrammerRefusal(
                NakCode.PUMP_STOPPED,
                "the battery is depleted (end of service): the pump cannot resume; replace it",
            )
        if seen.status.reservoir_ul == 0:
            raise ProgrammerRefusal(NakCode.RESERVOIR_EMPTY, "the reservoir is empty: refill first")
        if seen.alarm_active(AlarmCode.MOTOR_STALL):
            raise ProgrammerRefusal(
                NakCode.PUMP_STOPPED, "the motor is stalled: the pump cannot resume"
            )
        if seen.status.stop_reason == StopReason.NV_INTEGRITY and seen.alarm_active(
            AlarmCode.NV_INTEGRITY
        ):
            raise ProgrammerRefusal(
                NakCode.PROGRAM_UNVERIFIED,
                "the pump stopped because its memory failed its check at boot: the program it "
                "holds is unverified. Review it (pumpctl status), set the dose you intend "
                "(pumpctl set-rate), acknowledge the alarm (pumpctl ack NV_INTEGRITY), then resume",
            )

    def off_s(self, ctx: Context) -> int | None:
        since = ctx.raised_at_s(AlarmCode.PUMP_STOPPED)
        return None if since is None else ctx.seen.status.pump_time_s - since

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        dose = format_amount(seen.status.dose_ng_per_day, seen.unit)
        off = self.off_s(ctx)
        rows = (
            ReviewRow("Delivery", "stopped", "running"),
            ReviewRow("Dose", "none", dose),
            ReviewRow(
                "Off for",
                NONE if off is None else duration_text(off),
                NONE if off is None else duration_text(off),
            ),
            _low_date_rows(seen, seen.status.dose_ng_per_day, running_after=True),
        )
        warnings = []
        required: frozenset[Confirmation] = frozenset()
        interval = seen.limits.retitration_interval_s
        if off is not None and interval and off > interval:
            required = frozenset({Confirmation.FULL_DOSE_RESTART})
            why = (
                "tolerance may be lost"
                if seen.limits.withdrawal_risk == WithdrawalRisk.OPIOID
                else "the dose was set for a patient on continuous therapy"
            )
            warnings.append(
                f"Delivery was off for {duration_text(off)}, longer than the drug library's "
                f"re-titration interval of {duration_text(interval)}: {why}; consider a lower "
                f"dose first (set-rate while stopped) and titrating again"
            )
        elif off is None:
            warnings.append("How long delivery was off is unknown: check the event log")
        return Review(f"Resume delivery at {dose}", rows, tuple(warnings), required)

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return ResumeRequest(request_id=request_id)

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        return None if after.running else "the pump acknowledged the resume but reads stopped"

    def done(self, ctx: Context, after: Interrogation) -> str:
        dose = format_amount(after.status.dose_ng_per_day, after.unit)
        return f"Pump running at {dose}, confirmed by read-back"


@dataclass(frozen=True)
class CatheterCheck(TherapyCommand):
    KIND: ClassVar[str] = "catheter-check"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.CATHETER_CHECKED,)

    def review(self, ctx: Context) -> Review:
        return Review("Run a catheter check", changes_therapy=False)

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return CatheterCheckRequest(request_id=request_id)


@dataclass(frozen=True)
class AckAlarm(TherapyCommand):
    code: AlarmCode
    KIND: ClassVar[str] = "ack-alarm"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.ALARM_ACKNOWLEDGED,)

    def check(self, ctx: Context) -> None:
        if not ctx.seen.alarm_active(self.code):
            raise ProgrammerRefusal(NakCode.NO_SUCH_ALARM, f"no active {self.code.name} alarm")

    def review(self, ctx: Context) -> Review:
        warnings: tuple[str, ...] = ()
        required: frozenset[Confirmation] = frozenset()
        if self.code == AlarmCode.PUMP_STOPPED:
            warnings = ("Acknowledging does not resume delivery: the alarm stays until resumed",)
        elif self.code == AlarmCode.VOLUME_DISCREPANCY:
            required = frozenset({Confirmation.DISCREPANCY_REASON})
            warnings = (
                "The last refill's residual differed from what the pump expected: acknowledging "
                "clears the alarm; say what was found (pocket fill ruled out? the patient "
                "watched for overdose or withdrawal?)",
            )
        return Review(f"Acknowledge {self.code.name}", (), warnings, required, False)

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return AckAlarmRequest(request_id=request_id, code=self.code)

    def done(self, ctx: Context, after: Interrogation) -> str:
        return f"{self.code.name} acknowledged"


@dataclass(frozen=True)
class Refill(TherapyCommand):
    withdrawn_ul: int
    added_ul: int
    concentration_ng_per_ml: int | None = None  # None: unchanged
    bridge_bolus_ng: int = 0  # 0: the implant record's volumes give it (if there is one)
    waive_bridge: bool = False
    bridge_reason: str = ""  # why a bridge bolus other than the computed one is given
    KIND: ClassVar[str] = "refill"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.REFILLED,)
    NEEDS_IMPLANT: ClassVar[bool] = True

    def new_concentration(self, seen: Interrogation) -> int:
        return self.concentration_ng_per_ml or seen.identity.concentration_ng_per_ml

    def computed_bridge(self, seen: Interrogation) -> DeadVolumeBolus | None:
        """The bridge bolus the implant record's volumes give for a concentration change:
        the pump's and the catheter's internal volume at the new concentration."""
        implant = seen.implant
        changing = self.new_concentration(seen) != seen.identity.concentration_ng_per_ml
        if implant is None or not implant.recorded or not changing or self.waive_bridge:
            return None
        return dead_volume_bolus(
            implant.pump_volume_nl,
            implant.catheter_volume_nl,
            self.new_concentration(seen),
            seen.unit,
        )

    def bridge_ng(self, seen: Interrogation) -> int:
        """The bridge bolus sent: the clinician's, or else the computed one."""
        if self.bridge_bolus_ng:
            return self.bridge_bolus_ng
        computed = self.computed_bridge(seen)
        return computed.dose_ng if computed is not None else 0

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        unit, limits = seen.unit, seen.limits
        old, new = seen.identity.concentration_ng_per_ml, self.new_concentration(seen)
        low, high = limits.min_concentration_ng_per_ml, limits.max_concentration_ng_per_ml
        if not low <= new <= high:
            raise ProgrammerRefusal(
                NakCode.CONCENTRATION_OUT_OF_RANGE,
                f"{format_concentration(new, unit)} is outside {limits.drug}'s range "
                f"{format_concentration(low, unit)} to {format_concentration(high, unit)}",
                limit=low if new < low else high,
            )
        capacity = seen.identity.reservoir_capacity_ul
        if self.added_ul > capacity:
            raise ProgrammerRefusal(
                NakCode.OVERFILL,
                f"{format_volume(self.added_ul)} overfills the {format_volume(capacity)} reservoir",
                limit=capacity,
            )
        changing = new != old
        bridge = self.bridge_ng(seen)
        if self.bridge_bolus_ng and self.waive_bridge:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT, "give a bridge bolus or waive it, not both"
            )
        computed = self.computed_bridge(seen)
        if computed is not None and bridge != computed.dose_ng and not self.bridge_reason.strip():
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT,
                f"bridge bolus {format_amount(bridge, unit, False)} differs from the "
                f"{computed.arithmetic()} the implant record's volumes give: leave the dose "
                "out to give that, or say why (--bridge-reason TEXT)",
            )
        if self.bridge_bolus_ng and not changing:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT,
                "a bridge bolus goes with a concentration change; the concentration is unchanged",
            )
        if changing and not bridge and not self.waive_bridge:
            raise ProgrammerRefusal(
                NakCode.BRIDGE_BOLUS_REQUIRED,
                f"{format_concentration(old, unit)} -> {format_concentration(new, unit)} needs a "
                "bridge bolus or an explicit waiver of it (no implant record gives the volumes "
                "to compute it)",
            )
        if bridge and not seen.running:
            raise ProgrammerRefusal(
                NakCode.PUMP_STOPPED,
                "the pump is stopped and would not deliver the bridge bolus: resume it first, "
                "or waive the bridge bolus",
            )
        if bridge > limits.bridge_bolus_max_ng:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"bridge bolus of {format_amount(bridge, unit, False)} exceeds the "
                "drug library's maximum of "
                f"{format_amount(limits.bridge_bolus_max_ng, unit, False)}",
                limit=limits.bridge_bolus_max_ng,
            )
        if bridge + seen.status.dose_ng_per_day > limits.max_dose_ng_per_day:
            raise ProgrammerRefusal(
                NakCode.DAILY_LIMIT,
                f"the bridge bolus with the daily dose exceeds the maximum daily dose "
                f"{format_amount(limits.max_dose_ng_per_day, unit)}",
                limit=limits.max_dose_ng_per_day,
            )
        dose = seen.status.dose_ng_per_day
        if flow_nl_per_day(dose, new) < limits.min_flow_nl_per_day:
            raise ProgrammerRefusal(
                NakCode.BELOW_MIN_FLOW,
                f"at {format_concentration(new, unit)} the dose of {format_amount(dose, unit)} "
                "needs a flow below the pump's minimum of "
                f"{format_flow(limits.min_flow_nl_per_day)}: use a lower concentration",
                limit=limits.min_flow_nl_per_day,
            )

    def _bridge_rows(self, seen: Interrogation) -> tuple[ReviewRow, ...]:
        computed = self.computed_bridge(seen)
        if computed is None:
            return ()
        return (ReviewRow("Bridge bolus from the implant record", NONE, computed.arithmetic()),)

    def discrepancy_ul(self, seen: Interrogation) -> int:
        return self.withdrawn_ul - seen.status.reservoir_ul

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        unit, limits, status = seen.unit, seen.limits, seen.status
        old, new = seen.identity.concentration_ng_per_ml, self.new_concentration(seen)
        dose = status.dose_ng_per_day
        new_low = projected_low_reservoir_s(
            status.pump_time_s, self.added_ul, limits, new, dose, running=seen.running
        )
        difference = self.discrepancy_ul(seen)
        sign = "+" if difference > 0 else ("-" if difference < 0 else "")
        rows = (
            ReviewRow("Expected residual", *[format_volume(status.reservoir_ul)] * 2),
            ReviewRow(
                "Withdrawn",
                NONE,
                f"{format_volume(self.withdrawn_ul)} ({sign}{format_volume(abs(difference))})",
            ),
            ReviewRow(
                "Concentration", format_concentration(old, unit), format_concentration(new, unit)
            ),
            ReviewRow("Dose", *[format_amount(dose, unit)] * 2),
            ReviewRow(
                "Flow at this dose",
                format_flow(flow_nl_per_day(dose, old)),
                format_flow(flow_nl_per_day(dose, new)),
            ),
            ReviewRow(
                "Reservoir", format_volume(status.reservoir_ul), format_volume(self.added_ul)
            ),
            ReviewRow(
                "Next refill",
                projected_date(
                    ctx.refill_due_s(ctx.last_refill_s, status.low_reservoir_projected_s)
                ),
                projected_date(ctx.refill_due_s(status.pump_time_s, new_low)),
            ),
            ReviewRow(
                "Bridge bolus",
                NONE,
                format_amount(self.bridge_ng(seen), unit, False)
                if self.bridge_ng(seen)
                else ("waived" if self.waive_bridge else NONE),
            ),
            *self._bridge_rows(seen),
            ReviewRow(
                "Concentration range",
                *[
                    f"{format_concentration(limits.min_concentration_ng_per_ml, unit)} to "
                    f"{format_concentration(limits.max_concentration_ng_per_ml, unit)}"
                ]
                * 2,
            ),
            ReviewRow(
                "Bridge bolus maximum",
                *[format_amount(limits.bridge_bolus_max_ng, unit, False)] * 2,
            ),
            ReviewRow("Maximum daily dose", *[format_amount(limits.max_dose_ng_per_day, unit)] * 2),
        )
        warnings: list[str] = []
        required: set[Confirmation] = set()
        discrepancy = self.discrepancy_ul(seen)
        if abs(discrepancy) > limits.refill_tolerance_ul:
            required.add(Confirmation.DISCREPANCY_REASON)
            tolerance = format_volume(limits.refill_tolerance_ul)
            if discrepancy < 0:
                warnings.append(
                    f"Withdrew {format_volume(-discrepancy)} LESS than the pump expects (tolerance "
                    f"{tolerance}): possible pocket fill - drug may be outside the reservoir; "
                    "check the needle position and watch for overdose"
                )
            else:
                warnings.append(
                    f"Withdrew {format_volume(discrepancy)} MORE than the pump expects (tolerance "
                    f"{tolerance}): possible under-delivery (motor stall, occlusion); watch for "
                    "withdrawal and check the catheter"
                )
        if new != old and is_large_concentration_change(old, new):
            required.add(Confirmation.LARGE_CHANGE)
            factor = (Decimal(old) / Decimal(new)).normalize()
            warnings.append(
                f"The concentration changes {format_concentration(old, unit)} -> "
                f"{format_concentration(new, unit)}: at the same dose the pump pumps {factor:f}x "
                "the volume; check the vial against the prescription"
            )
        due = ctx.refill_due_s(status.pump_time_s, new_low)
        if due is not None and due != new_low:
            days = limits.max_refill_interval_s // 86_400
            warnings.append(
                f"Next refill by {projected_date(due)}: {limits.drug} may stay in the pump at most "
                f"{days} days (drug library), before the reservoir runs low"
            )
        computed = self.computed_bridge(seen)
        if computed is not None and self.bridge_ng(seen) != computed.dose_ng:
            warnings.append(
                f"Bridge bolus {format_amount(self.bridge_ng(seen), unit, False)} instead of the "
                f"{format_amount(computed.dose_ng, unit, False)} the implant record gives: "
                f"{self.bridge_reason.strip()}"
            )
        if computed is not None:
            warnings.append(
                f"While the bridge bolus runs the patient receives the old drug in the pump and "
                f"catheter: {format_amount(computed.volume_nl * old // 1_000_000, unit, False)} "
                f"at {format_concentration(old, unit)}"
            )
        if not seen.running:
            warnings.append("The pump is stopped and stays stopped after the refill: resume it")
        signs = "overdose and underdose"
        if limits.withdrawal_risk != WithdrawalRisk.NONE:
            signs = "overdose, underdose and withdrawal"
        warnings.append(f"Remind the patient of the signs of {signs}")
        return Review(f"Refill {limits.drug}", rows, tuple(warnings), frozenset(required))

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return RefillRequest(
            request_id=request_id,
            residual_withdrawn_ul=self.withdrawn_ul,
            volume_added_ul=self.added_ul,
            concentration_ng_per_ml=self.new_concentration(ctx.seen),
            bridge_bolus_ng=self.bridge_ng(ctx.seen),
            waive_bridge_bolus=self.waive_bridge,
            discrepancy_acknowledged=bool(confirmations.discrepancy_reason.strip()),
            confirm_large_change=confirmations.large_change,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        if (event.value_a, event.value_b) != (self.withdrawn_ul, self.added_ul):
            return (
                f"the pump logged a refill of {format_volume(event.value_b)} "
                f"(withdrawn {format_volume(event.value_a)}), not {format_volume(self.added_ul)}"
            )
        expected = self.new_concentration(ctx.seen)
        if after.identity.concentration_ng_per_ml != expected:
            unit = ctx.seen.unit
            read = after.identity.concentration_ng_per_ml
            return (
                f"the pump reads back {format_concentration(read, unit)}, "
                f"not {format_concentration(expected, unit)}"
            )
        if after.status.reservoir_ul > self.added_ul:
            return (
                f"the pump reads back {format_volume(after.status.reservoir_ul)} in the reservoir"
            )
        return None

    def done(self, ctx: Context, after: Interrogation) -> str:
        conc = format_concentration(after.identity.concentration_ng_per_ml, after.unit)
        text = f"Refilled: {format_volume(after.status.reservoir_ul)} at {conc}, confirmed"
        if not after.running:
            text += "; the pump is STOPPED: resume it"
        return text


def _periodic_ng(seen: Interrogation) -> int:
    """What the periodic boluses in force deliver a day (0: none)."""
    periodic = schedule.periodic_of(seen.schedule)
    return periodic.per_day_ng if periodic is not None else 0


def _program(seen: Interrogation) -> schedule.Steps:
    """The program in force, as the plan read it (READ_SCHEDULE)."""
    if seen.schedule is None:
        return ((0, seen.status.dose_ng_per_day),)
    return schedule.program_of(seen.schedule)


def _program_rows(seen: Interrogation, old: schedule.Steps, new: schedule.Steps) -> list[ReviewRow]:
    """Old and new side by side: each stretch of the day, then the daily doses (the
    integral), the flow, and the limits that apply."""
    unit, limits, conc = seen.unit, seen.limits, seen.identity.concentration_ng_per_ml
    rows = [
        ReviewRow(
            f"{schedule.clock(start)}-{schedule.clock(end % schedule.MIN_PER_DAY)}",
            format_amount(o, unit),
            format_amount(n, unit),
        )
        for start, end, o, n in schedule.compare(old, new)
    ]
    before, after = schedule.daily_dose_ng(old), schedule.daily_dose_ng(new)
    rows += [
        ReviewRow(
            "Daily dose", format_amount(before, unit, False), format_amount(after, unit, False)
        ),
        ReviewRow(
            "Flow (a day)",
            format_flow(flow_nl_per_day(before, conc)),
            format_flow(flow_nl_per_day(after, conc)),
        ),
        ReviewRow("Concentration", *[format_concentration(conc, unit)] * 2),
        ReviewRow("Reservoir", *[format_volume(seen.status.reservoir_ul)] * 2),
    ]
    status = seen.status
    low_after = schedule.projected_low_reservoir_s(
        status.pump_time_s,
        status.reservoir_ul,
        limits,
        conc,
        new,
        running=seen.running and not seen.alarm_active(AlarmCode.OCCLUSION),
        periodic=schedule.periodic_of(seen.schedule),
    )
    rows += [
        ReviewRow(
            "Low-reservoir date",
            projected_date(status.low_reservoir_projected_s),
            projected_date(low_after),
        ),
        ReviewRow("Maximum daily dose", *[format_amount(limits.max_dose_ng_per_day, unit)] * 2),
        ReviewRow(
            "Maximum step",
            *[f"{limits.max_step_pct}% and {format_amount(limits.max_step_ng_per_day, unit)}"] * 2,
        ),
    ]
    return rows


def _program_review(
    seen: Interrogation, old: schedule.Steps, new: schedule.Steps, title: str
) -> Review:
    limits, unit = seen.limits, seen.unit
    warnings: list[str] = []
    required: set[Confirmation] = set()
    if schedule.is_large_change(limits, old, new):
        required.add(Confirmation.LARGE_CHANGE)
        warnings.append(
            f"{schedule.describe(old, unit)} -> {schedule.describe(new, unit)} multiplies a "
            f"dose by {limits.large_change_factor} or more, or cuts one below half, at some time "
            "of day: a slipped decimal point? A large cut can cause withdrawal"
        )
    if schedule.increases(old, new) and limits.withdrawal_risk == WithdrawalRisk.OPIOID:
        warnings.append("Respiratory depression is most likely after an increase: observe for 24 h")
    if not seen.running:
        warnings.append("The pump is stopped: the new program starts when it is resumed")
    warnings.append("Times of day are the pump's clock (UTC)")
    return Review(title, tuple(_program_rows(seen, old, new)), tuple(warnings), frozenset(required))


@dataclass(frozen=True)
class SetSchedule(TherapyCommand):
    """Program a flexible-dosing schedule: timed steps repeating daily."""

    steps: schedule.Steps
    override: Override | None = None
    KIND: ClassVar[str] = "set-schedule"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.SCHEDULE_SET,)
    NEEDS_SCHEDULE: ClassVar[bool] = True
    VERIFIES_SCHEDULE: ClassVar[bool] = True

    def daily_dose_after(self, seen: Interrogation) -> int | None:
        return schedule.daily_dose_ng(self.steps)

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        old = _program(seen)
        if old == self.steps:
            raise NothingToSend(
                f"the pump already delivers {schedule.describe(old, seen.unit)}: nothing sent"
            )
        if len(self.steps) < 2:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT, "a schedule has 2 or more steps (one is set-rate)"
            )
        assert seen.schedule is not None
        rules = schedule.Rules(seen.schedule.max_steps, seen.schedule.granularity_min)
        off_grid = [s for s, _ in self.steps if s % rules.granularity_min]
        if off_grid:
            raise ProgrammerRefusal(
                NakCode.INVALID_ARGUMENT,
                f"step {schedule.clock(off_grid[0])} is not on the pump's "
                f"{rules.granularity_min} min granularity",
            )
        violation = schedule.check_change(
            seen.limits,
            rules,
            seen.identity.concentration_ng_per_ml,
            old,
            self.steps,
            _periodic_ng(seen),
        )
        if violation is not None:
            raise ProgrammerRefusal(violation.rule, violation.reason, limit=violation.limit)

    def review(self, ctx: Context) -> Review:
        return _program_review(
            ctx.seen, _program(ctx.seen), self.steps, "Program a flexible-dosing schedule"
        )

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return SetScheduleRequest(
            request_id=request_id,
            steps=schedule.to_wire(self.steps),
            believed_steps=schedule.to_wire(_program(ctx.seen)),
            confirm_large_change=confirmations.large_change,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        read = _program(after)
        if read == self.steps:
            return None
        unit = ctx.seen.unit
        return (
            f"the pump acknowledged {schedule.describe(self.steps, unit)} but reads back "
            f"{schedule.describe(read, unit)}"
        )

    def done(self, ctx: Context, after: Interrogation) -> str:
        unit = ctx.seen.unit
        daily = format_amount(after.status.dose_ng_per_day, unit)
        return (
            f"Schedule {schedule.describe(_program(after), unit)} ({daily}), verified by read-back"
        )


@dataclass(frozen=True)
class ClearSchedule(TherapyCommand):
    """Replace the schedule with a simple continuous rate: ``dose_ng_per_day``, or by
    default the schedule's daily dose spread evenly over the day."""

    dose_ng_per_day: int | None = None
    KIND: ClassVar[str] = "clear-schedule"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.SCHEDULE_CLEARED,)
    NEEDS_SCHEDULE: ClassVar[bool] = True
    VERIFIES_SCHEDULE: ClassVar[bool] = True

    def dose(self, seen: Interrogation) -> int:
        return (
            self.dose_ng_per_day
            if self.dose_ng_per_day is not None
            else seen.status.dose_ng_per_day
        )

    def daily_dose_after(self, seen: Interrogation) -> int | None:
        return self.dose(seen)

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        if seen.schedule is None or not seen.schedule.active:
            raise NothingToSend("no schedule is programmed (a simple rate is): nothing sent")
        rules = schedule.Rules(seen.schedule.max_steps, seen.schedule.granularity_min)
        violation = schedule.check_change(
            seen.limits,
            rules,
            seen.identity.concentration_ng_per_ml,
            _program(seen),
            ((0, self.dose(seen)),),
            _periodic_ng(seen),
        )
        if violation is not None:
            raise ProgrammerRefusal(violation.rule, violation.reason, limit=violation.limit)

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        new = ((0, self.dose(seen)),)
        return _program_review(seen, _program(seen), new, "Clear the schedule: a simple rate")

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        return SetRateRequest(
            request_id=request_id,
            dose_ng_per_day=self.dose(ctx.seen),
            believed_dose_ng_per_day=ctx.seen.status.dose_ng_per_day,
            confirm_large_change=confirmations.large_change,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        dose = self.dose(ctx.seen)
        if _program(after) == ((0, dose),) and after.status.dose_ng_per_day == dose:
            return None
        unit = ctx.seen.unit
        return (
            f"the pump acknowledged {format_amount(dose, unit)} but reads back "
            f"{schedule.describe(_program(after), unit)}"
        )

    def done(self, ctx: Context, after: Interrogation) -> str:
        dose = format_amount(after.status.dose_ng_per_day, ctx.seen.unit)
        return f"Schedule cleared: {dose} around the clock, verified by read-back"


@dataclass(frozen=True)
class SetPeriodicBolus(TherapyCommand):
    """Program periodic boluses: ``dose_ng`` every ``interval_h`` hours from ``first_min``
    after 00:00, each over ``duration_min``; a dose of 0 clears them."""

    dose_ng: int
    interval_h: int = 0
    duration_min: int = 0
    first_min: int = 0
    KIND: ClassVar[str] = "periodic-bolus"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.PERIODIC_BOLUS_SET,)
    NEEDS_SCHEDULE: ClassVar[bool] = True
    VERIFIES_SCHEDULE: ClassVar[bool] = True

    def new(self) -> schedule.Periodic | None:
        if not self.dose_ng:
            return None
        return schedule.Periodic(
            self.dose_ng, self.duration_min, self.interval_h * 60, self.first_min
        )

    def daily_dose_after(self, seen: Interrogation) -> int | None:
        """An increase of the boluses' daily amount escalates the daily dose by as much."""
        old, new = schedule.periodic_of(seen.schedule), self.new()
        more = (new.per_day_ng if new else 0) - (old.per_day_ng if old else 0)
        return seen.status.dose_ng_per_day + more if more > 0 else None

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        unit, limits = seen.unit, seen.limits
        old, new = schedule.periodic_of(seen.schedule), self.new()
        if old == new:
            what = "no periodic boluses" if new is None else new.describe(unit)
            raise NothingToSend(f"the pump already has {what}: nothing sent")
        if new is None:
            return
        problem = new.shape_error()
        if problem is not None:
            raise ProgrammerRefusal(NakCode.INVALID_ARGUMENT, problem)
        if self.dose_ng > limits.bolus_max_ng:
            raise ProgrammerRefusal(
                NakCode.BOLUS_TOO_LARGE,
                f"a periodic bolus of {format_amount(self.dose_ng, unit, False)} exceeds the "
                f"maximum bolus of {format_amount(limits.bolus_max_ng, unit, False)}",
            )
        daily = schedule.daily_dose(_program(seen)) + new.per_day_ng
        if daily > limits.max_dose_ng_per_day:
            raise ProgrammerRefusal(
                NakCode.ABOVE_MAX_DOSE,
                f"{format_amount(seen.status.dose_ng_per_day, unit)} with "
                f"{format_amount(new.per_day_ng, unit, False)} of periodic boluses a day "
                f"exceeds the maximum daily dose {format_amount(limits.max_dose_ng_per_day, unit)}",
            )

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        unit, limits, status = seen.unit, seen.limits, seen.status
        old, new = schedule.periodic_of(seen.schedule), self.new()
        basal = status.dose_ng_per_day

        def each(p: schedule.Periodic | None) -> str:
            return "none" if p is None else p.describe(unit)

        def per_day(p: schedule.Periodic | None) -> int:
            return 0 if p is None else p.per_day_ng

        low_after = schedule.projected_low_reservoir_s(
            status.pump_time_s,
            status.reservoir_ul,
            limits,
            seen.identity.concentration_ng_per_ml,
            _program(seen),
            running=seen.running and not seen.alarm_active(AlarmCode.OCCLUSION),
            periodic=new,
        )
        rows = (
            ReviewRow("Periodic bolus", each(old), each(new)),
            ReviewRow(
                "Boluses a day",
                format_amount(per_day(old), unit, False),
                format_amount(per_day(new), unit, False),
            ),
            ReviewRow("Basal daily dose", *[format_amount(basal, unit)] * 2),
            ReviewRow(
                "Daily dose, boluses included",
                format_amount(basal + per_day(old), unit, False),
                format_amount(basal + per_day(new), unit, False),
            ),
            ReviewRow(
                "Low-reservoir date",
                projected_date(status.low_reservoir_projected_s),
                projected_date(low_after),
            ),
            ReviewRow("Bolus maximum", *[format_amount(limits.bolus_max_ng, unit, False)] * 2),
            ReviewRow("Maximum daily dose", *[format_amount(limits.max_dose_ng_per_day, unit)] * 2),
        )
        warnings = []
        if per_day(new) > per_day(old) and limits.withdrawal_risk == WithdrawalRisk.OPIOID:
            warnings.append(
                "Respiratory depression is most likely after an increase: observe for 24 h"
            )
        if new is not None:
            warnings.append(
                "Periodic boluses are programmed, not on demand: every 24 h maximum counts them, "
                "the demand bolus lockout and count do not"
            )
            warnings.append("Times of day are the pump's clock (UTC)")
        if not seen.running:
            warnings.append("The pump is stopped: no bolus is given until it is resumed")
        title = "Clear the periodic boluses" if new is None else "Program periodic boluses"
        return Review(title, rows, tuple(warnings))

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        old, new = schedule.periodic_of(ctx.seen.schedule), self.new()
        return SetPeriodicBolusRequest(
            request_id=request_id,
            dose_ng=self.dose_ng,
            duration_min=new.duration_min if new else 0,
            interval_min=new.interval_min if new else 0,
            first_min=new.first_min if new else 0,
            believed_dose_ng=old.dose_ng if old else 0,
            believed_interval_min=old.interval_min if old else 0,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        read = schedule.periodic_of(after.schedule)
        if read == self.new():
            return None
        unit = ctx.seen.unit
        shown = "none" if read is None else read.describe(unit)
        return f"the pump acknowledged the periodic boluses but reads back {shown}"

    def done(self, ctx: Context, after: Interrogation) -> str:
        read = schedule.periodic_of(after.schedule)
        if read is None:
            return "Periodic boluses cleared, verified by read-back"
        return f"Periodic boluses {read.describe(ctx.seen.unit)}, verified by read-back"


COMMAND_KINDS: tuple[type[TherapyCommand], ...] = (
    SetRate,
    SetSchedule,
    ClearSchedule,
    SetPeriodicBolus,
    Bolus,
    Stop,
    Resume,
    CatheterCheck,
    AckAlarm,
    Refill,
)
