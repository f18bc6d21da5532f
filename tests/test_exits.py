"""The exit statuses a script acts on: one table in the code, the same table in the README."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from pumpctl.clinical.record import RecordError
from pumpctl.exits import MEANING, ExitStatus, UsageError, exit_status
from pumpctl.link.errors import LinkError, OutcomeUncertain, PumpError
from pumpctl.programmer.errors import AppliedNotRecorded, NotApplied, VerificationFailed
from pumpctl.units import UnitError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_documents_every_status_as_the_code_does() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", README.read_text(), flags=re.MULTILINE)
    documented = {int(code): meaning for code, meaning in rows if int(code) in set(ExitStatus)}
    assert documented == {int(status): text for status, text in MEANING.items()}
    assert set(MEANING) == set(ExitStatus)


def test_the_most_specific_kind_decides() -> None:
    # AppliedNotRecorded and VerificationFailed are pump errors too: theirs is not "refused".
    assert exit_status(AppliedNotRecorded("disk full")) == ExitStatus.NOT_RECORDED
    assert exit_status(VerificationFailed("reads back 1.6")) == ExitStatus.VERIFY_FAILED
    assert exit_status(OutcomeUncertain("answer lost", 7)) == ExitStatus.UNCERTAIN
    assert exit_status(NotApplied("never received")) == ExitStatus.NOT_SENT
    assert exit_status(LinkError("port gone")) == ExitStatus.NOT_SENT
    assert exit_status(PumpError("refused")) == ExitStatus.REFUSED
    assert exit_status(RecordError("locked")) == ExitStatus.RECORD
    assert exit_status(sqlite3.OperationalError("disk I/O error")) == ExitStatus.RECORD
    assert exit_status(UnitError("1.4.5 is not a number")) == ExitStatus.USAGE
    assert exit_status(UsageError("no such directory")) == ExitStatus.USAGE


def test_an_error_no_entry_expects_is_not_swallowed() -> None:
    assert exit_status(ZeroDivisionError()) is None
