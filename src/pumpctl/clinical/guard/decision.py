"""What the guard answers: a verdict, the rule that gave it, and its evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pumpctl.clinical.guard.words import when


class Verdict(Enum):
    ALLOW = "allow"
    HOLD = "hold"  # not yet: rule out a delivery failure, or reassess the pain first
    BLOCK = "block"  # the pain pattern argues against escalating


class Rule(Enum):
    """Which rule decided (docs/guard.md names each, with its evidence)."""

    DECREASE = "decrease-or-same"
    DELIVERY_FIRST = "delivery-first"
    NO_REASSESSMENT = "no-reassessment"
    TOO_EARLY = "too-early"
    STEP_RISE = "step-rise"
    TRAJECTORY_RISE = "trajectory-rise"
    NOT_RELIEVED = "not-relieved"
    RELIEVED_BY_REDUCTION = "relieved-by-reduction"
    BACLOFEN_NOT_VAS = "baclofen-not-vas"
    NO_PATTERN = "no-pattern"
    # warnings beside an ALLOW
    NO_BENEFIT = "no-benefit"
    TAPER_SYSTEMIC = "taper-systemic-first"
    BOLUS_ESCALATION = "bolus-escalation"
    DEMAND_REFUSED = "demand-refused"


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
                "loss of delivery (catheter/pump fault) found and corrected: return to the "
                "dose before the fault"
            ),
        }[self.value]


@dataclass(frozen=True)
class EvidenceItem:
    """One fact the verdict rests on, with its time (``None``: not a point in time)."""

    kind: str  # increase, decrease, reading, baseline, bolus, alarm, catheter-check, ...
    time_s: int | None
    text: str
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "time_s": self.time_s, "text": self.text, **self.data}


@dataclass(frozen=True)
class Warning:
    rule: Rule
    text: str


@dataclass(frozen=True)
class GuardDecision:
    verdict: Verdict
    rule: Rule
    reason: str
    evidence: tuple[EvidenceItem, ...] = ()
    checklist: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    warnings: tuple[Warning, ...] = ()
    # Whether a documented override may pass it (a delivery fault must be fixed instead).
    overridable: bool = True
    # The dose before a delivery fault: what "delivery-fault-corrected" returns to.
    dose_before_fault_ng_per_day: int | None = None
    checklist_title: str = "Before anything else, check"
    # What clears a hold, for the faces to offer: "resolve-fault", "explain-discrepancy",
    # "catheter-check", "resume", "return-to-dose" (``return_dose``), "log-vas"; "" when
    # nothing but the clinician's judgement.
    next_action: str = ""
    return_dose: str = ""  # for "return-to-dose": the dose in the drug's unit ("1.4 mg/day")

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    def evidence_lines(self) -> list[str]:
        """Each fact after its time on the pump's clock (UTC), as the audit trail and the
        visit report keep it."""
        return [
            item.text if item.time_s is None else f"{when(item.time_s)}  {item.text}"
            for item in self.evidence
        ]

    def warning_lines(self) -> list[str]:
        return [f"Guard ({w.rule.value}): {w.text}" for w in self.warnings]

    def as_json(self) -> dict[str, Any]:
        return {
            "guard": self.verdict.value,
            "rule": self.rule.value,
            "reason": self.reason,
            "evidence": [item.as_json() for item in self.evidence],
            "warnings": [{"rule": w.rule.value, "text": w.text} for w in self.warnings],
            "checklist": list(self.checklist),
            "options": list(self.options),
            "overridable": self.overridable,
            "dose_before_fault_ng_per_day": self.dose_before_fault_ng_per_day,
            "next_action": self.next_action,
            "return_dose": self.return_dose,
            "override_reasons": [r.value for r in OverrideReason] if self.overridable else [],
        }


def override_refusal(
    decision: GuardDecision, reason: OverrideReason, proposed_ng_per_day: int, dose_text: str
) -> str | None:
    """Why ``reason`` cannot pass ``decision`` for ``proposed`` (``None``: it may).

    ``dose_text`` is the dose before the fault as the faces show it.
    """
    if decision.allowed:
        return None
    if not decision.overridable:
        return f"{decision.rule.value} cannot be overridden: {decision.reason}"
    if reason is OverrideReason.DELIVERY_FAULT_CORRECTED:
        before = decision.dose_before_fault_ng_per_day
        if before is None or proposed_ng_per_day > before:
            limit = f" ({dose_text})" if before is not None else ""
            return (
                "a corrected delivery fault is a reason to return to the dose before the "
                f"fault{limit}, not to escalate beyond it"
            )
    return None
