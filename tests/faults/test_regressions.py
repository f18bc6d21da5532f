"""Bugs the fault tests found, each kept with the seed (or steps) that found it, so the
exact case that failed runs on every build. Add one here whenever a torture run, the state
machine, the soak or a power cut finds something: fix the root cause, then pin the case."""

from __future__ import annotations

from firmware_sim.faults import LineFaults
from firmware_sim.model.events import Event
from firmware_sim.model.library import default_library
from firmware_sim.model.pump import DOSE_HISTORY_MAX, Pump
from firmware_sim.simulator import InitialProgram, first_boot
from pumpctl.protocol.messages import (
    EventCode,
    Nak,
    NakCode,
    RefillResponse,
    ResumeRequest,
    SetRateRequest,
    SetRateResponse,
    StopRequest,
)
from pumpctl.testing.reference import ReferencePump
from pumpctl.testing.soak import run_soak
from pumpctl.testing.torture import run_torture
from tests.test_model import refill

DAY_MS = 86_400_000


def test_torture_corrupt_1_in_100_seed_1_resolves_every_uncertain_outcome() -> None:
    """``--faults corrupt=0.01,seed=1`` failed: a command whose answer was lost was resolved
    by reading the pump's event log back, in pages of ~900 bytes, and at one corrupted byte
    in 100 almost no page got through intact (P ≈ 0.99^900 ≈ 1e-4), so the run gave up
    ("could not read the pump back"). Root fix: QUERY_OUTCOME, a small read of the outcome
    the pump recorded for the request id (docs/protocol.md §6.3); resolution no longer reads
    the event log."""
    report = run_torture(60, LineFaults.parse("corrupt=0.01,seed=1"), deadline_s=0.01)
    assert report.ok, report.summary() + "\n" + "\n".join(report.problems)
    assert report.mis_executed == report.misreported == report.duplicated == report.phantom == 0
    assert (
        report.sent
        == report.confirmed + report.refused + report.unknown_resolved + report.unresolved
    )
    assert report.unknown_resolved > 0  # the case really takes the path that failed


def test_a_bridge_bolus_cannot_push_a_day_over_the_maximum() -> None:
    """Found by the state machine (tests/faults/test_pump_state_machine.py, once bridge
    boluses counted in its "no 24 h window over the maximum" invariant): baclofen at its
    1000 mcg/day maximum, refilled at another concentration with a 1000 mcg bridge bolus.
    The pump accepted the refill, and the next 24 h held twice the maximum. REFILL checked the
    bridge bolus against nothing. Root fix: a refill whose bridge bolus would put more than
    the maximum into some 24 h window is refused whole (DAILY_LIMIT), like a demand bolus.
    The shrunk steps, replayed on the model — with the bridge bolus now at baclofen's bridge
    maximum (100 mcg), since a larger one is refused as too large before the daily maximum
    is looked at, and the ×40 concentration change confirmed:"""
    pump, log = _implanted("baclofen", 50_000, 1_000_000, volume_ul=0, model="IT-20")
    pump.handle(refill(0, 20_000, 50_000))  # full, same concentration
    pump.handle(ResumeRequest(request_id=2))
    reply = pump.handle(refill(20_000, 20_000, 2_000_000, bridge_ng=100_000, confirm=True))
    assert isinstance(reply, Nak), "the bridge bolus would put 1.1 mg in a day"
    assert reply.code == NakCode.DAILY_LIMIT
    assert reply.limit == 1_000_000
    assert pump.state.concentration_ng_per_ml == 50_000  # the refill did not happen
    assert pump.state.reservoir_nl == 20_000_000
    assert not pump.state.boluses
    # A bridge bolus that fits is accepted. A stopped pump would deliver none of one: it is
    # refused for that (PUMP_STOPPED), not for the daily maximum, and a waiver goes ahead.
    pump.handle(SetRateRequest(request_id=3, dose_ng_per_day=900_000,
                               believed_dose_ng_per_day=1_000_000))  # fmt: skip
    pump.advance(DAY_MS)  # 900 mcg/day at 50 mcg/mL: 18 mL of the 20
    fits = pump.handle(refill(2_000, 20_000, 2_000_000, bridge_ng=100_000, confirm=True))
    assert isinstance(fits, RefillResponse)
    pump.handle(StopRequest(request_id=4))
    stopped = pump.handle(refill(20_000, 20_000, 50_000, bridge_ng=100_000, confirm=True))
    assert isinstance(stopped, Nak)
    assert stopped.code == NakCode.PUMP_STOPPED
    assert pump.state.concentration_ng_per_ml == 2_000_000
    waived = pump.handle(refill(20_000, 20_000, 50_000, confirm=True, waive=True))
    assert isinstance(waived, RefillResponse)
    assert [e.value_a for e in log.events if e.code == EventCode.REFUSED] == [
        NakCode.DAILY_LIMIT,
        NakCode.PUMP_STOPPED,
    ]


def test_a_flood_of_rate_changes_keeps_the_nv_state_bounded() -> None:
    """Found by the long handler fuzz run (``python -m pumpctl.testing.fuzz handler
    -atheris_runs=2000000 -seed=2``): it slowed from ~8 000 to 2 500 runs/s and kept slowing.
    Every accepted SET_RATE appended to the dose history the 24 h rule reads, and nothing was
    dropped until it was 24 h old — with the clock standing still, never; the NV state, and
    the cost of every command, grew without bound (8 000 decreases: 200 KB of state, 20 ms a
    command). Root fix: a change in the same millisecond replaces the dose it supersedes
    (which held no drug), and at most DOSE_HISTORY_MAX doses are kept, the oldest two merging
    into the larger (the rule can only get stricter). A bridge bolus that delivered nothing
    (given to a stopped pump) was not kept either; the pump now refuses such a bolus."""
    pump, _ = _implanted("morphine", 25_000_000, 20_000_000, volume_ul=20_000, model="IT-20")
    dose = 20_000_000
    for _ in range(1000):  # the same millisecond
        reply = pump.handle(_set_rate(dose - 1, dose))
        assert isinstance(reply, SetRateResponse)
        dose -= 1
    assert len(pump.state.dose_history) == 1
    exact = ReferencePump.implanted(
        pump.limits, pump.model, now_ms=pump.now_ms(), dose_ng_per_day=dose,
        concentration_ng_per_ml=25_000_000, volume_ul=20_000,
    )  # fmt: skip
    for _ in range(300):  # one a millisecond
        pump.advance(1)
        exact.advance_to(exact.now_ms + 1)
        assert isinstance(pump.handle(_set_rate(dose - 1000, dose)), SetRateResponse)
        assert exact.set_rate(dose - 1000, dose, False) is None
        dose -= 1000
    assert len(pump.state.dose_history) == DOSE_HISTORY_MAX
    # Merging only ever overestimates what the last 24 h held.
    assert pump.peak_24h_ng(dose) >= exact.peak_24h_ng(dose)
    assert pump.peak_24h_ng(dose) <= 20_000_000
    # Bridge boluses given to a stopped pump, again and again, leave nothing behind: each is
    # refused, and each refill with a waiver instead keeps no bolus.
    pump.handle(StopRequest(request_id=next(_ids)))
    for i in range(50):
        concentration = 10_000_000 + i % 2
        bridged = pump.handle(
            refill(19_999, 20_000, concentration, bridge_ng=100_000, confirm=True)
        )
        assert isinstance(bridged, Nak)
        assert bridged.code == NakCode.PUMP_STOPPED
        assert isinstance(
            pump.handle(refill(19_999, 20_000, concentration, confirm=True, waive=True)),
            RefillResponse,
        )
    assert not pump.state.boluses


def _set_rate(new: int, believed: int) -> SetRateRequest:
    return SetRateRequest(
        request_id=next(_ids), dose_ng_per_day=new, believed_dose_ng_per_day=believed
    )


_ids = iter(range(100, 1 << 62))


def _implanted(
    drug: str, concentration: int, dose: int, *, volume_ul: int, model: str
) -> tuple[Pump, Log]:
    state, library = first_boot(
        InitialProgram(
            drug=drug,
            concentration_ng_per_ml=concentration,
            dose_ng_per_day=dose,
            volume_ul=volume_ul,
            model=model,
            serial_number="REG",
            frozen_clock=True,
        ),
        default_library(),
    )
    log = Log()
    pump = Pump(state, library, log)
    pump.reconcile()
    return pump, log


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def append(self, event: Event) -> None:
        self.events.append(event)


def test_soak_seed_2_refills_with_a_bridge_bolus_inside_the_maximum() -> None:
    """The same hole, found by the soak: ``python -m pumpctl.testing.soak --seed 2`` (baclofen,
    IT-20) refilled at another concentration on day 29.6 with a bridge bolus the day had no
    room for, and the pump accepted it where the rules refuse it (DAILY_LIMIT)."""
    report = run_soak(31, 2)
    assert report.ok, report.summary()
    assert report.refused["Refill:DAILY_LIMIT"] == 1
