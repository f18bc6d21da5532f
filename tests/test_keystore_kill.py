"""SIGKILL during the key store's migration (schema 1 -> 2) leaves either the old store intact
or the new one complete, never a half-written store, and the next open finishes the job.

One child process forks a copy of itself per kill; each copy migrates its own schema 1 store
and sends itself SIGKILL at a chosen instant: the n-th call or return the profiler sees
(Python functions and C calls alike: each ``open``, ``write``, ``fsync``, ``rename``), so
every kill lands on a known step of the migration and nothing races a timer. The suite kills
at each system call's start and return and at a seeded sample of the instants between; the
long run at every instant (docs/faults.md).
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

from pumpctl.keystore import SCHEMA_VERSION, Keystore
from pumpctl.protocol.session import Role

FIXTURE = Path(__file__).parent / "fixtures" / "keystore-v1.json"

# Every instant: PUMPCTL_KEYSTORE_KILLS=all; more or fewer: a number; another sample: the seed.
KILLS = os.environ.get("PUMPCTL_KEYSTORE_KILLS", "20")
SEED = int(os.environ.get("PUMPCTL_KEYSTORE_KILL_SEED", "20261201"))

# argv: the fixture, the directory of stores, then the instants to kill at (0: never, to
# count them). Prints "<instant> killed|finished <events seen> <steps>" for each; the steps
# are the instants at which a system call (open, stat, fsync, rename, lock, ...) began or
# returned, comma-separated.
CHILD = r"""
import os, shutil, signal, sys

from pumpctl.keystore import Keystore
from pumpctl.protocol.session import Role

fixture, base, instants = sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]


def system_call(arg):
    return getattr(arg, "__module__", None) in ("posix", "fcntl")


def migrate(path, kill_at):
    seen, steps = 0, []

    def profile(frame, event, arg):
        nonlocal seen
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if event in ("c_call", "c_return") and system_call(arg):
            steps.append(seen)

    sys.setprofile(profile)
    Keystore(path).key_for("SIM000001", Role.CLINICIAN)
    sys.setprofile(None)
    return f"{seen} {','.join(map(str, steps))}"


for instant in instants:
    directory = os.path.join(base, str(instant))
    os.mkdir(directory, 0o700)
    path = os.path.join(directory, "keys.json")
    shutil.copyfile(fixture, path)
    os.chmod(path, 0o600)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, migrate(path, instant).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        seen = answer.read()
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    print(instant, "killed" if killed else "finished", seen or "- -", flush=True)
"""


def run_child(base: Path, instants: list[int]) -> list[tuple[int, str, str, str]]:
    """Each instant's store is ``base/<instant>/keys.json``."""
    base.mkdir(mode=0o700)
    script = base / "child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(FIXTURE), str(base), *map(str, instants)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    return [(int(instant), outcome, seen, steps) for instant, outcome, seen, steps in lines]


def instants_to_kill(total: int, steps: set[int]) -> list[int]:
    """Every system call's start and return, and a seeded sample of the instants between."""
    if KILLS == "all":
        return list(range(1, total + 1))
    rng = random.Random(SEED)
    return sorted(steps | set(rng.sample(range(1, total + 1), min(int(KILLS), total))))


def expected_v2(v1: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, object]]]:
    return {
        serial: {role: {"id": 0, "key": key} for role, key in roles.items()}
        for serial, roles in v1.items()
    }


def test_sigkill_during_migration_leaves_the_old_store_or_the_new_one(tmp_path: Path) -> None:
    # a migration run to its end counts the instants there are to kill at
    [(_, outcome, seen, steps)] = run_child(tmp_path / "count", [0])
    assert outcome == "finished"
    total, step_instants = int(seen), {int(step) for step in steps.split(",")}
    assert len(step_instants) > 20  # the profiler saw the migration's system calls

    instants = instants_to_kill(total, step_instants)
    v1_bytes = FIXTURE.read_bytes()
    v1 = json.loads(v1_bytes)
    states: dict[str, int] = {}
    for instant, outcome, _, _ in run_child(tmp_path / "stores", instants):
        assert outcome == "killed", instant
        directory = tmp_path / "stores" / str(instant)
        path, backup = directory / "keys.json", directory / "keys.json.schema1"
        # what a kill leaves: the old store byte for byte, or the new one complete
        text = path.read_bytes()
        if text == v1_bytes:
            state = "old store intact"
        else:
            data = json.loads(text)
            assert data == {"schema": SCHEMA_VERSION, "pumps": expected_v2(v1)}, instant
            assert backup.read_bytes() == v1_bytes, instant  # the backup came first
            state = "new store complete"
        states[state] = states.get(state, 0) + 1
        # the next open finishes the migration, with nothing lost and a whole backup
        store = Keystore(path)
        for serial, roles in v1.items():
            for role, hex_key in roles.items():
                assert store.key_for(serial, Role[role.upper()]) == bytes.fromhex(hex_key)
        assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION
        assert backup.read_bytes() == v1_bytes, instant
        # a copy left half-written is its user's alone, and the next write removes it
        for stray in directory.glob(".keys-*"):
            assert stat.S_IMODE(stray.stat().st_mode) == 0o600, instant
        store.own_programmer_id()
        assert sorted(p.name for p in directory.iterdir()) == [
            "keys.json",
            "keys.json.lock",
            "keys.json.schema1",
        ], instant
    assert len(states) == 2, states  # kills landed both before and after the rename
    if os.environ.get("PUMPCTL_KEYSTORE_KILLS"):
        print(f"\n{len(instants)} kills of {total} instants: {states}")
