"""The programmer's own checks and reviews, at their boundaries, against the simulator on a
real pty: what needs a confirmation, what is refused before sending, and what the review says
for each drug. Planning sends nothing; the pump is read back to show it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from pumpctl.client import PumpClient, SyncPumpClient
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.display import projected_date
from pumpctl.keystore import Keystore
from pumpctl.programmer import (
    AckAlarm,
    Bolus,
    Confirmation,
    ConfirmationRequired,
    Confirmations,
    NothingToSend,
    Plan,
    Programmer,
    ProgrammerRefusal,
    Refill,
    Resume,
    SetRate,
    Stop,
    TherapyCommand,
)
from pumpctl.protocol.messages import AlarmCode, NakCode
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator

pytestmark = pytest.mark.needs_simulator
T = TypeVar("T")
MG = 1_000_000


def with_programmer(
    client: SyncPumpClient, db: Path, call: Callable[[Programmer], Awaitable[T]]
) -> T:
    async def go(raw: PumpClient) -> T:
        record = ClinicalRecord.open(db)
        try:
            return await call(Programmer(raw, record, clinician="dr-rules"))
        finally:
            record.close()

    return client.run(go)


def plan(client: SyncPumpClient, db: Path, command: TherapyCommand) -> Plan:
    async def go(programmer: Programmer) -> Plan:
        return await programmer.plan(command)

    return with_programmer(client, db, go)


def run(
    client: SyncPumpClient, db: Path, command: TherapyCommand, confirmations: Confirmations
) -> None:
    async def go(programmer: Programmer) -> None:
        await programmer.run(command, confirmations)

    with_programmer(client, db, go)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "clinical.db"


def refill_at(pump: PumpUnderTest, db: Path, concentration_ng_per_ml: int) -> None:
    residual = pump.client.status().reservoir_ul
    command = Refill(residual, 20_000, concentration_ng_per_ml, waive_bridge=True)
    run(pump.client, db, command, Confirmations(large_change=True))


def test_a_cut_to_exactly_half_needs_no_confirmation_below_half_does(
    pump: PumpUnderTest, db: Path
) -> None:
    refill_at(pump, db, 1 * MG)  # low doses above the minimum flow
    half = plan(pump.client, db, SetRate(700_000))
    assert half.review.required == frozenset()
    below = plan(pump.client, db, SetRate(690_000))
    assert below.review.required == {Confirmation.LARGE_CHANGE}
    assert any("below half" in w for w in below.review.warnings)
    assert pump.client.status().dose_ng_per_day == 1_400_000  # planning sent nothing


def test_a_concentration_halved_or_doubled_needs_confirmation_just_inside_does_not(
    pump: PumpUnderTest, db: Path
) -> None:
    residual = pump.client.status().reservoir_ul
    halved = plan(pump.client, db, Refill(residual, 20_000, 12_500_000, waive_bridge=True))
    assert Confirmation.LARGE_CHANGE in halved.review.required
    inside = plan(pump.client, db, Refill(residual, 20_000, 12_500_001, waive_bridge=True))
    assert Confirmation.LARGE_CHANGE not in inside.review.required


def test_bridge_bolus_at_the_library_maximum_is_planned_one_ng_more_is_refused(
    pump: PumpUnderTest, db: Path
) -> None:
    limits = pump.client.read_limits()
    residual = pump.client.status().reservoir_ul
    top = limits.bridge_bolus_max_ng
    planned = plan(pump.client, db, Refill(residual, 20_000, 20 * MG, bridge_bolus_ng=top))
    assert ["Bridge bolus", "-", f"{top / MG:g} mg"] in planned.review.as_json()["rows"]
    with pytest.raises(ProgrammerRefusal) as refused:
        plan(pump.client, db, Refill(residual, 20_000, 20 * MG, bridge_bolus_ng=top + 1))
    assert refused.value.rule == NakCode.BOLUS_TOO_LARGE


def test_refill_tolerance_boundaries_on_both_sides(pump: PumpUnderTest, db: Path) -> None:
    expected = pump.client.status().reservoir_ul
    tolerance = pump.client.read_limits().refill_tolerance_ul
    for withdrawn in (expected - tolerance, expected + tolerance):
        assert plan(pump.client, db, Refill(withdrawn, 20_000)).review.required == frozenset()
    short = plan(pump.client, db, Refill(expected - tolerance - 1, 20_000)).review
    assert short.required == {Confirmation.DISCREPANCY_REASON}
    assert any("pocket fill" in w for w in short.warnings)
    over = plan(pump.client, db, Refill(expected + tolerance + 1, 20_000)).review
    assert any("under-delivery" in w for w in over.warnings)


def test_the_low_reservoir_date_before_is_the_pumps_own(pump: PumpUnderTest, db: Path) -> None:
    status = pump.client.status()
    review = plan(pump.client, db, SetRate(1_500_000)).review
    (row,) = [r for r in review.rows if r.label == "Low-reservoir date"]
    assert row.before == projected_date(status.low_reservoir_projected_s)


def test_stopping_twice_sends_nothing_the_second_time(pump: PumpUnderTest, db: Path) -> None:
    run(pump.client, db, Stop(), Confirmations(withdrawal_risk=True))
    with pytest.raises(NothingToSend, match="already stopped"):
        plan(pump.client, db, Stop())
    run(pump.client, db, Resume(), Confirmations())
    with pytest.raises(NothingToSend, match="already running"):
        plan(pump.client, db, Resume())


def pump_with(*args: str) -> Iterator[SyncPumpClient]:
    sim = InProcessSimulator(args).start()
    client = SyncPumpClient(sim.port, keys=Keystore(sim.keystore_path))
    try:
        yield client
    finally:
        client.close()
        sim.cleanup()


@pytest.fixture
def baclofen_pump() -> Iterator[SyncPumpClient]:
    yield from pump_with("--drug", "baclofen", "--concentration", "500", "--dose", "400")


@pytest.fixture
def ziconotide_pump() -> Iterator[SyncPumpClient]:
    yield from pump_with("--drug", "ziconotide", "--concentration", "25", "--dose", "2.4")


def test_stopping_baclofen_names_its_boxed_warning(baclofen_pump: SyncPumpClient, db: Path) -> None:
    review = plan(baclofen_pump, db, Stop()).review
    assert any("Boxed warning" in w and "baclofen" in w for w in review.warnings)
    assert review.required == {Confirmation.WITHDRAWAL_RISK}
    assert ["Drug delivered", "400 mcg/day", "none"] in review.as_json()["rows"]


def test_stopping_ziconotide_names_no_withdrawal(ziconotide_pump: SyncPumpClient, db: Path) -> None:
    review = plan(ziconotide_pump, db, Stop()).review
    assert not any("withdrawal" in w.lower() for w in review.warnings)
    assert review.required == frozenset()
    assert ["Drug delivered", "2.4 mcg/day", "none"] in review.as_json()["rows"]


def test_a_baclofen_decimal_slip_downwards_needs_confirming(
    baclofen_pump: SyncPumpClient, db: Path
) -> None:
    review = plan(baclofen_pump, db, SetRate(40_000)).review  # 400 -> 40 mcg/day
    assert review.required == {Confirmation.LARGE_CHANGE}
    assert ["Dose", "400 mcg/day", "40 mcg/day"] in review.as_json()["rows"]


def test_stopping_during_a_bolus_says_it_ends_the_bolus(pump: PumpUnderTest, db: Path) -> None:
    assert not any("bolus is running" in w for w in plan(pump.client, db, Stop()).review.warnings)
    run(pump.client, db, Bolus(100_000, 600), Confirmations())
    review = plan(pump.client, db, Stop()).review
    assert any("A bolus is running" in w for w in review.warnings)


def test_a_bridge_bolus_to_a_stopped_pump_is_refused_before_sending(
    pump: PumpUnderTest, db: Path
) -> None:
    run(pump.client, db, Stop(), Confirmations(withdrawal_risk=True))
    residual = pump.client.status().reservoir_ul
    with pytest.raises(ProgrammerRefusal, match="would not deliver the bridge bolus"):
        plan(pump.client, db, Refill(residual, 20_000, 20 * MG, bridge_bolus_ng=100_000))
    waived = plan(pump.client, db, Refill(residual, 20_000, 20 * MG, waive_bridge=True))
    assert any("stays stopped after the refill" in w for w in waived.review.warnings)


def test_acknowledging_a_volume_discrepancy_needs_what_was_found(
    pump: PumpUnderTest, db: Path
) -> None:
    residual = pump.client.status().reservoir_ul
    short = Refill(residual - 5_000, 20_000)
    run(pump.client, db, short, Confirmations(discrepancy_reason="pocket fill ruled out by x-ray"))
    review = plan(pump.client, db, AckAlarm(AlarmCode.VOLUME_DISCREPANCY)).review
    assert review.required == {Confirmation.DISCREPANCY_REASON}
    with pytest.raises(ConfirmationRequired):
        run(pump.client, db, AckAlarm(AlarmCode.VOLUME_DISCREPANCY), Confirmations())
    run(
        pump.client,
        db,
        AckAlarm(AlarmCode.VOLUME_DISCREPANCY),
        Confirmations(discrepancy_reason="x-ray: needle in the reservoir"),
    )
    assert AlarmCode.VOLUME_DISCREPANCY not in [a.code for a in pump.client.status().alarms]


def test_a_ziconotide_refill_is_due_when_the_fill_expires_not_when_it_runs_low(
    ziconotide_pump: SyncPumpClient, db: Path
) -> None:
    status = ziconotide_pump.status()
    expiry_days = ziconotide_pump.read_limits().max_refill_interval_s // 86_400
    review = plan(ziconotide_pump, db, Refill(status.reservoir_ul, 20_000)).review
    (row,) = [r for r in review.rows if r.label == "Next refill"]
    assert row.after == projected_date(status.pump_time_s + expiry_days * 86_400)
    assert status.low_reservoir_projected_s > status.pump_time_s + expiry_days * 86_400
    assert any(f"at most {expiry_days} days" in w for w in review.warnings)
