"""Standing settings from a shell: ``schedule``, ``periodic-bolus``, ``demand-bolus``,
``demand-log`` and the ``implant`` record; each change takes the therapy path
(:func:`pumpctl.cli_therapy.therapy`)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from pumpctl.cli_common import Output, dump
from pumpctl.cli_therapy import TherapyOutput, therapy
from pumpctl.display import pump_hour_minute, pump_minute, pump_second
from pumpctl.exits import UsageError
from pumpctl.implant import ImplantRecord, day_of, dead_volume_bolus, parse_date, parse_fixed
from pumpctl.programmer import (
    ClearSchedule,
    Confirmations,
    Interrogation,
    Programmer,
    SetDemandBolus,
    SetPeriodicBolus,
    SetSchedule,
    TherapyCommand,
    WriteImplantRecord,
)
from pumpctl.programmer import demand as demand_bolus
from pumpctl.programmer.implant import record_of
from pumpctl.protocol.messages import ImplantResponse, ScheduleResponse
from pumpctl.schedule import (
    clock,
    parse_clock,
    parse_count,
    parse_schedule,
    periodic_of,
    program_of,
    spans,
)
from pumpctl.text import check_typed
from pumpctl.units import format_amount, parse_amount_ng


async def _schedule(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    schedule = await programmer.read_schedule()
    seen = replace(seen, schedule=schedule)
    if args.schedule_action == "show":
        return _schedule_output(seen, schedule)
    command: TherapyCommand
    if args.schedule_action == "set":
        command = SetSchedule(parse_schedule(args.steps, seen.unit, schedule.granularity_min))
    else:
        dose = None if args.dose is None else parse_amount_ng(args.dose, seen.unit)
        command = ClearSchedule(dose)
    confirmations = Confirmations(large_change=args.confirm_large_change)
    output = await therapy(programmer, args, command, confirmations, seen)
    _read_back(output, "schedule")
    return output


async def _periodic(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    seen = replace(seen, schedule=await programmer.read_schedule())
    if args.periodic_action == "clear":
        command = SetPeriodicBolus(0)
    else:
        every = parse_count(args.every, "--every (hours)", 1, 24)
        duration = parse_count(args.duration, "--duration (minutes)", 1, 1440)
        first = parse_clock(args.first, "--first")
        command = SetPeriodicBolus(
            parse_amount_ng(args.dose, seen.unit, "periodic bolus"), every, duration, first
        )
    output = await therapy(programmer, args, command, None, seen)
    _read_back(output, "schedule")
    return output


async def _implant(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    implant = await programmer.read_implant(seen.serial, seen.status.pump_time_s)
    if implant is None:
        raise UsageError("this pump keeps no implant record")
    seen = replace(seen, implant=implant)
    if args.implant_action == "show":
        return _implant_output(seen, implant)
    record = ImplantRecord(
        check_typed(args.patient_id, "patient id"),
        day_of(parse_date(args.implanted, "--implanted")),
        args.tip.strip().upper(),
        parse_fixed(args.catheter_length_cm, "--catheter-length-cm", 1, "cm"),
        parse_fixed(args.catheter_volume_ul, "--catheter-volume-ul", 3, "µL"),
        parse_fixed(args.pump_volume_ul, "--pump-volume-ul", 3, "µL") if args.pump_volume_ul else 0,
    )
    output = await therapy(programmer, args, WriteImplantRecord(record), None, seen)
    _read_back(output, "implant")
    return output


def _implant_output(seen: Interrogation, implant: ImplantResponse) -> Output:
    data = {"unit": seen.unit, **dump(implant)}
    record = record_of(implant)
    if record is None:
        return Output(data, "No implant record: pumpctl implant set --patient-id ID ...")
    priming = dead_volume_bolus(
        implant.pump_volume_nl,
        implant.catheter_volume_nl,
        seen.identity.concentration_ng_per_ml,
        seen.unit,
    )
    data["priming_bolus_ng"] = priming.dose_ng
    lines = [
        f"Patient id       {record.patient_id}",
        f"Implanted        {record.implanted.isoformat()}",
        f"Catheter tip     {record.catheter_tip}",
        f"Catheter         {record.catheter_length_mm / 10:g} cm, "
        f"{record.catheter_volume_nl / 1000:g} µL",
        f"Pump internal    {record.pump_volume_nl / 1000:g} µL",
        f"Priming bolus    {priming.arithmetic()}",
        "Bridge bolus     the same volume at the new concentration, computed at a refill",
    ]
    return Output(data, "\n".join(lines))


def _schedule_output(seen: Interrogation, schedule: ScheduleResponse) -> Output:
    unit = seen.unit
    program = program_of(schedule)
    lines = [
        f"Schedule (pump's clock, UTC), daily dose {format_amount(schedule.dose_ng_per_day, unit)}"
        if schedule.active
        else f"Simple continuous rate {format_amount(schedule.dose_ng_per_day, unit)}; no schedule"
    ]
    if schedule.active:
        for i, (start, end, dose) in enumerate(spans(program)):
            now = "  <- now" if i == schedule.current_step else ""
            text = format_amount(int(dose), unit)
            lines.append(f"  {clock(start)}-{clock(end % 1440)}  {text}{now}")
    periodic = periodic_of(schedule)
    if periodic is not None:
        lines.append(f"Periodic bolus {periodic.describe(unit)}")
    data = {"unit": unit, **dump(schedule)}
    return Output(data, "\n".join(lines))


async def _demand(programmer: Programmer, args: argparse.Namespace) -> Output:
    if args.demand_action == "take":
        given = await programmer.take_demand_bolus()
        text = (
            f"Demand bolus given over {given.duration_s // 60} min (the clinician's dose), "
            f"ends {pump_hour_minute(given.ends_at_s)} UTC; {given.given_last_24h} in the last 24 h"
        )
        return Output(dump(given), text)
    seen = await programmer.interrogate()
    seen = replace(seen, demand=await programmer.read_demand_bolus())
    if args.demand_action == "show":
        return _demand_output(seen)
    if args.demand_action == "off":
        command = SetDemandBolus(0)
    else:
        duration = parse_count(args.duration, "--duration (minutes)", 1, 1440)
        lockout = parse_count(args.lockout, "--lockout (minutes)", 1, 1440)
        per_day = parse_count(args.per_day, "--per-day", 1, 255)
        dose = parse_amount_ng(args.dose, seen.unit, "demand bolus")
        command = SetDemandBolus(dose, duration * 60, lockout * 60, per_day)
    output = await therapy(programmer, args, command, None, seen)
    _read_back(output, "demand")
    return output


def _demand_output(seen: Interrogation) -> Output:
    read = seen.demand
    assert read is not None
    settings = demand_bolus.settings_of(read)
    lines = [f"Demand bolus: {demand_bolus.describe(settings, seen.unit)}"]
    if settings is not None:
        lines.append(f"Given in the last 24 h: {read.given_last_24h} of {settings.per_day}")
        if read.next_allowed_s:
            lines.append(f"Lockout until {pump_second(read.next_allowed_s)}")
    data = {"unit": seen.unit, **dump(read)}
    return Output(data, "\n".join(lines))


async def _demand_log(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    entries = await programmer.read_demand_log()
    unit = seen.unit
    summary = demand_bolus.summarise(entries)
    lines = [f"Demand-bolus activations: {'; '.join(summary.lines(unit))}"]
    for entry in entries:
        when = pump_minute(entry.time_s)
        if entry.count > 1:
            when += f" to {pump_hour_minute(entry.last_time_s)} ({entry.count}x)"
        what = demand_bolus.OUTCOME_WORDS[entry.outcome]
        lines.append(f"  {when}  {what}  {format_amount(entry.dose_ng, unit, False)}")
    data = {
        "unit": unit,
        "given": summary.given,
        "refused": summary.refused_total,
        "entries": [{**e.model_dump(mode="json"), "outcome": e.outcome.name} for e in entries],
    }
    return Output(data, "\n".join(lines))


ONLINE = {
    "schedule": _schedule,
    "periodic-bolus": _periodic,
    "demand-bolus": _demand,
    "demand-log": _demand_log,
    "implant": _implant,
}


def _read_back(output: TherapyOutput, part: str) -> None:
    """The setting ``part`` (schedule, implant, demand) as the pump reads back after the
    change, into the JSON output beside the result."""
    after = getattr(output.result.after, part) if output.result is not None else None
    if after is not None:
        output.data[part] = dump(after)
