"""Drug library and pump models: data the pump holds, loaded from JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

SCHEMA = 2
WITHDRAWAL_RISKS = ("none", "opioid", "baclofen")
# Schema 1 had no bridge maximum, withdrawal risk, re-titration interval or refill interval.
# A drug the shipped library does not know gets these when such a library is loaded: the
# strictest reading, but for the refill interval, which no source gives for an unknown drug
# (180 days: the longest of the shipped drugs, baclofen's label; design default — verify).
UNKNOWN_DRUG_WITHDRAWAL_RISK = "opioid"
UNKNOWN_DRUG_RETITRATION_INTERVAL_S = 7 * 86_400
UNKNOWN_DRUG_MAX_REFILL_INTERVAL_S = 180 * 86_400


@dataclass(frozen=True, slots=True)
class DrugLimits:
    drug: str
    display_unit: str
    min_concentration_ng_per_ml: int
    max_concentration_ng_per_ml: int
    max_dose_ng_per_day: int
    max_step_pct: int
    max_step_ng_per_day: int
    min_increase_interval_s: int
    bolus_max_ng: int
    bolus_lockout_s: int
    max_boluses_per_day: int
    large_change_factor: int
    bridge_bolus_max_ng: int
    withdrawal_risk: str  # one of WITHDRAWAL_RISKS
    retitration_interval_s: int
    # The longest a fill of this drug may stay in the pump (drug stability). The pump only
    # reports it (READ_LIMITS); the programmer shows the next refill date as the earlier of
    # the low-reservoir date and the fill's expiry.
    max_refill_interval_s: int


@dataclass(frozen=True, slots=True)
class PumpModel:
    name: str
    reservoir_capacity_ul: int
    refill_tolerance_ul: int
    low_reservoir_ul: int
    min_flow_nl_per_day: int


@dataclass(frozen=True, slots=True)
class DrugLibrary:
    drugs: dict[str, DrugLimits]
    pump_models: dict[str, PumpModel]

    def limits_for(self, drug: str) -> DrugLimits:
        try:
            return self.drugs[drug]
        except KeyError:
            known = ", ".join(sorted(self.drugs))
            raise ValueError(f"drug {drug!r} is not in the drug library ({known})") from None

    def model(self, name: str) -> PumpModel:
        try:
            return self.pump_models[name]
        except KeyError:
            known = ", ".join(sorted(self.pump_models))
            raise ValueError(f"pump model {name!r} is unknown ({known})") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "pump_models": {
                n: {k: v for k, v in asdict(m).items() if k != "name"}
                for n, m in self.pump_models.items()
            },
            "drugs": {
                n: {k: v for k, v in asdict(d).items() if k != "drug"}
                for n, d in self.drugs.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DrugLibrary:
        """A library of this schema or an older one (schema 1, as kept in the NV memory of
        pumps first booted before schema 2: the fields it lacks come from the shipped
        library's entry for the drug, or the strictest values for a drug it does not know).
        A newer schema is refused: this firmware cannot know what its fields mean."""
        schema = data.get("schema", 1)
        if not isinstance(schema, int) or schema < 1:
            raise ValueError(f"drug library schema {schema!r} is not a schema number")
        if schema > SCHEMA:
            raise ValueError(
                f"drug library schema {schema} is newer than this firmware's ({SCHEMA}): "
                f"update the firmware or load a library of schema {SCHEMA}"
            )
        drugs = {}
        for name, values in data["drugs"].items():
            if schema < 2:
                values = {**_schema_2_fields(name, values), **values}
            try:
                limits = DrugLimits(drug=name, **values)
            except TypeError as error:  # a missing or unknown field, named by the dataclass
                raise ValueError(f"drug library entry {name!r}: {error}") from None
            if limits.withdrawal_risk not in WITHDRAWAL_RISKS:
                raise ValueError(
                    f"{name}: withdrawal_risk {limits.withdrawal_risk!r} is not one of "
                    f"{', '.join(WITHDRAWAL_RISKS)}"
                )
            drugs[name] = limits
        return cls(
            drugs=drugs,
            pump_models={n: PumpModel(name=n, **m) for n, m in data["pump_models"].items()},
        )


def _schema_2_fields(drug: str, values: dict[str, Any]) -> dict[str, Any]:
    """What a schema-1 drug entry lacks: the shipped defaults for that drug, if it has one."""
    shipped = _shipped_json()["drugs"].get(drug)
    if shipped is not None:
        return {
            "bridge_bolus_max_ng": shipped["bridge_bolus_max_ng"],
            "withdrawal_risk": shipped["withdrawal_risk"],
            "retitration_interval_s": shipped["retitration_interval_s"],
            "max_refill_interval_s": shipped["max_refill_interval_s"],
        }
    return {
        "bridge_bolus_max_ng": values.get("bolus_max_ng", 0),
        "withdrawal_risk": UNKNOWN_DRUG_WITHDRAWAL_RISK,
        "retitration_interval_s": UNKNOWN_DRUG_RETITRATION_INTERVAL_S,
        "max_refill_interval_s": UNKNOWN_DRUG_MAX_REFILL_INTERVAL_S,
    }


@cache
def _shipped_text() -> str:
    return resources.files("firmware_sim").joinpath("drug_library.json").read_text()


def _shipped_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_shipped_text())
    return data


def shipped_json() -> dict[str, Any]:
    """The drug library built into the firmware, as JSON (its ``hard_limits`` included)."""
    return _shipped_json()


def default_library() -> DrugLibrary:
    return DrugLibrary.from_json(_shipped_json())
