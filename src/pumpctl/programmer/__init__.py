"""The one API the faces use: interrogate, plan (checks, guard, review), execute (send once,
resolve, verify, audit). See :mod:`pumpctl.programmer.core`.

Each name is imported from its module when first asked for: a read that needs the
programmer and its interrogation does not load every command's module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pumpctl.programmer.commands import (
        AckAlarm,
        Bolus,
        CatheterCheck,
        ClearSchedule,
        Refill,
        Resume,
        SetPeriodicBolus,
        SetRate,
        SetSchedule,
        Stop,
        TherapyCommand,
    )
    from pumpctl.programmer.core import Outcome, Plan, Programmer, RateChange, Result
    from pumpctl.programmer.demand import DemandSettings, SetDemandBolus
    from pumpctl.programmer.errors import (
        AppliedNotRecorded,
        ConfirmationRequired,
        GuardBlocked,
        NotApplied,
        NothingToSend,
        ProgrammerRefusal,
        VerificationFailed,
    )
    from pumpctl.programmer.implant import WriteImplantRecord
    from pumpctl.programmer.interrogation import Context, Interrogation, Override
    from pumpctl.programmer.review import Confirmation, Confirmations, Review, ReviewRow

    COMMAND_KINDS: tuple[type[TherapyCommand], ...]

__all__ = [
    "COMMAND_KINDS",
    "AckAlarm",
    "AppliedNotRecorded",
    "Bolus",
    "CatheterCheck",
    "ClearSchedule",
    "Confirmation",
    "ConfirmationRequired",
    "Confirmations",
    "Context",
    "DemandSettings",
    "GuardBlocked",
    "Interrogation",
    "NotApplied",
    "NothingToSend",
    "Outcome",
    "Override",
    "Plan",
    "Programmer",
    "ProgrammerRefusal",
    "RateChange",
    "Refill",
    "Result",
    "Resume",
    "Review",
    "ReviewRow",
    "SetDemandBolus",
    "SetPeriodicBolus",
    "SetRate",
    "SetSchedule",
    "Stop",
    "TherapyCommand",
    "VerificationFailed",
    "WriteImplantRecord",
]

# Each name's module, as the imports above say.
_MODULES = {
    "commands": "AckAlarm Bolus CatheterCheck ClearSchedule Refill Resume SetPeriodicBolus "
    "SetRate SetSchedule Stop TherapyCommand",
    "core": "Outcome Plan Programmer RateChange Result",
    "demand": "DemandSettings SetDemandBolus",
    "errors": "AppliedNotRecorded ConfirmationRequired GuardBlocked NotApplied NothingToSend "
    "ProgrammerRefusal VerificationFailed",
    "implant": "WriteImplantRecord",
    "interrogation": "Context Interrogation Override",
    "review": "Confirmation Confirmations Review ReviewRow",
}
_HOMES = {name: module for module, names in _MODULES.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    if name == "COMMAND_KINDS":
        from pumpctl.programmer.commands import COMMAND_KINDS as KINDS
        from pumpctl.programmer.demand import SetDemandBolus

        value: Any = (*KINDS, SetDemandBolus)
    elif name in _HOMES:
        value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the names looked up on first use too
