"""The titration guard: a pure rule over dose changes and pain scores (docs/guard.md).

An increase *raised pain* when the VAS logged after it (the last one before the next change)
exceeds the VAS logged before it (the last one before the increase) by at least the
threshold. When each of the last K increases since the last decrease raised pain, a further
increase is blocked: the pattern of opioid-induced hyperalgesia (OIH). An increase is also
held while no VAS has been logged since the previous increase. Decreases and holds are
always allowed, and a decrease resets the pattern. The guard never changes a dose itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pumpctl.clinical.scores import format_vas

DoseFormatter = Callable[[int], str]


@dataclass(frozen=True)
class GuardConfig:
    threshold_tenths: int = 10  # 1 VAS point
    increases_to_block: int = 2  # K


@dataclass(frozen=True)
class DoseChange:
    """An applied change, from the pump's event log: ``index`` orders it on the pump's timeline."""

    index: int
    time_s: int
    old_ng_per_day: int
    new_ng_per_day: int

    @property
    def is_increase(self) -> bool:
        return self.new_ng_per_day > self.old_ng_per_day

    @property
    def is_decrease(self) -> bool:
        return self.new_ng_per_day < self.old_ng_per_day


@dataclass(frozen=True)
class Reading:
    """A VAS reading; ``events_seen`` is the last pump event index when it was logged
    (``None`` when logged without a pump, then ordered by time)."""

    time_s: int
    score_tenths: int
    events_seen: int | None = None

    def is_after(self, change: DoseChange) -> bool:
        if self.events_seen is not None:
            return self.events_seen >= change.index
        return self.time_s > change.time_s


class Verdict(Enum):
    ALLOW = "allow"
    HOLD = "hold"  # reassess (log a VAS) before escalating
    BLOCK = "block"  # pain rose after each of the last K increases: suspect OIH


class OverrideReason(Enum):
    """The differential a clinician may document to escalate despite the guard."""

    DISEASE_PROGRESSION = "disease-progression"
    NEW_PAIN_SOURCE = "new-pain-source"
    TOLERANCE_CONFIRMED = "tolerance-confirmed"
    DELIVERY_FAULT_CORRECTED = "delivery-fault-corrected"

    @property
    def description(self) -> str:
        return {
            "disease-progression": "disease progression confirmed",
            "new-pain-source": "a new, unrelated pain source identified",
            "tolerance-confirmed": "tolerance: pain relieved by escalation on reassessment",
            "delivery-fault-corrected": (
                "loss of delivery (catheter/pump fault) found and corrected"
            ),
        }[self.value]


@dataclass(frozen=True)
class Evidence:
    change: DoseChange
    vas_before_tenths: int | None
    vas_after_tenths: int | None

    @property
    def raised_pain_by(self) -> int | None:
        if self.vas_before_tenths is None or self.vas_after_tenths is None:
            return None
        return self.vas_after_tenths - self.vas_before_tenths

    def describe(self, dose: DoseFormatter) -> str:
        before = "-" if self.vas_before_tenths is None else format_vas(self.vas_before_tenths)
        after = "-" if self.vas_after_tenths is None else format_vas(self.vas_after_tenths)
        change = self.change
        return (
            f"{dose(change.old_ng_per_day)} -> {dose(change.new_ng_per_day)}: "
            f"VAS {before} -> {after}"
        )


OIH_CHECKLIST = (
    "No disease progression (imaging, examination)",
    "No withdrawal: sweating, anxiety, cramps; a catheter check rules out loss of delivery",
    "No tolerance pattern: did any increase relieve pain, even briefly?",
    "Does a dose reduction relieve the pain? (OIH improves on reduction)",
)
OPTIONS = (
    "Reduce the opioid dose (in steps: an abrupt cut can itself raise pain and cause withdrawal)",
    "Rotate the opioid (e.g. IT sufentanil) or change to a non-opioid (e.g. ziconotide)",
    "Add a non-opioid adjunct (e.g. ketamine)",
    "Run a catheter check",
)


@dataclass(frozen=True)
class GuardDecision:
    verdict: Verdict
    reason: str
    evidence: tuple[Evidence, ...] = ()
    checklist: tuple[str, ...] = field(default=())
    options: tuple[str, ...] = field(default=())
    dose_format: DoseFormatter = field(default=lambda ng: f"{ng} ng/day", compare=False)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    def evidence_lines(self) -> list[str]:
        return [e.describe(self.dose_format) for e in self.evidence]


def evidence_for(changes: list[DoseChange], readings: list[Reading]) -> list[Evidence]:
    """For each change, the last VAS before it and the last VAS after it (before the next).

    A "change" to the same dose changes nothing: it is left out (it neither resets the
    pattern nor closes the window of readings after the change before it).
    """
    ordered = sorted(
        (c for c in changes if c.new_ng_per_day != c.old_ng_per_day), key=lambda c: c.index
    )
    result = []
    for position, change in enumerate(ordered):
        following = ordered[position + 1] if position + 1 < len(ordered) else None
        before = [r for r in readings if not r.is_after(change)]
        after = [
            r
            for r in readings
            if r.is_after(change) and (following is None or not r.is_after(following))
        ]
        result.append(
            Evidence(
                change,
                before[-1].score_tenths if before else None,
                after[-1].score_tenths if after else None,
            )
        )
    return result


def evaluate(
    current_ng_per_day: int,
    proposed_ng_per_day: int,
    changes: list[DoseChange],
    readings: list[Reading],
    config: GuardConfig = GuardConfig(),
    dose: DoseFormatter | None = None,
) -> GuardDecision:
    """May ``current → proposed`` go ahead, given the applied changes and the readings?

    ``readings`` must be in the order they were logged.
    """
    if proposed_ng_per_day <= current_ng_per_day:
        return GuardDecision(Verdict.ALLOW, "decreases and holds are always allowed")
    fmt: DoseFormatter = dose or (lambda ng: f"{ng} ng/day")
    evidence = evidence_for(changes, readings)
    last_decrease = max((i for i, e in enumerate(evidence) if e.change.is_decrease), default=-1)
    since_reset = [e for e in evidence[last_decrease + 1 :] if e.change.is_increase]
    if since_reset and since_reset[-1] is evidence[-1] and since_reset[-1].vas_after_tenths is None:
        last = since_reset[-1]
        return GuardDecision(
            Verdict.HOLD,
            f"no VAS logged since the last increase ({last.describe(fmt)}): "
            "reassess the pain before escalating",
            (last,),
            dose_format=fmt,
        )
    k = config.increases_to_block
    recent = since_reset[-k:]

    def raised_pain(e: Evidence) -> bool:
        rise = e.raised_pain_by
        return rise is not None and rise >= config.threshold_tenths

    if len(recent) == k and all(raised_pain(e) for e in recent):
        return GuardDecision(
            Verdict.BLOCK,
            f"pain rose by {format_vas(config.threshold_tenths)} or more after each of the last "
            f"{k} increases: suspect opioid-induced hyperalgesia (OIH); a further increase "
            "is blocked",
            tuple(recent),
            OIH_CHECKLIST,
            OPTIONS,
            fmt,
        )
    return GuardDecision(Verdict.ALLOW, "no pattern of pain rising after increases")
