"""What the guard weighs: the record and the pump's state, as plain values (no I/O).

The programmer gathers these (``pumpctl.programmer.evidence``); tests build them directly.
Doses are integer ng/day, pain scores integer tenths, times seconds on the pump's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pumpctl.clinical.systemic import SystemicLoad

HOUR_S = 3_600


@dataclass(frozen=True)
class GuardConfig:
    """The guard's numbers (docs/guard.md, "Defaults and sources")."""

    threshold_tenths: int = 10  # a step "raised pain": +1 VAS point
    increases_to_block: int = 2  # K increases in a row that raised pain
    trajectory_points_tenths: int = 20  # MCID, points (Farrar 2001)
    trajectory_pct: int = 30  # MCID, per cent of the baseline (Farrar 2001)
    not_relieved_tenths: int = 90  # a VAS of 9 or more after an increase: not relieved
    reset_decrease_pct: int = 10  # a decrease resets the pattern from 10 % below the peak
    high_systemic_mme_per_day: int = 90  # design default — verify (docs/guard.md)
    # Demand boluses refused (lockout, count per day) in an episode before they are remarked
    # on as pain uncontrolled between boluses: design default — verify (docs/guard.md).
    demand_refusals_to_warn: int = 2


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
    """A VAS reading taken at ``time_s``.

    ``events_seen`` is the last pump event index known when it was logged (``None`` when
    logged without a pump). ``logged_s`` is when it was logged, when that differs from when
    it was taken (``--taken-at``): such a reading is placed by its time, and can never be
    after an event its programmer had not yet seen.
    """

    time_s: int
    score_tenths: int
    events_seen: int | None = None
    logged_s: int | None = None

    @property
    def backdated(self) -> bool:
        return self.logged_s is not None and self.logged_s != self.time_s

    def is_after(self, change: DoseChange) -> bool:
        return self.is_after_event(change.index, change.time_s)

    def is_after_event(self, index: int, time_s: int) -> bool:
        if self.events_seen is not None and self.events_seen < index:
            return False  # logged before the pump had logged the event
        if self.events_seen is not None and not self.backdated:
            return True
        return self.time_s > time_s


@dataclass(frozen=True)
class BolusGiven:
    """A clinician's or patient's bolus from the pump's log (bridge boluses left out)."""

    index: int
    time_s: int
    dose_ng: int


@dataclass(frozen=True)
class DemandRefusal:
    """A patient's demand bolus the pump refused for the lockout or the count per day (its
    DEMAND_BOLUS_REFUSED event: repeated presses refused alike within a day are one)."""

    index: int
    time_s: int
    reason: str  # "lockout" or "count per day"


@dataclass(frozen=True)
class DeliveryEvent:
    """Something in the pump's log that speaks of delivery: an alarm raised, a catheter
    check and its verdict, a concentration change at a refill."""

    index: int
    time_s: int
    kind: str  # "alarm", "catheter-check", "concentration-change", "stopped", "resumed"
    name: str  # the alarm's or the verdict's name (e.g. "CATHETER_LEAK", "PATENT")
    detail: str = ""

    @property
    def patent_check(self) -> bool:
        return self.kind == "catheter-check" and self.name == "PATENT"


# Alarms that mean the drug may not be reaching the spinal canal as programmed.
DELIVERY_ALARMS = frozenset({"OCCLUSION", "CATHETER_LEAK", "MOTOR_STALL"})
DISCREPANCY_ALARM = "VOLUME_DISCREPANCY"
# Alarms that mean nothing is delivered now (a stop for any reason, an empty reservoir).
STOPPED_ALARMS = frozenset({"PUMP_STOPPED", "EMPTY_RESERVOIR"})


class DrugClass(Enum):
    OPIOID = "opioid"
    ZICONOTIDE = "ziconotide"
    BACLOFEN = "baclofen"
    OTHER = "other"


@dataclass(frozen=True)
class DrugProfile:
    """How a step of this drug is judged: its class (which rule and which words) and its
    assessment interval (a reading sooner after a change is not the response to it)."""

    name: str
    drug_class: DrugClass
    assessment_interval_s: int
    source: str


# Keyed by the drug library's drug name; the sources are in docs/guard.md.
DRUG_PROFILES = {
    "morphine": DrugProfile(
        "morphine",
        DrugClass.OPIOID,
        24 * HOUR_S,
        "design default — verify (neuraxial morphine acts up to 24 h; observe 24 h after "
        "an increase, Infumorph label)",
    ),
    "hydromorphone": DrugProfile(
        "hydromorphone", DrugClass.OPIOID, 24 * HOUR_S, "design default — verify (as morphine)"
    ),
    "ziconotide": DrugProfile(
        "ziconotide",
        DrugClass.ZICONOTIDE,
        72 * HOUR_S,
        "design default — verify (onset 3 to 9.5 days; steps no more than 2-3 times a week, "
        "Prialt label)",
    ),
    "baclofen": DrugProfile(
        "baclofen",
        DrugClass.BACLOFEN,
        24 * HOUR_S,
        "assess within 24 h of a change (Saulino, Neuromodulation 2016)",
    ),
}


def drug_profile(drug: str, withdrawal_risk: str = "") -> DrugProfile:
    """The profile of the drug library's ``drug``; an unlisted drug is judged by its
    withdrawal risk (``opioid``, ``baclofen``) or as a non-opioid, over 24 h."""
    known = DRUG_PROFILES.get(drug.strip().lower())
    if known is not None:
        return known
    drug_class = {"opioid": DrugClass.OPIOID, "baclofen": DrugClass.BACLOFEN}.get(
        withdrawal_risk.strip().lower(), DrugClass.OTHER
    )
    return DrugProfile(drug, drug_class, 24 * HOUR_S, "design default — verify (unlisted drug)")


@dataclass(frozen=True)
class GuardInputs:
    """Everything the guard weighs for ``current → proposed``; ``readings`` in logged order."""

    current_ng_per_day: int
    proposed_ng_per_day: int
    changes: tuple[DoseChange, ...] = ()
    readings: tuple[Reading, ...] = ()
    drug: DrugProfile = DRUG_PROFILES["morphine"]
    unit: str = "mg"
    now_s: int = 0
    boluses: tuple[BolusGiven, ...] = ()
    active_alarms: tuple[str, ...] = ()  # names of the alarms the pump shows now
    delivery_events: tuple[DeliveryEvent, ...] = ()
    systemic: SystemicLoad | None = None  # None: not recorded
    demand_refusals: tuple[DemandRefusal, ...] = ()
