"""Which role may send which message in a session: one table, enforced by the pump and
checked by the programmer before it sends (docs/protocol.md §11.4)."""

from __future__ import annotations

from pumpctl.protocol.messages import MsgType
from pumpctl.protocol.session import Role

READS = frozenset(
    {
        MsgType.IDENTIFY,
        MsgType.STATUS,
        MsgType.READ_EVENTS,
        MsgType.READ_ALARMS,
        MsgType.READ_LIMITS,
        MsgType.QUERY_OUTCOME,
        MsgType.READ_SCHEDULE,
        MsgType.READ_DEMAND_BOLUS,
        MsgType.READ_DEMAND_LOG,
        MsgType.READ_IMPLANT,
    }
)
# The patient's bolus is the demand bolus the clinician set (DEMAND_BOLUS, no dose in it): the
# patient neither sends BOLUS nor reads the activation log or the implant record; the
# clinician does not press the patient's button; only the service role writes the limits.
PERMITTED: dict[Role, frozenset[int]] = {
    Role.CLINICIAN: frozenset(
        set(MsgType) - {MsgType.WRITE_LIMITS, MsgType.DEMAND_BOLUS, MsgType.NAK}
    ),
    Role.PATIENT: frozenset(
        {
            MsgType.IDENTIFY,
            MsgType.STATUS,
            MsgType.DEMAND_BOLUS,
            MsgType.READ_DEMAND_BOLUS,
            MsgType.QUERY_OUTCOME,
        }
    ),
    Role.SERVICE: frozenset(READS | {MsgType.WRITE_LIMITS}),
}


def may_send(role: Role, msg_type: int) -> bool:
    return msg_type in PERMITTED[role]


def forbidden(role: Role, msg_type: int) -> str:
    """Why ``role`` may not send ``msg_type``, in one line."""
    known = msg_type in MsgType.__members__.values()
    name = MsgType(msg_type).name if known else hex(msg_type)
    return f"a {role.name.lower()} session may not {name}"
