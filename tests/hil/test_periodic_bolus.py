"""Periodic boluses through the serial port: a bolus of a set dose every N hours, delivered
exactly on top of the basal program, within the bolus maximum and the daily maximum (over the
day and over the worst real 24 h window, demand boluses included), not counted by the demand
bolus lockout, and cleared at any time.

The plugin's pump is morphine 25 mg/mL at 1.4 mg/day in an IT-20 (bolus maximum 0.2 mg,
lockout 4 h), frozen clock from 2026-01-01 00:00 UTC.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial

from pumpctl.client import SyncPumpClient
from pumpctl.protocol.messages import (
    AlarmCode,
    EventCode,
    NakCode,
    SetPeriodicBolusRequest,
    SetPeriodicBolusResponse,
)
from pumpctl.schedule import Periodic, periodic_of, projected_low_reservoir_s
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatorProcess
from tests.hil.conftest import MakePump
from tests.hil.expect import DAY_MS, HOUR_MS, MG, alarm, events, refused

MORPHINE = 25 * MG
MIN_PER_DAY = 1440
_request_ids = iter(range(0x7E11_0000, 0x7E11_FFFF))


def set_periodic(
    client: SyncPumpClient, dose_ng: int, every_h: int = 6, duration_min: int = 30, first: int = 0
) -> SetPeriodicBolusResponse:
    old = periodic_of(client.read_schedule())
    request = SetPeriodicBolusRequest(
        request_id=next(_request_ids),
        dose_ng=dose_ng,
        duration_min=duration_min if dose_ng else 0,
        interval_min=every_h * 60 if dose_ng else 0,
        first_min=first,
        believed_dose_ng=old.dose_ng if old else 0,
        believed_interval_min=old.interval_min if old else 0,
    )
    reply = client.send_once(request)
    assert isinstance(reply, SetPeriodicBolusResponse)
    return reply


def ul_delivered(basal_ng_per_day: int, periodic: Periodic, start_ms: int, end_ms: int) -> Fraction:
    """µL over [start_ms, end_ms): the basal rate, and each bolus spread over its minutes,
    minute by minute (every edge falls on a whole minute); independent of the pump."""
    minute_ms = 60_000
    total = Fraction(0)
    t = start_ms
    while t < end_ms:
        minute = (t % DAY_MS) // minute_ms
        rate = Fraction(basal_ng_per_day)
        since_first = (minute - periodic.first_min) % periodic.interval_min
        if since_first < periodic.duration_min:
            rate += Fraction(periodic.dose_ng * MIN_PER_DAY, periodic.duration_min)
        until = min(end_ms, t - t % minute_ms + minute_ms)
        total += rate * (until - t) / DAY_MS
        t = until
    return total * 1000 / MORPHINE


def test_periodic_boluses_are_delivered_exactly_on_top_of_the_basal_rate(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    client = pump.client
    reply = set_periodic(client, 100_000, every_h=6, duration_min=30, first=120)
    assert (reply.periodic_ng_per_day, reply.previous_periodic_ng_per_day) == (400_000, 0)
    (logged,) = events(client, EventCode.PERIODIC_BOLUS_SET)
    assert (logged.value_a, logged.value_b) == (0, 400_000)
    assert "0.1 mg every 6 h over 30 min from 02:00" in logged.detail
    periodic = periodic_of(client.read_schedule())
    assert periodic == Periodic(100_000, 30, 360, 120)
    elapsed = 3 * DAY_MS + 14 * HOUR_MS + 17 * 60_000  # ends inside the 14:00 bolus
    simulator.advance(elapsed)
    expected = 20_000 - ul_delivered(1_400_000, periodic, 0, elapsed)
    assert client.status().reservoir_ul == math.floor(expected)
    assert client.status().dose_ng_per_day == 1_400_000  # STATUS: the basal daily dose
    assert client.status().bolus_active  # 14:17, inside the 14:00 bolus
    simulator.advance(15 * 60_000)
    assert not client.status().bolus_active  # 14:32: over


def test_a_periodic_bolus_above_the_bolus_maximum_is_refused(pump: PumpUnderTest) -> None:
    client = pump.client
    refusal = refused(partial(set_periodic, client, 200_001), NakCode.BOLUS_TOO_LARGE)
    assert refusal.nak.limit == 200_000
    set_periodic(client, 200_000)  # the maximum exactly
    assert periodic_of(client.read_schedule()) == Periodic(200_000, 30, 360, 0)


def test_times_that_do_not_repeat_daily_are_refused(pump: PumpUnderTest) -> None:
    client = pump.client
    for every_h, duration, first, why in [
        (5, 30, 0, "every 1, 2, 3, 4, 6, 8, 12, 24 h"),
        (6, 0, 0, "lasts 1 min to its interval"),
        (6, 361, 0, "lasts 1 min to its interval"),
        (6, 30, 360, "within the first interval"),
        (6, 30, 10, "15 min boundary"),
    ]:
        call = partial(set_periodic, client, 100_000, every_h, duration, first)
        assert why in refused(call, NakCode.INVALID_ARGUMENT).nak.detail
    assert periodic_of(client.read_schedule()) is None


def test_the_daily_maximum_counts_periodic_and_demand_boluses(make_pump: MakePump) -> None:
    pump = make_pump("--dose", "19")
    assert pump.sim is not None
    client = pump.client
    # 19 mg + 0.2 mg every 4 h (1.2 mg) is 20.2 mg a day: over the maximum whatever the window.
    refused(partial(set_periodic, client, 200_000, 4), NakCode.ABOVE_MAX_DOSE)
    # Two demand boluses 4 h apart (the lockout exactly), then 0.2 mg every 6 h from 04:00
    # (now): 19.8 mg a day, but the 24 h from midnight would hold 19 + 2 x 0.2 + 4 x 0.2 mg.
    client.bolus(200_000, 600)
    pump.sim.advance(4 * HOUR_MS)
    client.bolus(200_000, 600)
    refusal = refused(partial(set_periodic, client, 200_000, 6, 30, 240), NakCode.DAILY_LIMIT)
    assert refusal.nak.limit == 20_000_000
    assert "would put 20.2 mg in one 24 h window" in refusal.nak.detail
    # At midnight the first demand bolus has left every window that reaches ahead: accepted.
    pump.sim.advance(20 * HOUR_MS)
    set_periodic(client, 200_000, 6, 30, 0)
    # The periodic boluses are not demand boluses: no lockout from the one just given...
    pump.sim.advance(40 * 60_000)
    client.bolus(200_000, 600)
    # ... but every 24 h rule counts them: 4 h on, a second demand bolus would put 20.2 mg
    # in the next 24 h.
    pump.sim.advance(4 * HOUR_MS)
    refused(partial(client.bolus, 200_000, 600), NakCode.DAILY_LIMIT)


def test_clearing_is_always_accepted_and_a_stale_programmer_refused(
    pump: PumpUnderTest, simulator: SimulatorProcess
) -> None:
    client = pump.client
    set_periodic(client, 100_000)
    stale = SetPeriodicBolusRequest(
        request_id=next(_request_ids),
        dose_ng=0,
        duration_min=0,
        interval_min=0,
        first_min=0,
        believed_dose_ng=0,
        believed_interval_min=0,
    )
    assert refused(partial(client.send_once, stale), NakCode.STALE_DOSE).nak.limit == 100_000
    simulator.fault("catheter", "occluded")
    assert alarm(client.status(), AlarmCode.OCCLUSION) is not None
    refused(partial(set_periodic, client, 150_000), NakCode.OCCLUSION_PRESENT)  # an increase
    reply = set_periodic(client, 0)  # cleared during the occlusion
    assert (reply.periodic_ng_per_day, reply.previous_periodic_ng_per_day) == (0, 400_000)
    assert periodic_of(client.read_schedule()) is None


def test_the_low_reservoir_date_counts_the_periodic_boluses(make_pump: MakePump) -> None:
    pump = make_pump("--volume", "4")
    client = pump.client
    set_periodic(client, 150_000, every_h=8, duration_min=45, first=60)
    status = client.status()
    schedule = client.read_schedule()
    preview = projected_low_reservoir_s(
        status.pump_time_s,
        status.reservoir_ul,
        client.read_limits(),
        MORPHINE,
        ((0, 1_400_000),),
        periodic=periodic_of(schedule),
    )
    assert preview == status.low_reservoir_projected_s
    # Sooner than without them: 1.4 mg + 0.45 mg + the demand boluses the day has room for.
    flat = projected_low_reservoir_s(
        status.pump_time_s, status.reservoir_ul, client.read_limits(), MORPHINE, ((0, 1_400_000),)
    )
    assert flat is not None
    assert status.low_reservoir_projected_s < flat
