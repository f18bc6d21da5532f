"""Pumps programmed otherwise than the plugin's default one (another drug, dose, volume or
model), for rules only such a pump can show. Simulator only: they skip on real hardware."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore
from pumpctl.testing.plugin import PumpUnderTest, simulator_for
from pumpctl.testing.targets import hardware_port_from

# Which simulator make_pump starts follows the test's markers, which no type can see.
MakePump = Callable[..., PumpUnderTest[Any]]


@pytest.fixture
def make_pump(request: pytest.FixtureRequest) -> Iterator[MakePump]:
    """``make_pump("--drug", "ziconotide", "--concentration", "25", ...)``: a fresh simulator
    started with these pumpsim options (frozen clock from 2026-01-01, serial SIM000001), in
    this process unless the test is marked ``needs_pty`` or ``needs_process``."""
    if hardware_port_from(request.config.getoption("--pump-port")) is not None:
        pytest.skip("needs a simulator programmed for this test; running against real hardware")
    made: list[PumpUnderTest] = []

    def make(*args: str) -> PumpUnderTest:
        sim = simulator_for(request.node, args)
        try:
            keys = Keystore(sim.keystore_path)
            under_test = PumpUnderTest(sim.port, SyncPumpClient(sim.port, keys=keys), sim, keys)
        except BaseException:
            sim.cleanup()
            raise
        made.append(under_test)
        return under_test

    yield make
    for under_test in made:
        with contextlib.suppress(Exception):
            under_test.client.close()
        assert under_test.sim is not None
        under_test.sim.cleanup()
