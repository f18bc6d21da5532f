"""The key store carries a schema version: a file of the first, unversioned layout (the
fixture, as that release wrote it) is migrated with nothing lost and a backup kept; a newer
version is refused in one line naming both versions, and never rewritten."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.keystore import SCHEMA_VERSION, Keystore, KeystoreError
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest

FIXTURE = Path(__file__).parent / "fixtures" / "keystore-v1.json"


def schema1_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    path = directory / "keys.json"
    shutil.copyfile(FIXTURE, path)
    path.chmod(0o600)
    return path


def test_a_schema_1_key_store_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    path = schema1_copy(tmp_path)
    before = json.loads(FIXTURE.read_text())
    store = Keystore(path)
    for serial, roles in before.items():
        for role, hex_key in roles.items():
            assert store.key_for(serial, Role[role.upper()]) == bytes.fromhex(hex_key)
            assert store.programmer_id(serial, Role[role.upper()]) == 0  # implant keys
    migrated = json.loads(path.read_text())
    assert migrated["schema"] == SCHEMA_VERSION == 2
    assert migrated["pumps"] == {
        serial: {role: {"id": 0, "key": key} for role, key in roles.items()}
        for serial, roles in before.items()
    }
    backup = path.with_name("keys.json.schema1")
    assert backup.read_bytes() == FIXTURE.read_bytes()
    for kept in (path, backup):
        assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".keys-")]


def test_a_migrated_store_takes_a_new_pairing_and_keeps_the_rest(tmp_path: Path) -> None:
    path = schema1_copy(tmp_path)
    store = Keystore(path)
    store.add("SIM000099", Role.CLINICIAN, bytes(range(32)), store.own_programmer_id())
    assert store.key_for("SIM000042", Role.SERVICE) == bytes.fromhex("5c" * 32)
    assert store.programmer_ids(Role.CLINICIAN) == [store.own_programmer_id(), 0]


@pytest.mark.parametrize("version", [3, 99])
def test_a_newer_key_store_is_refused_naming_both_versions(tmp_path: Path, version: int) -> None:
    path = schema1_copy(tmp_path)
    text = json.dumps({"schema": version, "pumps": {}, "from": "a newer pumpctl"})
    path.write_text(text)
    with pytest.raises(KeystoreError) as refused:
        Keystore(path).key_for("SIM000001", Role.CLINICIAN)
    message = str(refused.value)
    assert f"schema {version}, newer than this programmer's (2)" in message
    assert "\n" not in message
    with pytest.raises(KeystoreError):
        Keystore(path).add("SIM000001", Role.CLINICIAN, bytes(32))
    assert path.read_text() == text  # never rewritten


@pytest.mark.needs_simulator  # the implant key comes from its debug port
def test_a_schema_1_store_of_the_implant_key_still_opens_sessions(
    pump: PumpUnderTest, cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clinic that upgrades keeps working with the implant key it paired before."""
    assert pump.sim is not None
    key = bytes.fromhex(pump.sim.control.implant_key("clinician"))
    path = schema1_copy(tmp_path)
    path.write_text(json.dumps({"SIM000001": {"clinician": key.hex()}}))
    assert main(["--keystore", str(path), "--port", pump.port, "status"]) == 0, (
        capsys.readouterr().err
    )
    assert json.loads(path.read_text())["schema"] == 2


def test_a_store_of_this_release_is_read_as_it_is(tmp_path: Path) -> None:
    """The fixture of schema 2, for the next migration to be proved on."""
    path = schema1_copy(tmp_path)
    fixture = FIXTURE.with_name("keystore-v2.json")
    shutil.copyfile(fixture, path)
    store = Keystore(path)
    assert store.own_programmer_id() == 305419896
    assert store.programmer_ids(Role.CLINICIAN) == [305419896]
    assert store.key_for("SIM000001", Role.CLINICIAN) == bytes.fromhex("40" * 32)
    assert store.programmer_id("SIM000001", Role.PATIENT) == 0
    assert store.key_for("SIM000042", Role.SERVICE) == bytes.fromhex("5c" * 32)
    assert path.read_bytes() == fixture.read_bytes()  # nothing migrated, nothing rewritten
    assert not path.with_name("keys.json.schema1").exists()


DAMAGED_V2 = {
    '{"schema": "2", "pumps": {}}': "schema version '2' is not a version",
    '{"schema": 2}': "'pumps' is not an object of pumps",
    '{"schema": 2, "programmer_id": -1, "pumps": {}}': "programmer id is not a number",
    '{"schema": 2, "pumps": {"S": {"clinician": "00"}}}': "clinician key is not text",
    '{"schema": 2, "pumps": {"S": {"clinician": {"key": "00"}}}}': "has no programmer id",
    '{"schema": 2, "pumps": {"S": {"nurse": {"id": 0, "key": "00"}}}}': "unknown role 'nurse'",
}


@pytest.mark.parametrize("text", DAMAGED_V2)
def test_every_damaged_shape_of_schema_2_is_one_line(tmp_path: Path, text: str) -> None:
    path = schema1_copy(tmp_path)
    path.write_text(text)
    with pytest.raises(KeystoreError, match=DAMAGED_V2[text]) as error:
        Keystore(path).key_for("S", Role.CLINICIAN)
    assert "\n" not in str(error.value)
