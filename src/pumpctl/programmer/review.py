"""What a therapy command would do, shown before anything is sent: old and new side by side.

A review is data, not text: rows of (label, before, after) already in the drug's own unit,
warnings, and the confirmations the command needs. Every face renders the same review; the
audit trail keeps it with the command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Confirmation(Enum):
    """An explicit confirmation a command can need before it is sent."""

    LARGE_CHANGE = "large-change"  # a dose ×10 up or below half, a concentration ×2 either way
    DISCREPANCY_REASON = "discrepancy-reason"  # a refill's residual outside the tolerance

    @property
    def label(self) -> str:
        """What a person gives, in words (every face)."""
        return {
            Confirmation.LARGE_CHANGE: "an explicit confirmation of the large change",
            Confirmation.DISCREPANCY_REASON: "a reason for going ahead despite the discrepancy",
        }[self]

    @property
    def flag(self) -> str:
        """The CLI option that gives it."""
        return {
            Confirmation.LARGE_CHANGE: "--confirm-large-change",
            Confirmation.DISCREPANCY_REASON: "--discrepancy-reason TEXT",
        }[self]


@dataclass(frozen=True)
class Confirmations:
    """What the clinician confirmed for one command."""

    large_change: bool = False
    discrepancy_reason: str = ""

    def given(self) -> frozenset[Confirmation]:
        given = set()
        if self.large_change:
            given.add(Confirmation.LARGE_CHANGE)
        if self.discrepancy_reason.strip():
            given.add(Confirmation.DISCREPANCY_REASON)
        return frozenset(given)

    def as_json(self) -> dict[str, Any]:
        return {"large_change": self.large_change, "discrepancy_reason": self.discrepancy_reason}


@dataclass(frozen=True)
class ReviewRow:
    label: str
    before: str
    after: str

    @property
    def changes(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Review:
    title: str
    rows: tuple[ReviewRow, ...] = ()
    warnings: tuple[str, ...] = ()
    required: frozenset[Confirmation] = field(default_factory=frozenset)
    # Harm if it goes wrong: the TUI asks with the focus on Cancel, the CLI prints it first.
    changes_therapy: bool = True

    def missing(self, confirmations: Confirmations) -> frozenset[Confirmation]:
        return self.required - confirmations.given()

    def lines(self) -> list[str]:
        """The review as plain text lines (the CLI, the report)."""
        width = max((len(r.label) for r in self.rows), default=0)
        lines = [self.title]
        for row in self.rows:
            if row.changes:
                lines.append(f"  {row.label:<{width}}  {row.before} -> {row.after}")
            else:
                lines.append(f"  {row.label:<{width}}  {row.after}")
        lines += [f"  ! {w}" for w in self.warnings]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [[r.label, r.before, r.after] for r in self.rows],
            "warnings": list(self.warnings),
            "required": sorted(c.value for c in self.required),
        }
