"""``--json``: one object per run with its schema, enums by name, and a failure as an error
object with the same exit status as without ``--json`` (docs/cli.md)."""

from __future__ import annotations

import json

from pumpctl.cli_json import error_fields, error_json, json_mode
from pumpctl.link.errors import PumpRefused
from pumpctl.protocol.messages import Nak, NakCode
from pumpctl.refusal_limits import limit_fields
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_ok, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests


def test_status_names_its_schema_and_its_enums(pump: PumpUnderTest, env: dict[str, str]) -> None:
    data = json.loads(assert_ok(pumpctl(env, "--json", "status", port=pump.port)))
    assert data["schema"] == "pumpctl.status/1"
    assert data["status"]["state"] == "RUNNING"
    assert data["status"]["dose_ng_per_day"] == 1_400_000  # exact, the unit in the key


def test_an_action_is_part_of_the_schema_name(pump: PumpUnderTest, env: dict[str, str]) -> None:
    data = json.loads(assert_ok(pumpctl(env, "--json", "schedule", "show", port=pump.port)))
    assert data["schema"] == "pumpctl.schedule.show/1"


def test_a_refusal_is_an_error_object_with_the_same_exit_status(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    text = pumpctl(env, "bolus", "50", port=pump.port)
    result = pumpctl(env, "--json", "bolus", "50", port=pump.port)
    assert result.returncode == text.returncode == 1
    assert result.stderr == text.stderr  # the one line, as without --json
    error = json.loads(result.stdout)
    assert error["schema"] == "pumpctl.error/1"
    assert error["error"]["code"] == "refused"
    assert error["error"]["rule"] in NakCode.__members__
    assert error["error"]["message"] == result.stderr.removeprefix("pumpctl: ").strip()


def test_a_missing_confirmation_names_its_flag(pump: PumpUnderTest, env: dict[str, str]) -> None:
    result = pumpctl(env, "--json", "stop", port=pump.port)  # morphine: withdrawal risk
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["rule"], error["confirm"]) == (
        "CONFIRMATION_REQUIRED",
        ["--confirm-withdrawal-risk"],
    )


def test_a_usage_error_is_an_error_object_too(env: dict[str, str]) -> None:
    result = pumpctl(env, "--json", "staus")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["exit_status"]) == ("usage", 2)
    assert "did you mean 'status'?" in error["message"]
    assert pumpctl(env, "staus").stdout == ""  # without --json: nothing on stdout


def test_no_pump_is_an_error_object(env: dict[str, str]) -> None:
    result = pumpctl(env, "--json", "status")
    assert result.returncode == 2
    assert "no pump port" in json.loads(result.stdout)["error"]["message"]


def test_a_pump_refusal_carries_its_rule_and_limit() -> None:
    nak = Nak(code=NakCode.ABOVE_MAX_DOSE, limit=20_000_000, detail="above the daily maximum")
    refused = PumpRefused(nak)
    error = json.loads(error_json("pump refused", 1, **error_fields(refused)))["error"]
    assert (error["rule"], error["limit"], error["limit_unit"]) == (
        "ABOVE_MAX_DOSE",
        20_000_000,
        "ng_per_day",
    )
    assert error["limit_display"] is None  # a mass is shown only in a known drug's unit
    refused.drug_unit = "mcg"
    error = json.loads(error_json("pump refused", 1, **error_fields(refused)))["error"]
    assert error["limit_display"] == "20000 mcg/day"


def test_a_programmer_refusal_names_its_limit_in_the_drugs_unit(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    error = json.loads(pumpctl(env, "--json", "bolus", "50", port=pump.port).stdout)["error"]
    assert (error["rule"], error["limit"], error["limit_unit"], error["limit_display"]) == (
        "BOLUS_TOO_LARGE",
        200_000,
        "ng",
        "0.2 mg",
    )


def test_a_pump_refusal_names_its_limit_in_the_drugs_unit(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert_ok(pumpctl(env, "bolus", "0.1", port=pump.port))
    result = pumpctl(env, "--json", "bolus", "0.1", port=pump.port)  # the pump's lockout
    error = json.loads(result.stdout)["error"]
    assert (error["rule"], error["limit"], error["limit_unit"], error["limit_display"]) == (
        "BOLUS_LOCKOUT",
        14_400,
        "s",
        "4 h",
    )
    assert "pump refused" in error["message"]


def test_a_refusal_without_a_limit_says_so(pump: PumpUnderTest, env: dict[str, str]) -> None:
    error = json.loads(pumpctl(env, "--json", "ack", "OCCLUSION", port=pump.port).stdout)
    assert error["error"]["rule"] == "NO_SUCH_ALARM"
    assert [error["error"][k] for k in ("limit", "limit_unit", "limit_display")] == [None] * 3


def test_json_mode_ends_with_the_run(env: dict[str, str]) -> None:
    """A parser used after ``main`` in the same process (a script, a test) reports as text."""
    assert pumpctl(env, "--json", "staus").stdout
    assert not json_mode.get()


def test_a_limit_of_zero_is_a_limit_where_the_rule_has_one() -> None:
    """Ziconotide's library allows no bolus: its maximum is 0 mcg, not "no limit"."""
    assert limit_fields(NakCode.BOLUS_TOO_LARGE, 0, "mcg") == {
        "limit": 0,
        "limit_unit": "ng",
        "limit_display": "0 mcg",
    }
    assert set(limit_fields(NakCode.NO_SUCH_ALARM, 0, "mcg").values()) == {None}
