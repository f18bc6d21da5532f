"""``pumpctl schedule`` end to end, in process against the plugin's simulator: a schedule is
reviewed step by step in the drug's unit with the daily dose, sent once, read back and
audited; bad input is one line (exit 2); a refusal names its rule (exit 1) and sends nothing;
``clear`` returns to a simple rate."""

from __future__ import annotations

import json

import pytest

from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest
from tests.test_cli import assert_fails, assert_ok, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests

pytestmark = pytest.mark.needs_simulator


def schedule_events(pump: PumpUnderTest) -> list[EventCode]:
    events, _ = pump.client.read_all_events(0)
    wanted = (EventCode.SCHEDULE_SET, EventCode.SCHEDULE_CLEARED)
    return [EventCode(e.code) for e in events if e.code in wanted]


def test_set_show_and_clear_a_schedule(pump: PumpUnderTest, env: dict[str, str]) -> None:
    port = pump.port
    shown = assert_ok(pumpctl(env, "schedule", "show", port=port))
    assert "Simple continuous rate 1.4 mg/day" in shown

    out = assert_ok(pumpctl(env, "schedule", "set", "00:00=1.4 08:00=1.7 20:00=1.4", port=port))
    review, done = out.rsplit("\n", 2)[0], out.splitlines()[-1]
    assert "Program a flexible-dosing schedule" in review
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in review.splitlines()[1:6]}
    assert rows == {
        "00:00-08:00": "1.4 mg/day",
        "08:00-20:00": "1.4 mg/day -> 1.7 mg/day",
        "20:00-00:00": "1.4 mg/day",
        "Daily": "dose 1.4 mg -> 1.55 mg",
        "Flow": "(a day) 0.056 mL/day -> 0.062 mL/day",
    }
    assert done.startswith("Schedule 00:00 1.4, 08:00 1.7, 20:00 1.4 mg/day (1.55 mg/day)")
    assert schedule_events(pump) == [EventCode.SCHEDULE_SET]

    data = json.loads(assert_ok(pumpctl(env, "--json", "schedule", "show", port=port)))
    assert data["active"] is True
    assert data["unit"] == "mg"
    assert [(s["start_min"], s["dose_ng_per_day"]) for s in data["steps"]] == [
        (0, 1_400_000),
        (480, 1_700_000),
        (1200, 1_400_000),
    ]
    assert data["dose_ng_per_day"] == 1_550_000

    # The same schedule again sends nothing.
    same = assert_ok(pumpctl(env, "schedule", "set", "00:00=1.4 08:00=1.7 20:00=1.4", port=port))
    assert "nothing sent" in same

    # Spread evenly (the default), the daily dose raises the hours at 1.4: an increase, too
    # soon after the last. At 1.4 around the clock it is a decrease, sent at once.
    assert_fails(pumpctl(env, "schedule", "clear", port=port), 1, "INCREASE_TOO_SOON")
    cleared = assert_ok(pumpctl(env, "schedule", "clear", "--dose", "1.4", port=port))
    assert "Schedule cleared: 1.4 mg/day around the clock" in cleared
    assert schedule_events(pump) == [EventCode.SCHEDULE_SET, EventCode.SCHEDULE_CLEARED]
    assert "no schedule" in assert_ok(pumpctl(env, "schedule", "show", port=port))
    audit = assert_ok(pumpctl(env, "--json", "audit", "show"))
    assert "set-schedule" in audit
    assert "clear-schedule" in audit


@pytest.mark.parametrize(
    ("steps", "needle"),
    [
        ("00:00=1.4 8:00=1.7", "is not HH:MM=DOSE"),
        ("00:00=1.4 08:10=1.7", "15 min boundaries"),
        ("00:00=1.4 24:00=1.7", "is not a time of day"),
        ("00:00=1.4 08:00=1,7", "is not a number in mg"),
        ("08:00=1.7 20:00=1.4", "first step starts at 00:00"),
        ("00:00=1.4 08:00=1.4", "same dose"),
        ("00:00=1.4 08:00=1.7 08:00=1.6", "given twice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    pump: PumpUnderTest, env: dict[str, str], steps: str, needle: str
) -> None:
    assert_fails(pumpctl(env, "schedule", "set", steps, port=pump.port), 2, needle)
    assert schedule_events(pump) == []


def test_a_refusal_names_the_rule_and_sends_nothing(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    port = pump.port
    assert_fails(
        pumpctl(env, "schedule", "set", "00:00=1.4 08:00=1.19", port=port),
        1,
        "the 08:00 step's 1.19 mg/day needs a flow below the pump's minimum",
    )
    assert_fails(
        pumpctl(env, "schedule", "set", "00:00=1.4 08:00=1.76", port=port),
        1,
        "at 08:00: increase of 0.36 mg/day exceeds the maximum step of 25%",
    )
    assert schedule_events(pump) == []
    assert_ok(pumpctl(env, "schedule", "clear", port=port))  # no schedule: nothing to do
    assert schedule_events(pump) == []


def test_set_rate_over_a_schedule_says_it_replaces_it(
    pump: PumpUnderTest, env: dict[str, str]
) -> None:
    port = pump.port
    assert_ok(pumpctl(env, "schedule", "set", "00:00=1.4 08:00=1.3", port=port))
    out = assert_ok(pumpctl(env, "set-rate", "1.2", port=port))
    assert "Replaces the flexible-dosing schedule (00:00 1.4, 08:00 1.3 mg/day)" in out
    assert schedule_events(pump) == [EventCode.SCHEDULE_SET, EventCode.SCHEDULE_CLEARED]
    assert not pump.client.read_schedule().active
    # 1.55 is within 25 % of the schedule's daily dose (1.35) but not of its 00:00 step (1.2):
    # the programmer refuses it before anything is sent, naming the time of day.
    assert_ok(pumpctl(env, "schedule", "set", "00:00=1.2 12:00=1.5", port=port))
    # The guard compares daily doses: the schedule raised it (1.2 -> 1.35 mg a day), and no
    # pain score has been logged since.
    assert_fails(pumpctl(env, "set-rate", "1.55", port=port), 1, "1.2 mg/day -> 1.35 mg/day")
    assert pump.sim is not None
    pump.sim.advance(86_400_000)  # the guard judges morphine a day after a change
    assert_ok(pumpctl(env, "vas", "5", port=port))
    assert_fails(
        pumpctl(env, "set-rate", "1.55", port=port),
        1,
        "at 00:00: increase of 0.35 mg/day exceeds the maximum step of 25% of 1.2 mg/day",
    )
    assert pump.client.read_schedule().active


def test_periodic_boluses_from_the_shell(pump: PumpUnderTest, env: dict[str, str]) -> None:
    port = pump.port
    out = assert_ok(
        pumpctl(
            env,
            "periodic-bolus",
            "set",
            "0.1",
            "--every",
            "6",
            "--duration",
            "30",
            "--first",
            "02:00",
            port=port,
        )
    )
    assert "Program periodic boluses" in out
    assert "none -> 0.1 mg every 6 h over 30 min from 02:00" in out
    assert out.splitlines()[-1] == (
        "Periodic boluses 0.1 mg every 6 h over 30 min from 02:00, verified by read-back"
    )
    shown = assert_ok(pumpctl(env, "schedule", "show", port=port))
    assert "Periodic bolus 0.1 mg every 6 h over 30 min from 02:00" in shown
    assert_fails(
        pumpctl(env, "periodic-bolus", "set", "0.3", "--every", "6", "--duration", "30", port=port),
        1,
        "exceeds the maximum bolus of 0.2 mg",
    )
    assert_fails(
        pumpctl(env, "periodic-bolus", "set", "0.1", "--every", "5", "--duration", "30", port=port),
        1,
        "every 1, 2, 3, 4, 6, 8, 12, 24 h",
    )
    assert_fails(
        pumpctl(
            env, "periodic-bolus", "set", "0.1", "--every", "six", "--duration", "30", port=port
        ),
        2,
        "--every (hours)",
    )
    assert_fails(
        pumpctl(
            env,
            "periodic-bolus",
            "set",
            "0.1",
            "--every",
            "6",
            "--duration",
            "30",
            "--first",
            "2:00",
            port=port,
        ),
        2,
        "is not a time of day HH:MM",
    )
    assert "Periodic boluses cleared" in assert_ok(
        pumpctl(env, "periodic-bolus", "clear", port=port)
    )
    assert "nothing sent" in assert_ok(pumpctl(env, "periodic-bolus", "clear", port=port))
