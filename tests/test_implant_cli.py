"""``pumpctl implant`` and the battery in ``pumpctl status``, in process against the plugin's
simulator: the implant record is reviewed old -> new, sent once, read back and audited, and
every later audit entry names the patient; bad input is one line (exit 2); a refill's bridge
bolus comes from the record's volumes with its arithmetic shown, and another dose needs a
reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pumpctl.display import local_date
from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.test_cli import assert_fails, assert_ok, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = pytest.mark.needs_simulator

IMPLANT = (
    "implant",
    "set",
    "--patient-id",
    "P-0042",
    "--implanted",
    "2025-12-01",
    "--tip",
    "t10",
    "--catheter-length-cm",
    "50.0",
    "--catheter-volume-ul",
    "55",
)


def test_write_show_and_audit_the_implant_record(pump: PumpUnderTest, env: dict[str, str]) -> None:
    port = pump.port
    assert "No implant record" in assert_ok(pumpctl(env, "implant", "show", port=port))
    status = json.loads(assert_ok(pumpctl(env, "--json", "status", port=port)))
    assert status["patient_id"] is None

    out = assert_ok(pumpctl(env, *IMPLANT, port=port))
    assert "Write the implant record" in out
    assert "Patient id            - -> P-0042" in out
    assert "Catheter tip          - -> T10" in out
    assert "Catheter length       - -> 50 cm" in out
    assert "Pump internal volume  - -> 20 µL (IT-20 default)" in out
    assert out.splitlines()[-1] == (
        "Implant record for patient P-0042 written, verified by read-back"
    )
    events, _ = pump.client.read_all_events(0)
    written = [e for e in events if e.code == EventCode.IMPLANT_RECORD_WRITTEN]
    assert [(e.value_a, e.value_b) for e in written] == [(55_000, 20_000)]
    assert "P-0042" not in written[0].detail  # the event log never names the patient

    shown = json.loads(assert_ok(pumpctl(env, "--json", "implant", "show", port=port)))
    assert shown["patient_id"] == "P-0042"
    status = json.loads(assert_ok(pumpctl(env, "--json", "status", port=port)))
    assert status["patient_id"] == "P-0042"
    assert shown["catheter_tip"] == "T10"
    assert (shown["catheter_length_mm"], shown["catheter_volume_nl"]) == (500, 55_000)
    assert shown["pump_volume_nl"] == 20_000
    # Priming: 75 µL of 25 mg/mL.
    assert shown["priming_bolus_ng"] == 1_875_000
    text = assert_ok(pumpctl(env, "implant", "show", port=port))
    assert "(pump 20 µL + catheter 55 µL) = 75 µL x 25 mg/mL = 1.875 mg" in text

    assert "nothing sent" in assert_ok(pumpctl(env, *IMPLANT, port=port))

    # Every audit entry after the record was read names the patient.
    assert_ok(pumpctl(env, "catheter-check", port=port))
    audit = json.loads(assert_ok(pumpctl(env, "--json", "audit", "show")))
    entries = audit["entries"] if isinstance(audit, dict) else audit
    kinds = {e["action"]: e.get("patient_id") for e in entries}
    assert kinds["patient-identified"] == "P-0042"
    assert kinds["command-confirmed"] == "P-0042"


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--tip", "S1", "catheter tip 'S1' is not a level"),
        ("--catheter-length-cm", "5", "catheter length must be 10 to 150 cm, not 5 cm"),
        ("--catheter-length-cm", "50.05", "more than 1 decimals"),
        ("--catheter-volume-ul", "900", "catheter volume must be 1 to 500 µL, not 900 µL"),
        ("--implanted", "2027-01-01", "implant date must be from 1990-01-01 to the pump's today"),
        ("--implanted", "01/12/2025", "is not a date YYYY-MM-DD"),
        ("--patient-id", "Jos\u00e9", "patient id must be 1 to 32 printable ASCII characters"),
    ],
)
def test_a_bad_field_is_one_line_and_sends_nothing(
    pump: PumpUnderTest, env: dict[str, str], option: str, value: str, needle: str
) -> None:
    argv = list(IMPLANT)
    argv[argv.index(option) + 1] = value
    result = pumpctl(env, *argv, port=pump.port)
    assert result.returncode in (1, 2), result
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not pump.client.read_implant().recorded


def test_refill_bridge_bolus_from_the_implant_record(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    port = pump.port
    refill = ("refill", "--withdrawn", "20", "--added", "20", "--concentration", "10")
    confirm = ("--confirm-large-change",)
    # No record: the clinician gives the dose or waives it.
    assert_fails(pumpctl(env, *refill, *confirm, port=port), 1, "BRIDGE_BOLUS_REQUIRED")
    assert_ok(pumpctl(env, *IMPLANT, port=port))
    # Another dose than the record's needs a reason, and sends nothing without one.
    assert_fails(
        pumpctl(env, *refill, *confirm, "--bridge-bolus", "0.5", port=port),
        1,
        "differs from the (pump 20 µL + catheter 55 µL) = 75 µL x 10 mg/mL = 0.75 mg",
    )
    out = assert_ok(pumpctl(env, *refill, *confirm, port=port))
    assert "Bridge bolus                          - -> 0.75 mg" in out
    assert "(pump 20 µL + catheter 55 µL) = 75 µL x 10 mg/mL = 0.75 mg" in out
    assert "the patient receives the old drug in the pump and catheter: 1.875 mg" in out
    events, _ = pump.client.read_all_events(0)
    bridge = [e for e in events if e.code == EventCode.BOLUS_STARTED]
    assert [e.value_a for e in bridge] == [750_000]


def test_refill_bridge_bolus_overridden_with_a_reason(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    port = pump.port
    assert_ok(pumpctl(env, *IMPLANT, port=port))
    out = assert_ok(
        pumpctl(
            env,
            *("refill", "--withdrawn", "20", "--added", "20", "--concentration", "10"),
            "--confirm-large-change",
            *("--bridge-bolus", "0.5", "--bridge-reason", "catheter trimmed, volume re-measured"),
            port=port,
        )
    )
    assert "Bridge bolus 0.5 mg instead of the 0.75 mg the implant record gives: catheter" in out
    audit = assert_ok(pumpctl(env, "--json", "audit", "show"))
    assert "catheter trimmed, volume re-measured" in audit


def test_status_shows_the_battery_projection_and_elective_replacement(
    pump: PumpUnderTest, simulator: SimulatorProcess, env: dict[str, str]
) -> None:
    status = pump.client.status()
    text = assert_ok(pumpctl(env, "status", port=pump.port))
    assert (
        f"Battery    100 %, elective replacement {local_date(status.battery_eri_projected_s)}, "
        f"end of service {local_date(status.battery_eos_projected_s)}"
    ) in text
    simulator.fault("battery", "3")
    text = assert_ok(pumpctl(env, "status", port=pump.port))
    assert "Battery    3 %: ELECTIVE REPLACEMENT since" in text
    assert "ELECTIVE_REPLACEMENT (warning)" in text
    simulator.fault("battery", "0")
    text = assert_ok(pumpctl(env, "status", port=pump.port))
    assert "END OF SERVICE, delivery stopped for good: replace the pump" in text
    assert "stopped (battery depleted)" in text
    assert_fails(pumpctl(env, "resume", port=pump.port), 1, "PUMP_STOPPED", "end of service")


def test_the_visit_report_names_the_patient_and_the_battery(
    pump: PumpUnderTest, env: dict[str, str], tmp_path: Path
) -> None:
    assert_ok(pumpctl(env, *IMPLANT, port=pump.port))
    status = assert_ok(pumpctl(env, "status", port=pump.port)).splitlines()
    assert status[1] == "Patient    P-0042 (the pump's implant record)"
    (tmp_path / "out").mkdir()
    assert_ok(pumpctl(env, "report", "--out", str(tmp_path / "out"), port=pump.port))
    [markdown] = (tmp_path / "out").glob("*.md")
    text = markdown.read_text("utf-8")
    assert "- **Patient:** P-0042" in text
    eri = local_date(pump.client.status().battery_eri_projected_s)
    assert f"| Battery | - | 100 %, elective replacement {eri}, end of service " in text
    [page] = (tmp_path / "out").glob("*.html")
    assert "P-0042" in page.read_text("utf-8")


def test_a_new_process_knows_the_patient_from_the_audit_trail(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert_ok(pumpctl(env, *IMPLANT, port=pump.port))
    # A later run reads no implant record (the record knows the patient) and still names it.
    assert_ok(pumpctl(env, "stop", "--confirm-withdrawal-risk", port=pump.port))
    assert_ok(pumpctl(env, "audit", "verify"))
    audit = json.loads(assert_ok(pumpctl(env, "--json", "audit", "show")))
    entries = audit["entries"] if isinstance(audit, dict) else audit
    stopped = [e for e in entries if e["data"].get("kind") == "stop"]
    assert stopped
    assert {e.get("patient_id") for e in stopped} == {"P-0042"}
