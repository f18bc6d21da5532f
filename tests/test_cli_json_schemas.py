"""The ``--json`` contract's schema files (docs/schemas/): what the models generate, and what
each command really prints against the simulator validates against its file."""

from __future__ import annotations

import argparse
import importlib.util
import json
from typing import Any

import pytest

from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests

jsonschema = pytest.importorskip("jsonschema")


TOOL = importlib.import_module("tools.jsonschema")


def test_the_schema_files_are_generated_from_the_models() -> None:
    files = TOOL.render()
    on_disk = {p.name: p.read_text() for p in TOOL.DIR.glob("*.json")}
    assert on_disk == files, "docs/schemas/ is stale: python -m tools.jsonschema"


def _schema_names() -> set[str]:
    """Every schema name a command of the parser answers with (its command and action)."""
    from pumpctl.cli_parser import build_parser as _parser

    names = {"error"}
    for action in _parser()._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for command, sub in action.choices.items():
            # An action: a sub-command (``schedule show``) or a word of a few (``audit show``).
            verbs = [a for a in sub._actions if a.dest.endswith("action") and a.choices]
            if verbs:
                names |= {f"{command}.{verb}" for a in verbs for verb in a.choices or ()}
            elif command not in NO_JSON:
                names.add(command)
    return names


NO_JSON = {"tui", "completion"}  # a terminal application and a shell script


def test_every_command_has_an_output_model() -> None:
    from pumpctl.cli_outputs import OUTPUTS

    assert set(OUTPUTS) == _schema_names()


# Each run: commands against one fresh simulated pump, every output checked (the last ones
# need the earlier ones: a VAS before the audit trail shows it, a bolus before a stop).
RUNS: dict[str, list[list[str]]] = {
    "reads": [
        ["identify"],
        ["status"],
        ["limits"],
        ["alarms"],
        ["schedule", "show"],
        ["demand-bolus", "show"],
        ["demand-log"],
        ["implant", "show"],
        ["programmers", "list"],
        ["opioids", "show"],
        ["refill"],
        ["reconcile", "--reason", "checked"],
    ],
    "record": [["vas", "4"], ["history"], ["events"], ["audit", "show"]],
    "therapy": [
        ["set-rate", "1.4"],  # the dose already programmed: nothing sent
        ["set-rate", "1.5"],
        ["bolus", "0.1"],
        ["stop", "--confirm-withdrawal-risk"],
        ["catheter-check"],
        ["history"],
        ["audit", "verify"],
    ],
    "programs": [
        ["opioids", "set", "oxycodone", "120mg/day"],
        ["demand-bolus", "set", "0.05", "--duration", "10", "--lockout", "240", "--per-day", "4"],
        [
            *["implant", "set", "--patient-id", "P-1", "--implanted", "2025-11-03"],
            *["--tip", "T10", "--catheter-length-cm", "50", "--catheter-volume-ul", "55"],
        ],
        ["periodic-bolus", "set", "0.1", "--every", "6", "--duration", "30"],
        ["schedule", "set", "00:00=1.4 08:00=1.5 20:00=1.4"],
        ["refill", "--withdrawn", "19.9", "--added", "20"],
    ],
    "refused": [["bolus", "50"], ["stop"]],
}


@pytest.mark.parametrize("run", RUNS)
def test_real_output_validates_against_its_schema(
    run: str, pump: PumpUnderTest, env: dict[str, str]
) -> None:
    for argv in RUNS[run]:
        result = pumpctl(env, "--json", *argv, port=pump.port)
        assert result.returncode == (1 if run == "refused" else 0), (argv, result.stderr)
        data: dict[str, Any] = json.loads(result.stdout)
        name = data["schema"].removeprefix("pumpctl.").removesuffix("/1")
        schema = json.loads((TOOL.DIR / TOOL.file_name(name)).read_text())
        jsonschema.Draft202012Validator(schema).validate(data)


def test_a_wire_quantity_is_shown_in_the_drugs_unit(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    data = json.loads(pumpctl(env, "--json", "status", port=pump.port).stdout)
    identity, status = data["identity"], data["status"]
    assert (status["dose_ng_per_day"], status["dose_ng_per_day_display"]) == (
        1_400_000,
        "1.4 mg/day",
    )
    assert status["reservoir_ul_display"] == f"{status['reservoir_ul'] / 1000:g} mL"
    assert identity["concentration_ng_per_ml_display"] == "25 mg/mL"


def test_a_schema_refuses_an_enum_by_number(pump: PumpUnderTest, env: dict[str, str]) -> None:
    data = json.loads(pumpctl(env, "--json", "status", port=pump.port).stdout)
    schema = json.loads((TOOL.DIR / "pumpctl.status.json").read_text())
    data["status"]["state"] = 1
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)


def test_a_history_row_names_the_unit_of_its_value(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert pumpctl(env, "vas", "6", port=pump.port).returncode == 0
    assert pumpctl(env, "set-rate", "1.5", port=pump.port).returncode == 0
    data = json.loads(pumpctl(env, "--json", "history", port=pump.port).stdout)
    rows = {row["kind"]: row for row in data["timeline"]}
    assert rows["vas"]["vas_tenths"] == 60
    dose = rows["dose"]
    assert (dose["dose_ng_per_day"], dose["dose_ng_per_day_display"]) == (1_500_000, "1.5 mg/day")
    assert dose["previous_dose_ng_per_day_display"] == "1.4 mg/day"
