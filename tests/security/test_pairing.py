"""``pumpctl pair`` proves the implant key against the pump on ``--port``, enrols a key of
this programmer's own and stores that alone: a wrong key, or a key for another pump, is
refused in one line (exit 6) and nothing is stored."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.protocol.messages import EventCode
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest

pytestmark = pytest.mark.needs_simulator


@pytest.fixture
def fresh_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keystore:
    """An empty key store for the CLI, and a clinical record of its own."""
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(keys_dir / "keys.json"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PUMPCTL_DB", str(tmp_path / "clinical.db"))
    monkeypatch.setenv("PUMPCTL_CLINICIAN", "test")
    return Keystore(keys_dir / "keys.json")


def _key_file(tmp_path: Path, key: bytes) -> str:
    path = tmp_path / "pump.key"
    path.write_text(key.hex() + "\n")
    path.chmod(0o600)
    return str(path)


def _pump_key(pump: PumpUnderTest, role: str = "clinician") -> tuple[str, bytes]:
    """The pump's implant key for ``role``, as the clinic keeps it (the debug port hands it
    out)."""
    assert pump.sim is not None
    serial = pump.client.identify().serial_number
    return serial, bytes.fromhex(pump.sim.control.implant_key(role))


def test_the_pumps_own_key_is_proved_then_stored_and_works(
    pump: PumpUnderTest, fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serial, key = _pump_key(pump)
    pair = ["--port", pump.port, "pair", "--serial", serial]
    assert main([*pair, "--key-file", _key_file(tmp_path, key), "--label", "desk-3"]) == 0
    own = fresh_keys.own_programmer_id()
    assert f"Pump {serial} paired for the clinician role as programmer {own} (desk-3)" in (
        capsys.readouterr().out
    )
    stored = fresh_keys.key_for(serial, Role.CLINICIAN)
    assert stored is not None
    assert stored != key  # its own key, never the implant key
    assert fresh_keys.programmer_id(serial, Role.CLINICIAN) == own
    assert main(["--port", pump.port, "status"]) == 0  # the stored key opens sessions
    events, _ = pump.client.read_all_events()
    enrolled = [e for e in events if e.code == EventCode.PROGRAMMER_ENROLLED]
    assert [(e.value_a, e.detail) for e in enrolled] == [
        (own, f"programmer {own} (desk-3) enrolled as clinician by programmer 0 (implant key)")
    ]


def test_a_wrong_key_is_refused_and_not_stored(
    pump: PumpUnderTest, fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serial, _ = _pump_key(pump)
    wrong = _key_file(tmp_path, secrets.token_bytes(32))
    code = main(["--port", pump.port, "pair", "--serial", serial, "--key-file", wrong])
    err = capsys.readouterr().err
    assert code == 6, err
    assert len(err.strip().splitlines()) == 1
    assert "not stored" in err
    assert fresh_keys.key_for(serial, Role.CLINICIAN) is None
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    assert main(["audit", "show"]) == 0
    assert "authentication-failed" in capsys.readouterr().out


def test_a_key_for_another_serial_is_not_stored_under_it(
    pump: PumpUnderTest, fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serial, key = _pump_key(pump)
    code = main(
        [
            "--port",
            pump.port,
            "pair",
            "--serial",
            "SN-OTHER",
            "--key-file",
            _key_file(tmp_path, key),
        ]
    )
    err = capsys.readouterr().err
    assert code == 6, err
    assert f"is {serial}, not SN-OTHER" in err
    assert fresh_keys.key_for("SN-OTHER", Role.CLINICIAN) is None
    assert fresh_keys.key_for(serial, Role.CLINICIAN) is None


def test_pairing_without_a_port_says_so(
    fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = _key_file(tmp_path, secrets.token_bytes(32))
    code = main(["pair", "--serial", "SN1", "--key-file", key_file])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--port" in err
    assert fresh_keys.key_for("SN1", Role.CLINICIAN) is None


def test_a_patients_device_is_paired_with_its_roles_implant_key(
    pump: PumpUnderTest, fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Enrolment needs a clinician's session: a patient's device keeps its role's key."""
    _, key = _pump_key(pump, "patient")
    pair = ["--role", "patient", "--port", pump.port, "pair", "--serial", "SIM000001"]
    assert main([*pair, "--key-file", _key_file(tmp_path, key)]) == 0
    assert "as the implant key" in capsys.readouterr().out
    assert fresh_keys.programmer_id("SIM000001", Role.PATIENT) == 0
    assert fresh_keys.key_for("SIM000001", Role.PATIENT) == key
    with SyncPumpClient(pump.port, keys=fresh_keys, role=Role.PATIENT, exclusive=False) as device:
        assert device.status().dose_ng_per_day > 0


def test_a_trace_of_pairing_shows_the_enrolment_but_never_the_key(
    pump: PumpUnderTest, fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serial, key = _pump_key(pump)
    pair = ["--trace", "--port", pump.port, "pair", "--serial", serial]
    assert main([*pair, "--key-file", _key_file(tmp_path, key)]) == 0
    trace = capsys.readouterr().err
    stored = fresh_keys.key_for(serial, Role.CLINICIAN)
    assert stored is not None
    assert "ENROL_PROGRAMMER" in trace
    assert stored.hex() not in trace
    assert key.hex() not in trace


def test_the_simulators_key_file_pairs_as_a_clinics_would(
    pump: PumpUnderTest, fresh_keys: Keystore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pumpsim ctl implant-key FILE`` hands out what a clinic keeps from implant: a new
    owner-only file, never one overwritten; ``pumpctl pair`` takes it."""
    from firmware_sim.cli import ctl

    assert pump.sim is not None
    serial = pump.client.identify().serial_number
    assert pump.sim.control is not None  # the debug port, served from its first use
    path = tmp_path / "clinic.key"
    assert ctl(["--control", pump.sim.control_path, "implant-key", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert ctl(["--control", pump.sim.control_path, "implant-key", str(path)]) == 2
    assert "cannot create" in capsys.readouterr().err
    assert main(["--port", pump.port, "pair", "--serial", serial, "--key-file", str(path)]) == 0
    assert fresh_keys.key_for(serial, Role.CLINICIAN) is not None
