"""Power cuts: SIGKILL the simulator at random instants of a scripted session, restart it
from its state file, and find the same pump — no committed event lost or changed, and the
reservoir, dose, clock and limits exactly what the answered commands imply.

The test keeps its own exact model of the pump, fed only by answers: a command whose answer
the cut swallowed is resolved from the pump's event log after the restart (as a programmer
must), a debug-port advance from the pump's clock. ``PUMPSIM_POWER_CUTS`` and
``PUMPSIM_POWER_CUT_SEED`` choose how many cuts and where (the session is seeded, the instant
of each cut is a seeded delay into it).
"""

from __future__ import annotations

import math
import os
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from pumpctl.client import Resolution, SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.link.errors import PumpError, PumpRefused
from pumpctl.protocol.messages import EventCode, EventRecord, NakCode, PumpState
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import DAY_MS, MINUTE_MS

CUTS = int(os.environ.get("PUMPSIM_POWER_CUTS", "10"))
SEED = int(os.environ.get("PUMPSIM_POWER_CUT_SEED", "20260101"))
LATEST_CUT_S = 0.12  # each cut lands at a random instant this far into its session
DEADLINE_S = 0.15  # a dead pump is noticed after one short deadline, not three long ones


@dataclass
class Expected:
    """The pump as the answers so far imply it: exact, in the pump's own units."""

    dose_ng_per_day: int
    concentration_ng_per_ml: int
    reservoir_nl: Fraction
    time_ms: int
    running: bool = True
    boluses: list[tuple[int, int, Fraction]] = field(default_factory=list)  # [from, to) ng/ms

    def advance(self, ms: int) -> None:
        start, end = self.time_ms, self.time_ms + ms
        if self.running:
            used_ng = Fraction(self.dose_ng_per_day * ms, DAY_MS)
            for since, until, rate in self.boluses:
                used_ng += rate * max(0, min(until, end) - max(since, start))
            self.reservoir_nl -= used_ng * 1_000_000 / self.concentration_ng_per_ml
        self.time_ms = end

    def start_bolus(self, dose_ng: int, duration_ms: int) -> None:
        now = self.time_ms
        self.boluses.append((now, now + duration_ms, Fraction(dose_ng, duration_ms)))

    def stop(self) -> None:
        """A stop ends the boluses being delivered where they are."""
        self.running = False
        now = self.time_ms
        self.boluses = [(since, min(until, now), rate) for since, until, rate in self.boluses]

    @property
    def bolus_active(self) -> bool:
        return self.running and any(s <= self.time_ms < u for s, u, _ in self.boluses)


@dataclass
class Step:
    """One step of the session: ``run`` talks to the pump, ``apply`` is its effect once it
    is known to have happened. ``request_id`` is set for commands, ``advance_ms`` for time."""

    name: str
    run: Callable[[], object]
    apply: Callable[[], None]
    request_id: int = 0
    advance_ms: int = 0


class Session:
    def __init__(self, sim: SimulatorProcess, expected: Expected, rng: random.Random) -> None:
        self.sim = sim
        self.expected = expected
        self.rng = rng
        self.client = self.connect()
        self.seen: dict[int, EventRecord] = {}
        self.answered: set[int] = set()

    def connect(self) -> SyncPumpClient:
        keys = Keystore(self.sim.keystore_path)
        return SyncPumpClient(self.sim.port, deadline_s=DEADLINE_S, retries=0, keys=keys)

    def next_step(self) -> Step:
        rng, exp = self.rng, self.expected
        request_id = rng.getrandbits(63) | 1
        kind = rng.choice(
            ["status", "events", "advance", "advance", "set_rate", "bolus", "stop", "resume",
             "check", "refill"]
        )  # fmt: skip
        if kind == "advance":
            ms = rng.choice([1, 7, 30, 90, 240, 600]) * MINUTE_MS
            return Step(kind, lambda: self.sim.advance(ms), lambda: exp.advance(ms), 0, ms)
        if kind == "set_rate":
            new = rng.randrange(1_200_000, 1_700_001, 25_000)
            believed = exp.dose_ng_per_day

            def set_dose() -> None:
                exp.dose_ng_per_day = new

            run: Callable[[], object] = lambda: self.client.set_rate(  # noqa: E731
                new, believed, request_id=request_id
            )
            return Step(kind, run, set_dose, request_id)
        if kind == "bolus":
            dose_ng, duration_s = 25_000, rng.choice([60, 600, 1800])
            run = lambda: self.client.bolus(dose_ng, duration_s, request_id=request_id)  # noqa: E731
            apply = lambda: exp.start_bolus(dose_ng, duration_s * 1000)  # noqa: E731
            return Step(kind, run, apply, request_id)
        if kind == "stop":
            return Step(kind, lambda: self.client.stop(request_id=request_id), exp.stop, request_id)
        if kind == "resume":

            def resume() -> None:
                exp.running = True

            return Step(kind, lambda: self.client.resume(request_id=request_id), resume, request_id)
        if kind == "check":
            return Step(
                kind, lambda: self.client.catheter_check(request_id=request_id), lambda: None,
                request_id,
            )  # fmt: skip
        if kind == "refill":
            residual = math.floor(exp.reservoir_nl / 1000)
            concentration = exp.concentration_ng_per_ml

            def refilled() -> None:
                exp.reservoir_nl = Fraction(20_000_000)

            run = lambda: self.client.refill(  # noqa: E731
                residual, 20_000, concentration, request_id=request_id
            )
            return Step(kind, run, refilled, request_id)
        if kind == "events":
            return Step(kind, self.read_tail, lambda: None)
        return Step(kind, self.client.status, lambda: None)

    def read_tail(self) -> None:
        end = self.client.read_events(0xFFFF_FFFF, 1).next_index
        for record in self.client.read_events(max(0, end - 6), 6).events:
            self.seen[record.index] = record

    def until_the_cut(self) -> Step:
        """Run steps until the pump stops answering; the step in flight then."""
        while True:
            step = self.next_step()
            try:
                step.run()
            except PumpRefused as refusal:
                if refusal.code == NakCode.STALE_DOSE:
                    pytest.fail(f"the test lost track of the dose: {refusal}")
                self.answered.add(step.request_id)
                continue
            except (PumpError, OSError, ConnectionError):
                return step
            step.apply()
            if step.request_id:
                self.answered.add(step.request_id)

    def settle(self, in_flight: Step) -> str:
        """After the restart: did the step the cut interrupted happen? Says what it was."""
        if in_flight.request_id:
            outcome = self.client.resolve(in_flight.request_id)
            if outcome.resolution is Resolution.APPLIED:
                in_flight.apply()
            if outcome.resolution is not Resolution.NOT_EXECUTED:
                self.answered.add(in_flight.request_id)
            return f"{in_flight.name} {outcome.resolution.value}"
        if in_flight.advance_ms:
            pump_ms = self.client.status().pump_time_s * 1000
            if pump_ms == self.expected.time_ms + in_flight.advance_ms:
                in_flight.apply()
                return "advance applied"
            return "advance not executed"
        return in_flight.name


@pytest.mark.needs_simulator
@pytest.mark.needs_process
def test_power_cuts_at_random_instants_lose_nothing(make_pump: MakePump) -> None:
    # A ring with room for every event of the run (~50 a cut), so "no event lost" is exact:
    # with the default 4 096 a run of more than ~80 cuts wraps it.
    pump = make_pump("--event-capacity", str(max(4096, 200 * CUTS)))
    simulator = pump.sim
    assert simulator is not None
    identity = pump.client.identify()
    limits = pump.client.read_limits()
    status = pump.client.status()
    pump.client.close()
    expected = Expected(
        dose_ng_per_day=status.dose_ng_per_day,
        concentration_ng_per_ml=identity.concentration_ng_per_ml,
        reservoir_nl=Fraction(status.reservoir_ul * 1000),
        time_ms=status.pump_time_s * 1000,
    )
    rng = random.Random(SEED)
    session = Session(simulator, expected, rng)
    interrupted: Counter[str] = Counter()
    for cut in range(CUTS):
        where = f"seed {SEED}, cut {cut}"
        assert simulator.process is not None
        killer = threading.Timer(
            rng.uniform(0, LATEST_CUT_S), os.kill, (simulator.process.pid, signal.SIGKILL)
        )
        killer.start()
        try:
            in_flight = session.until_the_cut()
        finally:
            killer.join()
        session.client.close()
        simulator.kill()  # reap the killed process
        simulator.start()
        session.client = session.connect()
        interrupted[session.settle(in_flight)] += 1

        client = session.client
        status = client.status()
        assert status.pump_time_s * 1000 == expected.time_ms, where
        assert status.dose_ng_per_day == expected.dose_ng_per_day, where
        assert status.reservoir_ul == math.floor(expected.reservoir_nl / 1000), where
        assert (status.state == PumpState.RUNNING) == expected.running, where
        assert status.bolus_active == expected.bolus_active, where
        assert client.read_limits() == limits, where
        assert client.identify() == identity, where

        events, _ = client.read_all_events()
        assert [e.index for e in events] == list(range(len(events))), where
        for index, record in session.seen.items():
            assert events[index] == record, f"{where}: event {index} changed or lost"
        logged_ids = {e.request_id for e in events}
        assert session.answered <= logged_ids, where
        boots = [e for e in events if e.code == EventCode.BOOT]
        assert len(boots) == cut + 2, where
        assert boots[-1].detail.startswith("restart"), where
        assert boots[-1].index > max(session.seen, default=-1), where
        assert boots[-1].time_s * 1000 == expected.time_ms, where
        session.seen.update((e.index, e) for e in events)
    session.client.close()
    print(f"what the cuts interrupted: {dict(interrupted)}")
    commands = {"set_rate", "bolus", "stop", "resume", "check", "refill"}
    on_commands = sum(n for what, n in interrupted.items() if what.split()[0] in commands)
    assert on_commands, interrupted  # the cuts did land on commands, not only on reads
