"""The simulated device: pump model + NV store behind one lock, answering frames.

Everything that reaches the pump goes through here: protocol frames from the serial line
and the control port's simulation commands alike.
"""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from firmware_sim import enrolment
from firmware_sim.model.clock import PumpClock
from firmware_sim.model.hard_limits import breaches
from firmware_sim.model.integrity import SERIAL_MAX_BYTES, library_problems, state_problems
from firmware_sim.model.library import DrugLibrary, default_library
from firmware_sim.model.pump import Pump, clip_text
from firmware_sim.model.state import PumpState
from firmware_sim.model.units import flow_nl_per_day
from firmware_sim.programmers import ProgrammerTable
from firmware_sim.sessions import WITHOUT_SESSION, SecurityState, SessionGuard, SessionRefusal
from firmware_sim.store import Loaded, NonVolatileStore, NoPumpMemory, NvError, Outcome
from pumpctl.protocol.codec import (
    DecodeError,
    UnknownMessage,
    decode_payload,
    from_frame,
    to_frame,
)
from pumpctl.protocol.frames import Frame, FrameFlags
from pumpctl.protocol.messages import (
    Command,
    EnrolProgrammerRequest,
    EventCode,
    EventRecord,
    IdentifyRequest,
    IdentifyResponse,
    ListProgrammersRequest,
    Message,
    MsgType,
    Nak,
    NakCode,
    OutcomeState,
    QueryOutcomeRequest,
    QueryOutcomeResponse,
    ReadEventsRequest,
    ReadEventsResponse,
    ReadLimitsRequest,
    RevokeProgrammerRequest,
    SessionOpenRequest,
    WriteLimitsRequest,
)
from pumpctl.protocol.session import Role
from pumpctl.units import format_flow, format_volume

FIRMWARE_VERSION = "SIM-1.0.0"
DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, for frozen clocks
EVENT_PAGE_BUDGET = 900  # payload bytes of events per READ_EVENTS page


@dataclass(frozen=True)
class InitialProgram:
    """What an implant session programs into a new pump."""

    drug: str = "morphine"
    concentration_ng_per_ml: int = 25_000_000
    dose_ng_per_day: int = 1_400_000
    volume_ul: int = 20_000
    model: str = "IT-20"
    serial_number: str | None = None
    frozen_clock: bool = False
    start_ms: int | None = None


class Simulator:
    def __init__(
        self,
        state_path: Path | str,
        program: InitialProgram | None = None,
        library: DrugLibrary | None = None,
        *,
        event_capacity: int | None = None,
        first_boot_allowed: bool = True,
    ) -> None:
        """Boot from the NV memory at ``state_path``; ``program``, ``library`` and
        ``event_capacity`` are used only at first boot (a missing or empty file), which
        ``first_boot_allowed=False`` refuses (``NoPumpMemory``). ``NvError``: the memory is
        unreadable or newer; damage it survives is the safe state (docs/simulator.md §3.10.1)."""
        self.lock = threading.RLock()
        if not first_boot_allowed and NonVolatileStore.is_blank(state_path):
            raise NoPumpMemory(f"{state_path} holds no pump memory (missing or empty)")
        self.store = NonVolatileStore(state_path, event_capacity)
        self.frames_rejected = 0
        try:
            self._boot(program, library, first_boot_allowed)
        except BaseException:
            self.store.close()
            raise
        stored_security = self.store.security()
        stored_programmers = self.store.programmers()
        self.sessions = SessionGuard(
            self.store.secret(),
            SecurityState.from_json(stored_security) if stored_security else SecurityState(),
            self.pump.now_ms,
            lambda code, a, b, detail: self.pump._log(code, 0, a, b, detail),
            self._spend_ms,
            ProgrammerTable.from_json(stored_programmers) if stored_programmers else None,
        )

    def _boot(
        self, program: InitialProgram | None, library: DrugLibrary | None, allowed: bool
    ) -> None:
        loaded = self.store.load()
        if loaded is None:
            if not allowed:
                raise NoPumpMemory(f"{self.store.path} holds no pump memory")
            state, library = first_boot(program or InitialProgram(), library or default_library())
            self.pump = Pump(state, library, self.store)
            self._log_boot("first boot")
            self.pump.reconcile()
            self.store.commit(state, library=library)
            return
        try:
            self._restart(loaded)
        except sqlite3.Error as error:
            raise NvError(f"NV memory {self.store.path} is unreadable: {error}") from None
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as error:
            # Only an unverified state can hold a value of the wrong type.
            raise NvError(
                f"NV memory {self.store.path}: the pump state is damaged beyond use ({error})"
            ) from None

    def _restart(self, loaded: Loaded) -> None:
        state, library = loaded.state, loaded.library
        problems = library_problems(library) + state_problems(state, library)
        if state.drug not in library.drugs or state.model_name not in library.pump_models:
            raise NvError(f"NV memory {self.store.path}: {problems[-1]}: the pump cannot boot")
        self.pump = Pump(state, library, self.store)
        safe_state = not loaded.verified or bool(problems)
        if not safe_state:
            # What happened while the process was down happened before this boot.
            self.pump.advance_to(self.pump.now_ms())
        damage = loaded.damage + problems
        self._log_boot("restart" if not damage else f"restart, NV memory: {'; '.join(damage)}")
        if damage:
            self.pump.memory_damaged(safe_state=safe_state)
        self.pump.reconcile()
        self.store.commit(state, library=library if damage else None, reseal=bool(damage))

    def recover(self) -> None:
        """After a fault outside a command's handling: memory back to the last commit."""
        with self.lock:
            self._reload()

    def _spend_ms(self, delay_ms: int) -> None:
        """The pump waits (a throttled proof, firmware_sim.sessions): a frozen clock is moved
        on by the wait, a running one waited out; nothing else is answered meanwhile."""
        if self.pump.state.clock.frozen:
            self.pump.advance(delay_ms)
        else:
            time.sleep(delay_ms / 1000)

    def _log_boot(self, why: str) -> None:
        state = self.pump.state
        self.pump._log(EventCode.BOOT, 0, 0, 0, f"{why}: {state.serial_number} {FIRMWARE_VERSION}")

    def close(self) -> None:
        with self.lock:
            self.store.close()

    # --- protocol ------------------------------------------------------------------------

    def handle_frame(self, frame: Frame) -> Frame | None:
        """The answer to one received frame; ``None`` for frames a pump ignores.

        Only IDENTIFY and SESSION_OPEN are answered without a session; everything else must
        come in an authenticated session whose role may send it, and is answered sealed.
        """
        if frame.is_response:
            self.frames_rejected += 1
            return None
        with self.lock:
            try:
                if frame.msg_type == MsgType.SESSION_OPEN:
                    return self._open_session(frame)
                role, frame = self._admit(frame)
            except SessionRefusal as refused:
                self._commit_security()
                return to_frame(refused.nak, frame.seq)
            reply = self._dispatch(frame, role)
            self._commit_security()
            return reply if role is None else self.sessions.seal(reply)

    def _admit(self, frame: Frame) -> tuple[Role | None, Frame]:
        """The session's role (``None``: no session) and the frame, decrypted."""
        if FrameFlags.AUTHENTICATED in frame.flags:
            return self.sessions.admit(frame)
        if frame.msg_type not in WITHOUT_SESSION:
            raise SessionRefusal(NakCode.AUTH_REQUIRED, "this request needs a session")
        return None, frame

    def _open_session(self, frame: Frame) -> Frame:
        try:
            request = from_frame(frame)
        except DecodeError as error:
            return self._nak_frame(frame, NakCode.MALFORMED_PAYLOAD, str(error))
        assert isinstance(request, SessionOpenRequest)
        identity = self.pump.handle(IdentifyRequest())
        assert isinstance(identity, IdentifyResponse)
        response = self.sessions.open(request, identity)
        return to_frame(response, frame.seq)

    def _commit_security(self) -> None:
        if self.sessions.changed or self.store.has_pending:
            self.store.commit(self.pump.state, security=self.sessions.security.to_json())
            self.sessions.saved()

    def role_key(self, role: Role) -> bytes:
        """A role's key, for pairing a programmer (the simulator's debug port only)."""
        return self.sessions.role_key(role)

    def enrol(self, programmer_id: int, role: Role, key: bytes, label: str) -> None:
        """Enrol a programmer's key as at implant (the simulator's debug port and
        ``pumpsim --pair``): as ENROL_PROGRAMMER would, logged and committed."""
        request = EnrolProgrammerRequest(
            request_id=0, programmer_id=programmer_id, role=role, programmer_key=key, label=label
        )
        with self.lock:
            self.pump.advance_to(self.pump.now_ms())
            answer = enrolment.enrol(
                self.pump, self.sessions, request, "the simulator, as at implant"
            )
            if isinstance(answer, Nak):
                self.store.discard_pending()
                raise ValueError(answer.detail)
            self.store.commit(self.pump.state, programmers=self.sessions.programmers.to_json())

    def _dispatch(self, frame: Frame, role: Role | None) -> Frame:
        try:
            request = from_frame(frame)
        except DecodeError as error:
            unknown = isinstance(error, UnknownMessage)
            code = NakCode.UNKNOWN_MESSAGE if unknown else NakCode.MALFORMED_PAYLOAD
            return self._nak_frame(frame, code, str(error))
        if role is not None:
            try:
                self.sessions.permit(role, frame.msg_type)
            except SessionRefusal as refused:
                return to_frame(refused.nak, frame.seq)
        if isinstance(request, QueryOutcomeRequest):
            return to_frame(self._query_outcome(request.request_id, request.close), frame.seq)
        if isinstance(request, Command):
            stored = self.store.outcome(request.request_id)
            if stored is not None:
                return Frame(stored.msg_type, frame.seq, stored.payload, FrameFlags(stored.flags))
        try:
            return self._answer(request, frame.seq, role)
        except Exception as error:  # a fault here must never leave memory ahead of NV
            self._reload()
            return self._nak_frame(frame, NakCode.INTERNAL_ERROR, type(error).__name__)

    def _answer(self, request: Any, seq: int, role: Role | None = None) -> Frame:
        if isinstance(request, ReadEventsRequest):
            self.pump.advance_to(self.pump.now_ms())
            if self.store.has_pending:
                self.store.commit(self.pump.state)
            return to_frame(self._event_page(request), seq)
        programmers = None
        if isinstance(request, WriteLimitsRequest):
            response = self._write_limits(request)
        elif isinstance(request, ListProgrammersRequest):
            response = enrolment.listing(self.sessions)
        elif isinstance(request, EnrolProgrammerRequest | RevokeProgrammerRequest):
            self.pump.advance_to(self.pump.now_ms())
            if isinstance(request, EnrolProgrammerRequest):
                response = enrolment.enrol(self.pump, self.sessions, request)
            else:
                response = enrolment.revoke(self.pump, self.sessions, request)
            programmers = self.sessions.programmers.to_json()
        else:
            response = self.pump.handle(request, patient=role == Role.PATIENT)
        if role is None and isinstance(response, IdentifyResponse):
            response = self.sessions.outside_session(response)
        reply = to_frame(response, seq)
        if isinstance(request, Command):
            outcome = Outcome(reply.msg_type, int(reply.flags), reply.payload)
            library = self.pump.library if isinstance(request, WriteLimitsRequest) else None
            self.store.commit(
                self.pump.state,
                library=library,
                outcome=(request.request_id, outcome),
                programmers=programmers,
            )
        elif self.store.has_pending:
            self.store.commit(self.pump.state)
        return reply

    def _event_page(self, request: ReadEventsRequest) -> ReadEventsResponse:
        page = self.store.read_events(request.first_index, request.max_count)
        records: list[EventRecord] = []
        budget = EVENT_PAGE_BUDGET
        for stored in page.events:
            event = stored.event
            record = EventRecord(
                index=stored.index,
                time_s=event.time_ms // 1000,
                code=event.code,
                request_id=event.request_id,
                value_a=event.value_a,
                value_b=event.value_b,
                detail=event.detail,
            )
            budget -= 39 + len(event.detail.encode())
            if budget < 0 and records:
                break
            records.append(record)
        next_index = (
            records[-1].index + 1 if records else max(request.first_index, page.oldest_index)
        )
        return ReadEventsResponse(
            next_index=min(next_index, page.next_index),
            oldest_index=page.oldest_index,
            overflow_count=page.overflow_count,
            events=records,
        )

    def _write_limits(self, request: WriteLimitsRequest) -> Message:
        """Replace the drug library's limits for the drug in the reservoir (service role)."""
        pump = self.pump
        pump.advance_to(pump.now_ms())
        current = pump.limits
        if request.drug != current.drug:
            nak = Nak(
                code=NakCode.INVALID_ARGUMENT,
                limit=0,
                detail=f"the reservoir holds {current.drug}, not {request.drug}",
            )
        elif not (
            0 < request.min_concentration_ng_per_ml <= request.max_concentration_ng_per_ml
            and request.max_dose_ng_per_day > 0
            and request.large_change_factor >= 2
            and request.bolus_max_ng <= request.max_dose_ng_per_day
        ):
            nak = Nak(code=NakCode.INVALID_ARGUMENT, limit=0, detail="inconsistent limits")
        elif found := breaches(current, request.model_dump(exclude={"request_id", "drug"})):
            more = f" (and {len(found) - 1} more fields)" if len(found) > 1 else ""
            nak = Nak(
                code=NakCode.ABOVE_HARD_LIMIT,
                limit=found[0].bound,
                detail=clip_text(found[0].detail + more),
            )
        else:
            values = request.model_dump(exclude={"request_id", "drug"})
            limits = dataclasses.replace(current, **values)
            pump.library = dataclasses.replace(
                pump.library, drugs={**pump.library.drugs, current.drug: limits}
            )
            pump._log(
                EventCode.LIMITS_CHANGED,
                request.request_id,
                request.max_dose_ng_per_day,
                request.max_step_pct,
                f"{current.drug} limits changed",
            )
            return pump.handle(ReadLimitsRequest())
        pump._log(EventCode.REFUSED, request.request_id, nak.code, 0, nak.detail)
        return nak

    def _query_outcome(self, request_id: int, close: bool = False) -> QueryOutcomeResponse:
        stored = self.store.outcome(request_id)
        if stored is None:
            if close:
                self._close_request(request_id)
            return QueryOutcomeResponse(
                request_id=request_id,
                outcome=OutcomeState.UNKNOWN,
                command_type=0,
                nak_code=0,
                detail="",
            )
        if stored.flags & FrameFlags.NAK:
            nak = decode_payload(Nak, stored.payload)
            return QueryOutcomeResponse(
                request_id=request_id,
                outcome=OutcomeState.REFUSED,
                command_type=0,
                nak_code=nak.code,
                detail=nak.detail,
            )
        return QueryOutcomeResponse(
            request_id=request_id,
            outcome=OutcomeState.EXECUTED,
            command_type=stored.msg_type,
            nak_code=0,
            detail="",
        )

    def _close_request(self, request_id: int) -> None:
        """Record a refusal as the outcome of an id never received, so a copy still on its way
        is answered with it and never executed: the programmer that closed the id has said
        the command was not sent. A read with consequences, it writes no event: nothing was
        executed or refused by a therapy rule."""
        closed = Nak(
            code=NakCode.REQUEST_CLOSED,
            limit=0,
            detail="closed by QUERY_OUTCOME before it arrived: not executed",
        )
        reply = to_frame(closed, 0)
        self.store.commit(
            self.pump.state,
            outcome=(request_id, Outcome(reply.msg_type, int(reply.flags), reply.payload)),
        )

    def _nak_frame(self, frame: Frame, code: NakCode, detail: str) -> Frame:
        self.frames_rejected += 1
        return to_frame(Nak(code=code, limit=0, detail=clip_text(detail)), frame.seq)

    def _reload(self) -> None:
        self.store.discard_pending()
        loaded = self.store.load()
        assert loaded is not None
        self.pump.state, self.pump.library = loaded.state, loaded.library

    # --- simulation control (the debug port) ---------------------------------------------

    def advance(self, delta_ms: int) -> None:
        with self.lock:
            self.pump.advance(delta_ms)
            self.store.commit(self.pump.state)

    def set_fault(self, name: str, value: str) -> None:
        with self.lock:
            self.pump.set_fault(name, value)
            self.store.commit(self.pump.state)

    def clear_faults(self) -> None:
        with self.lock:
            self.pump.clear_faults()
            self.store.commit(self.pump.state)

    def snapshot(self) -> dict[str, Any]:
        """The pump's state as JSON-able data, for ``pumpsim ctl state``."""
        with self.lock:
            pump = self.pump
            pump.advance_to(pump.now_ms())
            if self.store.has_pending:
                self.store.commit(pump.state)
            data = pump.state.to_json()
            data["reservoir_ul"] = pump.reservoir_ul
            data["pump_time_ms"] = pump.state.anchor_ms
            data["frames_rejected"] = self.frames_rejected
            return data


def first_boot(program: InitialProgram, library: DrugLibrary) -> tuple[PumpState, DrugLibrary]:
    """The state an implant session leaves in a new pump; ``ValueError`` if the program is
    outside the drug library or the pump model."""
    limits = library.limits_for(program.drug)
    model = library.model(program.model)
    serial = program.serial_number
    if serial is not None and not (
        0 < len(serial.encode()) <= SERIAL_MAX_BYTES and serial.isprintable()
    ):
        raise ValueError(
            f"serial number must be 1 to {SERIAL_MAX_BYTES} printable characters "
            f"({len(serial.encode())} bytes given)"
        )
    if not (
        limits.min_concentration_ng_per_ml
        <= program.concentration_ng_per_ml
        <= limits.max_concentration_ng_per_ml
    ):
        raise ValueError(f"concentration is outside {program.drug}'s range in the drug library")
    if not 0 <= program.dose_ng_per_day <= limits.max_dose_ng_per_day:
        raise ValueError(f"dose is outside {program.drug}'s range in the drug library")
    flow = flow_nl_per_day(program.dose_ng_per_day, program.concentration_ng_per_ml)
    if flow < model.min_flow_nl_per_day:
        raise ValueError(
            f"dose needs a flow of {format_flow(flow)}, below the {model.name}'s minimum of "
            f"{format_flow(model.min_flow_nl_per_day)}: use a lower concentration"
        )
    if not 0 <= program.volume_ul <= model.reservoir_capacity_ul:
        raise ValueError(
            f"volume exceeds the {format_volume(model.reservoir_capacity_ul)} reservoir"
        )
    start_ms = program.start_ms
    if start_ms is None:
        start_ms = DEFAULT_START_MS if program.frozen_clock else PumpClock(False).now_ms()
    clock = PumpClock.starting_at(start_ms, frozen=program.frozen_clock)
    state = PumpState(
        serial_number=program.serial_number or f"SIM{secrets.randbelow(10**6):06d}",
        model_name=model.name,
        firmware_version=FIRMWARE_VERSION,
        drug=program.drug,
        concentration_ng_per_ml=program.concentration_ng_per_ml,
        dose_ng_per_day=program.dose_ng_per_day,
        reservoir_nl=Fraction(program.volume_ul * 1000),
        clock=clock,
        anchor_ms=start_ms,
        last_rate_change_ms=start_ms,
        dose_history=[[start_ms, program.dose_ng_per_day]],
        battery_since_ms=start_ms,
        battery_fill_nl=program.volume_ul * 1000,
    )
    return state, library
