"""The reads from the shell on a serial device wait on a blocking link, with no event loop
(``pumpctl.link.blocking``): each prints the very bytes it prints on the event loop's link,
as text and as JSON, against the same simulator on a real pty. A network port keeps the
event loop's link."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
import tty
from pathlib import Path

import pytest

from pumpctl import cli_common, cli_run
from pumpctl.link import timing
from pumpctl.programmer import core
from pumpctl.protocol.messages import SetRateRequest
from pumpctl.testing.plugin import PumpUnderTest
from tests.recorded import changes
from tests.test_cli import assert_fails, assert_ok, env, pumpctl

__all__ = ["env"]
pytestmark = [pytest.mark.needs_simulator, pytest.mark.needs_pty]

READS = ["status", "identify", "limits", "alarms"]


def test_reads_print_the_same_on_a_blocking_link_as_on_the_event_loop(
    pump: PumpUnderTest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {*READS, "events"} <= cli_run.BLOCKING_READS
    assert_ok(pumpctl(env, "status", port=pump.port))  # the record's first sync
    for read in READS:
        for argv in ([read], ["--json", read]):
            blocking = assert_ok(pumpctl(env, *argv, port=pump.port))
            with monkeypatch.context() as m:
                m.setattr(cli_run, "BLOCKING_READS", set())
                on_the_loop = assert_ok(pumpctl(env, *argv, port=pump.port))
            assert blocking == on_the_loop, argv


def test_the_event_log_reads_the_same_on_a_blocking_link(
    pump: PumpUnderTest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run opens a session, which the pump logs: the later run shows one event more."""
    with monkeypatch.context() as m:
        m.setattr(cli_run, "BLOCKING_READS", set())
        on_the_loop = json.loads(assert_ok(pumpctl(env, "--json", "events", port=pump.port)))
    blocking = json.loads(assert_ok(pumpctl(env, "--json", "events", port=pump.port)))
    assert blocking["events"][:-1] == on_the_loop["events"]
    assert blocking["events"][-1]["code"] == "SESSION_OPENED"
    assert blocking["next_index"] == on_the_loop["next_index"] + 1


@pytest.mark.needs_process
def test_status_on_a_blocking_link_settles_a_change_left_uncertain(
    pump: PumpUnderTest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pump stops just as a set-rate goes out: the outcome is uncertain. It runs again
    and executes the request waiting on its line; the next ``status`` (a blocking read)
    reads the outcome back into the record."""
    sim = pump.sim
    assert sim is not None
    stopped = contextlib.ExitStack()
    sent: list[object] = []

    def stop_the_pump_at_set_rate(direction: str, frame: object, message: object) -> None:
        """Called as each frame goes out, before it is written."""
        if direction == "tx" and isinstance(message, SetRateRequest) and not sent:
            sent.append(message)
            stopped.enter_context(sim.frozen())

    # Give up sooner (the suite's time): one round of reading back, short deadlines.
    monkeypatch.setattr(core, "RESOLVE_ROUNDS", 1)
    monkeypatch.setattr(timing, "HANDLING_S", 0.05)
    monkeypatch.setattr(cli_common, "trace", stop_the_pump_at_set_rate)
    with stopped:
        result = pumpctl(env, "--trace", "set-rate", "1.3", port=pump.port)
    assert_fails(result, 4, "uncertain")
    assert changes(Path(env["PUMPCTL_DB"])) == [(1_300_000, "uncertain")]
    assert "Dose       1.3 mg/day" in assert_ok(pumpctl(env, "status", port=pump.port))
    assert changes(Path(env["PUMPCTL_DB"])) == [(1_300_000, "applied")]


def test_a_network_port_reads_the_pump_on_the_event_loop(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    """``socket://`` (a serial server on the network) is a URL: no blocking link for it."""
    with TcpToPort(pump.port) as url:
        out = assert_ok(pumpctl(env, "status", port=url))
    assert "Dose       1.4 mg/day" in out


class TcpToPort:
    """A serial server on localhost: one TCP client at a time, its bytes to the device and
    back."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve)

    def __enter__(self) -> str:
        self.thread.start()
        return f"socket://127.0.0.1:{self.listener.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.listener.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if not select.select([self.listener], [], [], 0.05)[0]:
                continue
            client, _ = self.listener.accept()
            device = os.open(self.device, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(device)
            try:
                self._forward(client, device)
            finally:
                os.close(device)
                client.close()

    def _forward(self, client: socket.socket, device: int) -> None:
        while not self.stop.is_set():
            ready = select.select([client.fileno(), device], [], [], 0.05)[0]
            if client.fileno() in ready:
                data = client.recv(4096)
                if not data:
                    return
                os.write(device, data)
            if device in ready:
                client.sendall(os.read(device, 4096))
