"""Exact unit arithmetic for delivery: volumes are ``Fraction`` nanolitres, never floats."""

from __future__ import annotations

from fractions import Fraction

MS_PER_DAY = 86_400_000
NL_PER_ML = 1_000_000


def flow_nl_per_ms(dose_ng_per_day: int, concentration_ng_per_ml: int) -> Fraction:
    return Fraction(dose_ng_per_day * NL_PER_ML, concentration_ng_per_ml * MS_PER_DAY)


def bolus_nl_per_ms(dose_ng: int, duration_ms: int, concentration_ng_per_ml: int) -> Fraction:
    return Fraction(dose_ng * NL_PER_ML, concentration_ng_per_ml * duration_ms)


def flow_nl_per_day(dose_ng_per_day: int, concentration_ng_per_ml: int) -> int:
    return dose_ng_per_day * NL_PER_ML // concentration_ng_per_ml
