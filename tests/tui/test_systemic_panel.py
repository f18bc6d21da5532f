"""The dashboard shows the patient's systemic opioid load beside the IT dose, never added to
it, and on the dose's own line at 80×24."""

from __future__ import annotations

from pathlib import Path

from pumpctl.clinical.record import ClinicalRecord
from pumpctl.tui.widgets import TherapyPanel

from .conftest import SERIAL, SIZE, connected, make_app, run_async


@run_async
async def test_the_systemic_load_sits_beside_the_it_dose(tmp_path: Path) -> None:
    record = ClinicalRecord.open(tmp_path / "clinic.db")
    try:
        record.set_systemic_opioid(SERIAL, 0, "oxycodone", "400mg/day", clinician="dr")
        record.set_systemic_opioid(SERIAL, 0, "fentanyl-patch", "100mcg/h", clinician="dr")
        record.set_systemic_opioid(SERIAL, 0, "buprenorphine", "8mg/day", clinician="dr")
    finally:
        record.close()
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        panel = app.query_one(TherapyPanel)
        lines = str(panel.content).splitlines()
        dose_line = next(line for line in lines if line.startswith("Dose"))
        # 1.4 mg/day IT and 600 + 240 MME/day systemic; "+": buprenorphine, no CDC factor
        assert "1.4 mg/day" in dose_line
        assert dose_line.endswith("840 MME/d+")
        assert len(dose_line) <= panel.content_size.width  # one line, not wrapped
        assert any(line.startswith("Pain") for line in lines)  # nothing pushed out
