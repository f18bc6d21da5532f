"""Every therapy command takes the programmer's one path from the terminal programmer:
plan → the review dialog (focus on Cancel, the confirmations it needs) → execute.

Each test drives a fresh PumpApp at 80×24 on a fresh training pump (frozen clock) with
Pilot, and checks the pump (the simulator's state), the screen and the audit trail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Static

from firmware_sim.simulator import InitialProgram
from pumpctl.connection import ConnectOptions
from pumpctl.link.errors import NoResponse, OutcomeUncertain
from pumpctl.programmer import Confirmation
from pumpctl.protocol.messages import AlarmCode, Command, EventCode, PumpState
from pumpctl.tui.app import PumpApp
from pumpctl.tui.screens.dialogs import AmountDialog, Ask, RefillWizard, ReviewDialog
from pumpctl.tui.screens.logs import AuditScreen
from pumpctl.tui.screens.training import TrainingPanel

from .conftest import (
    SERIAL,
    SIZE,
    WALL_CLOCK,
    connected,
    dose,
    idle,
    make_app,
    notes,
    on_screen,
    plain,
    run_async,
    text_of,
    type_text,
    until,
)

DAY_S = 86_400


def state(app: PumpApp) -> PumpState:
    assert app.sim is not None
    return PumpState.RUNNING if app.sim.simulator.pump.state.running else PumpState.STOPPED


async def pump_events(app: PumpApp) -> list[EventCode]:
    assert app.client is not None
    events, _ = await app.client.read_all_events(0)
    return [EventCode(e.code) for e in events]


def audit(app: PumpApp, action: str, kind: str) -> list[dict[str, Any]]:
    assert app.record is not None
    return [
        e
        for e in app.record.audit_entries(SERIAL)
        if e["action"] == action and e["data"].get("kind") == kind
    ]


def dialog_text(screen: Any) -> str:
    """What a dialog shows, its long warnings unwrapped."""
    return "\n".join(plain(child, width=400) for child in screen.query(Static))


async def review(pilot: Pilot[Any], key: str) -> ReviewDialog:
    await pilot.press(key)
    dialog = await on_screen(pilot, ReviewDialog)
    assert isinstance(dialog, ReviewDialog)
    return dialog


async def typed_dose(pilot: Pilot[Any], text: str) -> None:
    await pilot.press("d")
    await on_screen(pilot, AmountDialog)
    await type_text(pilot, text)
    await pilot.press("enter")


@run_async
async def test_enter_on_a_fresh_stop_dialog_sends_nothing(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        dialog = await review(pilot, "s")
        assert dialog.query_one("#cancel", Button).has_focus
        await pilot.press("enter")
        await idle(pilot)
        assert app.screen is app.screen_stack[0]
        assert state(app) == PumpState.RUNNING
        assert EventCode.STOPPED not in await pump_events(app)
        assert "stop cancelled: nothing sent" in text_of(app, "#statusline")
        assert not audit(app, "command-requested", "stop")


@run_async
async def test_y_stops_the_pump_and_quitting_then_asks_first(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        dialog = await review(pilot, "s")
        assert dialog.review.title == "Stop delivery of morphine"
        shown = dialog_text(dialog)
        assert "running → STOPPED" in shown
        assert "Stopping an intrathecal opioid abruptly causes withdrawal" in shown
        await pilot.press("y")  # not sent: the withdrawal risk is not confirmed yet
        await pilot.pause()
        assert state(app) == PumpState.RUNNING
        assert "withdrawal-risk box" in dialog_text(dialog)
        await pilot.click("#confirm-withdrawal-risk")
        await pilot.press("y")
        await idle(pilot)
        assert state(app) == PumpState.STOPPED
        assert app.seen is not None
        assert not app.seen.running, "the read-back shows the pump stopped"
        assert "stopped" in text_of(app, "#therapy")
        assert "pump stopped" in plain(app.query_one("#alarms", Static))
        assert "Pump stopped, confirmed by read-back" in notes(app)
        # quitting with the pump stopped asks, the focus on Cancel
        for key in ("q", "ctrl+q"):
            await pilot.press(key)
            ask = await on_screen(pilot, Ask)
            assert ask.question.startswith(
                "The pump is STOPPED: morphine is not being delivered. Quit anyway?"
            )
            assert ask.query_one("#no", Button).has_focus
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is app.screen_stack[0]
            assert app.is_running
        await pilot.press("q")
        await on_screen(pilot, Ask)
        await pilot.press("y")
        await pilot.pause()
        assert not app.is_running


@run_async
async def test_quit_with_the_pump_running_does_not_ask(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


@run_async
async def test_quit_with_the_link_down_asks_as_the_pump_state_is_unknown(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        app.dashboard.link_lost("no answer from the pump")
        await pilot.press("q")
        ask = await on_screen(pilot, Ask)
        assert "whether the pump is delivering is not known" in dialog_text(ask)
        await pilot.press("enter")  # the focus is on Cancel
        await pilot.pause()
        assert app.is_running


@run_async
async def test_resume_shows_the_dose_how_long_it_was_off_and_the_retitration_warning(
    app: PumpApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await review(pilot, "s")
        await pilot.click("#confirm-withdrawal-risk")
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("t")
        await on_screen(pilot, TrainingPanel)
        await pilot.press("w")  # a week and more without the drug
        await idle(pilot)
        await pilot.press("t")
        await on_screen(pilot, TrainingPanel)
        await pilot.press("d")
        await idle(pilot)
        dialog = await review(pilot, "s")
        assert dialog.review.title == "Resume delivery at 1.4 mg/day"
        shown = dialog_text(dialog)
        assert "none → 1.4 mg/day" in shown
        assert "8 d" in shown
        assert "re-titration interval of 7 d:" in shown
        assert dialog.query_one("#cancel", Button).has_focus
        await pilot.click("#confirm-full-dose-restart")
        await pilot.press("y")
        await idle(pilot)
        assert state(app) == PumpState.RUNNING
        assert "Pump running at 1.4 mg/day, confirmed by read-back" in notes(app)


@run_async
async def test_set_rate_to_the_same_dose_sends_nothing_and_says_so(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await typed_dose(pilot, "1.4")
        await idle(pilot)
        assert app.screen is app.screen_stack[0], "no review for nothing to send"
        message = "the pump already delivers 1.4 mg/day: nothing sent"
        assert message in notes(app)
        assert message in text_of(app, "#statusline")
        assert EventCode.RATE_CHANGED not in await pump_events(app)
        noted = audit(app, "nothing-sent", "set-rate")
        assert noted
        assert noted[-1]["actor"] == "dr-test"


@run_async
async def test_a_large_decrease_needs_the_confirmation_before_y_sends(tmp_path: Path) -> None:
    program = InitialProgram(serial_number=SERIAL, frozen_clock=True, dose_ng_per_day=5_000_000)
    app = make_app(tmp_path, program)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await typed_dose(pilot, "2")  # ×0.4: a slipped decimal point?
        dialog = await on_screen(pilot, ReviewDialog)
        assert dialog.review.title == "Decrease the daily dose"
        assert Confirmation.LARGE_CHANGE in dialog.review.required
        assert "5 mg/day → 2 mg/day" in dialog_text(dialog)
        assert "cuts the dose below half" in dialog_text(dialog)
        assert dialog.query_one("#cancel", Button).has_focus
        send = dialog.query_one("#send", Button)
        assert send.disabled
        await pilot.press("y")
        await pilot.pause()
        assert app.screen is dialog, "y without the confirmation sends nothing"
        assert "Not sent: needs the large-change box ticked" in plain(
            dialog.query_one("#error", Static)
        )
        assert dose(app) == 5_000_000
        await pilot.click("#confirm-large-change")
        await pilot.pause()
        assert dialog.query_one("#confirm-large-change", Checkbox).value
        assert not send.disabled
        await pilot.press("y")
        await idle(pilot)
        assert dose(app) == 2_000_000
        assert "Dose 5 mg/day -> 2 mg/day, verified by read-back" in notes(app)
        assert app.record is not None
        reviewed = [
            e["data"]["review"]
            for e in app.record.audit_entries(SERIAL)
            if e["action"] in ("change-reviewed", "change-requested") and "review" in e["data"]
        ]
        assert reviewed[-1]["confirmations"]["large_change"] is True


@run_async
async def test_a_whole_refill_with_a_new_concentration_and_a_discrepancy(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("r")
        wizard = await on_screen(pilot, RefillWizard)
        # the expected residual shows before anything is typed
        assert "the pump expects 20 mL residual" in dialog_text(wizard)
        assert "tolerance 1 mL" in dialog_text(wizard)
        await type_text(pilot, "10")  # 10 mL short of what the pump expects
        await pilot.press("enter")
        await type_text(pilot, "18")
        await pilot.press("tab")
        await type_text(pilot, "10")  # morphine 25 -> 10 mg/mL
        await pilot.press("tab")
        await type_text(pilot, "0.5")  # a bridge bolus within the library's 1 mg
        await pilot.press("enter")
        dialog = await on_screen(pilot, ReviewDialog)
        assert dialog.review.title == "Refill morphine"
        shown = dialog_text(dialog)
        assert "Withdrew 10 mL LESS than the pump expects" in shown
        assert "possible pocket fill" in shown
        assert "25 mg/mL → 10 mg/mL" in shown
        assert "0.056 mL/day → 0.14 mL/day" in shown
        assert "20 mL   20 mL" in shown
        assert "10 mL (-10 mL)" in shown
        assert dialog.review.required == {
            Confirmation.DISCREPANCY_REASON,
            Confirmation.LARGE_CHANGE,
        }
        assert dialog.query_one("#cancel", Button).has_focus
        await pilot.press("y")  # refused: no reason, no confirmation
        await pilot.pause()
        assert app.screen is dialog
        assert "Not sent: needs a discrepancy reason" in plain(dialog.query_one("#error", Static))
        await pilot.click("#confirm-large-change")
        await pilot.press("y")  # still no reason
        await pilot.pause()
        assert app.screen is dialog
        assert dialog.query_one("#send", Button).disabled
        dialog.query_one("#reason", Input).focus()
        await type_text(pilot, "yes: needle re-sited, aspirated clear")
        await pilot.press("enter")  # Enter in the reason never sends
        await pilot.pause()
        assert app.screen is dialog
        assert dialog.query_one("#cancel", Button).has_focus
        assert app.seen is not None
        assert app.seen.identity.concentration_ng_per_ml == 25_000_000, "nothing sent yet"
        await pilot.press("y")
        await idle(pilot)
        assert app.screen is app.screen_stack[0]
        assert app.seen.identity.concentration_ng_per_ml == 10_000_000
        assert app.seen.status.reservoir_ul == 18_000
        assert "morphine 10 mg/mL" in text_of(app, "#therapy")
        assert "Refilled: 18 mL at 10 mg/mL, confirmed" in notes(app)
        assert EventCode.REFILLED in await pump_events(app)
        requested = audit(app, "command-requested", "refill")
        confirmed = audit(app, "command-confirmed", "refill")
        assert len(requested) == len(confirmed) == 1
        assert requested[0]["actor"] == confirmed[0]["actor"] == "dr-test"
        given = requested[0]["data"]["review"]["confirmations"]
        assert given == {
            "large_change": True,
            "discrepancy_reason": "yes: needle re-sited, aspirated clear",
            "withdrawal_risk": False,
            "full_dose_restart": False,
        }


@run_async
async def test_a_refused_refill_goes_back_to_the_wizard_with_its_values(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("r")
        await on_screen(pilot, RefillWizard)
        await type_text(pilot, "20")
        await pilot.press("enter")
        await type_text(pilot, "18")
        await pilot.press("tab")
        first = app.screen
        await type_text(pilot, "20")  # a new concentration, no bridge bolus, no waiver
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RefillWizard) and app.screen is not first)
        wizard = app.screen
        assert isinstance(wizard, RefillWizard)
        assert "BRIDGE_BOLUS_REQUIRED" in plain(wizard.query_one("#error", Static))
        assert wizard.query_one("#withdrawn", Input).value == "20"
        assert wizard.query_one("#conc", Input).value == "20"
        await pilot.press("escape")
        await idle(pilot)
        assert EventCode.REFILLED not in await pump_events(app)


@run_async
async def test_a_refill_leaving_the_pump_stopped_offers_resume(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await review(pilot, "s")
        await pilot.click("#confirm-withdrawal-risk")
        await pilot.press("y")
        await idle(pilot)
        assert state(app) == PumpState.STOPPED
        await pilot.press("r")
        await on_screen(pilot, RefillWizard)
        await type_text(pilot, "20")
        await pilot.press("enter")
        await type_text(pilot, "20")
        await pilot.press("enter")
        dialog = await on_screen(pilot, ReviewDialog)
        assert "stays stopped after the refill" in dialog_text(dialog)
        await pilot.press("y")
        resume = await on_screen(pilot, ReviewDialog)
        assert resume is not dialog
        assert resume.review.title == "Resume delivery at 1.4 mg/day"
        assert "The pump is STOPPED after the refill" in dialog_text(resume)
        assert resume.query_one("#cancel", Button).has_focus
        assert state(app) == PumpState.STOPPED
        await pilot.press("y")
        await idle(pilot)
        assert state(app) == PumpState.RUNNING
        assert audit(app, "command-confirmed", "refill")
        assert audit(app, "command-confirmed", "resume")


@run_async
async def test_bolus_stop_ack_resume_and_catheter_check_are_in_the_audit_trail(
    app: PumpApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("b")
        await on_screen(pilot, AmountDialog)
        await type_text(pilot, "0.1")
        await pilot.press("enter")
        await on_screen(pilot, ReviewDialog)
        await pilot.press("y")
        await idle(pilot)
        await review(pilot, "s")
        await pilot.click("#confirm-withdrawal-risk")
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("a")  # the PUMP_STOPPED alarm: no review, it changes no therapy
        await idle(pilot)
        assert "Acknowledged PUMP_STOPPED" in notes(app)
        assert "Acknowledging does not resume delivery" in notes(app)
        assert app.seen is not None
        assert app.seen.alarm_active(AlarmCode.PUMP_STOPPED)
        await review(pilot, "s")
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("c")
        await idle(pilot)
        assert "Catheter patent: 100% delivered" in notes(app)
        assert "Catheter check patent" in text_of(app, "#reservoir")
        for kind in ("bolus", "stop", "ack-alarm", "resume", "catheter-check"):
            requested = audit(app, "command-requested", kind)
            confirmed = audit(app, "command-confirmed", kind)
            assert len(requested) == len(confirmed) == 1, kind
            assert requested[0]["actor"] == "dr-test", kind
        assert app.record is not None
        assert app.record.verify_audit().intact


@run_async
async def test_an_uncertain_outcome_is_shown_asks_before_quitting_and_settles(
    app: PumpApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        client = app.client
        assert client is not None
        send_once = client.send_once

        async def answer_lost(request: Command) -> Any:
            await send_once(request)  # the pump gets it and stops; its answer is lost
            raise OutcomeUncertain("no answer from the pump", request.request_id)

        async def no_outcome(request_id: int, *, close: bool = False) -> Any:
            raise NoResponse("no answer to QUERY_OUTCOME")

        monkeypatch.setattr(client, "send_once", answer_lost)
        monkeypatch.setattr(client, "resolve", no_outcome)
        await review(pilot, "s")
        await pilot.click("#confirm-withdrawal-risk")
        await pilot.press("y")
        await idle(pilot)
        assert app.uncertain is not None
        assert "OUTCOME UNKNOWN: no answer from the pump" in notes(app)
        assert text_of(app, "#statusline").startswith("OUTCOME UNKNOWN")
        assert audit(app, "command-uncertain", "stop")
        await pilot.press("q")
        ask = await on_screen(pilot, Ask)
        assert "OUTCOME UNKNOWN" in ask.question
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running
        # reading the pump settles it from the pump's event log
        monkeypatch.undo()
        await pilot.press("i")
        await idle(pilot)
        assert app.uncertain is None
        assert "Settled from the pump's event log" in notes(app)
        assert audit(app, "command-confirmed", "stop")
        assert "OUTCOME UNKNOWN" not in text_of(app, "#statusline")
        assert "stopped" in text_of(app, "#therapy")


@run_async
async def test_the_audit_trail_shows_amounts_in_the_drugs_unit(app: PumpApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await review(pilot, "up")
        await pilot.press("y")
        await idle(pilot)
        await pilot.press("u")
        screen = await on_screen(pilot, AuditScreen)
        table = screen.query_one(DataTable)
        details = "\n".join(str(table.get_row_at(i)[4]) for i in range(table.row_count))
        assert "new=1.54 mg/day" in details
        assert "old=1.4 mg/day" in details
        assert "1540000" not in details
        assert "1400000" not in details


@run_async
async def test_connect_options_decide_where_the_link_goes(tmp_path: Path) -> None:
    options = ConnectOptions(
        sim=True,
        training_state=tmp_path / "training-pump.db",
        frozen_clock=True,
        training_program=InitialProgram(serial_number=SERIAL, frozen_clock=True),
    )
    app = PumpApp(
        connect=options,
        record_path=tmp_path / "clinic.db",
        clinician="dr-test",
        poll_s=3600,
        wall_clock=lambda: WALL_CLOCK,
    )
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert app.connect_options is options
        assert app.sim is not None
        assert "TRAINING SIMULATOR" in app.sub_title
        assert "Dose  1.4 mg/day" in text_of(app, "#therapy")


@run_async
async def test_no_port_and_no_simulator_says_so(tmp_path: Path) -> None:
    app = PumpApp(
        connect=ConnectOptions(sim=False),
        record_path=tmp_path / "clinic.db",
        poll_s=3600,
        wall_clock=lambda: WALL_CLOCK,
    )
    async with app.run_test(size=SIZE) as pilot:
        await idle(pilot)
        assert app.query_one("#link").has_class("lost")
        assert "no pump port" in text_of(app, "#link")


@run_async
async def test_dashboard_keys_do_nothing_behind_a_review(tmp_path: Path) -> None:
    """A letter typed while the review's focus is on a button (not in a text field) never
    reaches the dashboard: no audit view, event log, bolus or refill opens over the review."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        dialog = await review(pilot, "s")
        for key in "uebrcapi":
            await pilot.press(key)
        await pilot.pause()
        assert app.screen is dialog
        assert [type(s).__name__ for s in app.screen_stack] == ["DashboardScreen", "ReviewDialog"]
        await pilot.press("n")
        await idle(pilot)
        assert state(app) is PumpState.RUNNING
