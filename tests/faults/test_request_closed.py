""" "Not sent" stays true: before the programmer reports a command not sent, it closes the
request id on the pump (QUERY_OUTCOME with ``close``), so a copy of the command that a
slow or reordering line delivers afterwards is refused, never executed."""

from __future__ import annotations

import pytest

from firmware_sim.simulator import Simulator
from pumpctl.cli import main
from pumpctl.client import Resolution
from pumpctl.link.errors import PumpRefused
from pumpctl.protocol.frames import StreamDecoder
from pumpctl.protocol.messages import EventCode, MsgType, NakCode, QueryOutcomeRequest
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.raw import read_as_the_pump
from pumpctl.testing.targets import InProcessSimulator

pytestmark = pytest.mark.needs_simulator


class HeldUntilClosed:
    """Every copy of a ``msg_type`` command is held back on the line; after the pump has
    taken a QUERY_OUTCOME that closes an id, the first held copy arrives (late). The sealed
    QUERY_OUTCOME's ``close`` is read with the pump's own session keys (``pump``)."""

    def __init__(self, msg_type: MsgType, pump: Simulator) -> None:
        self.msg_type = msg_type
        self.pump = pump
        self.held: list[bytes] = []
        self.closing_queries = 0

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        frames = StreamDecoder().feed(data)
        if any(f.msg_type == self.msg_type and not f.is_response for f in frames):
            self.held.append(data)
            return []
        closes = [
            f
            for f in frames
            if f.msg_type == MsgType.QUERY_OUTCOME
            and isinstance(query := read_as_the_pump(self.pump, f), QueryOutcomeRequest)
            and query.close
        ]
        if closes and self.held and not self.closing_queries:
            self.closing_queries += 1
            return [(0.0, data), (0.0, self.held[0])]  # the late copy, right behind it
        self.closing_queries += len(closes)
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        return [(0.0, data)]


@pytest.mark.usefixtures("cli_env")
def test_a_copy_arriving_after_not_sent_is_refused_never_executed(
    pump: PumpUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(pump.sim, InProcessSimulator)
    line = HeldUntilClosed(MsgType.SET_RATE, pump.sim.simulator)
    pump.sim.line.tamper = line
    code = main(["--port", pump.port, "set-rate", "1.3"])
    err = capsys.readouterr().err
    pump.sim.line.tamper = None
    assert code == 3, err
    assert "never executed" in err
    assert line.held
    assert line.closing_queries == 1  # the late copy did reach the pump
    assert pump.client.status().dose_ng_per_day == 1_400_000
    events, _ = pump.client.read_all_events(0)
    assert EventCode.RATE_CHANGED not in [e.code for e in events]
    assert main(["audit", "verify"]) == 0


def test_a_closed_id_is_refused_and_reported_closed_an_open_one_is_not(
    pump: PumpUnderTest,
) -> None:
    client = pump.client
    assert client.resolve(101).resolution is Resolution.NOT_EXECUTED  # a pure read
    assert client.set_rate(1_300_000, 1_400_000, request_id=101).dose_ng_per_day == 1_300_000

    assert client.resolve(202, close=True).resolution is Resolution.NOT_EXECUTED
    with pytest.raises(PumpRefused) as refused:
        client.set_rate(1_200_000, 1_300_000, request_id=202)
    assert refused.value.code == NakCode.REQUEST_CLOSED
    assert client.status().dose_ng_per_day == 1_300_000
    assert client.resolve(202).resolution is Resolution.NOT_EXECUTED
    # Closing an id the pump already executed changes nothing.
    assert client.resolve(101, close=True).resolution is Resolution.APPLIED
