"""Secrets at rest: the pump's NV memory (it holds the pump secret) and its debug port (it
hands out role keys) are their owner's alone whatever the umask; the programmer's key store
keeps every concurrent pairing, refuses a file or directory others own or can change, and
names any damaged shape in one line."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from firmware_sim.control import ControlClient, ControlServer
from firmware_sim.simulator import InitialProgram, Simulator
from pumpctl.keystore import Keystore, KeystoreError
from pumpctl.protocol.session import KEY_LEN, Role
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_fails, run_in_process

KEY = bytes(range(KEY_LEN))


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_nv_memory_and_debug_port_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        sim = Simulator(tmp_path / "pump.db", InitialProgram(frozen_clock=True))
        control = ControlServer(sim, str(tmp_path / "ctl")).start()
    finally:
        os.umask(old)
    try:
        client = ControlClient(str(tmp_path / "ctl"))
        client.advance(1000)  # a commit: the WAL and shared memory exist now
        client.close()
        files = sorted(p.name for p in tmp_path.iterdir())
        assert {"pump.db", "pump.db-wal", "pump.db-shm", "ctl"} <= set(files)
        for name in files:
            assert mode(tmp_path / name) == 0o600, name
    finally:
        control.stop()
        sim.close()


def test_an_older_nv_memory_open_to_others_is_closed_at_boot(tmp_path: Path) -> None:
    Simulator(tmp_path / "pump.db", InitialProgram(frozen_clock=True)).close()
    os.chmod(tmp_path / "pump.db", 0o644)
    Simulator(tmp_path / "pump.db").close()
    assert mode(tmp_path / "pump.db") == 0o600


def test_twelve_concurrent_pairings_keep_twelve_entries(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keys.json"
    start = threading.Barrier(12)
    errors: list[BaseException] = []

    def pair(n: int) -> None:
        try:
            start.wait()
            Keystore(path).add(f"SIM{n:06d}", Role.CLINICIAN, KEY)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=pair, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(json.loads(path.read_text())["pumps"]) == 12
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert Keystore(path).key_for("SIM000011", Role.CLINICIAN) == KEY


def test_a_directory_others_can_change_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, 0o777)
    store = Keystore(directory / "keys.json")
    with pytest.raises(KeystoreError, match=r"writable by other users .*chmod 700"):
        store.add("SIM000001", Role.CLINICIAN, KEY)
    with pytest.raises(KeystoreError, match="writable by other users"):
        store.key_for("SIM000001", Role.CLINICIAN)
    os.chmod(directory, 0o1777)  # sticky, as /tmp: others cannot replace our file
    store.add("SIM000001", Role.CLINICIAN, KEY)
    assert store.key_for("SIM000001", Role.CLINICIAN) == KEY


@pytest.mark.skipif(os.getuid() != 0, reason="changing a file's owner needs root")
def test_a_key_store_another_user_owns_is_refused(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keys.json")
    store.add("SIM000001", Role.CLINICIAN, KEY)
    os.chown(store.path, 4242, 4242)
    with pytest.raises(KeystoreError, match="belongs to another user"):
        store.key_for("SIM000001", Role.CLINICIAN)
    os.chown(store.path, 0, 0)
    os.chown(tmp_path, 4242, 4242)
    with pytest.raises(KeystoreError, match=r"directory .* belongs to another user"):
        store.key_for("SIM000001", Role.CLINICIAN)


DAMAGED = {
    "[]": "not a key store",
    '"keys"': "not a key store",
    "{": "cannot be read: JSONDecodeError",
    '{"SIM000001": []}': "pump 'SIM000001' is not an object of roles",
    '{"SIM000001": {"admin": "00"}}': "unknown role 'admin'",
    '{"SIM000001": {"clinician": 5}}': "clinician key is not text",
    '{"SIM000001": {"clinician": "zz"}}': "holds a damaged key",
    '{"SIM000001": {"clinician": "00"}}': "holds a key of the wrong length",
}


@pytest.mark.parametrize("text", DAMAGED)
def test_every_damaged_shape_is_one_line(pump: PumpUnderTest, tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match=DAMAGED[text]) as error:
        Keystore(path).key_for("SIM000001", Role.CLINICIAN)
    assert "\n" not in str(error.value)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PUMPCTL_KEYSTORE": str(path),
        "PUMPCTL_DB": str(tmp_path / "c.db"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    result = run_in_process(env, ["--port", pump.port, "status"])
    assert_fails(result, 6, DAMAGED[text])


def test_non_utf8_bytes_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(b"\xff\xfe{}")
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match="cannot be read: UnicodeDecodeError"):
        Keystore(path).key_for("SIM000001", Role.CLINICIAN)
