"""Drug library and pump models: data the pump holds, loaded from JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any


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
            "schema": 1,
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
        return cls(
            drugs={n: DrugLimits(drug=n, **d) for n, d in data["drugs"].items()},
            pump_models={n: PumpModel(name=n, **m) for n, m in data["pump_models"].items()},
        )


def default_library() -> DrugLibrary:
    text = resources.files("firmware_sim").joinpath("drug_library.json").read_text()
    return DrugLibrary.from_json(json.loads(text))
