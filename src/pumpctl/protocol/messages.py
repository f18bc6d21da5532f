"""The pump's vocabulary: every request and response, with units in the field names.

Doses are nanograms (ng) so that a ziconotide step of 0.1 µg/day is still an integer;
volumes are microlitres (µL), flows nanolitres per day (nL/day), times seconds since the
Unix epoch on the pump's clock (UTC).
"""

# No ``from __future__ import annotations`` here: pydantic would parse each field's type back
# from its text as it builds the model, a third of the time the vocabulary takes to build.
from enum import IntEnum
from typing import Annotated, ClassVar

from pydantic import Field

from pumpctl.protocol.wire import (
    I64,
    U8,
    U16,
    U32,
    U64,
    Blob,
    Bool,
    Bytes4,
    Bytes16,
    Bytes32,
    Fixed,
    ListOf,
    ShortText,
    Text,
    WireModel,
)


class MsgType(IntEnum):
    IDENTIFY = 0x01
    STATUS = 0x02
    SET_RATE = 0x10
    BOLUS = 0x11
    STOP = 0x12
    RESUME = 0x13
    CATHETER_CHECK = 0x14
    REFILL = 0x15
    ACK_ALARM = 0x16
    WRITE_LIMITS = 0x17
    SET_SCHEDULE = 0x18
    SET_PERIODIC_BOLUS = 0x19
    SET_DEMAND_BOLUS = 0x1A
    DEMAND_BOLUS = 0x1C
    WRITE_IMPLANT = 0x1B
    READ_EVENTS = 0x20
    READ_ALARMS = 0x21
    READ_LIMITS = 0x22
    QUERY_OUTCOME = 0x23
    READ_SCHEDULE = 0x24
    READ_DEMAND_BOLUS = 0x25
    READ_DEMAND_LOG = 0x26
    READ_IMPLANT = 0x27
    SESSION_OPEN = 0x30
    ENROL_PROGRAMMER = 0x31
    LIST_PROGRAMMERS = 0x32
    REVOKE_PROGRAMMER = 0x33
    NAK = 0x7F


class PumpState(IntEnum):
    RUNNING = 1
    STOPPED = 2


class StopReason(IntEnum):
    NONE = 0
    CLINICIAN = 1
    RESERVOIR_EMPTY = 2
    MOTOR_STALL = 3
    BATTERY_DEPLETED = 4
    NV_INTEGRITY = 5  # the pump's memory failed its check at boot: the safe state


class AlarmCode(IntEnum):
    LOW_RESERVOIR = 1
    EMPTY_RESERVOIR = 2
    OCCLUSION = 3
    LOW_BATTERY = 4
    ELECTIVE_REPLACEMENT = 5
    VOLUME_DISCREPANCY = 6
    MOTOR_STALL = 7
    CATHETER_LEAK = 8
    PUMP_STOPPED = 9  # delivery is stopped, for any reason; cleared by RESUME only
    NV_INTEGRITY = 10  # the pump's memory failed its integrity or range check at boot


class Severity(IntEnum):
    ADVISORY = 1
    WARNING = 2
    CRITICAL = 3


class WithdrawalRisk(IntEnum):
    """What stopping the drug abruptly does (the drug library's ``withdrawal_risk``)."""

    NONE = 0  # e.g. ziconotide: no withdrawal syndrome
    OPIOID = 1  # opioid withdrawal
    BACLOFEN = 2  # boxed warning: abrupt discontinuation can kill


class CatheterVerdict(IntEnum):
    PATENT = 1
    PARTIAL_OCCLUSION = 2
    OCCLUDED = 3
    LEAK = 4


class OutcomeState(IntEnum):
    UNKNOWN = 0  # never received (or older than the pump's last 1024 commands)
    EXECUTED = 1
    REFUSED = 2


class NakCode(IntEnum):
    """Why the pump refused a request; each names one rule (docs/protocol.md §7)."""

    MALFORMED_PAYLOAD = 0x01
    UNKNOWN_MESSAGE = 0x02
    STALE_DOSE = 0x03
    ABOVE_MAX_DOSE = 0x04
    STEP_TOO_LARGE = 0x05
    INCREASE_TOO_SOON = 0x06
    LARGE_CHANGE_UNCONFIRMED = 0x07
    BELOW_MIN_FLOW = 0x08
    OCCLUSION_PRESENT = 0x09
    BOLUS_LOCKOUT = 0x0A
    BOLUS_TOO_LARGE = 0x0B
    DAILY_LIMIT = 0x0C
    OVERFILL = 0x0D
    CONCENTRATION_OUT_OF_RANGE = 0x0E
    BRIDGE_BOLUS_REQUIRED = 0x0F
    PUMP_STOPPED = 0x10
    NOT_STOPPED = 0x11
    NO_SUCH_ALARM = 0x12
    RESERVOIR_EMPTY = 0x13
    BOLUS_COUNT_LIMIT = 0x14
    INVALID_ARGUMENT = 0x15
    DISCREPANCY_UNACKNOWLEDGED = 0x16
    BOLUS_TOO_SHORT = 0x17  # a patient's bolus faster than the drug's minimum duration
    ABOVE_HARD_LIMIT = 0x18  # WRITE_LIMITS beyond the firmware's hard limits for the drug
    DEMAND_NOT_PROGRAMMED = 0x19  # a patient's demand bolus with no demand settings
    PROGRAM_UNVERIFIED = 0x1C  # RESUME of a program the pump's memory check could not verify
    REQUEST_CLOSED = 0x1F  # a command whose request id a QUERY_OUTCOME closed before it came
    AUTH_REQUIRED = 0x20
    AUTH_FAILED = 0x21
    REPLAYED = 0x22
    SESSION_EXPIRED = 0x23
    LOCKED_OUT = 0x24  # reserved: the pump throttles failed proofs, it never locks out
    ROLE_FORBIDDEN = 0x25
    PROGRAMMER_REVOKED = 0x26  # SESSION_OPEN or REVOKE_PROGRAMMER naming a revoked programmer
    UNKNOWN_PROGRAMMER = 0x27  # SESSION_OPEN or REVOKE_PROGRAMMER naming no enrolled programmer
    ENROLMENT_FULL = 0x28  # ENROL_PROGRAMMER with every programmer slot in use
    INTERNAL_ERROR = 0xFF


class EventCode(IntEnum):
    BOOT = 1
    RATE_CHANGED = 2
    REFUSED = 3
    BOLUS_STARTED = 4
    BOLUS_FINISHED = 5
    STOPPED = 6
    RESUMED = 7
    ALARM_RAISED = 8
    ALARM_CLEARED = 9
    ALARM_ACKNOWLEDGED = 10
    REFILLED = 11
    CATHETER_CHECKED = 12
    CLOCK_SET = 13
    FAULT_INJECTED = 14
    SESSION_OPENED = 15
    AUTH_FAILURE = 16  # failures coalesced: how many, over what window
    LOCKOUT = 17  # reserved: no longer produced (the pump never locks out)
    LIMITS_CHANGED = 18
    AUTH_THROTTLED = 19  # authentication failures began: counted, proofs throttled
    SCHEDULE_SET = 20  # a flexible-dosing schedule programmed (SET_SCHEDULE)
    SCHEDULE_CLEARED = 21  # a schedule replaced by a simple rate (SET_RATE)
    PERIODIC_BOLUS_SET = 22  # periodic boluses programmed, changed or cleared
    PROGRAMMER_ENROLLED = 23  # a programmer's own key enrolled (ENROL_PROGRAMMER)
    PROGRAMMER_REVOKED = 24  # a programmer's key revoked (REVOKE_PROGRAMMER)
    DEMAND_BOLUS_SET = 25  # the demand-bolus settings programmed, changed or switched off
    DEMAND_BOLUS_REFUSED = 26  # a patient's activation refused (repeats of it coalesced)
    IMPLANT_RECORD_WRITTEN = 27  # the implant record written (WRITE_IMPLANT)


class DemandOutcome(IntEnum):
    """What became of a patient's demand-bolus activation (the activation log)."""

    GIVEN = 1
    REFUSED_LOCKOUT = 2  # within the lockout after the last demand bolus
    REFUSED_DAILY_COUNT = 3  # the count per 24 h already given
    REFUSED_NOT_PROGRAMMED = 4  # no demand settings
    REFUSED_STOPPED = 5  # delivery stopped
    REFUSED_EMPTY = 6  # the reservoir is empty
    REFUSED_OCCLUSION = 7  # an occlusion is present
    REFUSED_DAILY_LIMIT = 8  # it would put more than the maximum daily dose in a 24 h window


# --- nested records --------------------------------------------------------------------


class ActiveAlarm(WireModel):
    code: Annotated[AlarmCode, Fixed("B")]
    severity: Annotated[Severity, Fixed("B")]
    acknowledged: Bool


class AlarmRecord(WireModel):
    code: Annotated[AlarmCode, Fixed("B")]
    severity: Annotated[Severity, Fixed("B")]
    raised_at_s: U64
    acknowledged: Bool


# The most steps a schedule list carries on the wire (two lists fit a payload); a pump
# accepts at most its own ``max_steps`` (READ_SCHEDULE).
SCHEDULE_STEPS_MAX = 48


class ScheduleStep(WireModel):
    """One step of a flexible-dosing schedule: from ``start_min`` after midnight on the pump's
    clock until the next step's start (the last step until midnight)."""

    start_min: U16
    dose_ng_per_day: U32


class DemandLogEntry(WireModel):
    """One entry of the activation log: an activation, or consecutive refusals of one kind
    (``count`` of them, from ``time_s`` to ``last_time_s``)."""

    index: U32
    time_s: U64
    last_time_s: U64
    outcome: Annotated[DemandOutcome, Fixed("B")]
    count: U16
    dose_ng: U32  # the dose given (GIVEN) or the dose the settings held when refused


class EventRecord(WireModel):
    index: U32
    time_s: U64
    code: Annotated[EventCode, Fixed("H")]
    request_id: U64
    value_a: I64
    value_b: I64
    detail: ShortText


# --- requests and responses ------------------------------------------------------------


class Message(WireModel):
    """A top-level message; ``TYPE`` is its message type on the wire."""

    TYPE: ClassVar[MsgType]
    IS_RESPONSE: ClassVar[bool] = False


class Command(Message):
    """A request that changes the pump: carries a request id the pump remembers."""

    request_id: U64


class Response(Message):
    IS_RESPONSE: ClassVar[bool] = True


class IdentifyRequest(Message):
    TYPE = MsgType.IDENTIFY


class IdentifyResponse(Response):
    TYPE = MsgType.IDENTIFY
    model: ShortText
    serial_number: ShortText
    firmware_version: ShortText
    reservoir_capacity_ul: U32
    drug: ShortText
    concentration_ng_per_ml: U32


class StatusRequest(Message):
    TYPE = MsgType.STATUS


class StatusResponse(Response):
    TYPE = MsgType.STATUS
    state: Annotated[PumpState, Fixed("B")]
    stop_reason: Annotated[StopReason, Fixed("B")]
    dose_ng_per_day: U32
    flow_nl_per_day: U32
    reservoir_ul: U32
    battery_pct: U8
    pump_time_s: U64
    last_rate_change_s: U64
    low_reservoir_projected_s: U64
    bolus_active: Bool
    # Elective replacement: when it is due (raised: when it was); 0 not known.
    battery_eri_projected_s: U64 = 0
    # End of service: when the battery is empty and delivery stops for good; 0 not known.
    battery_eos_projected_s: U64 = 0
    alarms: Annotated[list[ActiveAlarm], ListOf()]


class SetRateRequest(Command):
    """Program a new daily dose; refused unless ``believed_dose`` is the pump's current dose."""

    TYPE = MsgType.SET_RATE
    dose_ng_per_day: U32
    believed_dose_ng_per_day: U32
    confirm_large_change: Bool = False


class SetRateResponse(Response):
    TYPE = MsgType.SET_RATE
    request_id: U64
    dose_ng_per_day: U32
    previous_dose_ng_per_day: U32
    flow_nl_per_day: U32
    applied_at_s: U64


class SetScheduleRequest(Command):
    """Program a flexible-dosing schedule (2 or more steps, repeating daily); refused unless
    ``believed_steps`` is the pump's current program (a simple rate: one step at 00:00)."""

    TYPE = MsgType.SET_SCHEDULE
    steps: Annotated[list[ScheduleStep], ListOf(SCHEDULE_STEPS_MAX)]
    believed_steps: Annotated[list[ScheduleStep], ListOf(SCHEDULE_STEPS_MAX)]
    confirm_large_change: Bool = False


class SetScheduleResponse(Response):
    TYPE = MsgType.SET_SCHEDULE
    request_id: U64
    dose_ng_per_day: U32  # the new schedule's daily dose (its integral, rounded down)
    previous_dose_ng_per_day: U32
    flow_nl_per_day: U32  # the volume it delivers a day
    applied_at_s: U64


class ReadScheduleRequest(Message):
    TYPE = MsgType.READ_SCHEDULE


class ScheduleResponse(Response):
    """The program in force: a schedule's steps, or a simple rate as one step at 00:00."""

    TYPE = MsgType.READ_SCHEDULE
    active: Bool  # a flexible-dosing schedule is programmed
    dose_ng_per_day: U32  # its daily dose (the integral, rounded down)
    current_step: U8  # the index of the step in force now
    max_steps: U8  # the most steps the pump accepts
    granularity_min: U16  # step starts fall on multiples of this
    steps: Annotated[list[ScheduleStep], ListOf(SCHEDULE_STEPS_MAX)]
    periodic_dose_ng: U32  # each periodic bolus; 0: none programmed
    periodic_duration_min: U16
    periodic_interval_min: U16
    periodic_first_min: U16  # the first bolus of the day, minutes after 00:00


class SetPeriodicBolusRequest(Command):
    """Program periodic boluses (``dose_ng`` 0 clears them); refused unless the believed
    dose and interval are the pump's (0, 0 for none)."""

    TYPE = MsgType.SET_PERIODIC_BOLUS
    dose_ng: U32
    duration_min: U16
    interval_min: U16
    first_min: U16
    believed_dose_ng: U32
    believed_interval_min: U16


class SetPeriodicBolusResponse(Response):
    TYPE = MsgType.SET_PERIODIC_BOLUS
    request_id: U64
    dose_ng: U32
    interval_min: U16
    periodic_ng_per_day: U32  # what the periodic boluses deliver a day
    previous_periodic_ng_per_day: U32
    applied_at_s: U64


class SetDemandBolusRequest(Command):
    """Program the patient's demand bolus (``dose_ng`` 0 switches it off); refused unless
    the believed dose and count per day are the pump's (0, 0 for off)."""

    TYPE = MsgType.SET_DEMAND_BOLUS
    dose_ng: U32
    duration_s: U32
    lockout_s: U32
    per_day: U8
    believed_dose_ng: U32
    believed_per_day: U8


class SetDemandBolusResponse(Response):
    TYPE = MsgType.SET_DEMAND_BOLUS
    request_id: U64
    dose_ng: U32
    per_day: U8
    previous_dose_ng: U32
    previous_per_day: U8
    applied_at_s: U64


class ReadDemandBolusRequest(Message):
    TYPE = MsgType.READ_DEMAND_BOLUS


class DemandSettingsResponse(Response):
    """The demand-bolus settings (``dose_ng`` 0: off) and where the patient stands now."""

    TYPE = MsgType.READ_DEMAND_BOLUS
    dose_ng: U32
    duration_s: U32
    lockout_s: U32
    per_day: U8
    given_last_24h: U8  # demand boluses started in the last 24 h
    next_allowed_s: U64  # when the lockout ends; 0: not in lockout
    min_duration_s: U32  # the drug's minimum patient-bolus duration (hard limit)
    log_next_index: U32  # the activation log's next index


class DemandBolusRequest(Command):
    """The patient's activation: no dose, the clinician's settings give it."""

    TYPE = MsgType.DEMAND_BOLUS


class DemandBolusResponse(Response):
    TYPE = MsgType.DEMAND_BOLUS
    request_id: U64
    dose_ng: U32
    duration_s: U32
    ends_at_s: U64
    given_last_24h: U8


class ReadDemandLogRequest(Message):
    TYPE = MsgType.READ_DEMAND_LOG
    first_index: U32
    max_count: Annotated[int, Fixed("B"), Field(ge=1, le=32)] = 32


class ReadDemandLogResponse(Response):
    TYPE = MsgType.READ_DEMAND_LOG
    next_index: U32
    oldest_index: U32
    entries: Annotated[list[DemandLogEntry], ListOf()]


class WriteImplantRequest(Command):
    """Write the implant record (clinician role): whom and what the pump is implanted in."""

    TYPE = MsgType.WRITE_IMPLANT
    patient_id: ShortText  # an opaque identifier, printable ASCII, no name needed
    implanted_day: U32  # days since 1970-01-01
    catheter_tip: ShortText  # vertebral level of the catheter tip: C1..C7, T1..T12, L1..L5
    catheter_length_mm: U16
    catheter_volume_nl: U32  # the catheter's internal volume, as implanted (trimmed)
    pump_volume_nl: U32  # the pump's internal (dead) volume; 0: the pump model's


class WriteImplantResponse(Response):
    TYPE = MsgType.WRITE_IMPLANT
    request_id: U64
    written_at_s: U64


class ReadImplantRequest(Message):
    TYPE = MsgType.READ_IMPLANT


class ImplantResponse(Response):
    """The implant record; ``recorded`` false (and every field empty) until written."""

    TYPE = MsgType.READ_IMPLANT
    recorded: Bool
    patient_id: ShortText
    implanted_day: U32
    catheter_tip: ShortText
    catheter_length_mm: U16
    catheter_volume_nl: U32
    pump_volume_nl: U32  # as written, or the pump model's when none was
    written_at_s: U64


class BolusRequest(Command):
    TYPE = MsgType.BOLUS
    dose_ng: U32
    duration_s: U32


class BolusResponse(Response):
    TYPE = MsgType.BOLUS
    request_id: U64
    dose_ng: U32
    duration_s: U32
    ends_at_s: U64


class StopRequest(Command):
    TYPE = MsgType.STOP


class ResumeRequest(Command):
    TYPE = MsgType.RESUME


class PumpStateResponse(Response):
    """Answer to STOP and RESUME (the message type in the header tells which)."""

    TYPE = MsgType.STOP
    request_id: U64
    state: Annotated[PumpState, Fixed("B")]
    stop_reason: Annotated[StopReason, Fixed("B")]


class ResumeResponse(PumpStateResponse):
    TYPE = MsgType.RESUME


class CatheterCheckRequest(Command):
    TYPE = MsgType.CATHETER_CHECK


class CatheterCheckResponse(Response):
    TYPE = MsgType.CATHETER_CHECK
    request_id: U64
    verdict: Annotated[CatheterVerdict, Fixed("B")]
    delivered_pct: U16
    peak_pressure_mmhg: U16
    checked_at_s: U64


class RefillRequest(Command):
    TYPE = MsgType.REFILL
    residual_withdrawn_ul: U32
    volume_added_ul: U32
    concentration_ng_per_ml: U32
    bridge_bolus_ng: U32 = 0
    waive_bridge_bolus: Bool = False
    discrepancy_acknowledged: Bool = False  # the clinician saw the residual's discrepancy
    confirm_large_change: Bool = False  # the clinician confirmed a concentration ×2 or ÷2


class RefillResponse(Response):
    TYPE = MsgType.REFILL
    request_id: U64
    reservoir_ul: U32
    expected_residual_ul: U32
    discrepancy_ul: I64
    discrepancy_alert: Bool
    concentration_ng_per_ml: U32


class AckAlarmRequest(Command):
    TYPE = MsgType.ACK_ALARM
    code: Annotated[AlarmCode, Fixed("B")]


class AckAlarmResponse(Response):
    TYPE = MsgType.ACK_ALARM
    request_id: U64
    code: Annotated[AlarmCode, Fixed("B")]


class ReadEventsRequest(Message):
    TYPE = MsgType.READ_EVENTS
    first_index: U32
    max_count: Annotated[int, Fixed("B"), Field(ge=1, le=64)] = 16


class ReadEventsResponse(Response):
    TYPE = MsgType.READ_EVENTS
    next_index: U32
    oldest_index: U32
    overflow_count: U32
    events: Annotated[list[EventRecord], ListOf()]


class ReadAlarmsRequest(Message):
    TYPE = MsgType.READ_ALARMS


class ReadAlarmsResponse(Response):
    TYPE = MsgType.READ_ALARMS
    alarms: Annotated[list[AlarmRecord], ListOf()]


class ReadLimitsRequest(Message):
    TYPE = MsgType.READ_LIMITS


class LimitsResponse(Response):
    TYPE = MsgType.READ_LIMITS
    drug: ShortText
    min_concentration_ng_per_ml: U32
    max_concentration_ng_per_ml: U32
    max_dose_ng_per_day: U32
    max_step_pct: U16
    max_step_ng_per_day: U32
    min_increase_interval_s: U32
    bolus_max_ng: U32
    bolus_lockout_s: U32
    max_boluses_per_day: U8
    min_flow_nl_per_day: U32
    low_reservoir_ul: U32
    large_change_factor: U8
    display_unit: ShortText  # the drug library's unit for this drug: "mg" or "mcg"
    refill_tolerance_ul: U32  # the pump model's refill discrepancy tolerance
    bridge_bolus_max_ng: U32
    withdrawal_risk: Annotated[WithdrawalRisk, Fixed("B")]
    retitration_interval_s: U32
    max_refill_interval_s: U32  # the longest a fill may stay in the pump (drug stability)


class SessionOpenRequest(Message):
    """Open an authenticated session in a role (sent without authentication)."""

    TYPE = MsgType.SESSION_OPEN
    role: U8  # Role: 1 clinician, 2 patient, 3 service
    programmer_nonce: Bytes16
    programmer_id: U32 = 0  # whose key: an enrolled programmer's, or 0: the role's implant key


class SessionIdentity(WireModel):
    """What the handshake tells only the key holder: sealed in ``SessionOpenResponse``."""

    firmware_version: ShortText
    reservoir_capacity_ul: U32
    drug: ShortText
    concentration_ng_per_ml: U32


# The longest SessionIdentity (two texts of 255 bytes and two u32) and its 16-byte AEAD tag.
SEALED_IDENTITY_MAX = 2 * (1 + 255) + 2 * 4 + 16


class SessionOpenResponse(Response):
    """The pump's half of the handshake. In clear only what the programmer needs to pick a
    key (the product name and the serial number); the rest of the identity, sealed under the
    new session's key, so no IDENTIFY is needed (docs/protocol.md §11.2)."""

    TYPE = MsgType.SESSION_OPEN
    session_id: U32
    pump_nonce: Bytes16
    pump_proof: Bytes16
    nonce_echo: Bytes4  # the request's programmer_nonce, its first 4 bytes: which try it answers
    idle_timeout_s: U32
    model: ShortText
    serial_number: ShortText
    sealed_identity: Annotated[
        bytes, Blob(SEALED_IDENTITY_MAX), Field(max_length=SEALED_IDENTITY_MAX)
    ]  # SessionIdentity under ChaCha20-Poly1305, its tag last


# Fields that hold a key: left out wherever a message is shown.
SECRET_FIELDS = frozenset({"programmer_key"})
# The longest label an enrolled programmer carries, in bytes (docs/protocol.md §11.7).
PROGRAMMER_LABEL_MAX = 32


class EnrolProgrammerRequest(Command):
    """Enrol a programmer's own key under its id (a clinician session only)."""

    TYPE = MsgType.ENROL_PROGRAMMER
    programmer_id: U32  # the programmer's own id, drawn at random once, never 0
    role: U8  # the role the programmer acts in: 1 clinician or 2 patient
    # Fresh random bytes from the programmer, sealed in the session; never shown (a trace,
    # an error, a repr).
    programmer_key: Annotated[Bytes32, Field(repr=False)]
    label: Annotated[str, Text(PROGRAMMER_LABEL_MAX), Field(max_length=PROGRAMMER_LABEL_MAX)]


class EnrolProgrammerResponse(Response):
    TYPE = MsgType.ENROL_PROGRAMMER
    request_id: U64
    programmer_id: U32
    role: U8
    enrolled_at_s: U64
    renewed: Bool  # the programmer was enrolled already: its key is replaced


class ProgrammerRecord(WireModel):
    programmer_id: U32
    role: U8
    label: Annotated[str, Text(PROGRAMMER_LABEL_MAX), Field(max_length=PROGRAMMER_LABEL_MAX)]
    enrolled_at_s: U64
    revoked_at_s: U64  # 0: not revoked


class ListProgrammersRequest(Message):
    TYPE = MsgType.LIST_PROGRAMMERS


class ListProgrammersResponse(Response):
    TYPE = MsgType.LIST_PROGRAMMERS
    session_programmer_id: U32  # the programmer of the session asking (0: an implant key)
    programmers: Annotated[list[ProgrammerRecord], ListOf()]


class RevokeProgrammerRequest(Command):
    """Revoke an enrolled programmer's key for good (a clinician session only); its open
    sessions end at once."""

    TYPE = MsgType.REVOKE_PROGRAMMER
    programmer_id: U32


class RevokeProgrammerResponse(Response):
    TYPE = MsgType.REVOKE_PROGRAMMER
    request_id: U64
    programmer_id: U32
    revoked_at_s: U64
    sessions_closed: U8  # the revoked programmer's sessions and attempts ended


class WriteLimitsRequest(Command):
    """Change the drug library limits for the drug in the reservoir (service role only)."""

    TYPE = MsgType.WRITE_LIMITS
    drug: ShortText
    min_concentration_ng_per_ml: U32
    max_concentration_ng_per_ml: U32
    max_dose_ng_per_day: U32
    max_step_pct: U16
    max_step_ng_per_day: U32
    min_increase_interval_s: U32
    bolus_max_ng: U32
    bolus_lockout_s: U32
    max_boluses_per_day: U8
    large_change_factor: U8


class QueryOutcomeRequest(Message):
    """What became of the command with this request id: never an execution. With ``close``,
    an id the pump never received is closed: any copy of it that arrives later is refused
    (REQUEST_CLOSED), so "never executed" stays true (docs/protocol.md §6.3)."""

    TYPE = MsgType.QUERY_OUTCOME
    request_id: U64
    close: Bool = False


class QueryOutcomeResponse(Response):
    TYPE = MsgType.QUERY_OUTCOME
    request_id: U64
    outcome: Annotated[OutcomeState, Fixed("B")]
    command_type: U8  # the message type of an executed command; 0 if refused or unknown
    nak_code: U8  # the refusal's NakCode, 0 unless refused
    detail: ShortText  # the refusal's reason, empty otherwise


class Nak(Response):
    """A refusal: the rule that refused, the limit it applied (0 if none) and a reason."""

    TYPE = MsgType.NAK
    code: Annotated[NakCode, Fixed("B")]
    limit: I64
    detail: ShortText


REQUESTS: tuple[type[Message], ...] = (
    IdentifyRequest,
    StatusRequest,
    SetRateRequest,
    BolusRequest,
    StopRequest,
    ResumeRequest,
    CatheterCheckRequest,
    RefillRequest,
    AckAlarmRequest,
    ReadEventsRequest,
    ReadAlarmsRequest,
    ReadLimitsRequest,
    QueryOutcomeRequest,
    SessionOpenRequest,
    WriteLimitsRequest,
    SetScheduleRequest,
    ReadScheduleRequest,
    SetPeriodicBolusRequest,
    EnrolProgrammerRequest,
    ListProgrammersRequest,
    RevokeProgrammerRequest,
    SetDemandBolusRequest,
    ReadDemandBolusRequest,
    DemandBolusRequest,
    ReadDemandLogRequest,
    WriteImplantRequest,
    ReadImplantRequest,
)
RESPONSES: tuple[type[Message], ...] = (
    IdentifyResponse,
    StatusResponse,
    SetRateResponse,
    BolusResponse,
    PumpStateResponse,
    ResumeResponse,
    CatheterCheckResponse,
    RefillResponse,
    AckAlarmResponse,
    ReadEventsResponse,
    ReadAlarmsResponse,
    LimitsResponse,
    QueryOutcomeResponse,
    SessionOpenResponse,
    SetScheduleResponse,
    ScheduleResponse,
    SetPeriodicBolusResponse,
    EnrolProgrammerResponse,
    ListProgrammersResponse,
    RevokeProgrammerResponse,
    SetDemandBolusResponse,
    DemandSettingsResponse,
    DemandBolusResponse,
    ReadDemandLogResponse,
    WriteImplantResponse,
    ImplantResponse,
    Nak,
)
