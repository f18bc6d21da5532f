"""One role table (``pumpctl.protocol.roles``) for both sides: the pump refuses a message the
session's role may not send, and the programmer refuses it before sending."""

from __future__ import annotations

import pytest

from pumpctl.protocol.messages import EventCode, MsgType
from pumpctl.protocol.roles import PERMITTED, may_send
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_fails, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = pytest.mark.needs_simulator  # pairs the service role through the debug port


def test_the_table_gives_each_write_to_one_side() -> None:
    assert may_send(Role.SERVICE, MsgType.WRITE_LIMITS)
    assert not may_send(Role.CLINICIAN, MsgType.WRITE_LIMITS)
    assert may_send(Role.PATIENT, MsgType.DEMAND_BOLUS)
    assert not may_send(Role.PATIENT, MsgType.BOLUS)
    assert not may_send(Role.PATIENT, MsgType.READ_IMPLANT)  # it names the patient
    assert set(PERMITTED) == set(Role)


def test_a_service_tool_is_refused_a_dose_change_before_it_is_sent(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    assert pump.sim is not None
    service = dict(env, PUMPCTL_KEYSTORE=str(pump.sim.workdir / "service-keys.json"))
    pump.sim.control.pair(service["PUMPCTL_KEYSTORE"], "service")
    logged = len(pump.client.read_all_events()[0])
    assert_fails(
        pumpctl(service, "--role", "service", "set-rate", "1.2", port=pump.port),
        1,
        "programmer refused (ROLE_FORBIDDEN): a service session may not SET_RATE",
    )
    events = pump.client.read_all_events()[0][logged:]
    assert EventCode.REFUSED not in {e.code for e in events}  # nothing reached the pump
    assert pump.client.status().dose_ng_per_day == 1_400_000
