"""The null's own multinomial sampler: exact laws, counts that add up, reproducible bits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from mcflow import _multinomial
from mcflow._numba import numba_threads
from mcflow._row_statistics import row_statistics

#: Each law test fails with this probability when the sampler is exact.
ALPHA_CHECK = 1e-3
DRAWS = 100_000
KEY = np.uint64(0x5EED)


def _binomial_draws(n: int, p: float, key: np.uint64 = KEY) -> np.ndarray:
    return _multinomial.multinomial_counts(n, np.array([p, 1.0 - p]), DRAWS, key)[:, 0]


def _chi_square_pvalue(draws: np.ndarray, n: int, p: float) -> float:
    """Pearson's test of the draws against Binomial(n, p) on cells expecting >= 20 draws.

    Cells are runs of consecutive values, cut where each holds >= 20 expected
    draws (the chi-square approximation's error is then well below ALPHA_CHECK);
    the two tails beyond the first and last cut are cells of their own.
    """
    mean, sd = n * p, np.sqrt(n * p * (1.0 - p))
    low, high = int(max(0, mean - 8 * sd - 2)), int(min(n, mean + 8 * sd + 2))
    values = np.arange(low, high + 1)
    masses = scipy.stats.binom.pmf(values, n, p) * DRAWS
    cuts, running = [low], 0.0
    for value, mass in zip(values, masses, strict=True):
        running += mass
        if running >= 20.0:
            cuts.append(value + 1)
            running = 0.0
    cuts[-1] = high + 1
    edges = np.array(cuts)
    expected = np.diff(scipy.stats.binom.cdf(edges - 1, n, p)) * DRAWS
    observed = np.histogram(draws, bins=edges)[0].astype(float)
    outside = DRAWS - observed.sum()
    tail_expected = DRAWS - expected.sum()
    statistic = float(((observed - expected) ** 2 / expected).sum())
    cells = edges.size - 1
    if tail_expected >= 1e-9:
        statistic += (outside - tail_expected) ** 2 / tail_expected
        cells += 1
    elif outside > 0:
        return 0.0  # draws where the law has no mass (beyond mean +- 8 sd)
    return float(scipy.stats.chi2.sf(statistic, cells - 1))


# Both regimes: inversion (n min(p, 1 - p) < 10) and BTRS, each side of p = 1/2,
# the boundary itself, and n far beyond int32.
LAWS = [(20, 0.5), (50, 0.1), (1000, 0.004), (100, 0.93), (40, 0.3), (10**4, 0.001),
        (10**4, 0.999), (10**7, 0.3), (10**9, 0.5), (10**12, 1e-11), (10**12, 2e-8)]


@pytest.mark.parametrize(("n", "p"), LAWS)
def test_binomial_draws_follow_the_binomial_law(n, p):
    draws = _binomial_draws(n, p)
    assert draws.min() >= 0 and draws.max() <= n
    assert _chi_square_pvalue(draws, n, p) >= ALPHA_CHECK


@pytest.mark.parametrize(("n", "p"), [(50, 0.1), (10**7, 0.3)])
def test_the_law_test_rejects_a_shifted_binomial(n, p):
    # The same draws tested against p moved by 0.08 sd of a single draw: the mean of
    # 1e5 draws then sits 0.08 sqrt(1e5) = 25 standard errors off, which Pearson's
    # test on a few dozen cells rejects with power essentially 1.
    draws = _binomial_draws(n, p)
    shift = 0.08 * np.sqrt(p * (1.0 - p) / n)
    assert _chi_square_pvalue(draws, n, p + shift) < ALPHA_CHECK


def test_counts_add_up_and_impossible_cells_stay_empty():
    probabilities = np.array([0.0, 0.25, 0.0, 0.5, 0.25, 0.0])
    counts = _multinomial.multinomial_counts(10**6, probabilities, 4000, KEY)
    assert (counts.sum(axis=1) == 10**6).all()
    assert (counts[:, [0, 2, 5]] == 0).all()
    assert (counts >= 0).all()


def test_counts_have_the_multinomial_covariance():
    # cov(c_i, c_j) = n (p_i delta_ij - p_i p_j); a sample covariance of R rows has
    # standard error about sqrt(var_i var_j + cov_ij^2) / sqrt(R), and a 3.5-se band
    # on each of the 6 distinct entries fails with probability < 6 * 4.7e-4.
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    n, rows = 10**5, 40_000
    counts = _multinomial.multinomial_counts(n, probabilities, rows, KEY).astype(float)
    claimed = n * (np.diag(probabilities) - np.outer(probabilities, probabilities))
    sample = np.cov(counts, rowvar=False)
    variances = np.diag(claimed)
    se = np.sqrt(np.outer(variances, variances) + claimed**2) / np.sqrt(rows)
    upper = np.triu_indices(3)  # the fourth cell is determined by the other three
    assert (np.abs(sample - claimed)[upper] <= 3.5 * se[upper]).all()


def test_statistics_are_those_of_the_counts_bit_for_bit():
    probabilities = np.diff(scipy.stats.norm.cdf(np.linspace(-4, 4, 41), 0, 1))
    probabilities = np.append(probabilities, 1.0 - probabilities.sum())
    counts = _multinomial.multinomial_counts(5000, probabilities, 1000, KEY)
    fused = _multinomial.null_statistics(5000, probabilities, 1000, KEY)
    np.testing.assert_array_equal(fused, row_statistics(counts, probabilities))


def test_replicates_do_not_depend_on_threads_tasks_or_how_many_there_are(monkeypatch):
    probabilities = np.full(50, 0.02)
    reference = _multinomial.multinomial_counts(10**7, probabilities, 1000, KEY)
    monkeypatch.setattr(_multinomial, "REPLICATES_PER_TASK", _multinomial.LANES)
    with numba_threads(1):
        serial = _multinomial.multinomial_counts(10**7, probabilities, 1003, KEY)
    np.testing.assert_array_equal(serial[:1000], reference)
    other_key = _multinomial.multinomial_counts(10**7, probabilities, 1000, KEY + np.uint64(1))
    assert not np.array_equal(other_key, reference)
