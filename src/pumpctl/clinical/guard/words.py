"""What the guard says: the checklists and options of each kind of decision, and how it
writes times and durations (the pump's clock, UTC)."""

from __future__ import annotations

from pumpctl.display import pump_minute

OIH_CHECKLIST = (
    "No disease progression (imaging, examination)",
    "No withdrawal: sweating, anxiety, cramps (delivery was checked first)",
    "No tolerance pattern: did any increase relieve pain, even briefly?",
    "Does a dose reduction relieve the pain? (OIH improves on reduction)",
)
OIH_OPTIONS = (
    "Reduce the opioid dose (in steps: an abrupt cut can itself raise pain and cause withdrawal)",
    "Rotate the opioid (e.g. IT sufentanil) or change to a non-opioid (e.g. ziconotide)",
    "Add a non-opioid adjunct (e.g. ketamine)",
    "Reduce systemic opioids, if any (in the published case relief came from this)",
)
ZICONOTIDE_CHECKLIST = (
    "Neuropsychiatric status: confusion, hallucinations, mood, suicidal thoughts (boxed warning)",
    "CK: elevations are reported on ziconotide; check it",
    "Onset takes days: was each step judged 3 days or more after it?",
)
ZICONOTIDE_OPTIONS = (
    "Hold the dose and reassess over days",
    "Reduce or stop ziconotide: it has no withdrawal syndrome (any cut is safe)",
    "Consider another intrathecal agent",
)
OTHER_OPTIONS = ("Hold the dose and reassess", "Review the indication and the drug")
DELIVERY_CHECKLIST = (
    "Catheter check (pumpctl catheter-check); imaging (contrast study) if in doubt",
    "Withdrawal signs (sweating, anxiety, cramps): loss of delivery causes withdrawal",
    "Refill: residual against the expected volume; the concentration programmed",
)
# What loss of delivery does, by drug class (the second line of the checklist above).
LOSS_SIGNS = {
    "opioid": DELIVERY_CHECKLIST[1],
    "ziconotide": (
        "Return of pain: loss of delivery ends ziconotide's effect (it has no withdrawal syndrome)"
    ),
    "baclofen": (
        "Signs of baclofen withdrawal (high fever, altered mental status, rebound spasticity, "
        "rhabdomyolysis): loss of delivery can kill (boxed warning) - treat it as an emergency"
    ),
    "other": "Return of the symptoms the drug treats: loss of delivery ends its effect",
}
# What pain (or worse) during a loss of delivery may be, by drug class.
LOSS_WORDS = {
    "opioid": "opioid withdrawal",
    "ziconotide": "ziconotide's effect wearing off (it has no withdrawal)",
    "baclofen": "baclofen withdrawal (boxed warning: an emergency)",
    "other": "the loss of the drug's effect",
}


def delivery_checklist(drug_class: str) -> tuple[str, ...]:
    """The delivery checklist in the words of the drug's class (``DrugClass.value``)."""
    signs = LOSS_SIGNS.get(drug_class, LOSS_SIGNS["other"])
    return (DELIVERY_CHECKLIST[0], signs, DELIVERY_CHECKLIST[2])


DELIVERY_OPTIONS = (
    "Run a catheter check; a patent result after the rise in pain lets the guard judge the pain",
    "Repair the fault, then return to the dose before it and reassess: never escalate into a "
    "fault (the drug may reach the patient at once when it is corrected)",
)

CORRECTED_OPTIONS = (
    "Return to the dose before the fault and reassess: the drug now reaches the patient in "
    "full, and the pain during the fault says nothing of the dose",
    "Escalate only for a documented reason other than the fault (e.g. disease progression)",
)


when = pump_minute


def duration(seconds: int) -> str:
    if seconds < 3_600:
        return f"{seconds // 60} min"
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{seconds / 3600:g} h"
