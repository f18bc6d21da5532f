"""The one API the faces use (CLI, TUI, scripts, HIL tests).

Every change follows the same path: interrogate, check locally against the pump's own
limits, send once, verify by reading back; an answer that never comes is resolved from the
pump's event log and reported as uncertain only if even that read fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.client import PumpClient, Resolution
from pumpctl.limits import check_rate_change
from pumpctl.link.errors import NoResponse, OutcomeUncertain, PumpError
from pumpctl.protocol.messages import (
    IdentifyResponse,
    LimitsResponse,
    NakCode,
    StatusResponse,
)
from pumpctl.units import display_unit


class ProgrammerRefusal(PumpError):
    """The programmer refused before sending anything; ``rule`` names the rule."""

    def __init__(self, rule: NakCode, reason: str) -> None:
        super().__init__(f"programmer refused ({rule.name}): {reason}")
        self.rule = rule


class VerificationFailed(PumpError):
    """The pump acknowledged a change but reading it back shows something else."""


@dataclass(frozen=True)
class Interrogation:
    identity: IdentifyResponse
    status: StatusResponse
    limits: LimitsResponse

    @property
    def unit(self) -> str:
        return display_unit(self.identity.drug)


@dataclass(frozen=True)
class RateChange:
    previous_ng_per_day: int
    new_ng_per_day: int
    status: StatusResponse
    resolved_after_lost_answer: bool = False


class Programmer:
    def __init__(self, client: PumpClient) -> None:
        self.client = client

    async def interrogate(self) -> Interrogation:
        identity = await self.client.identify()
        status = await self.client.status()
        limits = await self.client.read_limits()
        return Interrogation(identity, status, limits)

    async def set_rate(
        self,
        dose_ng_per_day: int,
        *,
        believed: Interrogation | None = None,
        confirm_large_change: bool = False,
    ) -> RateChange:
        """Program a new daily dose against what the clinician saw (``believed``).

        Without ``believed`` the pump is interrogated first, so the check runs against the
        dose delivered now.
        """
        seen = believed or await self.interrogate()
        current = seen.status.dose_ng_per_day
        violation = check_rate_change(
            seen.limits,
            current,
            dose_ng_per_day,
            seen.identity.concentration_ng_per_ml,
            confirm_large_change=confirm_large_change,
        )
        if violation is not None:
            raise ProgrammerRefusal(violation.rule, violation.reason)
        resolved = False
        try:
            await self.client.set_rate(
                dose_ng_per_day, current, confirm_large_change=confirm_large_change
            )
        except OutcomeUncertain as uncertain:
            await self._resolve(uncertain)
            resolved = True
        status = await self.client.status()
        if status.dose_ng_per_day != dose_ng_per_day:
            raise VerificationFailed(
                f"pump acknowledged {dose_ng_per_day} ng/day but reads back "
                f"{status.dose_ng_per_day} ng/day"
            )
        return RateChange(current, dose_ng_per_day, status, resolved)

    async def _resolve(self, uncertain: OutcomeUncertain) -> None:
        """Turn a lost answer into a known outcome, or re-raise it as still uncertain."""
        try:
            outcome = await self.client.resolve(uncertain.request_id)
        except NoResponse:
            raise uncertain from None
        if outcome.resolution is Resolution.APPLIED:
            return
        if outcome.resolution is Resolution.REFUSED and outcome.event is not None:
            raise PumpError(f"pump refused: {outcome.event.detail}")
        raise PumpError("the answer was lost and the pump shows it was not executed: not applied")
