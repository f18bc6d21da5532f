"""A clinical record that fails under the terminal programmer (a table gone, a disk error)
is one line on the status line and in a notification; the dashboard stays up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pumpctl.tui.app import PumpApp
from tests.tui.conftest import SIZE, connected, idle, make_app, notes, run_async, text_of


def damage(app: PumpApp, statement: str) -> None:
    assert app.record_path is not None
    db = sqlite3.connect(app.record_path)
    try:
        with db:
            db.execute(statement)
    finally:
        db.close()


@run_async
async def test_a_record_table_gone_is_one_line_and_the_dashboard_stays(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        damage(app, "DROP TABLE readings")
        await pilot.press("i")
        await idle(pilot)
        line = text_of(app, "#statusline")
        assert "Clinical record error: no such table: readings" in line
        assert "no such table: readings" in notes(app)
        assert app.is_running
        app.clear_notifications()
        await pilot.press("u")  # the audit view reads the record too: the same one line
        await idle(pilot)
        assert "no such table: readings" in notes(app)
        assert app.is_running
