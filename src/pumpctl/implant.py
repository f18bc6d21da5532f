"""The implant record, shared by the pump and the programmer: its fields and their bounds,
and the bridge and priming bolus arithmetic that uses its volumes.

The pump refuses a record outside these bounds (``firmware_sim.model.implant``); the
programmer refuses it first, with the same table. No public source gives the bounds or the
pump's internal volume: design defaults — verify (docs/simulator.md §3.14).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pumpctl.display import pump_day
from pumpctl.units import UnitError, format_amount, format_concentration, parse_number

PATIENT_ID_MAX = 32  # characters of printable ASCII
# Vertebral levels a catheter tip is placed at, cervical to lumbar.
TIP_LEVELS = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
)
CATHETER_LENGTH_MM = (100, 1500)
CATHETER_VOLUME_NL = (1_000, 500_000)  # 1 µL to 0.5 mL
PUMP_VOLUME_NL = (1_000, 500_000)
# The pump's internal (dead) volume when the clinician enters none, by model.
MODEL_PUMP_VOLUME_NL = {"IT-20": 20_000, "IT-40": 20_000}
DEFAULT_PUMP_VOLUME_NL = 20_000
EARLIEST = date(1990, 1, 1)
EPOCH = date(1970, 1, 1)
NL_PER_ML = 1_000_000


@dataclass(frozen=True)
class ImplantRecord:
    """What a clinician writes: the wire's integers (mm, nL, days since 1970-01-01)."""

    patient_id: str
    implanted_day: int
    catheter_tip: str
    catheter_length_mm: int
    catheter_volume_nl: int
    pump_volume_nl: int = 0  # 0: the pump model's

    @property
    def implanted(self) -> date:
        return date.fromordinal(EPOCH.toordinal() + self.implanted_day)


def day_of(when: date) -> int:
    return when.toordinal() - EPOCH.toordinal()


def today_on_pump(pump_time_s: int) -> int:
    return day_of(pump_day(pump_time_s))


def parse_date(text: str, what: str) -> date:
    """``YYYY-MM-DD`` as typed; ``UnitError`` (one line) otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UnitError(f"{what} {text!r} is not a date YYYY-MM-DD") from None


def parse_fixed(text: str, what: str, places: int, unit: str) -> int:
    """A decimal as typed in ``unit`` with at most ``places`` decimals, as an integer of
    10^-places of it (``"50.0"`` cm with 1 place: 500 mm)."""
    value = parse_number(text, what, unit) * 10**places
    if value != value.to_integral_value():
        raise UnitError(f"{what} {text!r} {unit} has more than {places} decimals")
    if value > 0xFFFF_FFFF:
        raise UnitError(f"{what} {text!r} {unit} is too large")
    return int(value)


def model_pump_volume_nl(model_name: str) -> int:
    return MODEL_PUMP_VOLUME_NL.get(model_name, DEFAULT_PUMP_VOLUME_NL)


def problem(record: ImplantRecord, today_day: int) -> str | None:
    """What is wrong with a record, in one line naming the field; None if nothing."""
    pid = record.patient_id
    if not 1 <= len(pid) <= PATIENT_ID_MAX or not all(" " <= c <= "~" for c in pid):
        return f"patient id must be 1 to {PATIENT_ID_MAX} printable ASCII characters"
    if pid != pid.strip():
        return "patient id must not begin or end with a space"
    if not day_of(EARLIEST) <= record.implanted_day <= today_day:
        return f"implant date must be from {EARLIEST} to the pump's today"
    if record.catheter_tip not in TIP_LEVELS:
        return f"catheter tip {record.catheter_tip[:8]!r} is not a level C1..C7, T1..T12, L1..L5"
    low, high = CATHETER_LENGTH_MM
    if not low <= record.catheter_length_mm <= high:
        return (
            f"catheter length must be {low // 10} to {high // 10} cm, "
            f"not {record.catheter_length_mm / 10:g} cm"
        )
    low, high = CATHETER_VOLUME_NL
    if not low <= record.catheter_volume_nl <= high:
        return (
            f"catheter volume must be {low // 1000} to {high // 1000} µL, "
            f"not {record.catheter_volume_nl / 1000:g} µL"
        )
    low, high = PUMP_VOLUME_NL
    if record.pump_volume_nl and not low <= record.pump_volume_nl <= high:
        return (
            f"pump volume must be {low // 1000} to {high // 1000} µL, "
            f"not {record.pump_volume_nl / 1000:g} µL"
        )
    return None


def microlitres(nl: int) -> str:
    return f"{nl / 1000:g} µL"


@dataclass(frozen=True)
class DeadVolumeBolus:
    """A bolus that moves the pump's and the catheter's internal volume: a bridge bolus at a
    concentration change, or a priming bolus filling an empty catheter. The pump meters a
    bolus as a dose of the drug in its reservoir, so the dose is the volume at the reservoir's
    (new) concentration."""

    pump_volume_nl: int
    catheter_volume_nl: int
    concentration_ng_per_ml: int
    unit: str

    @property
    def volume_nl(self) -> int:
        return self.pump_volume_nl + self.catheter_volume_nl

    @property
    def dose_ng(self) -> int:
        """Rounded to the nearest ng."""
        return (self.volume_nl * self.concentration_ng_per_ml + NL_PER_ML // 2) // NL_PER_ML

    def arithmetic(self) -> str:
        """The calculation as a person checks it."""
        return (
            f"(pump {microlitres(self.pump_volume_nl)} + catheter "
            f"{microlitres(self.catheter_volume_nl)}) = {microlitres(self.volume_nl)} x "
            f"{format_concentration(self.concentration_ng_per_ml, self.unit)} = "
            f"{format_amount(self.dose_ng, self.unit, False)}"
        )


def dead_volume_bolus(
    pump_volume_nl: int, catheter_volume_nl: int, concentration_ng_per_ml: int, unit: str
) -> DeadVolumeBolus:
    return DeadVolumeBolus(pump_volume_nl, catheter_volume_nl, concentration_ng_per_ml, unit)
