"""The implant record through the serial port: absent until written, written by the clinician
and read back field for field, a field out of range refused in one line naming it, never
readable in a patient's session, kept across a restart; and the bridge bolus the programmer
computes from its volumes, with the arithmetic in the review.

The plugin's pump is morphine 25 mg/mL in an IT-20, frozen clock from 2026-01-01 00:00 UTC
(day 20454 since 1970-01-01)."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest

from pumpctl.client import PumpClient, SyncPumpClient
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.keystore import Keystore
from pumpctl.programmer import Confirmations, Programmer, Refill
from pumpctl.protocol.messages import (
    EventCode,
    ImplantResponse,
    NakCode,
    RefillRequest,
    WriteImplantRequest,
    WriteImplantResponse,
)
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest
from tests.hil.expect import START_S, events, refused

TODAY = START_S // 86_400
_request_ids = iter(range(0x1A17_0000, 0x1A17_FFFF))
GOOD = {
    "patient_id": "P-0042",
    "implanted_day": TODAY - 31,
    "catheter_tip": "T10",
    "catheter_length_mm": 500,
    "catheter_volume_nl": 55_000,
    "pump_volume_nl": 0,
}


def write(client: SyncPumpClient, **fields: object) -> WriteImplantResponse:
    request = WriteImplantRequest(request_id=next(_request_ids), **{**GOOD, **fields})
    reply = client.send_once(request)
    assert isinstance(reply, WriteImplantResponse)
    return reply


def test_absent_until_written_then_read_back_field_for_field(pump: PumpUnderTest) -> None:
    blank = pump.client.read_implant()
    assert not blank.recorded
    assert (blank.patient_id, blank.catheter_tip, blank.written_at_s) == ("", "", 0)
    assert blank.pump_volume_nl > 0  # the model's internal volume, whatever the record

    reply = write(pump.client)
    read = pump.client.read_implant()
    assert read == ImplantResponse(
        recorded=True,
        **{**GOOD, "pump_volume_nl": blank.pump_volume_nl},
        written_at_s=reply.written_at_s,
    )
    logged = events(pump.client, EventCode.IMPLANT_RECORD_WRITTEN)
    assert [(e.request_id, e.value_a, e.value_b) for e in logged] == [
        (reply.request_id, 55_000, blank.pump_volume_nl)
    ]

    write(pump.client, catheter_tip="L1", pump_volume_nl=30_000)  # replaces the whole record
    again = pump.client.read_implant()
    assert (again.catheter_tip, again.pump_volume_nl, again.patient_id) == ("L1", 30_000, "P-0042")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("patient_id", "", "patient id must be 1 to 32 printable ASCII characters"),
        ("patient_id", "P\x1b[2J", "patient id must be 1 to 32 printable ASCII characters"),
        ("patient_id", "x" * 33, "patient id must be 1 to 32 printable ASCII characters"),
        ("patient_id", " P-1", "patient id must not begin or end with a space"),
        ("implanted_day", TODAY + 1, "implant date must be from 1990-01-01 to the pump's today"),
        ("implanted_day", 7_304, "implant date must be from 1990-01-01 to the pump's today"),
        ("catheter_tip", "T13", "catheter tip 'T13' is not a level C1..C7, T1..T12, L1..L5"),
        ("catheter_length_mm", 99, "catheter length must be 10 to 150 cm, not 9.9 cm"),
        ("catheter_length_mm", 1501, "catheter length must be 10 to 150 cm"),
        ("catheter_volume_nl", 999, "catheter volume must be 1 to 500 µL, not 0.999 µL"),
        ("pump_volume_nl", 500_001, "pump volume must be 1 to 500 µL, not 500.001 µL"),
    ],
)
def test_a_field_out_of_range_is_refused_in_one_line(
    pump: PumpUnderTest, field: str, value: object, named: str
) -> None:
    refusal = refused(partial(write, pump.client, **{field: value}), NakCode.INVALID_ARGUMENT)
    assert refusal.nak.detail == named or refusal.nak.detail.startswith(named)
    assert "\n" not in refusal.nak.detail
    assert not pump.client.read_implant().recorded


def test_the_bounds_themselves_are_accepted(pump: PumpUnderTest) -> None:
    write(pump.client, patient_id="x" * 32, implanted_day=7_305, catheter_length_mm=100)
    write(pump.client, implanted_day=TODAY, catheter_length_mm=1500, catheter_volume_nl=500_000)
    assert pump.client.read_implant().catheter_volume_nl == 500_000


@pytest.mark.needs_simulator
@pytest.mark.parametrize("role", [Role.PATIENT, Role.SERVICE], ids=["patient", "service"])
def test_a_patient_never_reads_it_and_only_a_clinician_writes_it(
    pump: PumpUnderTest, role: Role
) -> None:
    write(pump.client)
    assert pump.sim is not None
    path = pump.sim.workdir / f"{role.name.lower()}-keys.json"
    pump.sim.control.pair(str(path), role.name.lower())
    other = SyncPumpClient(pump.port, keys=Keystore(path), role=role)
    try:
        refused(partial(write, other, patient_id="P-9"), NakCode.ROLE_FORBIDDEN)
        if role == Role.PATIENT:
            refused(other.read_implant, NakCode.ROLE_FORBIDDEN)
        else:
            assert other.read_implant().patient_id == "P-0042"
    finally:
        other.close()
    assert pump.client.read_implant().patient_id == "P-0042"


@pytest.mark.needs_simulator
def test_kept_across_a_restart(pump: PumpUnderTest) -> None:
    write(pump.client)
    assert pump.sim is not None
    pump.sim.restart()
    assert pump.reconnect().read_implant().patient_id == "P-0042"


def test_the_bridge_bolus_comes_from_the_records_volumes(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    write(pump.client, pump_volume_nl=25_000, catheter_volume_nl=45_000)

    async def plan_refill() -> list[str]:
        client = await PumpClient.open(pump.port, keys=pump.keys)
        record = ClinicalRecord.open(tmp_path / "record.db")
        try:
            programmer = Programmer(client, record, clinician="dr-test")
            plan = await programmer.plan(Refill(20_000, 20_000, 10_000_000))
            request = plan.command.request(1, plan.ctx, Confirmations(large_change=True))
            assert isinstance(request, RefillRequest)
            assert request.bridge_bolus_ng == 700_000
            assert record.patient_id(plan.ctx.seen.serial) == "P-0042"
            return plan.review.lines()
        finally:
            record.close()
            await client.close()

    lines = asyncio.run(plan_refill())
    # (25 + 45) µL of the new fill at 10 mg/mL: 0.7 mg, pushed through in the bridge's hour.
    assert any("(pump 25 µL + catheter 45 µL) = 70 µL x 10 mg/mL = 0.7 mg" in x for x in lines)
    assert any(x.split() == ["Bridge", "bolus", "-", "->", "0.7", "mg"] for x in lines)
