"""The statistics of the report against published tables and hand computations."""

from __future__ import annotations

import math

import pytest

from lstm_overfit.stats import Comparison, paired, t_quantile

# Two-sided 95% critical values of Student's t (any statistics textbook's table).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 19: 2.093, 30: 2.042, 120: 1.980}


@pytest.mark.parametrize("df", T_TABLE)
def test_t_quantiles_match_the_table(df: int) -> None:
    assert t_quantile(0.95, df) == pytest.approx(T_TABLE[df], abs=5e-4)


def test_paired_interval_by_hand() -> None:
    c = paired([0.50, 0.52, 0.49], [0.60, 0.61, 0.62], higher_is_better=False)
    d = [-0.10, -0.09, -0.13]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    half = 4.302653 * sd / math.sqrt(3)
    assert c.mean == pytest.approx(mean)
    assert (c.low, c.high) == pytest.approx((mean - half, mean + half), rel=1e-6)
    assert (c.seeds, c.better) == (3, 3) and c.excludes_zero
    assert c.boot_low is None  # below 10 seeds a bootstrap only says [min, max]


def test_too_few_seeds_give_no_interval() -> None:
    c = paired([1.0, 2.0], [1.5, 1.5], higher_is_better=True)
    assert c == Comparison(0.0, None, None, None, None, 2, 1) and not c.excludes_zero


def test_an_interval_that_includes_zero_is_not_called_a_difference() -> None:
    c = paired([1.0, 1.2, 0.9, 1.1], [1.05, 1.0, 1.0, 1.1], higher_is_better=False)
    assert c.low < 0 < c.high and not c.excludes_zero


def test_from_ten_seeds_a_seeded_bootstrap_stands_beside_the_t_interval() -> None:
    base = [0.0] * 12
    values = [0.1, 0.3, 0.2, 0.25, 0.15, 0.1, 0.35, 0.2, 0.3, 0.05, 0.2, 0.25]
    c = paired(values, base, higher_is_better=True)
    assert c.boot_low is not None and c.boot_low < c.mean < c.boot_high
    assert paired(values, base, True) == c  # seeded: the same interval every time
    assert abs(c.boot_low - c.low) < 0.05 and abs(c.boot_high - c.high) < 0.05
