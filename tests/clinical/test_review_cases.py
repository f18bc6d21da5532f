"""Histories at the edges of the guard's rules (late, backdated and phone scores, delivery
stopped, decreases and returns, boluses, a systemic taper, the words for each drug class),
replayed through ``pumpctl`` against the simulator (docs/guard.md, "Scenarios", 36 on)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.clinical.clinic import Clinic
from tests.clinical.test_scenarios import CASE_CHECKED, LEAK_CHECKED, SYSTEMIC, _text

pytestmark = pytest.mark.needs_simulator  # the pump's clock and faults


def _replay(clinic: Clinic, *steps: str) -> None:
    for step in steps:
        clinic.step(step)


def _refused(clinic: Clinic, propose: str, verdict: str, rule: str) -> str:
    """Propose ``set-rate PROPOSE``: it must be refused with this verdict and rule, and
    nothing reach the pump; returns the decision's words."""
    dose = clinic.dose()
    code, decision, err = clinic.propose(propose)
    text = _text(decision)
    assert (decision.get("guard"), decision.get("rule")) == (verdict, rule), (text, err)
    assert code == 1
    assert err.startswith(f"pumpctl: guard {verdict} ({rule})")
    assert clinic.dose() == dose
    return text


def test_a_lower_score_logged_late_does_not_hide_the_latest_pain(
    clinic_for: Callable[..., Clinic],
) -> None:
    # VAS 8 two days after the step to 1.8; then a score taken a day and a half after that
    # step (VAS 5) is logged: the latest pain is still 8, the case's pattern still holds.
    clinic = clinic_for()
    _replay(clinic, "vas 4", "days 3", "set-rate 1.6", "days 1", "vas 6", "set-rate 1.8")
    _replay(clinic, "days 2", "vas 8", "vas 5 --taken-at -12h", "catheter-check")
    text = _refused(clinic, "2.0", "block", "step-rise")
    assert "-> 8 (" in text


def test_pain_rising_while_the_pump_was_stopped_is_not_called_oih(
    clinic_for: Callable[..., Clinic],
) -> None:
    # Delivery stopped for a day between the VAS after the first step and the next: the
    # rise is what loss of delivery does (withdrawal), not a reason to cut the opioid.
    clinic = clinic_for()
    _replay(clinic, "vas 4", "days 3", "set-rate 1.6", "days 1", "vas 6", "set-rate 1.8")
    _replay(clinic, "stop --confirm-withdrawal-risk", "days 1", "resume", "hours 1", "vas 8")
    _replay(clinic, "catheter-check")
    text = _refused(clinic, "2.0", "hold", "delivery-first")
    assert "PUMP_STOPPED" in text
    assert "suspect" not in text
    assert "Reduce the opioid" not in text


def test_an_increase_while_the_pump_is_stopped_is_held_not_blocked_as_oih(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    _replay(clinic, *CASE_CHECKED, "stop --confirm-withdrawal-risk", "days 1", "vas 9")
    text = _refused(clinic, "2.0", "hold", "delivery-first")
    assert "PUMP_STOPPED active" in text
    assert "withdrawal" in text
    assert "suspect" not in text
    code, decision, _ = clinic.propose(
        "2.0 --override-reason disease-progression --override-note 'MRI: progression'"
    )
    assert (code, decision.get("rule"), decision.get("overridable")) == (
        1,
        "delivery-first",
        False,
    )


def test_a_decrease_reassessed_a_minute_later_does_not_reset_the_pattern(
    clinic_for: Callable[..., Clinic],
) -> None:
    # After the block at 1.8: down to 1.6 (11 %), a VAS a minute later, back up to 1.8 the
    # next day: a score taken before the decrease could act is no reassessment.
    clinic = clinic_for()
    _replay(clinic, *CASE_CHECKED, "set-rate 1.6", "hours 0.02", "vas 8", "days 1")
    _refused(clinic, "1.8", "block", "step-rise")


def test_a_decrease_reassessed_a_day_later_still_resets(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    _replay(clinic, *CASE_CHECKED, "set-rate 1.6", "hours 0.02", "vas 8", "days 1", "vas 7")
    code, decision, err = clinic.propose("1.7")
    assert (code, decision.get("guard"), decision.get("rule")) == (0, "allow", "no-pattern"), err


def test_a_corrected_leak_asks_to_return_to_the_dose_not_for_another_check(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    _replay(clinic, *LEAK_CHECKED, "clear", "hours 1", "catheter-check")
    code, out, _ = clinic.run("set-rate 1.8")
    assert code == 1
    assert "Run a catheter check" not in out
    assert "pumpctl set-rate 1.4" in out, out


@pytest.mark.parametrize(
    ("drug", "steps", "propose", "says", "never"),
    [
        (
            "ziconotide",
            ("vas 5", "days 1", "set-rate 4.8", "days 3", "vas 6.5"),
            "7.2",
            ("Return of pain",),
            ("Withdrawal signs", "causes withdrawal", "OIH"),
        ),
        (
            "baclofen",
            ("vas 3", "days 1", "set-rate 130", "days 1", "vas 3"),
            "160",
            ("baclofen withdrawal", "fever", "rebound spasticity"),
            ("sweating, anxiety, cramps", "OIH"),
        ),
    ],
)
def test_a_leak_speaks_of_what_loss_of_the_drug_does(
    clinic_for: Callable[..., Clinic],
    drug: str,
    steps: tuple[str, ...],
    propose: str,
    says: tuple[str, ...],
    never: tuple[str, ...],
) -> None:
    clinic = clinic_for("--drug", drug)
    _replay(clinic, *steps, "fault catheter leak", "catheter-check")
    text = _refused(clinic, propose, "hold", "delivery-first")
    for needle in says:
        assert needle in text, (needle, text)
    for needle in never:
        assert needle not in text, (needle, text)


def test_a_phone_score_never_counts_after_a_change_the_record_had_not_seen(
    clinic_for: Callable[..., Clinic], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The record's timeline runs ahead of the pump's clock (a pump clock running slow): a
    # phone score (VAS 2) logged before the step to 1.8 must not stand as its response
    # against the VAS 8 taken after it.
    clinic = clinic_for()
    _replay(clinic, "vas 4", "days 1", "set-rate 1.6", "days 1", "vas 6")
    ahead = time.time() + 3 * 86_400
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: ahead)
        clinic.step("vas --serial SIM000001 2 --note 'phone follow-up'")
    _replay(clinic, "set-rate 1.8", "days 1", "vas 8", "hours 1", "catheter-check")
    text = _refused(clinic, "2.0", "block", "trajectory-rise")
    assert "pain now: VAS 8" in text


def test_boluses_before_the_first_increase_are_shown_and_remarked(
    clinic_for: Callable[..., Clinic],
) -> None:
    clinic = clinic_for()
    _replay(clinic, "vas 4", "bolus 0.2", "hours 4", "bolus 0.2", "hours 4", "vas 8")
    code, decision, err = clinic.propose("1.6")
    assert (code, decision.get("guard"), decision.get("rule")) == (0, "allow", "no-pattern"), err
    text = _text(decision)
    assert "2 boluses in this episode: 0.4 mg" in text
    assert "escalation by bolus is escalation too" in text


def test_a_block_during_a_systemic_taper_asks_about_withdrawal_from_it(
    clinic_for: Callable[..., Clinic],
) -> None:
    # Pain rising while the oral opioids are being cut may be withdrawal from them.
    clinic = clinic_for()
    _replay(clinic, *SYSTEMIC, "days 1", "opioids set oxycodone 120mg/day", *CASE_CHECKED)
    text = _refused(clinic, "2.0", "block", "step-rise")
    assert "systemic opioids: they are being tapered (660 MME/day now)" in text, text


def test_a_reassessed_decrease_does_not_open_the_way_back_to_the_blocked_dose(
    clinic_for: Callable[..., Clinic],
) -> None:
    # Pain no better on the decrease (8 -> 7.5): the step-rise found before it still blocks
    # a return to 1.8 mg/day.
    clinic = clinic_for()
    _replay(clinic, *CASE_CHECKED, "set-rate 1.6", "days 1", "vas 7.5")
    text = _refused(clinic, "1.8", "block", "step-rise")
    assert "titration may restart below 1.8 mg/day" in text


def test_pain_relieved_by_a_reduction_blocks_a_return_to_the_dose_that_hurt(
    clinic_for: Callable[..., Clinic],
) -> None:
    # The block at 1.8 (VAS 8); down to 1.6 and the pain falls to 5 a day later: better on
    # a reduction, as OIH is. Straight back to 1.8 or above is blocked; below it, allowed.
    clinic = clinic_for()
    _replay(clinic, *CASE_CHECKED, "set-rate 1.6", "days 1", "vas 5")
    for dose in ("2.0", "1.8"):
        text = _refused(clinic, dose, "block", "relieved-by-reduction")
        assert "pain fell from VAS 8" in text, text
        assert "to 5" in text
    code, decision, err = clinic.propose("1.7")
    assert (code, decision.get("guard"), decision.get("rule")) == (0, "allow", "no-pattern"), err
