"""A pump's enrolled programmers, for every face: list, enrol, revoke (docs/protocol.md §11.7).

Each change is a clinician's command like any other: checked before sending, sent once with
a request id, a lost answer resolved by reading the pump back, verified by read-back where the
session survives it, and audited under the clinician's name whatever the outcome.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from pumpctl.client import Resolution
from pumpctl.link.errors import OutcomeUncertain, PumpRefused
from pumpctl.programmer.core import Programmer
from pumpctl.programmer.errors import NotApplied, ProgrammerRefusal, VerificationFailed
from pumpctl.protocol.enrolment import ENROLLABLE_ROLES, IMPLANT_KEY_ID, label_problem
from pumpctl.protocol.messages import NakCode, ProgrammerRecord
from pumpctl.protocol.session import KEY_LEN, Role


@dataclass(frozen=True)
class ProgrammerEntry:
    programmer_id: int
    role: Role
    label: str
    enrolled_at_s: int
    revoked_at_s: int  # 0: not revoked
    this: bool  # the programmer of this session

    @property
    def revoked(self) -> bool:
        return self.revoked_at_s != 0

    def as_json(self) -> dict[str, object]:
        return {
            "programmer_id": self.programmer_id,
            "role": self.role.name.lower(),
            "label": self.label,
            "enrolled_at_s": self.enrolled_at_s,
            "revoked_at_s": self.revoked_at_s or None,
            "this": self.this,
        }


@dataclass(frozen=True)
class Programmers:
    """What the pump lists: its enrolled programmers, and who is asking."""

    session_programmer_id: int  # 0: this session opened with an implant key
    entries: tuple[ProgrammerEntry, ...]

    def find(self, programmer_id: int) -> ProgrammerEntry | None:
        return next((e for e in self.entries if e.programmer_id == programmer_id), None)


@dataclass(frozen=True)
class Enrolment:
    """A programmer enrolled: the key it opens sessions with (keep it in the key store)."""

    programmer_id: int
    role: Role
    key: bytes
    label: str
    renewed: bool


@dataclass(frozen=True)
class Revocation:
    entry: ProgrammerEntry  # as it was before
    revoked_at_s: int
    sessions_closed: int
    read_back: bool  # confirmed by listing the pump's programmers afterwards

    @property
    def own(self) -> bool:
        return self.entry.this


async def list_programmers(programmer: Programmer) -> Programmers:
    answer = await programmer.client.list_programmers()
    return Programmers(
        answer.session_programmer_id,
        tuple(_entry(r, answer.session_programmer_id) for r in answer.programmers),
    )


async def enrol(programmer: Programmer, programmer_id: int, role: Role, label: str) -> Enrolment:
    """Enrol this programmer's fresh key under ``programmer_id``; refused before sending a
    label the pump would refuse. Audited."""
    problem = label_problem(label)
    if problem is None and role not in ENROLLABLE_ROLES:
        problem = "only clinician and patient programmers are enrolled"
    if problem is None and programmer_id == IMPLANT_KEY_ID:
        problem = "programmer id 0 is the implant key"
    if problem is not None:
        raise ProgrammerRefusal(NakCode.INVALID_ARGUMENT, problem)
    client = programmer.client
    key = secrets.token_bytes(KEY_LEN)
    try:
        answer = await client.enrol_programmer(programmer_id, role, key, label)
    except PumpRefused as refused:
        _note(programmer, "programmer-enrol-refused", programmer_id, reason=str(refused))
        raise
    except OutcomeUncertain:
        _note(programmer, "programmer-enrol-uncertain", programmer_id)
        raise
    _note(
        programmer,
        "programmer-enrolled",
        programmer_id,
        time_s=answer.enrolled_at_s,
        role=role.name.lower(),
        label=label,
        renewed=answer.renewed,
    )
    return Enrolment(answer.programmer_id, role, key, label, answer.renewed)


async def revoke(programmer: Programmer, programmer_id: int) -> Revocation:
    """Revoke an enrolled programmer for good; its open sessions end at once (this one too,
    if it is this programmer's). Checked against the pump's list first; audited."""
    listed = await list_programmers(programmer)
    entry = listed.find(programmer_id)
    if entry is None or entry.revoked or programmer_id == IMPLANT_KEY_ID:
        refusal = _not_revocable(programmer_id, entry)
        _note(programmer, "programmer-revoke-refused", programmer_id, reason=str(refusal))
        raise refusal
    client = programmer.client
    try:
        answer = await client.revoke_programmer(programmer_id)
    except PumpRefused as refused:
        _note(programmer, "programmer-revoke-refused", programmer_id, reason=str(refused))
        raise
    except OutcomeUncertain as lost:
        resolution = None if entry.this else await _resolve(programmer, lost.request_id)
        if resolution is Resolution.NOT_EXECUTED:
            _note(programmer, "programmer-revoke-not-sent", programmer_id)
            raise NotApplied(
                f"programmer {programmer_id} was not revoked: the pump never received it"
            ) from None
        if resolution is not Resolution.APPLIED:
            _note(programmer, "programmer-revoke-uncertain", programmer_id)
            raise
        after = await list_programmers(programmer)
        found = after.find(programmer_id)
        revoked_at_s = found.revoked_at_s if found is not None else 0
        return _revoked(programmer, entry, revoked_at_s, 0, read_back=True)
    if entry.this:  # its session is closed: the sealed answer is the pump's word
        return _revoked(programmer, entry, answer.revoked_at_s, answer.sessions_closed, False)
    now = (await list_programmers(programmer)).find(programmer_id)
    if now is None or not now.revoked:
        _note(programmer, "programmer-revoke-verify-failed", programmer_id)
        raise VerificationFailed(
            f"the pump acknowledged revoking programmer {programmer_id} but lists it active"
        )
    return _revoked(programmer, entry, answer.revoked_at_s, answer.sessions_closed, True)


def _not_revocable(programmer_id: int, entry: ProgrammerEntry | None) -> ProgrammerRefusal:
    if programmer_id == IMPLANT_KEY_ID:
        return ProgrammerRefusal(
            NakCode.INVALID_ARGUMENT, "programmer 0 is the implant key: it is never revoked"
        )
    if entry is None:
        return ProgrammerRefusal(
            NakCode.UNKNOWN_PROGRAMMER, f"no programmer {programmer_id} is enrolled in this pump"
        )
    return ProgrammerRefusal(
        NakCode.PROGRAMMER_REVOKED, f"programmer {programmer_id} was revoked already"
    )


def _revoked(
    programmer: Programmer,
    entry: ProgrammerEntry,
    revoked_at_s: int,
    closed: int,
    read_back: bool,
) -> Revocation:
    _note(
        programmer,
        "programmer-revoked",
        entry.programmer_id,
        time_s=revoked_at_s or None,
        label=entry.label,
        role=entry.role.name.lower(),
        own=entry.this,
        sessions_closed=closed,
    )
    return Revocation(entry, revoked_at_s, closed, read_back)


async def _resolve(programmer: Programmer, request_id: int) -> Resolution | None:
    try:
        return (await programmer.client.resolve(request_id, close=True)).resolution
    except Exception:  # the line is still bad: the outcome stays uncertain
        return None


def _note(
    programmer: Programmer,
    action: str,
    programmer_id: int,
    *,
    time_s: int | None = None,
    **data: object,
) -> None:
    identity = programmer.client.identity
    serial = identity.serial_number if identity is not None else ""
    when = time_s if time_s is not None else int(time.time())
    programmer.record.note(
        serial, programmer.clinician, action, when, programmer_id=programmer_id, **data
    )


def _entry(record: ProgrammerRecord, session_programmer_id: int) -> ProgrammerEntry:
    return ProgrammerEntry(
        record.programmer_id,
        Role(record.role),
        record.label,
        record.enrolled_at_s,
        record.revoked_at_s,
        record.programmer_id == session_programmer_id,
    )
