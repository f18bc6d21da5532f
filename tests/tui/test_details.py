"""Enter on a row of the event log or the audit trail opens every field of it, wrapped."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from pumpctl.tui.screens.detail import DetailScreen
from pumpctl.tui.screens.logs import AuditScreen, EventLogScreen
from tests.tui.conftest import SIZE, connected, idle, make_app, on_screen, plain, run_async
from tests.tui.test_app import step


def _fields(screen: DetailScreen) -> str:
    return plain(screen.query_one("#detail-fields", Static), width=SIZE[0] - 6)


@run_async
async def test_enter_opens_the_whole_event_and_the_whole_audit_entry(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await step(pilot)  # 1.4 -> 1.54 mg/day
        await pilot.press("e")
        events = await on_screen(pilot, EventLogScreen)
        await idle(pilot)
        newest = events.events[-1]
        await pilot.press("enter")
        detail = await on_screen(pilot, DetailScreen)
        text = _fields(detail)
        for field in ("index", "time", "event", "request id", "value a", "value b", "detail"):
            assert field in text
        assert f"{newest.code.name} (code {int(newest.code)})" in text
        assert str(newest.value_a) in text
        await pilot.press("s")  # no dashboard key acts under the detail
        await pilot.pause()
        assert app.screen is detail
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is events
        await pilot.press("escape", "u")
        audit = await on_screen(pilot, AuditScreen)
        table = audit.query_one(DataTable)
        assert [str(table.get_row_at(i)[3]) for i in (0, 1)] == [
            "change-applied",
            "change-requested",
        ]
        await pilot.press("down", "enter")
        detail = await on_screen(pilot, DetailScreen)
        text = _fields(detail)
        assert "change-requested" in detail.title_text
        # an amount in the drug's unit beside the integer the record keeps, and the review
        # in full where the table cut it at 120 characters
        assert "1.54 mg/day (1540000)" in " ".join(text.split())
        assert "Dose: 1.4 mg/day -> 1.54 mg/day" in text
        assert "large_change" in text
        assert max(len(line) for line in text.splitlines()) <= SIZE[0] - 6
        assert detail.query_one("#dialog").region.right <= SIZE[0]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is audit
