"""Nothing an attacker without a key sends keeps a clinician from stopping or reducing a dose:
failed proofs are throttled (a short delay, doubling, capped), never locked out, across
restarts too, and a SESSION_OPEN never ends a session in use. Through the serial port, with
raw frames from an attacker interleaved with the clinician's own, frame by frame."""

from __future__ import annotations

import pytest

from firmware_sim.sessions import THROTTLE_MAX_MS, SecurityState, throttle_ms
from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore, StaticKeys
from pumpctl.protocol.frames import Frame
from pumpctl.protocol.messages import (
    EventCode,
    EventRecord,
    MsgType,
    Nak,
    NakCode,
    PumpState,
    StatusRequest,
)
from pumpctl.protocol.session import KEY_LEN, Role
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.raw import RawLine
from tests.rawline import raw_line

pytestmark = pytest.mark.needs_simulator  # the pump's clock is read through its debug port
WRONG = StaticKeys({("SIM000001", Role.CLINICIAN): bytes(KEY_LEN)})


def pump_time_ms(pump: PumpUnderTest) -> int:
    assert pump.sim is not None
    return int(pump.sim.state()["pump_time_ms"])


def bad_proof(line: RawLine) -> None:
    """One session attempt with a wrong key: the pump must refuse its first sealed frame."""
    line.open_session(WRONG)
    answer = line.request(StatusRequest())
    assert isinstance(answer, Nak), answer
    assert answer.code == NakCode.AUTH_FAILED, answer


def auth_events(pump: PumpUnderTest) -> list[EventRecord]:
    events, _ = pump.client.read_all_events()
    codes = {EventCode.AUTH_FAILURE, EventCode.AUTH_THROTTLED, EventCode.LOCKOUT}
    return [e for e in events if e.code in codes]


def test_a_lockout_stored_by_older_firmware_is_dropped_at_boot() -> None:
    stored = {"failed_proofs": 4, "locked_until_ms": 9_999_999_999_999}
    assert SecurityState.from_json(stored) == SecurityState()


def test_the_throttle_grows_and_is_bounded() -> None:
    delays = [throttle_ms(step) for step in range(0, 40)]
    assert delays[:6] == [0, 10, 20, 40, 80, 100]
    assert max(delays) == THROTTLE_MAX_MS == 100
    assert delays == sorted(delays)


def test_a_flood_of_bad_proofs_cannot_keep_a_clinician_from_stopping_and_reducing(
    pump: PumpUnderTest,
) -> None:
    pump.client.close()
    failures = 0
    with raw_line(pump) as attacker:
        for _ in range(30):  # the throttle at its cap before the clinician arrives
            bad_proof(attacker)
            failures += 1
        sent: list[Frame] = []

        def interleave(direction: str, frame: Frame | bytes, _: object) -> None:
            # Before every frame the clinician sends, the attacker fails one more proof.
            nonlocal failures
            if direction == "tx" and isinstance(frame, Frame):
                bad_proof(attacker)
                failures += 1
                sent.append(frame)

        start_ms = pump_time_ms(pump)
        clinician = SyncPumpClient(pump.port, keys=pump.keys, trace=interleave)
        try:
            stopped = clinician.stop()
            dose = clinician.status().dose_ng_per_day
            reduced = clinician.set_rate(dose - 200_000, dose)  # 1.4 -> 1.2 mg/day
            after = clinician.status()
            counters = clinician.client.transactions.counters
        finally:
            clinician.close()
        elapsed_ms = pump_time_ms(pump) - start_ms

    assert stopped.state == PumpState.STOPPED
    assert reduced.dose_ng_per_day == after.dose_ng_per_day == dose - 200_000
    assert after.state == PumpState.STOPPED
    # One session, never ended by the attacker's SESSION_OPENs: no second handshake, no
    # retransmission; each throttled wait is on the pump's own clock, capped at 100 ms.
    assert [f.msg_type for f in sent] == [
        MsgType.SESSION_OPEN,
        MsgType.STOP,
        MsgType.STATUS,
        MsgType.SET_RATE,
        MsgType.STATUS,
    ]
    assert counters.retransmissions == 0
    assert elapsed_ms <= len(sent) * THROTTLE_MAX_MS < 1000

    pump.reconnect()  # a proof: the window of failures is logged as one event
    logged = auth_events(pump)
    assert EventCode.LOCKOUT not in {e.code for e in logged}
    assert sum(e.value_a for e in logged if e.code == EventCode.AUTH_FAILURE) == failures
    assert len(logged) <= 4  # two windows: the clinician's proof closed the first


def test_no_lockout_across_a_restart(pump: PumpUnderTest) -> None:
    assert pump.sim is not None
    pump.client.close()
    with raw_line(pump) as attacker:
        for _ in range(12):
            bad_proof(attacker)
    pump.sim.restart(hard=True)  # the failures were counted in NV memory
    before_ms = pump_time_ms(pump)
    pump.reconnect()
    assert pump.client.status().dose_ng_per_day > 0
    waited_ms = pump_time_ms(pump) - before_ms
    assert 0 < waited_ms <= THROTTLE_MAX_MS  # throttled once, by at most the cap
    assert pump.client.stop().state == PumpState.STOPPED


def paired(pump: PumpUnderTest, role: str) -> Keystore:
    assert pump.sim is not None
    path = pump.sim.workdir / f"{role}-keys.json"
    pump.sim.control.pair(str(path), role)
    return Keystore(path)


def test_another_roles_session_never_ends_the_clinicians(pump: PumpUnderTest) -> None:
    seen: list[str] = []

    def record(direction: str, frame: Frame | bytes, _: object) -> None:
        if direction == "tx" and isinstance(frame, Frame):
            seen.append(MsgType(frame.msg_type).name)

    clinician = SyncPumpClient(pump.port, keys=pump.keys, trace=record)
    try:
        clinician.status()
        patient = SyncPumpClient(pump.port, keys=paired(pump, "patient"), role=Role.PATIENT)
        try:
            assert patient.status().dose_ng_per_day == clinician.status().dose_ng_per_day
        finally:
            patient.close()
        assert clinician.stop().state == PumpState.STOPPED
    finally:
        clinician.close()
    assert seen.count("SESSION_OPEN") == 1  # the clinician's session outlived the patient's

    events, _ = pump.client.read_all_events()
    opened = [e for e in events if e.code == EventCode.SESSION_OPENED]
    # The clinician's, the patient's beside it, then the fixture's client, whose handshake
    # waited unproven until now: its proof replaces the clinician session in use.
    assert [(Role(e.value_a), e.value_b) for e in opened] == [
        (Role.CLINICIAN, 0),
        (Role.PATIENT, 0),
        (Role.CLINICIAN, 1),
    ]
    assert "replacing the clinician session in use" in opened[-1].detail
