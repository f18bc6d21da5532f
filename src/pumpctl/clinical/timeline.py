"""Dose and pain on one time axis, from the clinical record."""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.clinical.record import ClinicalRecord


@dataclass(frozen=True)
class TimelineRow:
    time_s: int
    kind: str  # "dose" or "vas"
    value: int  # ng/day for doses, tenths for VAS
    previous: int | None = None  # the dose before a change
    position: int | None = None  # on the pump's event sequence, when known


def timeline(record: ClinicalRecord, serial: str) -> list[TimelineRow]:
    rows = [
        TimelineRow(c.time_s, "dose", c.new_ng_per_day, c.old_ng_per_day, c.index)
        for c in record.dose_changes(serial)
    ]
    rows += [
        TimelineRow(r.time_s, "vas", r.score_tenths, None, r.events_seen)
        for r in record.readings(serial)
    ]
    # A reading logged having seen event k comes after event k and before event k + 1.
    return sorted(
        rows,
        key=lambda r: (
            r.time_s,
            r.position if r.position is not None else 1 << 62,
            r.kind == "vas",
        ),
    )
