"""The implant record: whom and what the pump is implanted in, written by a clinician.

Kept in the pump's sealed NV state (``PumpState.implant``), absent until written. The
programmer names the patient by its identifier and computes bridge and priming boluses from
the catheter's and the pump's internal volumes (docs/simulator.md §3.13).

No public source gives the bounds below: design defaults — verify.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pumpctl.protocol.messages import (
    EventCode,
    ImplantResponse,
    NakCode,
    ReadImplantRequest,
    WriteImplantRequest,
    WriteImplantResponse,
)

if TYPE_CHECKING:
    from firmware_sim.model.pump import Pump

PATIENT_ID_MAX = 32  # characters of printable ASCII
# Vertebral levels a catheter tip is placed at, cervical to lumbar.
TIP_LEVELS = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
)
CATHETER_LENGTH_MM = (100, 1500)
CATHETER_VOLUME_NL = (1_000, 500_000)  # 1 µL to 0.5 mL
PUMP_VOLUME_NL = (1_000, 500_000)
# The pump's internal (dead) volume when the clinician enters none, by model. No public
# figure was found (clinical facts: "No public volumes were found"): design default — verify.
MODEL_PUMP_VOLUME_NL = {"IT-20": 20_000, "IT-40": 20_000}
DEFAULT_PUMP_VOLUME_NL = 20_000
EARLIEST_DAY = 7_305  # 1990-01-01: no implant record predates it
MS_PER_DAY = 86_400_000


def model_pump_volume_nl(model_name: str) -> int:
    return MODEL_PUMP_VOLUME_NL.get(model_name, DEFAULT_PUMP_VOLUME_NL)


def problem(request: WriteImplantRequest, today: int) -> str | None:
    """What is wrong with a record, in one line; None if nothing."""
    pid = request.patient_id
    if not 1 <= len(pid) <= PATIENT_ID_MAX or not all(" " <= c <= "~" for c in pid):
        return f"patient id must be 1 to {PATIENT_ID_MAX} printable ASCII characters"
    if pid != pid.strip():
        return "patient id must not begin or end with a space"
    if not EARLIEST_DAY <= request.implanted_day <= today:
        return "implant date must be from 1990-01-01 to the pump's today"
    if request.catheter_tip not in TIP_LEVELS:
        return f"catheter tip {request.catheter_tip[:8]!r} is not a level C1..C7, T1..T12, L1..L5"
    low, high = CATHETER_LENGTH_MM
    if not low <= request.catheter_length_mm <= high:
        return f"catheter length must be {low} to {high} mm, not {request.catheter_length_mm}"
    low, high = CATHETER_VOLUME_NL
    if not low <= request.catheter_volume_nl <= high:
        return f"catheter volume must be {low} to {high} nL, not {request.catheter_volume_nl}"
    low, high = PUMP_VOLUME_NL
    if request.pump_volume_nl and not low <= request.pump_volume_nl <= high:
        return f"pump volume must be {low} to {high} nL (or 0), not {request.pump_volume_nl}"
    return None


def write(pump: Pump, request: WriteImplantRequest) -> WriteImplantResponse:
    from firmware_sim.model.pump import Refusal

    state = pump.state
    found = problem(request, state.anchor_ms // MS_PER_DAY)
    if found is not None:
        raise Refusal(NakCode.INVALID_ARGUMENT, found)
    state.implant = {
        "patient_id": request.patient_id,
        "implanted_day": request.implanted_day,
        "catheter_tip": request.catheter_tip,
        "catheter_length_mm": request.catheter_length_mm,
        "catheter_volume_nl": request.catheter_volume_nl,
        "pump_volume_nl": request.pump_volume_nl,
        "written_ms": state.anchor_ms,
    }
    pump._log(
        EventCode.IMPLANT_RECORD_WRITTEN,
        request.request_id,
        request.catheter_volume_nl,
        request.pump_volume_nl or model_pump_volume_nl(state.model_name),
        f"implant record written: tip {request.catheter_tip}, catheter "
        f"{request.catheter_length_mm} mm",
    )
    return WriteImplantResponse(request_id=request.request_id, written_at_s=state.anchor_ms // 1000)


def read(pump: Pump, _: ReadImplantRequest) -> ImplantResponse:
    record: dict[str, Any] = pump.state.implant or {}
    pump_volume = record.get("pump_volume_nl") or model_pump_volume_nl(pump.state.model_name)
    return ImplantResponse(
        recorded=bool(record),
        patient_id=record.get("patient_id", ""),
        implanted_day=record.get("implanted_day", 0),
        catheter_tip=record.get("catheter_tip", ""),
        catheter_length_mm=record.get("catheter_length_mm", 0),
        catheter_volume_nl=record.get("catheter_volume_nl", 0),
        pump_volume_nl=pump_volume,
        written_at_s=record.get("written_ms", 0) // 1000,
    )


def state_problems(record: dict[str, Any] | None) -> list[str]:
    """An implant record in NV memory that WRITE_IMPLANT would not have accepted."""
    if record is None:
        return []
    try:
        request = WriteImplantRequest(
            request_id=0, **{k: v for k, v in record.items() if k != "written_ms"}
        )
        written = int(record["written_ms"])
    except (TypeError, ValueError, KeyError):
        return ["implant record: damaged"]
    found = problem(request, written // MS_PER_DAY)
    return [] if found is None else [f"implant record: {found}"]
