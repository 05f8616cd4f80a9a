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

import functools
import math
from dataclasses import dataclass

import numpy as np

MIN_SEEDS_FOR_INTERVAL = 3
FAMILY_ERROR = 0.05  # the chance of any false finding among a report's comparisons
MIN_SEEDS_FOR_BOOTSTRAP = 10
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def t_two_sided_tail(t: float, df: float) -> float:
    """P(|T| > t) for Student's t with `df` degrees of freedom: the regularized incomplete
    beta function I_x(df/2, 1/2) at x = df / (df + t^2), computed as itself rather than as
    1 - P(|T| <= t), so that p-values far below 1e-15 keep their digits."""
    if math.isinf(t):
        return 0.0
    return _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by its continued fraction (Numerical Recipes 6.4, modified Lentz), on the
    side of the symmetry I_x(a, b) = 1 - I_(1-x)(b, a) where it converges fast."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return fraction


@functools.lru_cache(maxsize=256)  # plots ask for the same few at every epoch
def t_quantile(level: float, df: float) -> float:
    """The t such that P(|T| <= t) = level, by bisection on the tail (exact to the last
    digits even at the levels Holm's adjustment asks for, 1 - 0.05 / m)."""
    tail = 1.0 - level
    low, high = 0.0, 1.0
    while t_two_sided_tail(high, df) > tail:
        high *= 2
    while high - low > 1e-13 * high:
        mid = (low + high) / 2
        if t_two_sided_tail(mid, df) > tail:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def t_half_width(std: float, n: int) -> float | None:
    """Half the 95% t interval of a mean over n values with standard deviation std: the
    one notion of uncertainty across text, tables and plots (None below 3 values)."""
    if n < MIN_SEEDS_FOR_INTERVAL:
        return None
    return t_quantile(0.95, n - 1) * std / math.sqrt(n)


@dataclass(frozen=True)
class Comparison:
    """A configuration against another (the baseline, or a neighbouring strength) on one
    number, over the seeds both have. A comparison over a value that is not a finite number
    (a diverged loss, an overflowed error) is undefined: its mean is NaN and it has no
    interval and no p-value, so it is never called a difference."""

    mean: float  # mean of (configuration - other); NaN where undefined
    low: float | None  # the 95% t interval; None below MIN_SEEDS_FOR_INTERVAL seeds
    high: float | None
    boot_low: float | None  # the 95% percentile bootstrap, from MIN_SEEDS_FOR_BOOTSTRAP seeds
    boot_high: float | None
    seeds: int
    better: int  # seeds on which the configuration beats the other
    p_value: float | None = None  # the paired t-test's, two-sided; None without an interval
    spread: float | None = None  # the standard deviation of the paired differences

    @property
    def defined(self) -> bool:
        return math.isfinite(self.mean)

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired(values: list[float], baseline: list[float], higher_is_better: bool) -> Comparison:
    """Compare paired values (the same seeds in the same order)."""
    with np.errstate(all="ignore"):  # inf - inf and overflow: undefined, said below
        d = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
        n = len(d)
        better = int((d > 0).sum() if higher_is_better else (d < 0).sum())
        mean = float(d.mean())
        spread = float(d.std(ddof=1)) if n > 1 else None
    if not math.isfinite(mean) or (spread is not None and not math.isfinite(spread)):
        return Comparison(math.nan, None, None, None, None, n, better)
    low = high = boot_low = boot_high = p_value = None
    if n >= MIN_SEEDS_FOR_INTERVAL:
        error = spread / math.sqrt(n)
        half = t_quantile(0.95, n - 1) * error
        low, high = mean - half, mean + half
        if error > 0:
            p_value = t_two_sided_tail(abs(mean) / error, n - 1)
        else:  # every seed moved by the same amount
            p_value = 1.0 if mean == 0 else 0.0
    if n >= MIN_SEEDS_FOR_BOOTSTRAP:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        means = d[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
        boot_low, boot_high = (float(q) for q in np.percentile(means, [2.5, 97.5]))
    return Comparison(mean, low, high, boot_low, boot_high, n, better, p_value, spread)


def holm(p_values: list[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the k-th smallest of m is multiplied by
    m - k + 1, and none is smaller than an adjusted one ranked before it (capped at 1). A NaN
    p-value (an undefined test) stays NaN and is not counted among the m."""
    m = sum(1 for p in p_values if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    defined = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    for rank, i in enumerate(sorted(defined, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


POWER = 0.8
MOST_SEEDS = 10_000  # beyond this the answer is "more than": the effect is all but nil


def seeds_for_power(mean: float, spread: float, alpha: float, power: float = POWER) -> int:
    """Seeds a paired t-test needs to detect a mean difference `mean` with `power` at
    two-sided level `alpha`, when the paired differences have standard deviation `spread`
    (MOST_SEEDS where it would take that many or more).

    The normal approximation with Student's t quantiles in place of the normal ones: the
    smallest n with n >= ((t_(alpha, n-1) + t_(power, n-1)) * spread / mean)^2, found by
    bisection on n (the right side falls as n grows). Within a seed of the exact noncentral
    t answer.
    """
    if mean == 0 or not math.isfinite(mean):
        return MOST_SEEDS
    if spread == 0:
        return MIN_SEEDS_FOR_INTERVAL
    effect = abs(mean) / spread

    def enough(n: int) -> bool:
        t_alpha = t_quantile(1 - alpha, n - 1)
        t_power = t_quantile(2 * power - 1, n - 1)  # one-sided: P(T <= t) = power
        return n * effect**2 >= (t_alpha + t_power) ** 2

    low, high = MIN_SEEDS_FOR_INTERVAL - 1, MIN_SEEDS_FOR_INTERVAL
    while not enough(high):
        if high >= MOST_SEEDS:
            return MOST_SEEDS
        low, high = high, min(2 * high, MOST_SEEDS)
    while high - low > 1:  # enough(high), not enough(low)
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high
