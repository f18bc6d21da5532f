"""The pytest plugin (entry point ``pytest11``) as its users meet it: an inner pytest run.

By default the ``pump`` fixture is a fresh simulator in this process on the memory link
(``sim://``); tests marked ``needs_pty`` or ``needs_process`` get one in its own process on a
pty; with ``--pump-port`` or ``$PUMPCTL_HIL_PORT`` it is that port, and the simulator-only
tests skip. Then the memory link itself: the same bytes as on the wire, delivered from the
event loop, and the same answers as the simulator on a pty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from pumpctl.client import PumpClient, Resolution, SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.link.errors import LinkError, NoResponse, OutcomeUncertain
from pumpctl.link.lines import open_link
from pumpctl.link.memory import MemoryLink, register, unregister
from pumpctl.link.transport import SerialLink
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import Frame, encode_frame
from pumpctl.protocol.messages import (
    BolusRequest,
    EventCode,
    IdentifyRequest,
    IdentifyResponse,
    SetRateRequest,
    StatusRequest,
)
from pumpctl.testing.targets import InProcessSimulator, SimulatedPump, SimulatorProcess

pytest_plugins = ["pytester"]

HARDWARE_SERIAL = "SIM000777"  # not the fixture's SIM000001: proves which pump answered

INNER_DEFAULT = """
def test_pump_is_a_fresh_simulator(pump):
    assert pump.sim is not None
    assert pump.port == pump.sim.port
    assert pump.client.identify().serial_number == "SIM000001"
    assert pump.client.status().dose_ng_per_day == 1_400_000


def test_simulator_advances_time(simulator):
    before = simulator.state()["pump_time_ms"]
    after = simulator.advance(3_600_000)["pump_time_ms"]
    assert after - before == 3_600_000
"""

INNER_HARDWARE = """
import pytest


def test_pump_is_the_given_port(pump):
    assert pump.sim is None
    assert pump.port == {port!r}
    assert pump.client.identify().serial_number == {serial!r}
    assert pump.client.status().dose_ng_per_day == 1_400_000


@pytest.mark.needs_simulator
def test_marked_needs_simulator(pump):
    raise AssertionError("must be skipped on hardware")


def test_uses_simulator_fixture(simulator):
    raise AssertionError("must be skipped on hardware")
"""


@pytest.fixture
def hardware() -> Iterator[SimulatorProcess]:
    """A simulator standing in for a real pump on a port the plugin is given."""
    sim = SimulatorProcess(serial_number=HARDWARE_SERIAL).start()
    try:
        yield sim
    finally:
        sim.cleanup()


@pytest.fixture(autouse=True)
def no_inherited_hil_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUMPCTL_HIL_PORT", raising=False)


def assert_skipped_for_hardware(result: pytest.RunResult) -> None:
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skips) == 2, result.outlines
    for line in skips:
        assert "hardware" in line, line


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner test session in this process (the snapshot plugin's session hooks stay out:
    they expect a session of their own)."""
    return pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:textual-snapshot", "--strict-markers", *args
    )


def run_on_hardware(pytester: pytest.Pytester, hardware: SimulatorProcess) -> pytest.RunResult:
    """The inner tests run with ``--pump-port``, as on a bench with a real pump."""
    return run_inner(
        pytester,
        "-rs",
        "--pump-port",
        hardware.port,
        "--pump-keystore",
        str(hardware.keystore_path),
    )


def test_default_run_uses_the_simulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_DEFAULT)
    result = run_inner(pytester)
    result.assert_outcomes(passed=2)


def test_pump_port_option_targets_that_port(
    pytester: pytest.Pytester, hardware: SimulatorProcess
) -> None:
    pytester.makepyfile(INNER_HARDWARE.format(port=hardware.port, serial=HARDWARE_SERIAL))
    result = run_on_hardware(pytester, hardware)
    result.assert_outcomes(passed=1, skipped=2)
    assert_skipped_for_hardware(result)


def test_hil_port_environment_targets_that_port(
    pytester: pytest.Pytester, hardware: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUMPCTL_HIL_PORT", hardware.port)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(hardware.keystore_path))
    pytester.makepyfile(INNER_HARDWARE.format(port=hardware.port, serial=HARDWARE_SERIAL))
    result = run_inner(pytester, "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    assert_skipped_for_hardware(result)


INNER_MARKERS = """
import pytest

from pumpctl.testing.targets import InProcessSimulator, SimulatorProcess


def test_unmarked_gets_the_memory_link(pump):
    assert isinstance(pump.sim, InProcessSimulator)
    assert pump.port.startswith("sim://")
    assert pump.sim.process is None
    assert pump.client.identify().serial_number == "SIM000001"


@pytest.mark.needs_pty
def test_needs_pty_gets_a_pty(pump):
    assert isinstance(pump.sim, SimulatorProcess)
    assert pump.port.startswith("/dev/")
    assert pump.client.identify().serial_number == "SIM000001"


@pytest.mark.needs_process
def test_needs_process_gets_a_process(simulator):
    assert isinstance(simulator, SimulatorProcess)
    assert simulator.process is not None
    assert simulator.process.poll() is None
"""

INNER_HARDWARE_MARKERS = """
import pytest


@pytest.mark.needs_pty
def test_needs_pty_runs_on_the_given_port(pump):
    assert pump.sim is None
    assert pump.port == {port!r}
    assert pump.client.identify().serial_number == {serial!r}


@pytest.mark.needs_process
def test_needs_process_is_skipped(pump):
    raise AssertionError("must be skipped on hardware")
"""


def test_markers_choose_the_memory_link_or_a_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_MARKERS)
    result = run_inner(pytester)
    result.assert_outcomes(passed=3)


def test_on_hardware_needs_pty_runs_and_needs_process_skips(
    pytester: pytest.Pytester, hardware: SimulatorProcess
) -> None:
    pytester.makepyfile(INNER_HARDWARE_MARKERS.format(port=hardware.port, serial=HARDWARE_SERIAL))
    result = run_on_hardware(pytester, hardware)
    result.assert_outcomes(passed=1, skipped=1)
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skips) == 1, result.outlines
    assert "hardware" in skips[0], result.outlines


class EchoPump:
    """A pump end that records what it is fed and answers with fixed bytes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.received: list[bytes] = []

    def receive(self, data: bytes) -> bytes:
        self.received.append(data)
        return self.reply


def test_memory_link_carries_cobs_bytes_and_delivers_from_the_event_loop() -> None:
    request = encode_frame(to_frame(IdentifyRequest(), 7))
    answer = IdentifyResponse(
        serial_number="SIM000042",
        model="IT-20",
        firmware_version="SIM-1.0.0",
        drug="morphine",
        concentration_ng_per_ml=25_000_000,
        reservoir_capacity_ul=20_000,
    )
    reply_frame = to_frame(answer, 7)
    reply = encode_frame(reply_frame)
    pump = EchoPump(reply)
    line = register(pump)

    async def exchange() -> tuple[list[Frame], list[bytes], list[Frame]]:
        frames: list[Frame] = []
        seen: list[bytes] = []
        arrived = asyncio.get_running_loop().create_future()

        def on_frame(frame: Frame) -> None:
            frames.append(frame)
            if not arrived.done():
                arrived.set_result(None)

        link = await open_link(line.url, on_frame, seen.append)
        assert isinstance(link, MemoryLink)
        link.write(request)
        during_write = list(frames)  # nothing is delivered inside write
        assert pump.received == []  # nor fed to the pump
        await arrived
        await link.close()
        assert link.is_closed
        return during_write, seen, frames

    try:
        during_write, seen, frames = asyncio.run(exchange())
    finally:
        unregister(line)
    assert during_write == []
    assert pump.received == [request]  # the COBS-framed bytes, as on the wire
    assert b"".join(seen) == reply  # and the reply's bytes through the programmer's decoder
    assert frames == [reply_frame]


def test_an_unknown_simulator_name_cannot_be_opened() -> None:
    async def open_missing() -> None:
        await open_link("sim://nobody-here", lambda frame: None)

    with pytest.raises(LinkError, match="cannot open port sim://nobody-here"):
        asyncio.run(open_missing())


def test_other_urls_keep_pyserial() -> None:
    async def open_loop() -> type:
        link = await open_link("loop://", lambda frame: None)
        await link.close()
        return type(link)

    assert asyncio.run(open_loop()) is SerialLink


def test_a_stopped_simulator_hangs_up_its_links() -> None:
    sim = InProcessSimulator().start()
    try:
        client = SyncPumpClient(sim.port, keys=Keystore(sim.keystore_path))
        assert client.status().dose_ng_per_day == 1_400_000
        port = sim.port
        assert sim.restart() != port  # a new line, as a restarted pumpsim's new pty
        with pytest.raises(LinkError, match="closed"):
            client.status()
        client.close()
        with pytest.raises(LinkError, match="cannot open port"):
            SyncPumpClient(port)
        with SyncPumpClient(sim.port, keys=Keystore(sim.keystore_path)) as again:
            assert again.status().dose_ng_per_day == 1_400_000
    finally:
        sim.cleanup()


def test_a_frozen_in_process_pump_answers_late_and_the_outcome_is_resolved() -> None:
    """As with a stopped process: the command waits, the client calls it uncertain, and
    once the pump runs again the event log shows it applied once."""
    sim = InProcessSimulator().start()
    try:
        client = SyncPumpClient(
            sim.port, keys=Keystore(sim.keystore_path), deadline_s=0.05, retries=1
        )
        current = client.status().dose_ng_per_day
        with sim.frozen():
            with pytest.raises(NoResponse):
                client.status()
            with pytest.raises(OutcomeUncertain) as uncertain:
                client.set_rate(current - 100_000, current)
        outcome = client.resolve(uncertain.value.request_id)
        assert outcome.resolution is Resolution.APPLIED
        assert client.status().dose_ng_per_day == current - 100_000
        client.close()
    finally:
        sim.cleanup()


Events = list[tuple[int, int, int, str]]


def test_a_command_waiting_in_a_frozen_pump_runs_after_its_programmer_left() -> None:
    """The bytes reached the pump's line: it executes them when it runs again, answered or
    not, as a stopped process does with what waits in its pty."""
    sim = InProcessSimulator().start()
    try:
        keys = Keystore(sim.keystore_path)
        with SyncPumpClient(sim.port, keys=keys, deadline_s=0.05, retries=0) as client:
            current = client.status().dose_ng_per_day
            with sim.frozen():
                with pytest.raises(OutcomeUncertain) as uncertain:
                    client.set_rate(current - 100_000, current)
                client.close()
        with SyncPumpClient(sim.port, keys=keys) as client:
            outcome = client.resolve(uncertain.value.request_id)
            assert outcome.resolution is Resolution.APPLIED
            assert client.status().dose_ng_per_day == current - 100_000
    finally:
        sim.cleanup()


def test_an_in_process_simulator_serves_its_debug_port_on_demand() -> None:
    """``pumpsim ctl --control`` reaches it as it reaches a process, across a restart."""
    sim = InProcessSimulator().start()
    try:
        before = sim.state()["pump_time_ms"]
        assert sim.control.advance(60_000)["state"]["pump_time_ms"] == before + 60_000
        sim.restart()
        assert sim.control.state()["pump_time_ms"] == sim.state()["pump_time_ms"]
        assert sim.state()["pump_time_ms"] >= before + 60_000
    finally:
        sim.cleanup()


def script(sim: SimulatedPump) -> tuple[list[object], Events]:
    """The same requests, fixed request ids, a frozen clock: the answers must not depend on
    the link the simulator is served on."""

    async def run() -> tuple[list[object], Events]:
        answers: list[object] = []
        async with await PumpClient.open(sim.port, keys=Keystore(sim.keystore_path)) as client:
            answers.append(await client.identify())
            answers.append(await client.transactions.request(StatusRequest()))
            dose = (await client.status()).dose_ng_per_day
            rate = SetRateRequest(
                request_id=11, dose_ng_per_day=dose - 100_000, believed_dose_ng_per_day=dose
            )
            answers.append(await client.send(rate))
            answers.append(await client.send(rate))  # the recorded outcome
            answers.append(await client.send(BolusRequest(request_id=12, dose_ng=10, duration_s=0)))
            answers.append(
                await client.send(BolusRequest(request_id=13, dose_ng=50_000, duration_s=600))
            )
            answers.append(await client.resolve(13))
            events, _ = await client.read_all_events()
        sim.advance(3_600_000)
        async with await PumpClient.open(sim.port, keys=Keystore(sim.keystore_path)) as client:
            answers.append(await client.transactions.request(StatusRequest()))
        own = str(Keystore(sim.keystore_path).own_programmer_id())  # drawn at random
        return answers, [
            (e.index, e.code, e.request_id, e.detail.replace(own, "<this programmer>"))
            for e in events
        ]

    return asyncio.run(run())


def test_the_memory_link_and_the_pty_give_the_same_answers() -> None:
    answers: list[tuple[list[object], Events]] = []
    for kind in (InProcessSimulator, SimulatorProcess):
        sim = kind().start()
        try:
            answers.append(script(sim))
        finally:
            sim.cleanup()
    (in_process, in_process_events), (on_pty, on_pty_events) = answers
    assert in_process == on_pty
    assert in_process_events == on_pty_events
    assert any(code == EventCode.BOLUS_STARTED for _, code, _, _ in in_process_events)
