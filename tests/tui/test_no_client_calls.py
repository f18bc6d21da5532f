"""The terminal programmer speaks to the pump through the programmer only.

Read from the source, not run: nothing under src/pumpctl/tui calls a method on a pump
client (the app only opens and closes the link) or imports more of pumpctl.client than the
client's type, so no screen can send a command around the programmer's checks, review,
read-back and audit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pumpctl.client
from pumpctl.client import PumpClient

ROOT = Path(__file__).resolve().parents[2]
TUI = ROOT / "src" / "pumpctl" / "tui"
LIFECYCLE = {"close"}  # what the app may do with the client it holds
SENDERS = {"_command", "send_once", "send"}  # how a client method puts a command on the wire


def therapy_methods() -> set[str]:
    """The client's methods that send a command to the pump, read from its source."""
    tree = ast.parse(Path(pumpctl.client.__file__).read_text())
    [client] = [
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == PumpClient.__name__
    ]
    found = set()
    for method in client.body:
        if not isinstance(method, ast.AsyncFunctionDef) or method.name.startswith("_"):
            continue
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
                and node.func.attr in SENDERS
            ):
                found.add(method.name)
    return found


def on_a_client(node: ast.Attribute) -> bool:
    """``client.x``, ``self.client.x``, ``programmer.client.x``."""
    receiver = node.value
    return (isinstance(receiver, ast.Name) and receiver.id == "client") or (
        isinstance(receiver, ast.Attribute) and receiver.attr == "client"
    )


def violations(path: Path, sends: set[str], root: Path = ROOT) -> list[str]:
    where = path.relative_to(root)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and node.module == "pumpctl.client":
            imported = {alias.name for alias in node.names}
            if imported - {PumpClient.__name__}:
                found.append(f"{where}:{line}: imports {sorted(imported)} from pumpctl.client")
        elif isinstance(node, ast.Import):
            if any(alias.name == "pumpctl.client" for alias in node.names):
                found.append(f"{where}:{line}: imports pumpctl.client")
        elif isinstance(node, ast.Attribute) and on_a_client(node):
            if node.attr not in LIFECYCLE:
                found.append(f"{where}:{line}: calls the client's {node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and any(isinstance(a, ast.Constant) and a.value in sends for a in node.args)
        ):
            found.append(f"{where}:{line}: looks a client method up by name")
    return found


def test_the_client_methods_that_send_commands_are_found() -> None:
    sends = therapy_methods()
    assert {"set_rate", "bolus", "stop", "resume", "refill", "ack_alarm"} <= sends
    assert "status" not in sends  # a read sends no command


def test_nothing_in_the_terminal_programmer_calls_the_client() -> None:
    sends = therapy_methods()
    modules = sorted(TUI.rglob("*.py"))
    assert TUI / "screens" / "dashboard.py" in modules
    found = [v for path in modules for v in violations(path, sends)]
    assert found == []


def test_the_check_sees_a_screen_that_calls_the_client(tmp_path: Path) -> None:
    """The check catches what it is there to catch: commands sent around the programmer."""
    screen = tmp_path / "screen.py"
    screen.write_text(
        "from pumpctl.client import PumpClient, new_request_id\n"
        "async def stop(programmer):\n"
        "    await programmer.client.stop()\n"
        "    await getattr(programmer.client, 'resume')()\n"
    )
    found = {v.partition(": ")[2] for v in violations(screen, therapy_methods(), tmp_path)}
    assert found == {
        "imports ['PumpClient', 'new_request_id'] from pumpctl.client",
        "calls the client's stop",
        "looks a client method up by name",
    }
