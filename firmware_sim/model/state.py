"""The pump's non-volatile state, as a plain record that serialises to JSON exactly."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

from firmware_sim.model.battery import CAPACITY_UAH as BATTERY_CAPACITY_UAH
from firmware_sim.model.battery import estimate as battery_estimate
from firmware_sim.model.battery import percent as battery_percent
from firmware_sim.model.battery import used as battery_used
from firmware_sim.model.clock import PumpClock


@dataclass
class Bolus:
    start_ms: int
    dose_ng: int
    duration_ms: int
    request_id: int
    bridge: bool = False
    demand: bool = False  # a patient's demand bolus (model/demand.py)
    stopped_ms: int | None = None  # delivery stopped before the bolus was complete

    @property
    def end_ms(self) -> int:
        """When delivery of this bolus ends (early if the pump stopped)."""
        planned = self.start_ms + self.duration_ms
        return planned if self.stopped_ms is None else min(planned, self.stopped_ms)


@dataclass
class AlarmState:
    severity: int
    raised_ms: int
    acknowledged: bool = False


@dataclass
class PumpState:
    serial_number: str
    model_name: str
    firmware_version: str
    drug: str
    concentration_ng_per_ml: int
    dose_ng_per_day: int
    reservoir_nl: Fraction
    clock: PumpClock
    anchor_ms: int
    running: bool = True
    stop_reason: int = 0
    last_increase_ms: int | None = None
    last_rate_change_ms: int = 0
    boluses: list[Bolus] = field(default_factory=list)
    alarms: dict[int, AlarmState] = field(default_factory=dict)
    catheter: str = "patent"
    motor_stall: bool = False
    battery_pct: int = 100
    last_check_ms: int | None = None
    last_check_verdict: int | None = None
    # [start_ms, dose_ng_per_day] of each programmed dose that may fall in a 24 h window; a
    # schedule's entry is [start_ms, daily dose, start_min, dose, start_min, dose, ...]
    dose_history: list[list[int]] = field(default_factory=list)
    # Flexible dosing: [start_min, dose_ng_per_day] of each step (model/schedule.py); None
    # while a simple continuous rate is programmed. ``dose_ng_per_day`` is then its daily dose.
    schedule: list[list[int]] | None = None
    # Periodic boluses: [dose_ng, duration_min, interval_min, first_min] (model/periodic.py)
    periodic: list[int] | None = None
    # Patient demand boluses: [dose_ng, duration_s, lockout_s, per_day]; None: off
    demand: list[int] | None = None
    # The activation log, oldest first: [time_ms, last_time_ms, outcome, count, dose_ng] each
    # (model/demand.py); ``demand_log_next`` is the index the next entry gets.
    demand_log: list[list[int]] = field(default_factory=list)
    demand_log_next: int = 0
    # The battery (model/battery.py): what it has used follows the pump's time since
    # ``battery_since_ms``, the volume moved (in earlier fills, whole nL, and in this one:
    # ``battery_fill_nl`` less the reservoir) and ``battery_extra_uah`` (boluses, faults).
    # ``battery_pct`` follows it. Kept as parts so the arithmetic stays small and exact.
    battery_since_ms: int = 0
    battery_moved_nl: int = 0
    battery_fill_nl: int = 0
    battery_extra_uah: Fraction = Fraction(0)
    # The implant record (model/implant.py): absent until a clinician writes it.
    implant: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        # The activation log (up to 256 entries of plain integers) is copied as it is: walked
        # by ``asdict`` it would cost every commit milliseconds.
        data = asdict(replace(self, demand_log=[]))
        data["demand_log"] = [list(entry) for entry in self.demand_log]
        data["reservoir_nl"] = [self.reservoir_nl.numerator, self.reservoir_nl.denominator]
        extra = self.battery_extra_uah
        data["battery_extra_uah"] = [extra.numerator, extra.denominator]
        data["battery_pct"] = battery_percent(self.battery_used_uah)  # follows the charge
        data["clock"] = self.clock.to_json()
        data["alarms"] = {str(code): asdict(alarm) for code, alarm in self.alarms.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PumpState:
        values = dict(data)
        numerator, denominator = values["reservoir_nl"]
        values["reservoir_nl"] = Fraction(numerator, denominator)
        drained = "battery_extra_uah" in values
        if drained:
            values["battery_extra_uah"] = Fraction(*values["battery_extra_uah"])
        values["clock"] = PumpClock.from_json(values["clock"])
        values["boluses"] = [Bolus(**b) for b in values["boluses"]]
        values["alarms"] = {int(c): AlarmState(**a) for c, a in values["alarms"].items()}
        # Saved before doses had a history: the current dose, since it was programmed.
        values.setdefault(
            "dose_history", [[values["last_rate_change_ms"], values["dose_ng_per_day"]]]
        )
        state = cls(**values)
        if not drained:  # saved before the battery drained: from now on, as its level said
            state.battery_since_ms = state.anchor_ms
            state.battery_fill_nl = math.ceil(state.reservoir_nl)
            state.battery_used_uah = Fraction(
                BATTERY_CAPACITY_UAH * (100 - values.get("battery_pct", 100)), 100
            )
        return state

    @property
    def battery_used_uah(self) -> Fraction:
        """The charge used, µAh: time, motor and boluses, at most the capacity."""
        used = battery_used(
            self.anchor_ms - self.battery_since_ms,
            self.battery_moved_nl + self.battery_fill_nl - self.reservoir_nl,
            self.battery_extra_uah,
        )
        return used if used < BATTERY_CAPACITY_UAH else Fraction(BATTERY_CAPACITY_UAH)

    @battery_used_uah.setter
    def battery_used_uah(self, used: Fraction) -> None:
        """Set what has been used (the debug port's battery fault), the parts kept."""
        self.battery_extra_uah = Fraction(used) - battery_used(
            self.anchor_ms - self.battery_since_ms,
            self.battery_moved_nl + self.battery_fill_nl - self.reservoir_nl,
            Fraction(0),
        )

    def battery_used_estimate(self) -> float:
        """``battery_used_uah`` to within a fraction of a µAh, cheaply (screening only)."""
        moved = self.battery_moved_nl + self.battery_fill_nl - float(self.reservoir_nl)
        return battery_estimate(self.anchor_ms - self.battery_since_ms, moved) + float(
            self.battery_extra_uah
        )

    def battery_refilled(self, volume_nl: int) -> None:
        """A refill: the fill's moved volume joins the earlier fills' (rounded down to the
        nL), and a new fill starts."""
        self.battery_moved_nl += math.floor(self.battery_fill_nl - self.reservoir_nl)
        self.battery_fill_nl = volume_nl
