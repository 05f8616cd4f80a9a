"""Paired comparisons over seeds: the mean difference, its 95% interval, how often it wins,
and Holm's adjustment over the many comparisons a report makes.

Runs with the same seed share data order and initialization, so the honest comparison of two
configurations is seed by seed. The interval is Student's t on the paired differences, which
stays honest at 3-5 seeds where a bootstrap collapses to [min, max]; from 10 seeds up a
seeded percentile bootstrap is given beside it. Below 3 seeds no interval is given.

A report makes dozens of such comparisons, so some 95% intervals exclude zero by chance
alone. Holm's step-down adjustment of the paired t-tests' p-values keeps the chance of any
false finding among all of them at 5%, without assuming the comparisons independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_SEEDS_FOR_INTERVAL = 3
FAMILY_ERROR = 0.05  # the chance of any false finding among a report's comparisons
MIN_SEEDS_FOR_BOOTSTRAP = 10
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def t_two_sided_cdf(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with `df` degrees of freedom (Abramowitz & Stegun 26.7.3
    and 26.7.4: a finite series in cos(theta) for whole degrees of freedom)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2 == 1:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        return 2 / math.pi * (theta + math.sin(theta) * total) if df > 1 else 2 / math.pi * theta
    term, total = 1.0, 0.0
    for k in range(1, df // 2 + 1):
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return math.sin(theta) * total


def t_quantile(level: float, df: int) -> float:
    """The t such that P(|T| <= t) = level, by bisection on the exact distribution."""
    low, high = 0.0, 1.0
    while t_two_sided_cdf(high, df) < level:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        if t_two_sided_cdf(mid, df) < level:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@dataclass(frozen=True)
class Comparison:
    """A configuration against the baseline on one metric, over the seeds both have."""

    mean: float  # mean of (configuration - baseline)
    low: float | None  # the 95% t interval; None below MIN_SEEDS_FOR_INTERVAL seeds
    high: float | None
    boot_low: float | None  # the 95% percentile bootstrap, from MIN_SEEDS_FOR_BOOTSTRAP seeds
    boot_high: float | None
    seeds: int
    better: int  # seeds on which the configuration beats the baseline
    p_value: float | None = None  # the paired t-test's, two-sided; None without an interval

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired(values: list[float], baseline: list[float], higher_is_better: bool) -> Comparison:
    """Compare paired values (the same seeds in the same order)."""
    d = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(d)
    mean = float(d.mean())
    better = int((d > 0).sum() if higher_is_better else (d < 0).sum())
    low = high = boot_low = boot_high = p_value = None
    if n >= MIN_SEEDS_FOR_INTERVAL:
        error = float(d.std(ddof=1)) / math.sqrt(n)
        half = t_quantile(0.95, n - 1) * error
        low, high = mean - half, mean + half
        if error > 0:
            p_value = 1 - t_two_sided_cdf(abs(mean) / error, n - 1)
        else:  # every seed moved by the same amount
            p_value = 1.0 if mean == 0 else 0.0
    if n >= MIN_SEEDS_FOR_BOOTSTRAP:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        means = d[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
        boot_low, boot_high = (float(q) for q in np.percentile(means, [2.5, 97.5]))
    return Comparison(mean, low, high, boot_low, boot_high, n, better, p_value)


def holm(p_values: list[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the k-th smallest of m is multiplied by
    m - k + 1, and none is smaller than an adjusted one ranked before it (capped at 1)."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
