"""A clinician at ``pumpctl``, in this process (``pumpctl.cli.main``), against the real
simulator on the memory link: each step of a titration history is one command line."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pumpctl.cli import main
from pumpctl.testing.plugin import simulator_for
from pumpctl.testing.targets import SimulatedPump, hardware_port_from

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@dataclass
class Clinic:
    sim: SimulatedPump
    db: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, line: str) -> tuple[int, str, str]:
        """``pumpctl LINE`` (with this pump, record and clinician); (status, stdout, stderr)."""
        self.capsys.readouterr()
        argv = ["--db", str(self.db), "--keystore", str(self.sim.keystore_path)]
        argv += ["--clinician", "dr-case"]
        args = shlex.split(line)
        if "--serial" not in args:  # a score logged without the pump connects to nothing
            argv += ["--port", self.sim.port]
        code = main([*argv, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, line: str) -> str:
        code, out, err = self.run(line)
        assert code == 0, (line, code, out, err)
        return out

    def step(self, step: str) -> None:
        """One step of a history: ``days N``, ``hours N``, ``fault NAME VALUE``, ``clear``,
        ``refill-conc MG BRIDGE`` or a pumpctl command line."""
        word, _, rest = step.partition(" ")
        if word == "days":
            self.sim.advance(round(float(rest) * DAY_MS))
        elif word == "hours":
            self.sim.advance(round(float(rest) * HOUR_MS))
        elif word == "fault":
            name, value = rest.split()
            self.sim.fault(name, value)
        elif word == "clear":
            self.sim.clear_faults()
        elif word == "refill-conc":
            concentration, bridge = rest.split()
            expected = json.loads(self.ok("--json refill"))["expected_residual_ul"]
            self.ok(
                f"refill --withdrawn {expected / 1000} --added 20 --concentration {concentration} "
                f"--bridge-bolus {bridge} --confirm-large-change"
            )
        elif word == "refill-short":
            expected = json.loads(self.ok("--json refill"))["expected_residual_ul"]
            self.ok(
                f"refill --withdrawn {expected / 1000 - 3} --added 20 "
                "--discrepancy-reason 'residual short, pocket checked'"
            )
        else:
            self.ok(step)

    def dose(self) -> int:
        return int(json.loads(self.ok("--json status"))["status"]["dose_ng_per_day"])

    def propose(self, line: str) -> tuple[int, dict[str, Any], str]:
        """``pumpctl --json set-rate ...``: (status, the guard's decision, stderr)."""
        code, out, err = self.run(f"--json set-rate {line}")
        data = json.loads(out) if out.strip() else {}
        # a refusal is the error object, the guard's decision inside it (docs/cli.md)
        decision = data.get("guard", data) if code == 0 else data["error"].get("decision", {})
        return code, decision, err


def start_pump(request: pytest.FixtureRequest, *args: str) -> SimulatedPump:
    if hardware_port_from(request.config.getoption("--pump-port")) is not None:
        pytest.skip("needs a simulator programmed for this history; running on hardware")
    return simulator_for(request.node, args)


@pytest.fixture
def clinic_for(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Any]:
    """``clinic_for("--drug", "ziconotide")``: a fresh simulator with these pumpsim options."""
    started: list[SimulatedPump] = []

    def make(*args: str) -> Clinic:
        sim = start_pump(request, *args)
        started.append(sim)
        return Clinic(sim, tmp_path / "clinical.db", capsys)

    yield make
    for sim in started:
        sim.cleanup()
