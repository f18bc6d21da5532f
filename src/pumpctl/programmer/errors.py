"""How the programmer says no, or could not be sure: each a one-line reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pumpctl.link.errors import PumpError
from pumpctl.protocol.messages import NakCode

if TYPE_CHECKING:
    from pumpctl.clinical.guard import GuardDecision
    from pumpctl.programmer.review import Confirmation


class ProgrammerRefusal(PumpError):
    """The programmer refused before sending anything; ``rule`` names the rule."""

    def __init__(self, rule: NakCode, reason: str, *, limit: int | None = None) -> None:
        super().__init__(f"programmer refused ({rule.name}): {reason}")
        self.rule = rule
        self.limit = limit  # in the unit the pump's NAK of the same rule uses


class ConfirmationRequired(PumpError):
    """The review needs confirmations that were not given; nothing was sent."""

    def __init__(self, missing: frozenset[Confirmation], why: str) -> None:
        needed = " and ".join(sorted(c.label for c in missing))
        super().__init__(f"not sent: {why}; needs {needed}")
        self.missing = missing
        self.why = why


class NothingToSend(PumpError):
    """The command would change nothing (e.g. the dose the pump already delivers)."""


class GuardBlocked(PumpError):
    """The titration guard held or blocked an increase; ``decision`` explains why."""

    def __init__(self, decision: GuardDecision, override_refused: str | None = None) -> None:
        why = f"override refused: {override_refused}" if override_refused else decision.reason
        super().__init__(f"guard {decision.verdict.value} ({decision.rule.value}): {why}")
        self.decision = decision
        self.override_refused = override_refused


class NotApplied(PumpError):
    """A command whose answer was lost turned out never to have reached the pump."""


class VerificationFailed(PumpError):
    """The pump acknowledged a change but reading it back shows something else."""


class AppliedNotRecorded(PumpError):
    """The pump executed a command but the clinical record could not be written: the
    record's entry stays open and is completed at the next sync with the pump."""
