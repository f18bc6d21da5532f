"""What each ``pumpctl --json`` command prints, as pydantic models: the source of the JSON
Schema files under docs/schemas/ (``python -m tools.jsonschema``; docs/cli.md).

The wire messages the pump answers with are reused as they are; the rest is modelled here.
A model describes the object without its ``schema`` name and without the ``*_display``
fields, which cli_json adds to every output (and tools.jsonschema to every schema). Imported
only to write or check the schemas, never at ``import pumpctl.cli``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pumpctl.protocol.messages import (
    DemandBolusResponse,
    DemandSettingsResponse,
    EventRecord,
    IdentifyResponse,
    ImplantResponse,
    LimitsResponse,
    ReadAlarmsResponse,
    ScheduleResponse,
    StatusResponse,
)


class Out(BaseModel):
    """An output object: every field it names is there; new fields may appear beside them."""

    model_config = ConfigDict(extra="allow")


# --- the pieces several outputs share -------------------------------------------------------


class Discrepancy(Out):
    """Where the pump and the clinical record disagree (``pumpctl reconcile``)."""

    kind: str
    fingerprint: str
    text: str


class Review(Out):
    """The review shown before sending: rows of (what, before, after) as people read them."""

    title: str
    rows: list[tuple[str, str, str]]
    warnings: list[str]
    required: list[str]


class Evidence(Out):
    kind: str
    time_s: int | None
    text: str


class GuardWarning(Out):
    rule: str
    text: str


class Guard(Out):
    """The guard's decision (docs/guard.md)."""

    guard: str
    rule: str
    reason: str
    evidence: list[Evidence]
    warnings: list[GuardWarning]
    checklist: list[str]
    options: list[str]
    overridable: bool
    dose_before_fault_ng_per_day: int | None
    next_action: str
    return_dose: str


class NotSent(Out):
    """A therapy command with nothing to send (the dose already programmed, ...)."""

    outcome: str
    sent: bool
    reason: str


class Therapy(Out):
    """A therapy command sent and read back: ``outcome`` ``confirmed``."""

    outcome: str
    verified: bool
    request_id: str
    unit: str
    review: Review
    resolved_after_lost_answer: bool
    status: StatusResponse


# --- one per command ------------------------------------------------------------------------


class Identify(IdentifyResponse):
    model_config = ConfigDict(extra="allow")
    unit: str


class Status(Out):
    identity: IdentifyResponse
    status: StatusResponse
    unit: str
    # The patient the pump's implant record names, as the clinical record last read it; null
    # when the pump has none or the record has not read it.
    patient_id: str | None
    discrepancies: list[Discrepancy]
    record_problem: str | None = None


class Reconcile(Out):
    reconciled: list[Discrepancy]
    discrepancies: list[Discrepancy]


class Limits(LimitsResponse):
    model_config = ConfigDict(extra="allow")


class SetRate(Therapy):
    previous_dose_ng_per_day: int
    dose_ng_per_day: int
    overridden: bool
    guard: Guard | None = None


class CatheterCheck(Therapy):
    verdict: str | None = None
    peak_pressure_mmhg: int | None = None


class RefillExpected(Out):
    """``pumpctl refill`` without volumes: what the pump expects to be withdrawn."""

    sent: bool
    expected_residual_ul: int
    refill_tolerance_ul: int


class Alarms(ReadAlarmsResponse):
    model_config = ConfigDict(extra="allow")


class Events(Out):
    events: list[EventRecord]
    next_index: int
    oldest_index: int
    overflow_count: int


class Vas(Out):
    vas_tenths: int
    time_s: int
    logged_s: int


class TimelineRow(Out):
    """A dose change (``kind`` ``dose``: ``dose_ng_per_day``, ``previous_dose_ng_per_day``) or
    a VAS (``kind`` ``vas``: ``vas_tenths``); ``value`` and ``previous`` hold the same numbers
    for the scripts written before the keys named their unit."""

    time_s: int
    kind: str
    value: int
    previous: int | None
    dose_ng_per_day: int | None = None
    previous_dose_ng_per_day: int | None = None
    vas_tenths: int | None = None


class History(Out):
    pump_serial: str
    unit: str
    timeline: list[TimelineRow]


class Report(Out):
    files: list[str]


class SystemicOpioid(Out):
    name: str
    amount: str
    mme_per_day: str | None
    since_s: int


class Opioids(Out):
    pump_serial: str
    time_s: int
    intrathecal: str
    opioids: list[SystemicOpioid]
    total_mme_per_day: str
    tapering: bool
    no_cdc_factor: list[str]
    taper_lookback_s: int


class ScheduleShow(ScheduleResponse):
    model_config = ConfigDict(extra="allow")
    unit: str


class ScheduleChanged(Therapy):
    schedule: ScheduleResponse | None = None


class DemandShow(DemandSettingsResponse):
    model_config = ConfigDict(extra="allow")
    unit: str


class DemandTake(DemandBolusResponse):
    model_config = ConfigDict(extra="allow")


class DemandChanged(Therapy):
    demand: DemandSettingsResponse | None = None


class DemandLogEntry(Out):
    index: int
    time_s: int
    last_time_s: int
    outcome: str
    count: int
    dose_ng: int


class DemandLog(Out):
    unit: str
    given: int
    refused: int
    entries: list[DemandLogEntry]


class ImplantShow(ImplantResponse):
    model_config = ConfigDict(extra="allow")
    unit: str
    priming_bolus_ng: int | None = None


class ImplantChanged(Therapy):
    implant: ImplantResponse | None = None


class AuditEntry(Out):
    seq: int
    time_s: int
    wall_time_s: int
    pump: str
    actor: str
    programmer: int | None
    action: str
    data: dict[str, Any]


class AuditShow(Out):
    entries: list[AuditEntry]


class AuditVerify(Out):
    intact: bool
    entries: int


class Pair(Out):
    paired: str
    role: str
    programmer_id: int | None
    keystore: str


class ProgrammerEntry(Out):
    programmer_id: int
    role: str
    label: str
    enrolled_at_s: int
    revoked_at_s: int | None
    this: bool


class ProgrammersList(Out):
    session_programmer_id: int
    programmers: list[ProgrammerEntry]


class ProgrammersRevoke(Out):
    revoked: int
    revoked_at_s: int
    sessions_closed: int
    own: bool
    read_back: bool


class ErrorDetail(Out):
    code: str
    exit_status: int
    rule: str | None
    message: str
    limit: int | None
    limit_unit: str | None
    limit_display: str | None
    confirm: list[str] | None = None
    decision: Guard | None = None


class Error(Out):
    error: ErrorDetail


# Each schema name (``pumpctl.<name>/1``) and what its object is: one model, or any of a few.
OUTPUTS: dict[str, tuple[type[BaseModel], ...]] = {
    "identify": (Identify,),
    "status": (Status,),
    "reconcile": (Reconcile,),
    "limits": (Limits,),
    "set-rate": (SetRate, NotSent),
    "bolus": (Therapy, NotSent),
    "stop": (Therapy, NotSent),
    "resume": (Therapy, NotSent),
    "catheter-check": (CatheterCheck, NotSent),
    "refill": (RefillExpected, Therapy, NotSent),
    "alarms": (Alarms,),
    "ack": (Therapy, NotSent),
    "events": (Events,),
    "vas": (Vas,),
    "history": (History,),
    "report": (Report,),
    "opioids.show": (Opioids,),
    "opioids.set": (Opioids,),
    "opioids.stop": (Opioids,),
    "schedule.show": (ScheduleShow,),
    "schedule.set": (ScheduleChanged, NotSent),
    "schedule.clear": (ScheduleChanged, NotSent),
    "periodic-bolus.set": (ScheduleChanged, NotSent),
    "periodic-bolus.clear": (ScheduleChanged, NotSent),
    "demand-bolus.show": (DemandShow,),
    "demand-bolus.take": (DemandTake,),
    "demand-bolus.set": (DemandChanged, NotSent),
    "demand-bolus.off": (DemandChanged, NotSent),
    "demand-log": (DemandLog,),
    "implant.show": (ImplantShow,),
    "implant.set": (ImplantChanged, NotSent),
    "audit.show": (AuditShow,),
    "audit.verify": (AuditVerify,),
    "pair": (Pair,),
    "programmers.list": (ProgrammersList,),
    "programmers.revoke": (ProgrammersRevoke,),
    "error": (Error,),
}
