"""The statistics of the report against published tables and hand computations."""

from __future__ import annotations

import math

import pytest

from lstm_overfit.stats import (
    MOST_SEEDS,
    Comparison,
    holm,
    paired,
    seeds_for_power,
    t_quantile,
)

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
    assert c == Comparison(0.0, None, None, None, None, 2, 1, None, math.sqrt(0.5))
    assert not c.excludes_zero


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


def test_the_p_value_is_the_paired_t_tests() -> None:
    # d = (1, 2, 3): mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641 on 2 degrees of freedom; for
    # df = 2, P(|T| > t) = 1 - t / sqrt(2 + t^2) exactly.
    c = paired([2.0, 3.0, 4.0], [1.0, 1.0, 1.0], higher_is_better=True)
    t = 2 * math.sqrt(3)
    assert c.p_value == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
    # At the interval's edge the p-value is 0.05: the two say the same thing.
    edge = t_quantile(0.95, 3) * 1.0 / math.sqrt(4)
    d = [edge - 1.5, edge - 0.5, edge + 0.5, edge + 1.5]  # sd = 1.29: rescale to 1
    scale = math.sqrt(sum((x - edge) ** 2 for x in d) / 3)
    d = [edge + (x - edge) / scale for x in d]
    assert paired(d, [0.0] * 4, True).p_value == pytest.approx(0.05, rel=1e-6)
    assert paired([1.0, 2.0], [0.0, 0.0], True).p_value is None  # too few seeds
    assert paired([1.5, 1.5, 1.5], [1.0, 1.0, 1.0], True).p_value == 0.0  # no spread


def test_holm_by_hand() -> None:
    # Sorted p: 0.01, 0.02, 0.03, 0.04 times 4, 3, 2, 1 = 0.04, 0.06, 0.06, 0.04 -> made
    # monotone: 0.04, 0.06, 0.06, 0.06; returned in the order given.
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped
    assert holm([]) == []
    # One comparison is not adjusted at all.
    assert holm([0.03]) == [0.03]


def test_p_values_and_intervals_match_scipys_paired_t_test() -> None:
    from scipy import stats

    cases = [
        ([0.50, 0.52, 0.49], [0.60, 0.61, 0.62]),
        ([1.0, 1.2, 0.9, 1.1], [1.05, 1.0, 1.0, 1.1]),
        ([0.3, 0.31, 0.29, 0.305, 0.298], [0.2, 0.21, 0.19, 0.2, 0.2]),
        # t = 1e9 on 3 degrees of freedom: a p-value near 1e-27, not "0".
        ([1.0 + 1e-9, 1.0 - 1e-9, 1.0 + 2e-9, 1.0 - 2e-9], [0.0] * 4),
    ]
    for values, baseline in cases:
        c = paired(values, baseline, higher_is_better=False)
        expected = stats.ttest_rel(values, baseline)
        assert c.p_value == pytest.approx(expected.pvalue, rel=1e-9), values
        low, high = expected.confidence_interval(0.95)
        assert (c.low, c.high) == pytest.approx((low, high), rel=1e-9)
    tiny = paired(*cases[-1], higher_is_better=False).p_value
    assert 0 < tiny < 1e-15


def test_a_comparison_over_a_value_that_is_not_a_number_is_undefined() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        c = paired([0.5, bad, 0.4, 0.45], [0.6, 0.6, 0.6, 0.6], higher_is_better=False)
        assert not c.defined and math.isnan(c.mean)
        assert (c.low, c.high, c.p_value) == (None, None, None) and not c.excludes_zero
    # Finite values whose differences overflow are undefined too.
    c = paired([1e308, -1e308, 1e308], [-1e308, 1e308, -1e308], higher_is_better=False)
    assert not c.defined and c.p_value is None
    assert paired([0.5, 0.4, 0.45], [0.6, 0.6, 0.6], False).defined


def test_holm_matches_statsmodels_and_leaves_undefined_tests_out() -> None:
    from statsmodels.stats.multitest import multipletests

    for p in (
        [0.03, 0.01, 0.04, 0.02],
        [1e-20, 3e-16, 0.5, 0.049, 0.0125],
        [0.2, 0.9, 0.001],
    ):
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12)
    # A NaN p-value is not sorted among the others: it stays NaN and the rest are adjusted
    # over the defined ones only (m = 3, not 4).
    adjusted = holm([0.01, math.nan, 0.02, 0.04])
    assert math.isnan(adjusted[1])
    expected = multipletests([0.01, 0.02, 0.04], method="holm")[1]
    assert [adjusted[0], adjusted[2], adjusted[3]] == pytest.approx(list(expected))


def _exact_seeds(effect: float, alpha: float) -> int:
    """The fewest seeds whose paired t-test has 80% power: scipy's noncentral t."""
    from scipy import stats

    n = 2
    while True:
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        shift = effect * math.sqrt(n)
        power = stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift)
        if power >= 0.8:
            return n
        n += 1


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 8])
def test_seeds_for_power_within_one_seed_of_the_noncentral_t(alpha: float) -> None:
    for effect in (0.2, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0):
        needed = seeds_for_power(effect * 0.01, 0.01, alpha)
        assert abs(needed - max(3, _exact_seeds(effect, alpha))) <= 1, effect
    assert seeds_for_power(0.0, 0.01, 0.05) == MOST_SEEDS  # nothing to detect
    assert seeds_for_power(1e-9, 1.0, 0.05) == MOST_SEEDS
    # Stricter levels (Holm's over many comparisons) need more seeds.
    assert seeds_for_power(0.5, 1.0, 0.05 / 64) > seeds_for_power(0.5, 1.0, 0.05)
