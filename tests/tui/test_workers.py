"""The dashboard talks to the pump from workers only, one command at a time.

A key pressed again while its command is on its way (a double tap, a key repeat, a
terminal multiplexer replaying input) is refused with a notice: the pump receives the
command once. A refresh runs while no other is in flight. A command is never cancelled; a
read is, when a command or (with the link lost) reopening the port would wait behind it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.worker import Worker, WorkerState

from pumpctl.programmer import Interrogation
from pumpctl.protocol.messages import EventCode
from pumpctl.tui.app import PumpApp
from pumpctl.tui.screens.dashboard import DashboardScreen
from pumpctl.tui.screens.dialogs import ReviewDialog

from .conftest import SIZE, burst, connected, dose, idle, notes, on_screen, run_async, until
from .test_therapy_commands import audit, pump_events

ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)


def in_flight(app: PumpApp, group: str) -> list[Worker[object]]:
    return [w for w in app.workers if w.group == group and w.state in ACTIVE]


@run_async
async def test_a_therapy_command_runs_in_a_dashboard_worker(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        before = dose(app)
        await pilot.press("up")
        await on_screen(pilot, ReviewDialog)
        # The review waits inside the command's worker; the screen takes keys meanwhile.
        [worker] = in_flight(app, "command")
        assert worker.name == "stage"
        assert isinstance(worker.node, DashboardScreen)
        await pilot.press("y")
        await idle(pilot)
        assert dose(app) > before
        assert not in_flight(app, "command")


@run_async
async def test_a_key_pressed_twice_quickly_sends_the_command_once(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await burst(pilot, "c", "c")  # a catheter check asks no question: sent at once
        await idle(pilot)
        events = await pump_events(app)
        assert events.count(EventCode.CATHETER_CHECKED) == 1
        assert len(audit(app, "command-requested", "catheter-check")) == 1
        assert "Busy with the previous command" in notes(app)


@run_async
async def test_a_second_press_opens_no_second_review(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await burst(pilot, "s", "s")
        await on_screen(pilot, ReviewDialog)
        await pilot.pause()
        assert sum(isinstance(s, ReviewDialog) for s in app.screen_stack) == 1
        await pilot.press("n")
        await idle(pilot)
        assert app.screen is app.screen_stack[0]
        assert EventCode.STOPPED not in await pump_events(app)


@run_async
async def test_reads_run_one_at_a_time_and_none_is_cancelled(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        programmer = app.programmer
        assert programmer is not None
        interrogate = programmer.interrogate
        reads = {"now": 0, "most": 0, "done": 0, "cancelled": 0}

        async def counted(*args: Any, **kwargs: Any) -> Interrogation:
            reads["now"] += 1
            reads["most"] = max(reads["most"], reads["now"])
            try:
                seen = await interrogate(*args, **kwargs)
            except asyncio.CancelledError:
                reads["cancelled"] += 1
                raise
            finally:
                reads["now"] -= 1
            reads["done"] += 1
            return seen

        programmer.interrogate = counted  # type: ignore[method-assign]
        # Two reads asked for at once (say a command's read-back and a poll), and "i" typed
        # three times over them.
        asked = asyncio.gather(app.dashboard.refresh_pump(), app.dashboard.refresh_pump())
        await burst(pilot, "i", "i", "i")
        await asked
        await idle(pilot)
        assert reads["done"] >= 3
        assert reads["most"] == 1
        assert reads["cancelled"] == 0
        assert app.link_ok


def stalled_first_read(app: PumpApp) -> tuple[asyncio.Event, dict[str, int]]:
    """The next interrogation hangs (a poll on a noisy line, retrying) until released;
    later ones read the pump as usual."""
    programmer = app.programmer
    assert programmer is not None
    interrogate = programmer.interrogate
    release = asyncio.Event()
    calls = {"stalled": 0, "cancelled": 0}

    async def first_stalls(*args: Any, **kwargs: Any) -> Interrogation:
        if not calls["stalled"]:
            calls["stalled"] += 1
            try:
                await release.wait()
            except asyncio.CancelledError:
                calls["cancelled"] += 1
                raise
        return await interrogate(*args, **kwargs)

    programmer.interrogate = first_stalls  # type: ignore[method-assign]
    return release, calls


@run_async
async def test_a_stop_never_waits_behind_a_read_on_a_slow_line(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        release, calls = stalled_first_read(app)
        app.dashboard._poll()
        await pilot.pause()
        assert in_flight(app, "poll")
        await pilot.press("s")
        await on_screen(pilot, ReviewDialog)  # at once: the read gave way
        assert calls == {"stalled": 1, "cancelled": 1}
        assert not release.is_set()
        await pilot.press("n")
        await idle(pilot)


@run_async
async def test_i_with_the_link_lost_opens_the_port_afresh_at_once(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        release, calls = stalled_first_read(app)
        app.dashboard.link_lost("no answer from the pump")
        reopened: list[bool] = []

        async def reconnect() -> None:
            reopened.append(True)

        app.reconnect = reconnect  # type: ignore[method-assign]
        app.dashboard._poll()  # the next poll, on the lost link
        await pilot.pause()
        await pilot.press("i")
        await until(pilot, lambda: reopened, "the port opened afresh")
        assert calls["cancelled"] == 1
        assert not release.is_set()


@run_async
async def test_a_stop_cancels_a_slow_event_log_read(app: PumpApp) -> None:
    """The event log at 2400 baud takes seconds: it is a read, and gives way to a stop."""
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        programmer = app.programmer
        assert programmer is not None
        cancelled: list[bool] = []

        async def stalled(*args: Any, **kwargs: Any) -> Any:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        programmer.read_events = stalled  # type: ignore[method-assign]
        await pilot.press("e")
        await pilot.pause()
        assert [w.name for w in in_flight(app, "poll")] == ["event log"]
        await pilot.press("s")
        await on_screen(pilot, ReviewDialog)
        assert cancelled == [True]
        assert "Busy" not in notes(app)
        await pilot.press("n")
        await idle(pilot)
        await pilot.press("e", "c")  # a command that asks nothing: the note stays up
        await idle(pilot)
        assert cancelled == [True, True]
        assert "Stopped reading the event log for the command" in notes(app)
