"""The pump's identity is authenticated: its proof covers the whole SESSION_OPEN answer
(drug, concentration, capacity, serial, model, firmware, the first four sealed for the key
holder), and later sealed answers must agree with it. A man in the middle who alters the
sealed identity gets a refused session, never a command sealed with a forged
concentration."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.protocol.codec import from_frame, to_frame
from pumpctl.protocol.frames import DELIMITER, FrameFlags, StreamDecoder, encode_frame
from pumpctl.protocol.messages import MsgType, SessionIdentity, SessionOpenResponse
from pumpctl.protocol.session import Role, handshake_answer, open_identity, session_key
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator

pytestmark = pytest.mark.needs_simulator

HYDROMORPHONE = {"drug": "hydromorphone", "concentration_ng_per_ml": 10_000_000}


class RewritesTheHandshake:
    """A man in the middle on the pump's SESSION_OPEN answers. Without a key it cannot read
    the sealed identity, so it changes what it can: one bit of the sealed bytes. Given
    ``key`` it opens the identity, shows another drug and concentration, seals and proves the
    rewritten answer again, as a pump whose handshake disagrees with its own later answers
    would."""

    def __init__(self, key: bytes | None = None, **also: object) -> None:
        self.key = key
        self.update = {**HYDROMORPHONE, **also}
        self.nonces: list[bytes] = []
        self.rewritten = 0
        self.sealed_to_pump: list[int] = []

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        for frame in StreamDecoder().feed(data):
            if FrameFlags.AUTHENTICATED in frame.flags:
                self.sealed_to_pump.append(frame.msg_type)
            elif frame.msg_type == MsgType.SESSION_OPEN:
                self.nonces.append(frame.payload[1:17])
        return [(0.0, data)]

    def _forge(self, answer: SessionOpenResponse) -> SessionOpenResponse:
        if self.key is None:
            sealed = bytearray(answer.sealed_identity)
            sealed[-20] ^= 0x01  # a bit of the ciphertext: the drug's, perhaps
            return answer.model_copy(update={"sealed_identity": bytes(sealed)})
        nonce = next(n for n in self.nonces if n[:4] == answer.nonce_echo)
        k_s = session_key(self.key, Role.CLINICIAN, nonce, answer.pump_nonce, answer.session_id)
        identity = open_identity(k_s, answer)
        clinical = {k: v for k, v in self.update.items() if k in SessionIdentity.model_fields}
        shown = identity.model_copy(update=clinical)
        clear = answer.model_copy(
            update={k: v for k, v in self.update.items() if k not in clinical}
        )
        return handshake_answer(self.key, Role.CLINICIAN, nonce, clear, shown)

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        out = b""
        for frame in StreamDecoder().feed(data):
            if frame.msg_type == MsgType.SESSION_OPEN and frame.is_response:
                answer = from_frame(frame)
                assert isinstance(answer, SessionOpenResponse)
                frame = to_frame(self._forge(answer), frame.seq)
                self.rewritten += 1
            out += DELIMITER + encode_frame(frame)
        return [(0.0, out)]


@pytest.fixture
def cli_env(pump: PumpUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(pump.keys.path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PUMPCTL_DB", str(tmp_path / "clinical.db"))
    monkeypatch.setenv("PUMPCTL_CLINICIAN", "test")


@pytest.mark.usefixtures("cli_env")
def test_a_rewritten_drug_in_the_handshake_refuses_the_session(
    pump: PumpUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(pump.sim, InProcessSimulator)
    line = RewritesTheHandshake()
    pump.sim.line.tamper = line
    args = ["--port", pump.port, "refill", "--withdrawn", "1", "--added", "18"]
    code = main([*args, "--concentration", "10", "--waive-bridge"])
    pump.sim.line.tamper = None
    err = capsys.readouterr().err
    assert code == 6, err
    assert len(err.strip().splitlines()) == 1
    assert "could not prove its identity" in err
    assert "altered on the line" in err
    assert line.rewritten
    assert line.sealed_to_pump == []  # nothing sealed, so nothing the pump would execute
    identity = pump.client.identify()
    assert (identity.drug, identity.concentration_ng_per_ml) == ("morphine", 25_000_000)


def _proving_line(pump: PumpUnderTest, **also: object) -> RewritesTheHandshake:
    assert isinstance(pump.sim, InProcessSimulator)
    identity = pump.client.identify()
    key = pump.keys.key_for(identity.serial_number, Role.CLINICIAN)
    assert key is not None
    line = RewritesTheHandshake(key, **also)
    pump.sim.line.tamper = line
    return line


@pytest.mark.usefixtures("cli_env")
def test_a_proven_drug_the_pumps_sealed_answers_contradict_is_not_used(
    pump: PumpUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a proven handshake answer is checked against the sealed STATUS: a concentration
    that does not turn the dose into the flow brings the pump's sealed IDENTIFY, and that is
    what the programmer shows and computes with (as after another programmer's refill)."""
    line = _proving_line(pump)
    code = main(["--port", pump.port, "--json", "identify"])
    assert isinstance(pump.sim, InProcessSimulator)
    pump.sim.line.tamper = None
    out, err = capsys.readouterr()
    assert code == 0, err
    assert line.rewritten
    assert MsgType.IDENTIFY in line.sealed_to_pump
    assert '"drug": "morphine"' in out
    assert "hydromorphone" not in out


@pytest.mark.usefixtures("cli_env")
def test_a_proven_identity_the_pumps_sealed_identify_contradicts_is_refused(
    pump: PumpUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reservoir, model or serial in the handshake that the pump's sealed IDENTIFY does not
    confirm: nothing about this pump is trusted (exit 6), and no command is sent."""
    line = _proving_line(pump, reservoir_capacity_ul=40_000)
    code = main(["--port", pump.port, "status"])
    assert isinstance(pump.sim, InProcessSimulator)
    pump.sim.line.tamper = None
    err = capsys.readouterr().err
    assert code == 6, err
    assert len(err.strip().splitlines()) == 1
    assert "its identity not as it proved" in err
    assert line.rewritten
    assert not {MsgType.REFILL, MsgType.SET_RATE} & set(line.sealed_to_pump)
