"""The dashboard: the pump's therapy, reservoir, alarms, the dose and pain chart, the
status line and every key that acts on the pump.

Every therapy command takes one path, the programmer's: ``plan`` (its checks and the
guard, before anything is sent), the review dialog (old and new side by side, warnings, the
confirmations it needs; the focus on Cancel), then ``execute`` (sent once, resolved,
verified by read-back, audited under the clinician's name). Nothing here calls the client:
every word to the pump goes through the programmer.

All pump I/O runs in workers so the screen never freezes, one command at a time: a key
pressed while a command is in flight is refused, never queued, and the command in flight is
never cancelled (cancelling one mid-exchange would leave delivery uncertain). Reads run one
at a time too: a poll or ``i`` while a read is in flight adds none, and a command first
waits for the read in flight to end.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import WorkerState

from pumpctl.builtin_sim import BuiltinSimulator
from pumpctl.chart import chart_model
from pumpctl.clinical.guard import GuardDecision
from pumpctl.clinical.record import ClinicalRecord, RecordError
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.systemic import SystemicLoad, systemic_load
from pumpctl.clinical.timeline import timeline
from pumpctl.display import pump_minute as pump_time
from pumpctl.display import spoken_name
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
from pumpctl.programmer.evidence import verdict_name
from pumpctl.protocol.messages import CatheterVerdict, EventCode
from pumpctl.tui.screens.demand import DemandDialog
from pumpctl.tui.screens.dialogs import (
    AmountDialog,
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

if TYPE_CHECKING:
    from pumpctl.tui.app import PumpApp

STEPS_PCT = (5, 10, 20)
BOLUS_DURATION_S = 600
COMMANDS = "command"  # the workers' group of commands: one in flight at a time
READS = "poll"  # the workers' group of polls and reads on demand: one in flight at a time
ASKED_READS = ("event log", "visit report")  # the reads a key asks for, by worker name
_ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)


class DashboardScreen(Screen[None]):
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

    def __init__(self, poll_s: float) -> None:
        super().__init__()
        self.poll_s = poll_s
        self.seen: Interrogation | None = None
        self.seen_at: datetime | None = None
        self.link_ok = False
        self.step_pct = 10
        self.last_check = "not in the record"
        self.implant_read: set[str] = set()  # pumps whose implant record this session read
        self.last_command_s: float | None = None
        # Set when a command is accepted, before its worker starts: a key pressed again at
        # once finds it set.
        self.busy = False
        # A command whose outcome is unknown (the answer and the read-back were lost): the
        # screen says so until the pump's event log settles it, and quitting asks first.
        self.uncertain: str | None = None
        self.sending: str | None = None  # the kind of the command on its way to the pump
        self._reading = asyncio.Lock()  # held by the one read in flight

    @property
    def shell(self) -> PumpApp:
        """The app: the link, the programmer, the record, the training simulator."""
        return cast("PumpApp", self.app)

    @property
    def programmer(self) -> Programmer | None:
        return self.shell.programmer

    @property
    def record(self) -> ClinicalRecord | None:
        return self.shell.record

    @property
    def sim(self) -> BuiltinSimulator | None:
        return self.shell.sim

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
        self.set_interval(self.poll_s, self._poll)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS, self.PALETTE))

    async def action_quit(self) -> None:
        await self.shell.action_quit()

    # --- interrogation -------------------------------------------------------------------

    def _poll(self) -> None:
        if self.programmer is not None and not self.busy and not self._in_flight(READS):
            self.run_worker(self.refresh_pump(), name="poll", group=READS)

    def _in_flight(self, group: str) -> bool:
        return any(w.group == group and w.state in _ACTIVE for w in self.workers)

    def _cancel_reads(self) -> list[str]:
        """The read in flight gives way: a read is safe to cancel (its late answer is dropped
        as stale), and nothing a clinician asks for waits behind one on a slow line. Returns
        the names of the reads cancelled."""
        cancelled = []
        for worker in self.workers:
            if worker.group == READS and worker.state in _ACTIVE:
                worker.cancel()
                cancelled.append(worker.name)
        return cancelled

    async def refresh_pump(self) -> None:
        """Interrogate, mirror new events into the record, redraw everything; after the
        read in flight, if there is one (never two reads at once)."""
        async with self._reading:
            await self._refresh()

    async def _refresh(self) -> None:
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
            self.link_lost(str(error))
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
        self.status_line(message)

    def _show(self, seen: Interrogation) -> None:
        self.seen, self.seen_at, self.link_ok = seen, self.shell.wall_clock(), True
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

    def link_lost(self, reason: str) -> None:
        """Grey every value under the LINK LOST banner until the next good read."""
        self.link_ok = False
        link = self.query_one("#link", Static)
        when = self.seen_at.strftime("%H:%M:%S") if self.seen_at else "never"
        # The verdict first: at 80 columns a long reason must not push "stale" off screen.
        link.update(f" LINK LOST: values shown are stale (last read {when}). {reason}")
        link.add_class("lost")
        self.add_class("stale")
        self.status_line()

    def _redraw(self) -> None:
        seen = self.seen
        if seen is None:
            return
        self.query_one("#link", Static).remove_class("lost")
        self.remove_class("stale")
        identity = seen.identity
        patient = self.record.patient_id(seen.serial) if self.record is not None else None
        # The training marker first, so a narrow terminal cuts the firmware, never it.
        training = "TRAINING SIMULATOR · " if self.sim is not None else ""
        port = "" if self.sim is not None else f" · {self.shell.port or ''}"
        self.app.sub_title = (
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
        self.status_line()

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
        verdict = spoken_name(verdict_name(last.value_a))
        return f"{verdict} ({pump_time(last.time_s)[:10]})"

    def status_line(self, message: str | None = None) -> None:
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

    def _refused_as_busy(self) -> bool:
        """A command is on its way: say so; nothing else starts until it ends."""
        if self.busy:
            self.notify("Busy with the previous command", severity="warning")
        return self.busy

    def _pump_ready(self) -> tuple[Programmer, Interrogation] | None:
        if self.programmer is None or self.seen is None or not self.link_ok:
            self.notify("No pump connected: the values shown are not current", severity="error")
            return None
        if self._refused_as_busy():
            return None
        return self.programmer, self.seen

    def _command(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a pump command in a worker; the read in flight is cancelled, never waited for
        (a stop must not queue behind a poll on a noisy line). A command is never cancelled
        by a later one, and none starts until it ends (``busy`` is set here, before the
        worker runs). Whatever stops it shows as one line, in a notification and on the
        status line."""
        if self._refused_as_busy():
            return
        self.busy = True
        for read in self._cancel_reads():
            if read in ASKED_READS:  # the clinician asked for it: say it was set aside
                self.notify(f"Stopped reading the {read} for the command", timeout=10)

        async def run() -> None:
            try:
                async with self._reading:  # the cancelled read has let go
                    pass
                await self._showing_failures(work)
            finally:
                self.busy = False

        self.run_worker(run(), name=name, group=COMMANDS)

    def _read(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a read the clinician asked for (the event log: seconds on a slow line; the
        visit report, whose files are written after its last read) with the reads, one at a
        time: a command cancels it rather than wait for it."""
        if self._refused_as_busy():
            return
        self._cancel_reads()  # a poll gives way; it comes round again

        async def run() -> None:
            async with self._reading:
                await self._showing_failures(work)

        self.run_worker(run(), name=name, group=READS)

    async def _showing_failures(self, work: Callable[[], Awaitable[None]]) -> None:
        """``work``, with whatever stops it shown as one line, in a notification and on the
        status line."""
        try:
            await work()
        except OutcomeUncertain as error:
            self.uncertain = str(error)
            message = f"OUTCOME UNKNOWN: {error}: read the pump back (i)"
            self.notify(message, severity="error", timeout=30)
            self.status_line(message)
        except NothingToSend as error:
            self.notify(str(error), severity="warning", timeout=10)
            self.status_line(str(error))
        except (LinkError, NoResponse) as error:
            self.link_lost(str(error))
            self.notify(str(error), severity="error", timeout=10)
        except PumpError as error:
            self.notify(str(error), severity="error", timeout=15)
            self.status_line(str(error))
        except (RecordError, sqlite3.Error) as error:
            self._record_failed(error)

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
            self.app.clear_notifications()  # no toast over the numbers being confirmed
            dialog = ReviewDialog(review, lead=lead, notes=notes)
            confirmations = await self.app.push_screen_wait(dialog)
            if confirmations is None:
                self.status_line(f"{plan.command.KIND} cancelled: nothing sent")
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
            self.status_line(result.text)
        return result

    # --- titration -----------------------------------------------------------------------

    def action_cycle_step(self) -> None:
        self.step_pct = STEPS_PCT[(STEPS_PCT.index(self.step_pct) + 1) % len(STEPS_PCT)]
        self.status_line()

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
            new = await self.app.push_screen_wait(dialog)
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
        self.app.clear_notifications()  # no toast over the evidence
        choice = await self.app.push_screen_wait(GuardPanel(decision, override_refused))
        if choice == "reduce":
            lower = stepped_dose(seen.status.dose_ng_per_day, self.step_pct, seen.unit, up=False)
            await self._stage(programmer, seen, lower)
        elif choice == "catheter":
            await self._catheter_check(programmer)
        elif choice == "vas":
            await self._log_vas(programmer, quick=True)
        elif choice == "override" and GuardPanel.offers_override(decision):
            override = await self.app.push_screen_wait(OverrideDialog())
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
        self.app.push_screen(VasEntry(quick=quick), chosen)

    async def _log_vas(self, programmer: Programmer, *, quick: bool) -> None:
        score = await self.app.push_screen_wait(VasEntry(quick=quick))
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
            dose = await self.app.push_screen_wait(AmountDialog("Bolus dose", seen.unit))
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
            command = await self.app.push_screen_wait(DemandDialog(settings, log, seen.unit))
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
            command = await self.app.push_screen_wait(dialog(schedule, seen.unit))
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
            self.status_line(f"Catheter check {self._last_catheter_check(serial)}")
            return
        verdict = verdict_name(event.value_a)
        findings = event.detail.partition(": ")[2] or event.detail
        message = f"Catheter {spoken_name(verdict)}: {findings}"
        severity = "information" if verdict == CatheterVerdict.PATENT.name else "error"
        self.notify(message, severity=severity, timeout=15)  # type: ignore[arg-type]
        self.status_line(message)

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
                refill = await self.app.push_screen_wait(wizard)
                if refill is None:
                    self.status_line("refill cancelled: nothing sent")
                    return
                try:
                    plan = await programmer.plan(refill, seen)
                except ProgrammerRefusal as refusal:
                    # Back to the wizard with the reason, the values kept.
                    previous, error = refill, str(refusal)
                    self.status_line(error)
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
            self.status_line(message)

        self._command(work, "ack")

    def action_events(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, _ = ready

        async def work() -> None:
            def progress(read: int, total: int) -> None:
                self.status_line(f"reading event log {read}/{total}")

            events, page = await programmer.read_events(0, progress)
            self.status_line(f"{len(events)} events read")
            await self.app.push_screen(EventLogScreen(events, page.overflow_count))

        self._read(work, "event log")

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
        self.app.push_screen(AuditScreen(entries, verdict, unit))

    def action_training(self) -> None:
        if self.sim is None:
            self.notify("Training controls exist only with the built-in simulator")
            return

        async def work() -> None:
            choice = await self.app.push_screen_wait(TrainingPanel())
            if choice is not None:
                await self.shell.training(choice)

        self._command(work, "training")

    def action_report(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            from pumpctl.report import write_visit_report

            paths = await write_visit_report(
                programmer, seen, self.shell.report_dir, training=self.sim is not None
            )
            # Name the files once and their folder once: two full paths do not fit a toast.
            names = " and ".join(p.name for p in paths)
            message = f"Visit report written: {names} in {paths[0].parent}"
            self.notify(message, timeout=15)
            self.status_line(message)

        self._read(work, "visit report")

    def action_interrogate(self) -> None:
        """Read the pump now; with the link down, open the port afresh first."""
        if self._refused_as_busy():
            return
        if self._in_flight(READS):
            if self.link_ok:
                self.notify("Reading the pump: its answer is on its way")
                return
            self._cancel_reads()  # a read on the lost link: the port is opened afresh instead
        work = self.refresh_pump() if self.link_ok else self._reconnect()
        self.run_worker(work, name="interrogate", group=READS)

    async def _reconnect(self) -> None:
        async with self._reading:  # the cancelled read has let go (reconnecting reads anew)
            pass
        await self.shell.reconnect()
