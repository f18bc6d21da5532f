"""The pump's reads from a shell: ``identify``, ``status``, ``limits``, ``alarms``, ``events``,
and the visit ``report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pumpctl import cli_render as render
from pumpctl.cli_common import Output, dump
from pumpctl.exits import UsageError
from pumpctl.programmer import Programmer


async def _identify(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    return Output({**dump(seen.identity), "unit": seen.unit}, render.identity_line(seen))


async def _status(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    patient = programmer.patient_id(seen.serial)
    data: dict[str, Any] = {
        "identity": dump(seen.identity),
        "status": dump(seen.status),
        "unit": seen.unit,
        "patient_id": patient,
    }
    data["discrepancies"] = [d.as_json() for d in programmer.discrepancies]
    if programmer.record_problem:
        data["record_problem"] = programmer.record_problem
    texts = [d.text for d in programmer.discrepancies]
    return Output(data, render.status_lines(seen, texts, programmer.record_problem, patient))


async def _limits(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    limits, unit = seen.limits, seen.unit
    text = render.limits_text(limits, unit)
    return Output(dump(limits), text)


async def _report(programmer: Programmer, args: argparse.Namespace) -> Output:
    from pumpctl.report import default_report_dir, write_visit_report

    out = Path(args.out) if args.out else default_report_dir()
    if args.out and not out.is_dir():
        raise UsageError(f"report --out {args.out!r} is not a directory")
    seen = await programmer.interrogate()
    since = None if args.since_hours is None else seen.status.pump_time_s - args.since_hours * 3600
    try:
        paths = await write_visit_report(
            programmer, seen, out, since, training=bool(args.sim), paper=args.paper
        )
    except OSError as error:
        raise UsageError(f"cannot write the report into {str(out)!r}: {error.strerror}") from None
    return Output({"files": [str(p) for p in paths]}, "\n".join(str(p) for p in paths))


async def _alarms(programmer: Programmer, args: argparse.Namespace) -> Output:
    reply = await programmer.client.read_alarms()
    return Output(dump(reply), render.alarms_text(reply.alarms))


async def _events(programmer: Programmer, args: argparse.Namespace) -> Output:
    events, page = await programmer.read_events(args.first)
    data = {
        "events": [dump(e) for e in events],
        "next_index": page.next_index,
        "oldest_index": page.oldest_index,
        "overflow_count": page.overflow_count,
    }
    return Output(data, render.events_text(events, page.overflow_count))


ONLINE = {
    "identify": _identify,
    "status": _status,
    "limits": _limits,
    "alarms": _alarms,
    "events": _events,
    "report": _report,
}
