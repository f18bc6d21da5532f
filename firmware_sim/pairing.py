"""Pairing a programmer with the simulated pump, as at implant (``pumpsim --pair`` and the
debug port)."""

from __future__ import annotations

import secrets

from firmware_sim.simulator import Simulator
from pumpctl.keystore import Keystore
from pumpctl.protocol.enrolment import ENROLLABLE_ROLES, default_label
from pumpctl.protocol.session import KEY_LEN, Role


def pair(
    simulator: Simulator, keystore: Keystore, role: Role, *, implant_key: bool = False
) -> None:
    """Pairing, as at implant: a clinician's or a patient's programmer is enrolled with a
    fresh key of its own under its key store's programmer id; a service tool (or, with
    ``implant_key``, any role) gets the role's implant key (programmer 0)."""
    serial = simulator.pump.state.serial_number
    if implant_key or role not in ENROLLABLE_ROLES:
        keystore.add(serial, role, simulator.role_key(role))
        return
    programmer_id = keystore.own_programmer_id()
    key = secrets.token_bytes(KEY_LEN)
    simulator.enrol(programmer_id, role, key, default_label())
    keystore.add(serial, role, key, programmer_id)
