"""``pumpctl demand-bolus`` and ``pumpctl demand-log`` end to end, in process against the
plugin's simulator: the clinician's settings reviewed in the drug's unit, sent once, read
back and audited; the patient's press (``--role patient``) takes no dose; the activation log
shows given and refused presses; bad input is one line (exit 2), a refusal names its rule
(exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_fails, assert_ok, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = pytest.mark.needs_simulator  # pairs the patient role through the debug port

SET = ("demand-bolus", "set", "0.1", "--duration", "15", "--lockout", "240", "--per-day", "3")


def test_demand_boluses_from_the_shell(
    pump: PumpUnderTest, env: dict[str, str], tmp_path: Path
) -> None:
    assert pump.sim is not None
    port = pump.port
    assert "Demand bolus: off" in assert_ok(pumpctl(env, "demand-bolus", "show", port=port))
    out = assert_ok(pumpctl(env, *SET, port=port))
    assert "Program demand boluses" in out
    assert "Demand allowance a day" in out
    assert "0 mg -> 0.3 mg" in out
    assert out.splitlines()[-1] == (
        "Demand boluses 0.1 mg over 15 min, lockout 4 h, 3 a day, verified by read-back"
    )
    assert "nothing sent" in assert_ok(pumpctl(env, *SET, port=port))

    patient = dict(env, PUMPCTL_KEYSTORE=str(pump.sim.workdir / "patient-keys.json"))
    pump.sim.control.pair(patient["PUMPCTL_KEYSTORE"], "patient")
    taken = assert_ok(pumpctl(patient, "--role", "patient", "demand-bolus", "take", port=port))
    assert taken.startswith("Demand bolus given over 15 min (the clinician's dose)")
    assert_fails(
        pumpctl(patient, "--role", "patient", "demand-bolus", "take", port=port),
        1,
        "BOLUS_LOCKOUT",
        "lockout is 240 min",
    )
    assert_fails(
        pumpctl(patient, "--role", "patient", "bolus", "0.2", port=port), 1, "ROLE_FORBIDDEN"
    )

    log = assert_ok(pumpctl(env, "demand-log", port=port))
    assert log.splitlines()[0] == ("Demand-bolus activations: 1 given (0.1 mg); 1 refused: lockout")
    data = json.loads(assert_ok(pumpctl(env, "--json", "demand-log", port=port)))
    assert [(e["outcome"], e["count"]) for e in data["entries"]] == [
        ("GIVEN", 1),
        ("REFUSED_LOCKOUT", 1),
    ]
    shown = json.loads(assert_ok(pumpctl(env, "--json", "demand-bolus", "show", port=port)))
    assert (shown["dose_ng"], shown["given_last_24h"], shown["unit"]) == (100_000, 1, "mg")
    assert_ok(pumpctl(env, "report", "--out", str(tmp_path), port=port))
    (markdown,) = tmp_path.glob("visit-*.md")
    visit = markdown.read_text()
    assert "## Patient demand boluses" in visit
    assert "- Activations during the visit: 1 given (0.1 mg); 1 refused: lockout" in visit
    assert "refused: lockout" in next(tmp_path.glob("visit-*.html")).read_text()

    assert_fails(pumpctl(env, *SET[:2], "0.3", *SET[3:], port=port), 1, "exceeds the maximum bolus")
    assert_fails(pumpctl(env, *SET[:4], "ten", *SET[5:], port=port), 2, "--duration (minutes)")
    assert "Demand boluses off" in assert_ok(pumpctl(env, "demand-bolus", "off", port=port))
    audit = assert_ok(pumpctl(env, "audit", "show"))
    assert audit.count("demand-bolus") >= 2
