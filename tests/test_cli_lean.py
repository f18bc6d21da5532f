"""``pumpctl`` imports what the command it runs uses: the parser alone for ``--help``,
``--version`` or a typo; the reads' handlers alone for ``status``. Measured in a fresh process
(this one has imported everything), once for all the command lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pumpctl import cli, cli_parser
from pumpctl.cli_help import subcommands
from pumpctl.clinical.guard import OverrideReason
from pumpctl.link.timing import DEFAULT_BAUD
from pumpctl.protocol.session import Role
from pumpctl.testing.plugin import PumpUnderTest

# Each command line, in order, then the modules it must leave unimported: the parser's
# lines first, so that one fresh process checks them all.
PARSER_ONLY = ["pydantic", "asyncio", "cryptography", "textual", "pumpctl.protocol.messages"]
READ_ONLY = ["textual", "pumpctl.tui", "pumpctl.report", "pumpctl.chart", "shtab"]
READ_ONLY += ["pumpctl.cli_therapy", "pumpctl.cli_settings", "pumpctl.cli_record"]
READ_ONLY += ["pumpctl.programmer.enrolment", "pumpctl.programmer.demand", "firmware_sim"]
READ_ONLY += ["pumpctl.programmer.commands", "pumpctl.clinical.timeline"]
# A read proposes no dose: no guard, no review, no programmer's rules (pumpctl.limits).
READ_ONLY += ["pumpctl.clinical.guard", "pumpctl.programmer.review"]
READ_ONLY += ["pumpctl.programmer.evidence", "pumpctl.limits"]
# The record and the key store are named by the environment: no default place is looked up.
READ_ONLY += ["platformdirs"]
RUNS = {
    "--version": PARSER_ONLY,
    "--help": PARSER_ONLY,
    "status --help": PARSER_ONLY,
    "staus": PARSER_ONLY,
    "--json staus": PARSER_ONLY,
    "--port /nonexistent/tty status": READ_ONLY,
}
PROBE = """
import contextlib, io, json, sys
from pumpctl.cli import main
found = {}
for line, unwanted in json.loads(sys.argv[1]).items():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(line.split())
        except SystemExit as exit_:
            code = exit_.code
    loaded = [m for m in unwanted if any(k == m or k.startswith(m + ".") for k in sys.modules)]
    found[line] = {"exit": code, "unwanted": loaded}
print(json.dumps(found))
"""


def fresh(code: str, argument: object = None, env: dict[str, str] | None = None) -> Any:
    """What ``code`` prints as JSON, run in a fresh process (``argument`` as JSON in its
    ``sys.argv[1]``) with exactly ``env`` as its environment."""
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argument)],
        env=env or {},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(run.stdout)


def probe(runs: dict[str, list[str]], env: dict[str, str]) -> dict[str, dict[str, object]]:
    """For each command line run in turn in one fresh process: its exit status and which
    of its unwanted modules it imported."""
    found: dict[str, dict[str, object]] = fresh(PROBE, runs, env)
    return found


def test_each_command_line_imports_only_what_it_uses(tmp_path: Path) -> None:
    env = {
        "PUMPCTL_DB": str(tmp_path / "clinical.db"),
        "PUMPCTL_KEYSTORE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PUMPCTL_CLINICIAN": "test",
    }
    found = probe(RUNS, env)
    assert {line: f["unwanted"] for line, f in found.items()} == {line: [] for line in RUNS}


@pytest.mark.needs_simulator
@pytest.mark.needs_pty
def test_a_read_on_a_serial_port_starts_no_event_loop(pump: PumpUnderTest, tmp_path: Path) -> None:
    """The reads wait on a blocking link: a session, the reads and their answers printed,
    one command after another, with no asyncio in the process."""
    env = {
        "PUMPCTL_DB": str(tmp_path / "clinical.db"),
        "PUMPCTL_KEYSTORE": str(pump.keys.path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PUMPCTL_CLINICIAN": "test",
    }
    unwanted = ["asyncio", "serial_asyncio_fast", *READ_ONLY]
    lines = [f"--port {pump.port} {read}" for read in ("status", "identify", "alarms")]
    lines += [f"--port {pump.port} --json events", f"--port {pump.port} limits"]
    found = probe(dict.fromkeys(lines, unwanted), env)
    assert found == {line: {"exit": 0, "unwanted": []} for line in lines}


def test_the_parsers_choices_are_their_sources() -> None:
    """The parser writes these out to stay light; they are the enums it offers."""
    assert [r.name.lower() for r in Role] == cli_parser.ROLES
    assert [r.value for r in OverrideReason] == cli_parser.OVERRIDE_REASONS
    assert cli_parser.DEFAULT_BAUD == DEFAULT_BAUD


def test_every_command_has_a_room_that_handles_it() -> None:
    """Each command of the parser is served by its room's handlers (``tui`` and ``completion``
    by the dispatch itself), with the pump or from the record alone."""
    import importlib

    commands = {name.split()[0] for name, _ in subcommands(cli_parser.build_parser())}
    assert set(cli.ROOMS) == commands - {"tui", "completion"}
    for command, room in cli.ROOMS.items():
        module = importlib.import_module(f"pumpctl.{room}")
        handled = {**getattr(module, "OFFLINE", {}), **module.ONLINE}
        assert command in handled, f"{room} has no handler for {command}"


def test_a_command_built_when_chosen_reads_as_the_manual_page_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run builds only the chosen command's parser: its help, and the list of commands, are
    those of the whole tree the manual page and the completion are made from."""
    whole = cli_parser.build_parser()
    assert cli_parser.build_parser(on_demand=True).format_help() == whole.format_help()
    for name, sub in subcommands(whole):
        with pytest.raises(SystemExit):
            cli_parser.build_parser(on_demand=True).parse_args([*name.split(), "--help"])
        assert capsys.readouterr().out == sub.format_help(), name


PUMPSIM_PROBE = """
import contextlib, io, json, sys
from firmware_sim.cli import main
found = {}
for line in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(line.split())
        except SystemExit as exit_:
            code = exit_.code
    found[line] = code
unwanted = ("pydantic", "firmware_sim.simulator", "pumpctl.protocol.messages", "sqlite3")
print(json.dumps([found, [m for m in unwanted if m in sys.modules]]))
"""


def test_pumpsim_control_and_help_start_no_simulator(tmp_path: Path) -> None:
    """``pumpsim ctl`` talks to a running simulator over a socket: it loads neither the
    simulator nor the message models, nor does ``--version`` or ``--help``."""
    lines = ["--version", "--help", f"ctl --control {tmp_path / 'none.ctl'} advance 1d"]
    codes, loaded = fresh(PUMPSIM_PROBE, lines)
    assert codes == {lines[0]: 0, lines[1]: 0, lines[2]: 2}  # no simulator at that socket
    assert loaded == []


@pytest.mark.parametrize(
    "package", ["pumpctl.protocol", "pumpctl.programmer", "pumpctl.clinical.guard"]
)
def test_each_name_a_lazy_package_offers_is_found(package: str) -> None:
    """The packages that import a name's module when it is first asked for offer exactly
    the names they list, each found in its module."""
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None, name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_the_lazy_packages_list_their_names_before_any_is_looked_up() -> None:
    probe = (
        "import importlib, json\n"
        "names = {}\n"
        "for p in ('pumpctl.protocol', 'pumpctl.programmer', 'pumpctl.clinical.guard'):\n"
        "    m = importlib.import_module(p)\n"
        "    names[p] = sorted(set(m.__all__) - set(dir(m)))\n"
        "print(json.dumps(names))\n"
    )
    assert fresh(probe) == {
        "pumpctl.protocol": [],
        "pumpctl.programmer": [],
        "pumpctl.clinical.guard": [],
    }


def test_pumpctl_and_pumpsim_load_no_pydantic_plugin_in_their_own_process() -> None:
    """Run as programs (no argv given), each turns pydantic's plugins off before any model
    is built; called with an argv, as a caller's code, each leaves the caller's setting."""
    probe = (
        "import contextlib, io, json, os, sys\n"
        "from pumpctl.cli import main as pumpctl\n"
        "from firmware_sim.cli import main as pumpsim\n"
        "seen = []\n"
        "for main, name in ((pumpctl, 'pumpctl'), (pumpsim, 'pumpsim')):\n"
        "    for argv in (['--version'], None):\n"
        "        os.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)\n"
        "        sys.argv = [name, '--version']\n"
        "        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "            main(argv)\n"
        "        seen.append(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))\n"
        "print(json.dumps(seen))\n"
    )
    assert fresh(probe) == [None, "__all__", None, "__all__"]
