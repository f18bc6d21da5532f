"""What the guard weighs, gathered from the clinical record and what the pump showed.

The record's mirror of the pump's event log gives the applied changes, the boluses (a
bridge bolus goes with a refill and is left out), the alarms as they were raised, the
catheter checks, the concentration changes (a refill with a bridge bolus or its waiver) and
when delivery stopped and resumed; the interrogation gives the alarms active now; the record
gives the readings and the systemic opioids.
"""

from __future__ import annotations

from pumpctl.clinical.guard import (
    BolusGiven,
    DeliveryEvent,
    DemandRefusal,
    GuardInputs,
    drug_profile,
)
from pumpctl.clinical.record import ClinicalRecord
from pumpctl.clinical.systemic import systemic_load
from pumpctl.programmer.interrogation import Interrogation
from pumpctl.protocol.messages import (
    AlarmCode,
    CatheterVerdict,
    DemandOutcome,
    EventCode,
    EventRecord,
)

GUARD_EVENTS = (
    EventCode.REFILLED,
    EventCode.BOLUS_STARTED,
    EventCode.ALARM_RAISED,
    EventCode.CATHETER_CHECKED,
    EventCode.STOPPED,
    EventCode.RESUMED,
    EventCode.DEMAND_BOLUS_REFUSED,
)
# The demand-bolus refusals that ask for more drug than the settings give (the others, a
# stopped or empty pump or an occlusion, are delivery's: its alarms and events say so).
DEMAND_REFUSED_FOR = {
    DemandOutcome.REFUSED_LOCKOUT: "lockout",
    DemandOutcome.REFUSED_DAILY_COUNT: "count per day",
}


def guard_inputs(
    record: ClinicalRecord, seen: Interrogation, proposed_ng_per_day: int
) -> GuardInputs:
    serial = seen.serial
    events = record.pump_events(serial, codes=GUARD_EVENTS)
    refills = {e.request_id for e in events if e.code == EventCode.REFILLED and e.request_id}
    boluses = tuple(
        BolusGiven(e.index, e.time_s, e.value_a)
        for e in events
        if e.code == EventCode.BOLUS_STARTED and e.request_id not in refills
    )
    now_s = seen.status.pump_time_s
    return GuardInputs(
        current_ng_per_day=seen.status.dose_ng_per_day,
        proposed_ng_per_day=proposed_ng_per_day,
        changes=tuple(record.dose_changes(serial)),
        readings=tuple(record.readings(serial)),
        drug=drug_profile(seen.identity.drug, seen.limits.withdrawal_risk.name),
        unit=seen.unit,
        now_s=now_s,
        boluses=boluses,
        active_alarms=tuple(a.code.name for a in seen.status.alarms),
        delivery_events=tuple(_delivery_events(events)),
        systemic=systemic_load(record, serial, now_s),
        demand_refusals=tuple(
            DemandRefusal(e.index, e.time_s, DEMAND_REFUSED_FOR[DemandOutcome(e.value_a)])
            for e in events
            if e.code == EventCode.DEMAND_BOLUS_REFUSED and e.value_a in DEMAND_REFUSED_FOR
        ),
    )


def _delivery_events(events: list[EventRecord]) -> list[DeliveryEvent]:
    found = []
    bridged = {
        e.request_id
        for e in events
        if e.code == EventCode.BOLUS_STARTED and e.detail.startswith("bridge bolus")
    }
    for event in events:
        if event.code == EventCode.ALARM_RAISED and event.value_a in AlarmCode._value2member_map_:
            found.append(
                DeliveryEvent(event.index, event.time_s, "alarm", AlarmCode(event.value_a).name)
            )
        elif event.code == EventCode.CATHETER_CHECKED:
            verdict = verdict_name(event.value_a)
            found.append(
                DeliveryEvent(event.index, event.time_s, "catheter-check", verdict, event.detail)
            )
        elif event.code in (EventCode.STOPPED, EventCode.RESUMED):
            kind = "stopped" if event.code == EventCode.STOPPED else "resumed"
            found.append(DeliveryEvent(event.index, event.time_s, kind, kind.upper(), event.detail))
        elif event.code == EventCode.REFILLED and (
            (event.value_a == 0 and event.value_b == 0) or event.request_id in bridged
        ):
            found.append(DeliveryEvent(event.index, event.time_s, "concentration-change", "REFILL"))
    return found


def verdict_name(value: int) -> str:
    """A catheter check's verdict as the pump logged it: its name, or the number of one this
    programmer does not know (a value from the pump never raises)."""
    known = value in CatheterVerdict._value2member_map_
    return CatheterVerdict(value).name if known else str(value)
