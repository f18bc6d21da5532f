"""The visit report: what was done, as Markdown and a self-contained HTML page.

Settings before and after, dose and VAS history with the chart, guard decisions and
overrides, alarms, refills and catheter checks, all from the pump and the clinical record.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pumpctl.battery import battery_text
from pumpctl.clinical.record import CommandRow
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.systemic import (
    CAVEAT,
    SystemicLoad,
    opioid_mme_text,
    systemic_load,
    total_text,
)
from pumpctl.clinical.timeline import TimelineRow, timeline
from pumpctl.programmer import Interrogation, Programmer
from pumpctl.protocol.messages import EventCode, EventRecord
from pumpctl.units import format_amount, format_concentration, format_volume

DAY_S = 86_400
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
}


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    patient_id: str | None = None  # the pump's implant record's, if one was written

    @property
    def unit(self) -> str:
        return self.seen.unit

    def dose(self, ng: int) -> str:
        return format_amount(ng, self.unit)


async def build_visit_report(
    programmer: Programmer, seen: Interrogation, since_s: int | None = None
) -> VisitReport:
    await programmer.sync_record(seen)
    record = programmer.record
    serial = seen.identity.serial_number
    now = seen.status.pump_time_s
    since = now - DAY_S if since_s is None else since_s
    rows = timeline(record, serial)
    before = seen.status.dose_ng_per_day
    for row in reversed([r for r in rows if r.kind == "dose"]):
        if row.time_s >= since and row.previous is not None:
            before = row.previous
    events = record.pump_events(serial, codes=tuple(VISIT_EVENTS), since_s=since)
    audit = [e for e in record.audit_entries(serial) if e["time_s"] >= since]
    commands = [c for c in record.commands(serial) if c.time_s >= since]
    systemic = systemic_load(record, serial, now)
    open_now = tuple(d.text for d in programmer.discrepancies)
    implant = await programmer.read_implant(serial, now)
    patient = implant.patient_id if implant is not None and implant.recorded else None
    return VisitReport(
        seen, since, before, rows, events, audit, commands, systemic, open_now, patient
    )


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
    """Each therapy command of the visit: who, what was reviewed, what the pump answered."""
    lines = []
    for command in report.commands:
        review = command.review
        given = review.get("confirmations", {})
        notes = []
        if given.get("large_change"):
            notes.append("large change confirmed")
        if given.get("discrepancy_reason"):
            notes.append(f"discrepancy: {given['discrepancy_reason']}")
        extra = f" ({'; '.join(notes)})" if notes else ""
        lines.append(
            f"{_time(command.time_s)}: {review.get('title', command.kind)} by "
            f"{command.clinician}{extra}: {command.outcome.upper()}"
            + (f" - {command.detail}" if command.outcome != "confirmed" else "")
        )
    return lines


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


def _summary(report: VisitReport) -> list[tuple[str, str, str]]:
    status, identity = report.seen.status, report.seen.identity
    conc = format_concentration(identity.concentration_ng_per_ml, report.unit)
    return [
        ("Patient id", "", report.patient_id or "no implant record"),
        (
            "Daily dose",
            report.dose(report.dose_before_ng_per_day),
            report.dose(status.dose_ng_per_day),
        ),
        ("Drug", "", f"{identity.drug} {conc}"),
        ("Reservoir", "", format_volume(status.reservoir_ul)),
        (
            "Low-reservoir date",
            "",
            _time(status.low_reservoir_projected_s)[:10]
            if status.low_reservoir_projected_s
            else "-",
        ),
        ("Battery", "", battery_text(status)),
    ]


def render_markdown(report: VisitReport) -> str:
    from pumpctl.tui.chart import ChartData, render_chart

    identity, status = report.seen.identity, report.seen.status
    out = [
        f"# Visit report: pump {identity.serial_number}",
        "",
        f"Pump {identity.model}, firmware {identity.firmware_version}. Visit from "
        f"{_time(report.since_s)} to {_time(status.pump_time_s)} (pump clock).",
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
        render_chart(
            ChartData(report.rows, status.dose_ng_per_day, status.pump_time_s, report.unit), 78, 12
        ).plain,
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
    out += ["", "## Therapy commands", ""]
    out += [f"- {line}" for line in _command_lines(report)] or ["- none"]
    out += ["", "## Guard decisions and overrides", ""]
    out += [f"- {line}" for line in _guard_lines(report)] or ["- none"]
    out += ["", "## Alarms", ""]
    out += [
        f"- {a.code.name} ({a.severity.name.lower()}{', acknowledged' if a.acknowledged else ''})"
        for a in status.alarms
    ] or ["- no active alarms"]
    out += ["", "## Events during the visit", ""]
    out += [f"- {_time(e.time_s)} {EventCode(e.code).name}: {e.detail}" for e in report.events] or [
        "- none"
    ]
    return "\n".join(out) + "\n"


def _svg_chart(report: VisitReport, width: int = 720, height: int = 220) -> str:
    rows, status = report.rows, report.seen.status
    if not rows:
        return "<p>No dose changes or pain scores logged.</p>"
    start = min(r.time_s for r in rows)
    end = max(status.pump_time_s, max(r.time_s for r in rows))
    span = max(1, end - start)
    doses = [r for r in rows if r.kind == "dose"]
    top = max(
        [status.dose_ng_per_day, *(d.value for d in doses), *(d.previous or 0 for d in doses)]
    )
    pad = 40

    def x(t: int) -> float:
        return pad + (t - start) * (width - 2 * pad) / span

    def y_dose(ng: int) -> float:
        return height - pad - ng * (height - 2 * pad) / max(top, 1)

    def y_vas(tenths: int) -> float:
        return height - pad - tenths * (height - 2 * pad) / 100

    level = doses[0].previous if doses and doses[0].previous is not None else status.dose_ng_per_day
    points = [(x(start), y_dose(level))]
    marks = []
    for d in doses:
        points += [(x(d.time_s), y_dose(level)), (x(d.time_s), y_dose(d.value))]
        if d.previous is not None and d.value > d.previous:
            marks.append(f'<text x="{x(d.time_s):.1f}" y="{pad - 8}" class="mark">▲</text>')
        level = d.value
    points.append((x(end), y_dose(level)))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    dots = "".join(
        f'<circle cx="{x(r.time_s):.1f}" cy="{y_vas(r.value):.1f}" r="4" class="vas"/>'
        for r in rows
        if r.kind == "vas"
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="Daily dose and VAS over time">'
        f'<polyline points="{path}" class="dose"/>{dots}{"".join(marks)}'
        f'<text x="4" y="{pad}" class="dose-label">{html.escape(report.dose(top))}</text>'
        f'<text x="{width - pad + 4}" y="{pad}" class="vas-label">VAS 10</text>'
        f'<text x="{width - pad + 4}" y="{height - pad}" class="vas-label">0</text>'
        "</svg>"
    )


def render_html(report: VisitReport) -> str:
    identity, status = report.seen.identity, report.seen.status
    esc = html.escape
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
        "".join(
            f"<li>{esc(a.code.name)} ({esc(a.severity.name.lower())})</li>" for a in status.alarms
        )
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
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; color: #111; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #999; padding: 0.2em 0.6em; text-align: left; }}
.dose {{ fill: none; stroke: #0a6; stroke-width: 2; }}
.vas {{ fill: #c0c; }}
.mark {{ fill: #c80; font-size: 12px; }}
.dose-label {{ fill: #0a6; font-size: 11px; }} .vas-label {{ fill: #c0c; font-size: 11px; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>Visit report: pump {esc(identity.serial_number)}</h1>
<p>Pump {esc(identity.model)}, firmware {esc(identity.firmware_version)}. Visit from
{esc(_time(report.since_s))} to {esc(_time(status.pump_time_s))} (pump clock).</p>
<h2>Settings before and after</h2>
<table><tr><th></th><th>before</th><th>after</th></tr>{summary}</table>
<h2>Pump and record cross-check</h2><ul>{crosscheck}</ul>
<h2>Dose and pain over time</h2>
{_svg_chart(report)}
<table><tr><th>pump time</th><th>dose</th><th>VAS</th></tr>{history}</table>
<h2>Systemic opioids</h2>
<p>{esc(_systemic_lead(report))}</p>
{systemic}
<h2>Therapy commands</h2><ul>{commands}</ul>
<h2>Guard decisions and overrides</h2><ul>{guard}</ul>
<h2>Alarms</h2><ul>{alarms}</ul>
<h2>Events during the visit</h2><ul>{events}</ul>
</body></html>
"""


async def write_visit_report(
    programmer: Programmer, seen: Interrogation, directory: Path, since_s: int | None = None
) -> list[Path]:
    report = await build_visit_report(programmer, seen, since_s)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(seen.status.pump_time_s, UTC).strftime("%Y%m%d-%H%M")
    base = directory / f"visit-{seen.identity.serial_number}-{stamp}"
    paths = [base.with_suffix(".md"), base.with_suffix(".html")]
    for path, text in zip(paths, (render_markdown(report), render_html(report)), strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths
