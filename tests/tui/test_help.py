"""`?` and F1 open the help: every dashboard key with what it does, read from the bindings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.tui.app import PumpApp
from pumpctl.tui.screens.dashboard import DashboardScreen
from pumpctl.tui.screens.help import HelpScreen, key_label
from tests.tui.conftest import SIZE, connected, make_app, on_screen, plain, run_async


@pytest.mark.parametrize("key", ["question_mark", "f1"])
@run_async
async def test_help_lists_every_key_and_closes(tmp_path: Path, key: str) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press(key)
        screen = await on_screen(pilot, HelpScreen)
        text = plain(screen.query_one("#help-keys"), width=74)
        for binding in DashboardScreen.BINDINGS:
            assert key_label(binding.key) in text, binding.key  # type: ignore[union-attr]
        assert "Refill: Residual withdrawn" in text  # the palette's words
        assert "stale" in plain(screen.query_one("#help-panels"), width=74)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


def test_help_is_in_the_palette() -> None:
    assert any(title == "Help" and action == "help" for title, _, action in PumpApp.PALETTE)


@run_async
async def test_a_screenshot_goes_to_the_data_directory_made_if_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/Downloads
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        saved = app.deliver_screenshot()
        await pilot.pause()
    assert saved is not None
    shot = Path(saved)
    assert shot.parent == tmp_path / "data" / "pumpctl" / "shots"
    assert shot.read_text().startswith("<svg")
