"""``pumpctl pair`` and ``pumpctl programmers list|revoke``: a pump's programmers from a shell.

Pairing a clinician's programmer proves the implant key from the key file against the pump,
enrols a fresh key of this programmer's own under its key store's programmer id, proves that
key in a session of its own, and only then stores it (never the implant key). A patient's
device or a service tool is paired with its role's implant key, proved the same way.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from pumpctl.cli_common import Output, audit_authentication_failure, clinician, connect_options
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.connection import Target, open_client
from pumpctl.display import pump_second
from pumpctl.exits import UsageError
from pumpctl.keystore import Keystore, StaticKeys
from pumpctl.link.errors import AuthenticationError, PumpError
from pumpctl.programmer import Programmer
from pumpctl.programmer.enrolment import (
    ProgrammerEntry,
    Programmers,
    enrol,
    list_programmers,
    revoke,
)
from pumpctl.protocol.enrolment import IMPLANT_KEY_ID, default_label, label_problem
from pumpctl.protocol.session import KEY_LEN, Role


class NotConfirmed(PumpError):
    """The clinician did not confirm; nothing was sent."""


async def programmers_command(programmer: Programmer, args: argparse.Namespace) -> Output:
    if args.programmers_action == "list":
        return _list_output(await list_programmers(programmer))
    programmer_id = _programmer_id(args.programmer_id)
    listed = await list_programmers(programmer)
    entry = listed.find(programmer_id)
    if entry is not None and not entry.revoked:
        _confirm(entry, args.yes)
    revocation = await revoke(programmer, programmer_id)
    how = "read back" if revocation.read_back else "the pump's sealed answer"
    text = (
        f"Programmer {programmer_id} ({entry.label if entry else '?'}) revoked at "
        f"{pump_second(revocation.revoked_at_s)}; {revocation.sessions_closed} of its sessions "
        f"closed (confirmed by {how})"
    )
    if revocation.own:
        text += "; this was this programmer: pair it again to program this pump"
    return Output(
        {
            "revoked": programmer_id,
            "revoked_at_s": revocation.revoked_at_s,
            "sessions_closed": revocation.sessions_closed,
            "own": revocation.own,
            "read_back": revocation.read_back,
        },
        text,
    )


def _programmer_id(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or not 0 < int(value) <= 0xFFFF_FFFF:
        raise UsageError(f"programmer id {text!r} is not a number from 1 to 4294967295")
    return int(value)


def _confirm(entry: ProgrammerEntry, yes: bool) -> None:
    what = f"programmer {entry.programmer_id} ({entry.label}, {entry.role.name.lower()})"
    own = " - the programmer you are using: it will need pairing again" if entry.this else ""
    if yes:
        if own:
            print(f"pumpctl: warning: revoking {what}{own}", file=sys.stderr)
        return
    print(f"Revoke {what}{own}? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise NotConfirmed(f"not revoked: {what} was not confirmed (answer y, or give --yes)")


def _list_output(listed: Programmers) -> Output:
    lines = [f"  {'id':>10}  {'role':<9}  {'label':<32}  {'enrolled':<23}  revoked"]
    for entry in listed.entries:
        mark = "*" if entry.this else " "
        revoked = pump_second(entry.revoked_at_s) if entry.revoked else "-"
        lines.append(
            f"{mark} {entry.programmer_id:>10}  {entry.role.name.lower():<9}  "
            f"{entry.label:<32}  {pump_second(entry.enrolled_at_s):<23}  {revoked}"
        )
    if listed.session_programmer_id == IMPLANT_KEY_ID:
        lines.append("This session uses the implant key (programmer 0).")
    elif listed.find(listed.session_programmer_id) is not None:
        lines.append("* this programmer")
    if not listed.entries:
        lines[0:1] = ["No programmers enrolled (only the implant keys open sessions)"]
    return Output(
        {
            "session_programmer_id": listed.session_programmer_id,
            "programmers": [e.as_json() for e in listed.entries],
        },
        "\n".join(lines),
    )


# --- pairing ---------------------------------------------------------------------------


async def pair_command(record: ClinicalRecord, args: argparse.Namespace) -> Output:
    try:
        text = Path(args.key_file).read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError):
        key = b""
    if len(key) != KEY_LEN:
        raise UsageError(f"{args.key_file} does not hold a key of 64 hex digits")
    role = Role[args.role.upper()]
    label = default_label() if args.label is None else args.label
    enrols = role is Role.CLINICIAN
    problem = label_problem(label) if enrols else None
    if problem is not None:
        raise UsageError(f"--label: {problem}")
    if not args.port:
        raise UsageError("pair checks the key against the pump: give --port PORT")
    keystore = Keystore(args.keystore)
    options = replace(connect_options(args, tui=False), sim=False, role=role)
    try:
        client = await open_client(Target(args.port, _CandidateKey(key)), options)
    except AuthenticationError as error:
        audit_authentication_failure(args, record, f"{error}; the key was not stored")
        raise AuthenticationError(f"{error}; the key was not stored") from None
    try:
        identity = await client.identify()
        if identity.serial_number != args.serial:
            raise AuthenticationError(
                f"the pump on {args.port} is {identity.serial_number}, not {args.serial}; "
                "the key was not stored"
            )
        stored_key, programmer_id = key, IMPLANT_KEY_ID
        if enrols:
            programmer_id = keystore.own_programmer_id()
            programmer = Programmer(client, record, clinician=clinician(args))
            enrolment = await enrol(programmer, programmer_id, role, label)
            stored_key = enrolment.key
    finally:
        await client.close()
    if enrols:  # the enrolled key proves itself in a session of its own before it is kept
        own = StaticKeys({(args.serial, role): stored_key}, programmer_id)
        proof = await open_client(Target(args.port, own), options)
        await proof.close()
    keystore.add(args.serial, role, stored_key, programmer_id)
    record.programmer_id = programmer_id
    record.note(
        args.serial,
        clinician(args),
        "paired",
        int(time.time()),
        role=role.name.lower(),
        programmer_id=programmer_id,
    )
    who = f"programmer {programmer_id} ({label})" if enrols else "the implant key"
    return Output(
        {
            "paired": args.serial,
            "role": role.name.lower(),
            "programmer_id": programmer_id,
            "keystore": str(keystore.path),
        },
        f"Pump {args.serial} paired for the {role.name.lower()} role as {who} in {keystore.path}",
    )


class _CandidateKey:
    """The implant key being proved, offered for whichever pump answers (its serial is
    checked after the pump has proved it holds the key)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def key_for(self, serial_number: str, role: Role) -> bytes | None:
        return self.key

    def programmer_id(self, serial_number: str, role: Role) -> int | None:
        return IMPLANT_KEY_ID

    def programmer_ids(self, role: Role) -> list[int]:
        return [IMPLANT_KEY_ID]


ONLINE = {"programmers": programmers_command}
OFFLINE = {"pair": pair_command}
