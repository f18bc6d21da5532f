"""The simulator's debug port: JSON lines over a Unix socket, separate from the pump protocol.

Requests: ``{"op": "advance", "ms": N}``, ``{"op": "fault", "name": ..., "value": ...}``,
``{"op": "clear"}``, ``{"op": "state"}``. Answers: ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import socketserver
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from firmware_sim.simulator import Simulator

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str) -> int:
    """``"3d"``, ``"12h"``, ``"90m"``, ``"30s"``, ``"500ms"`` → milliseconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"duration {text!r} is not a number followed by ms, s, m, h or d")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def execute(simulator: Simulator, request: dict[str, Any]) -> dict[str, Any]:
    """One request on the debug port. The simulator's side only: the client (``pumpsim
    ctl``) imports none of this."""
    from firmware_sim.pairing import pair
    from pumpctl.keystore import Keystore, KeystoreError
    from pumpctl.protocol.session import Role

    op = request.get("op")
    try:
        if op == "advance":
            simulator.advance(int(request["ms"]))
        elif op == "fault":
            simulator.set_fault(str(request["name"]), str(request["value"]))
        elif op == "clear":
            simulator.clear_faults()
        elif op == "pair":
            role = Role[str(request.get("role", "clinician")).upper()]
            keystore = Keystore(str(request["keystore"]))
            pair(simulator, keystore, role, implant_key=bool(request.get("implant_key")))
        elif op == "implant_key":  # what a clinic keeps from implant: for `pumpctl pair`
            role = Role[str(request.get("role", "clinician")).upper()]
            return {"ok": True, "key": simulator.role_key(role).hex()}
        elif op != "state":
            return {"ok": False, "error": f"unknown op {op!r}"}
        return {"ok": True, "state": simulator.snapshot()}
    except (KeyError, ValueError, TypeError, KeystoreError) as error:
        return {"ok": False, "error": str(error)}


class ControlServer:
    def __init__(self, simulator: Simulator, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.path = path

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    try:
                        request = json.loads(line)
                        answer = (
                            execute(simulator, request)
                            if isinstance(request, dict)
                            else {"ok": False, "error": "request must be a JSON object"}
                        )
                    except json.JSONDecodeError as error:
                        answer = {"ok": False, "error": f"not JSON: {error}"}
                    self.wfile.write(json.dumps(answer).encode() + b"\n")

        # The debug port can pair a programmer (hand out a role key): its owner's alone. The
        # umask covers the instant between bind and chmod.
        umask = os.umask(0o177)
        try:
            self._server = socketserver.ThreadingUnixStreamServer(path, Handler)
        finally:
            os.umask(umask)
        os.chmod(path, 0o600)
        self._server.daemon_threads = True
        # A short poll: stopping waits for it (a test's teardown, a restart).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.02,),
            name="pumpsim-control",
            daemon=True,
        )

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class ControlClient:
    """Talks to a running simulator's control socket."""

    def __init__(self, path: str, timeout_s: float = 10.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        self._sock.connect(path)
        self._file = self._sock.makefile("rwb")

    def call(self, **request: Any) -> dict[str, Any]:
        self._file.write(json.dumps(request).encode() + b"\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise ConnectionError("the simulator closed its control socket")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise ValueError(answer.get("error", "control request failed"))
        return answer

    def advance(self, delta_ms: int) -> dict[str, Any]:
        return self.call(op="advance", ms=delta_ms)

    def fault(self, name: str, value: str) -> dict[str, Any]:
        return self.call(op="fault", name=name, value=value)

    def clear(self) -> dict[str, Any]:
        return self.call(op="clear")

    def implant_key(self, role: str = "clinician") -> str:
        """The role's implant key, 64 hex digits (the key file a clinic keeps)."""
        return str(self.call(op="implant_key", role=role)["key"])

    def pair(self, keystore: str, role: str = "clinician", *, implant_key: bool = False) -> None:
        """Pair the key store at ``keystore`` for ``role`` (never printed): an enrolled key of
        its own, or with ``implant_key`` the role's implant key (programmer 0)."""
        self.call(op="pair", keystore=keystore, role=role, implant_key=implant_key)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.call(op="state")["state"]
        return state

    def close(self) -> None:
        self._file.close()
        self._sock.close()
