"""``python -m benchmarks [--quick]``: one table, each row beside its floor or peer."""

from __future__ import annotations

import argparse
import os
import platform
import time

from benchmarks import rows as r
from benchmarks.stats import fmt


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
    args = parser.parse_args()
    n = 30 if args.quick else 1000
    started = time.perf_counter()
    table = [
        *r.round_trips(n),
        *r.modbus_peer(n),
        *r.event_log_throughput(128 if args.quick else 4096),
        *r.simulated_year(3 if args.quick else 20),
        *r.cli_status(3 if args.quick else 20),
        *r.tui_rows(1 if args.quick else 10),
        *r.authenticated_session(30 if args.quick else 300),
        *r.hil_setup(3 if args.quick else 30),
    ]
    print(f"Machine: {machine()}")
    print()
    print("| row | median | p99 | compared with | its median | ratio | target | note |")
    print("| --- | ---: | ---: | --- | ---: | ---: | --- | --- |")
    for row in table:
        ref = row.reference
        print(
            f"| {row.name} | {fmt(row.timing.median_s)} | {fmt(row.timing.p99_s)} | "
            f"{row.reference_name} | {fmt(ref.median_s) if ref else ''} | "
            f"{f'{row.ratio:.2f}×' if row.ratio is not None else ''} | {row.target} | {row.note} |"
        )
    print()
    print(f"({time.perf_counter() - started:.0f} s{', quick run' if args.quick else ''})")


if __name__ == "__main__":
    main()
