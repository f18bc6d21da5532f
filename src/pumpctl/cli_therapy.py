"""Therapy changes from a shell: ``set-rate``, ``bolus``, ``stop``, ``resume``,
``catheter-check``, ``refill``, ``ack``. Each is planned, its review shown, then executed by
the programmer (:func:`therapy`, the one path)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from pumpctl.cli_common import Output, dump
from pumpctl.clinical.guard import GuardDecision, OverrideReason
from pumpctl.display import pump_minute, spoken_name
from pumpctl.exits import UsageError
from pumpctl.programmer import (
    AckAlarm,
    Bolus,
    CatheterCheck,
    Confirmations,
    Interrogation,
    NothingToSend,
    Override,
    Programmer,
    Refill,
    Result,
    Resume,
    SetRate,
    Stop,
    TherapyCommand,
)
from pumpctl.programmer.evidence import verdict_name
from pumpctl.protocol.messages import AlarmCode
from pumpctl.text import check_typed
from pumpctl.units import (
    format_concentration,
    format_volume,
    parse_amount_ng,
    parse_duration_s,
    parse_volume_ul,
)


async def _set_rate(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    dose = parse_amount_ng(args.dose, seen.unit)
    override = None
    if args.override_reason:
        try:
            override = Override(OverrideReason(args.override_reason), args.override_note)
        except ValueError as error:
            raise UsageError(str(error)) from None
    elif args.override_note:
        raise UsageError("--override-note goes with --override-reason")
    confirmations = Confirmations(large_change=args.confirm_large_change)
    output = await therapy(programmer, args, SetRate(dose, override), confirmations, seen)
    if output.result is not None:
        output.data["previous_dose_ng_per_day"] = seen.status.dose_ng_per_day
        output.data["dose_ng_per_day"] = output.result.after.status.dose_ng_per_day
        output.data["overridden"] = output.result.plan.overridden
        guard = output.result.plan.guard
        if guard is not None:
            output.data["guard"] = guard.as_json()
            # The rule that let it through, as for a hold or a block.
            said = [f"Guard: {guard.verdict.value.upper()} ({guard.rule.value}) - {guard.reason}"]
            said += [f"  {line}" for line in guard.evidence_lines()]
            output.text = "\n".join([*said, output.text])
    return output


@dataclass
class TherapyOutput(Output):
    result: Result | None = None


async def therapy(
    programmer: Programmer,
    args: argparse.Namespace,
    command: TherapyCommand,
    confirmations: Confirmations | None = None,
    seen: Interrogation | None = None,
) -> TherapyOutput:
    """Plan, show the review, execute: the one path every therapy command takes."""
    try:
        plan = await programmer.plan(command, seen)
    except NothingToSend as nothing:
        return TherapyOutput(
            {"outcome": "not-sent", "sent": False, "reason": str(nothing)}, str(nothing)
        )
    review = plan.review
    if not args.json and (review.rows or review.warnings):
        print("\n".join(review.lines()), flush=True)
    result = await programmer.execute(plan, confirmations)
    data: dict[str, Any] = {
        "outcome": result.outcome.value,
        "verified": True,
        "request_id": str(result.request_id),
        "unit": result.after.unit,
        "review": review.as_json(),
        "resolved_after_lost_answer": result.resolved_after_lost_answer,
        "status": dump(result.after.status),
    }
    return TherapyOutput(data, result.text, result)


async def _bolus(programmer: Programmer, args: argparse.Namespace) -> Output:
    duration = parse_duration_s(args.duration, "bolus duration")
    seen = await programmer.interrogate()
    dose = parse_amount_ng(args.dose, seen.unit, "bolus dose")
    return await therapy(programmer, args, Bolus(dose, duration), seen=seen)


async def _stop(programmer: Programmer, args: argparse.Namespace) -> Output:
    confirmations = Confirmations(withdrawal_risk=args.confirm_withdrawal_risk)
    return await therapy(programmer, args, Stop(), confirmations)


async def _resume(programmer: Programmer, args: argparse.Namespace) -> Output:
    confirmations = Confirmations(full_dose_restart=args.confirm_full_dose)
    return await therapy(programmer, args, Resume(), confirmations)


async def _catheter_check(programmer: Programmer, args: argparse.Namespace) -> Output:
    output = await therapy(programmer, args, CatheterCheck())
    if output.result is not None:
        serial, request_id = output.result.after.serial, output.result.request_id
        event = programmer.record.event_for_request(serial, request_id)
        if event is not None:
            verdict = verdict_name(event.value_a)
            measured = event.detail.partition(": ")[2]
            output.text = f"Catheter {spoken_name(verdict)}: {measured}"
            output.data["verdict"] = verdict
            output.data["peak_pressure_mmhg"] = event.value_b
    return output


async def _refill(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    unit = seen.unit
    expected = seen.status.reservoir_ul
    if args.withdrawn is None and args.added is None:
        conc = format_concentration(seen.identity.concentration_ng_per_ml, unit)
        text = (
            f"The pump expects a residual of {format_volume(expected)} "
            f"({seen.identity.drug} {conc}); "
            f"tolerance {format_volume(seen.limits.refill_tolerance_ul)}. Withdraw it all, then: "
            "pumpctl refill --withdrawn ML --added ML"
        )
        return Output(
            {
                "sent": False,
                "expected_residual_ul": expected,
                "refill_tolerance_ul": seen.limits.refill_tolerance_ul,
            },
            text,
        )
    if args.withdrawn is None or args.added is None:
        raise UsageError("a refill needs both --withdrawn ML and --added ML")
    concentration = (
        parse_amount_ng(args.concentration, unit, "concentration") if args.concentration else None
    )
    bridge = parse_amount_ng(args.bridge_bolus, unit, "bridge bolus") if args.bridge_bolus else 0
    command = Refill(
        parse_volume_ul(args.withdrawn, "withdrawn volume"),
        parse_volume_ul(args.added, "added volume"),
        concentration,
        bridge,
        args.waive_bridge,
        check_typed(args.bridge_reason, "bridge reason"),
    )
    confirmations = Confirmations(
        large_change=args.confirm_large_change, discrepancy_reason=args.discrepancy_reason
    )
    return await therapy(programmer, args, command, confirmations, seen)


async def _ack(programmer: Programmer, args: argparse.Namespace) -> Output:
    name = args.alarm.strip().upper().replace("-", "_")
    if name not in AlarmCode.__members__:
        raise UsageError(f"alarm {args.alarm!r} is unknown ({', '.join(AlarmCode.__members__)})")
    confirmations = Confirmations(discrepancy_reason=args.discrepancy_reason)
    return await therapy(programmer, args, AckAlarm(AlarmCode[name]), confirmations)


def decision_text(decision: GuardDecision, override_refused: str | None = None) -> str:
    """The verdict, its rule and evidence (each with its time), what to check, what to do."""
    lines = [f"Guard: {decision.verdict.value.upper()} ({decision.rule.value}) - {decision.reason}"]
    if decision.evidence:
        lines.append("Evidence:")
        lines += [
            f"  {pump_minute(e.time_s) if e.time_s is not None else ' ' * 16}  {e.text}"
            for e in decision.evidence
        ]
    lines += [f"  ! {w}" for w in decision.warning_lines()]
    if decision.checklist:
        lines.append(f"{decision.checklist_title}:")
        lines += [f"  [ ] {item}" for item in decision.checklist]
    if decision.options:
        lines.append("Options:")
        lines += [f"  - {item}" for item in decision.options]
    if override_refused:
        lines.append(f"Override refused: {override_refused}")
    if decision.next_action == "log-vas":
        lines.append("Log a VAS (pumpctl vas SCORE [--taken-at WHEN]), then try again.")
    elif decision.next_action == "resolve-fault":
        lines.append(
            "Find and repair the fault (imaging, catheter revision), then run a catheter check "
            "(pumpctl catheter-check)."
        )
    elif decision.next_action == "explain-discrepancy":
        lines.append("Acknowledge the discrepancy with what was found, then try again.")
    elif decision.next_action == "catheter-check":
        lines.append("Run a catheter check (pumpctl catheter-check), then try again.")
    elif decision.next_action == "resume":
        lines.append("Resume delivery (pumpctl resume), then reassess.")
    elif decision.next_action == "return-to-dose" and decision.return_dose:
        dose = decision.return_dose.split()[0]
        lines.append(f"Return to {decision.return_dose} (pumpctl set-rate {dose}), then reassess.")
    if decision.overridable:
        lines.append(
            "To escalate anyway: --override-reason {"
            + ",".join(r.value for r in OverrideReason)
            + "} --override-note TEXT (recorded in the audit trail)"
        )
    return "\n".join(lines)


ONLINE = {
    "set-rate": _set_rate,
    "bolus": _bolus,
    "stop": _stop,
    "resume": _resume,
    "catheter-check": _catheter_check,
    "refill": _refill,
    "ack": _ack,
}
