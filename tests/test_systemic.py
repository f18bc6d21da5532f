"""The patient's systemic opioids: amounts parsed exactly, MME/day by the CDC 2022 factors,
kept in the record with their audit entries, and shown by the CLI beside the IT dose --
in this process, against the real simulator on the memory link."""

from __future__ import annotations

import json
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.clinical.systemic import (
    DAY_S,
    TAPER_LOOKBACK_S,
    SystemicEntry,
    SystemicError,
    format_mme,
    fraction_text,
    load_from_entries,
    mme_per_day,
    normalise,
    systemic_load,
)
from pumpctl.testing.plugin import PumpUnderTest
from pumpctl.testing.targets import SimulatedPump

SERIAL = "SN-TEST-1"


@pytest.mark.parametrize(
    ("name", "typed", "text", "mme"),
    [
        ("oxycodone", "120mg/day", "120 mg/day", Fraction(180)),
        ("Oxycodone", " 120  mg / day ", "120 mg/day", Fraction(180)),
        ("oxycodone", "10mg/12h", "10 mg/12h", Fraction(30)),
        ("oxycodone", "7.5mg/4h", "7.5 mg/4h", Fraction(135, 2)),
        ("fentanyl-patch", "50mcg/h", "50 mcg/h", Fraction(120)),
        ("fentanyl-patch", "12.5 µg/hr", "12.5 mcg/h", Fraction(30)),
        ("fentanyl-patch", "25\u03bcg/h", "25 mcg/h", Fraction(60)),
        ("codeine", "30mg/6h", "30 mg/6h", Fraction(18)),
        ("methadone", "10 mg/8h", "10 mg/8h", Fraction(141)),
        ("tapentadol", "3mg/day", "3 mg/day", Fraction(6, 5)),  # 3 × 0.4: inexact in float
        ("tramadol", "50mg/24h", "50 mg/day", Fraction(10)),
        ("hydromorphone", "500mcg/d", "500 mcg/day", Fraction(5, 2)),
        ("morphine", "60mg/12h", "60 mg/12h", Fraction(120)),
        ("buprenorphine", "8mg/day", "8 mg/day", None),
        ("buprenorphine-patch", "20mcg/h", "20 mcg/h", None),
    ],
)
def test_amounts_parse_exactly_into_mme_per_day(
    name: str, typed: str, text: str, mme: Fraction | None
) -> None:
    assert normalise(name, typed) == (name.lower(), text)
    assert mme_per_day(name, typed) == mme
    assert mme_per_day(name, text) == mme  # the stored text reads back the same


@pytest.mark.parametrize(
    ("name", "typed", "needle"),
    [
        ("heroin", "5mg/day", "'heroin' is not known"),
        ("fentanyl", "50mcg/h", "not known"),  # only the patch has a CDC factor here
        ("fentanyl-patch", "50mg/day", "is a patch: give its rate in mcg/h"),
        ("fentanyl-patch", "50mcg/day", "in mcg/h"),
        ("oxycodone", "50mcg/h", "taken by mouth"),
        ("oxycodone", "10mg/h", "taken by mouth"),
        ("oxycodone", "-120mg/day", "negative"),
        ("oxycodone", "0mg/day", "above zero"),
        ("oxycodone", "120", "not a dose per time"),
        ("oxycodone", "120mg", "not a dose per time"),
        ("oxycodone", "1e3mg/day", "not a dose per time"),
        ("oxycodone", "120mg/48h", "1 to 24 hours"),
        ("oxycodone", "12000mg/day", "18000 MME/day, more than the plausible 5000"),
        ("buprenorphine", "800mg/day", "implausible (more than 100 mg/day)"),
    ],
)
def test_bad_entries_are_refused_with_one_line_naming_the_problem(
    name: str, typed: str, needle: str
) -> None:
    with pytest.raises(SystemicError) as error:
        normalise(name, typed)
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_mme_shows_exactly_or_marks_an_approximation() -> None:
    assert format_mme(Fraction(135, 2)) == "67.5"
    assert format_mme(Fraction(6, 5)) == "1.2"
    assert format_mme(Fraction(400, 7)) == "≈57.1"
    assert fraction_text(Fraction(400, 7)) == "400/7"
    assert fraction_text(Fraction(300)) == "300"


def entry(i: int, time_s: int, action: str, name: str, amount: str = "") -> SystemicEntry:
    return SystemicEntry(i, SERIAL, time_s, "dr", action, name, amount)  # type: ignore[arg-type]


def test_the_load_sums_only_the_opioids_with_a_factor_and_follows_stops() -> None:
    entries = [
        entry(1, 100, "set", "oxycodone", "120 mg/day"),
        entry(2, 100, "set", "fentanyl-patch", "50 mcg/h"),
        entry(3, 200, "set", "buprenorphine", "8 mg/day"),
        entry(4, 300, "stop", "fentanyl-patch"),
        entry(5, 10 * DAY_S, "set", "morphine", "30 mg/day"),  # in the future of now
    ]
    load = load_from_entries(entries, 250)
    assert load.total_mme_per_day == 300
    assert load.unknown == ("buprenorphine",)
    assert [o.name for o in load.opioids] == ["buprenorphine", "fentanyl-patch", "oxycodone"]
    assert load.opioids[0].mme_per_day is None
    assert load.opioids[2].since_s == 100
    assert load_from_entries(entries, 400).total_mme_per_day == 180  # the patch stopped


def test_tapering_means_the_total_fell_within_the_lookback_window() -> None:
    start = 1_000_000
    entries = [entry(1, start, "set", "oxycodone", "240 mg/day")]
    assert not load_from_entries(entries, start + DAY_S).tapering
    entries.append(entry(2, start + 2 * DAY_S, "set", "oxycodone", "120 mg/day"))
    tapering = load_from_entries(entries, start + 3 * DAY_S)
    assert tapering.tapering
    assert tapering.total_mme_per_day == 180
    settled = load_from_entries(entries, start + 2 * DAY_S + TAPER_LOOKBACK_S + 1)
    assert not settled.tapering  # a month at the lower dose: no longer tapering
    entries.append(entry(3, start + 4 * DAY_S, "set", "oxycodone", "240 mg/day"))
    assert not load_from_entries(entries, start + 5 * DAY_S).tapering  # back up to the peak


def test_the_record_keeps_entries_with_audit_entries_that_verify(tmp_path: Path) -> None:
    record = ClinicalRecord.open(tmp_path / "clinical.db")
    try:
        record.set_systemic_opioid(SERIAL, 100, "oxycodone", "120mg/day", clinician="dr-a")
        record.set_systemic_opioid(SERIAL, 150, "oxycodone", "120 mg/day", clinician="dr-a")
        record.set_systemic_opioid(SERIAL, 200, "fentanyl-patch", "50mcg/h", clinician="dr-b")
        record.stop_systemic_opioid(SERIAL, 300, "Oxycodone", clinician="dr-b")
        with pytest.raises(SystemicError, match="not recorded as taken"):
            record.stop_systemic_opioid(SERIAL, 400, "oxycodone", clinician="dr-b")
        with pytest.raises(SystemicError):
            record.set_systemic_opioid(SERIAL, 400, "oxycodone", "120", clinician="dr-b")
        rows = record.systemic_entries(SERIAL)
        assert [(r.action, r.name, r.amount_text, r.clinician) for r in rows] == [
            ("set", "oxycodone", "120 mg/day", "dr-a"),  # the same amount again: one row
            ("set", "fentanyl-patch", "50 mcg/h", "dr-b"),
            ("stop", "oxycodone", "", "dr-b"),
        ]
        actions = [e["action"] for e in record.audit_entries(SERIAL)]
        assert actions == ["systemic-opioid-set"] * 2 + ["systemic-opioid-stop"]
        assert record.audit_entries(SERIAL)[0]["data"]["mme_per_day"] == "180"
        assert record.verify_audit().intact
        assert systemic_load(record, SERIAL, 500).total_mme_per_day == 120
    finally:
        record.close()

    db = sqlite3.connect(tmp_path / "clinical.db")
    db.execute("UPDATE systemic_opioids SET amount_text = '20 mcg/h' WHERE id = 2")
    db.commit()
    db.close()
    record = ClinicalRecord.open(tmp_path / "clinical.db")
    try:
        report = record.verify_audit()
        assert report.problem == "systemic opioid entry 2 differs from its audit entry 2"
    finally:
        record.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.needs_simulator
def test_cli_round_trip_with_and_without_the_pump(
    pump: PumpUnderTest,
    simulator: SimulatedPump,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    port = pump.port
    code, out, _ = run(capsys, "--port", port, "opioids", "set", "oxycodone", "240", "mg/day")
    assert code == 0
    assert "oxycodone 240 mg/day (360 MME/day) recorded" in out
    assert run(capsys, "--port", port, "opioids", "set", "fentanyl-patch", "50mcg/h")[0] == 0
    code, out, _ = run(capsys, "--port", port, "opioids", "set", "buprenorphine", "8mg/day")
    assert "(no CDC factor)" in out

    code, out, _ = run(capsys, "--port", port, "--json", "opioids", "show")
    shown = json.loads(out)
    serial = shown["pump_serial"]
    assert shown["total_mme_per_day"] == "480"
    assert shown["no_cdc_factor"] == ["buprenorphine"]
    assert shown["intrathecal"] == "morphine 1.4 mg/day"  # beside, not added
    assert {o["name"]: o["mme_per_day"] for o in shown["opioids"]} == {
        "buprenorphine": None,
        "fentanyl-patch": "120",
        "oxycodone": "360",
    }
    assert not shown["tapering"]

    simulator.advance(DAY_S * 1000)
    code, out, _ = run(capsys, "--port", port, "--json", "opioids", "set", "oxycodone", "120mg/day")
    tapered = json.loads(out)
    assert tapered["total_mme_per_day"] == "300"
    assert tapered["tapering"]
    assert tapered["time_s"] >= shown["time_s"] + DAY_S  # dated by the pump's clock

    # A phone follow-up: no pump, on the record's timeline.
    code, out, _ = run(capsys, "opioids", "stop", "fentanyl-patch", "--serial", serial)
    assert code == 0, out
    code, out, _ = run(capsys, "opioids", "--serial", serial, "show")
    assert code == 0
    assert "total                180 MME/day, tapering (buprenorphine not counted" in out
    assert "oxycodone            120 mg/day   180 MME/day" in out
    assert "fentanyl" not in out
    assert "Intrathecal:" in out
    assert "never added to it" in out
    stopped = ClinicalRecord.open(cli_env)
    try:
        assert stopped.systemic_entries(serial)[-1].time_s >= tapered["time_s"]
    finally:
        stopped.close()

    assert run(capsys, "audit", "verify")[0] == 0
    code, out, _ = run(capsys, "--json", "audit", "show")
    actions = [e["action"] for e in json.loads(out)["entries"]]
    assert actions.count("systemic-opioid-set") == 4
    assert actions.count("systemic-opioid-stop") == 1

    (tmp_path / "visit").mkdir()
    code, _, err = run(capsys, "--port", port, "report", "--out", str(tmp_path / "visit"))
    assert code == 0, err
    markdown = next((tmp_path / "visit").glob("*.md")).read_text()
    assert "## Systemic opioids" in markdown
    assert "systemic opioids 180 MME/day, tapering" in markdown
    assert "| oxycodone | 120 mg/day | 180 MME/day |" in markdown


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["opioids", "set", "heroin", "5mg/day"], 2, "'heroin' is not known"),
        (["opioids", "set", "fentanyl-patch", "50mg/day"], 2, "mcg/h"),
        (["opioids", "set", "oxycodone", "120"], 2, "not a dose per time"),
        (["opioids", "stop", "tramadol"], 2, "tramadol is not recorded as taken"),
        (["opioids", "show", "--serial", "NO-SUCH-PUMP"], 2, "not in the clinical record"),
    ],
)
def test_cli_bad_input_is_one_line_and_records_nothing(
    pump: PumpUnderTest,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    needle: str,
) -> None:
    port_args = [] if "--serial" in argv else ["--port", pump.port]
    result, out, err = run(capsys, *port_args, *argv)
    assert result == code
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("pumpctl: ")
    assert needle in err
    if cli_env.exists():
        record = ClinicalRecord.open(cli_env)
        try:
            assert record.systemic_entries() == []
            assert not any(str(e["action"]).startswith("systemic") for e in record.audit_entries())
        finally:
            record.close()


def test_a_stop_logged_without_the_pump_counts_even_if_the_pump_clock_trails(
    tmp_path: Path,
) -> None:
    """Offline entries are dated on the record's timeline, which runs with the wall clock; a
    stopped or slow pump clock may still read earlier. What is recorded has happened."""
    record = ClinicalRecord.open(tmp_path / "clinical.db")
    try:
        record.set_systemic_opioid("SN1", 1_000, "oxycodone", "120mg/day", clinician="dr-a")
        record.set_systemic_opioid("SN1", 1_000, "fentanyl-patch", "50mcg/h", clinician="dr-a")
        record.stop_systemic_opioid("SN1", 1_005, "fentanyl-patch", clinician="dr-a")
        load = systemic_load(record, "SN1", now_s=1_002)  # the pump's clock
    finally:
        record.close()
    assert [o.name for o in load.opioids] == ["oxycodone"]
    assert load.total_mme_per_day == 180
    assert load.tapering
