"""``pumpctl tui``: interrogate, titrate through the guard, log VAS, see dose and pain.

All pump I/O runs in workers so the screen never freezes. Polling uses an exclusive worker
(a newer poll replaces an older one); dose commands never do, since cancelling one
mid-exchange would leave delivery uncertain.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, Static

from firmware_sim.simulator import InitialProgram
from pumpctl.builtin_sim import BuiltinSimulator, training_state_path
from pumpctl.client import PumpClient
from pumpctl.clinical.guard import Verdict
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.timeline import timeline
from pumpctl.keystore import KeySource, Keystore
from pumpctl.limits import check_rate_change
from pumpctl.link.errors import LinkError, NoResponse, OutcomeUncertain, PumpError
from pumpctl.preview import preview_change, stepped_dose
from pumpctl.programmer import Interrogation, Override, Programmer
from pumpctl.protocol.messages import CatheterVerdict, EventCode, PumpState
from pumpctl.tui.chart import ChartData
from pumpctl.tui.screens.dialogs import (
    AmountDialog,
    Ask,
    ConfirmChange,
    GuardPanel,
    OverrideDialog,
    RefillWizard,
    VasEntry,
)
from pumpctl.tui.screens.logs import AuditScreen, EventLogScreen
from pumpctl.tui.screens.training import TrainingPanel
from pumpctl.tui.widgets import (
    AlarmBar,
    DoseChart,
    KeyFooter,
    ReservoirPanel,
    TherapyPanel,
    pump_time,
)
from pumpctl.units import format_amount, format_volume

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
        Binding("v", "vas(True)", "VAS", tooltip="Log a pain score: one more key, 0-9 or T"),
        Binding("V", "vas(False)", "VAS typed", show=False),
        Binding("b", "bolus", "Bolus", tooltip="Give a bolus"),
        Binding("s", "stop_resume", "Stop/Go", tooltip="Stop or resume delivery"),
        Binding("c", "catheter_check", "Cath.", tooltip="Run a catheter check"),
        Binding("r", "refill", "Refill", tooltip="Refill wizard"),
        Binding("a", "ack_alarms", "Ack", tooltip="Acknowledge the alarms"),
        Binding("e", "events", "Events", tooltip="Read the pump's event log"),
        Binding("u", "audit", "Audit", tooltip="The audit trail of the clinical record"),
        Binding("t", "training", "Train", tooltip="Training simulator: time and faults"),
        Binding("p", "report", "Report", tooltip="Write the visit report"),
        Binding("i", "interrogate", "Read", tooltip="Interrogate the pump now"),
        Binding("q", "quit", "Quit"),
    ]
    # Every dashboard action, as the command palette lists it (title, help, action).
    PALETTE: tuple[tuple[str, str, str], ...] = (
        ("Step dose up", "Stage an increase by the step, then confirm (↑ or +)", "step(True)"),
        ("Step dose down", "Stage a decrease by the step, then confirm (↓ or -)", "step(False)"),
        ("Change step size", "Cycle the titration step: 5, 10, 20 % (f)", "cycle_step"),
        ("Log VAS", "Pain score in one more key: 0-9, T for 10 (v)", "vas(True)"),
        ("Log VAS (typed)", "Pain score with one decimal, e.g. 6.5 then Enter (V)", "vas(False)"),
        ("Bolus", "Give a bolus within the drug library's limits (b)", "bolus"),
        ("Stop or resume delivery", "Asks before anything is sent (s)", "stop_resume"),
        ("Catheter check", "Run a catheter check and show its verdict (c)", "catheter_check"),
        ("Refill", "Residual withdrawn, volume and concentration added (r)", "refill"),
        ("Acknowledge alarms", "Acknowledge every unacknowledged alarm (a)", "ack_alarms"),
        ("Event log", "Read the pump's event log, page by page (e)", "events"),
        ("Audit trail", "The clinical record's audit trail and its hash chain (u)", "audit"),
        ("Training simulator", "Advance the training pump's clock, inject faults (t)", "training"),
        ("Visit report", "Write the visit report as Markdown and HTML (p)", "report"),
        ("Interrogate", "Read the pump again now (i)", "interrogate"),
    )
    # Dashboard actions: not offered over the full-screen event log and audit views.
    DASHBOARD_ACTIONS = frozenset(action.partition("(")[0] for _, _, action in PALETTE)

    def __init__(
        self,
        *,
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
        super().__init__()
        self.port = port
        self.record_path = record_path
        self.clinician = clinician
        self.training_state = training_state or training_state_path()
        self.frozen_clock = frozen_clock
        self.poll_s = poll_s
        self.report_dir = report_dir or Path.cwd()
        self.training_program = training_program
        self.wall_clock = wall_clock
        self.sim: BuiltinSimulator | None = None
        self.client: PumpClient | None = None
        self.programmer: Programmer | None = None
        self.record: ClinicalRecord | None = None
        self.seen: Interrogation | None = None
        self.seen_at: datetime | None = None
        self.link_ok = False
        self.step_pct = 10
        self.last_check = "not in the record"
        self.last_command_s: float | None = None
        self.busy = False

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="link")
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
            port = self.port
            keys: KeySource
            if port is None:
                if self.sim is None:
                    self.sim = await asyncio.to_thread(
                        BuiltinSimulator,
                        self.training_state,
                        frozen_clock=self.frozen_clock,
                        program=self.training_program,
                    )
                port = self.sim.port
                keys = self.sim.keys()
            else:
                keys = Keystore()
            self.client = await PumpClient.open(port, keys=keys)
            self.programmer = Programmer(self.client, self.record, clinician=self.clinician)
            await self.refresh_pump()
        except PumpError as error:
            self._link_lost(str(error))
        except Exception as error:  # the screen must say what failed, never just die
            self._link_lost(f"{type(error).__name__}: {error}")

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.sim is not None:
            self.sim.close()
        if self.record is not None:
            self.record.close()

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
            seen = await programmer.interrogate()
            await programmer.sync_record(seen)
        except PumpError as error:
            self._link_lost(str(error))
            return
        self.seen, self.seen_at, self.link_ok = seen, self.wall_clock(), True
        self._redraw()

    def _link_lost(self, reason: str) -> None:
        self.link_ok = False
        link = self.query_one("#link", Static)
        when = self.seen_at.strftime("%H:%M:%S") if self.seen_at else "never"
        # The verdict first: at 80 columns a long reason must not push "stale" off screen.
        link.update(f" LINK LOST: values shown are stale (last read {when}). {reason}")
        link.add_class("lost")
        self._status_line()

    def _redraw(self) -> None:
        seen = self.seen
        if seen is None:
            return
        self.query_one("#link", Static).remove_class("lost")
        identity = seen.identity
        mode = "TRAINING SIMULATOR" if self.sim is not None else self.port or ""
        self.sub_title = (
            f"{identity.serial_number} {identity.model} fw {identity.firmware_version} · {mode}"
        )
        self.last_check = self._last_catheter_check(identity.serial_number)
        self.query_one(TherapyPanel).show(seen, self._last_vas(identity.serial_number))
        self.query_one(ReservoirPanel).show(seen, self.last_check)
        self.query_one(AlarmBar).show(seen)
        if self.record is not None:
            self.query_one(DoseChart).data = ChartData(
                timeline(self.record, identity.serial_number),
                seen.status.dose_ng_per_day,
                seen.status.pump_time_s,
                seen.unit,
            )
        self._status_line()

    def _last_vas(self, serial: str) -> str:
        readings = self.record.readings(serial) if self.record is not None else []
        if not readings:
            return "no VAS logged"
        last = readings[-1]
        return f"VAS {format_vas(last.score_tenths)} ({pump_time(last.time_s)})"

    def _last_catheter_check(self, serial: str) -> str:
        if self.record is None:
            return "-"
        checks = [
            e for e in self.record.pump_events(serial) if e.code == EventCode.CATHETER_CHECKED
        ]
        if not checks:
            return "none on record"
        last = checks[-1]
        verdict = CatheterVerdict(last.value_a).name.lower().replace("_", " ")
        return f"{verdict} ({pump_time(last.time_s)[:10]})"

    def _status_line(self, message: str | None = None) -> None:
        """Step, link and times; a message (a refusal, verbatim) comes first so it shows."""
        parts = [message] if message else []
        parts.append(f"Step {self.step_pct}%")
        parts.append("link OK" if self.link_ok else "link DOWN")
        if self.seen is not None and self.seen_at is not None:
            parts.append(
                f"read {self.seen_at:%H:%M:%S}, pump {pump_time(self.seen.status.pump_time_s)}"
            )
        self.query_one("#statusline", Static).update(" │ ".join(parts))

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
        """Run a pump command in a worker; it is never cancelled by a later one."""

        async def run() -> None:
            self.busy = True
            try:
                await work()
            except OutcomeUncertain as error:
                self.notify(f"OUTCOME UNKNOWN: {error}", severity="error", timeout=30)
            except (LinkError, NoResponse) as error:
                self._link_lost(str(error))
                self.notify(str(error), severity="error", timeout=10)
            except PumpError as error:
                self.notify(str(error), severity="error", timeout=15)
                self._status_line(str(error))
            finally:
                self.busy = False

        self.run_worker(run(), name=name, group="command")

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

    async def _stage(
        self,
        programmer: Programmer,
        seen: Interrogation,
        new: int,
        override: Override | None = None,
    ) -> None:
        if new > seen.status.dose_ng_per_day and override is None:
            await programmer.sync_record(seen)
            decision = programmer.guard(seen, new)
            if not decision.allowed:
                # The decision goes in the audit trail (and the visit report) when it is
                # shown, as Programmer.set_rate records it, not only if it is overridden.
                programmer.record.note(
                    seen.identity.serial_number,
                    programmer.clinician,
                    f"guard-{decision.verdict.value}",
                    seen.status.pump_time_s,
                    proposed_ng_per_day=new,
                    current_ng_per_day=seen.status.dose_ng_per_day,
                    reason=decision.reason,
                    overridden=False,
                )
                await self._guard_panel(programmer, seen, new, decision.verdict, decision)
                return
        violation = check_rate_change(
            seen.limits, seen.status.dose_ng_per_day, new, seen.identity.concentration_ng_per_ml
        )
        if violation is not None:
            self.notify(f"Refused ({violation.rule.name}): {violation.reason}", severity="error")
            return
        preview = preview_change(
            seen.status, seen.limits, seen.identity.concentration_ng_per_ml, new
        )
        warning = f"OVERRIDE: {override.reason.description}" if override else None
        self.clear_notifications()  # no toast over the numbers being confirmed
        if not await self.push_screen_wait(ConfirmChange(preview, seen.unit, warning)):
            self._status_line("change cancelled: nothing sent")
            return
        await self.send_rate(programmer, seen, new, override)

    async def send_rate(
        self, programmer: Programmer, seen: Interrogation, new: int, override: Override | None
    ) -> None:
        """Send, read back, redraw; ``last_command_s`` times key-confirm to verified screen."""
        started = time.perf_counter()
        change = await programmer.set_rate(new, believed=seen, override=override)
        await self.refresh_pump()
        self.last_command_s = time.perf_counter() - started
        unit = seen.unit
        message = (
            f"Dose {format_amount(change.previous_ng_per_day, unit)} -> "
            f"{format_amount(change.new_ng_per_day, unit)} verified"
        )
        self.notify(message)
        self._status_line(message)

    async def _guard_panel(
        self,
        programmer: Programmer,
        seen: Interrogation,
        new: int,
        verdict: Verdict,
        decision: Any,
    ) -> None:
        self.clear_notifications()  # no toast over the evidence
        choice = await self.push_screen_wait(GuardPanel(decision))
        if choice == "reduce":
            lower = stepped_dose(seen.status.dose_ng_per_day, self.step_pct, seen.unit, up=False)
            await self._stage(programmer, seen, lower)
        elif choice == "catheter":
            await self._catheter_check(programmer)
        elif choice == "vas":
            await self._log_vas(programmer, quick=True)
        elif choice == "override" and verdict is Verdict.BLOCK:
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
            if dose is None:
                return
            question = (
                f"Give a bolus of {format_amount(dose, seen.unit, per_day=False)} over "
                f"{BOLUS_DURATION_S // 60} min?"
            )
            if not await self.push_screen_wait(Ask(question)):
                return
            reply = await programmer.client.bolus(dose, BOLUS_DURATION_S)
            self.notify(f"Bolus running until {pump_time(reply.ends_at_s)}")
            await self.refresh_pump()

        self._command(work, "bolus")

    def action_stop_resume(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready
        running = seen.status.state == PumpState.RUNNING

        async def work() -> None:
            question = (
                "STOP delivery? Stopping an opioid abruptly can cause withdrawal."
                if running
                else "Resume delivery at the programmed dose?"
            )
            if not await self.push_screen_wait(Ask(question)):
                return
            if running:
                await programmer.client.stop()
            else:
                await programmer.client.resume()
            await self.refresh_pump()
            self.notify("Pump stopped" if running else "Pump running")

        self._command(work, "stop-resume")

    def action_catheter_check(self) -> None:
        ready = self._pump_ready()
        if ready is not None:
            self._command(lambda: self._catheter_check(ready[0]), "catheter")

    async def _catheter_check(self, programmer: Programmer) -> None:
        result = await programmer.client.catheter_check()
        verdict = result.verdict.name.lower().replace("_", " ")
        message = (
            f"Catheter {verdict}: {result.delivered_pct}% delivered, "
            f"peak {result.peak_pressure_mmhg} mmHg"
        )
        severity = "information" if result.verdict == CatheterVerdict.PATENT else "error"
        self.notify(message, severity=severity, timeout=15)  # type: ignore[arg-type]
        await self.refresh_pump()
        self._status_line(message)

    def action_refill(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            wizard = RefillWizard(
                seen.unit, seen.identity.concentration_ng_per_ml, seen.status.reservoir_ul
            )
            refill = await self.push_screen_wait(wizard)
            if refill is None:
                return
            conc = format_amount(refill.concentration_ng_per_ml, seen.unit, per_day=False)
            question = (
                f"Withdrew {format_volume(refill.residual_withdrawn_ul)}, adding "
                f"{format_volume(refill.volume_added_ul)} of {conc}/mL. Send?"
            )
            if not await self.push_screen_wait(Ask(question)):
                return
            reply = await programmer.client.refill(
                refill.residual_withdrawn_ul,
                refill.volume_added_ul,
                refill.concentration_ng_per_ml,
                bridge_bolus_ng=refill.bridge_bolus_ng,
                waive_bridge_bolus=refill.waive_bridge_bolus,
            )
            if reply.discrepancy_alert:
                self.notify(
                    f"VOLUME DISCREPANCY: withdrew {format_volume(refill.residual_withdrawn_ul)},"
                    f" expected {format_volume(reply.expected_residual_ul)}: "
                    "investigate a possible pocket fill",
                    severity="error",
                    timeout=30,
                )
            else:
                self.notify(f"Refilled: reservoir {format_volume(reply.reservoir_ul)}")
            await self.refresh_pump()

        self._command(work, "refill")

    def action_ack_alarms(self) -> None:
        ready = self._pump_ready()
        if ready is None:
            return
        programmer, seen = ready

        async def work() -> None:
            pending = [a for a in seen.status.alarms if not a.acknowledged]
            if not pending:
                self.notify("No unacknowledged alarms")
                return
            for alarm in pending:
                await programmer.client.ack_alarm(alarm.code)
            self.notify(f"Acknowledged {', '.join(a.code.name for a in pending)}")
            await self.refresh_pump()

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
        report = self.record.verify_audit()
        verdict = (
            f"Audit trail intact: {report.entries} entries (hash chain verified)"
            if report.intact
            else f"AUDIT TRAIL BROKEN: {report.problem}"
        )
        self.push_screen(AuditScreen(self.record.audit_entries(serial), verdict))

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
        if self.sim is not None:
            self.sim.close()
            self.sim = None
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

            paths = await write_visit_report(programmer, seen, self.report_dir)
            self.notify(f"Visit report written: {', '.join(str(p) for p in paths)}", timeout=15)

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
    PumpApp(**options).run()
