"""Demand boluses at 80×24: ``m`` shows the settings and the patient's activation log, typing
the four fields goes through the one review, ``y`` sends, the pump holds them; a press
refused in the lockout appears in the log the next time."""

from __future__ import annotations

from pathlib import Path

from pumpctl.protocol.messages import DemandBolusRequest
from pumpctl.tui.screens.demand import DemandDialog
from pumpctl.tui.screens.dialogs import ReviewDialog

from .conftest import SIZE, burst, connected, idle, make_app, on_screen, run_async
from .test_therapy_commands import dialog_text


@run_async
async def test_demand_boluses_from_their_key(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await pilot.press("m")
        dialog = await on_screen(pilot, DemandDialog)
        assert "Demand bolus: off" in dialog_text(dialog)
        assert "no activations logged" in dialog_text(dialog)
        # The four fields typed in one burst, as a fast typist or tmux sends them.
        await burst(pilot, "0", ".", "1", "tab", "1", "5", "tab", "2", "4", "0", "tab", "3")
        await burst(pilot, "enter")
        review = await on_screen(pilot, ReviewDialog)
        assert "Program demand boluses" in dialog_text(review)
        await pilot.press("y")
        await idle(pilot)
        assert app.sim is not None
        pump = app.sim.simulator.pump
        assert pump.state.demand == [100_000, 900, 14_400, 3]
        for request_id in (1, 2):  # the patient's press, then one in the lockout
            pump.handle(DemandBolusRequest(request_id=request_id), patient=True)
        await pilot.press("m")
        dialog = await on_screen(pilot, DemandDialog)
        text = dialog_text(dialog)
        assert "Given in the last 24 h: 1 of 3" in text
        assert "1 given (0.1 mg); 1 refused: lockout" in text
        assert dialog.region.bottom <= SIZE[1]
