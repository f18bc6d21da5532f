"""The built-in simulator: a training pump in this process, on the memory link
(``sim://training-N``): the same simulator, sessions and COBS frames as on a serial line,
with no pty or termios needed.

Its non-volatile memory lives in the user's data directory, so a training course carries
on between runs until it is reset.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from pumpctl.keystore import StaticKeys
from pumpctl.link.errors import LinkError
from pumpctl.protocol.session import Role

if TYPE_CHECKING:
    from firmware_sim.simulator import InitialProgram


_training_lines = itertools.count(1)


def training_state_path() -> Path:
    return Path(platformdirs.user_data_dir("pumpctl")) / "training-pump.db"


class BuiltinSimulator:
    def __init__(
        self,
        state_path: Path | None = None,
        *,
        frozen_clock: bool = False,
        program: InitialProgram | None = None,
    ) -> None:
        from firmware_sim.server import FrameServer
        from firmware_sim.simulator import InitialProgram, Simulator
        from firmware_sim.store import NvError
        from pumpctl.link.memory import register

        path = state_path or training_state_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.simulator = Simulator(path, program or InitialProgram(frozen_clock=frozen_clock))
        except NvError as error:
            raise LinkError(
                f"the training pump's memory {path} cannot be used ({error}); "
                "start it afresh with pumpctl tui --reset-training"
            ) from None
        self.line = register(FrameServer(self.simulator), f"training-{next(_training_lines)}")

    @property
    def port(self) -> str:
        return self.line.url

    def keys(self) -> StaticKeys:
        """The training pump pairs itself with this programmer, in every role."""
        serial = self.simulator.pump.state.serial_number
        return StaticKeys({(serial, role): self.simulator.role_key(role) for role in Role})

    def close(self) -> None:
        from pumpctl.link.memory import unregister

        unregister(self.line)
        self.simulator.close()
