"""A short soak in the suite: 60 simulated days on four seeds (the four drugs, both models),
checked continuously against the reference model, with the simulator reopened from its NV
file every week. The long run: ``python -m pumpctl.testing.soak --days 365 --seed N``
(docs/faults.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pumpctl.testing.soak import SoakReport, run_soak


def _refill_over_the_maximum(report: SoakReport) -> bool:
    return report.refused["Refill:DAILY_LIMIT"] > 0


def _runs_empty(report: SoakReport) -> bool:
    return report.empty_episodes > 0


def _boluses_meet_the_maximum(report: SoakReport) -> bool:
    return report.refused["Bolus:DAILY_LIMIT"] > 0


def _titrates(report: SoakReport) -> bool:
    return report.accepted["SetRate"] > 0


@pytest.mark.parametrize(
    ("seed", "drug", "model", "what_it_reaches"),
    [
        # seed 2 found the unlimited bridge bolus (tests/faults/test_regressions.py)
        (2, "baclofen", "IT-20", _refill_over_the_maximum),
        (3, "hydromorphone", "IT-20", _runs_empty),
        (5, "morphine", "IT-40", _boluses_meet_the_maximum),
        (9, "ziconotide", "IT-40", _titrates),
    ],
)
def test_sixty_days_of_therapy_keep_every_invariant(
    seed: int, drug: str, model: str, what_it_reaches: Callable[[SoakReport], bool]
) -> None:
    report = run_soak(60, seed)
    assert report.ok, report.summary()
    assert (report.drug, report.model) == (drug, model)
    assert report.reloads == 60 // 7
    assert report.worst_24h_ng <= report.max_dose_ng_per_day
    assert what_it_reaches(report), report.summary()


def test_the_soak_is_repeatable() -> None:
    first, again = run_soak(20, 5), run_soak(20, 5)
    assert first.summary().splitlines()[:-1] == again.summary().splitlines()[:-1]
