"""The reads from the shell on a serial port wait on a blocking link, with no event loop
(``pumpctl.link.blocking``): each prints the very bytes it prints on the event loop's link,
as text and as JSON, against the same simulator on a real pty."""

from __future__ import annotations

import json

import pytest

from pumpctl import cli_run
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_ok, env, pumpctl

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
