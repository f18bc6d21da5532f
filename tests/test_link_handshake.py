"""A handshake that cannot be confused: answers are matched by the programmer's nonce, a late
or foreign answer is dropped (never judged a wrong key), and the port is held by one
programmer at a time."""

from __future__ import annotations

import asyncio
import os
import pty
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.client import PumpClient
from pumpctl.link.errors import LinkError
from pumpctl.link.transactions import TransactionManager
from pumpctl.link.transport import SerialLink
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import StreamDecoder, encode_frame
from pumpctl.protocol.messages import MsgType, SessionOpenResponse
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator


def _foreign_answer(seq: int) -> bytes:
    """A SESSION_OPEN answer to someone else's handshake (another programmer, an earlier
    process) that happens to carry our sequence number."""
    answer = SessionOpenResponse(
        session_id=7,
        pump_nonce=secrets.token_bytes(16),
        pump_proof=secrets.token_bytes(16),
        nonce_echo=secrets.token_bytes(4),
        idle_timeout_s=600,
        model="IT-20",
        serial_number="SIM000001",
        sealed_identity=secrets.token_bytes(40),
    )
    return encode_frame(to_frame(answer, seq))


class ForeignAnswerFirst:
    """Before the pump's answer to each SESSION_OPEN, a foreign answer with the same seq."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.injected = 0

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        for frame in StreamDecoder().feed(data):
            if frame.msg_type == MsgType.SESSION_OPEN:
                self.seq = frame.seq
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        if self.seq is None:
            return [(0.0, data)]
        seq, self.seq = self.seq, None
        self.injected += 1
        return [(0.0, _foreign_answer(seq)), (0.0, data)]


class SlowPump:
    """Every answer comes ``delay_s`` late: longer than the programmer's first deadline."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        return [(self.delay_s, data)]


@pytest.mark.needs_simulator
def test_a_foreign_handshake_answer_is_dropped_not_judged_a_wrong_key(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(pump.sim, InProcessSimulator)
    tamper = ForeignAnswerFirst()
    pump.sim.line.tamper = tamper
    code = main(["--port", pump.port, "status"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert tamper.injected == 1
    assert main(["audit", "show"]) == 0
    assert "authentication-failed" not in capsys.readouterr().out


@pytest.mark.needs_simulator
def test_a_slow_pump_gets_every_command_through(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(pump.sim, InProcessSimulator)
    pump.sim.line.tamper = SlowPump(0.08)  # the memory link's deadline is 0.05 s
    assert main(["--port", pump.port, "set-rate", "1.3"]) == 0, capsys.readouterr().err
    assert main(["--port", pump.port, "status"]) == 0, capsys.readouterr().err
    pump.sim.line.tamper = None
    assert pump.client.status().dose_ng_per_day == 1_300_000


def test_each_process_starts_its_sequence_numbers_anywhere() -> None:
    firsts = {TransactionManager()._next_seq() for _ in range(8)}
    assert len(firsts) > 1


@pytest.fixture
def pty_port() -> Iterator[str]:
    master, slave = pty.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def test_a_second_programmer_on_the_port_is_told_it_is_in_use(
    pty_port: str, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def hold_and_try() -> str:
        first = await SerialLink.open(pty_port, lambda _: None)
        try:
            with pytest.raises(LinkError) as second:
                await PumpClient.open(pty_port)
            return str(second.value)
        finally:
            await first.close()

    assert "in use" in asyncio.run(hold_and_try())

    async def hold_and_run() -> int:
        first = await SerialLink.open(pty_port, lambda _: None)
        try:
            return await asyncio.to_thread(main, ["--port", pty_port, "status"])
        finally:
            await first.close()

    assert asyncio.run(hold_and_run()) == 3
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pumpctl: ")
    assert "in use" in lines[0]
