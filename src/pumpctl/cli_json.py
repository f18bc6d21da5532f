"""``pumpctl --json``: one object per run, the same shape for every command (docs/cli.md).

Every output carries ``schema`` (``pumpctl.<command>/<version>``); enums are written as their
names (``"state": "RUNNING"``, never ``1``); wire quantities stay exact integers whose key
names the unit (``dose_ng_per_day``), and beside each one ``<key>_display`` says it as a
person reads it, in the drug library's unit (``"dose_ng_per_day_display": "1.4 mg/day"``).
A failure under ``--json`` prints an error object on stdout (and its one line on stderr)
with the same exit status as without ``--json``.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from pumpctl.exits import JSON_CODE, ExitStatus
from pumpctl.units import format_amount, format_concentration, format_flow, format_volume

SCHEMA_VERSION = 1
ERROR_SCHEMA = f"pumpctl.error/{SCHEMA_VERSION}"

# Whether this run answers in JSON: set once the arguments are known (or, for a usage error,
# guessed from them), read where a failure is reported.
json_mode: ContextVar[bool] = ContextVar("pumpctl_json_mode", default=False)


def plain(value: Any) -> Any:
    """``value`` as JSON takes it: models dumped, enums by name, bytes as hex, recursively."""
    dump = getattr(value, "model_dump", None)  # a pydantic model, without importing pydantic
    if callable(dump) and not isinstance(value, type):
        value = dump(mode="python")
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _nl(nl: int) -> str:
    return f"{(Decimal(nl) / 1_000_000).normalize():f} mL"


# The unit a key's name ends with → how a person reads it (``None``: the drug's mass unit is
# needed). Longest suffix first: ``_ng_per_day`` before ``_ng``.
DISPLAY: tuple[tuple[str, Callable[[int, str], str], bool], ...] = (
    ("_ng_per_day", lambda v, unit: format_amount(v, unit), True),
    ("_ng_per_ml", lambda v, unit: format_concentration(v, unit), True),
    ("_ng", lambda v, unit: format_amount(v, unit, per_day=False), True),
    ("_nl_per_day", lambda v, unit: format_flow(v), False),
    ("_nl", lambda v, unit: _nl(v), False),
    ("_ul", lambda v, unit: format_volume(v), False),
)
DISPLAY_SUFFIX = "_display"


def display_format(key: str) -> tuple[Callable[[int, str], str], bool] | None:
    """How the quantity under ``key`` is shown, and whether that needs the drug's unit."""
    for suffix, show, needs_unit in DISPLAY:
        if key.endswith(suffix):
            return show, needs_unit
    return None


def with_display(value: Any, unit: str | None) -> Any:
    """``value`` (already :func:`plain`) with ``<key>_display`` after each wire quantity whose
    key names its unit; a mass only when the drug's ``unit`` is known."""
    if isinstance(value, list):
        return [with_display(v, unit) for v in value]
    if not isinstance(value, dict):
        return value
    shown: dict[str, Any] = {}
    for key, item in value.items():
        shown[key] = with_display(item, unit)
        how = display_format(key)
        if how is None or isinstance(item, bool) or not isinstance(item, int):
            continue
        show, needs_unit = how
        if needs_unit and unit is None:
            continue
        shown.setdefault(key + DISPLAY_SUFFIX, show(item, unit or ""))
    return shown


def schema_name(command: str) -> str:
    return f"pumpctl.{command}/{SCHEMA_VERSION}"


def output_json(command: str, data: dict[str, Any]) -> str:
    """The one object a command prints under ``--json``."""
    body = plain(data)
    unit = body.get("unit") or body.get("display_unit")
    return json.dumps({"schema": schema_name(command), **with_display(body, unit)})


def error_json(
    message: str,
    exit_status: int,
    *,
    rule: str | None = None,
    limit: int | None = None,
    limit_unit: str | None = None,
    limit_display: str | None = None,
    **extra: Any,
) -> str:
    """The error object: ``code`` (what kind of failure, by exit status), ``rule`` (the rule
    that refused, when one did), ``message`` (the line printed on stderr), ``limit`` (the
    limit the rule applied, an exact integer, when it reports one), ``limit_unit`` (its unit,
    as a key's suffix names it) and ``limit_display`` (as a person reads it)."""
    error = {
        "code": JSON_CODE.get(ExitStatus(exit_status), "error"),
        "exit_status": exit_status,
        "rule": rule,
        "message": message,
        "limit": limit,
        "limit_unit": limit_unit,
        "limit_display": limit_display,
        **plain(extra),
    }
    return json.dumps({"schema": ERROR_SCHEMA, "error": error})


def error_fields(error: object) -> dict[str, Any]:
    """The rule that refused, the limit it applied and what it needs, from the error itself
    (its kind, never its wording)."""
    if not isinstance(error, BaseException):
        return {}  # a line of text: a usage error found before anything was imported for it
    from pumpctl.link.errors import PumpRefused
    from pumpctl.programmer import ConfirmationRequired, GuardBlocked, ProgrammerRefusal
    from pumpctl.refusal_limits import limit_fields

    if isinstance(error, PumpRefused):
        return {
            "rule": error.code.name,
            **limit_fields(error.code, error.nak.limit, error.drug_unit),
        }
    if isinstance(error, ProgrammerRefusal):
        return {"rule": error.rule.name, **limit_fields(error.rule, error.limit, error.drug_unit)}
    if isinstance(error, GuardBlocked):
        return {"rule": error.decision.rule.value, "decision": error.decision.as_json()}
    if isinstance(error, ConfirmationRequired):
        return {"rule": "CONFIRMATION_REQUIRED", "confirm": sorted(c.flag for c in error.missing)}
    return {}


def fail(error: object, code: int, cause: object = None) -> int:
    """The one line on stderr; under ``--json`` also the error object on stdout. ``cause``:
    the exception behind a reworded ``error``, for its rule and limit."""
    print(f"pumpctl: {error}", file=sys.stderr)
    if json_mode.get():
        print(error_json(str(error), code, **error_fields(cause or error)), flush=True)
    return code
