"""Refusals inside a session are sealed, and an unsealed answer inside a session is never
taken as a command's outcome: a forged refusal put on the line after the pump executed a
SET_RATE leaves the programmer reading the pump back, reporting and recording it applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.link.errors import PumpRefused
from pumpctl.protocol.codec import to_frame
from pumpctl.protocol.frames import DELIMITER, Frame, FrameFlags, StreamDecoder, encode_frame
from pumpctl.protocol.messages import MsgType, Nak, NakCode
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import InProcessSimulator
from tests.recorded import changes

pytestmark = pytest.mark.needs_simulator


class ForgesTheRefusal:
    """The pump's answer to the first ``msg_type`` request (which it handled) is replaced on
    the line by an unsealed NAK of the attacker's choosing, in the same session and
    sequence."""

    def __init__(self, code: NakCode, msg_type: MsgType = MsgType.SET_RATE) -> None:
        self.code, self.msg_type = code, msg_type
        self.armed = False
        self.forged = 0

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        if not self.forged and any(f.msg_type == self.msg_type for f in _frames(data)):
            self.armed = True
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        if not self.armed:
            return [(0.0, data)]
        self.armed = False
        (answer,) = _frames(data)
        nak = Nak(code=self.code, limit=0, detail="forged: dose above the hard limit, not set")
        forged = to_frame(nak, answer.seq, answer.session_id)
        self.forged += 1
        return [(0.0, DELIMITER + encode_frame(forged))]


class WatchesRefusals:
    """Every NAK the pump sends back, as it is on the line."""

    def __init__(self) -> None:
        self.naks: list[Frame] = []

    def to_pump(self, data: bytes) -> list[tuple[float, bytes]]:
        return [(0.0, data)]

    def to_programmer(self, data: bytes) -> list[tuple[float, bytes]]:
        self.naks += [f for f in _frames(data) if FrameFlags.NAK in f.flags]
        return [(0.0, data)]


def _frames(data: bytes) -> list[Frame]:
    return StreamDecoder().feed(data)


def _sim(pump: PumpUnderTest) -> InProcessSimulator:
    assert isinstance(pump.sim, InProcessSimulator)
    return pump.sim


@pytest.fixture
def cli_env(pump: PumpUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PUMPCTL_PORT", raising=False)
    monkeypatch.setenv("PUMPCTL_KEYSTORE", str(pump.keys.path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PUMPCTL_DB", str(tmp_path / "clinical.db"))
    monkeypatch.setenv("PUMPCTL_CLINICIAN", "test")
    return tmp_path / "clinical.db"


@pytest.mark.parametrize(
    "code",
    [
        NakCode.ABOVE_HARD_LIMIT,  # a therapy rule: never sent unsealed by the pump
        NakCode.LOCKED_OUT,  # the pump never locks out
        NakCode.AUTH_FAILED,  # the session's own refusals, which may come unsealed
        NakCode.SESSION_EXPIRED,
        NakCode.AUTH_REQUIRED,
    ],
    ids=lambda code: NakCode(code).name,
)
def test_a_forged_unsealed_refusal_of_an_executed_set_rate_is_read_back_applied(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str], code: NakCode
) -> None:
    line = ForgesTheRefusal(code)
    _sim(pump).line.tamper = line
    exit_code = main(["--port", pump.port, "set-rate", "1.3"])
    _sim(pump).line.tamper = None
    out, err = capsys.readouterr()
    assert line.forged == 1
    assert exit_code == 0, err
    assert "forged" not in out + err
    assert "refused" not in out + err
    assert pump.client.status().dose_ng_per_day == 1_300_000
    assert changes(cli_env) == [(1_300_000, "applied")]
    assert main(["audit", "verify"]) == 0


def test_a_forged_unsealed_refusal_of_a_status_read_is_not_shown(
    pump: PumpUnderTest, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = ForgesTheRefusal(NakCode.ABOVE_HARD_LIMIT, MsgType.STATUS)
    _sim(pump).line.tamper = line
    exit_code = main(["--port", pump.port, "--json", "status"])
    _sim(pump).line.tamper = None
    out, err = capsys.readouterr()
    assert line.forged == 1
    assert exit_code == 0, err
    assert "forged" not in out + err
    assert '"dose_ng_per_day": 1400000' in out


def test_the_pumps_refusals_inside_a_session_are_sealed(pump: PumpUnderTest) -> None:
    watch = WatchesRefusals()
    _sim(pump).line.tamper = watch
    with pytest.raises(PumpRefused) as refused:
        pump.client.set_rate(900_000_000, 1_400_000, confirm_large_change=True)
    with pytest.raises(PumpRefused) as closed:
        pump.client.write_limits(pump.client.read_limits())  # a clinician may not
    _sim(pump).line.tamper = None
    assert refused.value.code not in {NakCode.AUTH_FAILED, NakCode.AUTH_REQUIRED}
    assert closed.value.code == NakCode.ROLE_FORBIDDEN
    assert len(watch.naks) == 2
    assert all(FrameFlags.AUTHENTICATED in f.flags for f in watch.naks)
