"""One grammar for every number a person types: ASCII digits with at most one decimal point
between digits. Anything else is refused with one line, exit 2, before the pump is told."""

from __future__ import annotations

import string
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpctl.clinical.record import ClinicalRecord
from pumpctl.protocol.messages import EventCode
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.text import printable
from pumpctl.units import UnitError, parse_amount_ng, parse_number
from tests.test_cli import assert_fails, assert_ok, env, pumpctl

__all__ = ["env"]  # the fixture, imported for these tests


def documented(text: str) -> bool:
    """The grammar as docs/programmer.md states it, written out by hand."""
    body = text.strip()
    whole, point, fraction = body.partition(".")
    digits = set(string.digits)
    if not whole or not set(whole) <= digits:
        return False
    return not point or (bool(fraction) and set(fraction) <= digits)


def check(text: str) -> None:
    try:
        value = parse_number(text, "dose", "mg")
    except UnitError:
        assert not documented(text)
    else:
        assert documented(text)
        assert value == Decimal(text.strip())


@given(st.text(max_size=12))
def test_any_unicode_is_accepted_exactly_when_it_is_in_the_grammar(text: str) -> None:
    check(text)


@given(st.text(alphabet="0123456789.+-_eE ١٦１٫,", max_size=8))
def test_near_misses_are_accepted_exactly_when_in_the_grammar(text: str) -> None:
    check(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("１.６", "not a number"),
        ("١.٦", "not a number"),
        ("1_5", "not a number"),
        ("+1.45", "not a number"),
        ("1.45e0", "not a number"),
        (".5", "not a number"),
        ("5.", "not a number"),
        ("-1", "negative"),
    ],
)
def test_doses_that_decimal_alone_would_take_are_refused(text: str, why: str) -> None:
    with pytest.raises(UnitError, match=why):
        parse_amount_ng(text, "mg")


def rate_changes(pump: PumpUnderTest) -> list[int]:
    events, _ = pump.client.read_all_events()
    return [e.value_b for e in events if e.code == EventCode.RATE_CHANGED]


def therapy_events(pump: PumpUnderTest) -> list[tuple[int, int]]:
    """Every event of the pump's log but its sessions: what a command would have left."""
    events, _ = pump.client.read_all_events()
    sessions = (EventCode.SESSION_OPENED, EventCode.AUTH_FAILURE)
    return [(e.index, e.code) for e in events if e.code not in sessions]


@pytest.mark.parametrize("dose", ["１.６", "١.٦", "1_5", "+1.45", "1.45e0"])
def test_set_rate_refuses_each_lookalike_before_sending(
    pump: PumpUnderTest, env: dict[str, str], dose: str
) -> None:
    assert_fails(pumpctl(env, "set-rate", dose, port=pump.port), 2, f"dose {dose!r}")
    assert rate_changes(pump) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("bolus", "0.1", "--duration", "-5"), "bolus duration '-5' is negative"),
        (("bolus", "0_1"), "bolus dose '0_1'"),
        (("bolus", "0.1", "--duration", "600.5"), "whole number of seconds"),
        (("refill", "--withdrawn", "1", "--added", "1e309"), "added volume '1e309'"),
        (("events", "--from", "-1"), "--from: '-1' is not a whole number"),
        (("report", "--since-hours", "999999999999999999"), "outside 1-"),
        (("report", "--out", "/dev/null"), "not a directory"),
        (("--clinician", "dr\nforged", "status"), "--clinician"),
        (("vas", "5", "--note", "ok\x1b[2J"), "control character"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    pump: PumpUnderTest, env: dict[str, str], args: tuple[str, ...], needle: str
) -> None:
    before = therapy_events(pump), pump.client.status()
    assert_fails(pumpctl(env, *args, port=pump.port), 2, needle)
    assert (therapy_events(pump), pump.client.status()) == before


def test_audit_show_escapes_control_characters_kept_in_an_old_record(env: dict[str, str]) -> None:
    record = ClinicalRecord.open(env["PUMPCTL_DB"])
    try:
        record.note("SN1", "dr-a\n    9  forged entry", "paired", 0, role="clinician")
    finally:
        record.close()
    out = assert_ok(pumpctl(env, "audit", "show"))
    assert len(out.splitlines()) == 1, out
    assert printable("dr-a\n") in out


def test_printable_leaves_ordinary_text_alone() -> None:
    assert printable("Dr Ødegård, 1.4 mg/day") == "Dr Ødegård, 1.4 mg/day"
    assert printable("a\tb\x1b[31m") == "a\\tb\\x1b[31m"
