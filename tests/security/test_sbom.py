"""The checked-in SBOM (docs/sbom.cdx.json, written by ``tools/sbom``) names every package a
clinic installs with pumpctl: a dependency added without regenerating it fails here."""

from __future__ import annotations

import json
import re
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement

SBOM = Path(__file__).resolve().parents[2] / "docs" / "sbom.cdx.json"


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(name: str) -> set[str]:
    """``name`` and everything it needs at run time (no extras), as installed here."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = normalised(todo.pop())
        if current in seen:
            continue
        seen.add(current)
        for text in distribution(current).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_the_sbom_names_pumpctl_and_every_runtime_dependency() -> None:
    bom = json.loads(SBOM.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["name"] == "pumpctl"
    listed = {normalised(c["name"]) for c in bom["components"]}
    missing = runtime_closure("pumpctl") - {"pumpctl"} - listed
    assert not missing, f"regenerate with tools/sbom: {sorted(missing)} not in the SBOM"
    for component in bom["components"]:
        assert component["version"], component
        assert component["purl"].startswith("pkg:pypi/"), component
