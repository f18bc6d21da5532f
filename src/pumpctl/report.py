"""The visit report: what was done, as Markdown and a self-contained, print-ready HTML page.

Who and what (patient, clinician, pump, drug, a TRAINING marker), settings before and after,
dose and VAS history with the chart, guard decisions and overrides, alarms, refills and
catheter checks, all from the pump and the clinical record. The visit runs from the first
interaction with the pump on the day of the report (pump clock), or from ``since_s``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import platformdirs

from pumpctl.battery import battery_text
from pumpctl.chart import ChartModel, chart_model, guard_marks
from pumpctl.clinical.record import ChangeRow, CommandRow
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.systemic import (
    CAVEAT,
    SystemicLoad,
    opioid_mme_text,
    systemic_load,
    total_text,
)
from pumpctl.clinical.timeline import TimelineRow, timeline
from pumpctl.display import projected_date, pump_stamp, spoken
from pumpctl.display import pump_minute_utc as _time
from pumpctl.link.errors import PumpRefused
from pumpctl.programmer import Interrogation, Programmer
from pumpctl.programmer.demand import OUTCOME_WORDS, describe, settings_of, summarise
from pumpctl.protocol.messages import (
    DemandLogEntry,
    DemandSettingsResponse,
    EventCode,
    EventRecord,
)
from pumpctl.units import format_amount, format_concentration, format_volume

DAY_S = 86_400
PAPERS = {"a4": "A4", "letter": "letter"}
TRAINING = "TRAINING: the built-in simulator, not a patient's pump"
VISIT_EVENTS = {
    EventCode.RATE_CHANGED,
    EventCode.REFUSED,
    EventCode.BOLUS_STARTED,
    EventCode.STOPPED,
    EventCode.RESUMED,
    EventCode.ALARM_RAISED,
    EventCode.ALARM_CLEARED,
    EventCode.ALARM_ACKNOWLEDGED,
    EventCode.REFILLED,
    EventCode.CATHETER_CHECKED,
    EventCode.DEMAND_BOLUS_SET,
}


@dataclass(frozen=True)
class VisitReport:
    seen: Interrogation
    since_s: int
    dose_before_ng_per_day: int
    rows: list[TimelineRow]
    events: list[EventRecord]
    audit: list[dict[str, Any]]
    commands: list[CommandRow]
    systemic: SystemicLoad | None = None
    discrepancies: tuple[str, ...] = ()  # where the pump and the record disagree, open now
    demand: DemandSettingsResponse | None = None  # None: a pump without demand boluses
    demand_log: tuple[DemandLogEntry, ...] = ()
    clinician: str = "unknown"
    training: bool = False  # the built-in training simulator, not a patient's pump
    patient_id: str | None = None
    changes: tuple[ChangeRow, ...] = ()  # the visit's dose changes (commands has the rest)

    @cached_property
    def chart(self) -> ChartModel:
        """The visit's chart, drawn in text (Markdown) and in SVG (HTML): built once."""
        status = self.seen.status
        return chart_model(
            self.rows,
            status.dose_ng_per_day,
            status.pump_time_s,
            self.unit,
            guard_marks(self.audit),
        )

    @property
    def unit(self) -> str:
        return self.seen.unit

    def dose(self, ng: int) -> str:
        return format_amount(ng, self.unit)


async def build_visit_report(
    programmer: Programmer,
    seen: Interrogation,
    since_s: int | None = None,
    *,
    training: bool = False,
) -> VisitReport:
    await programmer.sync_record(seen)
    record = programmer.record
    serial = seen.identity.serial_number
    now = seen.status.pump_time_s
    entries = record.audit_entries(serial)
    since = visit_start(entries, now) if since_s is None else since_s
    rows = timeline(record, serial)
    before = seen.status.dose_ng_per_day
    for row in reversed([r for r in rows if r.kind == "dose"]):
        if row.time_s >= since and row.previous is not None:
            before = row.previous
    events = record.pump_events(serial, codes=tuple(VISIT_EVENTS), since_s=since)
    audit = [e for e in entries if e["time_s"] >= since]
    commands = [c for c in record.commands(serial) if c.time_s >= since]
    systemic = systemic_load(record, serial, now)
    open_now = tuple(d.text for d in programmer.discrepancies)
    try:
        demand: DemandSettingsResponse | None = await programmer.read_demand_bolus()
        demand_log = tuple(await programmer.read_demand_log())
    except PumpRefused:  # a pump whose firmware has no demand boluses
        demand, demand_log = None, ()
    implant = await programmer.read_implant(serial, now)
    patient = implant.patient_id if implant is not None and implant.recorded else None
    return VisitReport(
        seen,
        since,
        before,
        rows,
        events,
        audit,
        commands,
        systemic,
        open_now,
        demand,
        demand_log,
        clinician=programmer.clinician,
        training=training,
        patient_id=patient,
        changes=tuple(c for c in record.changes(serial) if c.time_s >= since),
    )


def visit_start(entries: list[dict[str, Any]], now_s: int) -> int:
    """The first interaction with the pump on the pump clock's day of ``now_s``: the visit.
    With none that day, the visit is now (the report shows the pump as it stands)."""
    midnight = now_s - now_s % DAY_S
    today = [e["time_s"] for e in entries if isinstance(e.get("time_s"), int)]
    today = [t for t in today if midnight <= t <= now_s]
    return min(today, default=now_s)


def _who(report: VisitReport) -> list[tuple[str, str]]:
    """The report's heading facts: whom, by whom, with what."""
    identity = report.seen.identity
    conc = format_concentration(identity.concentration_ng_per_ml, report.unit)
    return [
        ("Patient", report.patient_id or "not recorded in the pump"),
        ("Clinician", report.clinician),
        (
            "Pump",
            f"{identity.model} {identity.serial_number}, firmware {identity.firmware_version}",
        ),
        ("Drug", f"{identity.drug} {conc}"),
        (
            "Visit",
            f"{_time(report.since_s)} to {_time(report.seen.status.pump_time_s)} (pump clock)",
        ),
    ]


def _demand_lines(report: VisitReport) -> list[str]:
    """The demand-bolus settings and the patient's activations during the visit."""
    if report.demand is None:
        return []
    unit = report.unit
    settings = settings_of(report.demand)
    during = [e for e in report.demand_log if e.last_time_s >= report.since_s]
    summary = summarise(during)
    lines = [
        f"Settings: {describe(settings, unit)}",
        f"Activations during the visit: {'; '.join(summary.lines(unit))}",
    ]
    for entry in during:
        times = f" ({entry.count}x, to {_time(entry.last_time_s)})" if entry.count > 1 else ""
        lines.append(
            f"{_time(entry.time_s)}{times}: {OUTCOME_WORDS[entry.outcome]}, "
            f"{format_amount(entry.dose_ng, unit, False)}"
        )
    return lines


def _crosscheck_lines(report: VisitReport) -> list[str]:
    """Discrepancies between the pump and the record: open now, found and reconciled."""
    lines = [f"OPEN: {text} (increases wait until reconciled)" for text in report.discrepancies]
    for entry in report.audit:
        action, data = entry.get("action"), entry.get("data", {})
        if action == "discrepancy-found":
            lines += [f"{_time(entry['time_s'])} found: {t}" for t in data.get("discrepancies", [])]
        elif action == "discrepancy-reconciled":
            lines += [
                f"{_time(entry['time_s'])} reconciled by {entry.get('actor')} "
                f"({data.get('reason')}): {t}"
                for t in data.get("discrepancies", [])
            ]
    return lines


def _systemic_rows(report: VisitReport) -> list[tuple[str, str, str, str]]:
    """(opioid, amount, MME/day, since) for each systemic opioid, then the total."""
    load = report.systemic
    if load is None:
        return []
    rows = [(o.name, o.amount_text, opioid_mme_text(o), _time(o.since_s)) for o in load.opioids]
    return [*rows, ("total", "", total_text(load), "")]


def _systemic_lead(report: VisitReport) -> str:
    """The IT dose and the systemic load side by side, never summed."""
    seen = report.seen
    it = f"Intrathecal {seen.identity.drug} {report.dose(seen.status.dose_ng_per_day)}"
    load = report.systemic
    if load is None or not load.opioids:
        return f"{it}; no systemic opioids recorded."
    return f"{it}; systemic opioids {total_text(load)}. {CAVEAT}."


def _command_lines(report: VisitReport) -> list[str]:
    """Each therapy command of the visit, dose changes included, in order: who, what was
    reviewed, what the pump answered; and each command the programmer refused to send."""
    timed: list[tuple[int, str]] = []
    for command in report.commands:
        review = command.review
        given = review.get("confirmations", {})
        notes = []
        if given.get("large_change"):
            notes.append("large change confirmed")
        if given.get("discrepancy_reason"):
            notes.append(f"discrepancy: {given['discrepancy_reason']}")
        extra = f" ({'; '.join(notes)})" if notes else ""
        timed.append(
            (
                command.time_s,
                f"{_time(command.time_s)}: {review.get('title', command.kind)} by "
                f"{command.clinician}{extra}: {command.outcome.upper()}"
                + (f" - {command.detail}" if command.outcome != "confirmed" else ""),
            )
        )
    for change in report.changes:
        dose = f"{report.dose(change.old_ng_per_day)} -> {report.dose(change.new_ng_per_day)}"
        override = f" (override: {change.override_reason})" if change.override_reason else ""
        timed.append(
            (
                change.time_s,
                f"{_time(change.time_s)}: Dose {dose} by {change.clinician}{override}: "
                f"{change.outcome.upper()}"
                + (f" - {change.detail}" if change.outcome != "applied" and change.detail else ""),
            )
        )
    for entry in report.audit:
        if entry.get("action") == "programmer-refused":
            data = entry.get("data", {})
            rule = f" ({data['rule']})" if data.get("rule") else ""
            timed.append(
                (
                    entry["time_s"],
                    f"{_time(entry['time_s'])}: {data.get('kind', 'command')} by "
                    f"{entry.get('actor')}: NOT SENT, refused by the programmer{rule} - "
                    f"{data.get('reason', '')}",
                )
            )
    return [line for _, line in sorted(timed, key=lambda t: t[0])]


def _guard_lines(report: VisitReport) -> list[str]:
    lines = []
    for entry in report.audit:
        action, data = entry["action"], entry.get("data", {})
        when = _time(entry["time_s"])
        if action.startswith("guard-"):
            proposed = data.get("proposed_ng_per_day")
            dose = report.dose(proposed) if isinstance(proposed, int) else "?"
            overridden = " (overridden)" if data.get("overridden") else ""
            rule = f" ({data['rule']})" if data.get("rule") else ""
            warned = "; ".join(data.get("warnings") or [])
            said = warned if action == "guard-warn" else data.get("reason")
            line = f"{when}: {action[6:].upper()}{rule} of {dose}{overridden}: {said}"
            if data.get("override_refused"):
                line += f"; override refused: {data['override_refused']}"
            evidence = data.get("evidence") or []
            lines.append(line + (f" - evidence: {' | '.join(evidence)}" if evidence else ""))
        elif action == "change-requested" and data.get("override_reason"):
            lines.append(
                f"{when}: OVERRIDE by {entry['actor']}: {data['override_reason']} - "
                f"{data.get('override_note')}"
            )
    return lines


def _shown_before(report: VisitReport, label: str) -> str | None:
    """What a value was before the visit changed it: the "before" column of the first review
    in the visit that showed it (every command's review is kept in the audit trail)."""
    for entry in report.audit:
        data = entry.get("data")
        review = data.get("review") if isinstance(data, dict) else None
        rows = review.get("rows") if isinstance(review, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, list) and len(row) == 3 and row[0] == label:
                return str(row[1])
    return None


def _summary(report: VisitReport) -> list[tuple[str, str, str]]:
    """Each setting before the visit and now. A value no command of the visit reviewed is
    "unchanged" if nothing but a command changes it, or "-" if it moves by itself (the
    reservoir drains, the battery too)."""
    status, identity = report.seen.status, report.seen.identity
    conc = format_concentration(identity.concentration_ng_per_ml, report.unit)
    low = projected_date(status.low_reservoir_projected_s)
    return [
        (
            "Daily dose",
            report.dose(report.dose_before_ng_per_day),
            report.dose(status.dose_ng_per_day),
        ),
        ("Drug", _shown_before(report, "Concentration") or "unchanged", f"{identity.drug} {conc}"),
        (
            "Reservoir",
            _shown_before(report, "Reservoir") or "-",
            format_volume(status.reservoir_ul),
        ),
        ("Low-reservoir date", _shown_before(report, "Low-reservoir date") or "-", low),
        ("Battery", "-", battery_text(status)),
    ]


def render_markdown(report: VisitReport) -> str:
    from pumpctl.tui.chart import render_chart

    identity, status = report.seen.identity, report.seen.status
    training = ["", f"**{TRAINING}**"] if report.training else []
    out = [
        f"# Visit report: pump {identity.serial_number}",
        *training,
        "",
        *[f"- **{name}:** {value}" for name, value in _who(report)],
        "",
        "## Settings before and after",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
        *[f"| {name} | {before} | {after} |" for name, before, after in _summary(report)],
        "",
        "## Pump and record cross-check",
        "",
        *(
            [f"- {line}" for line in _crosscheck_lines(report)]
            or ["- the pump and the record agree"]
        ),
        "",
        "## Dose and pain over time",
        "",
        "```",
        render_chart(report.chart, 78, 12).plain,
        "```",
        "",
        "| pump time | dose | VAS |",
        "| --- | --- | --- |",
    ]
    for row in report.rows:
        if row.kind == "dose":
            out.append(f"| {_time(row.time_s)} | {report.dose(row.value)} | |")
        else:
            out.append(f"| {_time(row.time_s)} | | {format_vas(row.value)} |")
    out += ["", "## Systemic opioids", "", _systemic_lead(report), ""]
    if report.systemic is not None and report.systemic.opioids:
        out += ["| opioid | amount | MME/day | since |", "| --- | --- | --- | --- |"]
        out += [f"| {' | '.join(row)} |" for row in _systemic_rows(report)]
    if report.demand is not None:
        out += ["", "## Patient demand boluses", ""]
        out += [f"- {line}" for line in _demand_lines(report)]
    out += ["", "## Therapy commands", ""]
    out += [f"- {line}" for line in _command_lines(report)] or ["- none"]
    out += ["", "## Guard decisions and overrides", ""]
    out += [f"- {line}" for line in _guard_lines(report)] or ["- none"]
    out += ["", "## Alarms", ""]
    out += [
        f"- {a.code.name} ({spoken(a.severity)}{', acknowledged' if a.acknowledged else ''})"
        for a in status.alarms
    ] or ["- no active alarms"]
    out += ["", "## Events during the visit", ""]
    out += [f"- {_time(e.time_s)} {EventCode(e.code).name}: {e.detail}" for e in report.events] or [
        "- none"
    ]
    return "\n".join(out) + "\n"


# The chart's size in CSS pixels: it fits the printable width of A4 and of Letter (180 mm
# at 15 mm margins: 680 px at 96 px per inch).
CHART_W, CHART_H = 680, 300
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 72, 48, 40, 64
GUARD_SHAPES = {"block": "guard-block", "hold": "guard-hold", "warn": "guard-warn"}


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start", turn: int = 0) -> str:
    rotate = f' transform="rotate({turn} {x:.1f} {y:.1f})"' if turn else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{rotate}>'
        f"{html.escape(text)}</text>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="{cls}"/>'


def _triangle(x: float, y: float, up: bool, cls: str, title: str = "") -> str:
    """A 12 px triangle with its top edge at ``y``: pointing up (an increase) or down."""
    tip, base = (y, y + 10) if up else (y + 10, y)
    points = f"{x - 6:.1f},{base:.1f} {x + 6:.1f},{base:.1f} {x:.1f},{tip:.1f}"
    inner = f"<title>{html.escape(title)}</title>" if title else ""
    return f'<polygon points="{points}" class="{cls}">{inner}</polygon>'


def _square(x: float, y: float, cls: str, title: str = "") -> str:
    inner = f"<title>{html.escape(title)}</title>" if title else ""
    return (
        f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" class="{cls}">{inner}</rect>'
    )


def _legend(left: float, y: float) -> list[str]:
    parts = [_line(left, y - 4, left + 18, y - 4, "dose"), _text(left + 22, y, "dose", "axis")]
    parts += [f'<circle cx="{left + 72}" cy="{y - 4}" r="4" class="vas"/>']
    parts += [_text(left + 80, y, "VAS", "axis")]
    parts += [
        _triangle(left + 125, y - 10, True, "increase"),
        _text(left + 134, y, "increase", "axis"),
    ]
    parts += [_triangle(left + 197, y - 10, False, "decrease")]
    parts += [_text(left + 206, y, "decrease", "axis")]
    for offset, verdict, words in (
        (268, "block", "blocked"),
        (372, "hold", "held"),
        (460, "warn", "warned"),
    ):
        parts += [_square(left + offset + 5, y - 4, GUARD_SHAPES[verdict])]
        parts += [_text(left + offset + 13, y, f"guard {words}", "axis")]
    return parts


def _svg_chart(report: VisitReport) -> str:
    model = report.chart
    if model.empty:
        return "<p>No dose changes or pain scores logged.</p>"
    left, right = PLOT_LEFT, CHART_W - PLOT_RIGHT
    top, bottom = PLOT_TOP, CHART_H - PLOT_BOTTOM
    low, high = model.dose_low_ng_per_day, model.dose_high_ng_per_day

    def x(time_s: int) -> float:
        return left + (time_s - model.start_s) * (right - left) / model.span_s

    def y_dose(ng: int) -> float:
        return bottom - (ng - low) * (bottom - top - 8) / max(1, high - low)

    def y_vas(tenths: int) -> float:
        return bottom - tenths * (bottom - top) / 100

    frame = f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
    parts = [frame + 'class="frame"/>']
    for ng, label in model.dose_ticks():
        y = y_dose(ng)
        parts += [
            _line(left, y, right, y, "grid"),
            _text(left - 6, y + 4, label, "axis dose-axis", "end"),
        ]
    for tenths in (0, 50, 100):
        parts.append(_text(right + 6, y_vas(tenths) + 4, str(tenths // 10), "axis vas-axis"))
    for time_s, label in model.time_ticks(8):
        tx = x(time_s)
        parts += [
            _line(tx, bottom, tx, bottom + 5, "tick"),
            _text(tx, bottom + 18, label, "axis", "middle"),
        ]
    mid = (top + bottom) / 2
    parts += [
        _text(14, mid, model.dose_axis_title(), "title dose-axis", "middle", -90),
        _text(CHART_W - 12, mid, "VAS (0-10)", "title vas-axis", "middle", 90),
        _text((left + right) / 2, bottom + 36, "pump time (UTC)", "title", "middle"),
    ]
    points = []
    for step in model.steps:
        y = y_dose(step.ng_per_day)
        points += [f"{x(step.start_s):.1f},{y:.1f}", f"{x(step.end_s):.1f},{y:.1f}"]
    parts.append(f'<polyline points="{" ".join(points)}" class="dose"/>')
    if len(model.vas) > 1:
        trend = " ".join(f"{x(v.time_s):.1f},{y_vas(v.tenths):.1f}" for v in model.vas)
        parts.append(f'<polyline points="{trend}" class="vas-trend"/>')
    for v in model.vas:
        parts.append(
            f'<circle cx="{x(v.time_s):.1f}" cy="{y_vas(v.tenths):.1f}" r="4" class="vas"/>'
        )
    for mark in model.marks:
        change = f"{report.dose(mark.before_ng_per_day)} to {report.dose(mark.after_ng_per_day)}"
        kind = "increase" if mark.increase else "decrease"
        parts.append(_triangle(x(mark.time_s), top - 34, mark.increase, kind, change))
    for decision in model.guard:
        proposed = decision.proposed_ng_per_day
        what = f"guard {decision.verdict} ({decision.rule})"
        what += "" if proposed is None else f" of {report.dose(proposed)}"
        shape = GUARD_SHAPES.get(decision.verdict, "guard-warn")
        parts.append(_square(x(decision.time_s), top - 10, shape, what))
    parts += _legend(left, CHART_H - 8)
    return (
        f'<svg id="chart" viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" '
        f'height="{CHART_H}" role="img" aria-label="Daily dose and VAS over time">'
        + "".join(parts)
        + "</svg>"
    )


def render_html(report: VisitReport, paper: str = "a4") -> str:
    identity, status = report.seen.identity, report.seen.status
    esc = html.escape
    who = "".join(f"<tr><th>{esc(n)}</th><td>{esc(v)}</td></tr>" for n, v in _who(report))
    training = f'<p class="training">{esc(TRAINING)}</p>' if report.training else ""
    summary = "".join(
        f"<tr><th>{esc(n)}</th><td>{esc(b)}</td><td>{esc(a)}</td></tr>"
        for n, b, a in _summary(report)
    )
    history = "".join(
        f"<tr><td>{esc(_time(r.time_s))}</td>"
        + (
            f"<td>{esc(report.dose(r.value))}</td><td></td>"
            if r.kind == "dose"
            else f"<td></td><td>{esc(format_vas(r.value))}</td>"
        )
        + "</tr>"
        for r in report.rows
    )
    guard = "".join(f"<li>{esc(line)}</li>" for line in _guard_lines(report)) or "<li>none</li>"
    demand = "".join(f"<li>{esc(line)}</li>" for line in _demand_lines(report))
    if demand:
        demand = f"<h2>Patient demand boluses</h2><ul>{demand}</ul>"
    systemic = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
        for row in _systemic_rows(report)
    )
    if systemic and report.systemic is not None and report.systemic.opioids:
        systemic = (
            "<table><tr><th>opioid</th><th>amount</th><th>MME/day</th><th>since</th></tr>"
            f"{systemic}</table>"
        )
    else:
        systemic = ""
    commands = (
        "".join(f"<li>{esc(line)}</li>" for line in _command_lines(report)) or "<li>none</li>"
    )
    alarms = (
        "".join(f"<li>{esc(a.code.name)} ({esc(spoken(a.severity))})</li>" for a in status.alarms)
        or "<li>no active alarms</li>"
    )
    crosscheck = "".join(f"<li>{esc(line)}</li>" for line in _crosscheck_lines(report)) or (
        "<li>the pump and the record agree</li>"
    )
    events = (
        "".join(
            f"<li>{esc(_time(e.time_s))} {esc(EventCode(e.code).name)}: {esc(e.detail)}</li>"
            for e in report.events
        )
        or "<li>none</li>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Visit report: pump {esc(identity.serial_number)}</title>
<style>
@page {{ size: {PAPERS[paper]}; margin: 15mm; }}
body {{ font-family: system-ui, sans-serif; max-width: 180mm; margin: 2em auto; color: #111; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #999; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }}
table.who th {{ background: #eee; }}
.training {{ border: 3px solid #c00; color: #c00; font-weight: bold; padding: 0.3em 0.6em; }}
svg {{ max-width: 100%; height: auto; }}
.frame {{ fill: none; stroke: #666; }} .grid {{ stroke: #ddd; }} .tick {{ stroke: #666; }}
.axis {{ font-size: 11px; fill: #333; }} .title {{ font-size: 12px; fill: #111; }}
.dose {{ fill: none; stroke: #0a6; stroke-width: 2.5; }} .dose-axis {{ fill: #075; }}
.vas {{ fill: #b0b; }} .vas-trend {{ fill: none; stroke: #b0b; stroke-dasharray: 3 3; }}
.vas-axis {{ fill: #909; }}
.increase {{ fill: #c60; }} .decrease {{ fill: #06c; }}
.guard-block {{ fill: #c00; }} .guard-hold {{ fill: #e90; }}
.guard-warn {{ fill: #fff; stroke: #e90; stroke-width: 2; }}
@media print {{
  body {{ margin: 0; max-width: none; font-size: 10pt; }}
  h2 {{ break-after: avoid; }}
  table, svg, li {{ break-inside: avoid; }}
}}
</style></head><body>
<h1>Visit report: pump {esc(identity.serial_number)}</h1>
{training}
<table class="who">{who}</table>
<h2>Settings before and after</h2>
<table><tr><th></th><th>before</th><th>after</th></tr>{summary}</table>
<h2>Pump and record cross-check</h2><ul>{crosscheck}</ul>
<h2>Dose and pain over time</h2>
{_svg_chart(report)}
<table><tr><th>pump time</th><th>dose</th><th>VAS</th></tr>{history}</table>
<h2>Systemic opioids</h2>
<p>{esc(_systemic_lead(report))}</p>
{systemic}
{demand}
<h2>Therapy commands</h2><ul>{commands}</ul>
<h2>Guard decisions and overrides</h2><ul>{guard}</ul>
<h2>Alarms</h2><ul>{alarms}</ul>
<h2>Events during the visit</h2><ul>{events}</ul>
</body></html>
"""


def default_report_dir() -> Path:
    return Path(platformdirs.user_data_dir("pumpctl")) / "reports"


async def write_visit_report(
    programmer: Programmer,
    seen: Interrogation,
    directory: Path | None = None,
    since_s: int | None = None,
    *,
    training: bool = False,
    paper: str = "a4",
) -> list[Path]:
    """Write the report as Markdown and HTML into ``directory`` (the user's data directory
    when None); returns both paths."""
    report = await build_visit_report(programmer, seen, since_s, training=training)
    directory = directory or default_report_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = pump_stamp(seen.status.pump_time_s)
    base = directory / f"visit-{seen.identity.serial_number}-{stamp}"
    paths = [base.with_suffix(".md"), base.with_suffix(".html")]
    for path, text in zip(
        paths, (render_markdown(report), render_html(report, paper)), strict=True
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths
