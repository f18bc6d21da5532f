"""The titration guard (docs/guard.md): a pure function of the record and the pump's state.

``evaluate(GuardInputs(...))`` answers ALLOW, HOLD or BLOCK for a proposed dose, naming its
rule and its evidence; it never changes a dose itself.
"""

from pumpctl.clinical.guard.decision import (
    EvidenceItem,
    GuardDecision,
    OverrideReason,
    Rule,
    Verdict,
    Warning,
    override_refusal,
)
from pumpctl.clinical.guard.inputs import (
    DELIVERY_ALARMS,
    DRUG_PROFILES,
    BolusGiven,
    DeliveryEvent,
    DemandRefusal,
    DoseChange,
    DrugClass,
    DrugProfile,
    GuardConfig,
    GuardInputs,
    Reading,
    drug_profile,
)
from pumpctl.clinical.guard.rules import evaluate
from pumpctl.clinical.guard.words import (
    DELIVERY_CHECKLIST,
    OIH_CHECKLIST,
    OIH_OPTIONS,
    ZICONOTIDE_CHECKLIST,
)

__all__ = [
    "DELIVERY_ALARMS",
    "DELIVERY_CHECKLIST",
    "DRUG_PROFILES",
    "OIH_CHECKLIST",
    "OIH_OPTIONS",
    "ZICONOTIDE_CHECKLIST",
    "BolusGiven",
    "DeliveryEvent",
    "DemandRefusal",
    "DoseChange",
    "DrugClass",
    "DrugProfile",
    "EvidenceItem",
    "GuardConfig",
    "GuardDecision",
    "GuardInputs",
    "OverrideReason",
    "Reading",
    "Rule",
    "Verdict",
    "Warning",
    "drug_profile",
    "evaluate",
    "override_refusal",
]
