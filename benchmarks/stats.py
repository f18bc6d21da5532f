"""Medians and tail percentiles of timings, in seconds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    median_s: float
    p99_s: float
    samples: int

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return cls(statistics.median(ordered), p99, len(ordered))

    @classmethod
    def of_rounds(cls, rounds: list[list[float]]) -> Timing:
        """Samples taken in rounds alternating with another subject's (its floor), so a
        burst of load or a change of CPU frequency moves both: the median of the round
        medians, the p99 over every sample."""
        every = cls.of([sample for samples in rounds for sample in samples])
        return cls(
            statistics.median(statistics.median(r) for r in rounds), every.p99_s, every.samples
        )


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
