"""The one API the faces use: interrogate, plan (checks, guard, review), execute (send once,
resolve, verify, audit). See :mod:`pumpctl.programmer.core`."""

from pumpctl.programmer.commands import (
    COMMAND_KINDS as _COMMAND_KINDS,
)
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

COMMAND_KINDS: tuple[type[TherapyCommand], ...] = (*_COMMAND_KINDS, SetDemandBolus)

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
