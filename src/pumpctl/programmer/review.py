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
    DISCREPANCY_REASON = "discrepancy-reason"  # a residual outside the refill tolerance
    WITHDRAWAL_RISK = "withdrawal-risk"  # stopping a drug whose abrupt stop causes withdrawal
    FULL_DOSE_RESTART = "full-dose-restart"  # resuming at the full dose after a long stop

    @property
    def label(self) -> str:
        """What a person gives, in words (every face)."""
        return {
            Confirmation.LARGE_CHANGE: "an explicit confirmation of the large change",
            Confirmation.DISCREPANCY_REASON: "a reason for going ahead despite the discrepancy",
            Confirmation.WITHDRAWAL_RISK: "an explicit confirmation of the withdrawal risk",
            Confirmation.FULL_DOSE_RESTART: "an explicit confirmation of the full-dose restart",
        }[self]

    @property
    def checkbox(self) -> str:
        """What a ticked box says (the confirmations given by a tick, not by text)."""
        return {
            Confirmation.LARGE_CHANGE: "I confirm this large change (not a slipped decimal point)",
            Confirmation.DISCREPANCY_REASON: "",
            Confirmation.WITHDRAWAL_RISK: "I understand the withdrawal risk of stopping",
            Confirmation.FULL_DOSE_RESTART: "Restart at the full dose after this long stop",
        }[self]

    @property
    def flag(self) -> str:
        """The CLI option that gives it."""
        return {
            Confirmation.LARGE_CHANGE: "--confirm-large-change",
            Confirmation.DISCREPANCY_REASON: "--discrepancy-reason TEXT",
            Confirmation.WITHDRAWAL_RISK: "--confirm-withdrawal-risk",
            Confirmation.FULL_DOSE_RESTART: "--confirm-full-dose",
        }[self]


TICKED = (Confirmation.LARGE_CHANGE, Confirmation.WITHDRAWAL_RISK, Confirmation.FULL_DOSE_RESTART)


@dataclass(frozen=True)
class Confirmations:
    """What the clinician confirmed for one command."""

    large_change: bool = False
    discrepancy_reason: str = ""
    withdrawal_risk: bool = False
    full_dose_restart: bool = False

    @classmethod
    def of(cls, ticked: frozenset[Confirmation], discrepancy_reason: str = "") -> Confirmations:
        return cls(
            large_change=Confirmation.LARGE_CHANGE in ticked,
            discrepancy_reason=discrepancy_reason,
            withdrawal_risk=Confirmation.WITHDRAWAL_RISK in ticked,
            full_dose_restart=Confirmation.FULL_DOSE_RESTART in ticked,
        )

    def given(self) -> frozenset[Confirmation]:
        given = set()
        if self.large_change:
            given.add(Confirmation.LARGE_CHANGE)
        if self.discrepancy_reason.strip():
            given.add(Confirmation.DISCREPANCY_REASON)
        if self.withdrawal_risk:
            given.add(Confirmation.WITHDRAWAL_RISK)
        if self.full_dose_restart:
            given.add(Confirmation.FULL_DOSE_RESTART)
        return frozenset(given)

    def only(self, needed: frozenset[Confirmation]) -> Confirmations:
        """These confirmations less any the review did not ask for: what reaches the pump
        and the record says what was reviewed, not what a script always passes."""
        kept = self.given() & needed
        reason = self.discrepancy_reason if Confirmation.DISCREPANCY_REASON in kept else ""
        return Confirmations.of(kept, reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "large_change": self.large_change,
            "discrepancy_reason": self.discrepancy_reason,
            "withdrawal_risk": self.withdrawal_risk,
            "full_dose_restart": self.full_dose_restart,
        }


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
