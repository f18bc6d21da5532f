"""The titration guard: a pure function of the record and the pump's state (docs/guard.md).

For an increase, in this order: delivery first (delivery stopped now, a fault alarm, a
catheter check that is not patent, an unexplained refill discrepancy; the latest VAS taken
while delivery was stopped or too soon after it resumed; a rise in pain not yet cleared by a
patent check after it, or after a concentration change) holds; baclofen is not judged by the VAS; a
last increase with no VAS since, or only one taken too soon to judge, holds; the pain
pattern of the episode (each of the last K increases raised pain or left it at 9 or more,
or the pain now is up on the baseline by the MCID across two escalations or more) blocks.
Otherwise the increase is allowed, with warnings: no benefit, boluses, systemic opioids not
tapered. A decrease or the same dose is always allowed. The guard never changes a dose.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from pumpctl.clinical.guard.decision import (
    EvidenceItem,
    GuardDecision,
    Rule,
    Verdict,
    Warning,
)
from pumpctl.clinical.guard.episode import (
    build,
    episode_events,
    event_after_reading,
    rise_reading,
)
from pumpctl.clinical.guard.evidence import Describe
from pumpctl.clinical.guard.inputs import (
    DELIVERY_ALARMS,
    DISCREPANCY_ALARM,
    STOPPED_ALARMS,
    DeliveryEvent,
    DrugClass,
    GuardConfig,
    GuardInputs,
)
from pumpctl.clinical.guard.words import (
    CORRECTED_OPTIONS,
    DELIVERY_OPTIONS,
    LOSS_WORDS,
    OIH_CHECKLIST,
    OIH_OPTIONS,
    OTHER_OPTIONS,
    ZICONOTIDE_CHECKLIST,
    ZICONOTIDE_OPTIONS,
    delivery_checklist,
    duration,
    when,
)
from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.systemic import format_mme


class _Judge(Describe):
    """One evaluation: the inputs, the episode, and the rules over them."""

    def __init__(self, inputs: GuardInputs, config: GuardConfig) -> None:
        super().__init__(inputs, build(inputs, config))
        self.config = config
        self.drug_class = inputs.drug.drug_class

    def decide(
        self,
        verdict: Verdict,
        rule: Rule,
        reason: str,
        evidence: list[EvidenceItem],
        *,
        checklist: tuple[str, ...] = (),
        options: tuple[str, ...] = (),
        warnings: tuple[Warning, ...] = (),
        overridable: bool = True,
        dose_before_fault: int | None = None,
        checklist_title: str = "Before anything else, check",
        next_action: str = "",
    ) -> GuardDecision:
        # In time order (stable: a baseline stays before the step taken at its time); items
        # that are not a point in time (totals, the systemic load) last.
        ordered = sorted(evidence, key=lambda e: (e.time_s is None, e.time_s or 0))
        return GuardDecision(
            verdict,
            rule,
            reason,
            tuple(ordered + self.systemic_items()),
            checklist,
            options,
            warnings,
            overridable,
            dose_before_fault,
            checklist_title,
            next_action,
            "" if dose_before_fault is None else self.dose(dose_before_fault),
        )

    # --- the rules -----------------------------------------------------------------------

    def delivery_first(self, pattern: GuardDecision | None) -> GuardDecision | None:
        inputs, episode = self.inputs, self.episode
        events = sorted(inputs.delivery_events, key=lambda e: e.index)
        checks = [e for e in events if e.kind == "catheter-check"]
        active = [a for a in inputs.active_alarms if a in DELIVERY_ALARMS]
        since = episode_events(inputs, episode)
        stopped_now = [a for a in inputs.active_alarms if a in STOPPED_ALARMS]
        faults = [
            e
            for e in since
            if (e.kind == "alarm" and e.name in DELIVERY_ALARMS)
            or (e.kind == "catheter-check" and not e.patent_check)
        ]
        first_fault = min(
            [f.index for f in faults] + ([episode.steps[0].change.index] if episode.steps else []),
            default=None,
        )
        before_fault = (
            episode.dose_before(first_fault, inputs.current_ng_per_day)
            if first_fault is not None
            else None
        )
        evidence = self.pain_items() + [self.delivery_item(e) for e in since]

        def hold(
            reason: str,
            *,
            overridable: bool = False,
            action: str = "catheter-check",
            options: tuple[str, ...] = DELIVERY_OPTIONS,
        ) -> GuardDecision:
            return self.decide(
                Verdict.HOLD,
                Rule.DELIVERY_FIRST,
                f"rule out a delivery failure: {reason}",
                evidence,
                checklist=delivery_checklist(self.drug_class.value),
                options=options,
                overridable=overridable,
                dose_before_fault=before_fault,
                checklist_title="Rule out a delivery failure",
                next_action=action,
            )

        if stopped_now:
            return hold(
                f"{' and '.join(stopped_now)} active: nothing reaches the patient, so pain now "
                f"may be {self.loss_word()}, not the dose's effect; resume delivery and "
                f"reassess {duration(inputs.drug.assessment_interval_s)} after it before "
                "escalating",
                action="resume",
            )
        if active:
            return hold(
                f"{' and '.join(active)} active; a further increase waits until it is resolved "
                "and a patent catheter check is recorded: a delivery fault, not a sign of "
                f"{self.pain_word()}",
                action="resolve-fault",
            )
        if DISCREPANCY_ALARM in inputs.active_alarms:
            return hold(
                "an unexplained refill discrepancy (VOLUME_DISCREPANCY): find out why and "
                "acknowledge it with what was found (pumpctl ack VOLUME_DISCREPANCY "
                "--discrepancy-reason TEXT)",
                action="explain-discrepancy",
            )
        if checks and not checks[-1].patent_check:
            last = checks[-1]
            return hold(
                f"the last catheter check ({when(last.time_s)}) found {last.name}; a further "
                "increase waits for a patent catheter check",
                action="resolve-fault",
            )
        if self.drug_class is DrugClass.BACLOFEN:
            return None
        interrupted = self.interrupted()
        if interrupted is not None:
            return hold(interrupted, overridable=True, action="log-vas")
        rise = rise_reading(episode, self.config, pattern=pattern is not None)
        if rise is None or (pattern is None and not faults):
            return None
        changed = [e for e in since if e.kind == "concentration-change"]
        cleared = any(
            c.patent_check and event_after_reading(c.index, c.time_s, rise) for c in checks
        )
        if changed:
            cleared = cleared and any(
                c.patent_check and c.index > changed[-1].index for c in checks
            )
        if not cleared:
            what = (
                f"the concentration changed at the refill of {when(changed[-1].time_s)} and "
                if changed
                else ""
            )
            return hold(
                f"{what}pain rose while the dose went up ({self.moved(episode.baseline, rise)}"
                "), with no patent catheter check since; run a catheter "
                f"check before considering {self.pain_word()}",
            )
        if faults:
            fault = faults[0]
            found = fault.name
            if fault.kind == "catheter-check":
                found = f"catheter check: {found}"
            return hold(
                f"a delivery fault ({found}, {when(fault.time_s)}) explains the rise in pain "
                f"better than {self.pain_word()}; it has been corrected (patent catheter "
                f"check): return to the dose before the fault ({self.dose(before_fault or 0)}) "
                "and reassess before escalating",
                overridable=True,
                action="return-to-dose",
                options=CORRECTED_OPTIONS,
            )
        return None

    def interrupted(self) -> str | None:
        """Why the latest VAS of the episode cannot judge the dose: it was taken while
        delivery was stopped, or sooner than the assessment interval after it resumed."""
        inputs, episode = self.inputs, self.episode
        if not episode.steps:
            return None
        first = episode.steps[0].change
        latest = [r for r in episode.readings if r.is_after(first)]
        if not latest:
            return None
        reading = max(latest, key=lambda r: r.time_s)
        interval = inputs.drug.assessment_interval_s
        events = sorted(
            (e for e in episode_events(inputs, episode) if e.kind in ("stopped", "resumed")),
            key=lambda e: e.index,
        )
        stopped: DeliveryEvent | None = None
        for event in events:
            if event.kind == "stopped":
                stopped = stopped or event
                continue
            if (
                stopped is not None
                and reading.is_after_event(stopped.index, stopped.time_s)
                and reading.time_s < event.time_s + interval
            ):
                stopped_s = stopped.time_s
                return (
                    f"delivery was stopped from {when(stopped_s)} to {when(event.time_s)}, and "
                    f"the latest VAS ({format_vas(reading.score_tenths)}, "
                    f"{when(reading.time_s)}) was taken before {duration(interval)} after it "
                    f"resumed: pain then may be {self.loss_word()}, not the dose's effect; "
                    f"log a VAS from {when(event.time_s + interval)} before escalating"
                )
            stopped = None
        return None

    def loss_word(self) -> str:
        return LOSS_WORDS.get(self.drug_class.value, LOSS_WORDS["other"])

    def pain_word(self) -> str:
        return {
            DrugClass.OPIOID: "opioid-induced hyperalgesia (OIH)",
            DrugClass.ZICONOTIDE: "ziconotide failing to relieve the pain",
            DrugClass.BACLOFEN: "a need for more baclofen",
        }.get(self.drug_class, f"{self.inputs.drug.name} failing to relieve the pain")

    def reassessment(self) -> GuardDecision | None:
        episode = self.episode
        latest = episode.latest_change
        if latest is None or not latest.is_increase or not episode.steps:
            return None
        step = episode.steps[-1]
        if step.change is not latest or step.response is not None:
            return None
        change = step.change
        move = f"{self.dose(change.old_ng_per_day)} -> {self.dose(change.new_ng_per_day)}"
        if not step.after:
            return self.decide(
                Verdict.HOLD,
                Rule.NO_REASSESSMENT,
                f"no VAS logged since the last increase ({move}, {when(change.time_s)}): "
                "reassess the pain before escalating",
                [self.step_item(step)],
                next_action="log-vas",
            )
        interval = self.inputs.drug.assessment_interval_s
        early = step.after[-1]
        return self.decide(
            Verdict.HOLD,
            Rule.TOO_EARLY,
            f"too early to judge: the VAS since the last increase ({move}, "
            f"{when(change.time_s)}) was taken {duration(early.time_s - change.time_s)} after it; "
            f"{self.inputs.drug.name} is judged {duration(interval)} after a change "
            f"(from {when(change.time_s + interval)}); log a VAS from then on and propose it again",
            [self.step_item(step)],
            next_action="log-vas",
        )

    def pattern(self) -> GuardDecision | None:
        episode, config = self.episode, self.config
        k = config.increases_to_block
        recent = episode.steps[-k:]
        rule: Rule | None = None
        if len(recent) == k and all(s.failed(config) for s in recent):
            rose = all((s.rise() or 0) >= config.threshold_tenths for s in recent)
            rule = Rule.STEP_RISE if rose else Rule.NOT_RELIEVED
            what = (
                f"pain rose by {format_vas(config.threshold_tenths)} or more after each of the "
                f"last {k} increases"
                if rose
                else f"pain rose or stayed at VAS {format_vas(config.not_relieved_tenths)} or "
                f"more (not relieved) after each of the last {k} increases"
            )
        elif self.trajectory_rose():
            assert episode.baseline is not None
            assert episode.now is not None
            rise = episode.now.score_tenths - episode.baseline.score_tenths
            base = episode.baseline.score_tenths
            now = format_vas(episode.now.score_tenths)
            if self.rose_by_mcid(rise, base):
                rule = Rule.TRAJECTORY_RISE
                pct = f", +{rise * 100 // base}%" if base else ""
                what = (
                    f"pain is VAS {now} against a baseline of {format_vas(base)} "
                    f"(+{format_vas(rise)}{pct}) across {episode.escalations} escalations"
                )
            else:  # at the ceiling: a rise cannot show
                rule = Rule.NOT_RELIEVED
                what = (
                    f"pain is still VAS {now} (baseline {format_vas(base)}) after "
                    f"{episode.escalations} escalations: not relieved"
                )
        if rule is None:
            return None
        since = episode_events(self.inputs, episode)
        evidence = self.pain_items() + [self.delivery_item(e) for e in since]
        if self.drug_class is DrugClass.OPIOID:
            load = self.inputs.systemic
            taper = (
                (
                    f"No withdrawal from the systemic opioids: they are being tapered "
                    f"({format_mme(load.total_mme_per_day)} MME/day now), and withdrawal "
                    "from them raises pain too",
                )
                if load is not None and load.tapering
                else ()
            )
            return self.decide(
                Verdict.BLOCK,
                rule,
                f"{what}: suspect opioid-induced hyperalgesia (OIH); a further increase is blocked",
                evidence,
                checklist=OIH_CHECKLIST + taper,
                options=OIH_OPTIONS,
                checklist_title="Before anything else, check (OIH criteria)",
            )
        if self.drug_class is DrugClass.ZICONOTIDE:
            return self.decide(
                Verdict.BLOCK,
                rule,
                f"{what}: ziconotide is not relieving the pain, and each step adds to its "
                "adverse effects; a further increase is blocked",
                evidence,
                checklist=ZICONOTIDE_CHECKLIST,
                options=ZICONOTIDE_OPTIONS,
                checklist_title="Before anything else, check (ziconotide)",
            )
        return self.decide(
            Verdict.BLOCK,
            rule,
            f"{what}: {self.inputs.drug.name} is not relieving the pain; a further increase "
            "is blocked",
            evidence,
            options=OTHER_OPTIONS,
        )

    def return_to_peak(self) -> GuardDecision | None:
        """A decrease that began the episode lets titration restart below the dose before it,
        not return to it: at or above that dose, the pattern found before the decrease still
        blocks (and an opioid's pain better by the MCID on the decrease, an OIH criterion,
        says so)."""
        episode, inputs = self.episode, self.inputs
        change, peak = episode.reset_by, episode.reset_peak
        if change is None or peak is None or inputs.proposed_ng_per_day < peak:
            return None
        earlier = _Judge(
            replace(
                inputs,
                current_ng_per_day=change.old_ng_per_day,
                changes=tuple(c for c in inputs.changes if c.index < change.index),
                readings=tuple(r for r in inputs.readings if not r.is_after(change)),
                boluses=tuple(b for b in inputs.boluses if b.index < change.index),
                demand_refusals=tuple(d for d in inputs.demand_refusals if d.index < change.index),
                delivery_events=tuple(e for e in inputs.delivery_events if e.index < change.index),
            ),
            self.config,
        )
        found = earlier.pattern()
        if found is None:
            return None
        move = f"{self.dose(change.old_ng_per_day)} -> {self.dose(change.new_ng_per_day)}"
        before, after = episode.reset_before, episode.reset_after
        base = None if before is None else before.score_tenths
        if (
            self.drug_class is DrugClass.OPIOID
            and before is not None
            and after is not None
            and base is not None
            and self.rose_by_mcid(base - after.score_tenths, base)
        ):
            rule = Rule.RELIEVED_BY_REDUCTION
            why = (
                f"pain fell from VAS {format_vas(base)} ({when(before.time_s)}) to "
                f"{format_vas(after.score_tenths)} ({when(after.time_s)}) after the decrease "
                f"{move}: pain better on a dose reduction is a criterion of opioid-induced "
                "hyperalgesia (OIH)"
            )
        else:
            rule = found.rule
            why = f"the decrease {move} ({when(change.time_s)}) was reassessed"
        return self.decide(
            Verdict.BLOCK,
            rule,
            f"{why}; before it, {found.reason.removesuffix('; a further increase is blocked')}"
            f": titration may restart below {self.dose(peak)}, not return to it or above",
            [*(e for e in found.evidence if e.kind != "systemic"), *self.pain_items()],
            checklist=found.checklist,
            options=found.options,
            checklist_title=found.checklist_title,
        )

    def trajectory_rose(self) -> bool:
        episode, config = self.episode, self.config
        if episode.escalations < 2 or episode.baseline is None or episode.now is None:
            return False
        if episode.now.score_tenths >= config.not_relieved_tenths:
            return True
        base = episode.baseline.score_tenths
        return self.rose_by_mcid(episode.now.score_tenths - base, base)

    def rose_by_mcid(self, rise: int, base: int) -> bool:
        config = self.config
        return rise > 0 and (
            rise >= config.trajectory_points_tenths or rise * 100 >= config.trajectory_pct * base
        )

    def warnings(self) -> tuple[Warning, ...]:
        episode, config, inputs = self.episode, self.config, self.inputs
        found: list[Warning] = []
        if episode.escalations >= 2 and episode.baseline and episode.now:
            base = episode.baseline.score_tenths
            better = base - episode.now.score_tenths
            if better < config.trajectory_points_tenths and (
                better * 100 < config.trajectory_pct * base
            ):
                found.append(Warning(Rule.NO_BENEFIT, self.no_benefit_text()))
        if episode.boluses:
            total = sum(b.dose_ng for b in episode.boluses)
            found.append(
                Warning(
                    Rule.BOLUS_ESCALATION,
                    f"{len(episode.boluses)} bolus(es) in this episode, {self.amount(total)} "
                    "in all: escalation by bolus is escalation too",
                )
            )
        refused = episode.demand_refusals
        if len(refused) >= config.demand_refusals_to_warn:
            found.append(Warning(Rule.DEMAND_REFUSED, self.demand_text(len(refused))))
        load = inputs.systemic
        high = Fraction(config.high_systemic_mme_per_day)
        if (
            self.drug_class is DrugClass.OPIOID
            and load is not None
            and load.total_mme_per_day >= high
            and not load.tapering
        ):
            found.append(
                Warning(
                    Rule.TAPER_SYSTEMIC,
                    f"taper systemic opioids first: {format_mme(load.total_mme_per_day)} "
                    f"MME/day systemic, not tapering (high: {config.high_systemic_mme_per_day} "
                    f"MME/day or more), beside IT {self.dose(inputs.current_ng_per_day)}; "
                    "PACC 2024 advises systemic opioid reduction before intrathecal therapy "
                    "for non-cancer pain",
                )
            )
        return tuple(found)

    def demand_text(self, refused: int) -> str:
        given = len(self.episode.boluses)
        why = (
            "it does not tell hyperalgesia from tolerance: judge by the pain after each "
            "increase (pain worse with more opioid suggests OIH, relief that fades tolerance) "
            "and rule out a delivery failure"
            if self.drug_class is DrugClass.OPIOID
            else "judge by the pain after each increase and rule out a delivery failure"
        )
        return (
            f"the patient asked for {refused} demand bolus(es) the pump refused (lockout or "
            f"count per day) in this episode, beside {given} bolus(es) given: pain uncontrolled "
            f"between boluses, a demand for escalation; {why}"
        )

    def no_benefit_text(self) -> str:
        episode = self.episode
        assert episode.baseline is not None
        assert episode.now is not None
        moved = (
            f"VAS {format_vas(episode.baseline.score_tenths)} -> "
            f"{format_vas(episode.now.score_tenths)} across {episode.escalations} escalations, "
            "less than the minimal clinically important difference (2 points or 30%)"
        )
        if self.drug_class is DrugClass.OPIOID:
            return (
                f"no benefit: {moved}; further opioid is often futile (Colvin, Lancet 2019): "
                "consider OIH, rotation or a non-opioid"
            )
        if self.drug_class is DrugClass.ZICONOTIDE:
            return (
                f"no benefit from ziconotide: {moved}; check neuropsychiatric status and CK "
                "before going further"
            )
        return f"no benefit: {moved}"


def evaluate(inputs: GuardInputs, config: GuardConfig | None = None) -> GuardDecision:
    """May ``current → proposed`` go ahead, given everything in ``inputs``?"""
    if inputs.proposed_ng_per_day <= inputs.current_ng_per_day:
        return GuardDecision(Verdict.ALLOW, Rule.DECREASE, "decreases and holds are always allowed")
    judge = _Judge(inputs, config or GuardConfig())
    pattern = None if judge.drug_class is DrugClass.BACLOFEN else judge.pattern()
    delivery = judge.delivery_first(pattern)
    if delivery is not None:
        return delivery
    if judge.drug_class is DrugClass.BACLOFEN:
        text = (
            "the VAS is not baclofen's measure: judge the step by spasticity (e.g. Ashworth), "
            "spasms and function, within 24 h of the last change (Saulino 2016); delivery "
            "checks passed"
        )
        return judge.decide(
            Verdict.ALLOW,
            Rule.BACLOFEN_NOT_VAS,
            text,
            judge.pain_items(),
            warnings=(Warning(Rule.BACLOFEN_NOT_VAS, text),),
        )
    hold = judge.reassessment()
    if hold is not None:
        return hold
    if pattern is not None:
        return pattern
    returning = judge.return_to_peak()
    if returning is not None:
        return returning
    return judge.decide(
        Verdict.ALLOW,
        Rule.NO_PATTERN,
        "no pattern of pain rising after increases",
        judge.pain_items(),
        warnings=judge.warnings(),
    )
