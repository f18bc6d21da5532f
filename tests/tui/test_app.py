"""The terminal programmer, driven key by key with Pilot against the built-in simulator.

Each test starts a fresh PumpApp at 80×24 on a fresh training pump (frozen clock, serial
SIM000001) and a fresh clinical record, presses the keys a clinician would, waits for the
workers, and checks both the pump (the simulator's state, read directly) and the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable, Label, Select, Static
from textual.widgets._footer import FooterKey

from pumpctl.clinical.guard import OverrideReason
from pumpctl.link.memory import unregister
from pumpctl.programmer import CatheterCheck
from pumpctl.protocol.messages import AlarmCode, EventCode, EventRecord, PumpState
from pumpctl.tui.app import PumpApp
from pumpctl.tui.screens.dashboard import DashboardScreen
from pumpctl.tui.screens.dialogs import (
    AmountDialog,
    GuardPanel,
    OverrideDialog,
    RefillWizard,
    ReviewDialog,
    VasEntry,
)
from pumpctl.tui.screens.logs import AuditScreen, EventLogScreen
from pumpctl.tui.screens.training import TrainingPanel
from pumpctl.tui.widgets import AlarmBar, DoseChart, KeyFooter, ReservoirPanel, TherapyPanel

from .conftest import (
    SERIAL,
    SIZE,
    burst,
    connected,
    dose,
    idle,
    notes,
    on_screen,
    plain,
    run_async,
    text_of,
    type_text,
    until,
)

DAY_S = 86_400


def dialog_text(screen: Any) -> str:
    return "\n".join(plain(child) for child in screen.query(Static))


async def log_vas(pilot: Pilot[Any], key: str) -> None:
    await pilot.press("v")
    await on_screen(pilot, VasEntry)
    await pilot.press(key)
    await idle(pilot)


async def stage(pilot: Pilot[Any], key: str = "up") -> Any:
    """Press a step key; returns the dialog it opens (a ReviewDialog or a GuardPanel)."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewDialog | GuardPanel))
    await pilot.pause()
    return pilot.app.screen


async def step(pilot: Pilot[Any], key: str = "up") -> None:
    """Stage a step and send it."""
    dialog = await stage(pilot, key)
    assert isinstance(dialog, ReviewDialog), "expected the review dialog"
    await pilot.press("y")
    await idle(pilot)


async def training(pilot: Pilot[Any], key: str) -> None:
    await pilot.press("t")
    await on_screen(pilot, TrainingPanel)
    await pilot.press(key)
    await idle(pilot)


async def answer(pilot: Pilot[Any], key: str = "y") -> None:
    """Answer the review dialog (y sends, n cancels)."""
    await on_screen(pilot, ReviewDialog)
    await pilot.press(key)
    await idle(pilot)


async def the_case_so_far(app: PumpApp) -> None:
    """The case up to the third increase, through the programmer's API (no keys): VAS 4,
    +10 %, a day, VAS 6, +10 %, a day, VAS 8 (each a day after its step: the guard judges
    morphine 24 h after a change), a patent catheter check. The keys are tested once, below."""
    programmer, sim = app.programmer, app.sim
    assert programmer is not None
    assert sim is not None
    await programmer.log_vas(40)
    await programmer.set_rate(1_540_000)
    sim.simulator.advance(DAY_S * 1000)
    await programmer.log_vas(60)
    await programmer.set_rate(1_690_000)
    sim.simulator.advance(DAY_S * 1000)
    await programmer.log_vas(80)
    await programmer.run(CatheterCheck())  # delivery ruled out before the pain pattern
    await app.dashboard.refresh_pump()


async def titrate_into_the_guard(pilot: Pilot[Any]) -> GuardPanel:
    """The case: VAS 4, up, a day later VAS 6, up, a day later VAS 8, a patent catheter
    check, up → blocked."""
    await log_vas(pilot, "4")
    await step(pilot)
    await training(pilot, "d")
    await log_vas(pilot, "6")
    await step(pilot)
    await training(pilot, "d")
    await log_vas(pilot, "8")
    await pilot.press("c")
    await idle(pilot)
    panel = await stage(pilot)
    assert isinstance(panel, GuardPanel)
    return panel


@run_async
async def test_dashboard_at_80x24_with_every_key_in_the_footer(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        therapy = text_of(app, "#therapy")
        assert "morphine 25 mg/mL" in therapy
        assert "Dose  1.4 mg/day" in therapy
        assert "Flow  0.056 mL/day" in therapy
        assert "State running" in therapy
        reservoir = text_of(app, "#reservoir")
        assert "Reservoir 20 mL of 20 mL" in reservoir
        assert "Low-reservoir date 2026-07-13" in reservoir
        assert "Battery 100 %" in reservoir
        assert "Catheter check none on record" in reservoir
        assert "Alarms: none" in text_of(app, "#alarms")
        assert f"{SERIAL} IT-20" in app.sub_title
        assert "TRAINING SIMULATOR" in app.sub_title
        status = text_of(app, "#statusline")
        assert "Step 10%" in status
        assert "link OK" in status
        assert "read 09:00:00" in status
        assert not app.query_one("#link").has_class("lost")
        # everything fits at 80×24, and the footer shows every key with its label
        screen = app.screen.region
        for selector in ("#therapy", "#reservoir", "#chart", "#alarms", "#statusline"):
            region = app.query_one(selector).region
            assert region.height > 0, selector
            assert screen.contains_region(region), selector
        assert app.query_one(ReservoirPanel).region.width >= 38
        assert app.query_one(TherapyPanel).region.width >= 38
        footer = app.query_one(KeyFooter)
        assert screen.contains_region(footer.region)
        keys = {key.action: key for key in footer.query(FooterKey)}
        for binding in DashboardScreen.BINDINGS:
            assert isinstance(binding, Binding)
            if not binding.show:
                continue
            key = keys[binding.action]
            assert screen.contains_region(key.region), binding.action
            shown = len(key.key_display) + 1 + len(binding.description)
            assert key.region.width >= shown, f"{binding.description!r} is cut off"
        assert "command_palette" in keys


@run_async
async def test_every_action_is_in_the_command_palette(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        palette = {action for _, _, action in app.PALETTE}
        for binding in DashboardScreen.BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.action in palette or binding.action == "quit", binding.action
        assert {title for title, _, _ in app.PALETTE} <= set(titles)
        assert "Quit" in titles
        # and a palette command runs its action
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "bolus")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await on_screen(pilot, AmountDialog)
        await pilot.press("escape")
        await idle(pilot)
        assert app.screen is app.screen_stack[0]


@run_async
async def test_vas_entry_logs_to_the_record_and_the_chart(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await log_vas(pilot, "7")
        assert app.record is not None
        assert [r.score_tenths for r in app.record.readings(SERIAL)] == [70]
        chart = str(app.query_one(DoseChart).render())
        assert "●" in chart
        assert "last VAS 7" in chart
        assert "VAS 7 logged at 2026-01-01 00:00" in notes(app)
        await log_vas(pilot, "T")
        assert [r.score_tenths for r in app.record.readings(SERIAL)] == [70, 100]
        await pilot.press("V")  # typed, with a decimal
        await on_screen(pilot, VasEntry)
        await type_text(pilot, "6.5")
        await pilot.press("enter")
        await idle(pilot)
        assert [r.score_tenths for r in app.record.readings(SERIAL)] == [70, 100, 65]
        assert "last VAS 6.5" in str(app.query_one(DoseChart).render())
        await pilot.press("v", "escape")  # changed one's mind: nothing logged
        await idle(pilot)
        assert len(app.record.readings(SERIAL)) == 3


@run_async
async def test_typed_ahead_keys_are_not_lost(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await burst(pilot, "v", "4")  # "v4" at full speed: the 4 reaches the VAS dialog
        await idle(pilot)
        assert app.record is not None
        assert [r.score_tenths for r in app.record.readings(SERIAL)] == [40]
        await pilot.press("r")
        await on_screen(pilot, RefillWizard)
        await burst(pilot, "1", "5", "enter", "1", "8", "enter")  # not read as 1518
        review = await on_screen(pilot, ReviewDialog)
        rows = {row.label: row.after for row in review.review.rows}
        assert rows["Withdrawn"].startswith("15 mL (")
        assert rows["Reservoir"] == "18 mL"
        await answer(pilot, "n")


@run_async
async def test_step_up_is_confirmed_sent_read_back_and_a_refusal_shown_verbatim(
    app: PumpApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        dialog = await stage(pilot, "up")
        assert isinstance(dialog, ReviewDialog)
        assert "Increase the daily dose" in str(dialog.query_one("#dialog-title", Label).content)
        table = dialog_text(dialog)
        assert "1.4 mg/day → 1.54 mg/day" in table
        assert "0.056 mL/day → 0.0616 mL/day" in table
        assert "2026-07-13 → 2026-07-01" in table  # how the low-reservoir date moves
        assert "Respiratory depression" in table
        assert dialog.query_one("#cancel").has_focus, "the focus starts on Cancel"
        assert dose(app) == 1_400_000, "nothing is sent before the confirmation"
        await pilot.press("y")
        await idle(pilot)
        assert dose(app) == 1_540_000
        assert "Dose  1.54 mg/day" in text_of(app, "#therapy")
        verified = "Dose 1.4 mg/day -> 1.54 mg/day, verified by read-back"
        assert verified in text_of(app, "#statusline")
        assert app.dashboard.last_command_s is not None  # timed for the benchmark's row
        assert "▲" in str(app.query_one(DoseChart).render())
        # down 10 % and reassessed, then up again the same day: the guard lets it through,
        # the pump refuses (24 h since its last increase) and says why in its own words
        await step(pilot, "down")
        lowered = dose(app)
        assert lowered < 1_540_000
        await log_vas(pilot, "5")
        await step(pilot)
        assert dose(app) == lowered
        refusal = "pump refused (INCREASE_TOO_SOON): last increase was 0 min ago"
        assert refusal in notes(app)
        assert text_of(app, "#statusline").startswith(refusal)


@run_async
async def test_step_cancelled_sends_nothing(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await stage(pilot, "up")
        await pilot.press("n")
        await idle(pilot)
        assert app.screen is app.screen_stack[0]
        assert "nothing sent" in text_of(app, "#statusline")
        await stage(pilot, "plus")
        await pilot.press("escape")
        await idle(pilot)
        assert dose(app) == 1_400_000
        assert app.client is not None
        events, _ = await app.client.read_all_events(0)
        assert EventCode.RATE_CHANGED not in [e.code for e in events]


@run_async
async def test_step_size_cycles_and_step_down_uses_it(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("f")
        assert app.dashboard.step_pct == 20
        assert "Step 20%" in text_of(app, "#statusline")
        await pilot.press("minus")  # 1.12 mg/day is below the pump's minimum flow
        await until(pilot, lambda: "BELOW_MIN_FLOW" in notes(app), "the refusal")
        assert app.screen is app.screen_stack[0], "a refused step opens no confirm dialog"
        await pilot.press("f")
        assert app.dashboard.step_pct == 5
        await step(pilot, "down")
        assert dose(app) == 1_330_000
        assert "Dose  1.33 mg/day" in text_of(app, "#therapy")


@run_async
async def test_guard_blocks_the_third_increase_then_reduce_sends_a_decrease(
    app: PumpApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        panel = await titrate_into_the_guard(pilot)
        shown = plain(panel.query_one("#guard-text", Static))
        assert "ESCALATION BLOCKED" in shown
        assert "1.4 mg/day -> 1.54 mg/day: VAS 4 (2026-01-01 00:00)" in shown
        assert "1.54 mg/day -> 1.69 mg/day: VAS 6 (2026-01-02 00:00)" in shown
        assert "catheter check: PATENT" in shown
        assert "check (OIH criteria)" in shown
        assert panel.query("#override"), "a block can be overridden, with a reason"
        assert dose(app) == 1_690_000, "the blocked increase was not sent"
        # the escalation key does nothing but show the panel: no confirm dialog under it
        assert not any(isinstance(s, ReviewDialog) for s in app.screen_stack)
        assert app.record is not None
        assert "guard-block" in [e["action"] for e in app.record.audit_entries(SERIAL)]
        await pilot.press("d")  # reduce
        dialog = await on_screen(pilot, ReviewDialog)
        assert "Decrease the daily dose" in str(dialog.query_one("#dialog-title", Label).content)
        await pilot.press("y")
        await idle(pilot)
        assert dose(app) == 1_530_000
        assert "Dose  1.53 mg/day" in text_of(app, "#therapy")


@run_async
async def test_guard_holds_an_increase_until_a_vas_is_logged(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert app.programmer is not None
        assert app.sim is not None
        await app.programmer.log_vas(40)
        await app.programmer.set_rate(1_540_000)
        app.sim.simulator.advance(DAY_S * 1000)
        await app.dashboard.refresh_pump()
        panel = await stage(pilot)  # no VAS since the last increase: hold
        assert isinstance(panel, GuardPanel)
        assert "ESCALATION ON HOLD" in plain(panel.query_one("#guard-text", Static))
        assert not panel.query("#override"), "a hold is not overridden: log a VAS"
        await pilot.press("o")
        assert isinstance(app.screen, GuardPanel)
        await pilot.press("v")
        await on_screen(pilot, VasEntry)
        await pilot.press("5")
        await idle(pilot)
        assert app.record is not None
        assert [r.score_tenths for r in app.record.readings(SERIAL)] == [40, 50]
        assert dose(app) == 1_540_000


@run_async
async def test_guard_override_needs_a_reason_and_a_note_and_is_audited(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await the_case_so_far(app)
        assert isinstance(await stage(pilot), GuardPanel)
        await pilot.press("o")
        dialog = await on_screen(pilot, OverrideDialog)
        select = dialog.query_one("#reason", Select)
        assert select.has_focus
        await pilot.press("tab", "enter")  # submit with nothing filled in
        await pilot.pause()
        assert "Choose a reason" in plain(dialog.query_one("#error", Static))
        await pilot.press("shift+tab", "enter")  # open the list of reasons
        await pilot.pause()
        await pilot.press("down", "enter")  # the first reason
        await pilot.pause()
        assert select.value is OverrideReason.DISEASE_PROGRESSION
        await pilot.press("tab", "enter")  # still no note
        await pilot.pause()
        assert "note" in plain(dialog.query_one("#error", Static))
        assert isinstance(app.screen, OverrideDialog)
        await type_text(pilot, "MRI")
        await pilot.press("enter")
        confirm = await on_screen(pilot, ReviewDialog)
        assert "OVERRIDE: disease progression confirmed" in dialog_text(confirm)
        await pilot.press("y")
        await idle(pilot)
        assert dose(app) == 1_850_000
        assert app.record is not None
        entries = app.record.audit_entries(SERIAL)
        blocks = [e["data"] for e in entries if e["action"] == "guard-block"]
        assert [b["overridden"] for b in blocks] == [False, True]
        requested = [e["data"] for e in entries if e["action"] == "change-requested"]
        assert requested[-1]["override_reason"] == "disease-progression"
        assert requested[-1]["override_note"] == "MRI"


@run_async
async def test_bolus_then_stop_and_resume_each_reviewed_first(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("b")
        await on_screen(pilot, AmountDialog)
        await type_text(pilot, "0.1")
        await pilot.press("enter")
        review = await on_screen(pilot, ReviewDialog)
        assert review.review.title == "Give a bolus"
        assert "0.1 mg over 10 min" in dialog_text(review)
        await answer(pilot, "y")
        assert app.seen is not None
        assert app.seen.status.bolus_active
        assert "bolus running" in text_of(app, "#therapy")
        assert "Bolus 0.1 mg over 10 min started, confirmed by read-back" in notes(app)
        await pilot.press("s")
        await answer(pilot, "n")
        assert app.seen.status.state == PumpState.RUNNING
        await pilot.press("s")
        review = await on_screen(pilot, ReviewDialog)
        assert "Stop delivery of morphine" in review.review.title
        assert "withdrawal" in dialog_text(review)
        await pilot.click("#confirm-withdrawal-risk")
        await answer(pilot, "y")
        assert app.seen.status.state != PumpState.RUNNING
        assert "stopped" in text_of(app, "#therapy")
        await pilot.press("s")
        review = await on_screen(pilot, ReviewDialog)
        assert "Resume delivery at 1.4 mg/day" in review.review.title
        await answer(pilot, "y")
        assert app.seen.status.state == PumpState.RUNNING
        assert "State running" in text_of(app, "#therapy")


@run_async
async def test_catheter_check_finds_an_injected_occlusion_and_alarms_are_acked(
    app: PumpApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("a")
        await idle(pilot)
        assert "No unacknowledged alarms" in notes(app)
        await training(pilot, "o")  # occlusion
        assert "occlusion" in plain(app.query_one(AlarmBar))
        await pilot.press("c")
        await idle(pilot)
        assert "Catheter occluded" in notes(app)
        assert "Catheter occluded" in text_of(app, "#statusline")
        assert "Catheter check occluded" in text_of(app, "#reservoir")
        await pilot.press("a")
        await idle(pilot)
        assert "Acknowledged OCCLUSION" in notes(app)
        assert app.seen is not None
        alarm = next(a for a in app.seen.status.alarms if a.code == AlarmCode.OCCLUSION)
        assert alarm.acknowledged
        assert "occlusion (ack)" in plain(app.query_one(AlarmBar))


@run_async
async def test_refill_with_a_discrepancy_needs_a_reason(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("r")
        wizard = await on_screen(pilot, RefillWizard)
        assert "expects 20 mL residual" in plain(wizard.query_one(Label))
        await type_text(pilot, "15")  # 5 mL less than the pump expects
        await pilot.press("enter")  # on to the next field still empty
        await type_text(pilot, "18")
        await pilot.press("enter")
        review = await on_screen(pilot, ReviewDialog)
        assert "Withdrew 5 mL LESS than the pump expects" in dialog_text(review)
        await pilot.press("y")  # no reason yet: nothing sent
        await pilot.pause()
        assert isinstance(app.screen, ReviewDialog)
        assert "Not sent: needs a discrepancy reason" in plain(review.query_one("#error", Static))
        review.query_one("#reason").focus()
        await type_text(pilot, "needle re-sited")
        await pilot.press("tab", "y")
        await idle(pilot)
        assert "volume discrepancy" in plain(app.query_one(AlarmBar))
        assert "Reservoir 18 mL" in text_of(app, "#reservoir")
        assert "Refilled: 18 mL at 25 mg/mL, confirmed" in notes(app)


@run_async
async def test_event_log_and_audit_screens(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await log_vas(pilot, "3")
        await step(pilot)
        await pilot.press("e")
        events = await on_screen(pilot, EventLogScreen)
        await idle(pilot)
        table = events.query_one(DataTable)
        assert table.row_count == len(events.events) > 0
        names = [str(table.get_row_at(i)[2]) for i in range(table.row_count)]
        assert "RATE_CHANGED" in names
        assert f"{len(events.events)} events read" in text_of(app, "#statusline")
        await pilot.press("s")  # dashboard keys do nothing over the log
        await pilot.pause()
        assert app.screen is events
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        await pilot.press("u")
        audit = await on_screen(pilot, AuditScreen)
        assert "Audit trail intact" in plain(audit.query_one(".title", Static))
        table = audit.query_one(DataTable)
        actions = [str(table.get_row_at(i)[3]) for i in range(table.row_count)]
        assert {"vas-logged", "change-requested", "change-applied"} <= set(actions)
        await pilot.press("q")  # back, not quit
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert app.is_running


@run_async
async def test_training_panel_moves_time_injects_faults_and_resets(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert app.seen is not None
        start = app.seen.status.pump_time_s
        await step(pilot)
        await training(pilot, "d")
        assert app.seen.status.pump_time_s == start + DAY_S
        await training(pilot, "h")
        assert app.seen.status.pump_time_s == start + DAY_S + 3600
        assert "pump 2026-01-02 01:00" in text_of(app, "#statusline")
        await pilot.press("t")
        await on_screen(pilot, TrainingPanel)
        await pilot.press("escape")
        await idle(pilot)
        assert app.seen.status.pump_time_s == start + DAY_S + 3600
        await training(pilot, "m")  # motor stall stops delivery
        assert "motor stall" in plain(app.query_one(AlarmBar))
        assert "stopped" in text_of(app, "#therapy")
        await training(pilot, "c")
        assert "motor stall" not in plain(app.query_one(AlarmBar))
        first_sim = app.sim
        assert dose(app) == 1_540_000
        await training(pilot, "R")
        assert app.sim is not None
        assert app.sim is not first_sim
        assert dose(app) == 1_400_000
        assert app.seen.status.pump_time_s == start
        assert "Dose  1.4 mg/day" in text_of(app, "#therapy")
        assert "reset" in notes(app)


@run_async
async def test_visit_report_writes_markdown_and_html(app: PumpApp, tmp_path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await log_vas(pilot, "4")
        await step(pilot)
        await pilot.press("p")
        await idle(pilot)
        written = sorted((tmp_path / "reports").iterdir())
        assert [p.suffix for p in written] == [".html", ".md"]
        assert all(p.name.startswith(f"visit-{SERIAL}-") for p in written)
        assert "1.54 mg/day" in written[1].read_text()
        assert "<svg" in written[0].read_text()
        assert f"{written[1].name} and {written[0].name} in {tmp_path / 'reports'}" in notes(app)


@run_async
async def test_interrogate_a_lost_link_shown_as_stale_and_reconnect(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert app.sim is not None
        assert app.client is not None
        app.sim.simulator.advance(3_600_000)  # the pump moves on without the programmer
        await pilot.press("i")
        await idle(pilot)
        assert "pump 2026-01-01 01:00" in text_of(app, "#statusline")
        # the programmer's end of the line goes away (a USB head unplugged)
        await app.client.close()
        await pilot.press("i")
        await until(pilot, lambda: app.query_one("#link").has_class("lost"), "LINK LOST")
        await idle(pilot)
        link = text_of(app, "#link")
        assert link.startswith(" LINK LOST: values shown are stale (last read 09:00:00)")
        assert app.query_one("#link").region.width == SIZE[0]
        assert "link DOWN" in text_of(app, "#statusline")
        assert "Dose  1.4 mg/day" in text_of(app, "#therapy")  # still shown, as stale
        await pilot.press("up")  # nothing is staged on stale values
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert "No pump connected" in notes(app)
        # plugged back: "i" opens the port afresh
        await pilot.press("i")
        await idle(pilot)
        assert app.link_ok
        assert not app.query_one("#link").has_class("lost")
        assert "link OK" in text_of(app, "#statusline")
        # the pump's end goes away: the next read says so
        unregister(app.sim.line)  # the app hangs it up again on exit: twice is harmless
        await pilot.press("i")
        await until(pilot, lambda: app.query_one("#link").has_class("lost"), "LINK LOST")
        await idle(pilot)
        assert "stale" in text_of(app, "#link")
        await pilot.press("i")  # no pump to reconnect to: still lost, still stale
        await idle(pilot)
        assert app.query_one("#link").has_class("lost")
        assert not app.link_ok


@run_async
async def test_a_catheter_verdict_this_programmer_does_not_know_is_shown_not_fatal(
    app: PumpApp,
) -> None:
    """A newer (or a hostile) pump logs a verdict number this programmer has no name for:
    the dashboard shows the number and keeps running."""
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert app.record is not None
        assert app.seen is not None
        status = app.seen.status
        app.record.mirror_events(
            SERIAL,
            [
                EventRecord(
                    index=9_999,
                    time_s=status.pump_time_s,
                    code=EventCode.CATHETER_CHECKED,
                    request_id=1,
                    value_a=99,
                    value_b=0,
                    detail="catheter ?",
                )
            ],
        )
        await app.dashboard.refresh_pump()
        await idle(pilot)
        assert "Catheter check 99 (" in text_of(app, "#reservoir")
        assert app.is_running
