"""The patient's systemic (oral, transdermal) opioids and their morphine milligram
equivalents (MME) per day, exactly (``Fraction``, never float).

MME/day = dose per day × the CDC 2022 conversion factor (docs/guard.md, "Systemic opioids").
The factors are estimates for judging overall load, never for converting one opioid to
another; buprenorphine has none. The systemic load is shown beside the intrathecal dose and
never added to it: oral-to-IT ratios in print range from 300:1 to 12:1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pumpctl.clinical.record import ClinicalRecord

DAY_S = 86_400
# The total counts as tapering when it is below its highest value within this window.
# Design default — verify.
TAPER_LOOKBACK_S = 30 * DAY_S
# Above this an entry is taken for a slipped digit. Design default — verify (the published
# case ran at about 840 MME/day).
MAX_MME_PER_DAY = Fraction(5000)

Form = Literal["oral", "patch"]
Action = Literal["set", "stop"]


@dataclass(frozen=True)
class Drug:
    name: str
    form: Form  # "oral": mg per period; "patch": mcg/h
    factor: Fraction | None  # MME per mg (oral) or per mcg/h (patch); None: no CDC factor
    # Without a factor, the plausibility ceiling in the drug's measure (mg/day or mcg/h).
    max_amount: Fraction | None = None


# CDC Clinical Practice Guideline for Prescribing Opioids for Pain, 2022 (MMWR Recomm Rep
# 2022;71(3)), table of MME conversion factors.
DRUGS: dict[str, Drug] = {
    d.name: d
    for d in (
        Drug("codeine", "oral", Fraction("0.15")),
        Drug("hydrocodone", "oral", Fraction(1)),
        Drug("hydromorphone", "oral", Fraction(5)),
        Drug("methadone", "oral", Fraction("4.7")),
        Drug("morphine", "oral", Fraction(1)),
        Drug("oxycodone", "oral", Fraction("1.5")),
        Drug("oxymorphone", "oral", Fraction(3)),
        Drug("tapentadol", "oral", Fraction("0.4")),
        Drug("tramadol", "oral", Fraction("0.2")),
        Drug("fentanyl-patch", "patch", Fraction("2.4")),
        # No CDC factor: recorded and shown, never counted in the total. Ceilings: design
        # default — verify (sublingual doses run to tens of mg/day, patches to 70 mcg/h).
        Drug("buprenorphine", "oral", None, Fraction(100)),
        Drug("buprenorphine-patch", "patch", None, Fraction(200)),
    )
}


class SystemicError(ValueError):
    """A name or amount that cannot be recorded; the message says why in one line."""


@dataclass(frozen=True)
class Amount:
    """A dose as entered: ``value`` ``unit`` per ``period_h`` hours (24 for "/day")."""

    value: Fraction
    unit: Literal["mg", "mcg"]
    period_h: int

    @property
    def per_day(self) -> Fraction:
        return self.value * 24 / self.period_h

    @property
    def text(self) -> str:
        number = format_decimal(self.value)
        if self.period_h == 24:
            return f"{number} {self.unit}/day"
        if self.period_h == 1:
            return f"{number} {self.unit}/h"
        return f"{number} {self.unit}/{self.period_h}h"


@dataclass(frozen=True)
class SystemicOpioid:
    name: str  # e.g. "oxycodone", "fentanyl-patch"
    amount_text: str  # as entered, normalised e.g. "120 mg/day", "50 mcg/h"
    mme_per_day: Fraction | None  # None when there is no CDC factor (buprenorphine)
    since_s: int  # record time it was set


@dataclass(frozen=True)
class SystemicLoad:
    opioids: tuple[SystemicOpioid, ...]
    total_mme_per_day: Fraction  # sum over those with a factor
    tapering: bool  # the total fell within TAPER_LOOKBACK_S
    unknown: tuple[str, ...]  # names without a factor


@dataclass(frozen=True)
class SystemicEntry:
    """A row of the record: an opioid set to an amount, or stopped (``amount_text`` empty)."""

    id: int
    pump_serial: str
    time_s: int
    clinician: str
    action: Action
    name: str
    amount_text: str


_AMOUNT = re.compile(
    r"(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>mg|mcg|ug)\s*/\s*"
    r"(?:(?P<day>day|d|24\s*h)|(?P<hours>[0-9]+)?\s*(?:h|hr|hrs|hours?))",
    re.ASCII | re.IGNORECASE,
)
_UNITS: dict[str, Literal["mg", "mcg"]] = {"mg": "mg", "mcg": "mcg", "ug": "mcg"}


def drug(name: str) -> Drug:
    found = DRUGS.get(name.strip().lower())
    if found is None:
        known = ", ".join(DRUGS)
        raise SystemicError(f"systemic opioid {name!r} is not known (known: {known})")
    return found


def parse_amount(text: str) -> Amount:
    """``"120mg/day"``, ``"120 mg/day"``, ``"50mcg/h"``, ``"10mg/12h"`` → an exact amount."""
    # The micro sign (U+00B5) and the Greek mu (U+03BC) both read as "mc".
    cleaned = " ".join(text.replace("\u00b5g", "mcg").replace("\u03bcg", "mcg").split())
    if cleaned.startswith("-"):
        raise SystemicError(f"amount {text!r} is negative: record a stop instead")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise SystemicError(
            f"amount {text!r} is not a dose per time (e.g. 120mg/day, 10mg/12h, 50mcg/h)"
        )
    value = Fraction(match["value"])
    unit = _UNITS[match["unit"].lower()]
    period_h = 24 if match["day"] else int(match["hours"] or 1)
    if not 1 <= period_h <= 24:
        raise SystemicError(f"amount {text!r}: the period must be 1 to 24 hours")
    return Amount(value, unit, period_h)


def _amount_for(entry_drug: Drug, amount: Amount, text: str) -> Fraction:
    """The amount in the drug's own measure: mg/day (oral) or mcg/h (patch)."""
    if entry_drug.form == "patch":
        if amount.unit != "mcg" or amount.period_h != 1:
            raise SystemicError(
                f"{entry_drug.name} is a patch: give its rate in mcg/h (e.g. 50mcg/h), not {text!r}"
            )
        measure = amount.value
    else:
        if amount.period_h == 1:
            raise SystemicError(
                f"{entry_drug.name} is taken by mouth: give mg per day or per dosing interval "
                f"(e.g. 120mg/day, 10mg/12h), not {text!r}"
            )
        measure = amount.per_day / 1000 if amount.unit == "mcg" else amount.per_day
    if measure <= 0:
        raise SystemicError(f"{entry_drug.name} {text!r}: the amount must be above zero")
    if entry_drug.factor is not None and measure * entry_drug.factor > MAX_MME_PER_DAY:
        raise SystemicError(
            f"{entry_drug.name} {text!r} is {format_mme(measure * entry_drug.factor)} MME/day, "
            f"more than the plausible {format_mme(MAX_MME_PER_DAY)}: check the entry"
        )
    if entry_drug.max_amount is not None and measure > entry_drug.max_amount:
        per = "mcg/h" if entry_drug.form == "patch" else "mg/day"
        limit = format_decimal(entry_drug.max_amount)
        raise SystemicError(
            f"{entry_drug.name} {text!r} is implausible (more than {limit} {per}): check the entry"
        )
    return measure


def mme_per_day(name: str, amount_text: str) -> Fraction | None:
    """The MME/day of ``amount_text`` of ``name``; ``None`` when the drug has no CDC factor."""
    entry_drug = drug(name)
    measure = _amount_for(entry_drug, parse_amount(amount_text), amount_text)
    if entry_drug.factor is None:
        return None
    return measure * entry_drug.factor


def normalise(name: str, amount_text: str) -> tuple[str, str]:
    """The canonical name and amount text, checked: raises ``SystemicError`` with one line."""
    entry_drug = drug(name)
    amount = parse_amount(amount_text)
    _amount_for(entry_drug, amount, amount_text)
    return entry_drug.name, amount.text


def _current(entries: list[SystemicEntry], at_s: int) -> dict[str, SystemicEntry]:
    """Each opioid's last ``set`` row still in force at ``at_s``."""
    current: dict[str, SystemicEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.time_s, e.id)):
        if entry.time_s > at_s:
            break
        if entry.action == "set":
            current[entry.name] = entry
        else:
            current.pop(entry.name, None)
    return current


def _total(current: dict[str, SystemicEntry]) -> Fraction:
    total = Fraction(0)
    for entry in current.values():
        mme = mme_per_day(entry.name, entry.amount_text)
        if mme is not None:
            total += mme
    return total


def load_from_entries(entries: list[SystemicEntry], now_s: int) -> SystemicLoad:
    """The systemic load at ``now_s`` from the record's rows (a pure function)."""
    current = _current(entries, now_s)
    opioids = tuple(
        SystemicOpioid(e.name, e.amount_text, mme_per_day(e.name, e.amount_text), e.time_s)
        for e in sorted(current.values(), key=lambda e: e.name)
    )
    total = sum((o.mme_per_day for o in opioids if o.mme_per_day is not None), Fraction(0))
    window_start = now_s - TAPER_LOOKBACK_S
    peak = _total(_current(entries, window_start))
    for entry in entries:
        if window_start < entry.time_s <= now_s:
            peak = max(peak, _total(_current(entries, entry.time_s)))
    return SystemicLoad(
        opioids=opioids,
        total_mme_per_day=total,
        tapering=total < peak,
        unknown=tuple(o.name for o in opioids if o.mme_per_day is None),
    )


def systemic_load(record: ClinicalRecord, serial: str, now_s: int) -> SystemicLoad:
    """The load now. Whatever the record holds has happened: an entry logged without the
    pump is dated on the record's timeline, which a stopped or slow pump clock may trail."""
    entries = record.systemic_entries(serial)
    return load_from_entries(entries, max([now_s, *(e.time_s for e in entries)]))


def format_decimal(value: Fraction) -> str:
    """Exact when the decimal terminates (``135/2`` → ``"67.5"``), else to one decimal with
    ``≈`` (``400/7`` → ``"≈57.1"``)."""
    scale = 0
    while (value * 10**scale).denominator != 1:
        if scale == 12:
            return f"≈{format_decimal(round(value, 1))}"
        scale += 1
    units = abs(value.numerator * 10**scale // value.denominator)
    sign = "-" if value < 0 else ""
    if scale == 0:
        return f"{sign}{units}"
    whole, rest = divmod(units, 10**scale)
    return f"{sign}{whole}.{str(rest).rjust(scale, '0')}"


def format_mme(value: Fraction) -> str:
    return format_decimal(value)


def fraction_text(value: Fraction) -> str:
    """For JSON: ``"67.5"`` when exact as a decimal, else ``"400/7"``."""
    text = format_decimal(value)
    return f"{value.numerator}/{value.denominator}" if text.startswith("≈") else text


def record_time_s(record: ClinicalRecord, serial: str, wall_now_s: int) -> int:
    """Now on the record's timeline for ``serial`` without its pump: the pump's clock as
    last seen (an audit entry's pump time against its wall time), carried forward by the
    wall clock; never before anything already recorded for it."""
    entries = record.audit_entries(serial)
    if not entries:
        return wall_now_s
    last = entries[-1]
    latest = max(int(e["time_s"]) for e in entries)
    offset = int(last["time_s"]) - int(last.get("wall_time_s", last["time_s"]))
    return max(latest, wall_now_s + offset)


# --- how every face shows the load -------------------------------------------------------

CAVEAT = (
    "MME per CDC 2022: estimates of overall load, not for converting one opioid to another; "
    "shown beside the intrathecal dose, never added to it"
)


def opioid_mme_text(opioid: SystemicOpioid) -> str:
    if opioid.mme_per_day is None:
        return "no CDC factor"
    return f"{format_mme(opioid.mme_per_day)} MME/day"


def total_text(load: SystemicLoad) -> str:
    """``"300 MME/day, tapering (buprenorphine not counted)"``."""
    text = f"{format_mme(load.total_mme_per_day)} MME/day"
    if load.tapering:
        text += ", tapering"
    if load.unknown:
        text += f" ({', '.join(load.unknown)} not counted: no CDC factor)"
    return text


def short_text(load: SystemicLoad) -> str:
    """For a narrow panel: ``"300 MME/d↓"`` (↓ tapering, + a drug without a factor)."""
    text = f"{format_mme(load.total_mme_per_day)} MME/d"
    if load.tapering:
        text += "↓"
    if load.unknown:
        text += "+"
    return text


def load_lines(load: SystemicLoad, when: Callable[[int], str]) -> list[str]:
    """One line per opioid (name, amount, MME/day, since), then the total."""
    lines = [
        f"{o.name:<20} {o.amount_text:<12} {opioid_mme_text(o):<16} since {when(o.since_s)}"
        for o in load.opioids
    ]
    lines.append(f"{'total':<20} {total_text(load)}")
    return lines


def load_json(load: SystemicLoad) -> dict[str, Any]:
    """MME as exact text (``"67.5"``, or ``"400/7"`` when the decimal does not end)."""
    return {
        "opioids": [
            {
                "name": o.name,
                "amount": o.amount_text,
                "mme_per_day": None if o.mme_per_day is None else fraction_text(o.mme_per_day),
                "since_s": o.since_s,
            }
            for o in load.opioids
        ],
        "total_mme_per_day": fraction_text(load.total_mme_per_day),
        "tapering": load.tapering,
        "no_cdc_factor": list(load.unknown),
        "taper_lookback_s": TAPER_LOOKBACK_S,
    }
