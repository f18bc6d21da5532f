"""The programmer's paired keys: one file, owner-only, never printed or logged.

``{"schema": 2, "programmer_id": 1234, "pumps": {"SIM000001": {"clinician": {"id": 1234,
"key": "<64 hex digits>"}}}}``: for each pump and role the key this programmer opens sessions
with and whose it is: its own enrolled key under this key store's ``programmer_id`` (drawn at
random once), or the role's implant key (id 0). Written atomically (temp file, fsync, rename)
under an exclusive lock on a lock file beside it, so concurrent pairings each keep their
entry. A key store that others can read or replace is refused, as ssh refuses a private key:
the file must be its user's and mode 600, its directory its user's (or root's) and writable
by no one else. Every damaged shape is one line naming what is wrong, never a key.

Schema 1 (no ``schema`` field: ``{"SIM000001": {"clinician": "<hex>"}}``, implant keys only)
is migrated when first read: a backup copy beside it first, then the new file by rename,
under the lock. A newer schema is refused in one line naming both versions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pumpctl.protocol.enrolment import IMPLANT_KEY_ID
from pumpctl.protocol.session import KEY_LEN, Role

_ROLES = {role.name.lower() for role in Role}
SCHEMA_VERSION = 2
_TEMP_PREFIX = ".keys-"  # a copy being written, renamed over the store when whole
PROGRAMMER_ID_MAX = 0xFFFF_FFFF

Entries = dict[str, dict[str, dict[str, Any]]]  # serial -> role -> {"id", "key"}


class KeySource(Protocol):
    def key_for(self, serial_number: str, role: Role) -> bytes | None: ...

    def programmer_id(self, serial_number: str, role: Role) -> int | None:
        """Whose key ``key_for`` gives (0: the role's implant key); ``None``: no key."""
        ...

    def programmer_ids(self, role: Role) -> list[int]:
        """The programmer ids to open a session as before the pump has named itself, the
        likeliest first; never empty."""
        ...


class KeystoreError(Exception):
    """The key store cannot be used; the message never contains a key."""


def default_keystore_path() -> Path:
    if os.environ.get("PUMPCTL_KEYSTORE"):
        return Path(os.environ["PUMPCTL_KEYSTORE"])
    import platformdirs  # only for the default place

    return Path(platformdirs.user_config_dir("pumpctl")) / "keys.json"


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

    def _load(self) -> dict[str, Any]:
        """The whole file as current (a schema 1 file migrated first), shape checked."""
        data = self._read_raw()
        if data is None:
            return {"schema": SCHEMA_VERSION, "pumps": {}}
        if _schema_of(data) == 1:
            self._check_v1(data)
            with self._locked():
                data = self._read_raw()
                if data is not None and _schema_of(data) == 1:
                    data = self._migrate_from_1(self._check_v1(data))
        return self._checked(data)

    def _read_raw(self) -> object | None:
        self._check_directory()
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        if info.st_uid != os.getuid():
            raise KeystoreError(f"key store {self.path} belongs to another user")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeystoreError(
                f"key store {self.path} is open to other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}): chmod 600 it"
            )
        try:
            data: object = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise KeystoreError(
                f"key store {self.path} cannot be read: {type(error).__name__}"
            ) from None
        return data

    def _migrate_from_1(self, data: dict[str, dict[str, str]]) -> dict[str, Any]:
        """Schema 1 to 2 (under the lock): a backup copy (owner only), then the new file."""
        backup = self.path.with_name(self.path.name + ".schema1")
        try:
            descriptor = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(self.path, "rb") as source, os.fdopen(descriptor, "wb") as target:
                shutil.copyfileobj(source, target)
                target.flush()
                os.fsync(target.fileno())
        except OSError as error:
            raise KeystoreError(
                f"key store {self.path} (schema 1) cannot be migrated: its backup {backup} "
                f"cannot be written ({error.strerror})"
            ) from None
        migrated: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "pumps": {
                serial: {
                    role: {"id": IMPLANT_KEY_ID, "key": hex_key} for role, hex_key in roles.items()
                }
                for serial, roles in data.items()
            },
        }
        self._write(migrated)
        return migrated

    def _check_v1(self, data: object) -> dict[str, dict[str, str]]:
        where = f"key store {self.path}"
        if not isinstance(data, dict):
            raise KeystoreError(f"{where} is not a key store: not an object of pumps")
        for serial, roles in data.items():
            if not isinstance(roles, dict):
                raise KeystoreError(f"{where}: pump {serial!r} is not an object of roles")
            for role, hex_key in roles.items():
                _check_role(where, serial, role)
                if not isinstance(hex_key, str):
                    raise KeystoreError(f"{where}: pump {serial!r} {role} key is not text")
        return data

    def _checked(self, data: object) -> dict[str, Any]:
        """``data`` if it has the key store's shape; a one-line ``KeystoreError`` if not."""
        where = f"key store {self.path}"
        if not isinstance(data, dict):
            raise KeystoreError(f"{where} is not a key store: not an object of pumps")
        version = data.get("schema")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise KeystoreError(f"{where}: its schema version {version!r} is not a version")
        if version > SCHEMA_VERSION:
            raise KeystoreError(
                f"{where} is schema {version}, newer than this programmer's "
                f"({SCHEMA_VERSION}): update pumpctl"
            )
        own = data.get("programmer_id")
        if own is not None and not _is_programmer_id(own):
            raise KeystoreError(f"{where}: its programmer id is not a number from 1")
        pumps = data.get("pumps")
        if not isinstance(pumps, dict):
            raise KeystoreError(f"{where}: 'pumps' is not an object of pumps")
        for serial, roles in pumps.items():
            if not isinstance(roles, dict):
                raise KeystoreError(f"{where}: pump {serial!r} is not an object of roles")
            for role, entry in roles.items():
                _check_role(where, serial, role)
                if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                    raise KeystoreError(f"{where}: pump {serial!r} {role} key is not text")
                ident = entry.get("id")
                if ident != IMPLANT_KEY_ID and not _is_programmer_id(ident):
                    raise KeystoreError(
                        f"{where}: pump {serial!r} {role} has no programmer id (0 or more)"
                    )
        return data

    def _entry(self, serial_number: str, role: Role) -> dict[str, Any] | None:
        pumps: Entries = self._load()["pumps"]
        return pumps.get(serial_number, {}).get(role.name.lower())

    def key_for(self, serial_number: str, role: Role) -> bytes | None:
        entry = self._entry(serial_number, role)
        if entry is None:
            return None
        try:
            key = bytes.fromhex(entry["key"])
        except ValueError:
            raise KeystoreError(f"key store {self.path} holds a damaged key") from None
        if len(key) != KEY_LEN:
            raise KeystoreError(f"key store {self.path} holds a key of the wrong length")
        return key

    def programmer_id(self, serial_number: str, role: Role) -> int | None:
        entry = self._entry(serial_number, role)
        return None if entry is None else int(entry["id"])

    def programmer_ids(self, role: Role) -> list[int]:
        data = self._load()
        name = role.name.lower()
        used = {int(r[name]["id"]) for r in data["pumps"].values() if name in r}
        own = data.get("programmer_id")
        ordered = [own] if own in used else []
        return ordered + sorted(used - {own}) or [IMPLANT_KEY_ID]

    def own_programmer_id(self) -> int:
        """This key store's programmer id, drawn at random (never 0) and kept on first use."""
        self._make_directory()
        with self._locked():
            data = self._load_locked()
            own = data.get("programmer_id")
            if own is None:
                own = 1 + secrets.randbelow(PROGRAMMER_ID_MAX)
                data["programmer_id"] = own
                self._write(data)
            return int(own)

    def add(
        self, serial_number: str, role: Role, key: bytes, programmer_id: int = IMPLANT_KEY_ID
    ) -> None:
        if len(key) != KEY_LEN:
            raise KeystoreError(f"a pump key is {KEY_LEN} bytes")
        self._make_directory()
        with self._locked():
            data = self._load_locked()
            entry = {"id": programmer_id, "key": key.hex()}
            data["pumps"].setdefault(serial_number, {})[role.name.lower()] = entry
            self._write(data)

    def _load_locked(self) -> dict[str, Any]:
        raw = self._read_raw()
        if raw is None:
            return {"schema": SCHEMA_VERSION, "pumps": {}}
        if _schema_of(raw) == 1:
            return self._migrate_from_1(self._check_v1(raw))
        return self._checked(raw)

    def _make_directory(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise KeystoreError(
                f"key store directory {self.path.parent} cannot be made: {error.strerror}"
            ) from None

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

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self._replace(data)
        except OSError as error:
            raise KeystoreError(
                f"key store {self.path} cannot be written: {error.strerror}"
            ) from None

    def _replace(self, data: dict[str, Any]) -> None:
        self._remove_stray_copies()
        descriptor, temp = tempfile.mkstemp(dir=self.path.parent, prefix=_TEMP_PREFIX)
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

    def _remove_stray_copies(self) -> None:
        """Temporary copies a killed writer left (it held this lock, so none is in use): each
        holds keys, which must not outlive the store's own file."""
        for stray in self.path.parent.glob(_TEMP_PREFIX + "*"):
            with contextlib.suppress(FileNotFoundError):
                stray.unlink()


class StaticKeys:
    """Keys held in memory, all of one programmer (the built-in simulator pairs itself this
    way, with the implant keys: programmer 0)."""

    def __init__(
        self, keys: dict[tuple[str, Role], bytes], programmer_id: int = IMPLANT_KEY_ID
    ) -> None:
        self._keys = keys
        self._programmer_id = programmer_id

    def key_for(self, serial_number: str, role: Role) -> bytes | None:
        return self._keys.get((serial_number, role))

    def programmer_id(self, serial_number: str, role: Role) -> int | None:
        return self._programmer_id if (serial_number, role) in self._keys else None

    def programmer_ids(self, role: Role) -> list[int]:
        return [self._programmer_id]


def _schema_of(data: object) -> int:
    """1 for the unversioned first layout (an object of pumps, no ``schema``)."""
    if isinstance(data, dict) and "schema" not in data:
        return 1
    return SCHEMA_VERSION


def _check_role(where: str, serial: str, role: str) -> None:
    if role not in _ROLES:
        raise KeystoreError(
            f"{where}: pump {serial!r} has an unknown role {role!r} "
            f"(one of {', '.join(sorted(_ROLES))})"
        )


def _is_programmer_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= PROGRAMMER_ID_MAX
