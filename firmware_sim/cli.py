"""``pumpsim``: run the simulated pump on a pty, or control a running one."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pumpctl.cli_parser import VersionAction, own_process

if TYPE_CHECKING:
    from types import FrameType

    from firmware_sim.model.library import DrugLibrary
    from firmware_sim.simulator import InitialProgram

# Each command imports what it uses, when it runs: `pumpsim ctl advance 1d` and `--help`
# start no simulator and load no message models.


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pumpsim",
        description="Simulated intrathecal pump on a pseudo-terminal. "
        "Prints the device path as its first line, serves until SIGINT/SIGTERM. "
        "'pumpsim ctl --help' controls a running simulator.",
        epilog="example:\n"
        "  pumpsim --pty --state pump.db --first-boot --control /tmp/pump.ctl --pair\n\n"
        "shell completion: pumpsim completion bash|zsh",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    parser.add_argument("--pty", action="store_true", required=True, help="serve on a new pty")
    parser.add_argument("--state", type=Path, help="NV memory file (kept across restarts)")
    parser.add_argument(
        "--first-boot",
        action="store_true",
        help="program a new pump when --state is missing or empty (never otherwise: a lost "
        "memory is not silently replaced)",
    )
    parser.add_argument("--control", help="Unix socket for the debug port (pumpsim ctl)")
    parser.add_argument("--drug", default="morphine", help="drug at first boot")
    parser.add_argument(
        "--concentration",
        default=None,
        help="mg/mL or mcg/mL, as the drug library states (default: per drug, see "
        "docs/simulator.md)",
    )
    parser.add_argument(
        "--dose",
        default=None,
        help="mg/day or mcg/day, as the drug library states (default: per drug)",
    )
    parser.add_argument(
        "--volume", default=None, help="reservoir volume at first boot, mL (default: full)"
    )
    parser.add_argument("--model", default="IT-20", help="pump model: IT-20 or IT-40")
    parser.add_argument(
        "--library",
        type=Path,
        default=None,
        help="drug library JSON to hold at first boot (default: the shipped library)",
    )
    parser.add_argument(
        "--event-capacity",
        type=int,
        default=None,
        help="event log ring size at first boot (default 4096; smaller for tests)",
    )
    parser.add_argument("--serial", default=None, help="serial number at first boot")
    parser.add_argument(
        "--frozen-clock",
        action="store_true",
        help="pump time moves only when advanced (tests); default: follows real time",
    )
    parser.add_argument("--baud", type=int, default=None, help="pace replies at this line rate")
    parser.add_argument(
        "--line-faults",
        metavar="SPEC",
        default=None,
        help="serve through a faulty line (firmware_sim.faults), e.g. "
        "corrupt=0.01,drop=0.001,seed=7; its port is printed instead (docs/faults.md)",
    )
    parser.add_argument(
        "--pair",
        metavar="KEYSTORE",
        nargs="?",
        const="",
        default=None,
        help="pair at start: enrol a programmer with a key of its own, kept in its key store "
        "(default: the programmer's own, $PUMPCTL_KEYSTORE or the user config directory)",
    )
    parser.add_argument(
        "--pair-implant-key",
        action="store_true",
        help="with --pair: store the clinician implant key (programmer 0) instead of enrolling "
        "(the test harness; a clinic's recovery key)",
    )
    return parser


# First-boot program when --concentration/--dose are not given: (concentration, dose) in the
# drug's display unit. Starting points for a simulation, not clinical advice.
START_DEFAULTS = {
    "morphine": ("25", "1.4"),  # the documented case: 1.4 mg/day (Infumorph 25 mg/mL)
    "hydromorphone": ("10", "0.5"),
    "ziconotide": ("25", "2.4"),  # Prialt label: start at no more than 2.4 mcg/day
    "baclofen": ("500", "100"),  # label: twice an effective 50 mcg screening dose
}


def _library(args: argparse.Namespace) -> DrugLibrary:
    from firmware_sim.model.library import DrugLibrary, default_library

    if args.library is None:
        return default_library()
    try:
        data = json.loads(args.library.read_text())
        return DrugLibrary.from_json(data)
    except OSError as error:
        raise ValueError(f"cannot read {args.library}: {error.strerror}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{args.library} is not a drug library: {error}") from None


def _program(args: argparse.Namespace, library: DrugLibrary) -> InitialProgram:
    from firmware_sim.simulator import InitialProgram
    from pumpctl.units import parse_amount_ng, parse_volume_ul

    limits = library.limits_for(args.drug)
    unit = limits.display_unit
    default_concentration, default_dose = START_DEFAULTS.get(args.drug, (None, None))
    concentration: str | None = args.concentration or default_concentration
    dose: str | None = args.dose or default_dose
    if concentration is None or dose is None:
        raise ValueError(f"give --concentration and --dose for {args.drug} (no defaults)")
    model = library.model(args.model)
    volume_ul = model.reservoir_capacity_ul if args.volume is None else parse_volume_ul(args.volume)
    return InitialProgram(
        drug=args.drug,
        concentration_ng_per_ml=parse_amount_ng(concentration, unit, "concentration"),
        dose_ng_per_day=parse_amount_ng(dose, unit, "dose"),
        volume_ul=volume_ul,
        model=args.model,
        serial_number=args.serial,
        frozen_clock=args.frozen_clock,
    )


MAX_BAUD = 4_000_000


def check_options(args: argparse.Namespace) -> None:
    """Start-up options a pump could not start with: ``ValueError``, one line."""
    if args.baud is not None and not 0 < args.baud <= MAX_BAUD:
        raise ValueError(f"--baud {args.baud}: give a line rate from 1 to {MAX_BAUD}")
    if args.event_capacity is not None and args.event_capacity < 1:
        raise ValueError(f"--event-capacity {args.event_capacity}: give at least 1")
    if args.state is not None:
        if args.state.is_dir():
            raise ValueError(f"--state {args.state} is a directory: give a file")
        if not args.state.parent.is_dir():
            raise ValueError(f"--state {args.state}: directory {args.state.parent} does not exist")
    if args.control is not None:
        control = Path(args.control)
        if not control.parent.is_dir():
            raise ValueError(f"--control {control}: directory {control.parent} does not exist")
        if control.is_dir():
            raise ValueError(f"--control {control} is a directory: give a socket path")
    if args.library is not None and args.library.is_dir():
        raise ValueError(f"--library {args.library} is a directory: give a JSON file")


def serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    import signal
    import sqlite3
    import tempfile
    import threading

    from firmware_sim.control import ControlServer
    from firmware_sim.faults import FaultyLine, LineFaults
    from firmware_sim.pairing import pair
    from firmware_sim.server import PtyServer
    from firmware_sim.simulator import Simulator
    from firmware_sim.store import NoPumpMemory, NvError
    from pumpctl.keystore import Keystore, KeystoreError
    from pumpctl.protocol.session import Role
    from pumpctl.units import UnitError

    scratch = None
    state_path = args.state
    if state_path is None:
        scratch = tempfile.TemporaryDirectory(prefix="pumpsim-")
        state_path = Path(scratch.name) / "pump.db"
    try:
        # Before the simulator: a bad spec must not leave a first-booted state file behind.
        faults = None if args.line_faults is None else LineFaults.parse(args.line_faults)
        check_options(args)
        library = _library(args)
        simulator = Simulator(
            state_path,
            _program(args, library),
            library,
            event_capacity=args.event_capacity,
            first_boot_allowed=args.first_boot or args.state is None,
        )
        if args.pair is not None:
            keystore = Keystore(args.pair or None)
            pair(simulator, keystore, Role.CLINICIAN, implant_key=args.pair_implant_key)
    except NoPumpMemory as error:
        print(f"pumpsim: {error}: give --first-boot to program a new pump", file=sys.stderr)
        if scratch:
            scratch.cleanup()
        return 2
    except (UnitError, ValueError, KeystoreError, NvError, OSError, sqlite3.Error) as error:
        print(f"pumpsim: {error}", file=sys.stderr)
        if scratch:
            scratch.cleanup()
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers first: whoever reads the port may signal the moment it appears.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    failed: list[BaseException] = []

    def on_line_failure(error: BaseException) -> None:
        failed.append(error)
        stop.set()

    server = PtyServer(simulator, baud=args.baud, on_failure=on_line_failure).start()
    line = FaultyLine(server.port, faults).start() if faults is not None else None
    try:
        control = ControlServer(simulator, args.control).start() if args.control else None
    except OSError as error:
        print(f"pumpsim: cannot serve --control {args.control}: {error}", file=sys.stderr)
        control = None
        failed.append(error)
        stop.set()
    if not failed:
        print(line.port if line else server.port, flush=True)
    while not stop.wait(3600):
        pass
    if control:
        control.stop()
    if line:
        line.stop()
    server.stop()
    simulator.close()
    if scratch:
        scratch.cleanup()
    return 1 if failed else 0


def _ctl_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pumpsim ctl",
        description="Control a running simulator",
        epilog="example:\n  pumpsim ctl --control /tmp/pump.ctl advance 1d",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    key = sub.add_parser(
        "implant-key", help="write a role's implant key to a new file (0600), for pumpctl pair"
    )
    key.add_argument("file", help="the key file to create")
    key.add_argument("--role", choices=("clinician", "patient", "service"), default="clinician")
    return parser


def _write_key(path: str, key_hex: str) -> int:
    """A new file, owner-only from its first byte; an existing one is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        print(f"pumpsim ctl: cannot create {path}: {error.strerror}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "w") as file:
        file.write(key_hex + "\n")
    print(path)
    return 0


def ctl(argv: list[str]) -> int:
    args = _ctl_parser().parse_args(argv)
    from datetime import UTC, datetime

    from firmware_sim.control import ControlClient, parse_duration_ms
    from pumpctl.units import format_volume

    try:
        client = ControlClient(args.control)
    except OSError as error:
        print(f"pumpsim ctl: cannot reach {args.control}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        if args.op == "state":
            print(json.dumps(client.state(), indent=None if args.json else 2))
            return 0
        if args.op == "implant-key":
            return _write_key(args.file, client.implant_key(args.role))
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
        when = datetime.fromtimestamp(state["pump_time_ms"] // 1000, UTC)
        volume = format_volume(state["reservoir_ul"])
        print(f"pump time {when:%Y-%m-%d %H:%M:%S} UTC, reservoir {volume}")
    except (ValueError, ConnectionError) as error:
        print(f"pumpsim ctl: {error}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0


def _completion_parser() -> argparse.ArgumentParser:
    """Both programs in one, for the completion script: serving options and ``ctl ...``."""
    from pumpctl.completion import SHELLS

    parser = argparse.ArgumentParser(prog="pumpsim", parents=[_serve_parser()], add_help=False)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("ctl", parents=[_ctl_parser()], add_help=False, help="control a simulator")
    completion = commands.add_parser("completion", help="print the shell completion script")
    completion.add_argument("shell", choices=SHELLS)
    return parser


def completion(argv: list[str]) -> int:
    from pumpctl.completion import SHELLS, completion_script

    parser = argparse.ArgumentParser(
        prog="pumpsim completion", description="Print the shell completion script."
    )
    parser.add_argument("shell", choices=SHELLS, help="bash or zsh")
    args = parser.parse_args(argv)
    print(completion_script(_completion_parser(), args.shell), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process is its own, not a caller's
        own_process()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:
        return ctl(argv[1:])
    if argv[:1] == ["completion"]:
        return completion(argv[1:])
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
