"""Patient demand boluses through the serial port: the clinician sets the dose, duration,
lockout and count per day; the patient's activation carries no dose; every activation is in
the pump's activation log, refusals included.

The plugin's pump is morphine 25 mg/mL at 1.4 mg/day (bolus maximum 0.2 mg, lockout at least
4 h, at most 4 a day, maximum daily dose 20 mg), frozen clock from 2026-01-01 00:00 UTC.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.model.demand import problems
from firmware_sim.model.library import default_library
from firmware_sim.simulator import InitialProgram, Simulator, first_boot
from pumpctl.client import PumpClient, SyncPumpClient
from pumpctl.clinical.guard import GuardDecision, Rule
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.keystore import Keystore
from pumpctl.link.errors import OutcomeUncertain
from pumpctl.programmer import Context, Programmer, ProgrammerRefusal, SetDemandBolus
from pumpctl.programmer.demand import activate
from pumpctl.protocol.messages import (
    AlarmCode,
    BolusRequest,
    DemandBolusRequest,
    DemandOutcome,
    EventCode,
    NakCode,
    SetDemandBolusRequest,
    SetDemandBolusResponse,
)
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest
from tests.hil.conftest import MakePump
from tests.hil.expect import HOUR_MS, MG, MINUTE_MS, START_S, events, refused

DOSE_NG = MG // 10  # 0.1 mg
_request_ids = iter(range(0x0DE3_A000, 0x0DE3_AFFF))


def set_demand(
    client: SyncPumpClient,
    dose_ng: int = DOSE_NG,
    *,
    duration_s: int = 600,
    lockout_s: int = 4 * 3600,
    per_day: int = 3,
) -> SetDemandBolusResponse:
    now = client.read_demand_bolus()
    request = SetDemandBolusRequest(
        request_id=next(_request_ids),
        dose_ng=dose_ng,
        duration_s=duration_s,
        lockout_s=lockout_s,
        per_day=per_day,
        believed_dose_ng=now.dose_ng,
        believed_per_day=now.per_day,
    )
    reply = client.send_once(request)
    assert isinstance(reply, SetDemandBolusResponse)
    return reply


@pytest.fixture
def patient(pump: PumpUnderTest) -> Iterator[SyncPumpClient]:
    if pump.sim is None:
        pytest.skip("pairs a patient key through the simulator's debug port")
    path = pump.sim.workdir / "patient-keys.json"
    pump.sim.control.pair(str(path), "patient")
    client = SyncPumpClient(pump.port, keys=Keystore(path), role=Role.PATIENT)
    yield client
    client.close()


def outcomes(client: SyncPumpClient) -> list[tuple[DemandOutcome, int]]:
    return [(e.outcome, e.count) for e in client.read_demand_log()]


def test_the_dose_and_duration_are_the_clinicians(
    pump: PumpUnderTest, patient: SyncPumpClient
) -> None:
    refused(patient.demand_bolus, NakCode.DEMAND_NOT_PROGRAMMED)  # off by default
    set_demand(pump.client, duration_s=900)
    given = patient.demand_bolus()
    assert (given.dose_ng, given.duration_s) == (DOSE_NG, 900)
    assert given.ends_at_s == START_S + 900
    assert pump.client.status().bolus_active
    # The activation carries nothing the patient could choose: its payload is the request id.
    assert set(DemandBolusRequest.model_fields) == {"request_id"}
    started = events(pump.client, EventCode.BOLUS_STARTED)[-1]
    assert (started.value_a, started.value_b) == (DOSE_NG, 900)
    assert "demand bolus 0.1 mg over 15 min" in started.detail
    assert outcomes(pump.client) == [
        (DemandOutcome.REFUSED_NOT_PROGRAMMED, 1),
        (DemandOutcome.GIVEN, 1),
    ]


def test_the_patient_may_not_send_a_bolus_of_their_choosing(
    pump: PumpUnderTest, patient: SyncPumpClient
) -> None:
    set_demand(pump.client)
    request = BolusRequest(request_id=next(_request_ids), dose_ng=DOSE_NG, duration_s=600)
    refused(lambda: patient.send_once(request), NakCode.ROLE_FORBIDDEN)
    refused(lambda: patient.read_demand_log(), NakCode.ROLE_FORBIDDEN)
    assert patient.read_demand_bolus().dose_ng == DOSE_NG  # the settings the patient may read
    refused(lambda: set_demand(patient), NakCode.ROLE_FORBIDDEN)
    # ...and the clinician does not press the patient's button.
    refused(pump.client.demand_bolus, NakCode.ROLE_FORBIDDEN)
    assert pump.client.bolus(DOSE_NG, 600).dose_ng == DOSE_NG  # the clinician's bolus stays


@pytest.mark.needs_simulator
def test_a_demand_bolus_in_lockout_is_refused_and_logged(
    pump: PumpUnderTest, patient: SyncPumpClient
) -> None:
    assert pump.sim is not None
    set_demand(pump.client, lockout_s=4 * 3600)
    patient.demand_bolus()
    pump.sim.advance(HOUR_MS)
    nak = refused(patient.demand_bolus, NakCode.BOLUS_LOCKOUT)
    assert "lockout is 240 min (180 min to wait)" in nak.nak.detail
    for _ in range(5):  # a patient pressing again and again takes one entry of the log
        refused(patient.demand_bolus, NakCode.BOLUS_LOCKOUT)
    settings = patient.read_demand_bolus()
    assert settings.next_allowed_s == START_S + 4 * 3600
    assert settings.given_last_24h == 1
    log = pump.client.read_demand_log()
    assert [(e.outcome, e.count) for e in log] == [
        (DemandOutcome.GIVEN, 1),
        (DemandOutcome.REFUSED_LOCKOUT, 6),
    ]
    assert (log[1].time_s, log[1].last_time_s) == (START_S + 3600, START_S + 3600)
    refusals = events(pump.client, EventCode.DEMAND_BOLUS_REFUSED)
    assert [e.value_a for e in refusals] == [DemandOutcome.REFUSED_LOCKOUT]
    pump.sim.advance(3 * HOUR_MS)
    assert patient.demand_bolus().dose_ng == DOSE_NG  # the lockout is over


@pytest.mark.needs_simulator
def test_the_count_per_day_is_refused_and_logged(
    pump: PumpUnderTest, patient: SyncPumpClient
) -> None:
    assert pump.sim is not None
    set_demand(pump.client, lockout_s=4 * 3600, per_day=2)
    patient.demand_bolus()
    pump.sim.advance(4 * HOUR_MS)
    patient.demand_bolus()
    pump.sim.advance(4 * HOUR_MS)
    nak = refused(patient.demand_bolus, NakCode.BOLUS_COUNT_LIMIT)
    assert "2 demand boluses in the last 24 h; the maximum is 2" in nak.nak.detail
    assert outcomes(pump.client)[-1] == (DemandOutcome.REFUSED_DAILY_COUNT, 1)
    pump.sim.advance(16 * HOUR_MS)  # 24 h after the first: one may be given again
    assert patient.demand_bolus().given_last_24h == 2
    pump.sim.advance(MINUTE_MS)


def test_settings_are_held_to_the_bolus_limits(pump: PumpUnderTest) -> None:
    nak = refused(lambda: set_demand(pump.client, duration_s=300), NakCode.BOLUS_TOO_SHORT)
    assert "at least 10 min for morphine" in nak.nak.detail
    assert nak.nak.limit == 600
    refused(lambda: set_demand(pump.client, MG), NakCode.BOLUS_TOO_LARGE)
    refused(lambda: set_demand(pump.client, lockout_s=3600), NakCode.BOLUS_LOCKOUT)
    refused(lambda: set_demand(pump.client, per_day=5), NakCode.BOLUS_COUNT_LIMIT)
    refused(lambda: set_demand(pump.client, duration_s=5 * 3600), NakCode.INVALID_ARGUMENT)
    assert pump.client.read_demand_bolus().dose_ng == 0  # nothing refused was kept
    set_demand(pump.client)
    stale = SetDemandBolusRequest(
        request_id=next(_request_ids),
        dose_ng=0,
        duration_s=0,
        lockout_s=0,
        per_day=0,
        believed_dose_ng=0,
        believed_per_day=0,
    )
    refused(lambda: pump.client.send_once(stale), NakCode.STALE_DOSE)
    set_demand(pump.client, 0, duration_s=0, lockout_s=0, per_day=0)  # off: always allowed
    assert pump.client.read_demand_bolus().per_day == 0
    changes = events(pump.client, EventCode.DEMAND_BOLUS_SET)
    assert [e.detail for e in changes] == [
        "demand bolus: off -> 0.1 mg over 10 min, lockout 240 min, 3 a day",
        "demand bolus: 0.1 mg over 10 min, lockout 240 min, 3 a day -> off",
    ]


def test_settings_above_the_daily_maximum_are_refused(make_pump: MakePump) -> None:
    pump = make_pump("--dose", "19.5")  # 0.5 mg/day of room under the 20 mg maximum
    nak = refused(lambda: set_demand(pump.client, 2 * DOSE_NG, per_day=3), NakCode.ABOVE_MAX_DOSE)
    assert "3 demand boluses of 0.2 mg a day (0.6 mg)" in nak.nak.detail
    assert set_demand(pump.client, 2 * DOSE_NG, per_day=2).per_day == 2  # 19.9 mg fits


@pytest.mark.needs_simulator
def test_a_stopped_pump_gives_no_demand_bolus(pump: PumpUnderTest, patient: SyncPumpClient) -> None:
    set_demand(pump.client)
    pump.client.stop()
    refused(patient.demand_bolus, NakCode.PUMP_STOPPED)
    assert outcomes(pump.client) == [(DemandOutcome.REFUSED_STOPPED, 1)]
    assert pump.client.status().reservoir_ul == 20_000


@pytest.mark.needs_simulator
def test_refused_presses_reach_the_guard_as_escalation_evidence(
    pump: PumpUnderTest, patient: SyncPumpClient, tmp_path: Path
) -> None:
    """Two lockouts pressed through, mirrored from the pump's log into the record: the guard
    remarks on them beside a proposed increase, and the programmer's demand-bolus command is
    the one path (reviewed, sent once, verified, audited)."""
    assert pump.sim is not None

    async def program(client: PumpClient) -> str:
        record = ClinicalRecord.open(tmp_path / "clinical.db")
        try:
            programmer = Programmer(client, record, clinician="dr-demand")
            result = await programmer.run(SetDemandBolus(DOSE_NG, 600, 4 * 3600, 3))
            assert result.after.demand is not None
            return result.text
        finally:
            record.close()

    assert pump.client.run(program).startswith("Demand boluses 0.1 mg over 10 min")
    for _ in range(2):
        patient.demand_bolus()
        refused(patient.demand_bolus, NakCode.BOLUS_LOCKOUT)
        pump.sim.advance(4 * HOUR_MS)

    async def judge(client: PumpClient) -> GuardDecision:
        record = ClinicalRecord.open(tmp_path / "clinical.db")
        try:
            programmer = Programmer(client, record, clinician="dr-demand")
            seen = await programmer.interrogate()
            assert record.verify_audit().intact
            return programmer.guard(seen, 1_500_000)
        finally:
            record.close()

    decision = pump.client.run(judge)
    assert Rule.DEMAND_REFUSED in [w.rule for w in decision.warnings]
    assert "asked for 2 demand bolus(es) the pump refused" in decision.warning_lines()[-1]


def test_the_refill_date_assumes_every_allowed_demand_bolus_is_taken(pump: PumpUnderTest) -> None:
    """As Prometra's: 17 mL above the low threshold at 25 mg/mL is 425 mg; with 1.4 mg/day and
    three 0.1 mg demand boluses a day taken, 250 days. The pump's date is no later (it takes
    every bolus the library allows, which bounds the demand settings)."""
    set_demand(pump.client, DOSE_NG, per_day=3)
    status = pump.client.status()
    every_demand_taken_s = 425 * MG * 86_400 // (1_400_000 + 3 * DOSE_NG)
    assert 0 < status.low_reservoir_projected_s - status.pump_time_s <= every_demand_taken_s


def test_damaged_demand_state_is_found_at_boot() -> None:
    """A demand setting or log entry no command could leave is a problem the boot check names
    (docs/simulator.md §3.10.1)."""
    library = default_library()
    state, _ = first_boot(InitialProgram(frozen_clock=True), library)
    limits = library.limits_for(state.drug)
    assert problems(state, limits) == []
    state.demand = [MG, 600, 14_400, 3]  # above the bolus maximum
    state.demand_log = [[state.anchor_ms, state.anchor_ms, 99, 1, 0]]
    state.demand_log_next = 1
    assert problems(state, limits) == [
        "demand bolus: settings outside the bolus limits",
        "demand log: an entry no activation could leave",
    ]


@pytest.mark.needs_simulator
def test_a_press_whose_answer_is_lost_is_resolved_not_resent(
    pump: PumpUnderTest, patient: SyncPumpClient
) -> None:
    """The pump gives the demand bolus but its answer is lost: the patient's side asks
    QUERY_OUTCOME and reports it given; the pump gave it once."""
    set_demand(pump.client)

    async def press(client: PumpClient) -> int:
        class LosesTheAnswer:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            async def demand_bolus(self, *, request_id: int) -> Any:
                await client.demand_bolus(request_id=request_id)
                raise OutcomeUncertain("no answer (lost on the line)", request_id)

        given = await activate(LosesTheAnswer())  # type: ignore[arg-type]
        return given.dose_ng

    assert patient.run(press) == DOSE_NG
    assert outcomes(pump.client) == [(DemandOutcome.GIVEN, 1)]
    assert len(events(pump.client, EventCode.BOLUS_STARTED)) == 1


def test_a_drug_without_boluses_takes_no_demand_bolus(make_pump: MakePump) -> None:
    """Ziconotide's library allows no bolus: the programmer says so before sending, and the
    pump refuses the settings anyway."""
    pump = make_pump("--drug", "ziconotide", "--concentration", "25", "--dose", "2.4")

    async def plan(client: PumpClient) -> str:
        programmer = Programmer(client, None)
        seen = await programmer.interrogate()
        seen = replace(seen, demand=await programmer.read_demand_bolus())
        command = SetDemandBolus(1_000, 600, 4 * 3600, 1)
        with pytest.raises(ProgrammerRefusal) as refusal:
            command.check(Context(seen))
        return str(refusal.value)

    assert "the drug library allows no bolus of ziconotide" in pump.client.run(plan)
    refused(lambda: set_demand(pump.client, 1_000, per_day=1), NakCode.BOLUS_TOO_LARGE)


def test_a_damaged_activation_log_starts_afresh_and_therapy_goes_on(tmp_path: Path) -> None:
    """The log is its own sealed value, written when an activation changes it. No copy of it
    verifying at boot raises NV_INTEGRITY and empties the log; the program, verified, keeps
    running: the log records, it does not program."""
    path = tmp_path / "pump.db"
    sim = Simulator(path, InitialProgram(frozen_clock=True))
    sim.pump.handle(
        SetDemandBolusRequest(
            request_id=1,
            dose_ng=DOSE_NG,
            duration_s=600,
            lockout_s=4 * 3600,
            per_day=3,
            believed_dose_ng=0,
            believed_per_day=0,
        )
    )
    sim.pump.handle(DemandBolusRequest(request_id=2), patient=True)
    sim.store.commit(sim.pump.state)
    sim.close()
    again = Simulator(path, first_boot_allowed=False)
    assert [e[2] for e in again.pump.state.demand_log] == [DemandOutcome.GIVEN]
    again.close()
    db = sqlite3.connect(path)
    for table in ("nv", "nv_copy"):
        db.execute(f"UPDATE {table} SET value = '[[1]]' WHERE key = 'demand_log'")
    db.commit()
    db.close()
    damaged = Simulator(path, first_boot_allowed=False)
    try:
        state = damaged.pump.state
        assert state.running
        assert (state.demand, state.demand_log) == ([DOSE_NG, 600, 4 * 3600, 3], [])
        assert AlarmCode.NV_INTEGRITY in state.alarms
        events = [e.event for e in damaged.store.read_events(0, 100).events]
        boot = [e for e in events if e.code == EventCode.BOOT][-1]
        assert "demand_log: no copy verifies" in boot.detail
    finally:
        damaged.close()
