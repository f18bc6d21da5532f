"""The pump's table of enrolled programmers: each one's key, role, label and revocation.

Kept in NV memory as one sealed value (``programmers``). Each programmer draws its own id
(u32, never 0) and enrols it with a fresh key; an id once revoked is never enrolled again, so
an id in the event log names one programmer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pumpctl.protocol.enrolment import PROGRAMMERS_MAX, REVOKED_KEPT
from pumpctl.protocol.session import KEY_LEN, Role


@dataclass(frozen=True)
class Enrolled:
    programmer_id: int
    role: Role
    key: bytes = field(repr=False)
    label: str
    enrolled_at_ms: int
    revoked_at_ms: int = 0

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms != 0


class TableFull(Exception):
    pass


class AlreadyRevoked(Exception):
    pass


@dataclass
class ProgrammerTable:
    programmers: dict[int, Enrolled] = field(default_factory=dict)
    # Revoked ids whose records were dropped from the list: still never enrolled again.
    retired: set[int] = field(default_factory=set)

    def get(self, programmer_id: int) -> Enrolled | None:
        return self.programmers.get(programmer_id)

    @property
    def active(self) -> list[Enrolled]:
        return [p for p in self.programmers.values() if not p.revoked]

    def enrol(
        self, programmer_id: int, role: Role, key: bytes, label: str, now_ms: int
    ) -> tuple[Enrolled, bool]:
        """The programmer enrolled, and whether it was already (its key and label replaced:
        a programmer paired again). ``AlreadyRevoked``, ``TableFull``."""
        known = self.programmers.get(programmer_id)
        if programmer_id in self.retired or (known is not None and known.revoked):
            raise AlreadyRevoked(
                f"programmer {programmer_id} was revoked: it is never enrolled again"
            )
        if known is None and len(self.active) >= PROGRAMMERS_MAX:
            raise TableFull(f"{PROGRAMMERS_MAX} programmers are enrolled: revoke one first")
        if len(key) != KEY_LEN:
            raise ValueError(f"a programmer's key is {KEY_LEN} bytes")
        enrolled = Enrolled(programmer_id, role, key, label, now_ms)
        self.programmers[programmer_id] = enrolled
        return enrolled, known is not None

    def revoke(self, programmer_id: int, now_ms: int) -> Enrolled:
        revoked = replace(self.programmers[programmer_id], revoked_at_ms=now_ms)
        self.programmers[programmer_id] = revoked
        gone = sorted((p for p in self.programmers.values() if p.revoked), key=_revoked_order)
        for old in gone[: max(0, len(gone) - REVOKED_KEPT)]:
            del self.programmers[old.programmer_id]
            self.retired.add(old.programmer_id)
        return revoked

    def to_json(self) -> dict[str, Any]:
        return {
            "retired": sorted(self.retired),
            "programmers": [
                {
                    "id": p.programmer_id,
                    "role": int(p.role),
                    "key": p.key.hex(),
                    "label": p.label,
                    "enrolled_at_ms": p.enrolled_at_ms,
                    "revoked_at_ms": p.revoked_at_ms,
                }
                for p in self.programmers.values()
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProgrammerTable:
        table = cls(retired={int(i) for i in data.get("retired", [])})
        for item in data["programmers"]:
            enrolled = Enrolled(
                int(item["id"]),
                Role(int(item["role"])),
                bytes.fromhex(str(item["key"])),
                str(item["label"]),
                int(item["enrolled_at_ms"]),
                int(item["revoked_at_ms"]),
            )
            table.programmers[enrolled.programmer_id] = enrolled
        return table


def _revoked_order(programmer: Enrolled) -> tuple[int, int]:
    return programmer.revoked_at_ms, programmer.programmer_id
