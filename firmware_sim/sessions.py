"""The pump's side of authenticated sessions: who may say what, and proof that they did.

Only IDENTIFY and SESSION_OPEN are accepted without a session. A session must prove itself
with a valid MAC on its first frame; failed proofs count towards a lockout (kept in NV
memory, so a restart does not reset it). Frames with a wrong MAC, a replayed counter, or
after the idle timeout are refused; each role may send only its own messages.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import (
    EventCode,
    IdentifyResponse,
    MsgType,
    Nak,
    NakCode,
    SessionOpenRequest,
    SessionOpenResponse,
)
from pumpctl.protocol.session import (
    NONCE_LEN,
    AuthError,
    Direction,
    Role,
    SessionKeys,
    pump_proof,
    role_key,
    session_key,
)

IDLE_TIMEOUT_S = 600
MAX_FAILED_PROOFS = 5
LOCKOUT_S = 900
WITHOUT_SESSION = {MsgType.IDENTIFY, MsgType.SESSION_OPEN}
_READS = {
    MsgType.IDENTIFY,
    MsgType.STATUS,
    MsgType.READ_EVENTS,
    MsgType.READ_ALARMS,
    MsgType.READ_LIMITS,
    MsgType.QUERY_OUTCOME,
}
PERMITTED: dict[Role, frozenset[int]] = {
    Role.CLINICIAN: frozenset(set(MsgType) - {MsgType.WRITE_LIMITS, MsgType.NAK}),
    Role.PATIENT: frozenset(
        {MsgType.IDENTIFY, MsgType.STATUS, MsgType.BOLUS, MsgType.QUERY_OUTCOME}
    ),
    Role.SERVICE: frozenset(_READS | {MsgType.WRITE_LIMITS}),
}


@dataclass
class SecurityState:
    """What the pump remembers about authentication across restarts."""

    failed_proofs: int = 0
    locked_until_ms: int = 0

    def to_json(self) -> dict[str, int]:
        return {"failed_proofs": self.failed_proofs, "locked_until_ms": self.locked_until_ms}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SecurityState:
        return cls(int(data["failed_proofs"]), int(data["locked_until_ms"]))


class Refused(Exception):
    def __init__(self, code: NakCode, detail: str, limit: int = 0) -> None:
        super().__init__(detail)
        self.nak = Nak(code=code, limit=limit, detail=detail)


Log = Callable[[EventCode, int, int, str], None]  # code, value_a, value_b, detail


class SessionGuard:
    def __init__(
        self, secret: bytes, security: SecurityState, now_ms: Callable[[], int], log: Log
    ) -> None:
        self._secret = secret
        self.security = security
        self._now_ms = now_ms
        self._log = log
        self.session: SessionKeys | None = None
        self._proven = False
        self._last_activity_ms = 0
        self.changed = False  # security state to commit

    def role_key(self, role: Role) -> bytes:
        return role_key(self._secret, role)

    # --- the handshake -------------------------------------------------------------------

    def open(self, request: SessionOpenRequest, identity: IdentifyResponse) -> SessionOpenResponse:
        now = self._now_ms()
        if now < self.security.locked_until_ms:
            remaining_s = -(-(self.security.locked_until_ms - now) // 1000)
            raise Refused(
                NakCode.LOCKED_OUT,
                f"too many failed authentications: locked for {remaining_s} s",
                remaining_s,
            )
        try:
            role = Role(request.role)
        except ValueError:
            raise Refused(NakCode.INVALID_ARGUMENT, f"unknown role {request.role}") from None
        session_id = secrets.randbits(32) or 1
        pump_nonce = secrets.token_bytes(NONCE_LEN)
        key = self.role_key(role)
        nonce = request.programmer_nonce
        self.session = SessionKeys(
            session_id, session_key(key, role, nonce, pump_nonce, session_id), role
        )
        self._proven = False
        self._last_activity_ms = now
        return SessionOpenResponse(
            session_id=session_id,
            pump_nonce=pump_nonce,
            pump_proof=pump_proof(key, role, nonce, pump_nonce, session_id),
            idle_timeout_s=IDLE_TIMEOUT_S,
            model=identity.model,
            serial_number=identity.serial_number,
            firmware_version=identity.firmware_version,
            reservoir_capacity_ul=identity.reservoir_capacity_ul,
            drug=identity.drug,
            concentration_ng_per_ml=identity.concentration_ng_per_ml,
        )

    # --- every later frame ---------------------------------------------------------------

    def admit(self, frame: Frame) -> Role:
        """Authenticate a request frame; the session's role, or ``Refused``."""
        session = self.session
        now = self._now_ms()
        if session is None or frame.session_id != session.session_id:
            raise Refused(NakCode.AUTH_REQUIRED, "no open session: open one first")
        if now - self._last_activity_ms > IDLE_TIMEOUT_S * 1000:
            self.session = None
            raise Refused(NakCode.SESSION_EXPIRED, "the session was idle too long: open a new one")
        try:
            session.open(frame, Direction.TO_PUMP)
        except AuthError as error:
            self._failed(str(error), replay="replay" in str(error))
            code = NakCode.REPLAYED if "replay" in str(error) else NakCode.AUTH_FAILED
            raise Refused(code, f"authentication failed: {error}") from None
        if not self._proven:
            self._proven = True
            if self.security.failed_proofs:
                self.security.failed_proofs = 0
                self.changed = True
            self._log(EventCode.SESSION_OPENED, session.role, 0, f"{session.role.name} session")
        self._last_activity_ms = now
        return session.role

    def _failed(self, why: str, *, replay: bool) -> None:
        self._log(EventCode.AUTH_FAILURE, 0, 0, why[:120])
        if self._proven or replay:
            return
        # A session that never proved its key: a failed handshake.
        self.session = None
        self.security.failed_proofs += 1
        self.changed = True
        if self.security.failed_proofs >= MAX_FAILED_PROOFS:
            self.security.locked_until_ms = self._now_ms() + LOCKOUT_S * 1000
            self.security.failed_proofs = 0
            self._log(EventCode.LOCKOUT, MAX_FAILED_PROOFS, LOCKOUT_S, "authentication locked out")

    def permit(self, role: Role, msg_type: int) -> None:
        if msg_type not in PERMITTED[role]:
            name = (
                MsgType(msg_type).name
                if msg_type in MsgType.__members__.values()
                else hex(msg_type)
            )
            raise Refused(NakCode.ROLE_FORBIDDEN, f"a {role.name.lower()} session may not {name}")

    def seal(self, reply: Frame) -> Frame:
        if self.session is None:
            return reply
        return self.session.seal(reply, Direction.TO_PROGRAMMER)
