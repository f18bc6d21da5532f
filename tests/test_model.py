"""The pump model in-process: exact delivery, the 24 h maximum over every window, boluses that
end with the pump, the low-reservoir projection, first boot, and the drug library's data."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim.cli import START_DEFAULTS
from firmware_sim.model.events import Event
from firmware_sim.model.library import DrugLibrary, default_library
from firmware_sim.model.pump import Pump, clip_text
from firmware_sim.model.state import Bolus
from firmware_sim.simulator import DEFAULT_START_MS, InitialProgram, first_boot
from pumpctl.protocol.messages import (
    AlarmCode,
    BolusRequest,
    BolusResponse,
    EventCode,
    Message,
    Nak,
    NakCode,
    RefillRequest,
    ResumeRequest,
    SetRateRequest,
    StatusRequest,
    StatusResponse,
    StopReason,
    StopRequest,
)
from pumpctl.units import parse_amount_ng

ROOT = Path(__file__).resolve().parents[1]
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
MG = 1_000_000


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def append(self, event: Event) -> None:
        self.events.append(event)

    def of(self, code: EventCode) -> list[Event]:
        return [e for e in self.events if e.code == code]


def make_pump(library: DrugLibrary | None = None, **program: object) -> tuple[Pump, Log]:
    """A freshly implanted pump (frozen clock): morphine 25 mg/mL, 1.4 mg/day, 20 mL."""
    state, held = first_boot(
        InitialProgram(frozen_clock=True, serial_number="T", **program),  # type: ignore[arg-type]
        library or default_library(),
    )
    log = Log()
    pump = Pump(state, held, log)
    pump.reconcile()
    return pump, log


def at(pump: Pump, ms: int) -> None:
    """Move the pump's clock forward to ``ms`` after its first boot."""
    pump.advance(DEFAULT_START_MS + ms - pump.now_ms())


def ask(pump: Pump, request: Message) -> Message:
    return pump.handle(request)


def status(pump: Pump) -> StatusResponse:
    reply = pump.handle(StatusRequest())
    assert isinstance(reply, StatusResponse)
    return reply


def nak(reply: Message) -> NakCode | None:
    return reply.code if isinstance(reply, Nak) else None


_ids = iter(range(1, 1 << 62))


def bolus(dose_ng: int, duration_s: int) -> BolusRequest:
    return BolusRequest(request_id=next(_ids), dose_ng=dose_ng, duration_s=duration_s)


def set_rate(new: int, believed: int, confirm: bool = False) -> SetRateRequest:
    return SetRateRequest(
        request_id=next(_ids),
        dose_ng_per_day=new,
        believed_dose_ng_per_day=believed,
        confirm_large_change=confirm,
    )


def refill(
    residual_ul: int,
    added_ul: int,
    concentration: int,
    bridge_ng: int = 0,
    *,
    confirm: bool = False,
    acknowledged: bool = False,
    waive: bool = False,
) -> RefillRequest:
    return RefillRequest(
        request_id=next(_ids),
        residual_withdrawn_ul=residual_ul,
        volume_added_ul=added_ul,
        concentration_ng_per_ml=concentration,
        bridge_bolus_ng=bridge_ng,
        waive_bridge_bolus=waive,
        discrepancy_acknowledged=acknowledged,
        confirm_large_change=confirm,
    )


def request_for(kind: str, arg: int, dose: int) -> Message:
    """One of the commands the property tests throw at the pump."""
    if kind == "bolus":
        return bolus(25_000 + arg, arg)
    if kind == "up":
        return set_rate(dose + dose // 5, dose)
    if kind == "down":
        return set_rate(max(1_200_000, dose - arg * 100), dose)
    if kind == "stop":
        return StopRequest(request_id=next(_ids))
    return ResumeRequest(request_id=next(_ids))


# --- exact delivery ----------------------------------------------------------------------


def test_a_year_in_big_steps_ends_on_the_exact_nanolitre() -> None:
    pump, _ = make_pump()
    assert nak(ask(pump, set_rate(1_234_567, 1_400_000))) is None
    expected = Fraction(20_000_000)  # nL
    for day in range(30, 366, 30):
        at(pump, day * DAY_MS)
        expected -= Fraction(1_234_567 * 30 * 1_000_000, 25 * MG)
        assert pump.state.reservoir_nl == expected
        residual = math.floor(expected / 1000)
        ask(pump, refill(residual, 20_000, 25 * MG))
        expected = Fraction(20_000_000)
    at(pump, 365 * DAY_MS)
    expected -= Fraction(1_234_567 * 5 * 1_000_000, 25 * MG)
    assert pump.state.reservoir_nl == expected
    assert status(pump).reservoir_ul == 19_753


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 3 * DAY_MS),
            st.sampled_from(["bolus", "up", "down", "stop", "resume"]),
            st.integers(1, 3600),
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(1, 3 * DAY_MS), max_size=20),
)
def test_delivery_does_not_depend_on_how_time_is_cut(
    ops: list[tuple[int, str, int]], cuts: list[int]
) -> None:
    """Advancing in one step or in many ends in the same reservoir and the same events."""

    def run(extra_stops: list[int]) -> tuple[Fraction, list[Event]]:
        pump, log = make_pump(volume_ul=150)  # runs empty within the 3 days
        stops = sorted({t for t, *_ in ops} | set(extra_stops) | {3 * DAY_MS})
        todo = sorted(ops)
        for t in stops:
            at(pump, t)
            while todo and todo[0][0] == t:
                _, kind, arg = todo.pop(0)
                pump.handle(request_for(kind, arg, pump.state.dose_ng_per_day))
        return pump.state.reservoir_nl, [
            Event(e.time_ms, e.code, 0, e.value_a, e.value_b, e.detail) for e in log.events
        ]

    assert run([]) == run(cuts)


# --- the 24 h maximum -----------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 3 * 24 * 12).map(lambda n: n * 5 * MINUTE_MS),
            st.sampled_from(["bolus", "set", "stop", "resume"]),
            st.integers(0, 20),
        ),
        max_size=25,
    )
)
def test_no_24_h_window_ever_holds_more_than_the_daily_maximum(
    ops: list[tuple[int, str, int]],
) -> None:
    """Whatever is asked and accepted near the maximum, the drug that actually left the
    reservoir in any 24 h stays within it. Everything happens on a 5 min grid, so the
    worst window starts on the grid too."""
    pump, _ = make_pump(dose_ng_per_day=19 * MG)
    grid_ms = 5 * MINUTE_MS
    todo = sorted(ops)
    delivered_nl = [Fraction(0)]
    for step in range(1, 4 * 24 * 12 + 1):
        while todo and todo[0][0] < step * grid_ms:
            _, kind, arg = todo.pop(0)
            dose = pump.state.dose_ng_per_day
            if kind == "bolus":
                pump.handle(bolus(100_000 + 5_000 * arg, 300 * (1 + arg % 6)))
            elif kind == "set":
                pump.handle(set_rate(18 * MG + 100_000 * arg, dose))
            elif kind == "stop":
                pump.handle(StopRequest(request_id=next(_ids)))
            else:
                pump.handle(ResumeRequest(request_id=next(_ids)))
        before = pump.state.reservoir_nl
        at(pump, step * grid_ms)
        delivered_nl.append(delivered_nl[-1] + before - pump.state.reservoir_nl)
    per_window = DAY_MS // grid_ms
    worst_nl = max(
        delivered_nl[i + per_window] - delivered_nl[i]
        for i in range(len(delivered_nl) - per_window)
    )
    assert worst_nl * 25 * MG / 1_000_000 <= 20 * MG


@settings(max_examples=40, deadline=None)
@given(
    doses=st.lists(st.tuples(st.integers(1, 47), st.integers(1_200, 20_000)), max_size=4),
    boluses=st.lists(
        st.tuples(st.integers(0, 47), st.integers(1, 200), st.integers(1, 8)), max_size=5
    ),
    future=st.integers(1_200, 20_000),
)
def test_the_peak_window_is_the_worst_of_all_windows(
    doses: list[tuple[int, int]], boluses: list[tuple[int, int, int]], future: int
) -> None:
    """``peak_24h_ng`` against every window on a 30 min grid (where all the changes fall)."""
    pump, _ = make_pump()
    step_ms = 30 * MINUTE_MS
    changes = {t: d * 1000 for t, d in doses}
    starts = {t: (dose * 1000, n) for t, dose, n in boluses}
    for t in range(1, 49):
        at(pump, t * step_ms)
        if t in changes:
            pump.state.dose_history.append([pump.now_ms(), changes[t]])
            pump.state.dose_ng_per_day = changes[t]
        if t in starts:
            dose, n = starts[t]
            pump.state.boluses.append(Bolus(pump.now_ms(), dose, n * step_ms, 0))
    now = pump.now_ms()
    peak = pump.peak_24h_ng(future * 1000)

    def rate_at(ms: int) -> Fraction:
        """ng/ms being delivered (as the rule counts it) at ``ms``."""
        if ms >= now:
            rate = Fraction(future * 1000, DAY_MS)
        else:
            history = pump.state.dose_history
            rate = Fraction(0)
            for since, dose in history:
                if since <= ms:
                    rate = Fraction(dose, DAY_MS)
        for b in pump.state.boluses:
            if b.start_ms <= ms < b.end_ms:
                rate += Fraction(b.dose_ng, b.duration_ms)
        return rate

    samples = [rate_at(now - DAY_MS + i * step_ms) * step_ms for i in range(96)]
    worst = max(sum(samples[i : i + 48], Fraction(0)) for i in range(49))
    assert peak == worst


def test_a_decrease_leaves_the_trailing_24_h_counted() -> None:
    pump, _ = make_pump(dose_ng_per_day=20 * MG)
    at(pump, DAY_MS)
    assert nak(ask(pump, set_rate(19_200_000, 20 * MG))) is None
    # Before: 19.2 + 0.2 "fits"; but the window reaching back into the 20 mg/day day does not.
    assert nak(ask(pump, bolus(200_000, 600))) == NakCode.DAILY_LIMIT
    at(pump, 2 * DAY_MS)
    assert nak(ask(pump, bolus(200_000, 600))) is None


def test_a_bolus_that_ended_over_24_h_after_it_started_still_counts() -> None:
    """A long bolus is counted as delivered over its duration, not forgotten 24 h after its
    start while its end is still inside the window."""
    pump, _ = make_pump(dose_ng_per_day=19 * MG)
    assert nak(ask(pump, bolus(200_000, 20 * 3600))) is None
    at(pump, 25 * HOUR_MS)
    assert len(pump.state.boluses) == 1
    assert pump.peak_24h_ng(19 * MG) > 19 * MG


# --- boluses end with the pump ------------------------------------------------------------


def test_a_stop_ends_the_running_bolus_and_keeps_its_lockout() -> None:
    pump, log = make_pump()
    first = bolus(200_000, 600)
    ask(pump, first)
    at(pump, 150_000)
    ask(pump, StopRequest(request_id=next(_ids)))
    assert not status(pump).bolus_active
    ask(pump, ResumeRequest(request_id=next(_ids)))
    assert not status(pump).bolus_active
    assert nak(ask(pump, bolus(200_000, 600))) == NakCode.BOLUS_LOCKOUT
    at(pump, DAY_MS)
    finished = log.of(EventCode.BOLUS_FINISHED)
    assert [(e.request_id, e.value_a) for e in finished] == [(first.request_id, 50_000)]
    assert pump.state.reservoir_nl == 20_000_000 - 2_000 - 56_000


def test_running_empty_mid_bolus_ends_the_bolus_once() -> None:
    pump, log = make_pump(volume_ul=5)  # 5 µL: a 0.2 mg (8 µL) bolus empties it
    ask(pump, bolus(200_000, 600))
    at(pump, HOUR_MS)
    reply = status(pump)
    assert reply.stop_reason == StopReason.RESERVOIR_EMPTY
    assert not reply.bolus_active
    finished = log.of(EventCode.BOLUS_FINISHED)
    assert len(finished) == 1
    assert 0 < finished[0].value_a < 200_000
    assert "delivered" in finished[0].detail
    assert pump.state.reservoir_nl == 0


def test_a_stopped_pump_refuses_a_bridge_bolus_it_would_not_deliver() -> None:
    """Taken, the bridge bolus would wait for a resume the pump cannot promise, and the old
    drug in the pump and catheter would go out at the new flow with no bridge: refused, and
    nothing changes. With a waiver the same refill goes ahead (old drug, new flow)."""
    pump, log = make_pump()
    ask(pump, StopRequest(request_id=next(_ids)))
    before = json.dumps(pump.state.to_json())
    request = refill(20_000, 20_000, 10 * MG, bridge_ng=100_000, confirm=True)  # ÷2.5
    reply = ask(pump, request)
    assert isinstance(reply, Nak)
    assert (reply.code, reply.limit) == (NakCode.PUMP_STOPPED, 0)
    assert reply.detail == (
        "the pump is stopped (clinician) and would not deliver the bridge bolus: resume it "
        "first, or waive it"
    )
    assert json.dumps(pump.state.to_json()) == before
    logged = [e.code for e in log.events if e.request_id == request.request_id]
    assert logged == [EventCode.REFUSED]

    waived = refill(20_000, 20_000, 10 * MG, confirm=True, waive=True)
    assert nak(ask(pump, waived)) is None
    assert [e.detail for e in log.events if e.request_id == waived.request_id][-1] == (
        "bridge bolus waived"
    )
    assert not pump.state.boluses
    ask(pump, ResumeRequest(request_id=next(_ids)))
    at(pump, HOUR_MS)
    assert pump.state.reservoir_nl == 20_000_000 - Fraction(1_400_000 * 1_000_000, 10 * MG * 24)


def test_a_bridge_bolus_after_a_resume_is_delivered() -> None:
    pump, log = make_pump()
    ask(pump, StopRequest(request_id=next(_ids)))
    ask(pump, ResumeRequest(request_id=next(_ids)))
    request = refill(20_000, 20_000, 10 * MG, bridge_ng=100_000, confirm=True)
    assert nak(ask(pump, request)) is None
    at(pump, HOUR_MS)
    finished = log.of(EventCode.BOLUS_FINISHED)
    assert [(e.request_id, e.value_a) for e in finished] == [(request.request_id, 100_000)]
    continuous = Fraction(1_400_000 * 1_000_000, 10 * MG * 24)
    assert pump.state.reservoir_nl == 20_000_000 - continuous - 10_000  # 0.1 mg at 10 mg/mL


@pytest.mark.parametrize(
    ("how", "why"),
    [("empty", "reservoir empty"), ("stall", "motor stall")],
)
def test_a_pump_that_cannot_resume_asks_for_the_bridge_bolus_to_be_waived(
    how: str, why: str
) -> None:
    pump, _ = make_pump(volume_ul=0) if how == "empty" else make_pump()
    if how == "stall":
        pump.set_fault("motor_stall", "on")
    reply = ask(pump, refill(0 if how == "empty" else 20_000, 20_000, 10 * MG, 100_000))
    assert isinstance(reply, Nak)
    assert reply.code == NakCode.PUMP_STOPPED
    assert reply.detail == (
        f"the pump is stopped ({why}) and cannot resume now and would not deliver the bridge "
        "bolus: waive it"
    )
    assert pump.state.concentration_ng_per_ml == 25 * MG
    waived = refill(0 if how == "empty" else 20_000, 20_000, 10 * MG, confirm=True, waive=True)
    assert nak(ask(pump, waived)) is None


def test_a_bridge_bolus_and_its_waiver_together_are_refused() -> None:
    pump, log = make_pump()
    reply = ask(pump, refill(20_000, 20_000, 20 * MG, 100_000, waive=True))
    assert isinstance(reply, Nak)
    assert (reply.code, reply.detail) == (
        NakCode.INVALID_ARGUMENT,
        "give a bridge bolus or waive it, not both",
    )
    assert pump.state.concentration_ng_per_ml == 25 * MG
    assert not pump.state.boluses
    assert not log.of(EventCode.REFILLED)


BRIDGE_UNCHANGED = "a bridge bolus goes with a concentration change"
BOTH = "give a bridge bolus or waive it, not both"
STOPPED = "would not deliver the bridge bolus"
# (withdrawn µL, added µL, concentration ng/mL, bridge ng, waive) against a pump of 20 mg/mL
# at 1.1 mg/day (55 µL/day): 25 mg/mL needs 44 µL/day, below the IT-20's 48; 5 mg/mL is ÷4.
ORDER_CASES = [
    # The request's own consistency before the pump's state...
    (True, (20_000, 20_000, 20 * MG, 100_000, True), NakCode.INVALID_ARGUMENT, BRIDGE_UNCHANGED),
    (False, (20_000, 20_000, 20 * MG, 100_000, True), NakCode.INVALID_ARGUMENT, BRIDGE_UNCHANGED),
    (True, (20_000, 20_000, 15 * MG, 100_000, True), NakCode.INVALID_ARGUMENT, BOTH),
    (True, (20_000, 20_001, 15 * MG, 100_000, False), NakCode.OVERFILL, ""),
    (True, (20_000, 20_000, 26 * MG, 100_000, False), NakCode.CONCENTRATION_OUT_OF_RANGE, ""),
    # ...and a stopped pump before the hard limits and the confirmations.
    (True, (20_000, 20_000, 15 * MG, 2 * MG, False), NakCode.PUMP_STOPPED, STOPPED),
    (True, (20_000, 20_000, 25 * MG, 100_000, False), NakCode.PUMP_STOPPED, STOPPED),
    (True, (5_000, 20_000, 5 * MG, 100_000, False), NakCode.PUMP_STOPPED, STOPPED),
    (False, (20_000, 20_000, 15 * MG, 2 * MG, False), NakCode.BOLUS_TOO_LARGE, ""),
    (False, (20_000, 20_000, 25 * MG, 100_000, False), NakCode.BELOW_MIN_FLOW, ""),
    (False, (5_000, 20_000, 5 * MG, 100_000, False), NakCode.LARGE_CHANGE_UNCONFIRMED, ""),
]


@pytest.mark.parametrize(("stopped", "request_args", "code", "detail"), ORDER_CASES)
def test_the_new_bridge_rules_sit_where_the_refill_order_says(
    stopped: bool,
    request_args: tuple[int, int, int, int, bool],
    code: NakCode,
    detail: str,
) -> None:
    """docs/simulator.md §3.9: a bridge bolus with an unchanged concentration, then one with
    its waiver (both INVALID_ARGUMENT), BRIDGE_BOLUS_REQUIRED, then PUMP_STOPPED for a bridge
    bolus a stopped pump would not deliver, before BOLUS_TOO_LARGE, BELOW_MIN_FLOW and the
    confirmations; the same requests to a running pump meet the rules after it."""
    pump, _ = make_pump(concentration_ng_per_ml=20 * MG, dose_ng_per_day=1_100_000)
    if stopped:
        ask(pump, StopRequest(request_id=next(_ids)))
    residual, added, concentration, bridge_ng, waive = request_args
    reply = ask(pump, refill(residual, added, concentration, bridge_ng, waive=waive))
    assert isinstance(reply, Nak)
    assert reply.code == code
    assert detail in reply.detail


def test_a_stopped_bridge_bolus_from_an_old_memory_loads_and_counts_nothing() -> None:
    """Firmware before the stopped pump refused a bridge bolus kept one that delivered
    nothing (ended the instant it started). Loaded from such a memory it is harmless: no
    drug, no demand bolus, no share of the 24 h maximum; it goes when 24 h old."""
    pump, _ = make_pump(dose_ng_per_day=19 * MG)
    now = pump.now_ms()
    old = Bolus(now, 1 * MG, HOUR_MS, 7, bridge=True, stopped_ms=now)
    data = json.loads(json.dumps(pump.state.to_json()))
    data["boluses"] = [old.__dict__]
    pump.state = type(pump.state).from_json(data)
    assert pump.state.boluses == [old]
    assert not status(pump).bolus_active
    assert pump.peak_24h_ng(19 * MG) == 19 * MG
    assert nak(ask(pump, bolus(200_000, 600))) is None  # neither a lockout nor a count
    at(pump, HOUR_MS)
    continuous = Fraction(19 * MG * 1_000_000, 25 * MG * 24)
    assert pump.state.reservoir_nl == 20_000_000 - continuous - 8_000  # the demand bolus only
    at(pump, DAY_MS + 1)
    assert old not in pump.state.boluses


# --- the low-reservoir projection ---------------------------------------------------------


def test_the_projection_counts_only_the_boluses_the_daily_maximum_leaves_room_for() -> None:
    pump, _ = make_pump(dose_ng_per_day=19_500_000)
    # Four 0.2 mg boluses would be 20.3 mg/day; the maximum leaves 0.5: 20 mg/day, 800 µL.
    expected = pump.now_ms() + math.ceil(Fraction(17_000 * DAY_MS, 800))
    assert pump.projected_low_reservoir_ms() == expected


@pytest.mark.parametrize("how", ["stopped", "occluded"])
def test_no_projection_while_nothing_is_delivered(how: str) -> None:
    pump, _ = make_pump()
    if how == "stopped":
        ask(pump, StopRequest(request_id=next(_ids)))
    else:
        pump.set_fault("catheter", "occluded")
    assert pump.projected_low_reservoir_ms() == 0


# --- first boot ---------------------------------------------------------------------------


def test_a_pump_filled_below_the_threshold_alarms_at_once() -> None:
    pump, _ = make_pump(volume_ul=2_000)
    assert [a.code for a in status(pump).alarms] == [AlarmCode.LOW_RESERVOIR]
    empty, _ = make_pump(volume_ul=0)
    reply = status(empty)
    assert reply.stop_reason == StopReason.RESERVOIR_EMPTY
    assert {a.code for a in reply.alarms} == {
        AlarmCode.LOW_RESERVOIR,
        AlarmCode.EMPTY_RESERVOIR,
        AlarmCode.PUMP_STOPPED,  # delivery stopped: loudly, like any stop
    }


def test_first_boot_refuses_a_dose_below_the_minimum_flow() -> None:
    with pytest.raises(ValueError, match=r"minimum of 0\.048 mL/day"):
        make_pump(drug="ziconotide", concentration_ng_per_ml=100_000, dose_ng_per_day=1_200)


# --- the drug library ---------------------------------------------------------------------


def test_the_default_start_programs_are_valid_on_both_models() -> None:
    library = default_library()
    assert set(START_DEFAULTS) == set(library.drugs)
    for drug, (concentration, dose) in START_DEFAULTS.items():
        unit = library.limits_for(drug).display_unit
        for model in library.pump_models:
            make_pump(
                drug=drug,
                concentration_ng_per_ml=parse_amount_ng(concentration, unit),
                dose_ng_per_day=parse_amount_ng(dose, unit),
                volume_ul=library.model(model).reservoir_capacity_ul,
                model=model,
            )


def test_the_library_holds_what_its_sources_say() -> None:
    drugs = default_library().drugs
    morphine, ziconotide = drugs["morphine"], drugs["ziconotide"]
    assert morphine.max_dose_ng_per_day == 20 * MG  # Infumorph: caution above 20 mg/day
    assert morphine.max_concentration_ng_per_ml == 25 * MG  # Infumorph 25 mg/mL
    assert ziconotide.max_dose_ng_per_day == 19_200  # Prialt: 19.2 mcg/day
    assert ziconotide.max_step_ng_per_day == 2_400  # Prialt: steps of up to 2.4 mcg/day
    assert (ziconotide.min_concentration_ng_per_ml, ziconotide.max_concentration_ng_per_ml) == (
        25_000,
        100_000,
    )
    # Prialt: increases no more than 2-3 times a week, so no 4 within any 7 days.
    assert 3 * ziconotide.min_increase_interval_s >= 7 * 86_400
    for model, tolerance in (("IT-20", 1_000), ("IT-40", 2_000)):
        assert default_library().model(model).refill_tolerance_ul == tolerance
        assert default_library().model(model).min_flow_nl_per_day == 48_000


def test_the_documented_case_schedule_fits_the_morphine_defaults() -> None:
    pump, log = make_pump()
    for day, old, new in ((3, 1_400_000, 1_600_000), (5, 1_600_000, 1_800_000),
                          (8, 1_800_000, 2_000_000)):  # fmt: skip
        at(pump, day * DAY_MS)
        assert nak(ask(pump, set_rate(new, old))) is None
    assert not log.of(EventCode.REFUSED)


def test_the_simulator_docs_table_matches_the_library() -> None:
    """Every number in drug_library.json appears in docs/simulator.md's defaults table, in
    its row, so the table (with its sources) cannot drift from the data."""
    doc = (ROOT / "docs" / "simulator.md").read_text()
    rows = {
        tuple(cell.strip() for cell in line.strip().strip("|").split("|")[:3])
        for line in doc.splitlines()
        if line.startswith("| `")
    }
    data = json.loads((ROOT / "firmware_sim" / "drug_library.json").read_text())
    wanted = {
        (f"`{name}`", f"`{field}`", f"{value}")
        for section in ("drugs", "pump_models")
        for name, values in data[section].items()
        for field, value in values.items()
    }
    missing = sorted(wanted - rows)
    assert not missing, f"docs/simulator.md lacks rows for: {missing}"


# --- odds and ends ------------------------------------------------------------------------


def test_text_is_clipped_to_255_bytes_on_a_character_boundary() -> None:
    text = "µ" * 200  # 400 bytes
    clipped = clip_text(text)
    assert len(clipped.encode()) <= 255
    assert clipped == "µ" * 127


def test_a_bolus_answer_reports_its_end() -> None:
    pump, _ = make_pump()
    reply = ask(pump, bolus(100_000, 90))
    assert isinstance(reply, BolusResponse)
    assert reply.ends_at_s * 1000 == pump.now_ms() + 90_000
