"""Only an authorised programmer can program the pump: through the serial port, as an
attacker with a capture of the line, a wrong key or the patient's programmer would try."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pumpctl.client import SyncPumpClient
from pumpctl.keystore import Keystore, StaticKeys
from pumpctl.link.errors import AuthenticationError, PumpRefused
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import CRC, HEADER, Frame, FrameFlags, cobs_decode, cobs_encode
from pumpctl.protocol.messages import (
    EventCode,
    IdentifyRequest,
    IdentifyResponse,
    Nak,
    NakCode,
    SetRateRequest,
    StatusRequest,
    StatusResponse,
)
from pumpctl.protocol.session import KEY_LEN, Role
from pumpctl.testing.plugin import PumpUnderTest
from tests.rawline import raw_line
from tests.test_cli import run_in_process

pytestmark = pytest.mark.needs_simulator  # pairing other roles and clock moves: simulator only
WRONG = StaticKeys({("SIM000001", Role.CLINICIAN): bytes(KEY_LEN)})


def nak_code(reply: object) -> NakCode:
    assert isinstance(reply, Nak), reply
    return NakCode(reply.code)


def paired(pump: PumpUnderTest, role: str) -> Keystore:
    assert pump.sim is not None
    path = pump.sim.workdir / f"{role}-keys.json"
    pump.sim.control.pair(str(path), role)
    return Keystore(path)


def test_without_a_session_only_identify_is_answered(pump: PumpUnderTest) -> None:
    pump.client.close()
    with raw_line(pump) as line:
        assert isinstance(line.request(IdentifyRequest(), sealed=False), IdentifyResponse)
        assert nak_code(line.request(StatusRequest(), sealed=False)) == NakCode.AUTH_REQUIRED
        dose = SetRateRequest(request_id=1, dose_ng_per_day=1, believed_dose_ng_per_day=1)
        assert nak_code(line.request(dose, sealed=False)) == NakCode.AUTH_REQUIRED
    pump.reconnect()


def test_a_captured_set_rate_replayed_later_is_refused(pump: PumpUnderTest) -> None:
    pump.client.close()
    with raw_line(pump) as line:
        line.open_session(pump.keys)
        request = SetRateRequest(
            request_id=0xCAFE, dose_ng_per_day=1_300_000, believed_dose_ng_per_day=1_400_000
        )
        captured = line.seal(to_frame(request, line.next_seq()))
        first = line.send_bytes(captured)
        assert first is not None
        assert line.message(first).dose_ng_per_day == 1_300_000  # type: ignore[attr-defined]
        # The same bytes again, in the same session: the counter gives it away.
        assert nak_code(line.message(line.send_bytes(captured))) == NakCode.REPLAYED
    with raw_line(pump) as later:
        later.open_session(pump.keys)  # a later session: the captured frame is not of it
        # Its proof replaces the earlier clinician session (the same role's key).
        assert isinstance(later.request(StatusRequest()), StatusResponse)
        replay = later.send_bytes(captured)
        assert replay is not None
        assert nak_code(later.message(replay)) == NakCode.AUTH_REQUIRED
    pump.reconnect()
    events, _ = pump.client.read_all_events()
    assert [e.code for e in events if e.request_id == 0xCAFE] == [EventCode.RATE_CHANGED]
    assert any(e.code == EventCode.AUTH_FAILURE for e in events)


def _recrc(body: bytes) -> bytes:
    """A body with its CRC made right again, as an attacker would."""
    import zlib

    content = body[: -CRC.size]
    return content + CRC.pack(zlib.crc32(content))


def test_any_single_flipped_bit_is_refused(pump: PumpUnderTest) -> None:
    pump.client.close()
    with raw_line(pump, timeout_s=0.15) as line:
        line.open_session(pump.keys)
        assert isinstance(line.request(StatusRequest()), StatusResponse)  # the session's proof
        genuine = line.seal(to_frame(StatusRequest(), line.next_seq()))
        body = cobs_decode(genuine[:-1])
        answered = 0
        for bit in range((len(body) - CRC.size) * 8):
            flipped = bytearray(body)
            flipped[bit // 8] ^= 1 << (bit % 8)
            reply = line.send_bytes(cobs_encode(_recrc(bytes(flipped))) + b"\x00")
            if reply is not None:
                answered += 1
                assert isinstance(line.message(reply), Nak), f"bit {bit} was obeyed"
        assert answered > (len(body) - HEADER.size) * 8 // 2  # most flips get a reasoned NAK
        # None of it broke the session: the genuine frame still works, once.
        assert isinstance(line.message(line.send_bytes(genuine)), StatusResponse)
    pump.reconnect()


def test_a_wrong_key_cannot_open_a_session(pump: PumpUnderTest) -> None:
    with pytest.raises(AuthenticationError, match="could not prove"):
        SyncPumpClient(pump.port, keys=WRONG)
    pump.client.close()
    with raw_line(pump) as line:  # an attacker who ignores the pump's proof
        line.open_session(WRONG)
        assert nak_code(line.request(StatusRequest())) == NakCode.AUTH_FAILED
    pump.reconnect()


def test_a_patient_session_cannot_set_a_rate(pump: PumpUnderTest) -> None:
    patient = SyncPumpClient(pump.port, keys=paired(pump, "patient"), role=Role.PATIENT)
    try:
        dose = patient.status().dose_ng_per_day
        with pytest.raises(PumpRefused) as refused:
            patient.set_rate(dose - 100_000, dose)
        assert refused.value.code == NakCode.ROLE_FORBIDDEN
        with pytest.raises(PumpRefused, match="ROLE_FORBIDDEN"):
            patient.stop()
        with pytest.raises(PumpRefused, match="ROLE_FORBIDDEN"):
            patient.bolus(50_000, 600)  # the patient's bolus is the clinician's demand bolus
        with pytest.raises(PumpRefused, match="DEMAND_NOT_PROGRAMMED"):
            patient.demand_bolus()  # ... once the clinician has set one
    finally:
        patient.close()
    # The patient's key is not the clinician's: it cannot open a clinician session.
    patient_key = paired(pump, "patient").key_for("SIM000001", Role.PATIENT)
    assert patient_key is not None
    as_clinician = StaticKeys({("SIM000001", Role.CLINICIAN): patient_key})
    with pytest.raises(AuthenticationError):
        SyncPumpClient(pump.port, keys=as_clinician)


def test_only_the_service_role_changes_the_drug_library(pump: PumpUnderTest) -> None:
    limits = pump.client.read_limits()
    tighter = limits.model_copy(update={"max_dose_ng_per_day": 15_000_000})
    with pytest.raises(PumpRefused, match="ROLE_FORBIDDEN"):
        pump.client.write_limits(tighter)
    service = SyncPumpClient(pump.port, keys=paired(pump, "service"), role=Role.SERVICE)
    try:
        assert service.write_limits(tighter).max_dose_ng_per_day == 15_000_000
        with pytest.raises(PumpRefused, match="ROLE_FORBIDDEN"):
            service.set_rate(1_300_000, 1_400_000)
    finally:
        service.close()
    assert pump.client.read_limits().max_dose_ng_per_day == 15_000_000


def test_an_idle_session_expires_and_the_client_opens_a_new_one(pump: PumpUnderTest) -> None:
    assert pump.sim is not None
    pump.client.close()
    with raw_line(pump) as line:
        line.open_session(pump.keys)
        assert isinstance(line.request(StatusRequest()), StatusResponse)
        pump.sim.advance(601_000)
        assert nak_code(line.request(StatusRequest())) == NakCode.SESSION_EXPIRED
    pump.reconnect()
    pump.client.status()
    pump.sim.advance(601_000)
    assert pump.client.status().dose_ng_per_day > 0  # reopened, not failed


def test_no_key_appears_in_logs_events_or_errors(pump: PumpUnderTest, tmp_path: Path) -> None:
    assert pump.sim is not None
    key = pump.keys.key_for("SIM000001", Role.CLINICIAN)
    assert key is not None
    secrets = {key.hex(), key.hex().upper(), key.hex(" ")}
    env = {**os.environ, "PUMPCTL_DB": str(tmp_path / "c.db"), "PUMPCTL_PORT": pump.port}
    seen = []
    for keystore, args in (
        (pump.keys.path, ["--trace", "status"]),
        (pump.keys.path, ["--json", "events"]),
        (tmp_path / "empty.json", ["status"]),  # not paired
        (tmp_path / "wrong.json", ["status"]),  # a wrong key
    ):
        if keystore.name == "wrong.json":
            Keystore(keystore).add("SIM000001", Role.CLINICIAN, bytes(KEY_LEN))
        result = run_in_process({**env, "PUMPCTL_KEYSTORE": str(keystore)}, args)
        seen += [result.stdout, result.stderr]
    assert "STATUS" in seen[1], "the trace is among what is searched"
    audit = run_in_process(env, ["--json", "audit", "show"])
    assert "authentication-failed" in audit.stdout  # the failures are audited
    seen.append(audit.stdout)
    seen.append(json.dumps(pump.sim.state()))
    events, _ = pump.client.read_all_events()
    seen += [e.detail for e in events]
    seen.append((pump.sim.workdir / "pump.db").read_bytes().hex())  # raw NV: secret, not role key
    for text in seen:
        for secret in secrets:
            assert secret not in text


def test_cli_refusals_are_one_line_with_their_own_exit_status(
    pump: PumpUnderTest, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PUMPCTL_DB": str(tmp_path / "c.db"),
        "PUMPCTL_PORT": pump.port,
        "PUMPCTL_KEYSTORE": str(tmp_path / "none.json"),
    }
    result = run_in_process(env, ["status"])
    assert result.returncode == 6
    assert result.stderr.count("\n") == 1
    assert "not paired" in result.stderr
    assert "Traceback" not in result.stderr
    open_keys = tmp_path / "open.json"
    Keystore(open_keys).add("SIM000001", Role.CLINICIAN, bytes(KEY_LEN))
    open_keys.chmod(0o644)
    env["PUMPCTL_KEYSTORE"] = str(open_keys)
    result = run_in_process(env, ["status"])
    assert result.returncode == 6
    assert "chmod 600" in result.stderr


def test_frames_in_a_session_are_sealed_both_ways(pump: PumpUnderTest) -> None:
    seen: list[Frame] = []
    client = SyncPumpClient(
        pump.port,
        keys=pump.keys,
        trace=lambda d, f, m: seen.append(f) if d in ("tx", "rx") else None,
    )
    try:
        client.status()
    finally:
        client.close()
    sealed = [f for f in seen if f.msg_type != 0x30]
    assert sealed
    assert all(FrameFlags.AUTHENTICATED in f.flags and len(f.auth_trailer) == 20 for f in sealed)
