"""The read commands' text from data alone: what a clinician reads, with no pump attached."""

from __future__ import annotations

from pumpctl import cli_render as render
from pumpctl.clinical.timeline import TimelineRow
from pumpctl.protocol.messages import EventCode, EventRecord

DAY_S = 86_400
NEW_YEAR_S = 1_767_225_600  # 2026-01-01 00:00:00 UTC


def test_the_event_log_says_when_older_events_were_overwritten() -> None:
    boot = EventRecord(
        index=7,
        time_s=NEW_YEAR_S,
        code=EventCode.BOOT,
        request_id=0,
        value_a=0,
        value_b=0,
        detail="first boot",
    )
    assert render.events_text([boot], overflow_count=3).splitlines() == [
        "(3 older events overwritten)",
        "     7  2026-01-01 00:00:00 UTC  BOOT               first boot",
    ]
    assert render.events_text([], overflow_count=0) == "No events"


def test_history_shows_doses_in_the_drugs_unit_and_pain_scores() -> None:
    rows = [
        TimelineRow(NEW_YEAR_S, "vas", 65),
        TimelineRow(NEW_YEAR_S + DAY_S + 90, "dose", 1_500_000, previous=1_400_000),
    ]
    assert render.history_text("SIM000001", rows, "mg") == (
        "History of pump SIM000001\n"
        "  2026-01-01 00:00  VAS 6.5\n"
        "  2026-01-02 00:01  dose 1.4 mg/day -> 1.5 mg/day"
    )
    assert render.history_text("SIM000001", [], "mg") == "No history for pump SIM000001"


def test_an_audited_change_names_what_changed_and_what_was_confirmed() -> None:
    entry = {
        "seq": 2,
        "time_s": NEW_YEAR_S,
        "pump": "SIM000001",
        "actor": "dr-a",
        "action": "command-requested",
        "data": {
            "kind": "stop",
            "review": {
                "title": "Stop delivery",
                "rows": [["Delivery", "running", "STOPPED"], ["Dose", "1 mg", "1 mg"]],
                "confirmations": {"withdrawal_risk": True, "large_change": False},
            },
        },
    }
    assert render.audit_text([entry]) == (
        "    2  2026-01-01 00:00  SIM000001  dr-a       command-requested stop: Stop delivery; "
        "Delivery running -> STOPPED; confirmed: withdrawal risk"
    )
    assert render.audit_text([]) == "The audit trail is empty"
