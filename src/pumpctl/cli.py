"""``pumpctl``: the programmer from a shell. One line of reason on every failure.

The parser (:mod:`pumpctl.cli_parser`) is built first; only then is the module that serves the
chosen command imported (``ROOMS``), so ``--help``, a typo or a read pays only for what it
uses. Exit statuses: one table from each kind of failure to its status, ``pumpctl.exits``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from pumpctl.cli_json import fail, json_mode, output_json
from pumpctl.cli_parser import attach_values, build_parser, own_process
from pumpctl.completion import completion_script
from pumpctl.exits import ExitStatus, exit_status
from pumpctl.text import TextError, check_typed

# The module (``pumpctl.<room>``) whose handlers serve each command.
ROOMS = {
    **dict.fromkeys(["identify", "status", "limits", "alarms", "events", "report"], "cli_reads"),
    **dict.fromkeys(
        ["set-rate", "bolus", "stop", "resume", "catheter-check", "refill", "ack"], "cli_therapy"
    ),
    **dict.fromkeys(["vas", "history", "opioids", "audit", "reconcile"], "cli_record"),
    **dict.fromkeys(
        ["schedule", "periodic-bolus", "demand-bolus", "demand-log", "implant"], "cli_settings"
    ),
    **dict.fromkeys(["pair", "programmers"], "cli_programmers"),
}


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process is its own, not a caller's
        own_process()
    token = json_mode.set(False)
    try:
        return _main(argv)
    finally:
        json_mode.reset(token)  # a caller in the same process starts afresh


def _main(argv: list[str] | None) -> int:
    parser = build_parser(on_demand=True)
    argv = attach_values(sys.argv[1:] if argv is None else argv)
    json_mode.set("--json" in argv)  # a usage error comes before the arguments are known
    args = parser.parse_args(argv)
    json_mode.set(bool(getattr(args, "json", False)))
    try:
        for name, value in vars(args).items():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    check_typed(text, f"--{name.replace('_', '-')}")
    except TextError as error:
        return fail(error, ExitStatus.USAGE)
    if args.command == "tui":
        return _tui(args)
    if args.command == "completion":
        print(completion_script(build_parser(), args.shell), end="")
        return 0
    from pumpctl import cli_run

    room = importlib.import_module(f"pumpctl.{ROOMS[args.command]}")
    try:
        output = cli_run.run(args, room)
    except (Exception, KeyboardInterrupt) as error:
        status = exit_status(error)
        if status is None:
            raise
        return fail(cli_run.failure_line(error, args), status, error)
    try:
        text = output_json(_schema_command(args), output.data) if args.json else output.text
        print(text, flush=True)
    except BrokenPipeError:
        # The reader (``| head``) has gone: nothing more to say, and nothing went wrong here.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _tui(args: argparse.Namespace) -> int:
    from pumpctl.builtin_sim import training_state_path
    from pumpctl.cli_common import clinician, connect_options
    from pumpctl.tui.app import run_tui

    if args.reset_training:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{training_state_path()}{suffix}").unlink(missing_ok=True)
    try:
        run_tui(connect=connect_options(args), record_path=args.db, clinician=clinician(args))
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    return 0


def _schema_command(args: argparse.Namespace) -> str:
    """``schedule.show`` for ``pumpctl schedule show``: the command and its action."""
    actions = [v for k, v in vars(args).items() if k.endswith("action") and isinstance(v, str)]
    return ".".join([args.command, *actions])


if __name__ == "__main__":
    sys.exit(main())
