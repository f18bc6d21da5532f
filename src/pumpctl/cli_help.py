"""Every ``pumpctl`` command's help: what it does and one example, in one table.

Keyed by the command as typed (``"schedule set"`` for an action of a command); the parser takes
each subcommand's ``description`` and ``epilog`` from here, and the suite checks every
subcommand has both.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator

GLOBAL_OPTIONS_NOTE = (
    "global options (--port, --sim, --json, --trace, --baud, --db, --keystore, --role, "
    "--clinician) go before or after the command: see pumpctl --help"
)

# command -> (description, example command line)
HELP: dict[str, tuple[str, str]] = {
    "identify": (
        "Read the pump's identity: model, serial number, firmware, drug and concentration.",
        "pumpctl --port /dev/ttyUSB0 identify",
    ),
    "status": (
        "Interrogate the pump: dose, flow, reservoir and its low-reservoir date, battery, "
        "alarms, and where the pump and the clinical record disagree.",
        "pumpctl --port /dev/ttyUSB0 --json status",
    ),
    "limits": (
        "The drug library limits the pump enforces for its drug: dose range, step, bolus, "
        "daily maximum.",
        "pumpctl --sim limits",
    ),
    "set-rate": (
        "Program a new daily dose in the drug's unit (mg/day for morphine). The programmer "
        "checks it, the titration guard checks an increase, the review shows old -> new; it is "
        "sent once and read back. A dose 10x or more up, or below half down, needs "
        "--confirm-large-change.",
        "pumpctl --port /dev/ttyUSB0 set-rate 1.6",
    ),
    "vas": (
        "Log the patient's pain score (VAS 0-10) on the pump's timeline; with --serial, "
        "without the pump (a phone follow-up).",
        "pumpctl --sim vas 6 --note 'after walking' --taken-at -2h",
    ),
    "history": (
        "Dose changes and VAS scores over time, from the clinical record.",
        "pumpctl history --serial SN123456",
    ),
    "audit": (
        "The audit trail: 'verify' checks its hash chain, 'show' lists every entry.",
        "pumpctl audit verify",
    ),
    "pair": (
        "Enrol this programmer with the pump at --port: prove the pump's implant key from a "
        "file, enrol a fresh key of this programmer's own under its id, prove that too, and "
        "store only it (a wrong key is not stored).",
        "pumpctl --port /dev/ttyUSB0 pair --serial SN123456 --key-file pump.key --label ward-3",
    ),
    "programmers": (
        "The programmers enrolled in the pump: list them, or revoke a lost one's key.",
        "pumpctl --port /dev/ttyUSB0 programmers list",
    ),
    "programmers list": (
        "Each enrolled programmer: id, role, label, when enrolled and revoked; * marks this one.",
        "pumpctl --port /dev/ttyUSB0 programmers list --json",
    ),
    "programmers revoke": (
        "Revoke a programmer's key for good (asked first, audited); its open session is "
        "closed at once. The implant key (id 0) cannot be revoked.",
        "pumpctl --port /dev/ttyUSB0 programmers revoke 3141592653",
    ),
    "reconcile": (
        "Accept, for a documented reason (audited), where the pump and the clinical record "
        "disagree; until then increases are refused.",
        "pumpctl --port /dev/ttyUSB0 reconcile --reason 'dose changed at the pain clinic'",
    ),
    "report": (
        "Write the visit report (Markdown and HTML): dose and VAS over the visit, with the "
        "guard's decisions.",
        "pumpctl --port /dev/ttyUSB0 report --out ~/visits --since-hours 48",
    ),
    "tui": (
        "The terminal programmer. Without --port it starts the built-in training pump, whose "
        "memory persists in the user's data directory.",
        "pumpctl tui --reset-training",
    ),
    "bolus": (
        "Give a bolus in the drug's unit, within the drug library's bolus limits and the "
        "daily maximum.",
        "pumpctl --port /dev/ttyUSB0 bolus 0.1 --duration 600",
    ),
    "stop": (
        "Stop delivery. The review names the drug's withdrawal risk; for an opioid or "
        "baclofen it needs --confirm-withdrawal-risk.",
        "pumpctl --port /dev/ttyUSB0 stop --confirm-withdrawal-risk",
    ),
    "resume": (
        "Resume delivery at the programmed dose; past the drug's re-titration interval the "
        "full dose needs --confirm-full-dose.",
        "pumpctl --port /dev/ttyUSB0 resume",
    ),
    "catheter-check": (
        "Run a catheter check and print the verdict with its measurements.",
        "pumpctl --port /dev/ttyUSB0 catheter-check",
    ),
    "refill": (
        "Without --withdrawn and --added: the residual the pump expects and its tolerance. "
        "With them: the refill, reviewed, sent once and read back.",
        "pumpctl --port /dev/ttyUSB0 refill --withdrawn 2.9 --added 20",
    ),
    "alarms": (
        "The pump's active alarms, their severity and since when.",
        "pumpctl --port /dev/ttyUSB0 alarms",
    ),
    "ack": (
        "Acknowledge an alarm by name; a VOLUME_DISCREPANCY needs --discrepancy-reason.",
        "pumpctl --port /dev/ttyUSB0 ack LOW_RESERVOIR",
    ),
    "events": (
        "The pump's event log, oldest first, from an index.",
        "pumpctl --port /dev/ttyUSB0 events --from 120",
    ),
    "opioids": (
        "The patient's systemic opioids: each one's MME/day and the total, beside the "
        "intrathecal dose and never added to it.",
        "pumpctl --sim opioids show",
    ),
    "opioids set": (
        "Record a systemic opioid and its amount (replaces an earlier entry of the same name).",
        "pumpctl --sim opioids set oxycodone 120mg/day",
    ),
    "opioids stop": (
        "Record that a systemic opioid was stopped.",
        "pumpctl --sim opioids stop oxycodone",
    ),
    "opioids show": (
        "Each systemic opioid's MME/day and the total.",
        "pumpctl opioids show --serial SN123456",
    ),
    "demand-bolus": (
        "The patient's demand bolus: its dose and duration fixed by the clinician, with a "
        "lockout and a count per day; the patient only chooses when.",
        "pumpctl --port /dev/ttyUSB0 demand-bolus show",
    ),
    "demand-bolus set": (
        "Set the demand bolus (dose in the drug's unit, minutes, minutes, a count); reviewed "
        "old -> new with the daily allowance, sent once, read back.",
        "pumpctl --port /dev/ttyUSB0 demand-bolus set 0.05 --duration 10 --lockout 60 --per-day 4",
    ),
    "demand-bolus off": (
        "Switch demand boluses off (reviewed, read back).",
        "pumpctl --port /dev/ttyUSB0 demand-bolus off",
    ),
    "demand-bolus show": (
        "The demand-bolus settings and the patient's last 24 h.",
        "pumpctl --port /dev/ttyUSB0 --json demand-bolus show",
    ),
    "demand-bolus take": (
        "Press the patient's button (a patient's device: --role patient): the clinician's "
        "dose, if the lockout and the count allow it.",
        "pumpctl --port /dev/ttyUSB0 --role patient demand-bolus take",
    ),
    "demand-log": (
        "The patient's demand-bolus activations, given and refused, newest last.",
        "pumpctl --port /dev/ttyUSB0 demand-log",
    ),
    "implant": (
        "The implant record in the pump: the patient's identifier, the implant date, the "
        "catheter tip, the catheter's length and volume, the pump's internal volume.",
        "pumpctl --port /dev/ttyUSB0 implant show",
    ),
    "implant set": (
        "Write the implant record (reviewed old -> new, sent once, read back, audited); its "
        "volumes then give the bridge and priming boluses.",
        "pumpctl --port /dev/ttyUSB0 implant set --patient-id P-0042 --implanted 2025-11-03 "
        "--tip T10 --catheter-length-cm 50 --catheter-volume-ul 55",
    ),
    "implant show": (
        "The implant record, with the priming bolus its volumes give.",
        "pumpctl --port /dev/ttyUSB0 --json implant show",
    ),
    "schedule": (
        "Flexible dosing: a day of timed steps on the pump's clock, repeating daily.",
        "pumpctl --port /dev/ttyUSB0 schedule show",
    ),
    "schedule set": (
        "Program a schedule: steps HH:MM=DOSE on 15-minute boundaries, each dose per day in "
        "the drug's unit; reviewed step by step, sent once, read back.",
        'pumpctl --port /dev/ttyUSB0 schedule set "00:00=1.4 08:00=1.8 20:00=1.4"',
    ),
    "schedule clear": (
        "Back to a simple continuous rate (default: the schedule's daily dose).",
        "pumpctl --port /dev/ttyUSB0 schedule clear --dose 1.4",
    ),
    "schedule show": (
        "The program in force, step by step, with the step running now.",
        "pumpctl --port /dev/ttyUSB0 schedule show",
    ),
    "periodic-bolus": (
        "A bolus of a set dose every N hours, within the bolus limits and the daily maximum.",
        "pumpctl --port /dev/ttyUSB0 periodic-bolus set 0.1 --every 6 --duration 30",
    ),
    "periodic-bolus set": (
        "Program periodic boluses: the dose of each, every how many hours, how long each "
        "lasts and the first of the day; reviewed, sent once, read back.",
        "pumpctl --port /dev/ttyUSB0 periodic-bolus set 0.1 --every 6 --duration 30 --first 06:00",
    ),
    "periodic-bolus clear": (
        "Stop the periodic boluses.",
        "pumpctl --port /dev/ttyUSB0 periodic-bolus clear",
    ),
    "completion": (
        "Print the shell completion script for bash or zsh.",
        "pumpctl completion bash > ~/.local/share/bash-completion/completions/pumpctl",
    ),
}


def subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand below ``parser``, depth first, as (``"schedule set"``, its parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield " ".join((*path, name)), sub
                yield from subcommands(sub, (*path, name))


def add_descriptions(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Each subcommand's description and example from the table, and where the global options
    are explained: of ``parser`` itself when it is the command ``path``, and of every
    subcommand below it."""
    own = [(" ".join(path), parser)] if path else []
    for command, sub in [*own, *subcommands(parser, path)]:
        if command not in HELP:
            continue
        description, example = HELP[command]
        sub.description = textwrap.fill(description, 78)
        sub.epilog = f"example:\n  {example}\n\n{textwrap.fill(GLOBAL_OPTIONS_NOTE, 78)}"
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
