"""The footer shows the keys of what has focus, and rebuilds them only when they change:
opening and closing a dialog leaves the same keys in place."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets._footer import FooterKey

from pumpctl.tui.widgets import SteadyFooter
from tests.tui.conftest import run_async, until


class Left(Button):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("l", "noop", "Left key")]


class Right(Button):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "noop", "Right key")]


class Dialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        yield Static("a dialog")


class FooterApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("d", "dialog", "Dialog")]

    def compose(self) -> ComposeResult:
        yield Left("left", id="left")
        yield Right("right", id="right")
        yield SteadyFooter()

    def action_dialog(self) -> None:
        self.push_screen(Dialog())

    def action_noop(self) -> None:
        pass


def keys(app: App[Any]) -> list[FooterKey]:
    return list(app.screen.query(FooterKey))


def descriptions(app: App[Any]) -> set[str]:
    return {key.description for key in keys(app)}


@run_async
async def test_the_footer_follows_focus_and_keeps_its_keys_across_a_dialog() -> None:
    app = FooterApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.set_focus(app.query_one("#left"))
        await until(pilot, lambda: "Left key" in descriptions(app), "the left key")
        assert "Dialog" in descriptions(app)
        assert "Right key" not in descriptions(app)

        app.set_focus(app.query_one("#right"))
        await until(pilot, lambda: "Right key" in descriptions(app), "the right key")
        assert "Dialog" in descriptions(app)
        assert "Left key" not in descriptions(app)

        before = keys(app)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, Dialog), "the dialog")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, Dialog), "the dialog closed")
        for _ in range(5):  # frames enough for a rebuild to be done
            await pilot.pause()
        assert keys(app) == before  # the very same widgets: nothing rebuilt
