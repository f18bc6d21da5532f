"""The pump's answers to ENROL_PROGRAMMER, LIST_PROGRAMMERS and REVOKE_PROGRAMMER
(docs/protocol.md §11.7): the session guard's programmer table, changed and logged."""

from __future__ import annotations

from firmware_sim.model.pump import Pump, clip_text
from firmware_sim.programmers import AlreadyRevoked, Enrolled, TableFull
from firmware_sim.sessions import SessionGuard, programmer_name
from pumpctl.protocol.enrolment import ENROLLABLE_ROLES, IMPLANT_KEY_ID, label_problem
from pumpctl.protocol.messages import (
    EnrolProgrammerRequest,
    EnrolProgrammerResponse,
    EventCode,
    ListProgrammersResponse,
    Message,
    Nak,
    NakCode,
    ProgrammerRecord,
    RevokeProgrammerRequest,
    RevokeProgrammerResponse,
)
from pumpctl.protocol.session import Role


def enrol(
    pump: Pump, sessions: SessionGuard, request: EnrolProgrammerRequest, by: str | None = None
) -> Message:
    """``by``: who enrols, for the log (default: the programmer of the session asking)."""
    now = pump.now_ms()
    problem = label_problem(request.label)
    if request.programmer_id == IMPLANT_KEY_ID:
        problem = "programmer id 0 is the implant key: enrol under an id of its own"
    elif request.role not in {int(r) for r in ENROLLABLE_ROLES}:
        problem = "only clinician and patient programmers are enrolled in a session"
    if problem is not None:
        return _refused(pump, request.request_id, NakCode.INVALID_ARGUMENT, problem)
    try:
        enrolled, renewed = sessions.programmers.enrol(
            request.programmer_id,
            Role(request.role),
            request.programmer_key,
            request.label,
            now,
        )
    except AlreadyRevoked as error:
        return _refused(pump, request.request_id, NakCode.PROGRAMMER_REVOKED, str(error))
    except TableFull as error:
        return _refused(pump, request.request_id, NakCode.ENROLMENT_FULL, str(error))
    role = enrolled.role.name.lower()
    by = by or programmer_name(sessions.programmer_id)
    again = ", key renewed" if renewed else ""
    pump._log(
        EventCode.PROGRAMMER_ENROLLED,
        request.request_id,
        enrolled.programmer_id,
        enrolled.role,
        f"programmer {enrolled.programmer_id} ({enrolled.label}) enrolled as {role}{again} by {by}",
        at_ms=now,
    )
    return EnrolProgrammerResponse(
        request_id=request.request_id,
        programmer_id=enrolled.programmer_id,
        role=enrolled.role,
        enrolled_at_s=now // 1000,
        renewed=renewed,
    )


def revoke(pump: Pump, sessions: SessionGuard, request: RevokeProgrammerRequest) -> Message:
    now = pump.now_ms()
    target = request.programmer_id
    known = sessions.programmers.get(target)
    if target == IMPLANT_KEY_ID:
        code, why = NakCode.INVALID_ARGUMENT, "the implant key (programmer 0) is never revoked"
    elif known is None:
        code, why = NakCode.UNKNOWN_PROGRAMMER, f"no programmer {target} is enrolled"
    elif known.revoked:
        code, why = NakCode.PROGRAMMER_REVOKED, f"programmer {target} was revoked already"
    else:
        by = sessions.programmer_id
        revoked = sessions.programmers.revoke(target, now)
        closed = sessions.revoke(target)
        pump._log(
            EventCode.PROGRAMMER_REVOKED,
            request.request_id,
            target,
            by,
            f"programmer {target} ({revoked.label}) revoked by {programmer_name(by)}; "
            f"{closed} of its sessions closed",
            at_ms=now,
        )
        return RevokeProgrammerResponse(
            request_id=request.request_id,
            programmer_id=target,
            revoked_at_s=now // 1000,
            sessions_closed=min(closed, 255),
        )
    return _refused(pump, request.request_id, code, why, target)


def listing(sessions: SessionGuard) -> ListProgrammersResponse:
    return ListProgrammersResponse(
        session_programmer_id=sessions.programmer_id,
        programmers=[
            ProgrammerRecord(
                programmer_id=p.programmer_id,
                role=p.role,
                label=p.label,
                enrolled_at_s=p.enrolled_at_ms // 1000,
                revoked_at_s=p.revoked_at_ms // 1000,
            )
            for p in sorted(sessions.programmers.programmers.values(), key=_by_id)
        ],
    )


def _by_id(programmer: Enrolled) -> int:
    return programmer.programmer_id


def _refused(pump: Pump, request_id: int, code: NakCode, why: str, limit: int = 0) -> Nak:
    nak = Nak(code=code, limit=limit, detail=clip_text(why))
    pump._log(EventCode.REFUSED, request_id, code, 0, nak.detail)
    return nak
