"""pytest plugin (entry point ``pytest11``): the ``pump`` fixture and its options.

By default each test gets a fresh simulator in its own process on a pty. With
``--pump-port PORT`` (or ``$PUMPCTL_HIL_PORT``) the same tests run against real hardware;
tests marked ``needs_simulator`` (they drive time, faults or restarts) skip there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.connection import ConnectOptions, open_target
from pumpctl.keystore import Keystore
from pumpctl.testing.targets import SimulatorProcess, hardware_port_from


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pumpctl", "pump HIL target")
    group.addoption(
        "--pump-port",
        default=None,
        help="run HIL tests against a real pump on this port (default: the simulator; "
        "also $PUMPCTL_HIL_PORT)",
    )
    group.addoption(
        "--pump-keystore",
        default=None,
        help="the key store paired with the real pump (default: $PUMPCTL_KEYSTORE or the "
        "programmer's own)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_simulator: drives the simulator's control port; skipped on real hardware",
    )


@dataclass
class PumpUnderTest:
    """One test's pump: a connected client, and the simulator's controls when it is one."""

    port: str
    client: SyncPumpClient
    sim: SimulatorProcess | None
    keys: Keystore

    def reconnect(self) -> SyncPumpClient:
        """Close the client and open a new one (after a restart the port path changes)."""
        self.client.close()
        if self.sim is not None:
            self.port = self.sim.port
        self.client = SyncPumpClient(self.port, keys=self.keys)
        return self.client


@pytest.fixture
def pump_target(request: pytest.FixtureRequest) -> Iterator[SimulatorProcess | str]:
    """The simulator process (started fresh for this test), or the hardware port."""
    port = hardware_port_from(request.config.getoption("--pump-port"))
    if port is not None:
        if request.node.get_closest_marker("needs_simulator"):
            pytest.skip("needs the simulator's control port; running against real hardware")
        yield port
        return
    sim = SimulatorProcess().start()
    try:
        yield sim
    finally:
        sim.cleanup()


@pytest.fixture
def pump(
    pump_target: SimulatorProcess | str, request: pytest.FixtureRequest
) -> Iterator[PumpUnderTest]:
    """A client in an authenticated clinician session with the pump under test."""
    sim = pump_target if isinstance(pump_target, SimulatorProcess) else None
    options = ConnectOptions(
        port=sim.port if sim is not None else str(pump_target),
        keystore=sim.keystore_path
        if sim is not None
        else request.config.getoption("--pump-keystore"),
    )
    target = open_target(options)  # the same factory as the CLI and the TUI
    assert isinstance(target.keys, Keystore)
    under_test = PumpUnderTest(
        target.port, SyncPumpClient(target.port, keys=target.keys), sim, target.keys
    )
    try:
        yield under_test
    finally:
        under_test.client.close()


@pytest.fixture
def simulator(pump: PumpUnderTest) -> SimulatorProcess:
    """The simulator's controls; skips the test on real hardware."""
    if pump.sim is None:
        pytest.skip("needs the simulator's control port; running against real hardware")
    return pump.sim
