"""Each benchmark row: what it measures, and the floor or peer it is compared with."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import serial

from benchmarks.lines import echo, forwarder
from benchmarks.stats import Timing
from pumpctl.client import PumpClient
from pumpctl.keystore import Keystore
from pumpctl.link.blocking import complete
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import encode_frame
from pumpctl.protocol.messages import (
    PumpState,
    ReadLimitsRequest,
    StatusRequest,
    StatusResponse,
    StopReason,
)
from pumpctl.testing.targets import InProcessSimulator, SimulatorProcess

if TYPE_CHECKING:
    from firmware_sim.model.pump import Pump

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Row:
    name: str
    timing: Timing
    reference_name: str = ""
    reference: Timing | None = None
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference.median_s == 0:
            return None
        return self.timing.median_s / self.reference.median_s


async def _samples(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def _time_async(call: Callable[[], Awaitable[object]], n: int, warmup: int = 20) -> Timing:
    await _samples(call, warmup)
    return Timing.of(await _samples(call, n))


ROUNDS = 10


def round_trips(n: int) -> list[Row]:
    """STATUS and SET_RATE against a pumpsim process, each round beside a round of the
    floor: a STATUS request's bytes written to an echo process and read back."""
    frame = encode_frame(to_frame(StatusRequest(), 1))
    helper = echo()
    sim = SimulatorProcess().start()
    per_round = max(3, n // ROUNDS)
    try:
        with serial.Serial(helper.paths[0], 115_200, timeout=2) as echo_port:

            def floor_round(count: int) -> list[float]:
                samples = []
                for _ in range(count):
                    start = time.perf_counter()
                    echo_port.write(frame)
                    echo_port.read(len(frame))
                    samples.append(time.perf_counter() - start)
                return samples

            async def measure() -> dict[str, list[list[float]]]:
                rounds: dict[str, list[list[float]]] = {"floor": [], "status": [], "rate": []}
                keys = Keystore(sim.keystore_path)
                async with await PumpClient.open(sim.port, keys=keys) as client:
                    # Decreases of 1 µg/day: always allowed, and 150 fit above the minimum flow.
                    state = {"dose": (await client.status()).dose_ng_per_day}

                    async def step() -> None:
                        await client.set_rate(state["dose"] - 1000, state["dose"])
                        state["dose"] -= 1000

                    floor_round(20)
                    await _samples(client.status, 20)
                    steps = min(14, max(5, per_round // 4))
                    for _ in range(ROUNDS):
                        rounds["floor"].append(floor_round(per_round))
                        rounds["status"].append(await _samples(client.status, per_round))
                        rounds["rate"].append(await _samples(step, steps))
                return rounds

            def measure_blocking() -> dict[str, list[list[float]]]:
                """The same STATUS on a blocking link, as the shell's reads send it."""
                rounds: dict[str, list[list[float]]] = {"floor": [], "status": []}
                keys = Keystore(sim.keystore_path)
                client = complete(PumpClient.open(sim.port, keys=keys, blocking=True))
                try:
                    floor_round(20)
                    complete(_samples(client.status, 20))
                    for _ in range(ROUNDS):
                        rounds["floor"].append(floor_round(per_round))
                        rounds["status"].append(complete(_samples(client.status, per_round)))
                finally:
                    complete(client.close())
                return rounds

            rounds = asyncio.run(measure())
            blocking = measure_blocking()
    finally:
        sim.cleanup()
        helper.close()
    floor = Timing.of_rounds(rounds["floor"])
    status, set_rate = Timing.of_rounds(rounds["status"]), Timing.of_rounds(rounds["rate"])
    return [
        Row("STATUS round trip (pty, pumpsim)", status, "raw pyserial echo", floor, "≤ 2.0× floor"),
        Row(
            "STATUS round trip, blocking link (pty, pumpsim)",
            Timing.of_rounds(blocking["status"]),
            "raw pyserial echo",
            Timing.of_rounds(blocking["floor"]),
            "≤ 2.0× floor",
            "the shell's reads: no event loop",
        ),
        Row("SET_RATE round trip (incl. NV commit)", set_rate, "raw pyserial echo", floor),
    ]


MODBUS_SERVER = """
import asyncio, sys
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartAsyncSerialServer
block = ModbusSequentialDataBlock(1, list(range(100)))
context = ModbusServerContext(devices=ModbusDeviceContext(hr=block), single=True)
asyncio.run(StartAsyncSerialServer(context=context, port=sys.argv[1], baudrate=115200))
"""


def modbus_peer(n: int) -> list[Row]:
    """pymodbus async RTU reading 10 holding registers vs our STATUS, both via a forwarder."""
    try:
        from pymodbus.client import AsyncModbusSerialClient
    except ImportError:
        return []
    link = forwarder()
    server = subprocess.Popen(
        [sys.executable, "-c", MODBUS_SERVER, link.paths[1]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def modbus() -> Timing:
            client = AsyncModbusSerialClient(link.paths[0], baudrate=115_200, timeout=2)
            for _ in range(50):
                if await client.connect():
                    break
                await asyncio.sleep(0.1)

            async def read() -> None:
                reply = await client.read_holding_registers(0, count=10, device_id=1)
                assert not reply.isError()

            try:
                return await _time_async(read, n)
            finally:
                client.close()

        peer = asyncio.run(modbus())
    finally:
        server.kill()
        server.wait()
        link.close()

    link = forwarder()
    sim = SimulatorProcess().start()
    bridge = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bridge", sim.port, link.paths[1]],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:

        async def ours() -> Timing:
            await asyncio.sleep(0.3)
            keys = Keystore(sim.keystore_path)
            async with await PumpClient.open(link.paths[0], keys=keys) as client:
                return await _time_async(client.status, n)

        status = asyncio.run(ours())
    finally:
        bridge.kill()
        bridge.wait()
        sim.cleanup()
        link.close()
    return [
        Row(
            "STATUS via pty forwarder",
            status,
            "pymodbus RTU 10 regs, same forwarder",
            peer,
            "≤ 0.4× pymodbus",
        )
    ]


def cli_status(n: int) -> list[Row]:
    """``pumpctl status`` as a whole process, each run beside a ``python -c pass`` and beside
    a process that only imports pydantic and the wire's message models: the least any read
    built on those models costs."""
    sim = SimulatorProcess().start()
    record = tempfile.TemporaryDirectory()  # never this machine's own clinical record
    # Without bytecode (PYTHONDONTWRITEBYTECODE) every run would time Python's compiler.
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PUMPCTL_PORT": sim.port,
        "PUMPCTL_KEYSTORE": str(sim.keystore_path),
        "PUMPCTL_DB": str(Path(record.name) / "clinical.db"),
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as pumpctl's own process has it
    }

    def timed(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    commands = {
        "status": [str(BIN / "pumpctl"), "status"],
        "models": [sys.executable, "-c", "import pumpctl.protocol.messages"],
        "floor": [sys.executable, "-c", "pass"],
    }
    rounds: dict[str, list[list[float]]] = {name: [] for name in commands}
    try:
        for command in commands.values():
            timed(command)  # bytecode cached, as a user's would be
        for _ in range(n):
            for name, command in commands.items():
                rounds[name].append([timed(command)])
    finally:
        sim.cleanup()
        record.cleanup()
    floor = Timing.of_rounds(rounds["floor"])
    return [
        Row(
            "pumpctl status, whole process",
            Timing.of_rounds(rounds["status"]),
            "python -c pass",
            floor,
            "≤ 2× floor",
            "on a pty, no event loop",
        ),
        Row(
            "pydantic and the wire's models, imported",
            Timing.of_rounds(rounds["models"]),
            "python -c pass",
            floor,
            "",
            "the least a read on those models costs",
        ),
    ]


def simulated_year(n: int) -> list[Row]:
    from firmware_sim.simulator import InitialProgram, Simulator
    from pumpctl.protocol.messages import SetRateRequest

    samples = []
    for run in range(n):
        with tempfile.TemporaryDirectory() as workdir:
            sim = Simulator(Path(workdir) / "p.db", InitialProgram(frozen_clock=True))
            pump = sim.pump
            start = time.perf_counter()
            dose = pump.state.dose_ng_per_day
            for day in range(1, 366):
                pump.advance(86_400_000)
                if day % 7 == 0:
                    new = dose + 10_000 if (day // 7) % 2 else dose - 10_000
                    pump.handle(
                        SetRateRequest(
                            request_id=day, dose_ng_per_day=new, believed_dose_ng_per_day=dose
                        )
                    )
                    dose = new
                _refill_every_60_days(pump, day)
            samples.append(time.perf_counter() - start)
            sim.close()
            del run
    return [
        Row(
            "365 simulated days (weekly steps, refills /60 d)", Timing.of(samples), target="< 50 ms"
        ),
        *simulated_schedule_year(n),
    ]


def _refill_every_60_days(pump: Pump, day: int) -> None:
    from pumpctl.protocol.messages import RefillRequest

    if day % 60 == 0:
        pump.handle(
            RefillRequest(
                request_id=10_000 + day,
                residual_withdrawn_ul=pump.reservoir_ul,
                volume_added_ul=20_000,
                concentration_ng_per_ml=pump.state.concentration_ng_per_ml,
            )
        )


def simulated_schedule_year(n: int) -> list[Row]:
    """A year of a 6-step flexible-dosing schedule, advanced day by day, refilled every 60
    days: the pump integrates the steps exactly."""
    from firmware_sim.simulator import InitialProgram, Simulator
    from pumpctl.protocol.messages import ScheduleStep, SetScheduleRequest

    doses = (1_300_000, 1_400_000, 1_600_000, 1_500_000, 1_400_000, 1_250_000)
    steps = [ScheduleStep(start_min=i * 240, dose_ng_per_day=d) for i, d in enumerate(doses)]
    samples = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as workdir:
            sim = Simulator(Path(workdir) / "p.db", InitialProgram(frozen_clock=True))
            pump = sim.pump
            flat = [ScheduleStep(start_min=0, dose_ng_per_day=pump.state.dose_ng_per_day)]
            start = time.perf_counter()
            pump.handle(SetScheduleRequest(request_id=1, steps=steps, believed_steps=flat))
            assert pump.state.schedule is not None
            for day in range(1, 366):
                pump.advance(86_400_000)
                _refill_every_60_days(pump, day)
            samples.append(time.perf_counter() - start)
            sim.close()
    return [
        Row(
            "365 simulated days of a 6-step schedule (refills /60 d)",
            Timing.of(samples),
            target="< 50 ms",
        )
    ]


def event_log_throughput(events: int = 4096, baud: int = 115_200) -> list[Row]:
    """Read a full event log from a simulator pacing its replies at the line rate."""
    from firmware_sim.simulator import InitialProgram, Simulator
    from pumpctl.protocol.codec import encode_payload
    from pumpctl.protocol.messages import CatheterCheckRequest

    sim = SimulatorProcess(extra_args=("--baud", str(baud)))
    filler = Simulator(sim.state_path, InitialProgram(frozen_clock=True, serial_number="SIM000001"))
    for request_id in range(1, events):
        filler.pump.handle(CatheterCheckRequest(request_id=request_id))
    filler.store.commit(filler.pump.state)
    filler.close()
    sim.start()
    try:

        async def read() -> tuple[float, int, int]:
            keys = Keystore(sim.keystore_path)
            # Deadlines follow the line (pumpctl.link.timing), as `pumpctl --baud` gives them.
            async with await PumpClient.open(sim.port, baud=baud, keys=keys) as client:
                start = time.perf_counter()
                records, _ = await client.read_all_events(0)
                elapsed = time.perf_counter() - start
                payload = sum(len(encode_payload(r)) for r in records)
                return elapsed, payload, len(records)

        elapsed, payload, count = asyncio.run(read())
    finally:
        sim.cleanup()
    line_bytes_per_s = baud / 10
    fraction = payload / elapsed / line_bytes_per_s
    return [
        Row(
            f"Event log read, {count} events at {baud} baud",
            Timing(elapsed, elapsed, 1),
            target="≥ 90% of line rate",
            note=f"{payload / elapsed:,.0f} payload B/s = {fraction:.0%} of the line rate",
        )
    ]


def event_log_across_bauds(
    events_at_2400: int, bauds: tuple[int, ...] = (2_400, 9_600, 115_200)
) -> list[Row]:
    """The event-log read at each of ``bauds``, each log sized to take about the same time
    on its line: ``events_at_2400`` at 2 400 baud, proportionally more on faster lines."""
    return [
        row
        for baud in bauds
        for row in event_log_throughput(max(8, events_at_2400 * baud // 2_400), baud=baud)
    ]


def tui_rows(n: int) -> list[Row]:
    """Start to first dashboard, and key press to the verified new dose on screen."""
    from pumpctl.testing.targets import SimulatorProcess as Sim
    from pumpctl.tui.app import PumpApp

    starts: list[float] = []
    keys: list[float] = []
    inside: list[float] = []  # the app's own clock: confirm handled to verified dose drawn
    for _ in range(n):
        sim = Sim().start()
        with tempfile.TemporaryDirectory() as workdir:

            async def drive(sim: Sim = sim, workdir: str = workdir) -> None:
                started = time.perf_counter()
                os.environ["PUMPCTL_KEYSTORE"] = str(sim.keystore_path)
                app = PumpApp(port=sim.port, record_path=Path(workdir) / "c.db", poll_s=3600)
                async with app.run_test(size=(80, 24)) as pilot:
                    while app.seen is None:
                        await pilot.pause(0.001)
                    starts.append(time.perf_counter() - started)
                    before = app.seen.status.dose_ng_per_day
                    await pilot.press("down")
                    while type(app.screen).__name__ != "ReviewDialog":
                        await pilot.pause(0.001)
                    pressed = time.perf_counter()
                    await pilot.press("y")
                    while app.seen.status.dose_ng_per_day == before:
                        await pilot.pause(0.001)
                    keys.append(time.perf_counter() - pressed)
                    if app.dashboard.last_command_s is not None:
                        inside.append(app.dashboard.last_command_s)

            asyncio.run(drive())
        sim.cleanup()
    return [
        Row("TUI start to first dashboard (Pilot)", Timing.of(starts), target="< 600 ms"),
        Row(
            "TUI key to verified dose on screen (Pilot)",
            Timing.of(keys),
            target="< 100 ms",
            note="includes Pilot's waits for the screen to settle",
        ),
        Row(
            "TUI confirm to verified dose drawn (app clock)",
            Timing.of(inside),
            target="< 100 ms",
            note="send, read back, record, redraw",
        ),
    ]


def authenticated_session(n: int) -> list[Row]:
    """What authentication costs: the handshake's time, and round trips added to a CLI read."""
    sim = SimulatorProcess().start()
    keys = Keystore(sim.keystore_path)
    try:

        async def measure() -> tuple[Timing, Timing, int, int]:
            async with await PumpClient.open(sim.port, keys=keys) as client:
                handshake = await _time_async(lambda: client.open_session(keys), n)
                identify = await _time_async(client.identify, n)
            counts = []
            for with_keys in (True, False):
                frames: list[str] = []

                def trace(
                    direction: str, frame: object, message: object, frames: list[str] = frames
                ) -> None:
                    if direction == "tx":
                        frames.append(direction)

                client = await PumpClient.open(
                    sim.port, keys=keys if with_keys else None, trace=trace
                )
                from pumpctl.programmer import Programmer

                if with_keys:
                    await Programmer(client).interrogate()
                else:  # what the same interrogation took before sessions existed
                    await client.identify()
                    await client.transactions.request(StatusRequest())
                    await client.transactions.request(ReadLimitsRequest())
                counts.append(len(frames))
                await client.close()
            return handshake, identify, counts[0], counts[1]

        handshake, identify, with_auth, without = asyncio.run(measure())
    finally:
        sim.cleanup()
    sealed, clear = _sealing_cost(n)
    return [
        Row(
            "Session handshake (SESSION_OPEN)",
            handshake,
            "IDENTIFY it replaces",
            identify,
            "< 1 extra round trip",
            f"interrogation: {with_auth} round trips with a session, {without} without "
            f"(+{with_auth - without})",
        ),
        Row(
            "STATUS answer sealed, framed, unframed, opened",
            sealed,
            "the same unsealed",
            clear,
            "",
            "ChaCha20-Poly1305 both ends; frame sizes unchanged",
        ),
    ]


def _sealing_cost(n: int) -> tuple[Timing, Timing]:
    """One STATUS answer through both ends' frame work, sealed (encrypted and opened) and
    in clear: what encryption adds to each frame."""
    from pumpctl.protocol.codec import from_frame
    from pumpctl.protocol.frames import decode_body
    from pumpctl.protocol.session import Direction, Role, SessionKeys

    answer = to_frame(
        StatusResponse(
            state=PumpState.RUNNING,
            stop_reason=StopReason.NONE,
            dose_ng_per_day=1_400_000,
            flow_nl_per_day=56_000,
            reservoir_ul=20_000,
            battery_pct=100,
            pump_time_s=1_767_225_600,
            last_rate_change_s=1_767_225_600,
            low_reservoir_projected_s=1_781_049_600,
            bolus_active=False,
            alarms=[],
        ),
        1,
    )
    pump = SessionKeys(1, bytes(32), Role.CLINICIAN)
    programmer = SessionKeys(1, bytes(32), Role.CLINICIAN)

    def sealed() -> None:
        wire = encode_frame(pump.seal(answer, Direction.TO_PROGRAMMER))
        frame = programmer.open(decode_body(wire[:-1]), Direction.TO_PROGRAMMER)
        from_frame(frame)

    def clear() -> None:
        from_frame(decode_body(encode_frame(answer)[:-1]))

    def timed(call: Callable[[], None]) -> list[float]:
        samples = []
        for _ in range(n * 10):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        return samples

    timed(sealed)  # warm up
    timed(clear)
    return Timing.of(timed(sealed)), Timing.of(timed(clear))


def hil_setup(n: int) -> list[Row]:
    """What the ``pump`` fixture costs a test: a fresh simulator and an authenticated
    session, then both closed; in this process on the memory link, and in its own process
    on a pty, alternating round by round so both see the same machine."""
    from pumpctl.client import SyncPumpClient

    setups: dict[type, list[float]] = {InProcessSimulator: [], SimulatorProcess: []}
    teardowns: dict[type, list[float]] = {InProcessSimulator: [], SimulatorProcess: []}
    for _ in range(n):
        for kind in (InProcessSimulator, SimulatorProcess):
            start = time.perf_counter()
            sim = kind().start()
            client = SyncPumpClient(sim.port, keys=Keystore(sim.keystore_path))
            ready = time.perf_counter()
            client.close()
            sim.cleanup()
            setups[kind].append(ready - start)
            teardowns[kind].append(time.perf_counter() - ready)
    memory = Timing.of(setups[InProcessSimulator])
    pty = Timing.of(setups[SimulatorProcess])
    return [
        Row(
            "HIL pump setup, simulator on the memory link",
            memory,
            "simulator process on a pty",
            pty,
            "≤ 25 ms",
            "start, pair, open a session",
        ),
        Row(
            "HIL pump teardown, simulator on the memory link",
            Timing.of(teardowns[InProcessSimulator]),
            "simulator process on a pty",
            Timing.of(teardowns[SimulatorProcess]),
            note="close the session, stop, remove its NV memory",
        ),
    ]


def record_rows(sizes: tuple[int, ...], n: int) -> list[Row]:
    from benchmarks.record import record_scaling

    return [
        Row(name, timing, reference_name, reference, "≤ 1 s at 100k, flat per 10k", note)
        for name, timing, reference_name, reference, note in record_scaling(sizes, n)
    ]
