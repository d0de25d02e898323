"""Statistics over seeds: mean with a 95% Student-t confidence interval."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` values with the half-width of its 95% interval (NaN-free; 0 when n == 1
    would be a lie, so ``half_width`` is None for a single value)."""

    mean: float
    half_width: float | None
    n: int

    def format(self, digits: int) -> str:
        """``mean ± half_width`` (or just the mean for one value)."""
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t interval half-width of ``values`` (one value per seed).

    Raises:
        ValueError: for no values or a non-finite value.
    """
    if not values:
        raise ValueError("no values to summarise")
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"cannot summarise a non-finite value ({value})")
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Estimate(mean, None, 1)
    sem = statistics.stdev(values) / math.sqrt(len(values))
    t = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=len(values) - 1))
    return Estimate(mean, t * sem, len(values))
