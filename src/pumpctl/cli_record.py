"""The clinical record's commands: ``vas``, ``history``, ``opioids`` (with the pump, or with
``--serial`` from the record alone), ``audit`` and ``reconcile``."""

from __future__ import annotations

import argparse
import time

from pumpctl import cli_render as render
from pumpctl.cli_common import Output, clinician
from pumpctl.clinical.guard import Reading
from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.clinical.scores import format_vas, parse_vas
from pumpctl.clinical.taken_at import parse_taken_at
from pumpctl.display import pump_minute, pump_second
from pumpctl.exits import UsageError
from pumpctl.programmer import Programmer
from pumpctl.units import format_amount


async def _reconcile(programmer: Programmer, args: argparse.Namespace) -> Output:
    try:
        accepted, still = await programmer.reconcile(args.reason)
    except ValueError as error:
        raise UsageError(str(error)) from None
    data = {
        "reconciled": [d.as_json() for d in accepted],
        "discrepancies": [d.as_json() for d in still],
    }
    if not accepted:
        return Output(data, "the pump and the clinical record agree: nothing to reconcile")
    lines = [f"Reconciled  {d.text}" for d in accepted]
    lines += [f"Discrepancy {d.text}" for d in still]
    return Output(data, "\n".join(lines))


async def _vas(programmer: Programmer, args: argparse.Namespace) -> Output:
    tenths = parse_vas(args.score)
    taken_at = None
    if args.taken_at is not None:
        text = args.taken_at
        taken_at = lambda now_s: parse_taken_at(text, now_s)  # noqa: E731
    reading = await programmer.log_vas(tenths, args.note, taken_at=taken_at)
    return _vas_output(tenths, reading)


def _vas_output(tenths: int, reading: Reading) -> Output:
    text = f"VAS {format_vas(tenths)} logged at {pump_second(reading.logged_s or reading.time_s)}"
    if reading.backdated:
        text += f", taken at {pump_second(reading.time_s)}"
    data = {
        "vas_tenths": tenths,
        "time_s": reading.time_s,
        "logged_s": reading.logged_s or reading.time_s,
    }
    return Output(data, text)


async def _vas_offline(record: ClinicalRecord, args: argparse.Namespace) -> Output:
    """A score logged without the pump (a phone follow-up): on the record's timeline, placed
    by its time among the pump's events."""
    from pumpctl.clinical.systemic import record_time_s

    tenths = parse_vas(args.score)
    if record.pump_unit(args.serial) is None:
        raise UsageError(f"pump {args.serial} is not in the clinical record")
    now_s = record_time_s(record, args.serial, int(time.time()))
    taken_at = parse_taken_at(args.taken_at, now_s) if args.taken_at is not None else now_s
    reading = record.log_vas(
        args.serial,
        now_s,
        tenths,
        # The last pump event the record knows: the score is never after a later one,
        # whatever the clocks say.
        events_seen=record.last_event_index(args.serial),
        clinician=clinician(args),
        note=args.note,
        taken_at_s=taken_at,
    )
    return _vas_output(tenths, reading)


async def _history(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    await programmer.sync_record(seen)
    return _history_output(programmer.record, seen.identity.serial_number, seen.unit)


def _history_output(record: ClinicalRecord, serial: str, unit: str) -> Output:
    from pumpctl.clinical.timeline import timeline

    rows = timeline(record, serial)
    data = {
        "pump_serial": serial,
        "unit": unit,
        "timeline": [
            {"time_s": r.time_s, "kind": r.kind, "value": r.value, "previous": r.previous}
            | _timeline_quantity(r.kind, r.value, r.previous)
            for r in rows
        ],
    }
    return Output(data, render.history_text(serial, rows, unit))


def _timeline_quantity(kind: str, value: int, previous: int | None) -> dict[str, int | None]:
    """``value`` again under a key naming its unit: a dose in ng/day, a VAS in tenths."""
    if kind == "vas":
        return {"vas_tenths": value}
    return {"dose_ng_per_day": value, "previous_dose_ng_per_day": previous}


async def _history_offline(record: ClinicalRecord, args: argparse.Namespace) -> Output:
    unit = record.pump_unit(args.serial)
    if unit is None:
        raise UsageError(f"pump {args.serial} is not in the clinical record")
    return _history_output(record, args.serial, unit)


async def _opioids(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    await programmer.sync_record(seen)
    it_dose = f"{seen.identity.drug} {format_amount(seen.status.dose_ng_per_day, seen.unit)}"
    return _opioids_output(programmer.record, seen.serial, seen.status.pump_time_s, args, it_dose)


async def _opioids_offline(record: ClinicalRecord, args: argparse.Namespace) -> Output:
    from pumpctl.clinical.systemic import record_time_s

    unit = record.pump_unit(args.serial)
    if unit is None:
        raise UsageError(f"pump {args.serial} is not in the clinical record")
    changes = record.dose_changes(args.serial)
    it_dose = (
        f"{format_amount(changes[-1].new_ng_per_day, unit)} (last change on record)"
        if changes
        else "not known without the pump (no dose change on record)"
    )
    now_s = record_time_s(record, args.serial, int(time.time()))
    return _opioids_output(record, args.serial, now_s, args, it_dose)


def _opioids_output(
    record: ClinicalRecord, serial: str, now_s: int, args: argparse.Namespace, it_dose: str
) -> Output:
    from pumpctl.clinical import systemic

    lead = []
    if args.opioids_action == "set":
        amount = " ".join(args.amount)
        entry = record.set_systemic_opioid(
            serial, now_s, args.name, amount, clinician=clinician(args)
        )
        mme = systemic.mme_per_day(entry.name, entry.amount_text)
        per_day = "no CDC factor" if mme is None else f"{systemic.format_mme(mme)} MME/day"
        lead.append(
            f"{entry.name} {entry.amount_text} ({per_day}) recorded at {pump_second(now_s)}"
        )
    elif args.opioids_action == "stop":
        entry = record.stop_systemic_opioid(serial, now_s, args.name, clinician=clinician(args))
        lead.append(f"{entry.name} recorded as stopped at {pump_second(now_s)}")
    load = systemic.systemic_load(record, serial, now_s)
    lines = [*lead, f"Systemic opioids of pump {serial}"]
    if load.opioids:
        lines += [f"  {line}" for line in systemic.load_lines(load, pump_minute)]
    else:
        lines.append("  none recorded")
    lines += [f"Intrathecal: {it_dose}", f"({systemic.CAVEAT})"]
    data = {"pump_serial": serial, "time_s": now_s, "intrathecal": it_dose}
    data |= systemic.load_json(load)
    return Output(data, "\n".join(lines))


async def _audit(record: ClinicalRecord, args: argparse.Namespace) -> Output:
    if args.action == "show":
        entries = record.audit_entries()
        return Output({"entries": entries}, render.audit_text(entries))
    report = record.verify_audit()
    if not report.intact:
        raise RecordError(
            f"audit trail of {record.path} is broken: {report.problem} "
            f"({report.entries} entries verified before it)"
        )
    return Output(
        {"intact": True, "entries": report.entries},
        f"Audit trail intact: {report.entries} entries",
    )


ONLINE = {
    "reconcile": _reconcile,
    "vas": _vas,
    "history": _history,
    "opioids": _opioids,
}
OFFLINE = {
    "audit": _audit,
    "history": _history_offline,
    "vas": _vas_offline,
    "opioids": _opioids_offline,
}
