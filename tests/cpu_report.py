"""``--cpu-report FILE``: one JSON line per test with the CPU seconds it cost, to see where the
suite's time goes on a machine others share (wall time there says little).

CPU is this process's (every thread: the in-process simulator, Textual's workers) plus that
of the processes the test started and waited for; setup and teardown count. Summarise with
``python -m tests.cpu_report FILE``."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-report",
        default=None,
        metavar="FILE",
        help="append one JSON line per test to FILE: its CPU seconds (this process and the "
        "processes it started), children's share and wall seconds",
    )


_failed: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _failed.add(report.nodeid)


def _children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    report = item.config.getoption("--cpu-report")
    if report is None:
        return (yield)
    children, cpu, wall = _children_s(), time.process_time(), time.perf_counter()
    started = time.time()
    try:
        return (yield)
    finally:
        child_s = _children_s() - children
        line = {
            "test": item.nodeid,
            "cpu_s": round(time.process_time() - cpu + child_s, 4),
            "children_s": round(child_s, 4),
            "wall_s": round(time.perf_counter() - wall, 4),
            "failed": item.nodeid in _failed,
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "started": round(started, 3),
        }
        with Path(report).open("a") as out:  # one short line per write: workers interleave
            out.write(json.dumps(line) + "\n")


def summary(lines: list[str], top: int = 30) -> str:
    rows = [json.loads(line) for line in lines if line.strip()]
    files: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for row in rows:
        total = files[row["test"].split("::")[0]]
        total[0] += 1
        total[1] += row["cpu_s"]
        total[2] += row["children_s"]
    out = [
        f"{len(rows)} tests, {sum(r['cpu_s'] for r in rows):.1f} CPU s "
        f"({sum(r['children_s'] for r in rows):.1f} in processes they started)",
        "",
        "  CPU s  procs  tests  file",
    ]
    for name, (count, cpu, child) in sorted(files.items(), key=lambda kv: -kv[1][1])[:top]:
        out.append(f"{cpu:7.2f} {child:6.2f} {int(count):6d}  {name}")
    out += [f"failed: {row['test']}" for row in rows if row.get("failed")]
    out += ["", "worker: tests, CPU s, wall s in tests, last test ended (s after the first began)"]
    first = min((r["started"] for r in rows if "started" in r), default=0.0)
    for worker in sorted({r.get("worker", "main") for r in rows}):
        mine = [r for r in rows if r.get("worker", "main") == worker]
        ended = max(r.get("started", first) + r["wall_s"] for r in mine) - first
        cpu = sum(r["cpu_s"] for r in mine)
        busy = sum(r["wall_s"] for r in mine)
        out.append(f"{worker}: {len(mine)}, {cpu:.1f}, {busy:.1f}, {ended:.1f}")
    out += ["", "  CPU s  procs  test"]
    for row in sorted(rows, key=lambda r: -r["cpu_s"])[:top]:
        out.append(f"{row['cpu_s']:7.2f} {row['children_s']:6.2f}  {row['test']}")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m tests.cpu_report FILE [TOP]")
    top = int(sys.argv[2]) if len(sys.argv) == 3 else 30
    print(summary(Path(sys.argv[1]).read_text().splitlines(), top))
