"""The JSON Schema of every ``pumpctl --json`` output, docs/schemas/<schema name>.json,
generated from the pydantic models in pumpctl.cli_outputs.

Usage: python -m tools.jsonschema          (writes docs/schemas/)
       python -m tools.jsonschema --check  (exit 1 when a file is not what it generates)
"""

from __future__ import annotations

import functools
import json
import operator
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from pumpctl.cli_json import DISPLAY_SUFFIX, SCHEMA_VERSION, display_format, schema_name
from pumpctl.cli_outputs import OUTPUTS

DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _NamedEnums(GenerateJsonSchema):
    """Enums as ``--json`` writes them: by name."""

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        names = [member.name for member in schema["members"]]
        return {"title": schema["cls"].__name__, "type": "string", "enum": names}


def _add_display(node: Any) -> None:
    """``<key>_display`` (a string) beside each integer property whose name gives its unit."""
    if isinstance(node, list):
        for item in node:
            _add_display(item)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        for key in list(properties):
            if display_format(key) is not None and "integer" in json.dumps(properties[key]):
                text = f"{key} as a person reads it, in the drug library's unit"
                properties.setdefault(key + DISPLAY_SUFFIX, {"type": "string", "description": text})
    for value in node.values():
        _add_display(value)


def file_name(name: str) -> str:
    """``schedule.show`` → ``pumpctl.schedule.show.json``."""
    return f"pumpctl.{name}.json"


def schema_for(name: str) -> dict[str, Any]:
    models = OUTPUTS[name]
    shape: Any = functools.reduce(operator.or_, models) if len(models) > 1 else models[0]
    generated = TypeAdapter(shape).json_schema(mode="serialization", schema_generator=_NamedEnums)
    defs = generated.pop("$defs", {})
    _add_display(generated)
    _add_display(defs)
    full = schema_name(name)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{file_name(name)}",
        "title": f"pumpctl --json: {full}",
        "type": "object",
        "properties": {"schema": {"const": full}},
        "required": ["schema"],
        "allOf": [generated],
    }
    if defs:
        schema["$defs"] = defs
    return schema


def render() -> dict[str, str]:
    """Each file's name and text, the same wherever and whenever they are generated."""
    return {
        file_name(name): json.dumps(schema_for(name), indent=2, sort_keys=True) + "\n"
        for name in OUTPUTS
    }


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items() if _read(DIR / n) != text]
        extra = sorted({p.name for p in DIR.glob("*.json")} - set(files))
        if stale or extra:
            print(f"{DIR} is stale ({', '.join(stale + extra)}): python -m tools.jsonschema")
            return 1
        return 0
    DIR.mkdir(parents=True, exist_ok=True)
    for old in DIR.glob("*.json"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (DIR / name).write_text(text)
    print(f"{DIR}: {len(files)} schemas (version {SCHEMA_VERSION})")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
