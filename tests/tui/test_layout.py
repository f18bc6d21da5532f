"""At 80×24 and 120×40: toasts cover nothing that matters, each screen fits, and a lost link
greys every value until the next good read."""

from __future__ import annotations

import colorsys
import contextlib
import functools
from pathlib import Path
from typing import Any

import pytest
from textual.containers import ScrollableContainer
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.widget import Widget
from textual.widgets import Input, Label, Static
from textual.widgets._toast import Toast

from pumpctl.tui.screens.detail import DetailScreen
from pumpctl.tui.screens.dialogs import RefillWizard, ReviewDialog
from pumpctl.tui.screens.help import HelpScreen
from pumpctl.tui.screens.logs import AuditScreen, EventLogScreen
from pumpctl.tui.screens.schedule import PeriodicDialog, ScheduleEditor
from pumpctl.tui.screens.training import TrainingPanel
from pumpctl.tui.status import fit_status
from tests.tui.conftest import connected, idle, make_app, on_screen, run_async, until
from tests.tui.test_app import step

SIZES = [(80, 24), (120, 40)]
MATTERS = ("#therapy", "#reservoir", "#chart", "#alarms", "#statusline", "#link")


@pytest.mark.parametrize("size", SIZES)
@run_async
async def test_toasts_cover_neither_the_dose_the_chart_nor_the_status_line(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await connected(pilot)
        app.notify("VAS 6 logged at 2026-01-01 09:00")
        long = (
            "OUTCOME UNKNOWN: the pump's answer to set-rate was lost and the read-back failed: "
            "read the pump back (i)"
        )
        app.notify(long, severity="error")
        await until(pilot, lambda: len(app.screen.query(Toast)) == 2, "two toasts")
        await pilot.pause()
        shown = [t for t in app.screen.query(Toast) if t.region.area]
        assert len(shown) == 1, "the newest toast alone"
        toast = shown[0]
        drawn = "".join(s.text for line in toast.render_lines(toast.size.region) for s in line)
        assert " ".join(drawn.replace("▌", "").split()) == long  # whole, in two rows at 80×24
        assert toast.region.bottom <= size[1]
        assert toast.region.width == size[0]
        for selector in MATTERS:
            widget = app.query_one(selector)
            if widget.display:
                assert not toast.region.overlaps(widget.region), selector


def _grey(widget: Widget) -> bool:
    """Every coloured cell of the widget and of what it holds drawn in a grey (no saturation
    to speak of), as the compositor draws them."""
    colours = [
        segment.style.color
        for part in (widget, *widget.query("*"))
        for strip in part.render_lines(part.size.region)
        for segment in strip
        if segment.style is not None and segment.style.color is not None and segment.text.strip()
    ]
    assert colours, "nothing drawn"
    for colour in colours:
        r, g, b = (c / 255 for c in colour.get_truecolor())
        if colorsys.rgb_to_hsv(r, g, b)[1] > 0.2:
            return False
    return True


@run_async
async def test_a_lost_link_greys_every_value_until_the_next_good_read(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZES[0]) as pilot:
        await connected(pilot)
        therapy = app.query_one("#therapy")
        assert not _grey(therapy)  # the dose in colour
        assert app.client is not None
        await app.client.close()  # a USB head unplugged
        await pilot.press("i")
        await until(pilot, lambda: app.query_one("#link").has_class("lost"), "LINK LOST")
        await pilot.pause()
        for selector in ("#therapy", "#reservoir", "#chart", "#alarms"):
            assert _grey(app.query_one(selector)), selector
        await pilot.press("i")  # plugged back: the next good read shows colour again
        await until(pilot, lambda: app.link_ok, "the link back")
        await pilot.pause()
        assert not _grey(therapy)


def _cut_off(screen: Screen[Any], size: tuple[int, int]) -> list[str]:
    """Every widget outside the terminal, or whose text needs more rows than it has (a
    scrolling view may hold more than it shows: it is checked, not what it holds)."""
    bounds = Region(0, 0, *size)
    problems = []
    for widget in screen.query("*"):
        if not widget.display or not widget.region.area or isinstance(widget, Toast):
            continue
        if any(isinstance(a, ScrollView | ScrollableContainer) for a in widget.ancestors):
            continue
        if not bounds.contains_region(widget.region):
            problems.append(f"{widget!r} at {widget.region} outside {size}")
        if isinstance(widget, Static) and not isinstance(widget, Toast):
            content = widget.content_region
            needed = widget.get_content_height(content.size, content.size, content.width)
            if needed > content.height:
                problems.append(f"{widget!r} needs {needed} rows, has {content.height}")
    return problems


def _fits_now(screen: Screen[Any], size: tuple[int, int]) -> bool:
    return not _cut_off(screen, size)


async def _fits(pilot: Pilot[Any], screen: Screen[Any]) -> None:
    """``screen`` fits at each size: the same terminal resized, as a user would."""
    for size in SIZES:
        await pilot.resize_terminal(*size)
        # a new size (or a screen just pushed) is laid out over a few frames
        with contextlib.suppress(AssertionError):
            await until(pilot, functools.partial(_fits_now, screen, size), timeout_s=2)
        assert _cut_off(screen, size) == [], f"{type(screen).__name__} at {size}"


@run_async
async def test_every_screen_fits_the_terminal(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZES[0]) as pilot:
        await connected(pilot)
        await step(pilot)  # something in the logs and on the chart
        await _fits(pilot, app.screen)
        for key, kind in (
            ("question_mark", HelpScreen),
            ("r", RefillWizard),
            ("g", ScheduleEditor),
            ("o", PeriodicDialog),
            ("t", TrainingPanel),
            ("down", ReviewDialog),
            ("u", AuditScreen),
            ("e", EventLogScreen),
        ):
            await pilot.press(key)
            screen = await on_screen(pilot, kind)
            await idle(pilot) if kind is EventLogScreen else await pilot.pause()
            await _fits(pilot, screen)
            if kind is RefillWizard:  # each input stands out from the dialog, and is labelled
                dialog = screen.query_one("#dialog")
                for field in screen.query(".field"):
                    entry = field.query(Input)
                    for widget in entry:
                        assert widget.background_colors[1] != dialog.background_colors[1]
                    label = str(field.query_one(Label).content)
                    assert not entry or label.endswith(("mL", "/mL", ", mg")), label
            if kind in (AuditScreen, EventLogScreen):
                await pilot.press("enter")
                await _fits(pilot, await on_screen(pilot, DetailScreen))
                await pilot.press("escape")
                await pilot.pause()
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.screen_stack[0], "the dashboard")


def test_the_status_line_gives_way_but_keeps_a_refusal_and_the_link() -> None:
    parts = ["refused: step above 25%", "Step 10%", "link DOWN", "read 09:00:00, pump x", "? help"]
    assert fit_status(parts, 200) == " │ ".join(parts)
    assert fit_status(parts, 60) == "refused: step above 25% │ link DOWN │ read 09:00:00, pump x"
    assert fit_status(parts, 52) == "refused: step above 25% │ link DOWN │ read 09:00:00"
    assert fit_status(parts, 10) == "refused: step above 25% │ link DOWN"  # wraps, whole
