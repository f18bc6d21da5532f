"""Writing the implant record: not a therapy change, but it changes the volumes the bridge and
priming boluses are computed from, so it takes the same path (checks, review old -> new,
send once, read back, verify, audit)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from pumpctl.implant import (
    ImplantRecord,
    microlitres,
    model_pump_volume_nl,
    problem,
    today_on_pump,
)
from pumpctl.programmer.commands import NONE, TherapyCommand
from pumpctl.programmer.errors import NothingToSend, ProgrammerRefusal
from pumpctl.programmer.interrogation import Context, Interrogation
from pumpctl.programmer.review import Confirmations, Review, ReviewRow
from pumpctl.protocol import messages
from pumpctl.protocol.messages import (
    EventCode,
    EventRecord,
    ImplantResponse,
    NakCode,
    WriteImplantRequest,
)


def record_of(implant: ImplantResponse | None) -> ImplantRecord | None:
    """The record as written (``pump_volume_nl`` as the pump uses it), or None."""
    if implant is None or not implant.recorded:
        return None
    return ImplantRecord(
        implant.patient_id,
        implant.implanted_day,
        implant.catheter_tip,
        implant.catheter_length_mm,
        implant.catheter_volume_nl,
        implant.pump_volume_nl,
    )


def rows(old: ImplantRecord | None, new: ImplantRecord | None, model: str) -> tuple[ReviewRow, ...]:
    """The record's fields side by side, in the units people read."""

    def fields(r: ImplantRecord | None) -> list[str]:
        if r is None:
            return [NONE] * 6
        pump = r.pump_volume_nl or model_pump_volume_nl(model)
        return [
            r.patient_id,
            r.implanted.isoformat(),
            r.catheter_tip,
            f"{r.catheter_length_mm / 10:g} cm",
            microlitres(r.catheter_volume_nl),
            microlitres(pump) + ("" if r.pump_volume_nl else f" ({model} default)"),
        ]

    labels = (
        "Patient id",
        "Implanted",
        "Catheter tip",
        "Catheter length",
        "Catheter volume",
        "Pump internal volume",
    )
    return tuple(
        ReviewRow(label, before, after)
        for label, before, after in zip(labels, fields(old), fields(new), strict=True)
    )


@dataclass(frozen=True)
class WriteImplantRecord(TherapyCommand):
    record: ImplantRecord
    KIND: ClassVar[str] = "implant-record"
    EVENT_CODES: ClassVar[tuple[EventCode, ...]] = (EventCode.IMPLANT_RECORD_WRITTEN,)
    NEEDS_IMPLANT: ClassVar[bool] = True
    VERIFIES_IMPLANT: ClassVar[bool] = True

    def wanted(self, seen: Interrogation) -> ImplantRecord:
        """The record as the pump will read it back (its model's volume when none given)."""
        pump = self.record.pump_volume_nl or model_pump_volume_nl(seen.identity.model)
        return replace(self.record, pump_volume_nl=pump)

    def check(self, ctx: Context) -> None:
        seen = ctx.seen
        if seen.implant is None:
            raise ProgrammerRefusal(NakCode.UNKNOWN_MESSAGE, "this pump keeps no implant record")
        found = problem(self.record, today_on_pump(seen.status.pump_time_s))
        if found is not None:
            raise ProgrammerRefusal(NakCode.INVALID_ARGUMENT, found)
        if record_of(seen.implant) == self.wanted(seen):
            raise NothingToSend("the pump already holds this implant record: nothing sent")

    def review(self, ctx: Context) -> Review:
        seen = ctx.seen
        warnings = (
            "The bridge and priming boluses are computed from the catheter and pump volumes",
        )
        return Review(
            "Write the implant record",
            rows(record_of(seen.implant), self.record, seen.identity.model),
            warnings,
            changes_therapy=False,
        )

    def request(
        self, request_id: int, ctx: Context, confirmations: Confirmations
    ) -> messages.Command:
        r = self.record
        return WriteImplantRequest(
            request_id=request_id,
            patient_id=r.patient_id,
            implanted_day=r.implanted_day,
            catheter_tip=r.catheter_tip,
            catheter_length_mm=r.catheter_length_mm,
            catheter_volume_nl=r.catheter_volume_nl,
            pump_volume_nl=r.pump_volume_nl,
        )

    def verify(self, ctx: Context, after: Interrogation, event: EventRecord) -> str | None:
        read = record_of(after.implant)
        if read == self.wanted(ctx.seen):
            return None
        return "the pump acknowledged the implant record but reads back another"

    def done(self, ctx: Context, after: Interrogation) -> str:
        return f"Implant record for patient {self.record.patient_id} written, verified by read-back"
