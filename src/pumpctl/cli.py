"""``pumpctl``: the programmer from a shell. One line of reason on every failure.

Exit statuses: one table from each kind of failure to its status, ``pumpctl.exits``.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel

from pumpctl import cli_render as render
from pumpctl.cli_help import add_descriptions
from pumpctl.cli_json import error_fields, error_json, json_mode, output_json
from pumpctl.clinical.guard import GuardDecision, OverrideReason, Reading
from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.clinical.scores import format_vas, parse_vas
from pumpctl.clinical.taken_at import parse_taken_at
from pumpctl.completion import SHELLS, completion_script
from pumpctl.connection import ConnectOptions, open_client, open_target
from pumpctl.display import (
    pump_hour_minute,
    pump_minute,
    pump_second,
    spoken,
)
from pumpctl.exits import ExitStatus, UsageError, exit_status
from pumpctl.implant import ImplantRecord, day_of, dead_volume_bolus, parse_date, parse_fixed
from pumpctl.link.errors import (
    AuthenticationError,
    OutcomeUncertain,
)
from pumpctl.link.transport import DEFAULT_BAUD
from pumpctl.programmer import (
    AckAlarm,
    Bolus,
    CatheterCheck,
    ClearSchedule,
    ConfirmationRequired,
    Confirmations,
    GuardBlocked,
    Interrogation,
    NothingToSend,
    Override,
    Programmer,
    ProgrammerRefusal,
    Refill,
    Result,
    Resume,
    SetDemandBolus,
    SetPeriodicBolus,
    SetRate,
    SetSchedule,
    Stop,
    TherapyCommand,
    VerificationFailed,
    WriteImplantRecord,
)
from pumpctl.programmer import demand as demand_bolus
from pumpctl.programmer.implant import record_of
from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import (
    SECRET_FIELDS,
    AlarmCode,
    CatheterVerdict,
    ImplantResponse,
    Message,
    MsgType,
    NakCode,
    ScheduleResponse,
)
from pumpctl.protocol.session import Role
from pumpctl.schedule import (
    clock,
    parse_clock,
    parse_count,
    parse_schedule,
    periodic_of,
    program_of,
    spans,
)
from pumpctl.text import TextError, check_typed
from pumpctl.units import (
    NUMBER,
    format_amount,
    format_concentration,
    format_volume,
    parse_amount_ng,
    parse_duration_s,
    parse_volume_ul,
)

MAX_REPORT_HOURS = 24 * 366 * 10  # a visit report reaches back at most ten years
OFFLINE_COMMANDS = {"audit", "pair"}
CLI_HINTS = {
    NakCode.BRIDGE_BOLUS_REQUIRED: " (--bridge-bolus DOSE or --waive-bridge; with an implant "
    "record, pumpctl implant set, it is computed)"
}
THERAPY_COMMANDS = {"set-rate", "bolus", "stop", "resume", "catheter-check", "refill", "ack"}
RECORD_COMMANDS = THERAPY_COMMANDS | {"vas", "history", "audit", "report", "pair"}
RECORD_COMMANDS |= {"opioids", "schedule", "periodic-bolus", "reconcile"}
RECORD_COMMANDS |= {"programmers"}
RECORD_COMMANDS |= {"demand-bolus", "demand-log"}
RECORD_COMMANDS |= {"implant"}


@dataclass
class Output:
    data: dict[str, Any]
    text: str


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, like every other failure."""

    def error(self, message: str) -> NoReturn:
        line = f"{message}{_did_you_mean(message)} (see pumpctl --help)"
        raise SystemExit(_fail(line, ExitStatus.USAGE))


def _did_you_mean(message: str) -> str:
    """``; did you mean 'status'?`` for argparse's "invalid choice: 'staus' (choose from ...)"."""
    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if match is None:
        return ""
    choices = re.findall(r"'?([\w-]+)'?", match.group(2))
    close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Version(argparse.Action):
    """``--version``: looked up only when asked for, so no command pays for it."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        from importlib.metadata import version

        print(f"{parser.prog} {version('pumpctl')}")
        raise SystemExit(0)


def _attach_values(argv: list[str]) -> list[str]:
    """``--taken-at -2h`` as ``--taken-at=-2h``: argparse would take ``-2h`` for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--taken-at" and arg.startswith("-"):
            joined[-1] = f"--taken-at={arg}"
        else:
            joined.append(arg)
    return joined


def _whole(low: int, high: int, unit: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number in the one grammar of typed numbers, from ``low`` to
    ``high``."""

    def parse(text: str) -> int:
        if NUMBER.fullmatch(text.strip()) is None or "." in text:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        value = int(text.strip())
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is outside {low}-{high}{unit}")
        return value

    return parse


def _baud(text: str) -> int:
    if not text.isdigit() or not 300 <= int(text) <= 4_000_000:
        raise argparse.ArgumentTypeError(f"baud rate {text!r} is not from 300 to 4000000")
    return int(text)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes, before or after the command's name."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--port",
        default=default(os.environ.get("PUMPCTL_PORT")),
        help="pyserial port or URL (default: $PUMPCTL_PORT)",
    )
    parser.add_argument(
        "--sim",
        action="store_true",
        default=default(False),
        help="use the built-in training simulator instead of a port",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print one JSON object"
    )
    parser.add_argument(
        "--trace", action="store_true", default=default(False), help="show every frame on stderr"
    )
    parser.add_argument(
        "--baud",
        type=_baud,
        default=default(DEFAULT_BAUD),
        help=f"the line's speed; deadlines follow it (default {DEFAULT_BAUD})",
    )
    parser.add_argument(
        "--db",
        default=default(None),
        help="clinical record (default: $PUMPCTL_DB or the user data directory)",
    )
    parser.add_argument(
        "--keystore",
        default=default(None),
        help="paired pump keys (default: $PUMPCTL_KEYSTORE or the user config directory)",
    )
    parser.add_argument(
        "--role",
        choices=[r.name.lower() for r in Role],
        default=default("clinician"),
        help="the session's role (default: clinician)",
    )
    parser.add_argument(
        "--clinician",
        default=default(os.environ.get("PUMPCTL_CLINICIAN")),
        help="who is programming (default: $PUMPCTL_CLINICIAN or the login name)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="pumpctl", description="Clinician programmer for intrathecal drug pumps."
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    _global_options(parser, suppress=False)
    common = _OneLineParser(add_help=False)
    _global_options(common, suppress=True)
    for action in common._actions:  # accepted after the command, listed once: pumpctl --help
        action.help = argparse.SUPPRESS
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    class _Sub:
        @staticmethod
        def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
            return commands.add_parser(name, parents=[common], **kwargs)

    sub = _Sub()
    sub.add_parser("identify", help="model, serial, firmware, drug")
    sub.add_parser("status", help="dose, reservoir, battery, alarms")
    sub.add_parser("limits", help="the drug library limits the pump enforces")
    rate = sub.add_parser("set-rate", help="program a new daily dose (in the drug's unit)")
    rate.add_argument("dose", help="new daily dose, e.g. 1.6 (mg/day for morphine)")
    rate.add_argument(
        "--confirm-large-change",
        action="store_true",
        help="confirm a change of 10x or more, or a cut below half the dose",
    )
    rate.add_argument(
        "--override-reason",
        choices=[r.value for r in OverrideReason],
        help="escalate despite the guard, for this documented reason",
    )
    rate.add_argument(
        "--override-note", default="", help="what was found (required with --override-reason)"
    )
    vas = sub.add_parser("vas", help="log the patient's pain score (VAS 0-10)")
    vas.add_argument("score", help="0-10, whole or with one decimal")
    vas.add_argument("--note", default="", help="free text kept with the score")
    vas.add_argument(
        "--taken-at",
        default=None,
        help="when the score was taken: ISO 8601 (2026-01-04T09:30, UTC) or ago (-2h, -1d)",
    )
    vas.add_argument("--serial", help="log for this pump without connecting (a phone follow-up)")
    history = sub.add_parser("history", help="dose and VAS over time, from the clinical record")
    history.add_argument("--serial", help="a pump's serial number (without connecting)")
    audit = sub.add_parser("audit", help="the audit trail")
    audit.add_argument("action", choices=["verify", "show"])
    pair = sub.add_parser(
        "pair", help="enrol this programmer with the pump at --port, proving its implant key"
    )
    pair.add_argument("--serial", required=True, help="the pump's serial number")
    pair.add_argument(
        "--key-file", required=True, help="file holding the role's implant key, 64 hex digits"
    )
    pair.add_argument(
        "--label", default=None, help="this programmer's name on the pump (default: hostname)"
    )
    from pumpctl.cli_programmers import add_parsers

    add_parsers(commands, common)
    reconcile = sub.add_parser(
        "reconcile", help="accept where the pump and the clinical record disagree (audited)"
    )
    reconcile.add_argument("--reason", required=True, help="what was found and why it is right")
    report = sub.add_parser("report", help="write the visit report (Markdown and HTML)")
    report.add_argument(
        "--out", help="directory to write to (default: reports/ in the user's data directory)"
    )
    report.add_argument(
        "--since-hours",
        type=_whole(1, MAX_REPORT_HOURS, " hours"),
        help="how far back the visit goes (default: the first interaction today, pump clock)",
    )
    report.add_argument(
        "--paper", choices=("a4", "letter"), default="a4", help="the page size to print on (a4)"
    )
    tui = sub.add_parser(
        "tui", help="the terminal programmer (no --port: the built-in training simulator)"
    )
    tui.add_argument("--reset-training", action="store_true", help="start the training pump afresh")
    bolus = sub.add_parser("bolus", help="give a bolus (in the drug's unit)")
    bolus.add_argument("dose", help="bolus dose, e.g. 0.1 (mg for morphine)")
    bolus.add_argument("--duration", default="600", help="seconds to deliver over (600)")
    stop = sub.add_parser("stop", help="stop delivery (reviewed: the drug's withdrawal risk)")
    stop.add_argument(
        "--confirm-withdrawal-risk",
        action="store_true",
        help="confirm stopping a drug whose abrupt stop causes withdrawal",
    )
    resume = sub.add_parser("resume", help="resume delivery at the programmed dose")
    resume.add_argument(
        "--confirm-full-dose",
        action="store_true",
        help="confirm the full dose after a stop longer than the re-titration interval",
    )
    sub.add_parser("catheter-check", help="run a catheter check")
    refill = sub.add_parser(
        "refill", help="refill (without --withdrawn: show the residual the pump expects)"
    )
    refill.add_argument("--withdrawn", help="residual volume withdrawn, mL")
    refill.add_argument("--added", help="volume added, mL")
    refill.add_argument(
        "--concentration", help="concentration added, in the drug's unit per mL (default: same)"
    )
    refill.add_argument(
        "--bridge-bolus", help="bridge bolus for a concentration change (or --waive-bridge)"
    )
    refill.add_argument(
        "--waive-bridge", action="store_true", help="waive the bridge bolus (audited)"
    )
    refill.add_argument(
        "--bridge-reason",
        default="",
        help="why --bridge-bolus differs from the one the implant record gives (audited)",
    )
    refill.add_argument(
        "--discrepancy-reason",
        default="",
        help="go ahead although the residual is outside the tolerance, for this reason (audited)",
    )
    refill.add_argument(
        "--confirm-large-change",
        action="store_true",
        help="confirm a concentration change by a factor of 2 or more",
    )
    sub.add_parser("alarms", help="active alarms")
    ack = sub.add_parser("ack", help="acknowledge an alarm")
    ack.add_argument("alarm", help="alarm name, e.g. LOW_RESERVOIR")
    ack.add_argument(
        "--discrepancy-reason",
        default="",
        help="what was found, to acknowledge a VOLUME_DISCREPANCY (audited)",
    )
    events = sub.add_parser("events", help="the pump's event log")
    events.add_argument(
        "--from", dest="first", type=_whole(0, 0xFFFF_FFFF), default=0, help="first event index"
    )
    _opioids_parser(sub.add_parser("opioids", help="the patient's systemic opioids"), common)
    _schedule_parser(
        sub.add_parser("schedule", help="flexible dosing: timed steps repeating daily"), common
    )
    _periodic_parser(
        sub.add_parser("periodic-bolus", help="a bolus of a set dose every N hours"), common
    )
    _demand_parser(
        sub.add_parser("demand-bolus", help="the patient's demand bolus, set by the clinician"),
        common,
    )
    sub.add_parser("demand-log", help="the patient's demand-bolus activations, refused ones too")
    _implant_parser(
        sub.add_parser("implant", help="the implant record: patient, catheter, volumes"), common
    )
    completion = sub.add_parser("completion", help="print the shell completion script")
    completion.add_argument("shell", choices=SHELLS, help="bash or zsh")
    add_descriptions(parser)
    return parser


def _demand_parser(demand: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = demand.add_subparsers(dest="demand_action", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set", parents=[common], help="program the demand bolus (reviewed, sent once, read back)"
    )
    set_.add_argument("dose", help="each bolus in the drug's unit, e.g. 0.1 (mg for morphine)")
    set_.add_argument("--duration", required=True, help="minutes each bolus lasts")
    set_.add_argument("--lockout", required=True, help="minutes from one bolus to the next")
    set_.add_argument("--per-day", required=True, help="the most boluses in any 24 h")
    actions.add_parser("off", parents=[common], help="switch demand boluses off")
    actions.add_parser("show", parents=[common], help="the settings and the patient's day")
    actions.add_parser(
        "take", parents=[common], help="the patient's press (with --role patient; training)"
    )


def _implant_parser(implant: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = implant.add_subparsers(dest="implant_action", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set", parents=[common], help="write the implant record (reviewed, sent once, read back)"
    )
    set_.add_argument("--patient-id", required=True, help="an opaque identifier, no name needed")
    set_.add_argument("--implanted", required=True, help="implant date, YYYY-MM-DD")
    set_.add_argument("--tip", required=True, help="catheter tip level: C1..C7, T1..T12, L1..L5")
    set_.add_argument("--catheter-length-cm", required=True, help="catheter as implanted, cm")
    set_.add_argument(
        "--catheter-volume-ul", required=True, help="the catheter's internal volume, µL"
    )
    set_.add_argument(
        "--pump-volume-ul", default=None, help="pump internal volume, µL (default: its model's)"
    )
    actions.add_parser("show", parents=[common], help="the implant record, bridge and priming")


def _schedule_parser(schedule: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = schedule.add_subparsers(dest="schedule_action", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set", parents=[common], help="program a schedule (reviewed, sent once, read back)"
    )
    set_.add_argument(
        "steps",
        help='"HH:MM=DOSE ...", each dose per day in the drug\'s unit, from 00:00 on the '
        'pump\'s clock, e.g. "00:00=1.4 08:00=1.8 20:00=1.4"',
    )
    clear = actions.add_parser("clear", parents=[common], help="back to a simple continuous rate")
    clear.add_argument(
        "--dose", default=None, help="the simple rate (default: the schedule's daily dose)"
    )
    for action in (set_, clear):
        action.add_argument(
            "--confirm-large-change",
            action="store_true",
            help="confirm a change of 10x or more, or a cut below half, at any time of day",
        )
    actions.add_parser("show", parents=[common], help="the program in force, step by step")


def _periodic_parser(periodic: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = periodic.add_subparsers(dest="periodic_action", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set", parents=[common], help="program periodic boluses (reviewed, sent once, read back)"
    )
    set_.add_argument("dose", help="each bolus in the drug's unit, e.g. 0.1 (mg for morphine)")
    set_.add_argument(
        "--every", required=True, help="hours between boluses: 1, 2, 3, 4, 6, 8, 12, 24"
    )
    set_.add_argument("--duration", required=True, help="minutes each bolus lasts")
    set_.add_argument(
        "--first", default="00:00", help="the first bolus of the day, HH:MM on the pump's clock"
    )
    actions.add_parser("clear", parents=[common], help="stop the periodic boluses")


def _opioids_parser(opioids: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    serial_help = "a pump's serial number (without connecting)"
    opioids.add_argument("--serial", help=serial_help)
    actions = opioids.add_subparsers(dest="opioids_action", required=True, metavar="ACTION")
    set_ = actions.add_parser(
        "set", parents=[common], help="record an opioid and its amount (replaces an earlier one)"
    )
    set_.add_argument("name", help="e.g. oxycodone, fentanyl-patch, buprenorphine")
    set_.add_argument("amount", nargs="+", help="e.g. 120mg/day, 10mg/12h, 50mcg/h")
    stop = actions.add_parser("stop", parents=[common], help="record that an opioid was stopped")
    stop.add_argument("name")
    show = actions.add_parser("show", parents=[common], help="each opioid's MME/day and the total")
    for action in (set_, stop, show):
        action.add_argument("--serial", default=argparse.SUPPRESS, help=serial_help)


def main(argv: list[str] | None = None) -> int:
    token = json_mode.set(False)
    try:
        return _main(argv)
    finally:
        json_mode.reset(token)  # a caller in the same process starts afresh


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    argv = _attach_values(sys.argv[1:] if argv is None else argv)
    json_mode.set("--json" in argv)  # a usage error comes before the arguments are known
    args = parser.parse_args(argv)
    json_mode.set(bool(getattr(args, "json", False)))
    try:
        for name, value in vars(args).items():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    check_typed(text, f"--{name.replace('_', '-')}")
    except TextError as error:
        return _fail(error, ExitStatus.USAGE)
    if args.command == "tui":
        return _tui(args)
    if args.command == "completion":
        print(completion_script(parser, args.shell), end="")
        return 0
    try:
        output = asyncio.run(_run(args))
    except (Exception, KeyboardInterrupt) as error:
        status = exit_status(error)
        if status is None:
            raise
        return _fail(_failure_line(error, args), status, error)
    try:
        text = output_json(_schema_command(args), output.data) if args.json else output.text
        print(text, flush=True)
    except BrokenPipeError:
        # The reader (``| head``) has gone: nothing more to say, and nothing went wrong here.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _failure_line(error: BaseException, args: argparse.Namespace) -> object:
    """The one line a failure prints (a guard decision is shown in full before it)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, sqlite3.Error):
        return f"clinical record error: {error}"
    if isinstance(error, GuardBlocked):
        if not args.json:  # under --json the decision is in the error object
            print(_decision_text(error.decision, error.override_refused))
    elif isinstance(error, ConfirmationRequired):
        flags = " and ".join(sorted(c.flag for c in error.missing))
        return f"not sent: {error.why}; confirm with {flags}"
    elif isinstance(error, ProgrammerRefusal):
        return f"{error}{CLI_HINTS.get(error.rule, '')}"
    elif isinstance(error, VerificationFailed):
        return f"verification failed: {error}; interrogate the pump"
    elif isinstance(error, OutcomeUncertain):
        return f"outcome uncertain: {error}: pumpctl status"
    return error


def _tui(args: argparse.Namespace) -> int:
    from pumpctl.builtin_sim import training_state_path
    from pumpctl.tui.app import run_tui

    if args.reset_training:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{training_state_path()}{suffix}").unlink(missing_ok=True)
    try:
        run_tui(connect=_connect_options(args), record_path=args.db, clinician=_clinician(args))
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    return 0


def _connect_options(args: argparse.Namespace, *, tui: bool = True) -> ConnectOptions:
    """The global options as the one connection factory takes them (every face the same)."""
    return ConnectOptions(
        port=args.port,
        sim=args.sim or (tui and not args.port),
        keystore=args.keystore,
        role=Role[args.role.upper()],
        trace=_trace if args.trace else None,
        baud=args.baud,
    )


def _fail(error: object, code: int, cause: object = None) -> int:
    """The one line on stderr; under ``--json`` also the error object on stdout. ``cause``:
    the exception behind a reworded ``error``, for its rule and limit."""
    print(f"pumpctl: {error}", file=sys.stderr)
    if json_mode.get():
        print(error_json(str(error), code, **error_fields(cause or error)), flush=True)
    return code


def _schema_command(args: argparse.Namespace) -> str:
    """``schedule.show`` for ``pumpctl schedule show``: the command and its action."""
    actions = [v for k, v in vars(args).items() if k.endswith("action") and isinstance(v, str)]
    return ".".join([args.command, *actions])


def _trace(direction: str, frame: Frame | bytes, message: Message | None) -> None:
    if isinstance(frame, Frame):
        known = frame.msg_type in MsgType.__members__.values()
        name = MsgType(frame.msg_type).name if known else hex(frame.msg_type)
        body = (
            message.model_dump_json(exclude=set(SECRET_FIELDS))
            if message is not None
            else frame.payload.hex()
        )
        print(f"{direction:>8} seq={frame.seq} {name} {body}", file=sys.stderr)


async def _run(args: argparse.Namespace) -> Output:
    record = ClinicalRecord.open(args.db) if args.command in RECORD_COMMANDS else _settling(args)
    try:
        offline = args.command in OFFLINE_COMMANDS or (
            args.command == "history" and args.serial is not None
        )
        offline = offline or (args.command == "opioids" and args.serial is not None)
        offline = offline or (args.command == "vas" and args.serial is not None)
        if offline:
            assert record is not None
            return await OFFLINE[args.command](record, args)
        return await _with_pump(args, record)
    finally:
        if record is not None:
            record.close()


async def _with_pump(args: argparse.Namespace, record: ClinicalRecord | None) -> Output:
    options = _connect_options(args, tui=False)
    if not options.sim and not options.port:
        raise UsageError("no pump port: give --port PORT, set PUMPCTL_PORT, or use --sim")
    target = open_target(options)
    try:
        try:
            client = await open_client(target, options)
        except AuthenticationError as error:
            _audit_authentication_failure(args, record, str(error))
            raise
        try:
            programmer = Programmer(client, record, clinician=_clinician(args))
            return await COMMANDS[args.command](programmer, args)
        finally:
            await client.close()
    finally:
        target.close()


def _settling(args: argparse.Namespace) -> ClinicalRecord | None:
    """For a read: the record, so that a command it holds open is settled first; a read
    works without it."""
    try:
        return ClinicalRecord.open(args.db)
    except RecordError:
        return None


def _audit_authentication_failure(
    args: argparse.Namespace, record: ClinicalRecord | None, reason: str
) -> None:
    """Best effort: the failure itself is what the user must see, whatever the record does."""
    try:
        target = record or ClinicalRecord.open(args.db)
    except RecordError:
        return
    try:
        target.note("-", _clinician(args), "authentication-failed", int(time.time()), reason=reason)
    except RecordError:
        pass
    finally:
        if record is None:
            target.close()


def _clinician(args: argparse.Namespace) -> str:
    if args.clinician:
        return str(args.clinician)
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _dump(message: BaseModel) -> dict[str, Any]:
    """A model's fields, enums kept as enums: ``--json`` writes them by name (cli_json)."""
    return message.model_dump(mode="python")


async def _identify(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    return Output({**_dump(seen.identity), "unit": seen.unit}, render.identity_line(seen))


async def _status(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    data: dict[str, Any] = {
        "identity": _dump(seen.identity),
        "status": _dump(seen.status),
        "unit": seen.unit,
    }
    data["discrepancies"] = [d.as_json() for d in programmer.discrepancies]
    if programmer.record_problem:
        data["record_problem"] = programmer.record_problem
    texts = [d.text for d in programmer.discrepancies]
    patient = programmer.record.patient_id(seen.serial)
    return Output(data, render.status_lines(seen, texts, programmer.record_problem, patient))


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


async def _limits(programmer: Programmer, args: argparse.Namespace) -> Output:
    seen = await programmer.interrogate()
    limits, unit = seen.limits, seen.unit
    text = render.limits_text(limits, unit)
    return Output(_dump(limits), text)


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
    output = await _therapy(programmer, args, SetRate(dose, override), confirmations, seen)
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


async def _therapy(
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
        "status": _dump(result.after.status),
    }
    return TherapyOutput(data, result.text, result)


def _decision_text(decision: GuardDecision, override_refused: str | None = None) -> str:
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
        clinician=_clinician(args),
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


async def _pair(record: ClinicalRecord, args: argparse.Namespace) -> Output:
    from pumpctl.cli_programmers import pair_command

    return await pair_command(record, args)


async def _programmers(programmer: Programmer, args: argparse.Namespace) -> Output:
    from pumpctl.cli_programmers import programmers_command

    return await programmers_command(programmer, args)


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
            serial, now_s, args.name, amount, clinician=_clinician(args)
        )
        mme = systemic.mme_per_day(entry.name, entry.amount_text)
        per_day = "no CDC factor" if mme is None else f"{systemic.format_mme(mme)} MME/day"
        lead.append(
            f"{entry.name} {entry.amount_text} ({per_day}) recorded at {pump_second(now_s)}"
        )
    elif args.opioids_action == "stop":
        entry = record.stop_systemic_opioid(serial, now_s, args.name, clinician=_clinician(args))
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


async def _bolus(programmer: Programmer, args: argparse.Namespace) -> Output:
    duration = parse_duration_s(args.duration, "bolus duration")
    seen = await programmer.interrogate()
    dose = parse_amount_ng(args.dose, seen.unit, "bolus dose")
    return await _therapy(programmer, args, Bolus(dose, duration), seen=seen)


async def _stop(programmer: Programmer, args: argparse.Namespace) -> Output:
    confirmations = Confirmations(withdrawal_risk=args.confirm_withdrawal_risk)
    return await _therapy(programmer, args, Stop(), confirmations)


async def _resume(programmer: Programmer, args: argparse.Namespace) -> Output:
    confirmations = Confirmations(full_dose_restart=args.confirm_full_dose)
    return await _therapy(programmer, args, Resume(), confirmations)


async def _catheter_check(programmer: Programmer, args: argparse.Namespace) -> Output:
    output = await _therapy(programmer, args, CatheterCheck())
    if output.result is not None:
        serial, request_id = output.result.after.serial, output.result.request_id
        event = programmer.record.event_for_request(serial, request_id)
        if event is not None:
            verdict = CatheterVerdict(event.value_a).name
            measured = event.detail.partition(": ")[2]
            output.text = f"Catheter {spoken(CatheterVerdict(event.value_a))}: {measured}"
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
    return await _therapy(programmer, args, command, confirmations, seen)


async def _alarms(programmer: Programmer, args: argparse.Namespace) -> Output:
    reply = await programmer.client.read_alarms()
    return Output(_dump(reply), render.alarms_text(reply.alarms))


async def _ack(programmer: Programmer, args: argparse.Namespace) -> Output:
    name = args.alarm.strip().upper().replace("-", "_")
    if name not in AlarmCode.__members__:
        raise UsageError(f"alarm {args.alarm!r} is unknown ({', '.join(AlarmCode.__members__)})")
    confirmations = Confirmations(discrepancy_reason=args.discrepancy_reason)
    return await _therapy(programmer, args, AckAlarm(AlarmCode[name]), confirmations)


async def _events(programmer: Programmer, args: argparse.Namespace) -> Output:
    events, page = await programmer.client.read_all_events(args.first)
    data = {
        "events": [_dump(e) for e in events],
        "next_index": page.next_index,
        "oldest_index": page.oldest_index,
        "overflow_count": page.overflow_count,
    }
    return Output(data, render.events_text(events, page.overflow_count))


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
    output = await _therapy(programmer, args, command, confirmations, seen)
    if output.result is not None and output.result.after.schedule is not None:
        output.data["schedule"] = _dump(output.result.after.schedule)
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
    output = await _therapy(programmer, args, command, None, seen)
    if output.result is not None and output.result.after.schedule is not None:
        output.data["schedule"] = _dump(output.result.after.schedule)
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
    output = await _therapy(programmer, args, WriteImplantRecord(record), None, seen)
    if output.result is not None and output.result.after.implant is not None:
        output.data["implant"] = _dump(output.result.after.implant)
    return output


def _implant_output(seen: Interrogation, implant: ImplantResponse) -> Output:
    data = {"unit": seen.unit, **_dump(implant)}
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
    data = {"unit": unit, **_dump(schedule)}
    return Output(data, "\n".join(lines))


async def _demand(programmer: Programmer, args: argparse.Namespace) -> Output:
    if args.demand_action == "take":
        given = await programmer.take_demand_bolus()
        text = (
            f"Demand bolus given over {given.duration_s // 60} min (the clinician's dose), "
            f"ends {pump_hour_minute(given.ends_at_s)} UTC; {given.given_last_24h} in the last 24 h"
        )
        return Output(_dump(given), text)
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
    output = await _therapy(programmer, args, command, None, seen)
    if output.result is not None and output.result.after.demand is not None:
        output.data["demand"] = _dump(output.result.after.demand)
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
    data = {"unit": seen.unit, **_dump(read)}
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


COMMANDS: dict[str, Callable[[Programmer, argparse.Namespace], Awaitable[Output]]] = {
    "identify": _identify,
    "status": _status,
    "reconcile": _reconcile,
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
    "vas": _vas,
    "history": _history,
    "report": _report,
    "opioids": _opioids,
    "schedule": _schedule,
    "periodic-bolus": _periodic,
    "programmers": _programmers,
    "demand-bolus": _demand,
    "demand-log": _demand_log,
    "implant": _implant,
}
OFFLINE: dict[str, Callable[[ClinicalRecord, argparse.Namespace], Awaitable[Output]]] = {
    "audit": _audit,
    "pair": _pair,
    "history": _history_offline,
    "vas": _vas_offline,
    "opioids": _opioids_offline,
}


if __name__ == "__main__":
    sys.exit(main())
