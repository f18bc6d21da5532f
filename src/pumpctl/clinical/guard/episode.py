"""The titration episode the guard judges: the changes since the last meaningful decrease
that was reassessed, each increase with the pain before it and its response, the
baseline, the pain now and the boluses given (docs/guard.md, "Definitions")."""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.clinical.guard.inputs import (
    BolusGiven,
    DeliveryEvent,
    DemandRefusal,
    DoseChange,
    GuardConfig,
    GuardInputs,
    Reading,
)


@dataclass(frozen=True)
class Step:
    """An increase of the episode: the VAS standing before it, the readings after it (before
    the next change), and which of those count as its response (taken late enough)."""

    change: DoseChange
    before: Reading | None
    after: tuple[Reading, ...]
    response: Reading | None  # the last reading after it taken at least the interval after

    @property
    def too_early(self) -> bool:
        return bool(self.after) and self.response is None

    def rise(self) -> int | None:
        if self.before is None or self.response is None:
            return None
        return self.response.score_tenths - self.before.score_tenths

    def failed(self, config: GuardConfig) -> bool:
        """Raised pain by the threshold, or left it at the ceiling (not relieved)."""
        rise = self.rise()
        if rise is not None and rise >= config.threshold_tenths:
            return True
        return self.response is not None and self.response.score_tenths >= (
            config.not_relieved_tenths
        )


@dataclass(frozen=True)
class Episode:
    changes: tuple[DoseChange, ...]  # every applied change, in the pump's order
    readings: tuple[Reading, ...]  # in timeline order
    start: int  # position in ``changes`` of the episode's first change
    reset_by: DoseChange | None  # the decrease that began it
    steps: tuple[Step, ...]  # the episode's increases
    baseline: Reading | None  # the VAS before the episode's first increase
    now: Reading | None  # the latest reading that counts as a response to the last increase
    boluses: tuple[BolusGiven, ...]
    # Of the decrease that began it: the highest dose before it, the VAS standing before it
    # and the reassessment after it (the last VAS taken once it could act).
    reset_peak: int | None = None
    reset_before: Reading | None = None
    reset_after: Reading | None = None
    # The patient's demand boluses refused for the lockout or the count, in the same span as
    # the boluses: asked for and not given, so not escalations.
    demand_refusals: tuple[DemandRefusal, ...] = ()

    @property
    def escalations(self) -> int:
        return len(self.steps) + len(self.boluses)

    @property
    def latest_change(self) -> DoseChange | None:
        return self.changes[-1] if self.changes else None

    def dose_at_start(self, current_ng_per_day: int) -> int:
        if self.steps:
            return self.steps[0].change.old_ng_per_day
        return current_ng_per_day

    def dose_before(self, index: int, current_ng_per_day: int) -> int:
        """The dose in effect just before pump event ``index``."""
        dose = self.changes[0].old_ng_per_day if self.changes else current_ng_per_day
        for change in self.changes:
            if change.index >= index:
                break
            dose = change.new_ng_per_day
        return dose


def _window(reading: Reading, changes: tuple[DoseChange, ...]) -> int:
    """How many of ``changes`` (in order) the reading comes after: its window."""
    window = 0
    for position, change in enumerate(changes):
        if reading.is_after(change):
            window = position + 1
    return window


def event_after_reading(index: int, time_s: int, reading: Reading) -> bool:
    """Whether the pump event (``index``, ``time_s``) came after ``reading`` was taken."""
    if reading.events_seen is not None and not reading.backdated:
        return index > reading.events_seen
    return time_s >= reading.time_s


def build(inputs: GuardInputs, config: GuardConfig) -> Episode:
    changes = tuple(
        sorted(
            (c for c in inputs.changes if c.new_ng_per_day != c.old_ng_per_day),
            key=lambda c: c.index,
        )
    )
    windows = [_window(r, changes) for r in inputs.readings]
    # Within a window, by when each score was taken: a score logged late (``--taken-at``)
    # never stands in for a later one.
    order = sorted(
        range(len(inputs.readings)), key=lambda i: (windows[i], inputs.readings[i].time_s, i)
    )
    readings = tuple(inputs.readings[i] for i in order)
    window_of = {id(inputs.readings[i]): windows[i] for i in order}

    def in_window(position: int) -> list[Reading]:
        return [r for r in readings if window_of[id(r)] == position]

    interval = inputs.drug.assessment_interval_s

    def reassessment(position: int, change: DoseChange) -> Reading | None:
        """The last VAS after ``change`` (before the next) taken once the decrease could act."""
        later = [r for r in in_window(position + 1) if r.time_s - change.time_s >= interval]
        return later[-1] if later else None

    start, reset_by = 0, None
    reset_peak: int | None = None
    reset_before: Reading | None = None
    reset_after: Reading | None = None
    peak = changes[0].old_ng_per_day if changes else inputs.current_ng_per_day
    for position, change in enumerate(changes):
        peak = max(peak, change.old_ng_per_day)
        meaningful = change.new_ng_per_day * 100 <= peak * (100 - config.reset_decrease_pct)
        reassessed = reassessment(position, change) if change.is_decrease and meaningful else None
        if reassessed is not None:
            prior = [r for r in readings if window_of[id(r)] <= position]
            reset_peak, reset_after = peak, reassessed
            reset_before = prior[-1] if prior else None
            start, reset_by, peak = position + 1, change, change.new_ng_per_day
        else:
            peak = max(peak, change.new_ng_per_day)

    steps = []
    for position in range(start, len(changes)):
        change = changes[position]
        if not change.is_increase:
            continue
        before = [r for r in readings if window_of[id(r)] <= position]
        after = tuple(in_window(position + 1))
        counting = [r for r in after if r.time_s - change.time_s >= interval]
        steps.append(
            Step(change, before[-1] if before else None, after, counting[-1] if counting else None)
        )
    baseline = steps[0].before if steps else None
    now = None
    if steps:
        last = steps[-1].change
        later = [r for r in readings if r.is_after(last) and r.time_s - last.time_s >= interval]
        now = later[-1] if later else None
    # With no increase yet, the boluses since the last change (or the episode's start) are
    # shown and remarked, though they make no pattern without a baseline.
    since = changes[-1].index if changes else (reset_by.index if reset_by else 0)

    def in_span(index: int, time_s: int) -> bool:
        return (
            (reset_by is None or index > reset_by.index)
            and (baseline is None or event_after_reading(index, time_s, baseline))
            and (
                baseline is not None or (index > steps[0].change.index if steps else index > since)
            )
        )

    boluses = tuple(
        b for b in sorted(inputs.boluses, key=lambda b: b.index) if in_span(b.index, b.time_s)
    )
    refusals = tuple(
        d
        for d in sorted(inputs.demand_refusals, key=lambda d: d.index)
        if in_span(d.index, d.time_s)
    )
    return Episode(
        changes,
        readings,
        start,
        reset_by,
        tuple(steps),
        baseline,
        now,
        boluses,
        reset_peak,
        reset_before,
        reset_after,
        refusals,
    )


def rise_reading(episode: Episode, config: GuardConfig, *, pattern: bool) -> Reading | None:
    """The first reading of the episode at which pain had risen (or was not relieved); with a
    ``pattern`` of rising pain found by percentage alone, the pain now."""
    if not episode.steps:
        return None
    first = episode.steps[0].change
    baseline = episode.baseline
    for reading in episode.readings:
        if not reading.is_after(first):
            continue
        rose = baseline is not None and (
            reading.score_tenths - baseline.score_tenths >= config.threshold_tenths
        )
        if rose or reading.score_tenths >= config.not_relieved_tenths:
            return reading
    failed = [s.response for s in episode.steps if s.failed(config) and s.response is not None]
    if failed:
        return failed[0]
    return episode.now if pattern else None


def episode_events(inputs: GuardInputs, episode: Episode) -> tuple[DeliveryEvent, ...]:
    """The delivery events since the episode began (its reset, else its baseline)."""
    events = sorted(inputs.delivery_events, key=lambda e: e.index)
    if episode.reset_by is not None:
        events = [e for e in events if e.index > episode.reset_by.index]
    if episode.baseline is not None:
        baseline = episode.baseline
        events = [e for e in events if event_after_reading(e.index, e.time_s, baseline)]
    return tuple(events)
