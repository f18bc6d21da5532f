"""Titration through the real ``pumpctl`` against the simulator, the pump's clock driving
the days: the published OIH case is blocked, a tolerance patient is not, a missing
reassessment is held, an override is documented, and bad input writes nothing.

Simulator pump: morphine 25 mg/mL at 1.4 mg/day, frozen clock; the pump itself enforces
24 h between increases and a step of at most 25 % and 1 mg/day.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pumpctl.client import PumpClient
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.clinical.scores import parse_vas
from pumpctl.programmer import Programmer
from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import run_in_process

DAY_MS = 86_400_000
MG = 1_000_000

pytestmark = pytest.mark.needs_simulator  # the clock


@dataclass
class Clinic:
    """One clinician at the programmer: ``pumpctl`` with its own record, and the pump."""

    pump: PumpUnderTest
    db: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PUMPCTL_PORT", "PUMPCTL_HIL_PORT")}
        env |= {
            "PUMPCTL_PORT": self.pump.port,
            "PUMPCTL_DB": str(self.db),
            "PUMPCTL_KEYSTORE": str(self.pump.keys.path),
            "PUMPCTL_CLINICIAN": "dr-case",
            "XDG_DATA_HOME": str(self.db.parent / "xdg"),
        }
        return run_in_process(env, list(args))

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert result.stderr == ""
        return result.stdout

    def json(self, *args: str) -> dict[str, Any]:
        """``pumpctl --json ARGS``; ``--json`` may also follow the command (see the callers)."""
        out = self.ok(*args) if "--json" in args else self.ok("--json", *args)
        data = json.loads(out)
        assert isinstance(data, dict)
        return data

    def fails(self, code: int, *args: str) -> tuple[str, str]:
        """Exit ``code``, one ``pumpctl: `` line on stderr; returns (stdout, that line)."""
        result = self.run(*args)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("pumpctl: ")
        return result.stdout, lines[0]

    def vas(self, score: str) -> int:
        """Log a VAS; returns the time the record gave it."""
        data = self.json("vas", score)
        assert data["vas_tenths"] == round(float(score) * 10)
        return int(data["time_s"])

    def days(self, n: float) -> None:
        assert self.pump.sim is not None
        self.pump.sim.advance(round(n * DAY_MS))

    def dose(self) -> int:
        return int(self.pump.client.status().dose_ng_per_day)

    def pump_time(self) -> int:
        return int(self.pump.client.status().pump_time_s)

    def audit(self) -> list[dict[str, Any]]:
        entries = self.json("audit", "show", "--json")["entries"]
        assert isinstance(entries, list)
        return entries

    # The same programmer in-process, for the steps leading up to what a test is about
    # (each pumpctl run costs a Python start-up).

    def api(self, action: Callable[[Programmer], Awaitable[Any]]) -> Any:
        async def run(client: PumpClient) -> Any:
            record = ClinicalRecord.open(self.db)
            try:
                return await action(Programmer(client, record, clinician="dr-case"))
            finally:
                record.close()

        return self.pump.client.run(run)

    def api_vas(self, score: str) -> None:
        self.api(lambda programmer: programmer.log_vas(parse_vas(score)))

    def api_rate(self, dose_mg: float) -> None:
        self.api(lambda programmer: programmer.set_rate(round(dose_mg * MG)))

    def record(self) -> tuple[list[dict[str, Any]], str | None]:
        """The audit entries and the verification problem (None: intact), in-process."""
        record = ClinicalRecord.open(self.db)
        try:
            return record.audit_entries(), record.verify_audit().problem
        finally:
            record.close()

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.db)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()


@pytest.fixture
def clinic(pump: PumpUnderTest, tmp_path: Path) -> Clinic:
    assert pump.client.status().dose_ng_per_day == 1_400 * 1000
    return Clinic(pump, tmp_path / "clinical.db")


def test_the_published_case_is_blocked_at_2_0_and_a_decrease_still_accepted(
    clinic: Clinic,
) -> None:
    start = clinic.pump_time()
    # day 0: 1.4 mg/day, VAS 4
    assert clinic.vas("4") == start
    # day 3: pain worse, first increase
    clinic.days(3)
    assert "1.4 mg/day -> 1.6 mg/day, verified by read-back" in clinic.ok("set-rate", "1.6")
    clinic.days(1)
    assert clinic.vas("6") == start + 4 * 86_400 == clinic.pump_time()  # the pump's clock
    clinic.ok("set-rate", "1.8")
    clinic.days(1)
    clinic.vas("8")

    # delivery first: pain rising as the dose goes up is a catheter question before it is an
    # OIH question
    out, line = clinic.fails(1, "set-rate", "2.0")
    assert "guard hold (delivery-first)" in line
    assert "no patent catheter check" in line
    assert "suspect" not in out
    assert "Run a catheter check (pumpctl catheter-check)" in out
    assert clinic.dose() == 1_800_000
    clinic.days(0.05)
    assert "Catheter patent" in clinic.ok("catheter-check")
    events_before = clinic.pump.client.read_events(0xFFFF_FFFF, 1).next_index

    def commands_since(index: int) -> list[EventCode]:
        events, _ = clinic.pump.client.read_all_events(index)
        return [e.code for e in events if e.code != EventCode.SESSION_OPENED]

    # the third increase, to 2.0 mg/day: blocked, explained
    out, line = clinic.fails(1, "set-rate", "2.0")
    assert "guard block" in line
    assert "opioid-induced hyperalgesia (OIH)" in line
    assert out.startswith(
        "Guard: BLOCK (step-rise) - pain rose by 1 or more after each of the last 2"
    )
    assert "1.4 mg/day -> 1.6 mg/day: VAS 4 (2026-01-01 00:00) -> 6 (2026-01-05 00:00)" in out
    assert "1.6 mg/day -> 1.8 mg/day: VAS 6 (2026-01-05 00:00) -> 8 (2026-01-06 00:00)" in out
    assert "catheter check: PATENT" in out
    assert "check (OIH criteria)" in out
    for item in ("No disease progression", "No withdrawal", "dose reduction"):
        assert item in out
    for option in ("Reduce the opioid dose", "Rotate the opioid", "non-opioid adjunct"):
        assert option in out
    assert "--override-reason" in out
    assert clinic.dose() == 1_800_000  # the pump was told nothing
    assert commands_since(events_before) == []  # sessions were opened; nothing else

    # the same decision as JSON, for scripts and the TUI
    result = clinic.run("--json", "set-rate", "2.0")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["rule"]) == ("refused", "step-rise")
    decision = error["decision"]
    assert decision["guard"] == "block"
    assert decision["rule"] == "step-rise"
    assert [
        (e["old_ng_per_day"], e["new_ng_per_day"], e["vas_before_tenths"], e["vas_after_tenths"])
        for e in decision["evidence"]
        if e["kind"] == "increase"
    ] == [(1_400_000, 1_600_000, 40, 60), (1_600_000, 1_800_000, 60, 80)]
    assert "disease-progression" in decision["override_reasons"]

    # what the guard never does: change the dose itself
    assert clinic.dose() == 1_800_000
    entries, problem = clinic.record()
    assert problem is None
    blocks = [e for e in entries if e["action"] == "guard-block"]
    assert len(blocks) == 2
    holds = [e["data"]["rule"] for e in entries if e["action"] == "guard-hold"]
    assert holds == ["delivery-first"]
    assert blocks[0]["data"]["rule"] == "step-rise"
    assert any("1.4 mg/day -> 1.6 mg/day" in line for line in blocks[0]["data"]["evidence"])
    assert blocks[0]["data"]["proposed_ng_per_day"] == 2_000_000
    assert blocks[0]["data"]["overridden"] is False

    # a decrease is accepted, at once
    assert "1.8 mg/day -> 1.6 mg/day, verified by read-back" in clinic.ok("set-rate", "1.6")
    assert clinic.dose() == 1_600_000
    assert clinic.record()[1] is None
    assert clinic.sql("SELECT outcome FROM changes ORDER BY id") == [("applied",)] * 3


def test_an_override_of_a_block_needs_a_reason_and_a_note_and_is_audited(
    clinic: Clinic,
) -> None:
    clinic.api_vas("4")
    clinic.days(3)
    clinic.api_rate(1.6)
    clinic.days(1)
    clinic.api_vas("6")
    clinic.api_rate(1.8)
    clinic.days(1)
    clinic.api_vas("8")
    clinic.ok("catheter-check")  # patent: the rise in pain is not a delivery failure
    entries = len(clinic.record()[0])

    _, line = clinic.fails(2, "set-rate", "2.0", "--override-reason", "disease-progression")
    assert "an override needs a note" in line
    _, line = clinic.fails(2, "set-rate", "2.0", "--override-note", "new metastasis")
    assert "--override-note goes with --override-reason" in line
    assert len(clinic.record()[0]) == entries  # refused input writes nothing
    assert clinic.dose() == 1_800_000

    note = "MRI: new vertebral metastasis at T10; catheter check normal"
    out = clinic.ok(
        "set-rate", "2.0", "--override-reason", "disease-progression", "--override-note", note
    )
    assert "1.8 mg/day -> 2 mg/day, verified by read-back" in out
    assert clinic.dose() == 2_000_000
    audit = clinic.audit()
    block, requested, applied = audit[entries:]
    assert block["action"] == "guard-block"
    assert block["data"]["overridden"] is True
    assert "OIH" in block["data"]["reason"]
    assert requested["action"] == "change-requested"
    assert requested["data"]["override_reason"] == "disease-progression"
    assert requested["data"]["override_note"] == note
    assert requested["actor"] == "dr-case"
    assert applied["action"] == "change-applied"
    assert clinic.sql("SELECT override_reason, override_note FROM changes WHERE id = 3") == [
        ("disease-progression", note)
    ]
    assert "Audit trail intact" in clinic.ok("audit", "verify")


def test_a_tolerance_patient_escalates_until_the_pumps_own_limits_refuse(
    clinic: Clinic,
) -> None:
    clinic.api_vas("7")
    clinic.days(3)
    clinic.ok("set-rate", "1.6")
    clinic.days(1)
    clinic.api_vas("6")
    clinic.ok("set-rate", "1.8")
    clinic.api_vas("5")  # the same day: too early to judge the step

    _, line = clinic.fails(1, "set-rate", "2.0")
    assert "guard hold (too-early)" in line
    # an override passes the guard, never the pump's own 24 h rule
    why = ("--override-reason", "tolerance-confirmed", "--override-note", "relieved in hours")
    _, line = clinic.fails(1, "set-rate", "2.0", *why)
    assert "pump refused (INCREASE_TOO_SOON)" in line
    assert "guard" not in line
    assert clinic.dose() == 1_800_000
    refused = clinic.sql("SELECT request_id, outcome FROM changes ORDER BY id")[-1]
    assert refused[1] == "refused"
    # it is the pump's refusal: the pump logged it under the change's request id
    events, _ = clinic.pump.client.read_all_events()
    (event,) = [e for e in events if e.request_id == int(refused[0])]
    assert event.code == EventCode.REFUSED

    # a step beyond the pump's limit: refused by the programmer's copy of the pump's rules,
    # before anything is sent
    _, line = clinic.fails(1, "set-rate", "3.0", *why)
    assert "programmer refused (STEP_TOO_LARGE)" in line

    clinic.days(1)
    clinic.api_vas("5")  # reassessed a day after the step
    clinic.ok("set-rate", "2.0")
    clinic.days(1)
    clinic.api_vas("4")
    clinic.ok("set-rate", "2.4")
    assert clinic.dose() == 2_400_000
    entries, problem = clinic.record()
    actions = [e["action"] for e in entries]
    assert [a for a in actions if a.startswith("guard-")] == ["guard-hold"] * 3
    assert actions.count("change-refused") == 1
    assert actions.count("programmer-refused") == 1
    assert problem is None


def test_an_increase_without_a_vas_since_the_last_is_held_until_reassessed(
    clinic: Clinic,
) -> None:
    clinic.api_vas("5")
    clinic.days(3)
    clinic.api_rate(1.6)
    clinic.days(1)

    out, line = clinic.fails(1, "set-rate", "1.8")
    assert "guard hold" in line
    assert "reassess" in line
    assert out.startswith("Guard: HOLD")
    assert "Log a VAS (pumpctl vas SCORE [--taken-at WHEN]), then try again." in out
    assert clinic.dose() == 1_600_000

    # a documented override passes a hold as it passes a block
    clinic.ok(
        "set-rate",
        "1.8",
        "--override-reason",
        "tolerance-confirmed",
        "--override-note",
        "seen in clinic: pain 5/10, relieved by the last step for 3 days",
    )
    assert clinic.dose() == 1_800_000
    hold = [e for e in clinic.record()[0] if e["action"] == "guard-hold"]
    assert [h["data"]["overridden"] for h in hold] == [False, True]

    # or reassess: a VAS ends the hold
    clinic.days(1)
    clinic.api_vas("4")
    clinic.ok("set-rate", "2.0")
    assert clinic.dose() == 2_000_000


def test_history_shows_dose_and_vas_in_order_on_the_pumps_clock(clinic: Clinic) -> None:
    start = clinic.pump_time()
    clinic.vas("5")
    clinic.days(1)
    clinic.ok("set-rate", "1.6")
    clinic.vas("4.5")  # the same second as the change, after it
    clinic.days(1)
    clinic.ok("set-rate", "1.5")
    clinic.vas("6")

    history = clinic.json("history", "--json")
    assert history["pump_serial"] == clinic.pump.client.identify().serial_number
    assert history["unit"] == "mg"
    day = 86_400
    assert [
        (r["time_s"] - start, r["kind"], r["value"], r["previous"]) for r in history["timeline"]
    ] == [
        (0, "vas", 50, None),
        (day, "dose", 1_600_000, 1_400_000),
        (day, "vas", 45, None),
        (2 * day, "dose", 1_500_000, 1_600_000),
        (2 * day, "vas", 60, None),
    ]
    text = clinic.ok("history").splitlines()
    assert text[0].startswith("History of pump ")
    assert [line.split("  ", 2)[2] for line in text[1:]] == [
        "VAS 5",
        "dose 1.4 mg/day -> 1.6 mg/day",
        "VAS 4.5",
        "dose 1.6 mg/day -> 1.5 mg/day",
        "VAS 6",
    ]


BAD_INPUT = [
    (("vas", "11"), "VAS '11' is outside 0-10"),
    (("vas", "-1"), "VAS '-1' is outside 0-10"),
    (("vas", "abc"), "VAS 'abc' is not a number"),
    (("vas", "6.55"), "VAS '6.55' has more than one decimal"),
    (("vas", "1e1"), "VAS '1e1' is not a number"),
    (("set-rate", "abc"), "'abc'"),
    (("set-rate", "1.6mg"), "'1.6mg'"),
]


def test_bad_input_is_one_line_and_writes_nothing(clinic: Clinic) -> None:
    clinic.vas("5")

    def counts() -> list[list[tuple[Any, ...]]]:
        return [clinic.sql(f"SELECT COUNT(*) FROM {t}") for t in ("audit", "readings", "changes")]

    before = counts()
    for args, needle in BAD_INPUT:
        _, line = clinic.fails(2, *args)
        assert needle in line, (args, line)
    assert counts() == before
    assert clinic.dose() == 1_400_000


def test_a_slip_by_ten_is_named_as_such_before_any_clinical_verdict(clinic: Clinic) -> None:
    """An increase the guard would hold (no VAS since the last one) typed as 99 instead of
    9.9 or 1.9: the maximum daily dose is what the clinician is told, and nothing is sent."""
    clinic.vas("4")
    clinic.days(1)
    clinic.ok("set-rate", "1.5")
    stdout, line = clinic.fails(1, "set-rate", "99")
    assert line == (
        "pumpctl: programmer refused (ABOVE_MAX_DOSE): 99 mg/day exceeds the maximum daily "
        "dose 20 mg/day"
    )
    assert "guard" not in stdout
    assert clinic.dose() == 1_500_000
