"""What can go wrong between programmer and pump, each with a one-line message."""

from __future__ import annotations

from pumpctl.protocol.messages import Nak, NakCode


class PumpError(Exception):
    """Base class: ``str(error)`` is a one-line reason a clinician can read."""

    # The drug library's unit (mg, mcg) when the programmer knew the drug, so that a limit
    # the error names can be shown in it.
    drug_unit: str | None = None


class LinkError(PumpError):
    """The port cannot be opened or the line went away."""


class NoResponse(PumpError):
    """A read got no valid answer within the deadline and retries."""


class OutcomeUncertain(PumpError):
    """A command was sent but no answer came back: it may or may not have been applied.

    Never resend it blindly; resolve it by reading the pump back (``PumpClient.resolve``).
    """

    def __init__(self, message: str, request_id: int, *, reason: str = "") -> None:
        super().__init__(message)
        self.request_id = request_id
        self.reason = reason or message  # what went wrong, without the advice


class PumpRefused(PumpError):
    """The pump refused the request; ``nak`` names the rule."""

    def __init__(self, nak: Nak) -> None:
        rule = NakCode(nak.code).name
        super().__init__(f"pump refused ({rule}): {nak.detail}")
        self.nak = nak

    @property
    def code(self) -> NakCode:
        return NakCode(self.nak.code)


class AuthenticationError(PumpError):
    """A session could not be opened or kept: not paired, a wrong key, a locked pump."""
