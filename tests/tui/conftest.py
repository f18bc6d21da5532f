"""Helpers for driving the terminal programmer with Textual's Pilot against the simulator.

Every app here runs the built-in simulator (in this process, on the memory link) with a
frozen pump clock, a fixed serial number and a fixed wall clock, and polls too rarely to
interfere with a test.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import textual._wait
from rich.console import Console
from rich.text import Text
from textual import events
from textual.app import App
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets._footer import FooterKey
from textual.worker import WorkerState

from firmware_sim.simulator import InitialProgram
from pumpctl.tui.app import PumpApp

# Pilot settles after every key by sleeping until the process uses no CPU for a whole
# sleep, in sleeps of 1/50 s: a few seconds of each test spent asleep. Sleeps of 2 ms settle
# as well; what a test checks it waits for itself (``idle``, ``until``, ``on_screen``).
textual._wait.SLEEP_GRANULARITY = 0.002

SERIAL = "SIM000001"
WALL_CLOCK = datetime(2026, 1, 1, 9, 0)
SIZE = (80, 24)
TIMEOUT_S = 10.0


def make_app(directory: Path, program: InitialProgram | None = None) -> PumpApp:
    """``program``: the training pump's first-boot program (default: morphine 25 mg/mL at
    1.4 mg/day, 20 mL in an IT-20)."""
    return PumpApp(
        record_path=directory / "clinic.db",
        clinician="dr-test",
        training_state=directory / "training-pump.db",
        frozen_clock=True,
        poll_s=3600,
        report_dir=directory / "reports",
        training_program=program or InitialProgram(serial_number=SERIAL, frozen_clock=True),
        wall_clock=lambda: WALL_CLOCK,
    )


@pytest.fixture
def app(tmp_path: Path) -> PumpApp:
    return make_app(tmp_path)


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (Textual's run_test works inside asyncio.run)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 60))

    wrapper.__signature__ = inspect.signature(test)  # type: ignore[attr-defined]
    return wrapper


async def until(
    pilot: Pilot[Any],
    condition: Callable[[], object],
    what: str = "",
    timeout_s: float = TIMEOUT_S,
) -> None:
    """Wait, a frame at a time, until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.01)


def working(app: App[Any]) -> bool:
    return any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)


async def idle(pilot: Pilot[Any]) -> None:
    """Every worker finished (no dialog is waiting for an answer) and the screen redrawn."""
    await until(pilot, lambda: not working(pilot.app), "the workers to finish")
    await pilot.pause()


async def connected(pilot: Pilot[Any]) -> PumpApp:
    app = pilot.app
    assert isinstance(app, PumpApp)
    await until(pilot, lambda: app.seen is not None or app.query_one("#link").has_class("lost"))
    await idle(pilot)
    assert app.seen is not None, "the app did not connect to the built-in simulator"
    # the first read drawn and laid out: every panel has its size and the status line says so
    await until(pilot, lambda: _drawn(app), "the first read to be drawn")
    return app


def _drawn(app: PumpApp) -> bool:
    panels = ("#therapy", "#reservoir", "#chart", "#alarms", "#statusline")
    laid_out = all(app.query_one(p).region.height > 0 for p in panels)
    keys = bool(app.screen.query(FooterKey))  # the footer builds its keys a refresh later
    return laid_out and keys and "link OK" in text_of(app, "#statusline")


async def on_screen(pilot: Pilot[Any], kind: type) -> Any:
    """Wait for a screen (a dialog) of ``kind`` to be the active one, and return it."""
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), kind.__name__)
    await pilot.pause()
    return pilot.app.screen


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type into the focused input as a typist does, every key queued at once (Pilot.press
    would wait for the app to go idle after each one), then wait for the screen."""
    await burst(pilot, *("space" if char == " " else char for char in text))


def text_of(app: PumpApp, selector: str) -> str:
    """What a widget (or the Statics inside it) shows, as plain text."""
    widget = app.query_one(selector)
    if isinstance(widget, Static):
        return plain(widget)
    return "\n".join(plain(child) for child in widget.query(Static))


def notes(app: PumpApp) -> str:
    return "\n".join(n.message for n in app._notifications)


def dose(app: PumpApp) -> int:
    assert app.sim is not None
    return app.sim.simulator.pump.state.dose_ng_per_day


def plain(widget: Static, width: int = 76) -> str:
    """What a Static shows, as plain text (its Rich content rendered without styles)."""
    content = widget.content
    if isinstance(content, str | Text):
        return str(content)
    output = io.StringIO()
    console = Console(file=output, width=width, color_system=None, legacy_windows=False)
    console.print(content)
    return output.getvalue()


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Keys all at once, as a fast typist or a terminal multiplexer sends them (Pilot.press
    waits for the app to settle after every key, which hides type-ahead races)."""
    driver = pilot.app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1:  # a character, named as Pilot names it ("." is "full_stop")
            event = events.Key(_character_to_key(key), key)
        else:
            event = events.Key(key, {"enter": "\r", "space": " ", "tab": "\t"}.get(key))
        event.set_sender(pilot.app)
        driver.send_message(event)
    await pilot.pause()
