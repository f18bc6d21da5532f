"""The titration guard, rule by rule, and its properties (docs/guard.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pumpctl.clinical.guard import (
    DRUG_PROFILES,
    OIH_CHECKLIST,
    OIH_OPTIONS,
    BolusGiven,
    DeliveryEvent,
    DoseChange,
    DrugClass,
    DrugProfile,
    GuardConfig,
    GuardDecision,
    GuardInputs,
    OverrideReason,
    Reading,
    Rule,
    Verdict,
    drug_profile,
    evaluate,
    override_refusal,
)
from pumpctl.clinical.scores import ScoreError, format_vas, parse_vas
from pumpctl.clinical.systemic import SystemicLoad, SystemicOpioid
from pumpctl.clinical.taken_at import TakenAtError, parse_taken_at

DAY = 86_400
MG = 1_000_000  # ng


def mg(value: float) -> int:
    return round(value * MG)


@dataclass
class Course:
    """A titration as the pump and the record see it: events carry the pump's index,
    readings the last event index seen when they were logged."""

    dose: int = mg(1.4)
    time_s: int = 0
    index: int = 0  # the pump's last event (0: BOOT)
    changes: list[DoseChange] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    boluses: list[BolusGiven] = field(default_factory=list)
    events: list[DeliveryEvent] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    drug: DrugProfile = DRUG_PROFILES["morphine"]
    systemic: SystemicLoad | None = None

    def vas(self, score: float, *, taken_ago_s: int = 0, offline: bool = False) -> Course:
        seen = None if offline else self.index
        logged = self.time_s if taken_ago_s else None
        self.readings.append(Reading(self.time_s - taken_ago_s, round(score * 10), seen, logged))
        return self

    def to(self, dose_mg: float) -> Course:
        self.index += 1
        new = mg(dose_mg)
        self.changes.append(DoseChange(self.index, self.time_s, self.dose, new))
        self.dose = new
        return self

    def later(self, days: float = 1) -> Course:
        self.time_s += round(days * DAY)
        return self

    def bolus(self, dose_mg: float) -> Course:
        self.index += 1
        self.boluses.append(BolusGiven(self.index, self.time_s, mg(dose_mg)))
        return self

    def event(self, kind: str, name: str) -> Course:
        self.index += 1
        self.events.append(DeliveryEvent(self.index, self.time_s, kind, name))
        return self

    def check(self, verdict: str = "PATENT") -> Course:
        return self.event("catheter-check", verdict)

    def alarm(self, name: str) -> Course:
        self.alarms.append(name)
        return self.event("alarm", name)

    def inputs(self, proposed: int) -> GuardInputs:
        return GuardInputs(
            self.dose,
            proposed,
            tuple(self.changes),
            tuple(self.readings),
            self.drug,
            "mcg" if self.drug.drug_class is not DrugClass.OPIOID else "mg",
            self.time_s,
            tuple(self.boluses),
            tuple(self.alarms),
            tuple(self.events),
            self.systemic,
        )

    def propose(self, dose_mg: float, config: GuardConfig | None = None) -> GuardDecision:
        return evaluate(self.inputs(mg(dose_mg)), config)


def published_case() -> Course:
    """The case report up to the third increase: 1.4 (VAS 4) -> 1.6 (VAS 6) -> 1.8 (VAS 8)."""
    return Course().vas(4).later(3).to(1.6).later(1).vas(6).to(1.8).later(1).vas(8)


def checked_case() -> Course:
    return published_case().later(0.1).check()


def texts(decision: GuardDecision) -> str:
    return "\n".join([decision.reason, *decision.evidence_lines(), *decision.warning_lines()])


# --- the published case ------------------------------------------------------------------


def test_the_case_asks_first_to_rule_out_a_delivery_failure() -> None:
    decision = published_case().propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.DELIVERY_FIRST)
    assert "no patent catheter check" in decision.reason
    assert "suspect" not in decision.reason
    assert not decision.overridable  # a catheter check, not a reason, clears it
    assert override_refusal(decision, OverrideReason.DISEASE_PROGRESSION, mg(2.0), "") is not None


def test_the_case_with_a_patent_catheter_blocks_2_0_as_oih() -> None:
    decision = checked_case().propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.BLOCK, Rule.STEP_RISE)
    assert "opioid-induced hyperalgesia (OIH)" in decision.reason
    steps = [e for e in decision.evidence if e.kind == "increase"]
    assert [e.text for e in steps] == [
        "1.4 mg/day -> 1.6 mg/day: VAS 4 (1970-01-01 00:00) -> 6 (1970-01-05 00:00)",
        "1.6 mg/day -> 1.8 mg/day: VAS 6 (1970-01-05 00:00) -> 8 (1970-01-06 00:00)",
    ]
    assert any(line.endswith("catheter check: PATENT") for line in decision.evidence_lines())
    assert decision.checklist == OIH_CHECKLIST
    assert decision.options == OIH_OPTIONS
    assert decision.overridable
    assert override_refusal(decision, OverrideReason.DISEASE_PROGRESSION, mg(2.0), "") is None


@pytest.mark.parametrize("dose", [1.6, 1.4, 0.2, 1.8])
def test_a_decrease_or_the_same_dose_is_always_allowed(dose: float) -> None:
    course = published_case().alarm("CATHETER_LEAK").check("LEAK")
    decision = course.propose(dose)
    assert (decision.verdict, decision.rule) == (Verdict.ALLOW, Rule.DECREASE)


def test_tolerance_pain_falling_after_increases_may_keep_escalating() -> None:
    course = Course().vas(7).later(3).to(1.6).later(1).vas(6).to(1.8).later(1).vas(4.5)
    decision = course.propose(2.0)
    assert (decision.verdict, decision.rule, decision.warnings) == (
        Verdict.ALLOW,
        Rule.NO_PATTERN,
        (),
    )


# --- what resets the pattern -------------------------------------------------------------


def test_a_token_decrease_does_not_reset_the_pattern() -> None:
    course = checked_case().to(1.79).later(1).vas(8)
    assert course.propose(2.0).rule is Rule.STEP_RISE


def test_a_decrease_of_ten_percent_reassessed_resets_the_pattern() -> None:
    course = checked_case().to(1.62).later(1).vas(7)
    decision = course.propose(1.7)
    assert (decision.verdict, decision.rule) == (Verdict.ALLOW, Rule.NO_PATTERN)
    assert "episode began with the decrease" in decision.evidence_lines()[0]
    # Titration restarts below the dose the pattern was found at, not at it.
    assert course.propose(1.8).rule is Rule.STEP_RISE


def test_a_meaningful_decrease_not_reassessed_does_not_reset() -> None:
    assert checked_case().to(1.6).later(1).propose(1.8).rule is Rule.STEP_RISE


def test_token_decreases_that_add_up_to_ten_percent_below_the_peak_reset() -> None:
    course = checked_case().to(1.75).to(1.7).to(1.62).later(1).vas(7)
    assert course.propose(1.7).verdict is Verdict.ALLOW


# --- time: a reading too soon after a change is not its response --------------------------


def test_no_vas_since_the_last_increase_holds() -> None:
    decision = Course().vas(5).later(3).to(1.6).later(1).propose(1.8)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.NO_REASSESSMENT)
    assert decision.checklist == ()


def test_a_vas_a_minute_after_an_increase_is_too_early() -> None:
    course = Course().vas(4).later(1).to(1.6).later(60 / DAY).vas(5).later(1)
    decision = course.propose(1.8)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.TOO_EARLY)
    assert "taken 1 min after it" in decision.reason
    assert "morphine is judged 1 day after a change" in decision.reason


def test_the_assessment_interval_is_the_drugs() -> None:
    course = Course(drug=DRUG_PROFILES["ziconotide"]).vas(5).later(1).to(1.6).later(2).vas(4)
    assert course.propose(1.8).rule is Rule.TOO_EARLY
    course.later(1).vas(4)
    assert course.propose(1.8).verdict is Verdict.ALLOW


def test_a_backdated_reading_is_placed_when_it_was_taken() -> None:
    too_early = Course().vas(4).later(1).to(1.6).later(1).vas(5, taken_ago_s=23 * 3600)
    assert too_early.propose(1.8).rule is Rule.TOO_EARLY
    counts = Course().vas(4).later(1).to(1.6).later(2).vas(5, taken_ago_s=12 * 3600)
    assert counts.propose(1.8).verdict is Verdict.ALLOW


def test_a_score_taken_before_a_change_but_logged_after_is_before_it() -> None:
    course = Course().vas(4).later(1).to(1.6).later(1).vas(5).to(1.8).later(2)
    course.vas(9, taken_ago_s=2 * DAY + 60)  # taken before the 1.8 step
    decision = course.propose(2.0)
    assert decision.rule is Rule.NO_REASSESSMENT


def test_reading_order_by_event_index_and_by_time() -> None:
    change = DoseChange(index=5, time_s=100, old_ng_per_day=1, new_ng_per_day=2)
    assert Reading(0, 10, events_seen=5).is_after(change)  # the pump's sequence wins
    assert not Reading(200, 10, events_seen=4).is_after(change)
    assert Reading(101, 10).is_after(change)  # offline: by time
    assert not Reading(100, 10).is_after(change)
    assert not Reading(99, 10, events_seen=5, logged_s=300).is_after(change)  # backdated
    assert not Reading(500, 10, events_seen=4, logged_s=600).is_after(change)  # not yet seen


# --- the pain pattern ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "verdict"),
    [(5.0, Verdict.BLOCK), (4.9, Verdict.ALLOW), (7.5, Verdict.BLOCK), (4.0, Verdict.ALLOW)],
)
def test_step_rule_a_rise_of_one_point_after_each_of_two_increases(
    after: float, verdict: Verdict
) -> None:
    # 3 -> 4 -> after: the trajectory (2 points or 30 %) is not met below 4.0 + 1
    course = Course().vas(3).later(1).to(1.6).later(1).vas(4).to(1.8).later(1).vas(after)
    decision = course.later(0.1).check().propose(2.0, GuardConfig(trajectory_pct=100))
    assert decision.verdict is verdict


def test_trajectory_rule_catches_a_climb_in_sub_threshold_steps() -> None:
    course = Course().vas(4).later(1).to(1.6).later(1).vas(4.9).to(1.8).later(1).vas(5.8)
    decision = course.later(0.1).check().propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.BLOCK, Rule.TRAJECTORY_RISE)
    assert "VAS 5.8 against a baseline of 4 (+1.8, +45%) across 2 escalations" in decision.reason


def test_trajectory_by_points_with_a_high_baseline() -> None:
    # 7 -> 8.9: +1.9 is 27 %, neither 2 points nor 30 %
    course = Course().vas(7).later(1).to(1.6).later(1).vas(7.9).to(1.8).later(1).vas(8.9)
    assert course.later(0.1).check().propose(2.0).verdict is Verdict.ALLOW
    course = Course().vas(6).later(1).to(1.6).later(1).vas(6.9).to(1.8).later(1).vas(8)
    assert course.later(0.1).check().propose(2.0).rule is Rule.TRAJECTORY_RISE


def test_pain_pinned_at_the_ceiling_is_not_relieved() -> None:
    course = Course().vas(9).later(1).to(1.6).later(1).vas(9).to(1.8).later(1).vas(9.5)
    decision = course.later(0.1).check().propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.BLOCK, Rule.NOT_RELIEVED)


def test_no_benefit_after_two_increases_warns_and_allows() -> None:
    course = Course().vas(6).later(1).to(1.6).later(1).vas(6).to(1.8).later(1).vas(5)
    decision = course.propose(2.0)
    assert decision.verdict is Verdict.ALLOW
    assert [w.rule for w in decision.warnings] == [Rule.NO_BENEFIT]
    assert "Colvin" in decision.warnings[0].text


def test_boluses_count_as_escalations_and_are_shown() -> None:
    course = Course().vas(4).later(1).to(1.6).later(1).vas(5).bolus(0.2).later(0.2).vas(5.5)
    decision = course.later(1).check().propose(1.8)  # one increase, one bolus: +1.5 (37 %)
    assert decision.rule is Rule.TRAJECTORY_RISE
    assert "1 bolus in this episode: 0.2 mg (+12% of the daily dose)" in texts(decision)
    course = checked_case().later(0.1)
    for _ in range(4):
        course.bolus(0.2).later(4 / 24)
    decision = course.vas(9).propose(2.0)
    assert "4 boluses in this episode: 0.8 mg (+44% of the daily dose)" in texts(decision)


def test_a_bolus_beside_an_allowed_increase_is_remarked() -> None:
    course = Course().vas(5).later(1).to(1.6).later(1).vas(3).bolus(0.2)
    decision = course.propose(1.8)
    assert decision.verdict is Verdict.ALLOW
    assert Rule.BOLUS_ESCALATION in [w.rule for w in decision.warnings]


# --- delivery first ------------------------------------------------------------------------


@pytest.mark.parametrize("alarm", ["OCCLUSION", "CATHETER_LEAK", "MOTOR_STALL"])
def test_a_delivery_alarm_holds_any_increase_and_cannot_be_overridden(alarm: str) -> None:
    decision = Course().vas(5).alarm(alarm).propose(1.6)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.DELIVERY_FIRST)
    assert f"{alarm} active" in decision.reason
    assert "suspect" not in decision.reason
    refusal = override_refusal(decision, OverrideReason.DELIVERY_FAULT_CORRECTED, mg(1.6), "")
    assert refusal is not None
    assert "cannot be overridden" in refusal


def test_an_unexplained_refill_discrepancy_holds() -> None:
    course = Course().vas(5)
    course.alarms.append("VOLUME_DISCREPANCY")
    assert "refill discrepancy" in course.propose(1.6).reason


def test_the_last_catheter_check_not_patent_holds() -> None:
    decision = Course().vas(5).check("PARTIAL_OCCLUSION").propose(1.6)
    assert "found PARTIAL_OCCLUSION" in decision.reason
    assert Course().vas(5).check("LEAK").check().propose(1.6).verdict is Verdict.ALLOW


def test_a_concentration_change_since_the_rise_needs_a_patent_check_after_it() -> None:
    course = checked_case().event("concentration-change", "REFILL").later(1).vas(9)
    decision = course.propose(2.0)
    assert (decision.rule, "concentration changed" in decision.reason) == (
        Rule.DELIVERY_FIRST,
        True,
    )
    assert course.check().propose(2.0).rule is Rule.STEP_RISE


def test_a_corrected_fault_returns_to_the_dose_before_it_not_above() -> None:
    course = Course().vas(4).later(1).to(1.6).later(1).vas(6).alarm("CATHETER_LEAK")
    course.alarms.clear()  # repaired; the patent check cleared the alarm
    decision = course.later(0.1).check().propose(1.8)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.DELIVERY_FIRST)
    assert "return to the dose before the fault (1.4 mg/day)" in decision.reason
    assert decision.dose_before_fault_ng_per_day == mg(1.4)
    fixed = OverrideReason.DELIVERY_FAULT_CORRECTED
    refusal = override_refusal(decision, fixed, mg(1.8), "1.4 mg/day")
    assert refusal is not None
    assert "not to escalate" in refusal
    assert override_refusal(decision, fixed, mg(1.4), "1.4 mg/day") is None
    assert override_refusal(decision, OverrideReason.NEW_PAIN_SOURCE, mg(1.8), "") is None


# --- drug class ----------------------------------------------------------------------------


def test_ziconotide_speaks_its_own_terms() -> None:
    course = Course(dose=mg(2.4), drug=DRUG_PROFILES["ziconotide"])
    course.vas(5).later(1).to(4.8).later(3).vas(6.5).to(7.2).later(3).vas(8).later(0.1).check()
    decision = course.propose(9.6)
    assert decision.verdict is Verdict.BLOCK
    words = texts(decision) + " ".join(decision.checklist + decision.options)
    assert "OIH" not in words
    assert "hyperalgesia" not in words
    assert "Neuropsychiatric" in words
    assert "CK" in words


def test_baclofen_is_not_judged_by_the_vas_but_delivery_still_holds() -> None:
    course = Course(dose=mg(0.1), drug=DRUG_PROFILES["baclofen"]).vas(3).later(1).to(0.13)
    course.later(1).vas(9).to(0.16).later(1).vas(10)
    decision = course.propose(0.2)
    assert (decision.verdict, decision.rule) == (Verdict.ALLOW, Rule.BACLOFEN_NOT_VAS)
    assert "not baclofen's measure" in decision.reason
    assert course.alarm("CATHETER_LEAK").propose(0.2).rule is Rule.DELIVERY_FIRST


def test_drug_profiles_by_name_else_by_withdrawal_risk() -> None:
    assert drug_profile("Morphine").assessment_interval_s == DAY
    assert drug_profile("ziconotide").assessment_interval_s == 3 * DAY
    assert drug_profile("sufentanil", "opioid").drug_class is DrugClass.OPIOID
    assert drug_profile("clonidine", "none").drug_class is DrugClass.OTHER
    assert all("verify" in p.source or "Saulino" in p.source for p in DRUG_PROFILES.values())


# --- systemic opioids ----------------------------------------------------------------------


def load(total: int, *, tapering: bool = False) -> SystemicLoad:
    opioid = SystemicOpioid("oxycodone", f"{total * 2 // 3} mg/day", Fraction(total), 0)
    return SystemicLoad((opioid,), Fraction(total), tapering, ())


def allowed_course(systemic: SystemicLoad | None) -> Course:
    course = Course(systemic=systemic)
    return course.vas(6).later(1).to(1.6).later(1).vas(4)


def test_a_high_systemic_load_not_tapering_warns_taper_first() -> None:
    decision = allowed_course(load(840)).propose(1.8)
    assert decision.verdict is Verdict.ALLOW
    (warning,) = decision.warnings
    assert warning.rule is Rule.TAPER_SYSTEMIC
    assert "taper systemic opioids first: 840 MME/day" in warning.text
    assert "beside IT 1.6 mg/day" in warning.text
    side_by_side = [e for e in decision.evidence if e.kind == "systemic"]
    assert "never added" in side_by_side[0].text


@pytest.mark.parametrize(
    "systemic", [load(840, tapering=True), load(60), None], ids=["tapering", "low", "none"]
)
def test_no_taper_warning_when_tapering_low_or_not_recorded(
    systemic: SystemicLoad | None,
) -> None:
    assert allowed_course(systemic).propose(1.8).warnings == ()


def test_no_taper_warning_for_a_non_opioid_pump() -> None:
    course = Course(dose=mg(2.4), drug=DRUG_PROFILES["ziconotide"], systemic=load(840))
    course.vas(5).later(1).to(4.8).later(3).vas(3)
    assert course.propose(7.2).warnings == ()


# --- properties ----------------------------------------------------------------------------

Step = tuple[str, int]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("vas"), st.integers(0, 100)),
        st.tuples(st.just("change"), st.integers(-5, 5)),  # in 0.1 mg/day
        st.tuples(st.just("later"), st.one_of(st.just(DAY), st.integers(1, 2 * DAY))),
        st.tuples(st.just("bolus"), st.integers(1, 2)),  # in 0.1 mg
        st.tuples(st.just("check"), st.integers(0, 3)),
        st.tuples(st.just("alarm"), st.integers(0, 2)),
        st.tuples(st.just("backdated"), st.integers(0, 100)),
        st.tuples(st.just("interruption"), st.integers(1, 2 * DAY)),
    ),
    max_size=30,
)
CONFIGS = st.builds(GuardConfig, st.integers(1, 30), st.integers(1, 4))
VERDICTS = ("PATENT", "PARTIAL_OCCLUSION", "OCCLUDED", "LEAK")
ALARMS = ("OCCLUSION", "CATHETER_LEAK", "MOTOR_STALL")


def build(steps: list[Step]) -> Course:
    course = Course()
    for kind, value in steps:
        if kind == "vas":
            course.vas(value / 10)
        elif kind == "backdated":
            course.vas(value / 10, taken_ago_s=min(course.time_s, 7 * 3600))
        elif kind == "change":
            course.to(max(0.1, round(course.dose / MG + value / 10, 1)))
        elif kind == "bolus":
            course.bolus(value / 10)
        elif kind == "check":
            course.check(VERDICTS[value])
        elif kind == "alarm":
            course.alarm(ALARMS[value])
        elif kind == "interruption":
            course.event("stopped", "STOPPED").later(value / DAY).event("resumed", "RESUMED")
        else:
            course.later(value / DAY)
    return course


@given(STEPS, st.integers(0, 30), CONFIGS)
def test_property_a_decrease_or_the_same_dose_is_never_blocked(
    steps: list[Step], down: int, config: GuardConfig
) -> None:
    course = build(steps)
    proposed = max(0, course.dose - down * 100_000)
    assert evaluate(course.inputs(proposed), config).verdict is Verdict.ALLOW


FALLING: list[Step] = [("vas", 60), ("later", DAY), ("change", 2), ("later", DAY), ("vas", 40)]
FALLING += [("change", 2), ("later", DAY), ("vas", 35)]


@given(STEPS, st.integers(1, 10), st.integers(0, 100), CONFIGS)
@example(FALLING, 1, 15, GuardConfig())
@settings(max_examples=300)
def test_property_a_reading_that_lowers_pain_never_turns_allow_into_block(
    steps: list[Step], up: int, lower_by: int, config: GuardConfig
) -> None:
    # Each history ends with a patent catheter check (after the new reading too), so the
    # pain rules, not delivery first, decide.
    without, with_reading = build(steps), build(steps)
    proposed = without.dose + up * 100_000
    if evaluate(without.check().inputs(proposed), config).verdict is not Verdict.ALLOW:
        return
    last = with_reading.readings[-1].score_tenths if with_reading.readings else 100
    with_reading.vas(max(0, last - lower_by) / 10).check()
    assert evaluate(with_reading.inputs(proposed), config).verdict is not Verdict.BLOCK


@given(STEPS, st.integers(1, 10), CONFIGS)
def test_property_a_patent_catheter_check_never_stops_an_allowed_increase(
    steps: list[Step], up: int, config: GuardConfig
) -> None:
    course = build(steps)
    proposed = course.dose + up * 100_000
    if evaluate(course.inputs(proposed), config).verdict is Verdict.ALLOW:
        assert evaluate(course.check().inputs(proposed), config).verdict is Verdict.ALLOW


@given(STEPS, st.integers(1, 10), CONFIGS, st.randoms(use_true_random=False))
def test_property_the_order_changes_arrive_in_does_not_matter(
    steps: list[Step], up: int, config: GuardConfig, rng: random.Random
) -> None:
    course = build(steps)
    proposed = course.dose + up * 100_000
    before = evaluate(course.inputs(proposed), config)
    rng.shuffle(course.changes)
    rng.shuffle(course.events)
    rng.shuffle(course.boluses)
    assert evaluate(course.inputs(proposed), config) == before


# --- parse_vas and taken-at ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tenths"),
    [("0", 0), ("10", 100), ("6.5", 65), (" 7 ", 70), ("10.0", 100), ("0.1", 1), ("4", 40)],
)
def test_parse_vas_accepts_0_to_10_with_at_most_one_decimal(text: str, tenths: int) -> None:
    assert parse_vas(text) == tenths


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("11", "outside 0-10"),
        ("-1", "outside 0-10"),
        ("10.1", "outside 0-10"),
        ("6.55", "more than one decimal"),
        ("6.50", "more than one decimal"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        ("inf", "not a number"),
        ("", "not a number"),
        ("1e1", "not a number"),  # Decimal() would read 10
        ("1_0", "not a number"),  # Decimal() would read 10
        ("\uff15", "not a number"),  # fullwidth 5: Decimal() would read 5
        ("+5", "not a number"),
        (".5", "not a number"),
        ("6,5", "not a number"),
    ],
)
def test_parse_vas_refuses_anything_else_naming_the_value(text: str, why: str) -> None:
    with pytest.raises(ScoreError) as error:
        parse_vas(text)
    message = str(error.value)
    assert repr(text) in message
    assert why in message
    assert "\n" not in message


@given(st.integers(0, 100))
def test_property_parse_and_format_vas_round_trip(tenths: int) -> None:
    assert parse_vas(format_vas(tenths)) == tenths


NOW = 1_767_571_200  # 2026-01-05 00:00 UTC


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("-2h", NOW - 7200),
        ("-1d6h", NOW - 30 * 3600),
        ("-30m", NOW - 1800),
        ("2026-01-04T09:30", NOW - 14.5 * 3600),
        ("2026-01-04T09:30Z", NOW - 14.5 * 3600),
        ("2026-01-04T10:30+01:00", NOW - 14.5 * 3600),
    ],
)
def test_taken_at_iso_or_relative(text: str, when: float) -> None:
    assert parse_taken_at(text, NOW) == when


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("+2h", "neither"),
        ("yesterday", "neither"),
        ("2026-01-06T00:00", "in the future"),
        ("-400d", "more than a year"),
    ],
)
def test_taken_at_refuses_naming_the_value(text: str, why: str) -> None:
    with pytest.raises(TakenAtError) as error:
        parse_taken_at(text, NOW)
    assert repr(text) in str(error.value)
    assert why in str(error.value)


# --- delivery stopped, and the words of the ceiling ----------------------------------------


@pytest.mark.parametrize("alarm", ["PUMP_STOPPED", "EMPTY_RESERVOIR"])
def test_an_increase_while_nothing_is_delivered_holds_and_cannot_be_overridden(
    alarm: str,
) -> None:
    decision = checked_case().alarm(alarm).propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.DELIVERY_FIRST)
    assert not decision.overridable
    assert decision.next_action == "resume"
    assert "opioid withdrawal" in decision.reason
    assert "suspect" not in texts(decision)


def test_a_vas_soon_after_delivery_resumed_does_not_judge_the_dose() -> None:
    course = Course().vas(4).later(1).to(1.6).later(1).vas(6).to(1.8)
    course.event("stopped", "STOPPED").later(1).event("resumed", "RESUMED").later(0.1)
    decision = course.vas(3).check().propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.HOLD, Rule.DELIVERY_FIRST)
    assert "log a VAS from 1970-01-05 00:00" in decision.reason
    # A day after it resumed, the pain judges the dose again.
    assert course.later(1).vas(8).check().propose(2.0).rule is Rule.STEP_RISE


def test_pain_still_at_the_ceiling_is_not_relieved_not_a_rise() -> None:
    course = Course().vas(9.5).later(3).to(1.6).later(4).to(1.8).later(1).vas(9).check()
    decision = course.propose(2.0)
    assert (decision.verdict, decision.rule) == (Verdict.BLOCK, Rule.NOT_RELIEVED)
    assert "still VAS 9 (baseline 9.5)" in decision.reason
    assert "+0" not in decision.reason


def test_delivery_checklist_speaks_of_what_loss_of_the_drug_does() -> None:
    for name, says in [
        ("morphine", "sweating"),
        ("ziconotide", "no withdrawal syndrome"),
        ("baclofen", "rebound spasticity"),
    ]:
        course = Course(drug=DRUG_PROFILES[name]).vas(5).later(3).to(1.6).later(3).vas(5)
        decision = course.alarm("CATHETER_LEAK").propose(1.8)
        assert decision.rule is Rule.DELIVERY_FIRST
        assert says in decision.checklist[1], (name, decision.checklist)


def test_a_vas_logged_before_delivery_stopped_is_not_taken_during_it() -> None:
    # The same second on the pump's clock: the pump's order of events decides.
    course = Course().vas(4).later(1).to(1.6).later(1).vas(5)
    course.event("stopped", "STOPPED").event("resumed", "RESUMED")
    decision = course.propose(1.8)
    assert (decision.verdict, decision.rule) == (Verdict.ALLOW, Rule.NO_PATTERN)


@pytest.mark.parametrize(
    ("top", "verdict", "rule"),
    [(8.9, Verdict.ALLOW, Rule.NO_PATTERN), (9.0, Verdict.BLOCK, Rule.NOT_RELIEVED)],
)
def test_the_ceiling_begins_at_nine(top: float, verdict: Verdict, rule: Rule) -> None:
    course = Course().vas(8).later(1).to(1.6).later(1).vas(top).to(1.8).later(1).vas(top)
    decision = course.check().propose(2.0)
    assert (decision.verdict, decision.rule) == (verdict, rule)
    if verdict is Verdict.ALLOW:  # just under it: shown, not silent
        assert [w.rule for w in decision.warnings] == [Rule.NO_BENEFIT]


@pytest.mark.parametrize(("down_to", "resets"), [(1.62, True), (1.63, False)])
def test_a_reset_needs_a_decrease_to_ninety_percent_of_the_peak(
    down_to: float, resets: bool
) -> None:
    course = checked_case().to(down_to).later(1).vas(7)
    decision = course.propose(1.7)
    assert (decision.rule is Rule.NO_PATTERN) is resets
    assert (decision.rule is Rule.STEP_RISE) is not resets
