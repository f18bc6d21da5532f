"""The implant record: whom and what the pump is implanted in, written by a clinician.

Kept in the pump's sealed NV state (``PumpState.implant``), absent until written. The
programmer names the patient by its identifier and computes bridge and priming boluses from
the catheter's and the pump's internal volumes (docs/simulator.md §3.14).

The bounds are the programmer's too (``pumpctl.implant``): design defaults — verify.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pumpctl.implant import ImplantRecord, model_pump_volume_nl, problem
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

MS_PER_DAY = 86_400_000


def _record(request: WriteImplantRequest) -> ImplantRecord:
    return ImplantRecord(
        request.patient_id,
        request.implanted_day,
        request.catheter_tip,
        request.catheter_length_mm,
        request.catheter_volume_nl,
        request.pump_volume_nl,
    )


def write(pump: Pump, request: WriteImplantRequest) -> WriteImplantResponse:
    from firmware_sim.model.pump import RuleRefusal

    state = pump.state
    found = problem(_record(request), state.anchor_ms // MS_PER_DAY)
    if found is not None:
        raise RuleRefusal(NakCode.INVALID_ARGUMENT, found)
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
    found = problem(_record(request), written // MS_PER_DAY)
    return [] if found is None else [f"implant record: {found}"]
