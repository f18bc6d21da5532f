"""``pumpctl --json``: one object per run, the same shape for every command (docs/cli.md).

Every output carries ``schema`` (``pumpctl.<command>/<version>``); enums are written as their
names (``"state": "RUNNING"``, never ``1``); wire quantities stay exact integers whose key
names the unit (``dose_ng_per_day``). A failure under ``--json`` prints an error object on
stdout (and its one line on stderr) with the same exit status as without ``--json``.
"""

from __future__ import annotations

import enum
import json
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel

from pumpctl.exits import JSON_CODE, ExitStatus

SCHEMA_VERSION = 1
ERROR_SCHEMA = f"pumpctl.error/{SCHEMA_VERSION}"

# Whether this run answers in JSON: set once the arguments are known (or, for a usage error,
# guessed from them), read where a failure is reported.
json_mode: ContextVar[bool] = ContextVar("pumpctl_json_mode", default=False)


def plain(value: Any) -> Any:
    """``value`` as JSON takes it: models dumped, enums by name, bytes as hex, recursively."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def schema_name(command: str) -> str:
    return f"pumpctl.{command}/{SCHEMA_VERSION}"


def output_json(command: str, data: dict[str, Any]) -> str:
    """The one object a command prints under ``--json``."""
    return json.dumps({"schema": schema_name(command), **plain(data)})


def error_json(
    message: str,
    exit_status: int,
    *,
    rule: str | None = None,
    limit: int | None = None,
    **extra: Any,
) -> str:
    """The error object: ``code`` (what kind of failure, by exit status), ``rule`` (the rule
    that refused, when one did), ``message`` (the line printed on stderr), ``limit`` (the
    limit the rule applied, in the unit its rule names, when it reports one)."""
    error = {
        "code": JSON_CODE.get(ExitStatus(exit_status), "error"),
        "exit_status": exit_status,
        "rule": rule,
        "message": message,
        "limit": limit,
        **plain(extra),
    }
    return json.dumps({"schema": ERROR_SCHEMA, "error": error})


def error_fields(error: object) -> dict[str, Any]:
    """The rule that refused, the limit it applied and what it needs, from the error itself
    (its kind, never its wording)."""
    from pumpctl.link.errors import PumpRefused
    from pumpctl.programmer import ConfirmationRequired, GuardBlocked, ProgrammerRefusal

    if isinstance(error, PumpRefused):
        return {"rule": error.code.name, "limit": error.nak.limit or None}
    if isinstance(error, ProgrammerRefusal):
        return {"rule": error.rule.name}
    if isinstance(error, GuardBlocked):
        return {"rule": error.decision.rule.value, "decision": error.decision.as_json()}
    if isinstance(error, ConfirmationRequired):
        return {"rule": "CONFIRMATION_REQUIRED", "confirm": sorted(c.flag for c in error.missing)}
    return {}
