"""Hard limits no role can move: a service key cannot open the drug library to the wire's
maxima, and a patient key cannot take a bolus faster than the drug's minimum duration.
Against the pump through its serial line, and the reference model beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from firmware_sim.model.hard_limits import BOUNDS, breaches, hard_limits_for
from firmware_sim.model.library import default_library
from firmware_sim.model.pump import Pump
from firmware_sim.simulator import InitialProgram, first_boot
from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.link.errors import PumpRefused
from pumpctl.protocol.messages import (
    BolusRequest,
    LimitsResponse,
    Nak,
    NakCode,
    SetDemandBolusRequest,
    WriteLimitsRequest,
)
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.reference import ReferencePump

pytestmark = pytest.mark.needs_simulator  # pairing the service and patient roles
ROOT = Path(__file__).resolve().parents[2]
WRITABLE = [name for name in WriteLimitsRequest.model_fields if name not in ("request_id", "drug")]
# The largest each field's wire type holds (protocol.md §5.3, WRITE_LIMITS).
WIRE_MAX = {
    "max_step_pct": 0xFFFF,
    "max_boluses_per_day": 0xFF,
    "large_change_factor": 0xFF,
}


def paired(pump: PumpUnderTest, role: str) -> Keystore:
    assert pump.sim is not None
    path = pump.sim.workdir / f"{role}-keys.json"
    pump.sim.control.pair(str(path), role)
    return Keystore(path)


def loosest(limits: LimitsResponse) -> dict[str, int]:
    """Every field at the wire's loosest: maxima at their largest, floors at 0."""
    values = {name: getattr(limits, name) for name in WRITABLE}
    for name, (kind, _) in BOUNDS.items():
        values[name] = WIRE_MAX.get(name, 0xFFFF_FFFF) if kind == "ceiling" else 0
    values["min_concentration_ng_per_ml"] = limits.min_concentration_ng_per_ml
    return values


def test_a_service_key_cannot_open_the_library_to_the_wire_maxima(pump: PumpUnderTest) -> None:
    before = pump.client.read_limits()
    bounds = hard_limits_for("morphine")
    assert bounds is not None
    service = SyncPumpClient(pump.port, keys=paired(pump, "service"), role=Role.SERVICE)
    try:
        with pytest.raises(PumpRefused) as refused:
            service.write_limits(before.model_copy(update=loosest(before)))
        assert refused.value.code == NakCode.ABOVE_HARD_LIMIT
        detail = refused.value.nak.detail
        assert "max_concentration_ng_per_ml 4294.967295 mg/mL is above the hard limit" in detail
        assert "of 25 mg/mL for morphine (and 8 more fields)" in detail
        # Each field alone, at its loosest, is refused naming that field and its bound.
        for name in BOUNDS:
            one = {name: loosest(before)[name]}
            if name == "bolus_max_ng":
                one[name] = before.max_dose_ng_per_day  # no more than the daily maximum
            if name == "min_concentration_ng_per_ml":
                one[name] = 1
            with pytest.raises(PumpRefused) as refused:
                service.write_limits(before.model_copy(update=one))
            assert refused.value.code == NakCode.ABOVE_HARD_LIMIT, name
            assert refused.value.nak.detail.startswith(name), refused.value.nak.detail
            assert refused.value.nak.limit == bounds[name]
        # Within them, the service role still tightens or loosens.
        hard = {name: bounds[name] for name in BOUNDS}
        assert service.write_limits(before.model_copy(update=hard)).bolus_max_ng == 500_000
    finally:
        service.close()
    # The attack of the report: 100 mg boluses from the patient's key are refused; the
    # patient chooses no dose at all, and the clinician's demand bolus is held to the limits.
    patient = SyncPumpClient(pump.port, keys=paired(pump, "patient"), role=Role.PATIENT)
    try:
        with pytest.raises(PumpRefused, match="ROLE_FORBIDDEN"):
            patient.bolus(100_000_000, 600)
    finally:
        patient.close()
    with pytest.raises(PumpRefused, match="BOLUS_TOO_LARGE"):
        pump.client.send_once(demand_settings(100_000_000, 600))


def demand_settings(dose_ng: int, duration_s: int) -> SetDemandBolusRequest:
    return SetDemandBolusRequest(
        request_id=int.from_bytes(os.urandom(8), "big") | 1,
        dose_ng=dose_ng,
        duration_s=duration_s,
        lockout_s=4 * 3600,
        per_day=1,
        believed_dose_ng=0,
        believed_per_day=0,
    )


def test_a_patient_bolus_has_a_minimum_duration(pump: PumpUnderTest) -> None:
    for seconds in (1, 599):
        with pytest.raises(PumpRefused) as refused:
            pump.client.send_once(demand_settings(50_000, seconds))
        assert refused.value.code == NakCode.BOLUS_TOO_SHORT
        assert refused.value.nak.limit == 600
        assert f"at least 10 min for morphine, not {seconds} s" in refused.value.nak.detail
    pump.client.send_once(demand_settings(50_000, 600))
    patient = SyncPumpClient(pump.port, keys=paired(pump, "patient"), role=Role.PATIENT)
    try:
        assert patient.demand_bolus().duration_s == 600
    finally:
        patient.close()


def test_the_shipped_library_lies_within_its_hard_limits() -> None:
    library = default_library()
    for drug, limits in library.drugs.items():
        bounds = hard_limits_for(drug)
        assert bounds is not None, f"{drug} has no hard limits"
        for name, (kind, _) in BOUNDS.items():
            value = getattr(limits, name)
            assert value <= bounds[name] if kind == "ceiling" else value >= bounds[name], name


def test_the_reference_model_refuses_what_the_pump_refuses() -> None:
    """Each field one step either side of its bound and on it, for every drug: the pump's
    check and the reference model's agree; and a patient's one-second bolus."""
    library = default_library()
    for drug in library.drugs:
        limits = library.limits_for(drug)
        current = {name: getattr(limits, name) for name in WRITABLE}
        bounds = hard_limits_for(drug)
        assert bounds is not None
        ref = ReferencePump.implanted(
            limits,
            library.model("IT-20"),
            now_ms=0,
            dose_ng_per_day=0,
            concentration_ng_per_ml=limits.max_concentration_ng_per_ml,
            volume_ul=1000,
        )
        refused = 0
        for name in BOUNDS:
            for step in (-1, 0, 1):
                values = {**current, name: bounds[name] + step}
                if (
                    values["bolus_max_ng"] > values["max_dose_ng_per_day"]
                    or min(values.values()) < 0
                ):
                    continue  # inconsistent, or not on the wire
                pump_refuses = bool(breaches(limits, values))
                expected = NakCode.ABOVE_HARD_LIMIT if pump_refuses else None
                ref.limits = limits
                assert ref.write_limits(values) == expected, (drug, name, step)
                refused += pump_refuses
        # Each bound refused from its loose side (a floor of 0 has none on the wire), only.
        loose = [n for n, (kind, _) in BOUNDS.items() if kind == "ceiling" or bounds[n] > 0]
        assert refused == len(loose)
        ref.limits = limits
        assert ref.bolus(1, 1, 1, patient=True) == NakCode.BOLUS_TOO_SHORT

    state, held = first_boot(InitialProgram(frozen_clock=True), library)
    pump = Pump(state, held, _Events())
    answer = pump.handle(BolusRequest(request_id=1, dose_ng=1, duration_s=1), patient=True)
    assert isinstance(answer, Nak)
    assert answer.code == NakCode.BOLUS_TOO_SHORT
    answer = pump.handle(BolusRequest(request_id=2, dose_ng=1, duration_s=1))
    assert not isinstance(answer, Nak)  # a clinician's bolus is not held to it


class _Events:
    def append(self, event: object) -> None:
        pass


def test_the_docs_list_every_hard_limit() -> None:
    """docs/simulator.md §4.1 has a row, with its source, for every number of ``hard_limits``."""
    doc = (ROOT / "docs" / "simulator.md").read_text()
    rows = {
        tuple(cell.strip() for cell in line.strip().strip("|").split("|")[:3])
        for line in doc.splitlines()
        if line.startswith("| `")
    }
    data = json.loads((ROOT / "firmware_sim" / "drug_library.json").read_text())
    wanted = {
        (f"`{drug}`", f"`hard_limits.{name}`", f"{value}")
        for drug, values in data["hard_limits"].items()
        for name, value in values.items()
    }
    missing = sorted(wanted - rows)
    assert not missing, f"docs/simulator.md lacks rows for: {missing}"
