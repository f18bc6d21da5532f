"""The dashboard names the patient the pump's implant record identifies, in the header, and
shows the battery's elective replacement date beside its level."""

from __future__ import annotations

from pathlib import Path

from firmware_sim.simulator import InitialProgram, Simulator
from pumpctl.display import local_date
from pumpctl.protocol.messages import StatusRequest, StatusResponse, WriteImplantRequest
from tests.tui.conftest import SERIAL, SIZE, connected, make_app, run_async, text_of


def implanted_pump(directory: Path) -> StatusResponse:
    """The training pump's memory, with an implant record written: its status."""
    program = InitialProgram(serial_number=SERIAL, frozen_clock=True)
    sim = Simulator(directory / "training-pump.db", program)
    try:
        sim.pump.handle(
            WriteImplantRequest(
                request_id=1,
                patient_id="P-0042",
                implanted_day=20_423,
                catheter_tip="T10",
                catheter_length_mm=500,
                catheter_volume_nl=55_000,
                pump_volume_nl=0,
            )
        )
        status = sim.pump.handle(StatusRequest())
        assert isinstance(status, StatusResponse)
        sim.store.commit(sim.pump.state)
        return status
    finally:
        sim.close()


@run_async
async def test_the_header_names_the_patient(tmp_path: Path) -> None:
    status = implanted_pump(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert app.sub_title.startswith(f"TRAINING SIMULATOR · patient P-0042 · {SERIAL} IT-20")
        eri = local_date(status.battery_eri_projected_s)[:7]
        assert f"Battery 100 %, ERI {eri}" in text_of(app, "#reservoir")
