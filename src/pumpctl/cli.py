"""``pumpctl``: the programmer from a shell. One line of reason on every failure.

Exit status: 0 done; 1 refused (by the pump or the programmer); 2 bad input;
3 no pump (port or link); 4 outcome uncertain (read the pump back before anything else).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pumpctl.client import PumpClient
from pumpctl.link.errors import LinkError, NoResponse, OutcomeUncertain, PumpError, Refused
from pumpctl.programmer import Interrogation, Programmer, ProgrammerRefusal
from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import AlarmCode, EventCode, Message, MsgType
from pumpctl.units import UnitError, format_amount, format_volume, parse_amount_ng, parse_volume_ul

EXIT_REFUSED, EXIT_USAGE, EXIT_NO_PUMP, EXIT_UNCERTAIN = 1, 2, 3, 4


class UsageError(Exception):
    pass


@dataclass
class Output:
    data: dict[str, Any]
    text: str


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pumpctl", description="Clinician programmer for intrathecal drug pumps."
    )
    parser.add_argument(
        "--port",
        default=os.environ.get("PUMPCTL_PORT"),
        help="pyserial port or URL (default: $PUMPCTL_PORT)",
    )
    parser.add_argument(
        "--sim", action="store_true", help="use the built-in training simulator instead of a port"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--trace", action="store_true", help="show every frame on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("identify", help="model, serial, firmware, drug")
    sub.add_parser("status", help="dose, reservoir, battery, alarms")
    sub.add_parser("limits", help="the drug library limits the pump enforces")
    rate = sub.add_parser("set-rate", help="program a new daily dose (in the drug's unit)")
    rate.add_argument("dose", help="new daily dose, e.g. 1.6 (mg/day for morphine)")
    rate.add_argument(
        "--confirm-large-change", action="store_true", help="confirm a change of 10x or more"
    )
    bolus = sub.add_parser("bolus", help="give a bolus (in the drug's unit)")
    bolus.add_argument("dose", help="bolus dose, e.g. 0.1 (mg for morphine)")
    bolus.add_argument("--duration", default="600", help="seconds to deliver over (600)")
    sub.add_parser("stop", help="stop delivery")
    sub.add_parser("resume", help="resume delivery")
    sub.add_parser("catheter-check", help="run a catheter check")
    refill = sub.add_parser("refill", help="record a refill")
    refill.add_argument("--withdrawn", required=True, help="residual volume withdrawn, mL")
    refill.add_argument("--added", required=True, help="volume added, mL")
    refill.add_argument("--concentration", help="concentration added (default: unchanged)")
    refill.add_argument("--bridge-bolus", help="bridge bolus for a concentration change")
    refill.add_argument(
        "--waive-bridge", action="store_true", help="waive the bridge bolus (logged)"
    )
    sub.add_parser("alarms", help="active alarms")
    ack = sub.add_parser("ack", help="acknowledge an alarm")
    ack.add_argument("alarm", help="alarm name, e.g. LOW_RESERVOIR")
    events = sub.add_parser("events", help="the pump's event log")
    events.add_argument("--from", dest="first", type=int, default=0, help="first event index")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        output = asyncio.run(_run(args))
    except UsageError as error:
        return _fail(error, EXIT_USAGE)
    except UnitError as error:
        return _fail(error, EXIT_USAGE)
    except (Refused, ProgrammerRefusal) as error:
        return _fail(error, EXIT_REFUSED)
    except OutcomeUncertain as error:
        return _fail(error, EXIT_UNCERTAIN)
    except (LinkError, NoResponse) as error:
        return _fail(error, EXIT_NO_PUMP)
    except PumpError as error:
        return _fail(error, EXIT_REFUSED)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    if args.json:
        print(json.dumps(output.data))
    else:
        print(output.text)
    return 0


def _fail(error: object, code: int) -> int:
    print(f"pumpctl: {error}", file=sys.stderr)
    return code


def _trace(direction: str, frame: Frame | bytes, message: Message | None) -> None:
    if isinstance(frame, Frame):
        known = frame.msg_type in MsgType.__members__.values()
        name = MsgType(frame.msg_type).name if known else hex(frame.msg_type)
        body = message.model_dump_json() if message is not None else frame.payload.hex()
        print(f"{direction:>8} seq={frame.seq} {name} {body}", file=sys.stderr)


async def _run(args: argparse.Namespace) -> Output:
    sim = None
    port = args.port
    if args.sim:
        from pumpctl.builtin_sim import BuiltinSimulator

        sim = BuiltinSimulator()
        port = sim.port
    if not port:
        raise UsageError("no pump port: give --port PORT, set PUMPCTL_PORT, or use --sim")
    try:
        client = await PumpClient.open(port, trace=_trace if args.trace else None)
        try:
            return await COMMANDS[args.command](Programmer(client), args)
        finally:
            await client.close()
    finally:
        if sim is not None:
            sim.close()


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _dump(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json")


async def _identify(programmer: Programmer, args: argparse.Namespace) -> Output:
    identity = await programmer.client.identify()
    return Output(_dump(identity), _identity_line(identity.model_dump()))


def _identity_line(identity: dict[str, Any]) -> str:
    from pumpctl.units import display_unit

    unit = display_unit(identity["drug"])
    conc = format_amount(identity["concentration_ng_per_ml"], unit, per_day=False)
    return (
        f"Pump {identity['serial_number']} ({identity['model']}, firmware "
        f"{identity['firmware_version']}), {format_volume(identity['reservoir_capacity_ul'])} "
        f"reservoir, {identity['drug']} {conc}/mL"
    )


async def _status(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    return Output(
        {"identity": _dump(seen.identity), "status": _dump(seen.status), "unit": seen.unit},
        _status_text(seen),
    )


def _status_text(seen: Interrogation) -> str:
    status, unit = seen.status, seen.unit
    state = status.state.name.lower()
    if status.stop_reason:
        state += f" ({status.stop_reason.name.lower().replace('_', ' ')})"
    low = _time(status.low_reservoir_projected_s)[:10] if status.low_reservoir_projected_s else "-"
    alarms = ", ".join(
        f"{a.code.name} ({a.severity.name.lower()}{', acknowledged' if a.acknowledged else ''})"
        for a in status.alarms
    )
    return "\n".join(
        [
            _identity_line(seen.identity.model_dump()),
            f"State      {state}{', bolus running' if status.bolus_active else ''}",
            f"Dose       {format_amount(status.dose_ng_per_day, unit)} "
            f"(flow {format_volume(status.flow_nl_per_day // 1000)}/day)",
            f"Reservoir  {format_volume(status.reservoir_ul)}; low-reservoir date {low}",
            f"Battery    {status.battery_pct} %",
            f"Pump time  {_time(status.pump_time_s)}",
            f"Alarms     {alarms or 'none'}",
        ]
    )


async def _limits(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    limits, unit = seen.limits, seen.unit
    text = "\n".join(
        [
            f"Drug               {limits.drug}",
            f"Max daily dose     {format_amount(limits.max_dose_ng_per_day, unit)}",
            f"Max step           {limits.max_step_pct}% and "
            f"{format_amount(limits.max_step_ng_per_day, unit)}",
            f"Between increases  {limits.min_increase_interval_s // 3600} h",
            f"Bolus              max {format_amount(limits.bolus_max_ng, unit, False)}, "
            f"lockout {limits.bolus_lockout_s // 60} min, {limits.max_boluses_per_day}/day",
            f"Minimum flow       {limits.min_flow_nl_per_day} nL/day",
            f"Low reservoir      {format_volume(limits.low_reservoir_ul)}",
        ]
    )
    return Output(_dump(limits), text)


async def _set_rate(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    dose = parse_amount_ng(args.dose, seen.unit)
    change = await programmer.set_rate(
        dose, believed=seen, confirm_large_change=args.confirm_large_change
    )
    text = (
        f"Dose {format_amount(change.previous_ng_per_day, seen.unit)} -> "
        f"{format_amount(change.new_ng_per_day, seen.unit)}, verified by read-back"
    )
    data = {
        "previous_dose_ng_per_day": change.previous_ng_per_day,
        "dose_ng_per_day": change.new_ng_per_day,
        "unit": seen.unit,
        "verified": True,
        "status": _dump(change.status),
    }
    return Output(data, text)


async def _bolus(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    dose = parse_amount_ng(args.dose, seen.unit, "bolus dose")
    try:
        duration = int(args.duration)
    except ValueError:
        raise UsageError(f"duration {args.duration!r} is not a whole number of seconds") from None
    reply = await programmer.client.bolus(dose, duration)
    text = (
        f"Bolus {format_amount(dose, seen.unit, False)} over {duration} s, "
        f"ends {_time(reply.ends_at_s)}"
    )
    return Output(_dump(reply), text)


async def _stop(programmer: Programmer, args: argparse.Namespace) -> Output:
    reply = await programmer.client.stop()
    return Output(_dump(reply), "Pump stopped")


async def _resume(programmer: Programmer, args: argparse.Namespace) -> Output:
    reply = await programmer.client.resume()
    return Output(_dump(reply), "Pump running")


async def _catheter_check(programmer: Programmer, args: argparse.Namespace) -> Output:
    reply = await programmer.client.catheter_check()
    text = (
        f"Catheter {reply.verdict.name.lower().replace('_', ' ')}: {reply.delivered_pct}% "
        f"delivered, peak {reply.peak_pressure_mmhg} mmHg"
    )
    return Output(_dump(reply), text)


async def _refill(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    unit = seen.unit
    concentration = (
        parse_amount_ng(args.concentration, unit, "concentration")
        if args.concentration
        else seen.identity.concentration_ng_per_ml
    )
    bridge = parse_amount_ng(args.bridge_bolus, unit, "bridge bolus") if args.bridge_bolus else 0
    reply = await programmer.client.refill(
        parse_volume_ul(args.withdrawn, "withdrawn volume"),
        parse_volume_ul(args.added, "added volume"),
        concentration,
        bridge_bolus_ng=bridge,
        waive_bridge_bolus=args.waive_bridge,
    )
    text = f"Reservoir {format_volume(reply.reservoir_ul)}"
    if reply.discrepancy_alert:
        withdrawn = reply.expected_residual_ul + reply.discrepancy_ul
        text += (
            f"\nWARNING: withdrew {format_volume(withdrawn)}"
            f" but the pump expected {format_volume(reply.expected_residual_ul)}: "
            "investigate a possible pocket fill"
        )
    return Output(_dump(reply), text)


async def _alarms(programmer: Programmer, args: argparse.Namespace) -> Output:
    reply = await programmer.client.read_alarms()
    lines = [
        f"{a.code.name:<22} {a.severity.name.lower():<9} since {_time(a.raised_at_s)}"
        f"{'  acknowledged' if a.acknowledged else ''}"
        for a in reply.alarms
    ]
    return Output(_dump(reply), "\n".join(lines) or "No active alarms")


async def _ack(programmer: Programmer, args: argparse.Namespace) -> Output:
    name = args.alarm.strip().upper().replace("-", "_")
    if name not in AlarmCode.__members__:
        raise UsageError(f"alarm {args.alarm!r} is unknown ({', '.join(AlarmCode.__members__)})")
    reply = await programmer.client.ack_alarm(AlarmCode[name])
    return Output(_dump(reply), f"{name} acknowledged")


async def _events(programmer: Programmer, args: argparse.Namespace) -> Output:
    events, page = await programmer.client.read_all_events(args.first)
    lines = [
        f"{e.index:>6}  {_time(e.time_s)}  {EventCode(e.code).name:<18} {e.detail}" for e in events
    ]
    if page.overflow_count:
        lines.insert(0, f"({page.overflow_count} older events overwritten)")
    data = {
        "events": [e.model_dump(mode="json") for e in events],
        "next_index": page.next_index,
        "oldest_index": page.oldest_index,
        "overflow_count": page.overflow_count,
    }
    return Output(data, "\n".join(lines) or "No events")


COMMANDS: dict[str, Callable[[Programmer, argparse.Namespace], Awaitable[Output]]] = {
    "identify": _identify,
    "status": _status,
    "limits": _limits,
    "set-rate": _set_rate,
    "bolus": _bolus,
    "stop": _stop,
    "resume": _resume,
    "catheter-check": _catheter_check,
    "refill": _refill,
    "alarms": _alarms,
    "ack": _ack,
    "events": _events,
}


if __name__ == "__main__":
    sys.exit(main())
