"""``pumpsim``: run the simulated pump on a pty, or control a running one."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from firmware_sim.control import ControlClient, ControlServer, parse_duration_ms
from firmware_sim.model.library import default_library
from firmware_sim.server import PtyServer
from firmware_sim.simulator import InitialProgram, Simulator
from pumpctl.units import UnitError, display_unit, parse_amount_ng, parse_volume_ul


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pumpsim",
        description="Simulated intrathecal pump on a pseudo-terminal. "
        "Prints the device path as its first line, serves until SIGINT/SIGTERM. "
        "'pumpsim ctl --help' controls a running simulator.",
    )
    parser.add_argument("--pty", action="store_true", required=True, help="serve on a new pty")
    parser.add_argument("--state", type=Path, help="NV memory file (kept across restarts)")
    parser.add_argument("--control", help="Unix socket for the debug port (pumpsim ctl)")
    parser.add_argument("--drug", default="morphine", help="drug at first boot")
    parser.add_argument(
        "--concentration", default=None, help="mg/mL or mcg/mL, as the drug library states"
    )
    parser.add_argument(
        "--dose", default=None, help="mg/day or mcg/day, as the drug library states"
    )
    parser.add_argument("--volume", default="20", help="reservoir volume at first boot, mL")
    parser.add_argument("--model", default="IT-20", help="pump model: IT-20 or IT-40")
    parser.add_argument("--serial", default=None, help="serial number at first boot")
    parser.add_argument(
        "--frozen-clock",
        action="store_true",
        help="pump time moves only when advanced (tests); default: follows real time",
    )
    parser.add_argument("--baud", type=int, default=None, help="pace replies at this line rate")
    return parser


def _program(args: argparse.Namespace) -> InitialProgram:
    unit = display_unit(args.drug)
    defaults = {"mg": ("25", "1.4"), "mcg": ("100", "1.2")}[unit]
    concentration = args.concentration or defaults[0]
    dose = args.dose or defaults[1]
    return InitialProgram(
        drug=args.drug,
        concentration_ng_per_ml=parse_amount_ng(concentration, unit, "concentration"),
        dose_ng_per_day=parse_amount_ng(dose, unit, "dose"),
        volume_ul=parse_volume_ul(args.volume),
        model=args.model,
        serial_number=args.serial,
        frozen_clock=args.frozen_clock,
    )


def serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    scratch = None
    state_path = args.state
    if state_path is None:
        scratch = tempfile.TemporaryDirectory(prefix="pumpsim-")
        state_path = Path(scratch.name) / "pump.db"
    try:
        default_library().limits_for(args.drug)
        simulator = Simulator(state_path, _program(args))
    except (UnitError, ValueError) as error:
        print(f"pumpsim: {error}", file=sys.stderr)
        return 2
    server = PtyServer(simulator, baud=args.baud).start()
    control = ControlServer(simulator, args.control).start() if args.control else None
    print(server.port, flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(3600):
        pass
    if control:
        control.stop()
    server.stop()
    simulator.close()
    if scratch:
        scratch.cleanup()
    return 0


def _ctl_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pumpsim ctl", description="Control a running simulator")
    parser.add_argument("--control", required=True, help="the simulator's control socket")
    sub = parser.add_subparsers(dest="op", required=True)
    advance = sub.add_parser("advance", help="advance pump time, e.g. 3d, 12h, 90m, 30s")
    advance.add_argument("duration")
    fault = sub.add_parser(
        "fault",
        help="inject a device fault: catheter=patent|partial|occluded|leak, "
        "motor_stall=on|off, battery=PCT; or 'clear'",
    )
    fault.add_argument("spec")
    state = sub.add_parser("state", help="print the pump's state")
    state.add_argument("--json", action="store_true")
    return parser


def ctl(argv: list[str]) -> int:
    args = _ctl_parser().parse_args(argv)
    try:
        client = ControlClient(args.control)
    except OSError as error:
        print(f"pumpsim ctl: cannot reach {args.control}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        if args.op == "state":
            print(json.dumps(client.state(), indent=None if args.json else 2))
            return 0
        if args.op == "advance":
            answer = client.advance(parse_duration_ms(args.duration))
        elif args.spec == "clear":
            answer = client.clear()
        else:
            name, sep, value = args.spec.partition("=")
            if not sep:
                raise ValueError(f"fault {args.spec!r} is not NAME=VALUE or 'clear'")
            answer = client.fault(name, value)
        state = answer["state"]
        print(f"pump time {state['pump_time_ms'] // 1000} s, reservoir {state['reservoir_ul']} µL")
    except (ValueError, ConnectionError) as error:
        print(f"pumpsim ctl: {error}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:
        return ctl(argv[1:])
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
