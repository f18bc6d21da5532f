"""The read commands' text, as ``pumpctl`` prints it: pure functions from what was read to lines.

No pump, no record, no arguments: each takes the data its command gathered, so a change of
layout is a change here alone, and ``--json`` (``pumpctl.cli_json``) never depends on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pumpctl.battery import battery_text
from pumpctl.display import projected_date, pump_minute, pump_second, spoken
from pumpctl.protocol.messages import AlarmRecord, EventCode, EventRecord, LimitsResponse
from pumpctl.text import printable
from pumpctl.units import format_amount, format_concentration, format_flow, format_volume

if TYPE_CHECKING:
    from pumpctl.clinical.timeline import TimelineRow
    from pumpctl.programmer import Interrogation


def identity_line(seen: Interrogation) -> str:
    identity = seen.identity
    conc = format_concentration(identity.concentration_ng_per_ml, seen.unit)
    return (
        f"Pump {identity.serial_number} ({identity.model}, firmware "
        f"{identity.firmware_version}), {format_volume(identity.reservoir_capacity_ul)} "
        f"reservoir, {identity.drug} {conc}"
    )


def status_text(seen: Interrogation) -> str:
    status, unit = seen.status, seen.unit
    state = spoken(status.state)
    if status.stop_reason:
        state += f" ({spoken(status.stop_reason)})"
    low = projected_date(status.low_reservoir_projected_s)
    alarms = ", ".join(
        f"{a.code.name} ({spoken(a.severity)}{', acknowledged' if a.acknowledged else ''})"
        for a in status.alarms
    )
    return "\n".join(
        [
            identity_line(seen),
            f"State      {state}{', bolus running' if status.bolus_active else ''}",
            f"Dose       {format_amount(status.dose_ng_per_day, unit)} "
            f"(flow {format_flow(status.flow_nl_per_day)})",
            f"Reservoir  {format_volume(status.reservoir_ul)}; low-reservoir date {low}",
            f"Battery    {battery_text(status)}",
            f"Pump time  {pump_second(status.pump_time_s)}",
            f"Alarms     {alarms or 'none'}",
        ]
    )


def status_lines(
    seen: Interrogation,
    discrepancies: Sequence[str],
    record_problem: str | None,
    patient_id: str | None = None,
) -> str:
    """The status (naming the patient the implant record identifies, when it does), then each
    disagreement between the pump and the clinical record."""
    lines = status_text(seen).split("\n")
    if patient_id:
        lines.insert(1, f"Patient    {patient_id} (the pump's implant record)")
    lines += [f"Discrepancy {text}" for text in discrepancies]
    if discrepancies:
        lines.append("            increases wait: pumpctl reconcile --reason TEXT")
    if record_problem:
        lines.append(f"Record     not synced: {record_problem}")
    return "\n".join(lines)


def limits_text(limits: LimitsResponse, unit: str) -> str:
    return "\n".join(
        [
            f"Drug               {limits.drug}",
            f"Max daily dose     {format_amount(limits.max_dose_ng_per_day, unit)}",
            f"Max step           {limits.max_step_pct}% and "
            f"{format_amount(limits.max_step_ng_per_day, unit)}",
            f"Between increases  {limits.min_increase_interval_s // 3600} h",
            f"Bolus              max {format_amount(limits.bolus_max_ng, unit, False)}, "
            f"lockout {limits.bolus_lockout_s // 60} min, {limits.max_boluses_per_day}/day",
            f"Minimum flow       {format_flow(limits.min_flow_nl_per_day)}",
            f"Refill tolerance   {format_volume(limits.refill_tolerance_ul)}",
            f"Bridge bolus       max {format_amount(limits.bridge_bolus_max_ng, unit, False)}",
            f"Low reservoir      {format_volume(limits.low_reservoir_ul)}",
        ]
    )


def history_text(serial: str, rows: Sequence[TimelineRow], unit: str) -> str:
    from pumpctl.clinical.scores import format_vas  # the history's alone: a read pays nothing

    if not rows:
        return f"No history for pump {serial}"
    lines = [f"History of pump {serial}"]
    for row in rows:
        when = pump_minute(row.time_s)
        if row.kind == "vas":
            lines.append(f"  {when}  VAS {format_vas(row.value)}")
        else:
            lines.append(
                f"  {when}  dose {format_amount(row.previous or 0, unit)} -> "
                f"{format_amount(row.value, unit)}"
            )
    return "\n".join(lines)


def audit_action(entry: dict[str, Any]) -> str:
    """``command-refused bolus: pump refused (...)``: what, of which command, and why."""
    data = entry.get("data", {})
    action = str(entry["action"])
    if "kind" in data:
        action += f" {data['kind']}"
    detail = data.get("detail") or data.get("reason") or ""
    review = data.get("review")
    if not detail and isinstance(review, dict):
        changed = [f"{r[0]} {r[1]} -> {r[2]}" for r in review.get("rows", []) if r[1] != r[2]]
        detail = "; ".join([review.get("title", ""), *changed])
        given = review.get("confirmations", {})
        confirmed = [k.replace("_", " ") for k, v in given.items() if v is True]
        if confirmed:
            detail += f"; confirmed: {', '.join(confirmed)}"
        if given.get("discrepancy_reason"):
            detail += f"; discrepancy reason: {given['discrepancy_reason']}"
    if data.get("override_reason"):
        detail += f"; OVERRIDE {data['override_reason']}: {data.get('override_note')}"
    return f"{action}: {detail}" if detail else action


def audit_text(entries: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"{e['seq']:>5}  {pump_minute(e['time_s'])}  {printable(str(e['pump'])):<10} "
        f"{printable(str(e['actor'])):<10} {printable(audit_action(e))}"
        for e in entries
    ]
    return "\n".join(lines) or "The audit trail is empty"


def alarms_text(alarms: Sequence[AlarmRecord]) -> str:
    lines = [
        f"{a.code.name:<22} {spoken(a.severity):<9} since {pump_second(a.raised_at_s)}"
        f"{'  acknowledged' if a.acknowledged else ''}"
        for a in alarms
    ]
    return "\n".join(lines) or "No active alarms"


def events_text(events: Sequence[EventRecord], overflow_count: int) -> str:
    lines = [
        f"{e.index:>6}  {pump_second(e.time_s)}  {EventCode(e.code).name:<18} {e.detail}"
        for e in events
    ]
    if overflow_count:
        lines.insert(0, f"({overflow_count} older events overwritten)")
    return "\n".join(lines) or "No events"
