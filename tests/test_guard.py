"""The titration guard, branch by branch, and its properties (docs/guard.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpctl.clinical.guard import (
    OIH_CHECKLIST,
    OPTIONS,
    DoseChange,
    GuardConfig,
    GuardDecision,
    Reading,
    Verdict,
    evaluate,
)
from pumpctl.clinical.scores import ScoreError, format_vas, parse_vas

DAY = 86_400
MG = 1_000_000  # ng


def mg(value: float) -> int:
    return round(value * MG)


def fmt(ng: int) -> str:
    return f"{ng / MG:g} mg/day"


@dataclass
class Course:
    """A titration as the pump and the record see it: changes carry the pump's event index,
    readings the last event index seen when they were logged."""

    dose: int = mg(1.4)
    time_s: int = 0
    index: int = 0  # the pump's last event (0: BOOT)
    changes: list[DoseChange] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)

    def vas(self, score: float, *, by_time: bool = False) -> Course:
        seen = None if by_time else self.index
        self.readings.append(Reading(self.time_s, round(score * 10), seen))
        return self

    def to(self, dose_mg: float) -> Course:
        self.index += 1
        new = mg(dose_mg)
        self.changes.append(DoseChange(self.index, self.time_s, self.dose, new))
        self.dose = new
        return self

    def other_event(self) -> Course:
        """An event that is not a dose change (an alarm, a bolus) moves the index only."""
        self.index += 1
        return self

    def later(self, days: float = 1) -> Course:
        self.time_s += round(days * DAY)
        return self

    def propose(self, dose_mg: float, config: GuardConfig | None = None) -> GuardDecision:
        return evaluate(
            self.dose, mg(dose_mg), self.changes, self.readings, config or GuardConfig(), fmt
        )


def published_case() -> Course:
    """The case report up to the third increase: 1.4 (VAS 4) -> 1.6 (VAS 6) -> 1.8 (VAS 8)."""
    return Course().vas(4).later(3).to(1.6).later(1).vas(6).to(1.8).later(1).vas(8)


# --- the published case and its contrast -------------------------------------------------


def test_the_published_case_blocks_the_increase_to_2_0_and_names_oih() -> None:
    decision = published_case().propose(2.0)
    assert decision.verdict is Verdict.BLOCK
    assert not decision.allowed
    assert "opioid-induced hyperalgesia (OIH)" in decision.reason
    assert decision.evidence_lines() == [
        "1.4 mg/day -> 1.6 mg/day: VAS 4 -> 6",
        "1.6 mg/day -> 1.8 mg/day: VAS 6 -> 8",
    ]
    assert [e.raised_pain_by for e in decision.evidence] == [20, 20]
    assert decision.checklist == OIH_CHECKLIST
    assert decision.options == OPTIONS


def test_a_block_lists_the_oih_criteria_and_the_options() -> None:
    decision = published_case().propose(2.0)
    checklist = " ".join(decision.checklist).lower()
    for criterion in ("disease progression", "withdrawal", "catheter", "tolerance", "reduction"):
        assert criterion in checklist
    options = " ".join(decision.options).lower()
    for option in ("reduce", "rotate", "adjunct"):
        assert option in options
    # the guard tells how to reduce, never reduces: an abrupt cut raises pain itself
    assert "abrupt cut" in options


def test_the_published_case_still_accepts_a_decrease_and_a_hold() -> None:
    course = published_case()
    for dose in (1.6, 1.4, 0.2, 1.8):
        decision = course.propose(dose)
        assert decision.verdict is Verdict.ALLOW
        assert decision.reason == "decreases and holds are always allowed"


def test_tolerance_pain_falling_after_increases_may_keep_escalating() -> None:
    course = Course().vas(7).later(3).to(1.6).later(1).vas(6).to(1.8).later(1).vas(4.5)
    assert course.propose(2.0).verdict is Verdict.ALLOW
    course.to(2.0).later(1).vas(3)
    assert course.propose(2.4).verdict is Verdict.ALLOW


# --- decreases and holds -----------------------------------------------------------------


def test_a_decrease_resets_the_pattern() -> None:
    course = published_case().to(1.6).later(1).vas(8)
    assert course.propose(1.8).verdict is Verdict.ALLOW
    # and the pattern has to form again from increases after the decrease
    course.to(1.8).later(1).vas(9)
    assert course.propose(2.0).verdict is Verdict.ALLOW
    course.to(2.0).later(1).vas(10)
    assert course.propose(2.2).verdict is Verdict.BLOCK
    assert [e.change.new_ng_per_day for e in course.propose(2.2).evidence] == [mg(1.8), mg(2.0)]


def test_an_increase_before_the_last_decrease_does_not_count() -> None:
    # raised pain, decrease, raised pain: only one increase since the reset
    course = Course().vas(4).to(1.6).vas(6).to(1.5).vas(6).to(1.7).vas(8)
    assert course.propose(1.9).verdict is Verdict.ALLOW


def test_a_change_to_the_same_dose_neither_resets_nor_counts() -> None:
    course = published_case()
    course.changes.append(DoseChange(course.index + 1, course.time_s, mg(1.8), mg(1.8)))
    course.index += 1
    assert course.propose(2.0).verdict is Verdict.BLOCK


# --- HOLD: reassess before escalating ----------------------------------------------------


def test_hold_when_no_vas_since_the_last_increase() -> None:
    course = Course().vas(5).later(3).to(1.6).later(1)
    decision = course.propose(1.8)
    assert decision.verdict is Verdict.HOLD
    assert "reassess" in decision.reason
    assert decision.evidence_lines() == ["1.4 mg/day -> 1.6 mg/day: VAS 5 -> -"]
    assert decision.checklist == ()  # a hold is not a suspicion of OIH
    course.vas(5)
    assert course.propose(1.8).verdict is Verdict.ALLOW


def test_hold_even_when_no_vas_was_ever_logged() -> None:
    assert Course().to(1.6).propose(1.8).verdict is Verdict.HOLD


def test_no_hold_when_the_last_change_was_a_decrease() -> None:
    course = Course().vas(5).to(1.6).vas(6).to(1.5).later(1)
    assert course.propose(1.7).verdict is Verdict.ALLOW


def test_no_hold_before_any_change() -> None:
    assert Course().propose(1.6).verdict is Verdict.ALLOW


def test_hold_comes_before_block() -> None:
    course = published_case().to(2.0)  # overridden past the block, no VAS since
    assert course.propose(2.2).verdict is Verdict.HOLD


def test_a_vas_before_the_next_increase_but_after_another_event_ends_the_hold() -> None:
    course = Course().vas(5).to(1.6).other_event().vas(4)
    assert course.propose(1.8).verdict is Verdict.ALLOW


# --- BLOCK: what counts as "raised pain" -------------------------------------------------


def test_not_blocked_when_only_one_of_the_last_two_raised_pain() -> None:
    first_only = Course().vas(4).to(1.6).vas(6).to(1.8).vas(6.5)
    assert first_only.propose(2.0).verdict is Verdict.ALLOW
    second_only = Course().vas(4).to(1.6).vas(4.5).to(1.8).vas(6)
    assert second_only.propose(2.0).verdict is Verdict.ALLOW


def test_equal_scores_do_not_count_as_a_rise() -> None:
    course = Course().vas(6).to(1.6).vas(6).to(1.8).vas(6)
    assert course.propose(2.0).verdict is Verdict.ALLOW
    course = Course().vas(4).to(1.6).vas(6).to(1.8).vas(6)
    assert course.propose(2.0).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("after", "verdict"),
    [(5.0, Verdict.BLOCK), (4.9, Verdict.ALLOW), (7.5, Verdict.BLOCK), (4.0, Verdict.ALLOW)],
)
def test_threshold_boundary_a_rise_of_exactly_one_point_counts(
    after: float, verdict: Verdict
) -> None:
    course = Course().vas(3).to(1.6).vas(4).to(1.8).vas(after)
    assert course.propose(2.0).verdict is verdict


def test_the_threshold_is_configurable() -> None:
    course = Course().vas(3).to(1.6).vas(4.5).to(1.8).vas(6)  # rises of 1.5 each
    assert course.propose(2.0).verdict is Verdict.BLOCK
    assert course.propose(2.0, GuardConfig(threshold_tenths=20)).verdict is Verdict.ALLOW
    assert course.propose(2.0, GuardConfig(threshold_tenths=15)).verdict is Verdict.BLOCK
    reason = course.propose(2.0, GuardConfig(threshold_tenths=15)).reason
    assert "by 1.5 or more" in reason


def test_k_is_configurable() -> None:
    course = Course().vas(3).to(1.6).vas(4).to(1.8).vas(5)
    assert course.propose(2.0, GuardConfig(increases_to_block=3)).verdict is Verdict.ALLOW
    course.to(2.0).vas(6)
    decision = course.propose(2.2, GuardConfig(increases_to_block=3))
    assert decision.verdict is Verdict.BLOCK
    assert "last 3 increases" in decision.reason
    assert len(decision.evidence) == 3
    single = Course().vas(3).to(1.6).vas(4)
    assert single.propose(1.8, GuardConfig(increases_to_block=1)).verdict is Verdict.BLOCK
    assert single.propose(1.8).verdict is Verdict.ALLOW


def test_only_the_last_k_increases_count() -> None:
    # rose, rose, fell: the last two are (rose, fell) -> allowed
    course = Course().vas(3).to(1.6).vas(5).to(1.8).vas(7).to(2.0).vas(5)
    assert course.propose(2.2).verdict is Verdict.ALLOW


def test_an_increase_with_no_vas_before_it_does_not_count_as_raising_pain() -> None:
    course = Course().to(1.6).vas(6).to(1.8).vas(8)
    decision = course.propose(2.0)
    assert decision.verdict is Verdict.ALLOW
    course = Course().to(1.6).vas(6).to(1.8).vas(8).to(2.0).vas(9.5)
    decision = course.propose(2.2)
    assert decision.verdict is Verdict.BLOCK  # the second and third increases both rose
    assert decision.evidence_lines()[0] == "1.6 mg/day -> 1.8 mg/day: VAS 6 -> 8"


def test_the_vas_before_an_increase_may_be_older_than_the_previous_change() -> None:
    """An increase overridden past a hold has no VAS after it; the next one compares with
    the last VAS before it, logged before both."""
    course = Course().vas(4).to(1.6).to(1.8).vas(6)
    decision = course.propose(2.0, GuardConfig(increases_to_block=1))
    assert decision.verdict is Verdict.BLOCK
    assert decision.evidence_lines() == ["1.6 mg/day -> 1.8 mg/day: VAS 4 -> 6"]


def test_of_several_readings_between_changes_the_last_one_counts() -> None:
    """docs/guard.md: "before" is the last VAS logged before the increase, "after" the last
    one logged after it and before the next change."""
    # after the first increase: 9 then 5 -> the 5 counts (rise of 1 from 4, then 5 -> 7)
    course = Course().vas(2).vas(4).to(1.6).vas(9).vas(5).to(1.8).vas(9).vas(7)
    decision = course.propose(2.0)
    assert decision.verdict is Verdict.BLOCK
    assert decision.evidence_lines() == [
        "1.4 mg/day -> 1.6 mg/day: VAS 4 -> 5",
        "1.6 mg/day -> 1.8 mg/day: VAS 5 -> 7",
    ]
    # the same scores in another order within each window give another answer
    course = Course().vas(4).vas(2).to(1.6).vas(5).vas(9).to(1.8).vas(7).vas(9)
    assert course.propose(2.0).verdict is Verdict.ALLOW  # 9 -> 9 is no rise


# --- ordering: the pump's event sequence, else time --------------------------------------


def test_a_reading_logged_after_a_change_at_the_same_second_is_after_it() -> None:
    """Frozen or coarse clock: the change and the next VAS share a timestamp; the event
    index the reading saw places it after the change."""
    course = Course().vas(4).to(1.6).vas(6).to(1.8).vas(8)  # no time passes at all
    assert {r.time_s for r in course.readings} == {0}
    assert course.propose(2.0).verdict is Verdict.BLOCK


def test_without_an_event_index_readings_are_ordered_by_time() -> None:
    by_time = (
        Course()
        .vas(4, by_time=True)
        .later(1)
        .to(1.6)
        .later(1)
        .vas(6, by_time=True)
        .later(1)
        .to(1.8)
        .later(1)
        .vas(8, by_time=True)
    )
    assert by_time.propose(2.0).verdict is Verdict.BLOCK
    # ... and a reading at the change's own second then counts as before it
    same_second = Course().vas(4, by_time=True).to(1.6).vas(6, by_time=True).later(1)
    decision = same_second.propose(1.8)
    assert decision.verdict is Verdict.HOLD
    assert decision.evidence[0].vas_before_tenths == 60


def test_the_event_index_wins_over_the_clock() -> None:
    """A pump clock set back must not reorder what the pump's sequence orders."""
    course = Course().later(10).vas(4).to(1.6)
    course.time_s = 0  # clock set back
    course.vas(6).to(1.8).vas(8)
    assert course.propose(2.0).verdict is Verdict.BLOCK


def test_reading_is_after_by_index_and_by_time() -> None:
    change = DoseChange(index=5, time_s=100, old_ng_per_day=1, new_ng_per_day=2)
    assert Reading(0, 10, events_seen=5).is_after(change)
    assert not Reading(200, 10, events_seen=4).is_after(change)
    assert Reading(101, 10).is_after(change)
    assert not Reading(100, 10).is_after(change)


# --- properties --------------------------------------------------------------------------

Step = tuple[str, int]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("vas"), st.integers(0, 100)),
        st.tuples(st.just("change"), st.integers(-5, 5)),  # in 0.1 mg/day
        st.tuples(st.just("event"), st.just(0)),
        st.tuples(st.just("later"), st.integers(1, 2 * DAY)),
    ),
    max_size=30,
)
CONFIGS = st.builds(GuardConfig, st.integers(1, 30), st.integers(1, 4))


def build(steps: list[Step], *, by_time: bool = False) -> Course:
    course = Course()
    for kind, value in steps:
        if kind == "vas":
            course.vas(value / 10, by_time=by_time)
        elif kind == "change":
            course.to(max(0.1, round(course.dose / MG + value / 10, 1)))
        elif kind == "event":
            course.other_event()
        else:
            course.later(value / DAY)
    return course


def walk(course: Course, proposed: int, config: GuardConfig) -> Verdict:
    """The rule as docs/guard.md states it, walking the timeline once (an independent oracle):
    for each increase since the last decrease, the VAS standing when it was made and the
    last VAS logged while it was the latest change."""
    if proposed <= course.dose:
        return Verdict.ALLOW
    timeline = sorted(
        [(c.index, 0, c) for c in course.changes]
        + [(r.events_seen, 1, r) for r in course.readings if r.events_seen is not None],
        key=lambda item: (item[0], item[1]),
    )
    last_vas: int | None = None
    increases: list[list[int | None]] = []
    last_was_increase = False
    for _, _, item in timeline:
        if isinstance(item, Reading):
            last_vas = item.score_tenths
            if last_was_increase:
                increases[-1][1] = item.score_tenths
        elif item.new_ng_per_day < item.old_ng_per_day:
            increases, last_was_increase = [], False
        elif item.new_ng_per_day > item.old_ng_per_day:
            increases.append([last_vas, None])
            last_was_increase = True
    if last_was_increase and increases[-1][1] is None:
        return Verdict.HOLD
    recent = increases[-config.increases_to_block :]
    if len(recent) == config.increases_to_block and all(
        before is not None and after is not None and after - before >= config.threshold_tenths
        for before, after in recent
    ):
        return Verdict.BLOCK
    return Verdict.ALLOW


@given(STEPS, st.integers(0, 30), CONFIGS)
def test_property_a_decrease_or_hold_is_never_blocked(
    steps: list[Step], down: int, config: GuardConfig
) -> None:
    course = build(steps)
    proposed = max(0, course.dose - down * 100_000)
    decision = evaluate(course.dose, proposed, course.changes, course.readings, config)
    assert decision.verdict is Verdict.ALLOW


@given(STEPS, st.integers(1, 5), st.lists(st.integers(0, 100), max_size=3), CONFIGS)
def test_property_after_a_decrease_the_next_increase_is_allowed(
    steps: list[Step], down: int, after: list[int], config: GuardConfig
) -> None:
    course = build(steps)
    course.to(max(0.05, course.dose / MG - down / 10))
    for score in after:
        course.vas(score / 10)
    up = course.dose + 100_000
    decision = evaluate(course.dose, up, course.changes, course.readings, config)
    assert decision.verdict is Verdict.ALLOW


@given(STEPS, st.integers(1, 10), CONFIGS)
def test_property_the_guard_agrees_with_the_rule_walked_in_order(
    steps: list[Step], up: int, config: GuardConfig
) -> None:
    course = build(steps)
    proposed = course.dose + up * 100_000
    decision = evaluate(course.dose, proposed, course.changes, course.readings, config)
    assert decision.verdict is walk(course, proposed, config)


@given(STEPS, st.integers(1, 10), CONFIGS, st.randoms(use_true_random=False))
def test_property_the_order_changes_arrive_in_does_not_matter(
    steps: list[Step], up: int, config: GuardConfig, rng: random.Random
) -> None:
    course = build(steps)
    proposed = course.dose + up * 100_000
    shuffled = list(course.changes)
    rng.shuffle(shuffled)
    assert evaluate(course.dose, proposed, shuffled, course.readings, config) == evaluate(
        course.dose, proposed, course.changes, course.readings, config
    )


@given(STEPS, st.integers(1, 10), CONFIGS)
def test_property_only_the_last_reading_between_two_changes_matters(
    steps: list[Step], up: int, config: GuardConfig
) -> None:
    """Readings are *not* interchangeable within a window (the last one counts, see
    test_of_several_readings_between_changes_the_last_one_counts), but the earlier ones in
    the same window can be dropped without changing the decision."""
    course = build(steps)
    proposed = course.dose + up * 100_000
    last_per_window: dict[int | None, Reading] = {}
    for reading in course.readings:
        last_per_window[reading.events_seen] = reading  # same events seen: same window
    kept = [r for r in course.readings if last_per_window[r.events_seen] is r]
    assert evaluate(course.dose, proposed, course.changes, kept, config) == evaluate(
        course.dose, proposed, course.changes, course.readings, config
    )


@given(STEPS, st.integers(1, 10), CONFIGS)
@settings(max_examples=200)
def test_property_time_order_agrees_with_event_order_when_the_clock_separates_them(
    steps: list[Step], up: int, config: GuardConfig
) -> None:
    """With every step a second apart, ordering readings by time gives the same decision
    as ordering them by the pump's event index."""
    spaced: list[Step] = []
    for step in steps:
        spaced += [step, ("later", 1)]
    by_index, by_time = build(spaced), build(spaced, by_time=True)
    proposed = by_index.dose + up * 100_000
    assert evaluate(by_time.dose, proposed, by_time.changes, by_time.readings, config) == (
        evaluate(by_index.dose, proposed, by_index.changes, by_index.readings, config)
    )


# --- parse_vas ---------------------------------------------------------------------------


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
