"""``pumpctl tui``: the terminal programmer's shell.

The app opens the link (a port or the built-in training simulator), the clinical record and
the programmer, closes them on the way out, drives the training simulator, asks before
quitting with therapy stopped or uncertain, and offers every dashboard action in the command
palette. What the clinician sees and does is :class:`DashboardScreen`, the first screen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import platformdirs
from textual.app import App, SystemCommand
from textual.screen import Screen

from firmware_sim.simulator import InitialProgram
from pumpctl.builtin_sim import BuiltinSimulator, training_state_path
from pumpctl.client import PumpClient
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.connection import ConnectOptions, Target, open_client, open_target
from pumpctl.link.errors import PumpError
from pumpctl.programmer import Interrogation, Programmer
from pumpctl.tui.screens.dashboard import DashboardScreen
from pumpctl.tui.screens.dialogs import Ask

POLL_S = 5.0
TRAINING_ADVANCE_MS = {"1h": 3_600_000, "1d": 86_400_000, "3d": 259_200_000, "7d": 604_800_000}
TRAINING_FAULTS = {
    "occluded": ("catheter", "occluded"),
    "partial": ("catheter", "partial"),
    "leak": ("catheter", "leak"),
    "battery": ("battery", "15"),
    "stall": ("motor_stall", "on"),
}


class PumpApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "pumpctl"
    PALETTE = DashboardScreen.PALETTE

    def __init__(
        self,
        *,
        connect: ConnectOptions | None = None,
        port: str | None = None,
        record_path: Path | str | None = None,
        clinician: str = "unknown",
        training_state: Path | None = None,
        frozen_clock: bool = False,
        poll_s: float = POLL_S,
        report_dir: Path | None = None,
        training_program: InitialProgram | None = None,
        wall_clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        """``connect`` decides where the link goes (port or built-in simulator, key store,
        role, trace); without it ``port`` (None: the built-in simulator), ``training_state``,
        ``frozen_clock`` and ``training_program`` do."""
        super().__init__()
        if connect is None:
            connect = ConnectOptions(
                port=port,
                sim=port is None,
                training_state=training_state or training_state_path(),
                frozen_clock=frozen_clock,
                training_program=training_program,
            )
        self.connect_options = connect
        self.record_path = record_path
        self.clinician = clinician
        self.report_dir = report_dir  # None: reports/ in the user's data directory
        self.wall_clock = wall_clock
        self.target: Target | None = None
        self.client: PumpClient | None = None
        self.programmer: Programmer | None = None
        self.record: ClinicalRecord | None = None
        self.dashboard = DashboardScreen(poll_s)

    @property
    def port(self) -> str | None:
        return self.connect_options.port

    @property
    def sim(self) -> BuiltinSimulator | None:
        """The built-in training pump, when the link goes to it."""
        return self.target.sim if self.target is not None else None

    @property
    def training_state(self) -> Path:
        return self.connect_options.training_state or training_state_path()

    # What the dashboard last read: what quitting would leave behind.

    @property
    def seen(self) -> Interrogation | None:
        return self.dashboard.seen

    @property
    def link_ok(self) -> bool:
        return self.dashboard.link_ok

    @property
    def uncertain(self) -> str | None:
        return self.dashboard.uncertain

    # --- lifecycle -----------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return self.dashboard

    def on_mount(self) -> None:
        self.sub_title = "connecting…"
        self.run_worker(self._connect(), name="connect", group="link", exclusive=True)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots go to the user's data directory (made if missing), not ~/Downloads,
        which a clinic's terminal may not have; the path is shown."""
        directory = Path(path) if path else Path(platformdirs.user_data_dir("pumpctl")) / "shots"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(directory), time_format)
        except OSError as error:
            self.notify(f"Screenshot not saved: {error.strerror} ({directory})", severity="error")
            return None
        self.notify(f"Screenshot saved: {saved}")
        return saved

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers every dashboard action over the dashboard, then Textual's own
        (theme, keys, quit)."""
        if screen is self.dashboard:
            for title, help_text, action in self.PALETTE:
                yield SystemCommand(title, help_text, partial(self.run_action, action, screen))
        yield from super().get_system_commands(screen)

    async def _connect(self) -> None:
        try:
            self.record = self.record or ClinicalRecord.open(self.record_path)
            options = self.connect_options
            if self.target is None:
                # Starting the built-in simulator blocks: not on the event loop.
                self.target = await asyncio.to_thread(open_target, options)
            self.client = await open_client(self.target, options)
            self.programmer = Programmer(self.client, self.record, clinician=self.clinician)
            await self.dashboard.refresh_pump()
        except PumpError as error:
            self.dashboard.link_lost(str(error))
        except Exception as error:  # the screen must say what failed, never just die
            self.dashboard.link_lost(f"{type(error).__name__}: {error}")

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.target is not None:
            self.target.close()
        if self.record is not None:
            self.record.close()

    # --- quitting ------------------------------------------------------------------------

    def quit_warnings(self) -> list[str]:
        """What leaving now would leave behind: a stopped pump, an uncertain command."""
        warnings = []
        seen = self.seen
        if seen is not None and not seen.running:
            warnings.append(f"The pump is STOPPED: {seen.identity.drug} is not being delivered.")
        elif seen is not None and not self.link_ok:
            warnings.append(
                "The link is down: whether the pump is delivering is not known "
                "(the last read showed it running)."
            )
        sending = self.dashboard.sending
        if sending is not None:
            warnings.append(
                f"A {sending} command is being sent: quitting now leaves its outcome unknown."
            )
        if self.uncertain is not None:
            warnings.append(
                f"OUTCOME UNKNOWN: {self.uncertain}. Read the pump back (i) before leaving."
            )
        return warnings

    async def action_quit(self) -> None:
        """``q`` and ctrl+q: with the pump stopped or a command uncertain, ask first."""
        warnings = self.quit_warnings()
        if not warnings:
            self.exit()
            return
        if any(isinstance(s, Ask) and s.id == "quit" for s in self.screen_stack):
            return

        def answer(leave: bool | None) -> None:
            if leave:
                self.exit()

        question = " ".join([*warnings, "Quit anyway?"])
        dialog = Ask(question, yes="Quit (y)", no="Cancel (n)")
        dialog.id = "quit"
        await self.push_screen(dialog, answer)

    # --- the training simulator ---------------------------------------------------------

    async def training(self, choice: str) -> None:
        """Apply one training-panel action to the built-in simulator."""
        sim = self.sim
        if sim is None:
            return
        kind, _, value = choice.partition("-")
        if kind == "advance":
            await asyncio.to_thread(sim.simulator.advance, TRAINING_ADVANCE_MS[value])
        elif kind == "fault" and value == "clear":
            await asyncio.to_thread(sim.simulator.clear_faults)
        elif kind == "fault":
            name, setting = TRAINING_FAULTS[value]
            await asyncio.to_thread(sim.simulator.set_fault, name, setting)
        elif kind == "reset":
            await self._reset_training()
            return
        await self.dashboard.refresh_pump()
        self.dashboard.status_line(f"training: {choice}")

    async def _reset_training(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.target is not None:
            self.target.close()
            self.target = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.training_state}{suffix}").unlink(missing_ok=True)
        self.programmer = None
        self.dashboard.seen = None
        await self._connect()
        self.notify("Training pump reset to its first-boot program")

    async def reconnect(self) -> None:
        """A programmer head unplugged and back, a pump out of range and back: a new link."""
        client, self.client, self.programmer = self.client, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # the old line is gone already
                await client.close()
        self.sub_title = "reconnecting…"
        await self._connect()


def run_tui(**options: Any) -> None:
    """``connect=ConnectOptions(...)`` (or the older ``port=...``), ``record_path``,
    ``clinician`` and the other keywords of :class:`PumpApp`."""
    PumpApp(**options).run()
