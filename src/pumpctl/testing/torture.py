"""Torture run: thousands of mixed commands through a faulty line, then an exact audit.

Every command the programmer reported applied must appear exactly once in the pump's event
log, every refused or never-executed one not at all, and every uncertain outcome must have
been resolved by reading the pump back. ``python -m pumpctl.testing.torture`` prints the
counts; the test suite runs a short version.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field

from firmware_sim.faults import FaultyLine, LineFaults
from pumpctl.client import PumpClient, Resolution, new_request_id
from pumpctl.keystore import Keystore
from pumpctl.link.errors import NoResponse, OutcomeUncertain, PumpError, PumpRefused
from pumpctl.programmer.core import COPY_REFUSALS
from pumpctl.protocol.messages import (
    BolusResponse,
    CatheterCheckResponse,
    EventCode,
    SetRateResponse,
)
from pumpctl.testing.targets import SimulatorProcess

HOUR_MS = 3_600_000
MIN_DOSE_NG, MAX_DOSE_NG, STEP_NG = 1_250_000, 2_500_000, 50_000
EXECUTED = {
    EventCode.RATE_CHANGED,
    EventCode.BOLUS_STARTED,
    EventCode.CATHETER_CHECKED,
}


@dataclass
class Ledger:
    """What the programmer believes happened, command by command, in order."""

    entries: list[tuple[int, str, str]] = field(default_factory=list)  # id, kind, outcome

    def add(self, request_id: int, kind: str, outcome: str) -> None:
        self.entries.append((request_id, kind, outcome))


@dataclass
class TortureReport:
    commands: int = 0
    sent: int = 0
    retried: int = 0
    confirmed: int = 0
    refused: int = 0
    unknown_resolved: int = 0
    unresolved: int = 0  # no answer and no read-back: the outcome stayed unknown
    reads: int = 0
    reads_failed: int = 0
    mis_executed: int = 0  # reported applied, not in the pump's log
    misreported: int = 0  # reported refused or not executed, but the pump executed it
    duplicated: int = 0
    phantom: int = 0
    order_mismatches: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.mis_executed
            or self.misreported
            or self.duplicated
            or self.phantom
            or self.order_mismatches
        )

    def summary(self) -> str:
        return (
            f"commands={self.commands} sent={self.sent} retried={self.retried} "
            f"confirmed={self.confirmed} refused={self.refused} "
            f"unknown-resolved={self.unknown_resolved} unresolved={self.unresolved} "
            f"reads={self.reads} reads-failed={self.reads_failed} "
            f"mis-executed={self.mis_executed} misreported={self.misreported} "
            f"duplicated={self.duplicated} phantom={self.phantom} "
            f"order-mismatches={self.order_mismatches}"
        )


async def _resolve(client: PumpClient, request_id: int, attempts: int = 50) -> Resolution | None:
    """What the pump recorded for ``request_id``; None if it could not be read back."""
    for _ in range(attempts):
        try:
            return (await client.resolve(request_id)).resolution
        except (NoResponse, PumpRefused):  # a lost answer, or a refusal of one copy's session
            continue
        except PumpError:
            return None
    return None


async def _drive(
    client: PumpClient, sim: SimulatorProcess, commands: int, rng: random.Random
) -> tuple[Ledger, TortureReport]:
    ledger, report = Ledger(), TortureReport()
    dose = None
    while dose is None:
        try:
            dose = (await client.status()).dose_ng_per_day
        except PumpError:
            continue
    for _ in range(commands):
        report.commands += 1
        roll = rng.random()
        if roll < 0.45:
            report.reads += 1
            try:
                if roll < 0.35:
                    await client.status()
                else:
                    await client.read_events(rng.randrange(64), 8)
            except PumpError:  # no answer, or a refusal of one copy's session
                report.reads_failed += 1
            continue
        kind = "set_rate" if roll < 0.75 else ("bolus" if roll < 0.9 else "catheter")
        request_id = new_request_id()  # kept whatever the answer: every command is audited
        call: Awaitable[SetRateResponse | BolusResponse | CatheterCheckResponse]
        if kind == "set_rate":
            up = rng.random() < 0.5
            new = dose + STEP_NG if up else dose - STEP_NG
            if not MIN_DOSE_NG <= new <= MAX_DOSE_NG:
                new = dose - STEP_NG if up else dose + STEP_NG
            if new > dose:
                sim.advance(25 * HOUR_MS)  # increases must be 24 h apart
            call = client.set_rate(new, dose, request_id=request_id)
        elif kind == "bolus":
            sim.advance(7 * HOUR_MS)  # past the lockout, and at most 4 a day
            call = client.bolus(50_000, 60, request_id=request_id)
        else:
            call = client.catheter_check(request_id=request_id)
        report.sent += 1
        before = client.transactions.counters.retransmissions
        outcome = await _outcome(client, call, request_id, kind, report)
        report.retried += client.transactions.counters.retransmissions - before
        if kind == "set_rate" and outcome == "applied":
            dose = new
        if kind == "set_rate" and outcome == "unresolved":
            dose = await _current_dose(client, dose)
        ledger.add(request_id, kind, outcome)
    return ledger, report


async def _outcome(
    client: PumpClient,
    call: Awaitable[SetRateResponse | BolusResponse | CatheterCheckResponse],
    request_id: int,
    kind: str,
    report: TortureReport,
) -> str:
    """What the programmer reports, as the programmer's one path decides it: a refusal of
    one copy of the frame, or a lost answer, is resolved by QUERY_OUTCOME."""
    try:
        await call
        report.confirmed += 1
        return "applied"
    except PumpRefused as refused:
        if refused.code not in COPY_REFUSALS:
            report.refused += 1
            return "refused"
    except OutcomeUncertain:
        pass
    except PumpError as error:  # e.g. the session could not be reopened
        report.problems.append(f"{kind} {request_id:#x}: {error}")
    resolution = await _resolve(client, request_id)
    if resolution is None:
        report.unresolved += 1
        return "unresolved"
    report.unknown_resolved += 1
    return {
        Resolution.APPLIED: "applied",
        Resolution.REFUSED: "refused",
        Resolution.NOT_EXECUTED: "not-executed",
    }[resolution]


async def _current_dose(client: PumpClient, believed: int) -> int:
    for _ in range(50):
        try:
            return (await client.status()).dose_ng_per_day
        except PumpError:
            continue
    return believed


def _audit(ledger: Ledger, events: list[tuple[int, int]], report: TortureReport) -> None:
    """Compare the ledger with the pump's (request id, event code) log, line for line."""
    executed = [rid for rid, code in events if rid and code in EXECUTED]
    counts = Counter(executed)
    known = {rid for rid, _, _ in ledger.entries}
    for rid, kind, outcome in ledger.entries:
        n = counts.get(rid, 0)
        if outcome == "applied" and n == 0:
            report.mis_executed += 1
            report.problems.append(f"{kind} {rid:#x} reported applied, not in the pump's log")
        elif outcome not in ("applied", "unresolved") and n:
            report.misreported += 1
            report.problems.append(f"{kind} {rid:#x} reported {outcome}, but executed")
        if n > 1:
            report.duplicated += 1
            report.problems.append(f"{kind} {rid:#x} executed {n} times")
    report.phantom = sum(1 for rid in counts if rid not in known)
    applied = [
        rid
        for rid, _, outcome in ledger.entries
        if outcome == "applied" or (outcome == "unresolved" and counts.get(rid))
    ]
    first_seen = list(dict.fromkeys(executed))
    if applied != first_seen:
        report.order_mismatches = 1
        report.problems.append("the pump's log and the programmer's ledger differ in order")


async def _open(port: str, keys: Keystore, deadline_s: float, attempts: int = 50) -> PumpClient:
    """Open a session through the faulty line; a lost handshake executes nothing, so retry."""
    for _ in range(attempts - 1):
        try:
            return await PumpClient.open(port, deadline_s=deadline_s, retries=4, keys=keys)
        except NoResponse:
            continue
    return await PumpClient.open(port, deadline_s=deadline_s, retries=4, keys=keys)


def run_torture(commands: int, faults: LineFaults, *, deadline_s: float = 0.03) -> TortureReport:
    rng = random.Random(faults.seed)
    sim = SimulatorProcess(extra_args=("--event-capacity", str(max(4096, commands * 4))))
    sim.start()
    keys = Keystore(sim.keystore_path)
    try:
        with FaultyLine(sim.port, faults) as line:

            async def drive() -> tuple[Ledger, TortureReport]:
                client = await _open(line.port, keys, deadline_s)
                async with client:
                    return await _drive(client, sim, commands, rng)

            ledger, report = asyncio.run(drive())

        async def read_back() -> list[tuple[int, int]]:
            async with await PumpClient.open(sim.port, keys=keys) as client:
                events, _ = await client.read_all_events()
                return [(e.request_id, int(e.code)) for e in events]

        _audit(ledger, asyncio.run(read_back()), report)
        return report
    finally:
        sim.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pumpctl.testing.torture",
        description="Mixed commands through a faulty line; prints the counts.",
    )
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument(
        "--faults", default="corrupt=0.01,seed=1", help="line faults, e.g. corrupt=0.01,drop=0.001"
    )
    parser.add_argument("--deadline-ms", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        faults = LineFaults.parse(args.faults)
    except ValueError as error:
        print(f"torture: {error}", file=sys.stderr)
        return 2
    report = run_torture(args.commands, faults, deadline_s=args.deadline_ms / 1000)
    print(report.summary())
    for problem in report.problems[:20]:
        print(f"  {problem}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
