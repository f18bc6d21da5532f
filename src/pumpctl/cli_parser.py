"""``pumpctl``'s command line as argparse reads it: every command, its options and its help.

Built before anything else on every run (and by the manual page, the JSON schemas and the
shell completion), so it imports nothing heavy: no models, no event loop, no cryptography.
The few choices it takes from other modules are written out here, and
tests/test_cli_lean.py holds them equal to their sources.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from pumpctl.cli_help import add_descriptions
from pumpctl.cli_json import fail
from pumpctl.completion import SHELLS
from pumpctl.exits import ExitStatus
from pumpctl.units import NUMBER

MAX_REPORT_HOURS = 24 * 366 * 10  # a visit report reaches back at most ten years
DEFAULT_BAUD = 115_200  # pumpctl.link.timing.DEFAULT_BAUD
ROLES = ["clinician", "patient", "service"]  # pumpctl.protocol.session.Role, lower case
# pumpctl.clinical.guard.OverrideReason's values
OVERRIDE_REASONS = [
    "disease-progression",
    "new-pain-source",
    "tolerance-confirmed",
    "delivery-fault-corrected",
]


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, like every other failure."""

    def error(self, message: str) -> NoReturn:
        line = f"{message}{_did_you_mean(message)} (see pumpctl --help)"
        raise SystemExit(fail(line, ExitStatus.USAGE))


def _did_you_mean(message: str) -> str:
    """``; did you mean 'status'?`` for argparse's "invalid choice: 'staus' (choose from ...)"."""
    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if match is None:
        return ""
    import difflib  # a typo's alone

    choices = re.findall(r"'?([\w-]+)'?", match.group(2))
    close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def own_process() -> None:
    """For ``pumpctl`` and ``pumpsim`` in their own processes (never a caller's): no pydantic
    plugin, since one would see every message to and from the pump, keys included (and
    looking for one reads every installed package's metadata)."""
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"


class VersionAction(argparse.Action):
    """``--version``: looked up only when asked for, so no command pays for it."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        from importlib.metadata import version

        print(f"{parser.prog} {version('pumpctl')}")
        raise SystemExit(0)


def attach_values(argv: list[str]) -> list[str]:
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
        choices=ROLES,
        default=default("clinician"),
        help="the session's role (default: clinician)",
    )
    parser.add_argument(
        "--clinician",
        default=default(os.environ.get("PUMPCTL_CLINICIAN")),
        help="who is programming (default: $PUMPCTL_CLINICIAN or the login name)",
    )


def build_parser(*, on_demand: bool = False) -> argparse.ArgumentParser:
    """The whole command line. ``on_demand``: each command's own parser is built only when
    the command is chosen (a run needs one; argparse's set-up of all 45 costs more than the
    rest of ``--help``); the manual page, the completion and the suite take them all."""
    parser = _OneLineParser(
        prog="pumpctl", description="Clinician programmer for intrathecal drug pumps."
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    _global_options(parser, suppress=False)
    common = _OneLineParser(add_help=False)
    _global_options(common, suppress=True)
    for action in common._actions:  # accepted after the command, listed once: pumpctl --help
        action.help = argparse.SUPPRESS
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", action=_Commands
    )
    assert isinstance(commands, _Commands)
    commands.common = common
    for name, help_, arguments in COMMANDS:
        commands.add_command(name, help_, arguments, later=on_demand)
    return parser


Arguments = Callable[[argparse.ArgumentParser, argparse.ArgumentParser], None]


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


class _Commands(_SubParsers):
    """The commands: each listed by its name and help; its own parser (its arguments, with the
    global options after it as ``common``, and its help text) built now or when chosen."""

    common: argparse.ArgumentParser

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._later: dict[str, Arguments] = {}
        self._names: list[str] = []

    def add_command(self, name: str, help_: str, arguments: Arguments, *, later: bool) -> None:
        if not later:
            self._build(name, arguments, help_)
            return
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), help_))
        self._later[name] = arguments
        self._names.append(name)
        # argparse checks a command against ``choices`` and lists them from it: until one is
        # chosen, the names stand for the parsers.
        self.choices = self._names  # type: ignore[assignment]

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, list)
        arguments = self._later.pop(values[0], None)
        if arguments is not None:
            self._build(values[0], arguments, None)
        super().__call__(parser, namespace, values, option_string)

    def _build(self, name: str, arguments: Arguments, help_: str | None) -> None:
        """The command's parser as ``add_parser`` makes it (listed with ``help_`` unless it is
        listed already)."""
        if help_ is None:
            sub = self.add_parser(name, parents=[self.common])
        else:
            sub = self.add_parser(name, parents=[self.common], help=help_)
        arguments(sub, self.common)
        add_descriptions(sub, (name,))


def _nothing(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """A command without arguments of its own."""


def _set_rate_parser(rate: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    rate.add_argument("dose", help="new daily dose, e.g. 1.6 (mg/day for morphine)")
    rate.add_argument(
        "--confirm-large-change",
        action="store_true",
        help="confirm a change of 10x or more, or a cut below half the dose",
    )
    rate.add_argument(
        "--override-reason",
        choices=OVERRIDE_REASONS,
        help="escalate despite the guard, for this documented reason",
    )
    rate.add_argument(
        "--override-note", default="", help="what was found (required with --override-reason)"
    )


def _vas_parser(vas: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    vas.add_argument("score", help="0-10, whole or with one decimal")
    vas.add_argument("--note", default="", help="free text kept with the score")
    vas.add_argument(
        "--taken-at",
        default=None,
        help="when the score was taken: ISO 8601 (2026-01-04T09:30, UTC) or ago (-2h, -1d)",
    )
    vas.add_argument("--serial", help="log for this pump without connecting (a phone follow-up)")


def _history_parser(history: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    history.add_argument("--serial", help="a pump's serial number (without connecting)")


def _audit_parser(audit: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    audit.add_argument("action", choices=["verify", "show"])


def _pair_parser(pair: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    pair.add_argument("--serial", required=True, help="the pump's serial number")
    pair.add_argument(
        "--key-file", required=True, help="file holding the role's implant key, 64 hex digits"
    )
    pair.add_argument(
        "--label", default=None, help="this programmer's name on the pump (default: hostname)"
    )


def _reconcile_parser(reconcile: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    reconcile.add_argument("--reason", required=True, help="what was found and why it is right")


def _report_parser(report: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
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


def _tui_parser(tui: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    tui.add_argument("--reset-training", action="store_true", help="start the training pump afresh")


def _bolus_parser(bolus: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    bolus.add_argument("dose", help="bolus dose, e.g. 0.1 (mg for morphine)")
    bolus.add_argument("--duration", default="600", help="seconds to deliver over (600)")


def _stop_parser(stop: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    stop.add_argument(
        "--confirm-withdrawal-risk",
        action="store_true",
        help="confirm stopping a drug whose abrupt stop causes withdrawal",
    )


def _resume_parser(resume: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    resume.add_argument(
        "--confirm-full-dose",
        action="store_true",
        help="confirm the full dose after a stop longer than the re-titration interval",
    )


def _refill_parser(refill: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
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


def _ack_parser(ack: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    ack.add_argument("alarm", help="alarm name, e.g. LOW_RESERVOIR")
    ack.add_argument(
        "--discrepancy-reason",
        default="",
        help="what was found, to acknowledge a VOLUME_DISCREPANCY (audited)",
    )


def _events_parser(events: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    events.add_argument(
        "--from", dest="first", type=_whole(0, 0xFFFF_FFFF), default=0, help="first event index"
    )


def _completion_parser(
    completion: argparse.ArgumentParser, common: argparse.ArgumentParser
) -> None:
    completion.add_argument("shell", choices=SHELLS, help="bash or zsh")


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


def _programmers_parser(
    programmers: argparse.ArgumentParser, common: argparse.ArgumentParser
) -> None:
    actions = programmers.add_subparsers(dest="programmers_action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", parents=[common], help="each enrolled programmer: id, role, label, dates"
    )
    revoke_parser = actions.add_parser(
        "revoke", parents=[common], help="revoke a programmer's key for good (audited)"
    )
    revoke_parser.add_argument("programmer_id", metavar="ID", help="the programmer's id")
    revoke_parser.add_argument("--yes", action="store_true", help="revoke without asking")


# Every command in the order ``pumpctl --help`` lists it: name, help, its arguments.
COMMANDS: tuple[tuple[str, str, Arguments], ...] = (
    ("identify", "model, serial, firmware, drug", _nothing),
    ("status", "dose, reservoir, battery, alarms", _nothing),
    ("limits", "the drug library limits the pump enforces", _nothing),
    ("set-rate", "program a new daily dose (in the drug's unit)", _set_rate_parser),
    ("vas", "log the patient's pain score (VAS 0-10)", _vas_parser),
    ("history", "dose and VAS over time, from the clinical record", _history_parser),
    ("audit", "the audit trail", _audit_parser),
    (
        "pair",
        "enrol this programmer with the pump at --port, proving its implant key",
        _pair_parser,
    ),
    ("programmers", "the programmers enrolled in the pump", _programmers_parser),
    (
        "reconcile",
        "accept where the pump and the clinical record disagree (audited)",
        _reconcile_parser,
    ),
    ("report", "write the visit report (Markdown and HTML)", _report_parser),
    ("tui", "the terminal programmer (no --port: the built-in training simulator)", _tui_parser),
    ("bolus", "give a bolus (in the drug's unit)", _bolus_parser),
    ("stop", "stop delivery (reviewed: the drug's withdrawal risk)", _stop_parser),
    ("resume", "resume delivery at the programmed dose", _resume_parser),
    ("catheter-check", "run a catheter check", _nothing),
    (
        "refill",
        "refill (without --withdrawn: show the residual the pump expects)",
        _refill_parser,
    ),
    ("alarms", "active alarms", _nothing),
    ("ack", "acknowledge an alarm", _ack_parser),
    ("events", "the pump's event log", _events_parser),
    ("opioids", "the patient's systemic opioids", _opioids_parser),
    ("schedule", "flexible dosing: timed steps repeating daily", _schedule_parser),
    ("periodic-bolus", "a bolus of a set dose every N hours", _periodic_parser),
    ("demand-bolus", "the patient's demand bolus, set by the clinician", _demand_parser),
    ("demand-log", "the patient's demand-bolus activations, refused ones too", _nothing),
    ("implant", "the implant record: patient, catheter, volumes", _implant_parser),
    ("completion", "print the shell completion script", _completion_parser),
)
