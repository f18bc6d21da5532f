"""The clinical record as a clinic's grows: ``audit verify`` and a visit report's reads of
one pump, timed at several sizes of the same record so the cost per 10k audit rows shows
whether it stays flat."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.stats import Timing, fmt
from pumpctl.clinical.record import ChangeOutcome, ClinicalRecord
from pumpctl.clinical.timeline import timeline
from pumpctl.protocol.messages import EventCode, EventRecord

PUMPS = 10
HOUR_S = 3600
MG = 1_000_000
AUDIT_ROWS_PER_VISIT = 3  # the VAS, the change requested, the change answered


def _grow(record: ClinicalRecord, visits: dict[str, int], audit_rows: int) -> None:
    """Visits round the clinic's pumps until the audit trail holds ``audit_rows``: a VAS,
    then a dose change requested, applied by the pump (its event mirrored) and answered."""
    while AUDIT_ROWS_PER_VISIT * sum(visits.values()) < audit_rows:
        for p in range(PUMPS):
            serial = f"SN-{p:03d}"
            visit = visits.get(serial, 0)
            visits[serial] = visit + 1
            now = visit * 24 * HOUR_S
            index = 2 * visit
            old, new = (14 + visit % 3) * MG // 10, (15 + visit % 3) * MG // 10
            record.log_vas(serial, now, 40 + visit % 30, events_seen=index, clinician="dr-a")
            change = record.begin_change(
                serial,
                now + 60,
                clinician="dr-a",
                old_ng_per_day=old,
                new_ng_per_day=new,
                request_id=visit + 1,
            )
            record.mirror_events(
                serial,
                [
                    EventRecord(
                        index=index + 1,
                        time_s=now + 61,
                        code=EventCode.RATE_CHANGED,
                        request_id=visit + 1,
                        value_a=old,
                        value_b=new,
                        detail="",
                    ),
                    EventRecord(
                        index=index + 2,
                        time_s=now + 120,
                        code=EventCode.CATHETER_CHECKED,
                        request_id=0,
                        value_a=0,
                        value_b=0,
                        detail="",
                    ),
                ],
            )
            record.finish_change(change, ChangeOutcome.APPLIED)


def _time(call: Callable[[], object], n: int) -> Timing:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return Timing.of(samples)


def record_scaling(sizes: tuple[int, ...], n: int) -> list[tuple[str, Timing, str, Timing, str]]:
    """(name, timing at the largest size, reference name, timing at the smallest, note)."""
    verify: dict[int, Timing] = {}
    report: dict[int, Timing] = {}
    # tmpfs when there is one: the build commits every row with fsync, the reads do not.
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base) as workdir:
        record = ClinicalRecord.open(Path(workdir) / "clinical.db")
        visits: dict[str, int] = {}
        try:
            for size in sizes:
                _grow(record, visits, size)

                def reads() -> None:
                    record.audit_entries("SN-000")
                    record.pump_events("SN-000", codes=(EventCode.RATE_CHANGED,), since_s=0)
                    record.last_event("SN-000", EventCode.CATHETER_CHECKED)
                    timeline(record, "SN-000")

                verify[size] = _time(record.verify_audit, n)
                report[size] = _time(reads, n)
        finally:
            record.close()
    small, large = sizes[0], sizes[-1]

    def per_10k(timings: dict[int, Timing]) -> str:
        return ", ".join(
            f"{fmt(t.median_s * 10_000 / size)} at {size // 1000}k" for size, t in timings.items()
        )

    return [
        (
            f"audit verify, {large // 1000}k audit rows",
            verify[large],
            f"the same at {small // 1000}k",
            verify[small],
            f"per 10k rows: {per_10k(verify)}",
        ),
        (
            f"a visit report's record reads of one pump of {PUMPS}, {large // 1000}k audit rows",
            report[large],
            f"the same at {small // 1000}k",
            report[small],
            f"per 10k rows: {per_10k(report)}",
        ),
    ]
