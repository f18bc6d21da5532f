"""The patient's refused demand boluses as the guard's escalation evidence: shown with the
episode, remarked on beside an allowed increase, and never a verdict of their own (delivery
first, then the pain pattern, decide as before)."""

from __future__ import annotations

from dataclasses import replace

from pumpctl.clinical.guard import DemandRefusal, GuardDecision, Rule, Verdict, evaluate
from tests.test_guard import Course, checked_case, mg, texts


def with_refusals(course: Course, proposed_mg: float, *reasons: str) -> GuardDecision:
    """``course`` with the patient refused once per reason, an hour apart, just now."""
    refusals = tuple(
        DemandRefusal(course.index + 1 + i, course.time_s - 3600 * (len(reasons) - i), reason)
        for i, reason in enumerate(reasons)
    )
    inputs = replace(course.inputs(mg(proposed_mg)), demand_refusals=refusals)
    return evaluate(inputs)


def allowed_course() -> Course:
    return Course().vas(5).later(1).to(1.6).later(1).vas(4)


def test_refused_demand_boluses_are_remarked_beside_an_allowed_increase() -> None:
    decision = with_refusals(allowed_course(), 1.8, "lockout", "count per day")
    assert decision.verdict is Verdict.ALLOW
    assert [w.rule for w in decision.warnings] == [Rule.DEMAND_REFUSED]
    warning = decision.warnings[0].text
    assert "asked for 2 demand bolus(es) the pump refused" in warning
    assert "does not tell hyperalgesia from tolerance" in warning
    shown = texts(decision)
    assert "demand bolus asked for and refused (lockout)" in shown
    assert "demand bolus asked for and refused (count per day)" in shown


def test_one_refusal_is_shown_but_not_remarked() -> None:
    decision = with_refusals(allowed_course(), 1.8, "lockout")
    assert decision.warnings == ()
    assert "demand bolus asked for and refused (lockout)" in texts(decision)


def test_refusals_before_the_episode_are_not_its_evidence() -> None:
    course = allowed_course()
    early = DemandRefusal(0, -3600, "lockout")  # before the baseline VAS, at 0 s
    inputs = replace(course.inputs(mg(1.8)), demand_refusals=(early, early))
    assert evaluate(inputs).warnings == ()


def test_the_oih_pattern_still_blocks_with_the_demand_evidence_beside_it() -> None:
    decision = with_refusals(checked_case(), 2.0, "lockout", "lockout", "lockout")
    assert (decision.verdict, decision.rule) == (Verdict.BLOCK, Rule.STEP_RISE)
    assert "opioid-induced hyperalgesia" in decision.reason
    assert texts(decision).count("demand bolus asked for and refused (lockout)") == 3


def test_a_delivery_failure_is_still_ruled_out_first() -> None:
    course = allowed_course().later(0.1).alarm("OCCLUSION")
    decision = with_refusals(course, 1.8, "lockout", "lockout")
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.DELIVERY_FIRST)
    assert "OCCLUSION" in decision.reason
