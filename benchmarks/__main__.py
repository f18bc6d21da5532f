"""``python -m benchmarks [--quick]``: one table, each row beside its floor or peer."""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import rows as r
from benchmarks.stats import fmt

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="a smoke run (CI): few samples")
    parser.add_argument(
        "--write-readme", action="store_true", help="put the table into README.md's section"
    )
    args = parser.parse_args()
    quick = args.quick  # a smoke run: every row measured once or twice, nothing to read
    n = 10 if quick else 1000
    started = time.perf_counter()
    table = [
        *r.round_trips(n),
        *r.modbus_peer(n),
        *(r.event_log_across_bauds(3, (115_200,)) if quick else r.event_log_across_bauds(30)),
        *r.simulated_year(1 if quick else 20),
        *r.cli_status(1 if quick else 20),
        *r.tui_rows(1 if quick else 10),
        *r.authenticated_session(10 if quick else 300),
        *r.hil_setup(1 if quick else 30),
        *r.record_rows((300, 1_000) if quick else (10_000, 30_000, 100_000), 1 if quick else 10),
    ]
    lines = [f"Machine: {machine()}", ""]
    lines.append("| row | median | p99 | compared with | its median | ratio | target | note |")
    lines.append("| --- | ---: | ---: | --- | ---: | ---: | --- | --- |")
    for row in table:
        ref = row.reference
        lines.append(
            f"| {row.name} | {fmt(row.timing.median_s)} | {fmt(row.timing.p99_s)} | "
            f"{row.reference_name} | {fmt(ref.median_s) if ref else ''} | "
            f"{f'{row.ratio:.2f}×' if row.ratio is not None else ''} | {row.target} | {row.note} |"
        )
    lines += ["", f"({time.perf_counter() - started:.0f} s{', quick run' if args.quick else ''})"]
    print("\n".join(lines))
    if args.write_readme:
        write_readme(lines)


def write_readme(lines: list[str]) -> None:
    """Put the table between the README's benchmark markers, dated."""
    text = README.read_text()
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{README} has no {START} ... {END} section")
    body = [f"Latest run, {datetime.now(UTC):%Y-%m-%d}:", "", *lines]
    README.write_text(head + start + "\n" + "\n".join(body) + "\n" + end + tail)


if __name__ == "__main__":
    main()
