"""The programmer's paired keys: one file, owner-only, never printed or logged.

``{"SIM000001": {"clinician": "<64 hex digits>"}}``; written atomically (temp file, fsync,
rename) under an exclusive lock on a lock file beside it, so concurrent pairings each keep
their entry. A key store that others can read or replace is refused, as ssh refuses a
private key: the file must be its user's and mode 600, its directory its user's (or root's)
and writable by no one else. Every damaged shape is one line naming what is wrong, never a key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import platformdirs

from pumpctl.protocol.session import KEY_LEN, Role

_ROLES = {role.name.lower() for role in Role}


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

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _check_directory(self) -> None:
        directory = self.path.parent
        try:
            info = directory.stat()
        except FileNotFoundError:
            return
        if info.st_uid not in (os.getuid(), 0):
            raise KeystoreError(f"key store directory {directory} belongs to another user")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            raise KeystoreError(
                f"key store directory {directory} is writable by other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}): chmod 700 it"
            )

    def _read(self) -> dict[str, dict[str, str]]:
        self._check_directory()
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        if info.st_uid != os.getuid():
            raise KeystoreError(f"key store {self.path} belongs to another user")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeystoreError(
                f"key store {self.path} is open to other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}): chmod 600 it"
            )
        try:
            data = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise KeystoreError(
                f"key store {self.path} cannot be read: {type(error).__name__}"
            ) from None
        return self._checked(data)

    def _checked(self, data: object) -> dict[str, dict[str, str]]:
        """``data`` if it has the key store's shape; a one-line ``KeystoreError`` if not."""
        where = f"key store {self.path}"
        if not isinstance(data, dict):
            raise KeystoreError(f"{where} is not a key store: not an object of pumps")
        for serial, roles in data.items():
            if not isinstance(roles, dict):
                raise KeystoreError(f"{where}: pump {serial!r} is not an object of roles")
            for role, hex_key in roles.items():
                if role not in _ROLES:
                    raise KeystoreError(
                        f"{where}: pump {serial!r} has an unknown role {role!r} "
                        f"(one of {', '.join(sorted(_ROLES))})"
                    )
                if not isinstance(hex_key, str):
                    raise KeystoreError(f"{where}: pump {serial!r} {role} key is not text")
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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise KeystoreError(
                f"key store directory {self.path.parent} cannot be made: {error.strerror}"
            ) from None
        with self._locked():
            data = self._read()
            data.setdefault(serial_number, {})[role.name.lower()] = key.hex()
            self._write(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Read, change and write under one exclusive lock: concurrent pairings serialise."""
        self._check_directory()
        try:
            descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise KeystoreError(
                f"key store lock {self._lock_path} cannot be opened: {error.strerror}"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def _write(self, data: dict[str, dict[str, str]]) -> None:
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
