"""A parsed ``pumpctl`` command run to its output: the clinical record opened (or not), the
pump connected (or not, for the record's offline commands), the command's handler called, and
a failure worded as its one line."""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Awaitable, Callable
from types import ModuleType

from pumpctl.cli_common import Output, audit_authentication_failure, clinician, connect_options
from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.connection import open_client, open_target
from pumpctl.exits import UsageError
from pumpctl.link.errors import AuthenticationError, OutcomeUncertain
from pumpctl.programmer import (
    ConfirmationRequired,
    GuardBlocked,
    Programmer,
    ProgrammerRefusal,
    VerificationFailed,
)
from pumpctl.protocol.messages import NakCode

Online = Callable[[Programmer, argparse.Namespace], Awaitable[Output]]
Offline = Callable[[ClinicalRecord, argparse.Namespace], Awaitable[Output]]

OFFLINE_COMMANDS = {"audit", "pair"}
# With --serial these work on the record alone, without the pump.
OFFLINE_WITH_SERIAL = {"history", "opioids", "vas"}
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
# Reads of a pump on a serial device: one request at a time and nothing to do while it is
# answered, so they wait on a blocking link and the process starts no event loop. A URL
# (``sim://``, pyserial's ``socket://`` and the like), or a system without the blocking
# link, keeps the event loop's link.
BLOCKING_READS = {"identify", "status", "limits", "alarms", "events"}


def run(args: argparse.Namespace, room: ModuleType) -> Output:
    """``args.command`` by the handler ``room`` (its module) keeps for it."""
    if _blocking(args):
        from pumpctl.link.blocking import complete

        return complete(_run(args, room, blocking=True))
    import asyncio

    return asyncio.run(_run(args, room))


def _blocking(args: argparse.Namespace) -> bool:
    if args.command not in BLOCKING_READS or args.sim or not args.port:
        return False
    from pumpctl.link.blocking import refusal

    return refusal(args.port) is None


def failure_line(error: BaseException, args: argparse.Namespace) -> object:
    """The one line a failure prints (a guard decision is shown in full before it)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, sqlite3.Error):
        return f"clinical record error: {error}"
    if isinstance(error, GuardBlocked):
        if not args.json:  # under --json the decision is in the error object
            from pumpctl.cli_therapy import decision_text

            print(decision_text(error.decision, error.override_refused))
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


async def _run(args: argparse.Namespace, room: ModuleType, *, blocking: bool = False) -> Output:
    record: ClinicalRecord | None
    problem = None
    if args.command in RECORD_COMMANDS:
        record = ClinicalRecord.open(args.db)
    else:
        record, problem = _settling(args)
    try:
        offline = args.command in OFFLINE_COMMANDS or (
            args.command in OFFLINE_WITH_SERIAL and args.serial is not None
        )
        if offline:
            assert record is not None
            handler: Offline = room.OFFLINE[args.command]
            return await handler(record, args)
        online: Online = room.ONLINE[args.command]
        return await _with_pump(args, record, online, problem, blocking=blocking)
    finally:
        if record is not None:
            record.close()


async def _with_pump(
    args: argparse.Namespace,
    record: ClinicalRecord | None,
    handler: Online,
    record_problem: str | None = None,
    *,
    blocking: bool = False,
) -> Output:
    options = connect_options(args, tui=False)
    if not options.sim and not options.port:
        raise UsageError("no pump port: give --port PORT, set PUMPCTL_PORT, or use --sim")
    target = open_target(options)
    try:
        try:
            client = await open_client(target, options, blocking=blocking)
        except AuthenticationError as error:
            audit_authentication_failure(args, record, str(error))
            raise
        try:
            programmer = Programmer(client, record, clinician=clinician(args))
            programmer.record_problem = record_problem
            return await handler(programmer, args)
        finally:
            await client.close()
    finally:
        target.close()


def _settling(args: argparse.Namespace) -> tuple[ClinicalRecord | None, str | None]:
    """For a read: the record, so that a command it holds open is settled first; a read
    works without it, and says why it has none."""
    try:
        return ClinicalRecord.open(args.db), None
    except RecordError as error:
        return None, str(error)
