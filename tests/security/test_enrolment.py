"""Each programmer has a key of its own: a lost one is revoked without touching the others,
and the pump's log and the audit trail name the programmer that acted (docs/security.md T16).
Through the real simulator on its memory link, and ``pumpctl`` run in this process."""

from __future__ import annotations

import io
import json
import secrets
from pathlib import Path

import pytest

from firmware_sim.sessions import THROTTLE_MAX_MS
from pumpctl.cli import main
from pumpctl.client import SyncPumpClient
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.keystore import Keystore
from pumpctl.link.errors import AuthenticationError, PumpRefused
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.enrolment import PROGRAMMERS_MAX
from pumpctl.protocol.frames import Frame, StreamDecoder, encode_frame
from pumpctl.protocol.messages import (
    EventCode,
    EventRecord,
    MsgType,
    Nak,
    NakCode,
    PumpState,
    SessionOpenRequest,
)
from pumpctl.protocol.session import KEY_LEN, NONCE_LEN, Role
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator

pytestmark = pytest.mark.needs_simulator  # programmers are enrolled through its debug port
SERIAL = "SIM000001"


def enrolled(pump: PumpUnderTest, name: str, *, implant_key: bool = False) -> Keystore:
    """Another programmer paired with the pump as at implant (its own key store), or, with
    ``implant_key``, the clinic's implant key (programmer 0)."""
    assert pump.sim is not None
    path = pump.sim.workdir / f"{name}-keys.json"
    pump.sim.control.pair(str(path), "clinician", implant_key=implant_key)
    return Keystore(path)


def own_id(keys: Keystore) -> int:
    programmer_id = keys.programmer_id(SERIAL, Role.CLINICIAN)
    assert programmer_id is not None
    return programmer_id


def events(pump: PumpUnderTest, code: EventCode) -> list[EventRecord]:
    found, _ = pump.client.read_all_events()
    return [e for e in found if e.code == code]


@pytest.fixture
def mine(pump: PumpUnderTest, cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Keystore:
    """This programmer, enrolled as ``pumpsim --pair`` enrols one: ``pumpctl`` uses its key
    store (the test's ``pump.client`` holds the implant key, programmer 0)."""
    keys = enrolled(pump, "mine")
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(keys.path))
    return keys


def stop_and_reduce(client: SyncPumpClient) -> None:
    """What a clinician must always be able to do."""
    assert client.stop().state == PumpState.STOPPED
    dose = client.status().dose_ng_per_day
    assert client.set_rate(dose - 100_000, dose).dose_ng_per_day == dose - 100_000


def test_pairing_enrols_a_key_of_its_own_that_opens_sessions_as_itself(
    pump: PumpUnderTest, mine: Keystore
) -> None:
    me = own_id(mine)
    assert me != 0
    assert mine.key_for(SERIAL, Role.CLINICIAN) != pump.keys.key_for(SERIAL, Role.CLINICIAN)
    with SyncPumpClient(pump.port, keys=mine, exclusive=False) as client:
        listed = client.list_programmers()
    assert listed.session_programmer_id == me
    assert [(p.programmer_id, p.role, p.revoked_at_s) for p in listed.programmers] == [
        (me, Role.CLINICIAN, 0)
    ]
    (enrolment,) = events(pump, EventCode.PROGRAMMER_ENROLLED)
    assert (enrolment.value_a, enrolment.value_b) == (me, Role.CLINICIAN)
    opened = [e.detail for e in events(pump, EventCode.SESSION_OPENED)]
    assert f"clinician session of programmer {me}" in opened
    assert "clinician session of programmer 0 (implant key)" in opened


def test_a_revoked_programmer_is_shut_out_while_the_others_stop_and_reduce(
    pump: PumpUnderTest, mine: Keystore, capsys: pytest.CaptureFixture[str]
) -> None:
    lost = enrolled(pump, "lost")
    stolen = SyncPumpClient(pump.port, keys=lost, exclusive=False)
    try:
        assert stolen.status().state == PumpState.RUNNING  # its session is open
        code = main(["--port", pump.port, "programmers", "revoke", str(own_id(lost)), "--yes"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"Programmer {own_id(lost)} (" in out
        assert "1 of its sessions closed (confirmed by read back)" in out
        with pytest.raises(AuthenticationError, match="was revoked: it opens no session"):
            stolen.status()  # its open session was closed at once; no new one opens
    finally:
        stolen.close()
    code = main(["--keystore", str(lost.path), "--port", pump.port, "status"])
    err = capsys.readouterr().err
    assert code == 6
    assert err.count("\n") == 1
    assert "was revoked" in err
    with SyncPumpClient(pump.port, keys=mine, exclusive=False) as other:  # another programmer
        stop_and_reduce(other)
    assert pump.client.client.programmer_id == 0  # the implant key
    assert pump.client.resume().state == PumpState.RUNNING
    stop_and_reduce(pump.client)


def test_a_flood_of_session_opens_from_a_revoked_programmer_does_not_stop_a_clinician(
    pump: PumpUnderTest, mine: Keystore
) -> None:
    assert isinstance(pump.sim, InProcessSimulator)
    simulator = pump.sim.simulator
    lost = own_id(enrolled(pump, "lost"))
    pump.client.revoke_programmer(lost)
    pump.client.close()
    refusals: list[NakCode] = []

    def attack(times: int) -> None:
        """SESSION_OPENs naming the revoked programmer, through the pump's frame decoder."""
        for _ in range(times):
            request = SessionOpenRequest(
                role=Role.CLINICIAN,
                programmer_nonce=secrets.token_bytes(NONCE_LEN),
                programmer_id=lost,
            )
            (frame,) = StreamDecoder().feed(encode_frame(to_frame(request, 7)))
            answer = simulator.handle_frame(frame)
            assert answer is not None
            nak = from_frame(answer)
            assert isinstance(nak, Nak)
            refusals.append(nak.code)

    attack(30)  # the throttle at its cap before the clinician arrives
    sent: list[int] = []

    def interleave(direction: str, frame: Frame | bytes, _: object) -> None:
        if direction == "tx" and isinstance(frame, Frame):
            attack(5)
            sent.append(frame.msg_type)

    start_ms = simulator.pump.now_ms()
    clinician = SyncPumpClient(pump.port, keys=mine, trace=interleave, exclusive=False)
    try:
        stop_and_reduce(clinician)
        retransmissions = clinician.client.transactions.counters.retransmissions
    finally:
        clinician.close()
    elapsed_ms = simulator.pump.now_ms() - start_ms
    assert set(refusals) == {NakCode.PROGRAMMER_REVOKED}
    assert sent[0] == MsgType.SESSION_OPEN
    assert MsgType.SESSION_OPEN not in sent[1:]  # one session, never ended by the flood
    assert retransmissions == 0
    assert elapsed_ms <= len(sent) * THROTTLE_MAX_MS < 1000
    pump.reconnect()
    counted = sum(e.value_a for e in events(pump, EventCode.AUTH_FAILURE))
    assert counted == len(refusals)  # counted like failed proofs, coalesced in the log
    assert len(events(pump, EventCode.AUTH_FAILURE)) <= 2


def test_the_list_shows_every_programmer_and_which_is_this_one(
    pump: PumpUnderTest, mine: Keystore, capsys: pytest.CaptureFixture[str]
) -> None:
    other = own_id(enrolled(pump, "other"))
    me = own_id(mine)
    assert main(["--port", pump.port, "--json", "programmers", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["session_programmer_id"] == me
    rows = {p["programmer_id"]: p for p in listed["programmers"]}
    assert set(rows) == {me, other}
    assert rows[me]["this"] is True
    assert rows[other]["this"] is False
    assert {p["role"] for p in rows.values()} == {"clinician"}
    assert all(p["revoked_at_s"] is None and p["enrolled_at_s"] > 0 for p in rows.values())
    assert main(["--port", pump.port, "programmers", "list"]) == 0
    text = capsys.readouterr().out
    assert f"* {me:>10}  clinician" in text
    assert f"  {other:>10}  clinician" in text


def test_the_log_and_the_audit_trail_name_the_programmer(
    pump: PumpUnderTest, mine: Keystore, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = own_id(enrolled(pump, "other"))
    me = own_id(mine)
    assert main(["--port", pump.port, "programmers", "revoke", str(other), "--yes"]) == 0
    assert main(["--port", pump.port, "set-rate", "1.3"]) == 0
    capsys.readouterr()
    (revoked,) = events(pump, EventCode.PROGRAMMER_REVOKED)
    assert (revoked.value_a, revoked.value_b) == (other, me)
    assert f"revoked by programmer {me}" in revoked.detail
    record = ClinicalRecord.open(cli_env)
    try:
        entries = record.audit_entries(SERIAL)
        assert record.verify_audit().intact
    finally:
        record.close()
    by_action = {e["action"]: e for e in entries}
    assert by_action["programmer-revoked"]["data"]["programmer_id"] == other
    assert by_action["programmer-revoked"]["programmer"] == me
    assert by_action["change-requested"]["programmer"] == me


def test_revoking_this_programmer_asks_warns_and_closes_its_session(
    pump: PumpUnderTest,
    mine: Keystore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = str(own_id(mine))
    client = SyncPumpClient(pump.port, keys=mine, exclusive=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["--port", pump.port, "programmers", "revoke", me]) == 1
    err = capsys.readouterr().err
    assert "the programmer you are using" in err
    assert "not revoked" in err
    try:
        assert client.status().state == PumpState.RUNNING  # nothing was sent
        monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
        assert main(["--port", pump.port, "programmers", "revoke", me]) == 0
        out = capsys.readouterr().out
        assert "this was this programmer: pair it again" in out
        with pytest.raises(AuthenticationError, match="revoked"):
            client.status()
    finally:
        client.close()
    assert pump.client.status().state == PumpState.RUNNING  # the implant key still works


def test_a_tenth_programmer_is_refused_until_one_is_revoked(pump: PumpUnderTest) -> None:
    ids: list[int] = []
    while len(ids) < PROGRAMMERS_MAX:
        ids.append(secrets.randbelow(2**31) + 1)
        pump.client.enrol_programmer(ids[-1], Role.CLINICIAN, bytes(KEY_LEN), "desk")
    with pytest.raises(PumpRefused) as full:
        pump.client.enrol_programmer(424242, Role.CLINICIAN, bytes(KEY_LEN), "one more")
    assert full.value.code == NakCode.ENROLMENT_FULL
    renewed = pump.client.enrol_programmer(ids[-1], Role.CLINICIAN, bytes(KEY_LEN), "renewed")
    assert renewed.renewed  # a programmer paired again is never refused for room
    pump.client.revoke_programmer(ids[-1])
    with pytest.raises(PumpRefused) as again:
        pump.client.enrol_programmer(ids[-1], Role.CLINICIAN, bytes(KEY_LEN), "back")
    assert again.value.code == NakCode.PROGRAMMER_REVOKED  # never enrolled again
    assert not pump.client.enrol_programmer(424242, Role.CLINICIAN, bytes(KEY_LEN), "x").renewed


@pytest.mark.parametrize(
    ("label", "why"),
    [
        ("desk\x07", "control characters"),
        ("x" * 33, "at most 32"),
        ("   ", "empty"),
    ],
)
def test_a_bad_label_is_refused_in_one_line_by_the_programmer_and_the_pump(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str], label: str, why: str
) -> None:
    assert pump.sim is not None
    implant = enrolled(pump, "clinic", implant_key=True)
    key_file = pump.sim.workdir / "implant.key"
    key = implant.key_for(SERIAL, Role.CLINICIAN)
    assert key is not None
    key_file.write_text(key.hex())
    fresh = pump.sim.workdir / "fresh-keys.json"
    argv = ["--keystore", str(fresh), "--port", pump.port, "pair", "--serial", SERIAL]
    code = main([*argv, "--key-file", str(key_file), "--label", label])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "label" in err or "--label" in err
    assert not fresh.exists()  # nothing sent, nothing stored
    if len(label.encode()) <= 32:  # the pump enforces it too (a longer one does not encode)
        with pytest.raises(PumpRefused, match=why) as refused:
            pump.client.enrol_programmer(77, Role.CLINICIAN, bytes(KEY_LEN), label)
        assert refused.value.code == NakCode.INVALID_ARGUMENT


def test_the_implant_key_is_never_revoked(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", pump.port, "programmers", "revoke", "0", "--yes"]) == 2
    assert "not a number from 1" in capsys.readouterr().err
    assert main(["--port", pump.port, "programmers", "revoke", "12345", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "UNKNOWN_PROGRAMMER" in err
    with pytest.raises(PumpRefused, match="never revoked") as refused:
        pump.client.revoke_programmer(0)
    assert refused.value.code == NakCode.INVALID_ARGUMENT


def test_a_key_store_holding_an_implant_key_and_enrolled_keys_finds_its_key(
    pump: PumpUnderTest,
) -> None:
    """Its own id comes first (it is what the store uses most); a pump that knows no such
    programmer refuses it, and the store's implant key for that pump opens the session."""
    assert pump.sim is not None
    store = Keystore(pump.sim.workdir / "mixed-keys.json")
    implant = pump.keys.key_for(SERIAL, Role.CLINICIAN)
    assert implant is not None
    store.add(SERIAL, Role.CLINICIAN, implant)  # programmer 0 here
    store.add("SIM000777", Role.CLINICIAN, bytes(KEY_LEN), store.own_programmer_id())
    assert store.programmer_ids(Role.CLINICIAN) == [store.own_programmer_id(), 0]
    with SyncPumpClient(pump.port, keys=store, exclusive=False) as client:
        assert client.client.programmer_id == 0
        assert client.status().state == PumpState.RUNNING
