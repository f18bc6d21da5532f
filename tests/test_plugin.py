"""The pytest plugin (entry point ``pytest11``) as its users meet it: an inner pytest run.

By default the ``pump`` fixture is a fresh simulator; with ``--pump-port`` or
``$PUMPCTL_HIL_PORT`` it is that port, and the simulator-only tests skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pumpctl.testing.targets import SimulatorProcess

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


def test_default_run_uses_the_simulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_DEFAULT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_pump_port_option_targets_that_port(
    pytester: pytest.Pytester, hardware: SimulatorProcess
) -> None:
    pytester.makepyfile(INNER_HARDWARE.format(port=hardware.port, serial=HARDWARE_SERIAL))
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--strict-markers",
        "-rs",
        "--pump-port",
        hardware.port,
        "--pump-keystore",
        str(hardware.keystore_path),
    )
    result.assert_outcomes(passed=1, skipped=2)
    assert_skipped_for_hardware(result)


def test_hil_port_environment_targets_that_port(
    pytester: pytest.Pytester, hardware: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUMPCTL_HIL_PORT", hardware.port)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(hardware.keystore_path))
    pytester.makepyfile(INNER_HARDWARE.format(port=hardware.port, serial=HARDWARE_SERIAL))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    assert_skipped_for_hardware(result)
