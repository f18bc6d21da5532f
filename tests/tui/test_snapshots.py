"""Snapshots (pytest-textual-snapshot) pin the dashboard, the review dialog and the guard panel.

Deterministic by construction: the training pump has a frozen clock and a fixed serial
number, the app a fixed wall clock, the size is 80×24 and no widget on these screens has a
blinking cursor. Regenerate after a deliberate change with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from pumpctl.tui.app import PumpApp
from pumpctl.tui.screens.dialogs import GuardPanel, ReviewDialog

from .conftest import SIZE, connected, make_app, on_screen
from .test_app import the_case_so_far


async def settled(pilot: Pilot[Any], app: PumpApp) -> None:
    app.clear_notifications()
    await pilot.pause()


def test_dashboard(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await connected(pilot)
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dashboard_with_a_course_on_the_chart(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await connected(pilot)
        await the_case_so_far(app)
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_confirm_dialog(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await connected(pilot)
        await pilot.press("up")
        await on_screen(pilot, ReviewDialog)
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_guard_panel(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await connected(pilot)
        await the_case_so_far(app)
        await pilot.press("up")
        await on_screen(pilot, GuardPanel)
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
