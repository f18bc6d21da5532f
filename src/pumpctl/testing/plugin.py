"""pytest plugin (entry point ``pytest11``): the ``pump`` fixture and its options.

By default each test gets a fresh simulator in this process, on the memory link
(``sim://NAME``): the real simulator, sessions and codec, and the same COBS byte stream both
ways; only the OS pty is left out. With ``--pump-port PORT`` (or ``$PUMPCTL_HIL_PORT``) the
same tests run against real hardware.

Markers say what a test needs beyond a pump to talk to:

- ``needs_simulator``: drives the simulator's controls (time, faults, restarts); skipped on
  real hardware.
- ``needs_pty``: opens the port by path outside this process's link (raw bytes through
  pyserial, a ``pumpctl`` subprocess, a faulty line in between): the simulator is served on
  a pty, in its own process. Real hardware has a port: such tests run there.
- ``needs_process``: kills or freezes the simulator's process, or needs ``pumpsim`` itself:
  the simulator runs in its own process on a pty; skipped on real hardware.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic

import pytest
from typing_extensions import TypeVar

from pumpctl.client import SyncPumpClient
from pumpctl.connection import ConnectOptions, open_target
from pumpctl.keystore import Keystore
from pumpctl.testing.targets import (
    InProcessSimulator,
    SimulatedPump,
    SimulatorProcess,
    hardware_port_from,
)

MARKERS = {
    "needs_simulator": "drives the simulator's control port; skipped on real hardware",
    "needs_pty": "talks to the port outside this process's link (raw bytes, a subprocess, "
    "a faulty line): the simulator is served on a pty in its own process",
    "needs_process": "kills or freezes the simulator's process or runs pumpsim: the "
    "simulator runs in its own process; skipped on real hardware",
}
HARDWARE_SKIP = "needs the simulator's control port; running against real hardware"
PROCESS_SKIP = "needs the simulator's process; running against real hardware"


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
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def needs_own_process(node: pytest.Item) -> bool:
    """Whether the test needs the simulator on a pty in its own process."""
    return any(node.get_closest_marker(name) for name in ("needs_pty", "needs_process"))


def simulator_for(
    node: pytest.Item, extra_args: tuple[str, ...] = (), serial_number: str = "SIM000001"
) -> SimulatedPump:
    """A started simulator for ``node``: in this process, unless the test is marked as
    needing a pty or a process. ``extra_args`` are pumpsim options."""
    kind = SimulatorProcess if needs_own_process(node) else InProcessSimulator
    return kind(extra_args, serial_number).start()


Sim = TypeVar("Sim", bound=SimulatedPump, default=SimulatedPump)


@dataclass
class PumpUnderTest(Generic[Sim]):
    """One test's pump: a connected client, and the simulator's controls when it is one
    (which kind follows the test's markers; ``PumpUnderTest[SimulatorProcess]`` says so)."""

    port: str
    client: SyncPumpClient
    sim: Sim | None
    keys: Keystore

    def reconnect(self) -> SyncPumpClient:
        """Close the client and open a new one (after a restart the port path changes)."""
        self.client.close()
        if self.sim is not None:
            self.port = self.sim.port
        self.client = SyncPumpClient(self.port, keys=self.keys, exclusive=False)
        return self.client


@pytest.fixture
def pump_target(request: pytest.FixtureRequest) -> Iterator[SimulatedPump | str]:
    """The simulator (started fresh for this test), or the hardware port."""
    port = hardware_port_from(request.config.getoption("--pump-port"))
    if port is not None:
        if request.node.get_closest_marker("needs_simulator"):
            pytest.skip(HARDWARE_SKIP)
        if request.node.get_closest_marker("needs_process"):
            pytest.skip(PROCESS_SKIP)
        yield port
        return
    sim = simulator_for(request.node)
    try:
        yield sim
    finally:
        sim.cleanup()


@pytest.fixture
def pump(
    pump_target: SimulatedPump | str, request: pytest.FixtureRequest
) -> Iterator[PumpUnderTest]:
    """A client in an authenticated clinician session with the pump under test. It does not
    lock the port: the test's own ``pumpctl`` runs share the line with it."""
    sim = None if isinstance(pump_target, str) else pump_target
    options = ConnectOptions(
        port=sim.port if sim is not None else str(pump_target),
        keystore=sim.keystore_path
        if sim is not None
        else request.config.getoption("--pump-keystore"),
    )
    target = open_target(options)  # the same factory as the CLI and the TUI
    assert isinstance(target.keys, Keystore)
    under_test = PumpUnderTest(
        target.port,
        SyncPumpClient(target.port, keys=target.keys, exclusive=False),
        sim,
        target.keys,
    )
    try:
        yield under_test
    finally:
        under_test.client.close()


@pytest.fixture
def simulator(pump: PumpUnderTest) -> SimulatedPump:
    """The simulator's controls; skips the test on real hardware."""
    if pump.sim is None:
        pytest.skip(HARDWARE_SKIP)
    return pump.sim
