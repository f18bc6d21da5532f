"""Titration histories, each replayed through ``pumpctl`` against the simulator, and the
verdict a careful clinician expects for the next increase (docs/guard.md, "Scenarios").

Each history is a list of steps (``days N`` moves the pump's clock, ``fault``/``clear`` the
simulator's faults; anything else is a ``pumpctl`` command line); then ``set-rate`` is
proposed and the guard's verdict, rule and words are checked, with what reached the pump.
Morphine starts at 1.4 mg/day; the pump allows one increase per 24 h.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clinical.clinic import Clinic

pytestmark = pytest.mark.needs_simulator  # the pump's clock and faults

CASE = ("vas 4", "days 3", "set-rate 1.6", "days 1", "vas 6", "set-rate 1.8", "days 1", "vas 8")
CASE_CHECKED = (*CASE, "hours 1", "catheter-check")
CLIMB = ("vas 4", "days 1", "set-rate 1.6", "days 1", "vas 4.9", "set-rate 1.8", "days 1")
OVERRIDE = "--override-reason tolerance-confirmed --override-note 'seen: relieved for 2 days'"
LEAK = ("vas 4", "days 1", "set-rate 1.6", "days 1", "vas 6", "fault catheter leak")
LEAK_CHECKED = (*LEAK, "catheter-check")
ZICONOTIDE = ("--drug", "ziconotide")
BACLOFEN = ("--drug", "baclofen")
SYSTEMIC = ("opioids set oxycodone 240mg/day", "opioids set fentanyl-patch 200mcg/h")
PHONE = "vas --serial SIM000001 9 --note 'phone follow-up'"


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[str, ...]
    propose: str
    verdict: str  # allow, hold, block
    rule: str
    says: tuple[str, ...] = ()  # in the reason, the evidence or the warnings
    never: tuple[str, ...] = ()
    pump: tuple[str, ...] = ()  # pumpsim options


SCENARIOS = [
    Scenario(
        "the case, a VAS at every step: delivery is ruled out first",
        CASE,
        "2.0",
        "hold",
        "delivery-first",
        ("no patent catheter check", "VAS 4", "-> 8"),
        ("suspect",),
    ),
    Scenario(
        "the case, a VAS at every step, catheter patent: suspect OIH",
        CASE_CHECKED,
        "2.0",
        "block",
        "step-rise",
        ("opioid-induced hyperalgesia", "VAS 4 (2026-01-01 00:00) -> 6", "catheter check: PATENT"),
    ),
    Scenario(
        "the case as recorded (VAS 4 and 9 only, a hold overridden), catheter patent",
        (
            "vas 4",
            "days 3",
            "set-rate 1.6",
            "days 1",
            f"set-rate 1.8 {OVERRIDE}",
            "days 1",
            "vas 9",
            "hours 1",
            "catheter-check",
        ),
        "2.0",
        "block",
        "trajectory-rise",
        ("VAS 9 against a baseline of 4", "across 2 escalations", "OIH"),
    ),
    Scenario(
        "the case as recorded, no catheter check yet",
        (
            "vas 4",
            "days 3",
            "set-rate 1.6",
            "days 1",
            f"set-rate 1.8 {OVERRIDE}",
            "days 1",
            "vas 9",
        ),
        "2.0",
        "hold",
        "delivery-first",
        ("rule out a delivery failure",),
    ),
    Scenario(
        "tolerance: pain overcome by escalation",
        ("vas 7", "days 3", "set-rate 1.6", "days 1", "vas 6", "set-rate 1.8", "days 1", "vas 4.5"),
        "2.0",
        "allow",
        "no-pattern",
        never=("no benefit",),
    ),
    Scenario(
        "a cumulative rise split into sub-threshold steps, catheter patent",
        (*CLIMB, "vas 5.8", "hours 1", "catheter-check"),
        "2.0",
        "block",
        "trajectory-rise",
        ("VAS 5.8 against a baseline of 4", "+45%"),
    ),
    Scenario(
        "a sub-threshold climb, no catheter check",
        (*CLIMB, "vas 5.8"),
        "2.0",
        "hold",
        "delivery-first",
    ),
    Scenario(
        "pain pinned at 9-10 after increases: not relieved",
        (
            "vas 9",
            "days 1",
            "set-rate 1.6",
            "days 1",
            "vas 9",
            "set-rate 1.8",
            "days 1",
            "vas 9.5",
            "hours 1",
            "catheter-check",
        ),
        "2.0",
        "block",
        "not-relieved",
        ("not relieved",),
    ),
    Scenario(
        "a token decrease after a block does not reset it",
        (*CASE_CHECKED, "set-rate 1.79", "days 1", "vas 8"),
        "2.0",
        "block",
        "step-rise",
    ),
    Scenario(
        "a decrease of 10 % or more, reassessed, resets the pattern",
        (*CASE_CHECKED, "set-rate 1.6", "days 1", "vas 7"),
        "1.7",
        "allow",
        "no-pattern",
        ("episode began with the decrease",),
    ),
    Scenario(
        "a meaningful decrease not yet reassessed does not reset",
        (*CASE_CHECKED, "set-rate 1.6", "days 1"),
        "1.8",
        "block",
        "step-rise",
    ),
    Scenario(
        "four boluses during a block are counted and shown",
        (
            *CASE_CHECKED,
            "bolus 0.2",
            "hours 4",
            "bolus 0.2",
            "hours 4",
            "bolus 0.2",
            "hours 4",
            "bolus 0.2",
            "hours 1",
            "vas 9",
        ),
        "2.0",
        "block",
        "step-rise",
        ("4 boluses in this episode: 0.8 mg (+44% of the daily dose)",),
    ),
    Scenario(
        "a bolus beside an increase is an escalation too",
        ("vas 5", "days 1", "set-rate 1.6", "days 1", "vas 4", "bolus 0.2", "hours 4"),
        "1.8",
        "allow",
        "no-pattern",
        ("escalation by bolus is escalation too", "no benefit"),
    ),
    Scenario(
        "a catheter leak: rule out a delivery failure, never OIH",
        LEAK_CHECKED,
        "1.8",
        "hold",
        "delivery-first",
        ("CATHETER_LEAK active", "a delivery fault, not a sign of"),
        ("suspect",),
    ),
    Scenario(
        "delivery-fault-corrected cannot pass a leak still active",
        LEAK_CHECKED,
        "1.8 --override-reason delivery-fault-corrected --override-note 'catheter revised'",
        "hold",
        "delivery-first",
        ("CATHETER_LEAK active",),
    ),
    Scenario(
        "a leak repaired: return to the dose before the fault, not escalate",
        (*LEAK_CHECKED, "clear", "hours 1", "catheter-check"),
        "1.8",
        "hold",
        "delivery-first",
        ("explains the rise in pain", "return to the dose before the fault (1.4 mg/day)"),
    ),
    Scenario(
        "a leak repaired: delivery-fault-corrected does not escalate past the dose before it",
        (*LEAK_CHECKED, "clear", "hours 1", "catheter-check"),
        "1.8 --override-reason delivery-fault-corrected --override-note 'catheter revised'",
        "hold",
        "delivery-first",
    ),
    Scenario(
        "a catheter check finds an occlusion",
        (
            "vas 5",
            "days 1",
            "set-rate 1.6",
            "days 1",
            "vas 6",
            "fault catheter occluded",
            "catheter-check",
        ),
        "1.8",
        "hold",
        "delivery-first",
        ("OCCLUSION active", "catheter check: OCCLUDED"),
    ),
    Scenario(
        "a motor stall",
        ("vas 5", "days 1", "set-rate 1.6", "days 1", "vas 5", "fault motor_stall on"),
        "1.8",
        "hold",
        "delivery-first",
        ("MOTOR_STALL",),
    ),
    Scenario(
        "an unexplained refill discrepancy",
        ("vas 5", "days 1", "set-rate 1.6", "days 1", "vas 5", "refill-short"),
        "1.8",
        "hold",
        "delivery-first",
        ("unexplained refill discrepancy",),
    ),
    Scenario(
        "a refill discrepancy explained on acknowledging it",
        (
            "vas 5",
            "days 1",
            "set-rate 1.6",
            "days 1",
            "vas 5",
            "refill-short",
            "ack VOLUME_DISCREPANCY --discrepancy-reason 'needle re-sited, residual found'",
        ),
        "1.8",
        "allow",
        "no-pattern",
    ),
    Scenario(
        "a concentration change since the rise, before any check after it",
        (*CASE_CHECKED, "refill-conc 10 0.2", "days 1", "vas 9"),
        "2.0",
        "hold",
        "delivery-first",
        ("concentration changed",),
    ),
    Scenario(
        "a VAS typed a minute after the increase is too early to judge it",
        ("vas 4", "days 1", "set-rate 1.6", "hours 0.02", "vas 5", "days 1"),
        "1.8",
        "hold",
        "too-early",
        ("too early to judge", "morphine is judged 1 day after a change"),
    ),
    Scenario(
        "a score taken an hour after the increase, logged a day later, is too early",
        ("vas 4", "days 1", "set-rate 1.6", "days 1", "vas 5 --taken-at -23h"),
        "1.8",
        "hold",
        "too-early",
    ),
    Scenario(
        "a score taken a day and a half after the increase counts",
        ("vas 4", "days 1", "set-rate 1.6", "days 2", "vas 5 --taken-at -12h"),
        "1.8",
        "allow",
        "no-pattern",
        ("1.4 mg/day -> 1.6 mg/day: VAS 4 (2026-01-01 00:00) -> 5 (2026-01-03 12:00)",),
    ),
    Scenario(
        "a phone follow-up logged without the pump, catheter patent",
        (
            "vas 5",
            "days 1",
            "set-rate 1.6",
            "days 1",
            "vas 5",
            "set-rate 1.8",
            "days 1",
            "vas 5",
            PHONE,
            "hours 1",
            "catheter-check",
        ),
        "2.0",
        "block",
        "trajectory-rise",
        ("pain is VAS 9 against a baseline of 5",),
    ),
    Scenario(
        "no VAS since the last increase",
        ("vas 4", "days 1", "set-rate 1.6", "days 1"),
        "1.8",
        "hold",
        "no-reassessment",
    ),
    Scenario(
        "ziconotide: rising pain says so in its own terms",
        (
            "vas 5",
            "days 1",
            "set-rate 4.8",
            "days 3",
            "vas 6.5",
            "set-rate 7.2",
            "days 3",
            "vas 8",
            "hours 1",
            "catheter-check",
        ),
        "9.6",
        "block",
        "step-rise",
        ("ziconotide is not relieving the pain", "Neuropsychiatric status", "CK"),
        ("OIH", "hyperalgesia"),
        ZICONOTIDE,
    ),
    Scenario(
        "ziconotide: a VAS two days after a step is too early",
        ("vas 5", "days 1", "set-rate 4.8", "days 2", "vas 4", "days 1"),
        "7.2",
        "hold",
        "too-early",
        ("ziconotide is judged 3 days after a change",),
        pump=ZICONOTIDE,
    ),
    Scenario(
        "ziconotide: no benefit, allowed with its own warning",
        ("vas 6", "days 1", "set-rate 4.8", "days 3", "vas 6", "set-rate 7.2", "days 3", "vas 5.5"),
        "9.6",
        "allow",
        "no-pattern",
        ("no benefit from ziconotide", "neuropsychiatric status and CK"),
        ("OIH",),
        ZICONOTIDE,
    ),
    Scenario(
        "baclofen: the VAS is not its measure",
        ("vas 3", "days 1", "set-rate 130", "days 1", "vas 8", "set-rate 160", "days 1", "vas 9"),
        "200",
        "allow",
        "baclofen-not-vas",
        ("not baclofen's measure", "spasticity"),
        ("OIH",),
        BACLOFEN,
    ),
    Scenario(
        "baclofen: a leak still holds",
        ("vas 3", "days 1", "set-rate 130", "days 1", "fault catheter leak", "catheter-check"),
        "160",
        "hold",
        "delivery-first",
        ("CATHETER_LEAK active",),
        pump=BACLOFEN,
    ),
    Scenario(
        "a high systemic opioid load, not tapering",
        (*SYSTEMIC, "vas 6", "days 1", "set-rate 1.6", "days 1", "vas 5"),
        "1.8",
        "allow",
        "no-pattern",
        ("taper systemic opioids first: 840 MME/day", "PACC 2024", "never added"),
    ),
    Scenario(
        "a systemic load being tapered",
        (
            *SYSTEMIC,
            "days 1",
            "opioids set oxycodone 120mg/day",
            "vas 6",
            "days 1",
            "set-rate 1.6",
            "days 1",
            "vas 5",
        ),
        "1.8",
        "allow",
        "no-pattern",
        ("660 MME/day", "tapering"),
        ("taper systemic opioids first",),
    ),
    Scenario(
        "a decrease during a leak is allowed at once",
        LEAK_CHECKED,
        "1.4",
        "allow",
        "decrease-or-same",
    ),
]


def _text(decision: dict[str, object]) -> str:
    parts = [str(decision.get("reason", ""))]
    for key in ("evidence", "warnings"):
        items = decision.get(key) or []
        assert isinstance(items, list)
        parts += [str(item["text"]) for item in items]
    parts += [str(line) for line in decision.get("checklist") or []]  # type: ignore[attr-defined]
    return "\n".join(parts)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, clinic_for: Callable[..., Clinic]) -> None:
    clinic = clinic_for(*scenario.pump)
    for step in scenario.steps:
        clinic.step(step)
    dose_before = clinic.dose()
    code, decision, err = clinic.propose(scenario.propose)
    assert "Traceback" not in err
    text = _text(decision)
    assert (decision.get("guard"), decision.get("rule")) == (scenario.verdict, scenario.rule), (
        text,
        err,
    )
    if scenario.verdict == "allow":
        assert code == 0, err
        assert clinic.dose() != dose_before
    else:
        assert code == 1
        assert err.startswith(f"pumpctl: guard {scenario.verdict} ({scenario.rule})")
        assert len(err.splitlines()) == 1
        assert clinic.dose() == dose_before  # nothing reached the pump
    for needle in scenario.says:
        assert needle in text, (needle, text)
    for needle in scenario.never:
        assert needle not in text, (needle, text)


def test_there_are_at_least_25_histories() -> None:
    assert len(SCENARIOS) >= 25


def documented_scenarios() -> list[tuple[str, str, str]]:
    """(drug, verdict, rule) of each numbered row of docs/guard.md's first scenario table."""
    doc = (Path(__file__).parents[2] / "docs" / "guard.md").read_text(encoding="utf-8")
    table = doc[doc.index("## Scenarios") :].split("\n\n`tests/clinical/test_review_cases.py`")[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            rows.append((cells[2], cells[3].lower(), cells[4].strip("`")))
    return rows


def test_the_documented_table_is_the_suite() -> None:
    tested = [(s.pump[1] if s.pump else "morphine", s.verdict, s.rule) for s in SCENARIOS]
    assert documented_scenarios() == tested
