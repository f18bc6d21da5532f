"""The guard's evidence: each fact a verdict rests on, with its time and its figures."""

from __future__ import annotations

from pumpctl.clinical.guard.decision import EvidenceItem
from pumpctl.clinical.guard.episode import Episode, Step
from pumpctl.clinical.guard.inputs import DeliveryEvent, GuardInputs, Reading
from pumpctl.clinical.guard.words import when
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.systemic import format_mme
from pumpctl.units import format_amount


class Describe:
    """How one evaluation's facts read, in the drug's unit."""

    def __init__(self, inputs: GuardInputs, episode: Episode) -> None:
        self.inputs = inputs
        self.episode = episode

    def dose(self, ng: int) -> str:
        return format_amount(ng, self.inputs.unit)

    def amount(self, ng: int) -> str:
        return format_amount(ng, self.inputs.unit, per_day=False)

    @staticmethod
    def moved(before: Reading | None, after: Reading) -> str:
        start = "" if before is None else f"from {format_vas(before.score_tenths)} on "
        start += "" if before is None else f"{when(before.time_s)} "
        return f"VAS {start}to {format_vas(after.score_tenths)} on {when(after.time_s)}"

    @staticmethod
    def vas(reading: Reading | None) -> str:
        if reading is None:
            return "-"
        return f"{format_vas(reading.score_tenths)} ({when(reading.time_s)})"

    # --- evidence ------------------------------------------------------------------------

    def step_item(self, step: Step) -> EvidenceItem:
        change = step.change
        after = self.vas(step.response)
        if step.too_early:
            early = step.after[-1]
            after = f"- (VAS {format_vas(early.score_tenths)} at {when(early.time_s)}: too early)"
        text = (
            f"{self.dose(change.old_ng_per_day)} -> {self.dose(change.new_ng_per_day)}: "
            f"VAS {self.vas(step.before)} -> {after}"
        )
        return EvidenceItem(
            "increase",
            change.time_s,
            text,
            {
                "pump_event_index": change.index,
                "old_ng_per_day": change.old_ng_per_day,
                "new_ng_per_day": change.new_ng_per_day,
                "vas_before_tenths": None if step.before is None else step.before.score_tenths,
                "vas_before_time_s": None if step.before is None else step.before.time_s,
                "vas_after_tenths": None if step.response is None else step.response.score_tenths,
                "vas_after_time_s": None if step.response is None else step.response.time_s,
                "too_early": step.too_early,
            },
        )

    def reading_item(self, kind: str, reading: Reading, label: str) -> EvidenceItem:
        return EvidenceItem(
            kind,
            reading.time_s,
            f"{label}: VAS {format_vas(reading.score_tenths)}",
            {"vas_tenths": reading.score_tenths},
        )

    def bolus_items(self) -> list[EvidenceItem]:
        boluses = self.episode.boluses
        if not boluses:
            return []
        total = sum(b.dose_ng for b in boluses)
        current = self.inputs.current_ng_per_day
        pct = f" (+{total * 100 // current}% of the daily dose)" if current else ""
        items = [
            EvidenceItem(
                "bolus",
                b.time_s,
                f"bolus {self.amount(b.dose_ng)}",
                {"pump_event_index": b.index, "dose_ng": b.dose_ng},
            )
            for b in boluses
        ]
        items.append(
            EvidenceItem(
                "boluses",
                None,
                f"{len(boluses)} bolus{'es' if len(boluses) > 1 else ''} in this episode: "
                f"{self.amount(total)}{pct}, counted as escalations",
                {"count": len(boluses), "total_ng": total},
            )
        )
        return items

    def delivery_item(self, event: DeliveryEvent) -> EvidenceItem:
        text = {
            "alarm": f"alarm {event.name} raised",
            "catheter-check": f"catheter check: {event.name}",
            "concentration-change": "concentration changed at a refill",
            "stopped": "delivery stopped",
            "resumed": "delivery resumed",
        }[event.kind]
        if event.kind == "stopped" and event.detail:
            text = event.detail  # "delivery stopped: RESERVOIR_EMPTY"
        elif event.detail and event.kind != "resumed":
            # The pump's detail repeats the verdict ("catheter PATENT: 100% delivered, ...").
            detail = event.detail.removeprefix(f"catheter {event.name}: ")
            text += f" ({detail})"
        return EvidenceItem(
            event.kind, event.time_s, text, {"pump_event_index": event.index, "name": event.name}
        )

    def systemic_items(self) -> list[EvidenceItem]:
        load = self.inputs.systemic
        if load is None or not load.opioids:
            return []
        names = ", ".join(
            f"{o.name} {o.amount_text}"
            + (f" = {format_mme(o.mme_per_day)} MME/day" if o.mme_per_day is not None else "")
            for o in load.opioids
        )
        unknown = f"; no MME factor: {', '.join(load.unknown)}" if load.unknown else ""
        text = (
            f"IT {self.dose(self.inputs.current_ng_per_day)} beside systemic opioids "
            f"{format_mme(load.total_mme_per_day)} MME/day ({names}{unknown}); "
            f"{'tapering' if load.tapering else 'not tapering'} - shown side by side, never added"
        )
        return [
            EvidenceItem(
                "systemic",
                None,
                text,
                {
                    "total_mme_per_day": format_mme(load.total_mme_per_day),
                    "tapering": load.tapering,
                    "opioids": [
                        {
                            "name": o.name,
                            "amount": o.amount_text,
                            "mme_per_day": None
                            if o.mme_per_day is None
                            else format_mme(o.mme_per_day),
                        }
                        for o in load.opioids
                    ],
                    "unknown": list(load.unknown),
                },
            )
        ]

    def pain_items(self) -> list[EvidenceItem]:
        items = []
        episode = self.episode
        if episode.reset_by is not None:
            change = episode.reset_by
            items.append(
                EvidenceItem(
                    "decrease",
                    change.time_s,
                    f"episode began with the decrease {self.dose(change.old_ng_per_day)} -> "
                    f"{self.dose(change.new_ng_per_day)}, reassessed after it",
                    {"pump_event_index": change.index},
                )
            )
        if episode.baseline is not None:
            items.append(self.reading_item("baseline", episode.baseline, "baseline"))
        items += [self.step_item(s) for s in episode.steps]
        if episode.now is not None:
            items.append(self.reading_item("now", episode.now, "pain now"))
        return items + self.bolus_items() + self.demand_items()

    def demand_items(self) -> list[EvidenceItem]:
        return [
            EvidenceItem(
                "demand-refused",
                d.time_s,
                f"demand bolus asked for and refused ({d.reason})",
                {"pump_event_index": d.index, "reason": d.reason},
            )
            for d in self.episode.demand_refusals
        ]
