"""The dose changes a clinical record holds, read straight from its table: what a test
compares with what the pump did."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


def changes(
    db: Path, first: Literal["new_ng_per_day", "request_id"] = "new_ng_per_day"
) -> list[tuple[int, str]]:
    """``(new dose, outcome)`` of each change in order, or ``(request id, outcome)``."""
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute(f"SELECT {first}, outcome FROM changes ORDER BY id")
        return [(int(value), str(outcome)) for value, outcome in rows.fetchall()]
    finally:
        connection.close()
