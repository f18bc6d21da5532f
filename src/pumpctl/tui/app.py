"""``pumpctl tui``: interrogate, titrate through the guard, log VAS, see dose and pain.

Every therapy command takes one path, the programmer's: ``plan`` (its checks and the
guard, before anything is sent), the review dialog (old and new side by side, warnings, the
confirmations it needs; the focus on Cancel), then ``execute`` (sent once, resolved,
verified by read-back, audited under the clinician's name). No screen here calls a client
method that changes therapy.

All pump I/O runs in workers so the screen never freezes. Polling uses an exclusive worker
(a newer poll replaces an older one); commands never do, since cancelling one
mid-exchange would leave delivery uncertain.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import platformdirs
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, Static

from firmware_sim.simulator import InitialProgram
from pumpctl.builtin_sim import BuiltinSimulator, training_state_path
from pumpctl.chart import chart_model
from pumpctl.client import PumpClient
from pumpctl.clinical.guard import GuardDecision
from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.systemic import SystemicLoad, systemic_load
from pumpctl.clinical.timeline import timeline
from pumpctl.connection import ConnectOptions, Target, open_client, open_target
from pumpctl.display import pump_minute as pump_time
from pumpctl.link.errors import LinkError, NoResponse, OutcomeUncertain, PumpError
from pumpctl.preview import stepped_dose
from pumpctl.programmer import (
    AckAlarm,
    Bolus,
    CatheterCheck,
    GuardBlocked,
    Interrogation,
    NothingToSend,
    Override,
    Plan,
    Programmer,
    ProgrammerRefusal,
    Refill,
    Result,
    Resume,
    SetRate,
    Stop,
    TherapyCommand,
)
from pumpctl.protocol.messages import CatheterVerdict, EventCode
from pumpctl.tui.screens.demand import DemandDialog
from pumpctl.tui.screens.dialogs import (
    AmountDialog,
    Ask,
    GuardPanel,
    OverrideDialog,
    RefillWizard,
    ReviewDialog,
    VasEntry,
)
from pumpctl.tui.screens.help import HelpScreen
from pumpctl.tui.screens.logs import AuditScreen, EventLogScreen
from pumpctl.tui.screens.schedule import PeriodicDialog, ScheduleEditor
from pumpctl.tui.screens.training import TrainingPanel
from pumpctl.tui.status import fit_status
from pumpctl.tui.widgets import (
    AlarmBar,
    DoseChart,
    KeyFooter,
    ReservoirPanel,
    TherapyPanel,
)
from pumpctl.units import format_amount

STEPS_PCT = (5, 10, 20)
POLL_S = 5.0
BOLUS_DURATION_S = 600
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
    BINDINGS = [
        Binding("up,plus", "step(True)", "Up", tooltip="Stage a dose increase by the step"),
        Binding("down,minus", "step(False)", "Down", tooltip="Stage a dose decrease by the step"),
        Binding("f", "cycle_step", "Step%", tooltip="Cycle the step: 5, 10, 20 %"),
        Binding("d", "set_dose", "Dose typed", show=False),
        Binding("v", "vas(True)", "VAS", tooltip="Log a pain score: one more key, 0-9 or T"),
        Binding("V", "vas(False)", "VAS typed", show=False),
        Binding("b", "bolus", "Bolus", tooltip="Give a bolus"),
        Binding("s", "stop_resume", "Stop/Go", tooltip="Stop or resume delivery"),
        Binding("c", "catheter_check", "Cath.", tooltip="Run a catheter check"),
        Binding("r", "refill", "Refill", tooltip="Refill wizard"),
        Binding("g", "schedule", "Sched.", tooltip="Flexible dosing: the day's steps", show=False),
        Binding("o", "periodic", "Periodic", tooltip="Periodic boluses", show=False),
        Binding("m", "demand", "Demand", tooltip="Patient demand boluses, their log", show=False),
        Binding("a", "ack_alarms", "Ack", tooltip="Acknowledge the alarms"),
        Binding("e", "events", "Events", tooltip="Read the pump's event log"),
        Binding("u", "audit", "Audit", tooltip="The audit trail of the clinical record"),
        Binding("t", "training", "Train", tooltip="Training simulator: time and faults"),
        Binding("p", "report", "Report", tooltip="Write the visit report"),
        Binding("i", "interrogate", "Read", tooltip="Interrogate the pump now"),
        # Not in the footer (its two rows are full): the status line ends with "? help".
        Binding("question_mark,f1", "help", "Help", show=False),
        Binding("q", "quit", "Quit"),
    ]
    # Every dashboard action, as the command palette lists it (title, help, action).
    PALETTE: tuple[tuple[str, str, str], ...] = (
        ("Step dose up", "Stage an increase by the step, then review (↑ or +)", "step(True)"),
        ("Step dose down", "Stage a decrease by the step, then review (↓ or -)", "step(False)"),
        ("Change step size", "Cycle the titration step: 5, 10, 20 % (f)", "cycle_step"),
        ("Set dose (typed)", "Type the new daily dose, then review (d)", "set_dose"),
        ("Log VAS", "Pain score in one more key: 0-9, T for 10 (v)", "vas(True)"),
        ("Log VAS (typed)", "Pain score with one decimal, e.g. 6.5 then Enter (V)", "vas(False)"),
        ("Bolus", "Give a bolus within the drug library's limits (b)", "bolus"),
        ("Stop or resume delivery", "Reviewed before anything is sent (s)", "stop_resume"),
        ("Catheter check", "Run a catheter check and show its verdict (c)", "catheter_check"),
        ("Refill", "Residual withdrawn, volume and concentration added (r)", "refill"),
        ("Flexible dosing", "Edit the day's timed steps, drawn as a step chart (g)", "schedule"),
        ("Periodic boluses", "A bolus of a set dose every N hours (o)", "periodic"),
        ("Demand boluses", "The patient's demand bolus, its settings and log (m)", "demand"),
        ("Acknowledge alarms", "Acknowledge every unacknowledged alarm (a)", "ack_alarms"),
        ("Event log", "Read the pump's event log, page by page (e)", "events"),
        ("Audit trail", "The clinical record's audit trail and its hash chain (u)", "audit"),
        ("Training simulator", "Advance the training pump's clock, inject faults (t)", "training"),
        ("Visit report", "Write the visit report as Markdown and HTML (p)", "report"),
        ("Interrogate", "Read the pump again now (i)", "interrogate"),
        ("Help", "Every key, what it does and what the screen shows (? or F1)", "help"),
    )
    # Dashboard actions: not offered over the full-screen event log and audit views.
    DASHBOARD_ACTIONS = frozenset(action.partition("(")[0] for _, _, action in PALETTE)

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
        self.poll_s = poll_s
        self.report_dir = report_dir  # None: reports/ in the user's data directory
        self.wall_clock = wall_clock
        self.target: Target | None = None
        self.client: PumpClient | None = None
        self.programmer: Programmer | None = None
        self.record: ClinicalRecord | None = None
        self.seen: Interrogation | None = None
        self.seen_at: datetime | None = None
        self.link_ok = False
        self.step_pct = 10
        self.last_check = "not in the record"
        self.implant_read: set[str] = set()  # pumps whose implant record this session read
        self.last_command_s: float | None = None
        self.busy = False
        # A command whose outcome is unknown (the answer and the read-back were lost): the
        # screen says so until the pump's event log settles it, and quitting asks first.
        self.uncertain: str | None = None
        self.sending: str | None = None  # the kind of the command on its way to the pump

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

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="link")
        yield Static(id="discrepancy")
        with Horizontal(id="top"):
            yield TherapyPanel(id="therapy")
            yield ReservoirPanel(id="reservoir")
        yield DoseChart(id="chart")
        yield AlarmBar(id="alarms")
        yield Static(id="statusline")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#therapy").border_title = "Therapy"
        self.query_one("#reservoir").border_title = "Reservoir"
        self.query_one("#chart").border_title = "Dose and pain"
        self.sub_title = "connecting…"
        self.run_worker(self._connect(), name="connect", group="link", exclusive=True)
        self.set_interval(self.poll_s, self._poll)

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

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS, self.PALETTE))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette offers every dashboard action, then Textual's own (theme, keys, quit)."""
        if screen is self.screen_stack[0]:
            for title, help_text, action in self.PALETTE:
                yield SystemCommand(title, help_text, partial(self.run_action, action))
        yield from super().get_system_commands(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dashboard keys act on the dashboard only, not over the event log or audit views.

        Modal dialogs already hold the keys back; asking about them here would only blank
        the dashboard's footer behind the dialog.
        """
        screen = self.screen
        over_dashboard = screen is self.screen_stack[0] or isinstance(screen, ModalScreen)
        return over_dashboard or action not in self.DASHBOARD_ACTIONS

    async def _connect(self) -> None:
        try:
            self.record = self.record or ClinicalRecord.open(self.record_path)
            options = self.connect_options
            if self.target is None:
                # Starting the built-in simulator blocks: not on the event loop.
                self.target = await asyncio.to_thread(open_target, options)
            self.client = await open_client(self.target, options)
            self.programmer = Programmer(self.client, self.record, clinician=self.clinician)
            await self.refresh_pump()
        except PumpError as error:
            self._link_lost(str(error))
        except Exception as error:  # the screen must say what failed, never just die
            self._link_lost(f"{type(error).__name__}: {error}")

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
        if self.sending is not None:
            warnings.append(
                f"A {self.sending} command is being sent: quitting now leaves its outcome unknown."
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

    # --- interrogation -------------------------------------------------------------------

    def _poll(self) -> None:
        if self.programmer is not None and not self.busy:
            self.run_worker(self.refresh_pump(), name="poll", group="poll", exclusive=True)

    async def refresh_pump(self) -> None:
        """Interrogate, mirror new events into the record, redraw everything."""
        programmer = self.programmer
        if programmer is None:
            return
        try:
            seen = await programmer.interrogate()  # syncs the record and cross-checks it
            if seen.serial not in self.implant_read:  # the header names the patient
                await programmer.read_implant(seen.serial, seen.status.pump_time_s)
                self.implant_read.add(seen.serial)
            self._show(seen)
        except PumpError as error:
            self._link_lost(str(error))
        except (RecordError, sqlite3.Error) as error:
            self._record_failed(error)

    def _record_failed(self, error: RecordError | sqlite3.Error) -> None:
        """The clinical record failed (damaged, unreadable, a full disk): one line, and the
        dashboard stays up; nothing is decided from a record that could not be read."""
        text = " ".join(str(error).split())
        message = (
            f"Clinical record: {text}"
            if isinstance(error, RecordError)
            else (f"Clinical record error: {text}")
        )
        self.notify(message, severity="error", timeout=30)
        self._status_line(message)

    def _show(self, seen: Interrogation) -> None:
        self.seen, self.seen_at, self.link_ok = seen, self.wall_clock(), True
        self._settle_uncertain(seen.serial)
        self._redraw()

    def _settle_uncertain(self, serial: str) -> None:
        """Once the pump's event log has settled every uncertain command, say so."""
        record = self.record
        if self.uncertain is None or record is None:
            return
        if record.unresolved_changes(serial) or record.unresolved_commands(serial):
            return
        self.notify(f"Settled from the pump's event log: {self.uncertain}", timeout=15)
        self.uncertain = None

    def _link_lost(self, reason: str) -> None:
        self.link_ok = False
        link = self.query_one("#link", Static)
        when = self.seen_at.strftime("%H:%M:%S") if self.seen_at else "never"
        # The verdict first: at 80 columns a long reason must not push "stale" off screen.
        link.update(f" LINK LOST: values shown are stale (last read {when}). {reason}")
        link.add_class("lost")
        self.screen_stack[0].add_class("stale")
        self._status_line()

    def _redraw(self) -> None:
        seen = self.seen
        if seen is None:
            return
        self.query_one("#link", Static).remove_class("lost")
        self.screen_stack[0].remove_class("stale")
        identity = seen.identity
        patient = self.record.patient_id(seen.serial) if self.record is not None else None
        # The training marker first, so a narrow terminal cuts the firmware, never it.
        training = "TRAINING SIMULATOR · " if self.sim is not None else ""
        port = "" if self.sim is not None else f" · {self.port or ''}"
        self.sub_title = (
            f"{training}{f'patient {patient}' if patient else 'no patient recorded'} · "
            f"{identity.serial_number} {identity.model} fw {identity.firmware_version}{port}"
        )
        self.last_check = self._last_catheter_check(identity.serial_number)
        self.query_one(TherapyPanel).show(
            seen, self._last_vas(identity.serial_number), self._systemic(seen)
        )
        self.query_one(ReservoirPanel).show(seen, self.last_check)
        self.query_one(AlarmBar).show(seen)
        self._discrepancy_banner()
        if self.record is not None:
            self.query_one(DoseChart).data = chart_model(
                timeline(self.record, identity.serial_number),
                seen.status.dose_ng_per_day,
                seen.status.pump_time_s,
                seen.unit,
            )
        self._status_line()

    def _discrepancy_banner(self) -> None:
        """Where the pump and the record disagree (increases wait until reconciled), or why
        the record could not be synced."""
        programmer = self.programmer
        found = programmer.discrepancies if programmer is not None else []
        problem = programmer.record_problem if programmer is not None else None
        banner = self.query_one("#discrepancy", Static)
        lines = [f" DISCREPANCY: {d.text}" for d in found]
        if found:
            lines.append(" Increases wait until reconciled: pumpctl reconcile --reason TEXT")
        if problem:
            lines.append(f" RECORD NOT SYNCED: {problem}")
        banner.update("\n".join(lines))
        banner.set_class(bool(lines), "shown")

    def _systemic(self, seen: Interrogation) -> SystemicLoad | None:
        """The systemic load, once any systemic opioid was ever recorded for this pump."""
        if self.record is None or not self.record.systemic_entries(seen.serial):
            return None
        return systemic_load(self.record, seen.serial, seen.status.pump_time_s)

    def _last_vas(self, serial: str) -> str:
        readings = self.record.readings(serial) if self.record is not None else []
        if not readings:
            return "no VAS logged"
        last = readings[-1]
        return f"VAS {format_vas(last.score_tenths)} ({pump_time(last.time_s)})"

    def _last_catheter_check(self, serial: str) -> str:
        if self.record is None:
            return "-"
        last = self.record.last_event(serial, EventCode.CATHETER_CHECKED)
        if last is None:
            return "none on record"
        verdict = CatheterVerdict(last.value_a).name.lower().replace("_", " ")
        return f"{verdict} ({pump_time(last.time_s)[:10]})"

    def _status_line(self, message: str | None = None) -> None:
        """Step, link and times; a message (a refusal, verbatim) comes first so it shows."""
        parts = ["OUTCOME UNKNOWN"] if self.uncertain is not None else []
        if message:
            parts.append(message)
        parts.append(f"Step {self.step_pct}%")
        parts.append("link OK" if self.link_ok else "link DOWN")
        if self.seen is not None and self.seen_at is not None:
            parts.append(
                f"read {self.seen_at:%H:%M:%S}, pump {pump_time(self.seen.status.pump_time_s)}"
            )
        parts.append("? help")
        line = self.query_one("#statusline", Static)
        line.update(fit_status(parts, line.content_size.width or self.size.width - 2))

    # --- helpers -------------------------------------------------------------------------

    def _pump_ready(self) -> tuple[Programmer, Interrogation] | None:
        if self.programmer is None or self.seen is None or not self.link_ok:
            self.notify("No pump connected: the values shown are not current", severity="error")
            return None
        if self.busy:
            self.notify("Busy with the previous command", severity="warning")
            return None
        return self.programmer, self.seen

    def _command(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a pump command in a worker; it is never cancelled by a later one. Whatever
        stops it shows as one line, in a notification and on the status line."""

        async def run() -> None:
            self.busy = True
            try:
                await work()
            except OutcomeUncertain as error:
                self.uncertain = str(error)
                message = f"OUTCOME UNKNOWN: {error}: read the pump back (i)"
                self.notify(message, severity="error", timeout=30)
                self._status_line(message)
            except NothingToSend as error:
                self.notify(str(error), severity="warning", timeout=10)
                self._status_line(str(error))
            except (LinkError, NoResponse) as error:
                self._link_lost(str(error))
                self.notify(str(error), severity="error", timeout=10)
            except PumpError as error:
                self.notify(str(error), severity="error", timeout=15)
                self._status_line(str(error))
            except (RecordError, sqlite3.Error) as error:
                self._record_failed(error)
            finally:
                self.busy = False

        self.run_worker(run(), name=name, group="command")

    # --- the one path of every therapy command -------------------------------------------

    async def _plan_and_run(
        self,
        programmer: Programmer,
        command: TherapyCommand,
        seen: Interrogation | None,
        *,
        lead: str | None = None,
    ) -> Result | None:
        """Plan (the programmer's checks; raises before anything is sent), review, execute."""
        plan = await programmer.plan(command, seen)
        return await self._review_and_execute(programmer, plan, lead=lead)

    async def _review_and_execute(
        self,
        programmer: Programmer,
        plan: Plan,
        *,
        lead: str | None = None,
        notes: Sequence[str] = (),
    ) -> Result | None:
        """Show the plan's review (a command that changes therapy, or needs a confirmation,
        always asks, focus on Cancel), then send it once and show what the read-back
        confirmed. Returns None when the clinician cancelled: nothing was sent."""
        review = plan.review
        if review.changes_therapy or review.required or lead:
            self.clear_notifications()  # no toast over the numbers being confirmed
            dialog = ReviewDialog(review, lead=lead, notes=notes)
            confirmations = await self.push_screen_wait(dialog)
            if confirmations is None:
                self._status_line(f"{plan.command.KIND} cancelled: nothing sent")
                return None
        else:
            confirmations = None
            for warning in review.warnings:
                self.notify(warning, severity="warning", timeout=15)
        started = time.perf_counter()
        self.sending = plan.command.KIND
        try:
            result = await programmer.execute(plan, confirmations)
        except OutcomeUncertain:
            raise  # the next read settles it from the pump's event log (_settle_uncertain)
        except PumpError:
            await self.refresh_pump()  # a refusal: show what the pump holds now
            raise
        finally:
            self.sending = None
        self._show(result.after)
        self.last_command_s = time.perf_counter() - started
        if not isinstance(plan.command, CatheterCheck):
            self.notify(result.text)
            self._status_line(result.text)
        return result

    # --- titration -----------------------------------------------------------------------

    def action_cycle_step(self) -> None:
        self.step_pct = STEPS_PCT[(STEPS_PCT.index(self.step_pct) + 1) % len(STEPS_PCT)]
        self._status_line()

    def action_step(self, up: bool) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready
        new = stepped_dose(seen.status.dose_ng_per_day, self.step_pct, seen.unit, up=up)
        self._command(lambda: self._stage(programmer, seen, new), "stage")

    def action_set_dose(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            current = format_amount(seen.status.dose_ng_per_day, seen.unit)
            dialog = AmountDialog("New daily dose", seen.unit, per_day=True, hint=f"now {current}")
            new = await self.push_screen_wait(dialog)
            if new is not None:
                await self._stage(programmer, seen, new)

        self._command(work, "set-dose")

    async def _stage(
        self,
        programmer: Programmer,
        seen: Interrogation,
        new: int,
        override: Override | None = None,
    ) -> None:
        """Plan the dose change: the guard's panel if it holds or blocks an increase, else
        the review, then send."""
        try:
            plan = await programmer.plan(SetRate(new, override), seen)
        except GuardBlocked as blocked:
            await self._guard_panel(
                programmer, seen, new, blocked.decision, blocked.override_refused
            )
            return
        notes = []
        if override is not None and plan.overridden:
            notes.append(f"OVERRIDE: {override.reason.description} ({override.note})")
        await self._review_and_execute(programmer, plan, notes=notes)

    async def _guard_panel(
        self,
        programmer: Programmer,
        seen: Interrogation,
        new: int,
        decision: GuardDecision,
        override_refused: str | None = None,
    ) -> None:
        self.clear_notifications()  # no toast over the evidence
        choice = await self.push_screen_wait(GuardPanel(decision, override_refused))
        if choice == "reduce":
            lower = stepped_dose(seen.status.dose_ng_per_day, self.step_pct, seen.unit, up=False)
            await self._stage(programmer, seen, lower)
        elif choice == "catheter":
            await self._catheter_check(programmer)
        elif choice == "vas":
            await self._log_vas(programmer, quick=True)
        elif choice == "override" and GuardPanel.offers_override(decision):
            override = await self.push_screen_wait(OverrideDialog())
            if override is not None:
                await self._stage(programmer, seen, new, override)

    # --- other actions -------------------------------------------------------------------

    def action_vas(self, quick: bool) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer = ready[0]

        def chosen(score: int | None) -> None:
            if score is not None:
                self._command(lambda: self._save_vas(programmer, score), "vas")

        # Pushed here, not from a worker, so the digit typed right after "v" reaches it.
        self.push_screen(VasEntry(quick=quick), chosen)

    async def _log_vas(self, programmer: Programmer, *, quick: bool) -> None:
        score = await self.push_screen_wait(VasEntry(quick=quick))
        if score is not None:
            await self._save_vas(programmer, score)

    async def _save_vas(self, programmer: Programmer, score: int) -> None:
        reading = await programmer.log_vas(score)
        self.notify(f"VAS {format_vas(score)} logged at {pump_time(reading.time_s)}")
        await self.refresh_pump()

    def action_bolus(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            dose = await self.push_screen_wait(AmountDialog("Bolus dose", seen.unit))
            if dose is not None:
                await self._plan_and_run(programmer, Bolus(dose, BOLUS_DURATION_S), seen)

        self._command(work, "bolus")

    def action_schedule(self) -> None:
        self._edit_program(ScheduleEditor, "schedule")

    def action_periodic(self) -> None:
        self._edit_program(PeriodicDialog, "periodic")

    def action_demand(self) -> None:
        """The demand-bolus settings and the activation log; a change goes the one path."""
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            settings = await programmer.read_demand_bolus()
            log = await programmer.read_demand_log()
            command = await self.push_screen_wait(DemandDialog(settings, log, seen.unit))
            if command is not None:
                await self._plan_and_run(programmer, command, replace(seen, demand=settings))

        self._command(work, "demand")

    def _edit_program(self, dialog: type[ScheduleEditor | PeriodicDialog], name: str) -> None:
        """Read the program in force, let ``dialog`` edit it, then review and send."""
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            schedule = await programmer.read_schedule()
            command = await self.push_screen_wait(dialog(schedule, seen.unit))
            if command is not None:
                await self._plan_and_run(programmer, command, replace(seen, schedule=schedule))

        self._command(work, name)

    def action_stop_resume(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready
        command = Stop() if seen.running else Resume()

        async def work() -> None:
            await self._plan_and_run(programmer, command, seen)

        self._command(work, command.KIND)

    def action_catheter_check(self) -> None:
        ready = self._pump_ready()
        if ready is not None:
            self._command(lambda: self._catheter_check(ready[0]), "catheter")

    async def _catheter_check(self, programmer: Programmer) -> None:
        result = await self._plan_and_run(programmer, CatheterCheck(), None)
        if result is None:
            return
        serial = result.after.serial
        event = programmer.record.event_for_request(serial, result.request_id)
        if event is None:  # execute verified it is there; read the record's last one
            self._status_line(f"Catheter check {self._last_catheter_check(serial)}")
            return
        verdict = CatheterVerdict(event.value_a)
        findings = event.detail.partition(": ")[2] or event.detail
        message = f"Catheter {verdict.name.lower().replace('_', ' ')}: {findings}"
        severity = "information" if verdict == CatheterVerdict.PATENT else "error"
        self.notify(message, severity=severity, timeout=15)  # type: ignore[arg-type]
        self._status_line(message)

    def action_refill(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            previous: Refill | None = None
            error = ""
            while True:
                wizard = RefillWizard(
                    seen.unit,
                    seen.identity.concentration_ng_per_ml,
                    seen.status.reservoir_ul,
                    seen.limits.refill_tolerance_ul,
                    previous=previous,
                    error=error,
                )
                refill = await self.push_screen_wait(wizard)
                if refill is None:
                    self._status_line("refill cancelled: nothing sent")
                    return
                try:
                    plan = await programmer.plan(refill, seen)
                except ProgrammerRefusal as refusal:
                    # Back to the wizard with the reason, the values kept.
                    previous, error = refill, str(refusal)
                    self._status_line(error)
                    continue
                break
            result = await self._review_and_execute(programmer, plan)
            if result is not None and not result.after.running:
                after = result.after
                lead = (
                    f"The pump is STOPPED after the refill: {after.identity.drug} is not "
                    "being delivered. Resume it now?"
                )
                await self._plan_and_run(programmer, Resume(), after, lead=lead)

        self._command(work, "refill")

    def action_ack_alarms(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            pending = [a.code for a in seen.status.alarms if not a.acknowledged]
            if not pending:
                self.notify("No unacknowledged alarms")
                return
            done, skipped = [], []
            for code in pending:
                try:
                    await self._plan_and_run(programmer, AckAlarm(code), None)
                except ProgrammerRefusal as refusal:  # e.g. it cleared since it was shown
                    skipped.append(str(refusal))
                    continue
                done.append(code.name)
            acknowledged = [f"Acknowledged {', '.join(done)}"] if done else []
            message = "; ".join(acknowledged + skipped)
            self.notify(message, severity="warning" if skipped else "information")
            self._status_line(message)

        self._command(work, "ack")

    def action_events(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, _ = ready

        async def work() -> None:
            def progress(read: int, total: int) -> None:
                self._status_line(f"reading event log {read}/{total}")

            events, page = await programmer.client.read_all_events(0, progress)
            self._status_line(f"{len(events)} events read")
            await self.push_screen(EventLogScreen(events, page.overflow_count))

        self._command(work, "events")

    def action_audit(self) -> None:
        if self.record is None:
            return
        serial = self.seen.identity.serial_number if self.seen else None
        unit = self.seen.unit if self.seen else "mcg"
        try:
            report = self.record.verify_audit()
            entries = self.record.audit_entries(serial)
        except (RecordError, sqlite3.Error) as error:
            self._record_failed(error)
            return
        verdict = (
            f"Audit trail intact: {report.entries} entries (hash chain verified)"
            if report.intact
            else f"AUDIT TRAIL BROKEN: {report.problem}"
        )
        self.push_screen(AuditScreen(entries, verdict, unit))

    def action_training(self) -> None:
        if self.sim is None:
            self.notify("Training controls exist only with the built-in simulator")
            return

        async def work() -> None:
            choice = await self.push_screen_wait(TrainingPanel())
            if choice is not None:
                await self.training(choice)

        self._command(work, "training")

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
        await self.refresh_pump()
        self._status_line(f"training: {choice}")

    async def _reset_training(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.target is not None:
            self.target.close()
            self.target = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.training_state}{suffix}").unlink(missing_ok=True)
        self.programmer = None
        self.seen = None
        await self._connect()
        self.notify("Training pump reset to its first-boot program")

    def action_report(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            from pumpctl.report import write_visit_report

            paths = await write_visit_report(
                programmer, seen, self.report_dir, training=self.sim is not None
            )
            # Name the files once and their folder once: two full paths do not fit a toast.
            names = " and ".join(p.name for p in paths)
            message = f"Visit report written: {names} in {paths[0].parent}"
            self.notify(message, timeout=15)
            self._status_line(message)

        self._command(work, "report")

    def action_interrogate(self) -> None:
        """Read the pump now; with the link down, open the port afresh first."""
        if self.busy:
            self.notify("Busy with the previous command", severity="warning")
            return
        work = self.refresh_pump() if self.link_ok else self._reconnect()
        self.run_worker(work, name="interrogate", group="poll", exclusive=True)

    async def _reconnect(self) -> None:
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
