"""The flexible-dosing editor at 80×24: ``g`` opens the day as a step chart with the steps in
force, typing redraws it with the daily dose old -> new and says what is wrong in one line,
Enter goes through the one review (each stretch of the day in the drug's unit) and ``y``
sends; the pump holds the schedule, and ``Clear schedule`` returns to a simple rate."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from pumpctl.protocol.messages import EventCode
from pumpctl.schedule import from_wire
from pumpctl.tui.screens.dialogs import ReviewDialog
from pumpctl.tui.screens.schedule import PeriodicDialog, ScheduleEditor, day_chart

from .conftest import SIZE, connected, idle, make_app, on_screen, plain, run_async, type_text
from .test_therapy_commands import dialog_text, pump_events


def test_the_chart_draws_each_half_hour_at_its_step() -> None:
    flat = ((0, 2_800_000),)
    days = ((0, 1_400_000), (480, 2_800_000), (1200, 1_400_000))
    lines = day_chart(flat, days, "mg")
    assert lines[0].startswith("   2.8 mg│")
    rows = [line.split("│")[1] for line in lines[:6]]
    # 08:00-20:00 at the top; the program in force (2.8 all day) as a line where it is higher.
    assert rows[0] == "─" * 16 + "█" * 24 + "─" * 8
    assert rows[3] == "█" * 48  # half the top: every half hour delivers at least that
    assert lines[7].split()[:3] == ["00", "03", "06"]


@run_async
async def test_type_review_and_send_a_schedule_then_clear_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("g")
        editor = await on_screen(pilot, ScheduleEditor)
        entry = editor.query_one("#steps", Input)
        assert entry.value == "00:00=1.4"
        assert "Daily dose 1.4 mg/day" in plain(editor.query_one("#totals", Static))

        entry.value = "00:00=1.4 08:10=1."
        await pilot.press("end", "6")  # as typed: each key redraws
        assert "15 min boundaries" in plain(editor.query_one("#error", Static))
        entry.value = "00:00=1.4 08:00=1.6 20:00=1.4"
        await pilot.pause()
        assert plain(editor.query_one("#error", Static)) == ""
        totals = plain(editor.query_one("#totals", Static))
        assert "Daily dose 1.4 mg/day -> 1.5 mg/day" in totals
        assert "█" in plain(editor.query_one("#chart", Static), width=80)

        await pilot.press("enter")
        dialog = await on_screen(pilot, ReviewDialog)
        shown = dialog_text(dialog)
        assert "Program a flexible-dosing schedule" in shown
        assert "08:00-20:00" in shown
        assert "1.6 mg/day" in shown
        await pilot.press("y")
        await idle(pilot)
        assert app.sim is not None
        held = app.sim.simulator.pump.state.schedule
        assert held == [[0, 1_400_000], [480, 1_600_000], [1200, 1_400_000]]
        assert EventCode.SCHEDULE_SET in await pump_events(app)

        # Clear: the schedule's daily dose around the clock raises the night's steps, which
        # the pump refuses within 24 h of the increase; it names the rule and keeps the steps.
        await pilot.press("g")
        editor = await on_screen(pilot, ScheduleEditor)
        assert from_wire(editor.schedule.steps) == (
            (0, 1_400_000),
            (480, 1_600_000),
            (1200, 1_400_000),
        )
        await pilot.click("#clear")
        dialog = await on_screen(pilot, ReviewDialog)
        assert "Clear the schedule" in dialog_text(dialog)
        await pilot.press("y")
        await idle(pilot)
        assert app.sim.simulator.pump.state.schedule is not None
        assert EventCode.SCHEDULE_CLEARED not in await pump_events(app)


@run_async
async def test_periodic_boluses_from_the_palette_key(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("o")
        dialog = await on_screen(pilot, PeriodicDialog)
        assert "now: none" in dialog_text(dialog)
        await type_text(pilot, "0.1")
        dialog.query_one("#every", Input).value = "7"
        dialog.query_one("#duration", Input).value = "30"
        await pilot.press("enter")  # refused by the programmer's check: nothing sent
        await idle(pilot)
        assert app.sim is not None
        assert app.sim.simulator.pump.state.periodic is None
        await pilot.press("o")
        dialog = await on_screen(pilot, PeriodicDialog)
        dialog.query_one("#dose", Input).value = "x"
        await pilot.press("enter")  # the focus is on the dose
        assert "is not a number in mg" in plain(dialog.query_one("#error", Static))
        dialog.query_one("#dose", Input).value = "0.1"
        dialog.query_one("#every", Input).value = "6"
        dialog.query_one("#duration", Input).value = "30"
        dialog.query_one("#first", Input).value = "02:00"
        await pilot.press("enter")
        review = await on_screen(pilot, ReviewDialog)
        assert "0.1 mg every 6 h over 30 min from 02:00" in dialog_text(review)
        await pilot.press("y")
        await idle(pilot)
        assert app.sim.simulator.pump.state.periodic == [100_000, 30, 360, 120]
