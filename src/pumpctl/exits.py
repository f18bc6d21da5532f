"""What a run of ``pumpctl`` ended in, as the exit status a script acts on: one table from
each kind of error to its status, read by the CLI and documented in the README."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    NOT_SENT = 3
    UNCERTAIN = 4
    RECORD = 5
    AUTH = 6
    VERIFY_FAILED = 7
    NOT_RECORDED = 8
    INTERRUPTED = 130


MEANING = {
    ExitStatus.OK: "done; or nothing to do (the dose already programmed, a stopped pump "
    "stopped again), and nothing was sent",
    ExitStatus.REFUSED: "refused: the reason names the rule (the pump's, the programmer's or "
    "the guard's); a missing confirmation names its flag; nothing changed",
    ExitStatus.USAGE: "bad input, named in the one line",
    ExitStatus.NOT_SENT: "no pump or not sent: the port or the link failed, or a command whose "
    "answer was lost the pump shows it never received",
    ExitStatus.UNCERTAIN: "outcome uncertain: the command's answer was lost and could not be "
    "read back; interrogate before anything else",
    ExitStatus.RECORD: "the clinical record cannot be opened or written, or its audit trail "
    "does not verify (before an increase)",
    ExitStatus.AUTH: "not authorised: not paired, a wrong key, an unusable key store",
    ExitStatus.VERIFY_FAILED: "verification failed: the pump acknowledged but reads back "
    "something else; interrogate it",
    ExitStatus.NOT_RECORDED: "applied but not recorded: the pump executed the command but the "
    "record could not be written (a full disk); the next pumpctl status with room completes it",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C)",
}

# The kind of failure as ``--json``'s error object names it (docs/cli.md).
JSON_CODE = {
    ExitStatus.REFUSED: "refused",
    ExitStatus.USAGE: "usage",
    ExitStatus.NOT_SENT: "no_pump",
    ExitStatus.UNCERTAIN: "uncertain",
    ExitStatus.RECORD: "record",
    ExitStatus.AUTH: "not_authorised",
    ExitStatus.VERIFY_FAILED: "verification_failed",
    ExitStatus.NOT_RECORDED: "applied_not_recorded",
    ExitStatus.INTERRUPTED: "interrupted",
}


class UsageError(Exception):
    """A command line that cannot be run as typed."""


def _table() -> tuple[tuple[type[BaseException], ExitStatus], ...]:
    """Each kind of error and its status, the most specific first (imported here, when an
    error is being mapped, so that the CLI's start-up does not pay for every module)."""
    import sqlite3

    from pumpctl.clinical.record import RecordError
    from pumpctl.clinical.schema import SchemaError
    from pumpctl.clinical.scores import ScoreError
    from pumpctl.clinical.systemic import SystemicError
    from pumpctl.clinical.taken_at import TakenAtError
    from pumpctl.keystore import KeystoreError
    from pumpctl.link.errors import (
        AuthenticationError,
        LinkError,
        NoResponse,
        OutcomeUncertain,
        PumpError,
    )
    from pumpctl.programmer.errors import AppliedNotRecorded, NotApplied, VerificationFailed
    from pumpctl.text import TextError
    from pumpctl.units import UnitError

    return (
        (UsageError, ExitStatus.USAGE),
        (UnitError, ExitStatus.USAGE),
        (ScoreError, ExitStatus.USAGE),
        (TakenAtError, ExitStatus.USAGE),
        (SystemicError, ExitStatus.USAGE),
        (TextError, ExitStatus.USAGE),
        (RecordError, ExitStatus.RECORD),
        (SchemaError, ExitStatus.RECORD),
        (sqlite3.Error, ExitStatus.RECORD),
        (AppliedNotRecorded, ExitStatus.NOT_RECORDED),
        (VerificationFailed, ExitStatus.VERIFY_FAILED),
        (OutcomeUncertain, ExitStatus.UNCERTAIN),
        (NotApplied, ExitStatus.NOT_SENT),
        (LinkError, ExitStatus.NOT_SENT),
        (NoResponse, ExitStatus.NOT_SENT),
        (AuthenticationError, ExitStatus.AUTH),
        (KeystoreError, ExitStatus.AUTH),
        # Every other refusal: the pump's (PumpRefused), the programmer's, the guard's, a
        # missing confirmation.
        (PumpError, ExitStatus.REFUSED),
        (KeyboardInterrupt, ExitStatus.INTERRUPTED),
    )


def exit_status(error: BaseException) -> ExitStatus | None:
    """The status ``error`` ends a run in; None for an error no table entry expects."""
    return next((status for kind, status in _table() if isinstance(error, kind)), None)
