"""The pump's side of authenticated sessions: who may say what, and proof that they did.

Only IDENTIFY and SESSION_OPEN are accepted without a session. A SESSION_OPEN starts an
*attempt*; the attempt becomes a session when its first sealed frame proves the key.
Up to ``PENDING_MAX`` attempts wait for their proof at once, and each role keeps one proven
session per programmer: a SESSION_OPEN never ends a session, and a proven session is
replaced only by a new proof of the same programmer's key in the same role.

Nothing an attacker without a key can send locks a key holder out (docs/security.md).
Failed authentications throttle proofs instead: a proof arriving soon after a failure waits
until a short delay, doubling with each failure up to ``THROTTLE_MAX_MS``, has passed since
it. Failures are counted in one window and logged twice at most per window (when it opens
and when it closes), so no flood can push therapy events out of the event log.

A SESSION_OPEN names whose key it uses: an enrolled programmer's (``firmware_sim.programmers``)
or, as programmer 0, the role's implant key. An unknown or revoked programmer is refused and
counted as a failed proof; it ends nothing, so it locks no one else out.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.programmers import ProgrammerTable
from pumpctl.protocol.enrolment import IMPLANT_KEY_ID
from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import (
    EventCode,
    IdentifyResponse,
    MsgType,
    Nak,
    NakCode,
    SessionIdentity,
    SessionOpenRequest,
    SessionOpenResponse,
)
from pumpctl.protocol.roles import forbidden, may_send
from pumpctl.protocol.session import (
    COUNTER_MAX,
    MAC_LEN,
    NONCE_ECHO_LEN,
    NONCE_LEN,
    AuthError,
    Direction,
    Replayed,
    Role,
    SessionKeys,
    handshake_answer,
    role_key,
    session_key,
)

IDLE_TIMEOUT_S = 600
PENDING_MAX = 4  # attempts awaiting their proof; a new one drops the oldest
# Throttling (docs/security.md §5): design defaults — verify. With 256-bit keys and 128-bit
# tags the delay adds nothing a guesser could notice; it bounds the work a flood costs, and
# its cap bounds what a key holder can be made to wait: one proof, 100 ms.
THROTTLE_FIRST_MS = 10
THROTTLE_MAX_MS = 100
THROTTLE_QUIET_MS = 60_000  # a minute without failures: the delay starts again from the first
FAILURE_WINDOW_MAX_MS = 86_400_000  # an open window is logged and reopened at least daily
PERSIST_EVERY = 100  # failures counted between writes of the count to NV memory
WITHOUT_SESSION = {MsgType.IDENTIFY, MsgType.SESSION_OPEN}


def programmer_name(programmer_id: int) -> str:
    """How the event log names a programmer."""
    if programmer_id == IMPLANT_KEY_ID:
        return "programmer 0 (implant key)"
    return f"programmer {programmer_id}"


def throttle_ms(step: int) -> int:
    """How long a proof waits after the ``step``-th failure in a row (0: no failure)."""
    if step <= 0:
        return 0
    return min(THROTTLE_FIRST_MS << min(step - 1, 16), THROTTLE_MAX_MS)


@dataclass
class SecurityState:
    """What the pump remembers about authentication failures across restarts: the open
    window of failures (``failures`` 0: none open) and the throttle's step."""

    failures: int = 0
    window_start_ms: int = 0
    last_failure_ms: int = 0
    throttle_step: int = 0
    last_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "window_start_ms": self.window_start_ms,
            "last_failure_ms": self.last_failure_ms,
            "throttle_step": self.throttle_step,
            "last_reason": self.last_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SecurityState:
        """The stored state; a firmware that locked out stored other keys: its lockout and
        count are not carried over (nothing here locks out)."""
        if "failures" not in data:
            return cls()
        return cls(
            int(data["failures"]),
            int(data["window_start_ms"]),
            int(data["last_failure_ms"]),
            int(data["throttle_step"]),
            str(data.get("last_reason", "")),
        )


class SessionRefusal(Exception):
    def __init__(self, code: NakCode, detail: str, limit: int = 0) -> None:
        super().__init__(detail)
        self.nak = Nak(code=code, limit=limit, detail=detail)


Log = Callable[[EventCode, int, int, str], None]  # code, value_a, value_b, detail
Wait = Callable[[int], None]  # the pump waits this many ms of its own time


@dataclass
class _Session:
    keys: SessionKeys
    last_activity_ms: int
    programmer_id: int = IMPLANT_KEY_ID
    proven: bool = False
    role: Role = field(init=False)

    def __post_init__(self) -> None:
        self.role = self.keys.role

    @property
    def owner(self) -> tuple[Role, int]:
        return self.role, self.programmer_id


class SessionGuard:
    def __init__(
        self,
        secret: bytes,
        security: SecurityState,
        now_ms: Callable[[], int],
        log: Log,
        wait: Wait = lambda ms: None,
        programmers: ProgrammerTable | None = None,
    ) -> None:
        self._secret = secret
        self.programmers = programmers or ProgrammerTable()
        self.security = security
        self._now_ms = now_ms
        self._log = log
        self._wait = wait
        self._pending: dict[int, _Session] = {}  # by session id, oldest first
        # One proven session per role and programmer: another programmer's proof ends none.
        self._proven: dict[tuple[Role, int], _Session] = {}
        self._current: _Session | None = None  # the session of the frame being answered
        self._unsaved_failures = 0
        self.changed = False  # security state to commit

    def role_key(self, role: Role) -> bytes:
        return role_key(self._secret, role)

    # --- the handshake -------------------------------------------------------------------

    def open(self, request: SessionOpenRequest, identity: IdentifyResponse) -> SessionOpenResponse:
        """A new attempt; no session in use is touched until the attempt proves its key."""
        now = self._now_ms()
        try:
            role = Role(request.role)
        except ValueError:
            raise SessionRefusal(NakCode.INVALID_ARGUMENT, f"unknown role {request.role}") from None
        key = self._key_of(request.programmer_id, role, now)
        session_id = self._new_session_id()
        pump_nonce = secrets.token_bytes(NONCE_LEN)
        nonce = request.programmer_nonce
        keys = SessionKeys(session_id, session_key(key, role, nonce, pump_nonce, session_id), role)
        while len(self._pending) >= PENDING_MAX:
            del self._pending[next(iter(self._pending))]
        self._pending[session_id] = _Session(keys, now, request.programmer_id)
        answer = SessionOpenResponse(
            session_id=session_id,
            pump_nonce=pump_nonce,
            pump_proof=bytes(MAC_LEN),
            nonce_echo=nonce[:NONCE_ECHO_LEN],
            idle_timeout_s=IDLE_TIMEOUT_S,
            model=identity.model,
            serial_number=identity.serial_number,
            sealed_identity=b"",
        )
        sealed = SessionIdentity(
            firmware_version=identity.firmware_version,
            reservoir_capacity_ul=identity.reservoir_capacity_ul,
            drug=identity.drug,
            concentration_ng_per_ml=identity.concentration_ng_per_ml,
        )
        return handshake_answer(key, role, nonce, answer, sealed)

    def _key_of(self, programmer_id: int, role: Role, now: int) -> bytes:
        """The key the programmer named in a SESSION_OPEN proves; an unknown or revoked one
        is refused and counted like a failed proof (it ends no session)."""
        if programmer_id == IMPLANT_KEY_ID:
            return self.role_key(role)
        enrolled = self.programmers.get(programmer_id)
        if enrolled is None or enrolled.role != role:
            self._failed(f"SESSION_OPEN from unknown programmer {programmer_id}", now)
            raise SessionRefusal(
                NakCode.UNKNOWN_PROGRAMMER,
                f"programmer {programmer_id} is not enrolled in this pump as "
                f"{role.name.lower()}: pair again",
                programmer_id,
            )
        if enrolled.revoked:
            self._failed(f"SESSION_OPEN from revoked programmer {programmer_id}", now)
            raise SessionRefusal(
                NakCode.PROGRAMMER_REVOKED,
                f"programmer {programmer_id} was revoked: it opens no session",
                programmer_id,
            )
        return enrolled.key

    def revoke(self, programmer_id: int) -> int:
        """End every session and attempt of ``programmer_id`` (just revoked); how many."""
        ended = [
            s
            for s in (*self._pending.values(), *self._proven.values())
            if s.programmer_id == programmer_id
        ]
        for session in ended:
            self._forget(session)
        return len(ended)

    @property
    def programmer_id(self) -> int:
        """The programmer of the session whose frame is being answered (0: an implant key)."""
        return IMPLANT_KEY_ID if self._current is None else self._current.programmer_id

    def _new_session_id(self) -> int:
        taken = set(self._pending) | {s.keys.session_id for s in self._proven.values()}
        while True:
            session_id = secrets.randbits(32)
            if session_id and session_id not in taken:
                return session_id

    # --- every later frame ---------------------------------------------------------------

    def admit(self, frame: Frame) -> tuple[Role, Frame]:
        """Authenticate a request frame: the session's role and the frame decrypted, or
        ``SessionRefusal``."""
        self._current = None
        now = self._now_ms()
        session = self._find(frame.session_id)
        if session is None:
            raise SessionRefusal(NakCode.AUTH_REQUIRED, "no open session: open one first")
        if now - session.last_activity_ms > IDLE_TIMEOUT_S * 1000:
            self._forget(session)
            raise SessionRefusal(
                NakCode.SESSION_EXPIRED, "the session was idle too long: open a new one"
            )
        if session.keys.sent >= COUNTER_MAX:  # no answer could be sealed: a nonce is never reused
            self._forget(session)
            raise SessionRefusal(
                NakCode.SESSION_EXPIRED, "the session's counter is used up: open a new one"
            )
        if not session.proven:
            now = self._throttle(now)
        try:
            plain = session.keys.open(frame, Direction.TO_PUMP)
        except AuthError as error:
            self._failed(str(error), now)
            code = NakCode.REPLAYED if isinstance(error, Replayed) else NakCode.AUTH_FAILED
            raise SessionRefusal(code, f"authentication failed: {error}") from None
        if not session.proven:
            self._prove(session, now)
        session.last_activity_ms = now
        self._current = session
        return session.role, plain

    def _find(self, session_id: int) -> _Session | None:
        pending = self._pending.get(session_id)
        if pending is not None:
            return pending
        for session in self._proven.values():
            if session.keys.session_id == session_id:
                return session
        return None

    def keys(self, session_id: int) -> SessionKeys | None:
        """The keys of an open session or attempt: for a test that reads the line as this
        pump does (the in-process simulator); nothing puts them on the line."""
        session = self._find(session_id)
        return None if session is None else session.keys

    def _forget(self, session: _Session) -> None:
        self._pending.pop(session.keys.session_id, None)
        if self._proven.get(session.owner) is session:
            del self._proven[session.owner]

    def _prove(self, session: _Session, now: int) -> None:
        del self._pending[session.keys.session_id]
        session.proven = True
        replaced = self._proven.get(session.owner)
        in_use = replaced is not None and now - replaced.last_activity_ms <= IDLE_TIMEOUT_S * 1000
        self._proven[session.owner] = session
        self.close_window(now)  # the failures before it are in the log before the session
        name = session.role.name.lower()
        detail = f"{name} session of {programmer_name(session.programmer_id)}" + (
            f", replacing the {name} session in use" if in_use else ""
        )
        self._log(EventCode.SESSION_OPENED, session.role, int(in_use), detail)

    # --- failures: throttled and coalesced -----------------------------------------------

    def _throttle(self, now: int) -> int:
        """A proof soon after a failure waits out the delay; returns the time after it."""
        security = self.security
        if now - security.last_failure_ms >= THROTTLE_QUIET_MS:
            return now
        due = security.last_failure_ms + throttle_ms(security.throttle_step)
        if now < due:
            self._wait(due - now)
            return max(now, self._now_ms())
        return now

    def _failed(self, why: str, now: int) -> None:
        security = self.security
        if security.failures and now - security.window_start_ms >= FAILURE_WINDOW_MAX_MS:
            self.close_window(now)
        if now - security.last_failure_ms >= THROTTLE_QUIET_MS:
            security.throttle_step = 0
        security.throttle_step = min(security.throttle_step + 1, 32)
        security.last_failure_ms = now
        security.last_reason = why[:80]
        if security.failures == 0:
            security.window_start_ms = now
            self._log(
                EventCode.AUTH_THROTTLED,
                throttle_ms(1),
                THROTTLE_MAX_MS,
                f"authentication failed ({security.last_reason}): failures are counted and "
                f"session proofs throttled ({throttle_ms(1)} ms, doubling to "
                f"{THROTTLE_MAX_MS} ms) until a session proves its key",
            )
            self.changed = True
        security.failures += 1
        self._unsaved_failures += 1
        if self._unsaved_failures >= PERSIST_EVERY:
            self.changed = True

    def close_window(self, now: int) -> None:
        """Log the open window of failures as one event, if there is one."""
        security = self.security
        if not security.failures:
            return
        span_s = (security.last_failure_ms - security.window_start_ms) // 1000
        self._log(
            EventCode.AUTH_FAILURE,
            security.failures,
            span_s,
            f"{security.failures} failed authentications over {span_s} s "
            f"(last: {security.last_reason})",
        )
        security.failures = 0
        self.changed = True

    def saved(self) -> None:
        """The security state is in NV memory."""
        self.changed = False
        self._unsaved_failures = 0

    # --- roles and sealing ---------------------------------------------------------------

    @staticmethod
    def outside_session(identity: IdentifyResponse) -> IdentifyResponse:
        """IDENTIFY without a session: the product name, and the serial number a programmer
        needs to pick its key; nothing of the therapy (docs/security.md T17)."""
        return IdentifyResponse(
            model=identity.model,
            serial_number=identity.serial_number,
            firmware_version="",
            reservoir_capacity_ul=0,
            drug="",
            concentration_ng_per_ml=0,
        )

    def permit(self, role: Role, msg_type: int) -> None:
        if not may_send(role, msg_type):
            raise SessionRefusal(NakCode.ROLE_FORBIDDEN, forbidden(role, msg_type))

    def seal(self, reply: Frame) -> Frame:
        """``reply`` sealed in the session of the request it answers."""
        if self._current is None:
            return reply
        return self._current.keys.seal(reply, Direction.TO_PROGRAMMER)
