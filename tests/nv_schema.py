"""A pump memory as older firmware wrote it, made from one this release writes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def as_schema_0(path: Path, edit_state: dict[str, Any] | None = None) -> None:
    """The memory as the first firmware left it: one unsealed table, no version."""
    db = sqlite3.connect(path)
    rows = dict(db.execute("SELECT key, value FROM nv").fetchall())
    for key in ("events_digest", "outcomes_digest"):
        rows.pop(key)
    if edit_state:
        rows["state"] = json.dumps({**json.loads(rows["state"]), **edit_state})
    db.executescript("DROP TABLE nv; DROP TABLE nv_copy; PRAGMA user_version = 0;")
    db.execute("CREATE TABLE nv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.executemany("INSERT INTO nv VALUES (?, ?)", rows.items())
    db.commit()
    db.close()
