"""One way to reach a pump, for every face: the CLI, the TUI and the pytest plugin.

The global options (port or built-in simulator, key store, role, trace) mean the same
everywhere because they are turned into a link here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pumpctl.client import PumpClient
from pumpctl.keystore import KeySource, Keystore
from pumpctl.link.errors import LinkError
from pumpctl.link.timing import DEFAULT_BAUD
from pumpctl.link.transactions import Trace
from pumpctl.protocol.session import Role

if TYPE_CHECKING:
    from firmware_sim.simulator import InitialProgram
    from pumpctl.builtin_sim import BuiltinSimulator


@dataclass(frozen=True)
class ConnectOptions:
    port: str | None = None  # a pyserial port or URL; None with ``sim`` for the training pump
    sim: bool = False
    keystore: str | Path | None = None
    role: Role = Role.CLINICIAN
    trace: Trace | None = None
    baud: int = DEFAULT_BAUD  # deadlines and the inter-byte timeout follow it
    training_state: Path | None = None
    frozen_clock: bool = False
    training_program: InitialProgram | None = field(default=None, compare=False)


@dataclass
class Target:
    """Where the link goes: the port, the keys for it, and the training pump if it is one."""

    port: str
    keys: KeySource
    sim: BuiltinSimulator | None = None

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None


def open_target(options: ConnectOptions) -> Target:
    """The port and keys the options name; starts the training pump for ``sim``."""
    if options.sim:
        from pumpctl.builtin_sim import BuiltinSimulator

        sim = BuiltinSimulator(
            options.training_state,
            frozen_clock=options.frozen_clock,
            program=options.training_program,
        )
        return Target(sim.port, sim.keys(), sim)
    if not options.port:
        raise LinkError("no pump port: give --port PORT, set PUMPCTL_PORT, or use --sim")
    return Target(options.port, Keystore(options.keystore))


async def open_client(
    target: Target, options: ConnectOptions, *, blocking: bool = False
) -> PumpClient:
    """An authenticated session on ``target`` in the options' role; ``blocking`` as in
    ``PumpClient.open``."""
    return await PumpClient.open(
        target.port,
        trace=options.trace,
        keys=target.keys,
        role=options.role,
        baud=options.baud,
        blocking=blocking,
    )
