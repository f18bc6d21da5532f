"""The titration guard (docs/guard.md): a pure function of the record and the pump's state.

``evaluate(GuardInputs(...))`` answers ALLOW, HOLD or BLOCK for a proposed dose, naming its
rule and its evidence; it never changes a dose itself.

Each name is imported from its module when first asked for: a read that never proposes a
dose does not build the guard's rules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name's module, as the imports above say.
_MODULES = {
    "decision": "EvidenceItem GuardDecision OverrideReason Rule Verdict Warning override_refusal",
    "inputs": "DELIVERY_ALARMS DRUG_PROFILES BolusGiven DeliveryEvent DemandRefusal DoseChange "
    "DrugClass DrugProfile GuardConfig GuardInputs Reading drug_profile",
    "rules": "evaluate",
    "words": "DELIVERY_CHECKLIST OIH_CHECKLIST OIH_OPTIONS ZICONOTIDE_CHECKLIST",
}
_HOMES = {name: module for module, names in _MODULES.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the names looked up on first use too
