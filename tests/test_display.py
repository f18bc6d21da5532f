"""Times and names as every face shows them: the pump's clock in UTC, enum names in words."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date

import pytest

from pumpctl import display
from pumpctl.protocol.messages import AlarmCode, CatheterVerdict, PumpState, StopReason

MOMENT_S = 1_772_366_709  # 2026-03-01 12:05:09 UTC: already 2 March at UTC+14


@pytest.fixture
def far_east() -> Iterator[None]:
    """This computer's zone at UTC+14, where a local reading would change the date."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "<+14>-14"  # POSIX form: no time zone database needed
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_pump_times_read_the_pump_clock_in_utc_whatever_the_local_zone(far_east: None) -> None:
    assert display.pump_second(MOMENT_S) == "2026-03-01 12:05:09 UTC"
    assert display.pump_minute(MOMENT_S) == "2026-03-01 12:05"
    assert display.pump_minute_utc(MOMENT_S) == "2026-03-01 12:05 UTC"
    assert display.pump_date(MOMENT_S) == "2026-03-01"
    assert display.pump_hour_minute(MOMENT_S) == "12:05"
    assert display.pump_stamp(MOMENT_S) == "20260301-1205"
    assert display.pump_day(MOMENT_S) == date(2026, 3, 1)
    assert display.wall_second(MOMENT_S) == "2026-03-01 12:05:09"


def test_battery_dates_are_local_dates(far_east: None) -> None:
    assert display.local_date(MOMENT_S) == "2026-03-02"


def test_a_projection_of_zero_is_no_date() -> None:
    assert display.projected_date(0) == "-"
    assert display.projected_date(None) == "-"
    assert display.projected_date(MOMENT_S) == "2026-03-01"


def test_enum_names_read_as_words() -> None:
    assert display.spoken(AlarmCode.LOW_RESERVOIR) == "low reservoir"
    assert display.spoken(StopReason.RESERVOIR_EMPTY) == "reservoir empty"
    assert display.spoken(CatheterVerdict.PARTIAL_OCCLUSION) == "partial occlusion"
    assert display.spoken(PumpState.RUNNING) == "running"
