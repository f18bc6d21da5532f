"""The programmer's paired keys: one file, owner-only, never printed or logged.

``{"SIM000001": {"clinician": "<64 hex digits>"}}``; written atomically (temp file, fsync,
rename). A key store that others can read is refused, as ssh refuses a private key.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Protocol

import platformdirs

from pumpctl.protocol.session import KEY_LEN, Role


class KeySource(Protocol):
    def key_for(self, serial_number: str, role: Role) -> bytes | None: ...


class KeystoreError(Exception):
    """The key store cannot be used; the message never contains a key."""


def default_keystore_path() -> Path:
    return Path(
        os.environ.get("PUMPCTL_KEYSTORE")
        or Path(platformdirs.user_config_dir("pumpctl")) / "keys.json"
    )


class Keystore:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_keystore_path()

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return {}
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeystoreError(
                f"key store {self.path} is open to other users (mode {stat.S_IMODE(mode):o}): "
                "chmod 600 it"
            )
        try:
            data = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise KeystoreError(
                f"key store {self.path} cannot be read: {type(error).__name__}"
            ) from None
        if not isinstance(data, dict):
            raise KeystoreError(f"key store {self.path} is not a key store")
        return data

    def key_for(self, serial_number: str, role: Role) -> bytes | None:
        hex_key = self._read().get(serial_number, {}).get(role.name.lower())
        if hex_key is None:
            return None
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            raise KeystoreError(f"key store {self.path} holds a damaged key") from None
        if len(key) != KEY_LEN:
            raise KeystoreError(f"key store {self.path} holds a key of the wrong length")
        return key

    def add(self, serial_number: str, role: Role, key: bytes) -> None:
        if len(key) != KEY_LEN:
            raise KeystoreError(f"a pump key is {KEY_LEN} bytes")
        data = self._read()
        data.setdefault(serial_number, {})[role.name.lower()] = key.hex()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            with os.fdopen(descriptor, "w") as handle:
                os.fchmod(handle.fileno(), 0o600)
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class StaticKeys:
    """Keys held in memory (the built-in simulator pairs itself this way)."""

    def __init__(self, keys: dict[tuple[str, Role], bytes]) -> None:
        self._keys = keys

    def key_for(self, serial_number: str, role: Role) -> bytes | None:
        return self._keys.get((serial_number, role))
