"""The pump and the clinical record check each other on every interrogation.

What the pump shows (its dose, concentration, clock and event log) is compared with what the
record holds (the last dose change mirrored from the pump's log, the concentration the last
confirmed command left, the changes this programmer sent).
Each disagreement is a :class:`Discrepancy`: shown by every face, audited once, and it blocks
increases until a clinician reconciles it with a documented reason. It never blocks a
decrease or a stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.clinical.record import ClinicalRecord
from pumpctl.protocol.messages import EventRecord
from pumpctl.units import format_amount, format_concentration


@dataclass(frozen=True)
class Discrepancy:
    kind: str  # dose, concentration, log-reset, clock, unknown-history
    fingerprint: str  # what a reconciliation accepts: the same disagreement, not a later one
    text: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "fingerprint": self.fingerprint, "text": self.text}


@dataclass(frozen=True)
class LogReset:
    """The pump's log no longer holds the event the record mirrored last (``index``)."""

    index: int
    now: EventRecord | None  # what the pump holds at that index now

    def discrepancy(self) -> Discrepancy:
        shows = "no such event" if self.now is None else f"a different one ({self.now.detail})"
        return Discrepancy(
            "log-reset",
            f"log-reset@{self.index}",
            f"the pump's event log went backwards: the record mirrored its event {self.index} "
            f"but the pump now shows {shows} (its memory was reset or replaced)",
        )


def log_reset(
    record: ClinicalRecord, serial: str, last: int, read: list[EventRecord], oldest: int
) -> LogReset | None:
    """Whether the pump's log, read again from the record's ``last`` mirrored index, still
    holds that event; events the pump overwrote (``oldest`` past it) are a gap, not a reset."""
    if oldest > last:
        return None
    mirrored = record.mirrored_event(serial, last)
    now = read[0] if read and read[0].index == last else None
    if mirrored is not None and now is not None and _same(mirrored, now):
        return None
    return LogReset(last, now)


def _same(a: EventRecord, b: EventRecord) -> bool:
    keys = ("time_s", "code", "request_id", "value_a", "value_b", "detail")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def discrepancies(
    record: ClinicalRecord,
    serial: str,
    *,
    dose_ng_per_day: int,
    pump_time_s: int,
    unit: str,
    concentration_ng_per_ml: int | None = None,
    reset: LogReset | None = None,
) -> list[Discrepancy]:
    """Every disagreement between the pump and the record, reconciled or not."""
    found = [] if reset is None else [reset.discrepancy()]
    latest = record.latest_event_time_s(serial)
    if latest is not None and pump_time_s < latest:
        found.append(
            Discrepancy(
                "clock",
                f"clock<{latest}",
                f"the pump's clock ({pump_time_s} s) is behind the events it logged "
                f"(up to {latest} s)",
            )
        )
    if reset is not None:
        return found  # the mirror is of the former log: nothing more to compare it with
    last = record.last_dose_event(serial)
    if (
        last is not None
        and last.value_b != dose_ng_per_day
        and record.events_complete_since(serial, last.time_s)
    ):
        found.append(
            Discrepancy(
                "dose",
                f"dose={dose_ng_per_day}@{last.index}",
                f"the pump delivers {format_amount(dose_ng_per_day, unit)} but its last logged "
                f"change (event {last.index}) set {format_amount(last.value_b, unit)}: no "
                "recorded change explains the dose",
            )
        )
    confirmed = record.confirmed_concentration(serial)
    if concentration_ng_per_ml is not None and confirmed is not None:
        command_id, expected = confirmed
        shown = format_concentration(concentration_ng_per_ml, unit)
        if shown != expected:
            found.append(
                Discrepancy(
                    "concentration",
                    f"concentration={concentration_ng_per_ml}@{command_id}",
                    f"the pump holds {shown} but the last confirmed command (command "
                    f"{command_id}) left {expected}: no recorded refill explains it",
                )
            )
    programmed, last_index = (0, None)
    if not record.knows_programming(serial):
        programmed, last_index = record.programmed_events(serial)
    if programmed:
        found.append(
            Discrepancy(
                "unknown-history",
                f"unknown-history@{last_index}",
                f"the pump's log shows {programmed} programmed dose change(s) (the last at "
                f"event {last_index}) that the clinical record knows nothing of: the record "
                "was emptied or replaced",
            )
        )
    return found


def open_discrepancies(
    record: ClinicalRecord, serial: str, found: list[Discrepancy]
) -> tuple[list[Discrepancy], list[Discrepancy]]:
    """``(open, new)``: those not reconciled yet, and of them those not audited yet."""
    if not found:
        return [], []
    marks = record.discrepancy_marks(serial)
    reconciled = marks.get("discrepancy-reconciled", set())
    audited = marks.get("discrepancy-found", set())
    still = [d for d in found if d.fingerprint not in reconciled]
    return still, [d for d in still if d.fingerprint not in audited]
