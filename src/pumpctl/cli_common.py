"""What every ``pumpctl`` command's handler shares: its output, the connection options, the
clinician's name, the frame trace."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.connection import ConnectOptions
from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import SECRET_FIELDS, Message, MsgType
from pumpctl.protocol.session import Role


@dataclass
class Output:
    data: dict[str, Any]
    text: str


def connect_options(args: argparse.Namespace, *, tui: bool = True) -> ConnectOptions:
    """The global options as the one connection factory takes them (every face the same)."""
    return ConnectOptions(
        port=args.port,
        sim=args.sim or (tui and not args.port),
        keystore=args.keystore,
        role=Role[args.role.upper()],
        trace=trace if args.trace else None,
        baud=args.baud,
    )


def trace(direction: str, frame: Frame | bytes, message: Message | None) -> None:
    if isinstance(frame, Frame):
        known = frame.msg_type in MsgType.__members__.values()
        name = MsgType(frame.msg_type).name if known else hex(frame.msg_type)
        body = (
            message.model_dump_json(exclude=set(SECRET_FIELDS))
            if message is not None
            else frame.payload.hex()
        )
        print(f"{direction:>8} seq={frame.seq} {name} {body}", file=sys.stderr)


def audit_authentication_failure(
    args: argparse.Namespace, record: ClinicalRecord | None, reason: str
) -> None:
    """Best effort: the failure itself is what the user must see, whatever the record does."""
    try:
        target = record or ClinicalRecord.open(args.db)
    except RecordError:
        return
    try:
        target.note("-", clinician(args), "authentication-failed", int(time.time()), reason=reason)
    except RecordError:
        pass
    finally:
        if record is None:
            target.close()


def clinician(args: argparse.Namespace) -> str:
    if args.clinician:
        return str(args.clinician)
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def dump(message: BaseModel) -> dict[str, Any]:
    """A model's fields, enums kept as enums: ``--json`` writes them by name (cli_json)."""
    return message.model_dump(mode="python")
