"""Goodness-of-fit statistics: definitions, calibration under H0, power, sensitivity.

Every statistical threshold below is derived in a comment from the sampling
distribution it guards; each such check fails with probability <= 1e-3 when
the code is right (and the seeds are fixed, so a run is reproducible).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from mcflow import _multinomial, null_distribution, sensitivity, statistics
from mcflow._numba import numba_threads
from mcflow.quadrature import normal_interval_probabilities

# Bonferroni-free per-check false-alarm probability used throughout.
ALPHA_CHECK = 1e-3


def _normal_cells(edges, mu=0.0):
    """Cell probabilities of N(mu, 1) over [underflow, bins..., overflow]."""
    lower = np.concatenate([[-np.inf], edges])
    upper = np.concatenate([edges, [np.inf]])
    return normal_interval_probabilities(lower, upper, mu=mu)


# 30 cells; the two tail cells have expected counts ~0.5 at n = 2000, the
# sparse regime where chi-square asymptotics fail and the simulated null must
# still be exact.
EDGES = np.linspace(-3.5, 3.5, 29)
CELLS = _normal_cells(EDGES)
N_SMALL = 2000
REPLICATES = 20_000
EXPERIMENTS = 400


@pytest.fixture(scope="module")
def null_small():
    return null_distribution.simulate_null(N_SMALL, CELLS, replicates=REPLICATES, seed=1)


@pytest.fixture(scope="module")
def null_pvalues(null_small):
    """P-values of EXPERIMENTS data sets drawn from the null itself (another seed)."""
    observed = np.random.default_rng(2).multinomial(N_SMALL, CELLS, size=EXPERIMENTS)
    functions = {
        "ks": statistics.ks_statistic,
        "l1": statistics.l1_statistic,
        "g": statistics.g_statistic,
        "ad": statistics.ad_statistic,
    }
    pvalues = {
        name: np.array([null_small.pvalue(name, function(row, CELLS)) for row in observed])
        for name, function in functions.items()
    }
    pvalues["combined"] = np.array([
        null_small.combined_pvalue({name: function(row, CELLS)
                                    for name, function in functions.items()})
        for row in observed])
    return pvalues


# --------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------


def test_l1_toy_example_by_hand():
    # c/n = (3, 1, 0, 4)/8 = (.375, .125, 0, .5) against .25 each:
    # .125 + .125 + .25 + .25 = .75.
    assert statistics.l1_statistic(np.array([3, 1, 0, 4]), [0.25] * 4) == pytest.approx(0.75)


def test_ks_toy_example_by_hand():
    # Cumulative c/n = .25, .5, .5 against F = .25, .5, .75 at the three
    # inner boundaries: D = .25.
    assert statistics.ks_statistic(np.array([1, 1, 0, 2]), [0.25] * 4) == pytest.approx(0.25)


def test_ks_matches_direct_computation():
    rng = np.random.default_rng(10)
    probabilities = rng.dirichlet(np.ones(40))
    counts = rng.multinomial(5000, probabilities)
    direct = max(
        abs(counts[: j + 1].sum() / 5000 - math.fsum(probabilities[: j + 1]))
        for j in range(39)
    )
    assert statistics.ks_statistic(counts, probabilities) == pytest.approx(direct, abs=1e-15)


def test_binned_ks_is_below_continuous_ks():
    # The binned D is a maximum over a subset (the edges) of the points the
    # continuous D maximizes over, so it can only be smaller; that is why the
    # asymptotic Kolmogorov p-value is conservative on binned data.
    rng = np.random.default_rng(11)
    for _ in range(20):
        x = rng.normal(size=500)
        continuous = scipy.stats.kstest(x, scipy.stats.norm.cdf).statistic
        counts = np.bincount(np.searchsorted(EDGES, x, side="right"), minlength=CELLS.size)
        binned = statistics.ks_statistic(counts, CELLS)
        assert binned <= continuous + 1e-15
        assert statistics.kolmogorov_pvalue(binned, 500) >= statistics.kolmogorov_pvalue(
            continuous, 500
        )


def test_kolmogorov_pvalue_is_kstwobign():
    assert statistics.kolmogorov_pvalue(0.05, 400) == pytest.approx(
        scipy.stats.kstwobign.sf(math.sqrt(400) * 0.05), rel=1e-14
    )
    assert statistics.kolmogorov_pvalue(0.0, 10) == 1.0


@pytest.mark.parametrize("n", [50, 5000, 10**7])
def test_g_matches_scipy_power_divergence(n):
    rng = np.random.default_rng(n)
    probabilities = rng.dirichlet(np.full(25, 0.5))
    counts = rng.multinomial(n, probabilities)
    reference = scipy.stats.power_divergence(
        counts, n * probabilities, lambda_="log-likelihood"
    ).statistic
    assert statistics.g_statistic(counts, probabilities) == pytest.approx(reference, rel=1e-9)


def test_ad_toy_example_by_hand():
    # cells (0.25, 0.25, 0.5), counts (2, 0, 2), n = 4: boundaries H = 0.25, 0.5,
    # empirical 0.5, 0.5; A^2 = 4 [0.25^2 0.25 / (0.25 0.75) + 0^2] = 1/3
    assert statistics.ad_statistic([2, 0, 2], [0.25, 0.25, 0.5]) == pytest.approx(1 / 3)


def test_binned_ad_approaches_the_continuous_statistic():
    # On 2000 equal-probability cells the discrete A^2 is a Riemann sum of the
    # continuous one (Choulakian et al. 1994): within 2% here for n = 500.
    sample = np.sort(np.random.default_rng(5).standard_normal(500))
    u = scipy.stats.norm.cdf(sample)
    i = np.arange(1, u.size + 1)
    continuous = -u.size - np.mean((2 * i - 1) * (np.log(u) + np.log1p(-u[::-1])))
    edges = scipy.stats.norm.ppf(np.linspace(0, 1, 2001)[1:-1])
    counts = np.bincount(np.searchsorted(edges, sample), minlength=2000)
    binned = statistics.ad_statistic(counts, np.full(2000, 1 / 2000))
    assert binned == pytest.approx(continuous, rel=0.02)


def test_combined_pvalue_lies_between_the_smallest_and_its_bonferroni_bound(null_small):
    # min-p: at least the smallest single p (it is calibrated, not min itself) and,
    # by the union bound on the replicates, at most 4 x the smallest (+ 1/(R+1) rounding).
    counts = np.random.default_rng(9).multinomial(N_SMALL, _normal_cells(EDGES, mu=0.08))
    observed = {"ks": statistics.ks_statistic(counts, CELLS),
                "l1": statistics.l1_statistic(counts, CELLS),
                "g": statistics.g_statistic(counts, CELLS),
                "ad": statistics.ad_statistic(counts, CELLS)}
    smallest = min(null_small.pvalue(name, value) for name, value in observed.items())
    combined = null_small.combined_pvalue(observed)
    assert smallest <= combined <= 4 * smallest + 1 / (REPLICATES + 1)


def test_g_zero_probability_cell():
    # An observation in a cell the claim calls impossible: G = inf, and its
    # p-value is the smallest attainable, 1 / (R + 1).
    assert statistics.g_statistic(np.array([1, 5, 4]), [0.0, 0.5, 0.5]) == math.inf
    # ...whereas an empty impossible cell contributes nothing.
    assert statistics.g_statistic(np.array([0, 5, 3]), [0.0, 0.5, 0.5]) == pytest.approx(
        statistics.g_statistic(np.array([5, 3]), [0.5, 0.5]), rel=1e-14
    )
    null = null_distribution.simulate_null(10, [0.0, 0.5, 0.5], replicates=99, seed=0)
    assert null.pvalue("g", math.inf) == pytest.approx(1 / 100)


def test_probabilities_are_normalized():
    # A claim off by 1e-10 (quadrature rounding) is accepted and normalized,
    # so the statistics equal those of the exact claim.
    counts = np.array([30, 50, 20])
    exact = np.array([0.3, 0.5, 0.2])
    for function in (statistics.ks_statistic, statistics.l1_statistic, statistics.g_statistic):
        assert function(counts, exact * (1 + 1e-10)) == pytest.approx(
            function(counts, exact), rel=1e-12, abs=1e-15
        )


def test_standardized_residuals_and_worst_cells():
    counts = np.array([0, 10, 30, 60, 0])
    probabilities = np.array([0.0, 0.2, 0.3, 0.5, 0.0])
    residuals = sensitivity.standardized_residuals(counts, probabilities)
    # (c - n p) / sqrt(n p (1 - p)) with n = 100.
    expected = [(10 - 20) / math.sqrt(16), (30 - 30) / math.sqrt(21), (60 - 50) / 5.0]
    assert np.isnan(residuals[[0, 4]]).all()
    np.testing.assert_allclose(residuals[1:4], expected, rtol=1e-14)
    worst = sensitivity.worst_cells(counts, probabilities, k=5)
    # Residuals -2.5, 0, 2 in cells 1, 2, 3; NaN cells skipped.
    assert [index for index, _ in worst] == [1, 3, 2]
    assert worst[0][1] == pytest.approx(-2.5)
    assert sensitivity.worst_cells(counts, probabilities, k=1) == worst[:1]
    # p = 1 has no variance either.
    assert np.isnan(sensitivity.standardized_residuals(np.array([7, 0]), [1.0, 0.0])).all()


def test_default_replicates():
    assert null_distribution.default_replicates(0.05) == 2000
    assert null_distribution.default_replicates(0.01) == 5000
    assert null_distribution.default_replicates(1e-3) == 50_000
    assert null_distribution.default_replicates(1e-6) == 100_000


# --------------------------------------------------------------------------
# The simulated null
# --------------------------------------------------------------------------


def test_null_is_reproducible_and_independent_of_batching(monkeypatch):
    first = null_distribution.simulate_null(500, CELLS, replicates=3000, seed=7)
    # Tiny tasks on one thread: the same replicate-keyed streams, cut differently.
    monkeypatch.setattr(_multinomial, "REPLICATES_PER_TASK", _multinomial.LANES)
    with numba_threads(1):
        second = null_distribution.simulate_null(500, CELLS, replicates=3000, seed=7)
    for name in statistics.STATISTIC_NAMES:
        np.testing.assert_array_equal(first.statistic(name), second.statistic(name))
        assert np.all(np.diff(first.statistic(name)) >= 0)
    assert first.seed == 7
    assert first.n == 500
    assert first.replicates == 3000


def test_pvalue_counts_ties_and_bounds(null_small):
    replicates = null_small.replicates
    largest = null_small.l1[-1]
    # (1 + #{T_r >= T_obs}) / (R + 1): the largest replicate ties itself.
    assert null_small.pvalue("l1", largest) == pytest.approx(2 / (replicates + 1))
    # One ulp above is still a tie (rounding must never shrink a p-value)...
    assert null_small.pvalue("l1", np.nextafter(largest, 1.0)) == pytest.approx(
        2 / (replicates + 1)
    )
    # ...a clear excess is not.
    assert null_small.pvalue("l1", largest * 1.001) == pytest.approx(1 / (replicates + 1))
    assert null_small.pvalue("ks", 0.0) == 1.0
    assert null_small.quantile("g", 0.5) == pytest.approx(np.quantile(null_small.g, 0.5))


def test_pvalues_are_uniform_under_the_null(null_small, null_pvalues):
    # Let S(t) = P(T >= t).  The Monte Carlo p-value is
    # (1 + R * S_R(T)) / (R + 1), with S_R the replicates' survival function,
    # so |p - S(T)| <= D_R + 1 / (R + 1), D_R = sup |S_R - S|.  S(T_i) of the
    # observed data are uniform (super-uniform with ties: the KS statistic on
    # a grid takes few values, and ties shift p-values up by at most the
    # largest atom), so the KS distance of the p-values from U(0, 1) is at
    # most D_m + D_R + 1 / (R + 1) + atom.  D_m and D_R exceed their
    # kstwo quantiles at 1 - ALPHA_CHECK / 2 each with probability
    # ALPHA_CHECK / 2: the check fails with probability <= ALPHA_CHECK.
    #
    # The combined (min-p) p-value is the same construction on the statistic
    # min_s p_s, whose replicate values use the replicates' own marginal
    # p-values: each is off from its true survival function by at most D_R
    # (the largest over the 4 columns: kstwo at 1 - ALPHA_CHECK / 8 each), and
    # so is the min, on the observed side and on the replicates' side: 2 D_R
    # more.  Its atoms are those of the statistics (the largest of the four).
    for name, pvalues in null_pvalues.items():
        if name == "combined":
            largest_atom = max(_largest_atom(null_small.statistic(s))
                               for s in statistics.STATISTIC_NAMES)
            extra = 2 * scipy.stats.kstwo.isf(ALPHA_CHECK / 8, REPLICATES)
        else:
            largest_atom = _largest_atom(null_small.statistic(name))
            extra = 0.0
        bound = (
            scipy.stats.kstwo.isf(ALPHA_CHECK / 2, EXPERIMENTS)
            + scipy.stats.kstwo.isf(ALPHA_CHECK / 2, REPLICATES)
            + 1 / (REPLICATES + 1)
            + largest_atom
            + extra
        )
        distance = scipy.stats.kstest(pvalues, "uniform").statistic
        assert distance <= bound, (name, distance, bound)


def _largest_atom(values):
    """Largest fraction of the replicates sharing one value."""
    _, counts = np.unique(values, return_counts=True)
    return counts.max() / values.size


def test_rejection_rate_at_five_percent(null_small, null_pvalues):
    # p <= alpha  <=>  T_obs exceeds the J-th largest replicate,
    # J = floor(alpha (R + 1)).  That replicate's survival probability is
    # Beta(J, R - J + 1), and given it each experiment rejects independently,
    # so the number of rejections is BetaBinomial(m, J, R - J + 1) (a binomial
    # widened by the null's own sampling error).  Its central 1 - ALPHA_CHECK
    # interval, widened below by m * atom for the KS statistic's ties (which
    # can only lower the rate), fails with probability <= ALPHA_CHECK.
    alpha = 0.05
    threshold_rank = math.floor(alpha * (REPLICATES + 1))
    low, high = scipy.stats.betabinom.interval(
        1 - ALPHA_CHECK, EXPERIMENTS, threshold_rank, REPLICATES - threshold_rank + 1
    )
    for name, pvalues in null_pvalues.items():
        if name == "combined":
            continue  # its rank threshold is not a single replicate's: covered above
        tie_allowance = math.ceil(EXPERIMENTS * _largest_atom(null_small.statistic(name)))
        rejections = int(np.count_nonzero(pvalues <= alpha))
        assert low - tie_allowance <= rejections <= high, (name, rejections, low, high)


def test_g_null_at_huge_n_is_chi_square():
    # At n = 1e12 every cell expects >= 2e8 counts, so G ~ chi2(k - 1) to
    # O(1/n); the mean of R replicates has sd sqrt(2 (k - 1) / R), and a
    # 3.29-sd band is the two-sided 1 - ALPHA_CHECK normal interval.  Counts
    # near 1e12 need int64 and the G terms must keep their digits.
    replicates = 4000
    null = null_distribution.simulate_null(10**12, CELLS, replicates=replicates, seed=3)
    dof = CELLS.size - 1
    band = scipy.stats.norm.isf(ALPHA_CHECK / 2) * math.sqrt(2 * dof / replicates)
    assert abs(null.g.mean() - dof) <= band


# --------------------------------------------------------------------------
# Power and sensitivity
# --------------------------------------------------------------------------


def test_wrong_claim_is_rejected(null_small):
    # Data from N(0.5, 1) tested against N(0, 1) cells: ||Q - P||_1 = 0.39,
    # three times the null L1's largest value in 20 000 replicates (0.14),
    # and the observed L1 differs from 0.39 by about the null's spread
    # (~0.1); likewise D ~ 0.2 against a null 99.9 % point of 0.04.  Every
    # statistic then exceeds essentially all replicates: p = 1 / (R + 1).
    wrong = _normal_cells(EDGES, mu=0.5)
    counts = np.random.default_rng(5).multinomial(N_SMALL, wrong)
    for name, function in (
        ("ks", statistics.ks_statistic),
        ("l1", statistics.l1_statistic),
        ("g", statistics.g_statistic),
    ):
        assert null_small.pvalue(name, function(counts, CELLS)) < 1e-3, name


def test_detection_limit_formula(null_small):
    limit = sensitivity.detection_limit(null_small, 0.01, power=0.9)
    assert limit == pytest.approx(
        np.quantile(null_small.l1, 0.99) + np.quantile(null_small.l1, 0.9)
    )


def _deviating_claim(distance):
    """Q = (1 - t) P + t S with S = P moved by 5 cells: ||Q - P||_1 = distance."""
    moved = np.roll(CELLS, 5)
    mixing = distance / np.abs(moved - CELLS).sum()
    assert 0 < mixing < 1
    return (1 - mixing) * CELLS + mixing * moved


def _rejections(null, true_cells, n, alpha, experiments, seed):
    counts = np.random.default_rng(seed).multinomial(n, true_cells, size=experiments)
    pvalues = [null.pvalue("l1", statistics.l1_statistic(row, CELLS)) for row in counts]
    return int(np.count_nonzero(np.array(pvalues) <= alpha))


def test_deviation_above_detection_limit_is_detected(null_small):
    # If the power at ||Q - P||_1 = 1.2 d_min is >= 0.95 (the claim; the
    # triangle bound makes it conservative), the number of rejections in m
    # experiments is >= Binomial(m, 0.95), whose ALPHA_CHECK quantile is the
    # threshold: a correct implementation fails with probability <= ALPHA_CHECK.
    alpha, power, experiments = 0.01, 0.95, 300
    limit = sensitivity.detection_limit(null_small, alpha, power)
    rejections = _rejections(
        null_small, _deviating_claim(1.2 * limit), N_SMALL, alpha, experiments, seed=8
    )
    assert rejections >= scipy.stats.binom.ppf(ALPHA_CHECK, experiments, power)


def test_required_n_scales_as_inverse_square_tolerance(null_small):
    alpha = 0.01
    limit = sensitivity.detection_limit(null_small, alpha)
    assert sensitivity.required_n(N_SMALL, null_small, alpha, limit) == N_SMALL
    coarse = sensitivity.required_n(N_SMALL, null_small, alpha, 0.1)
    fine = sensitivity.required_n(N_SMALL, null_small, alpha, 0.05)
    # ceil() may add one to each.
    assert abs(fine - 4 * coarse) <= 4
    assert coarse == math.ceil(N_SMALL * (limit / 0.1) ** 2)


def test_required_n_is_enough(null_small):
    # At n = required_n(tolerance) a deviation of 1.2 tolerance must be
    # detected with power >= 0.95; the threshold is the same binomial
    # quantile as above (failure probability <= ALPHA_CHECK when correct).
    alpha, power, experiments = 0.01, 0.95, 300
    tolerance = 0.5 * sensitivity.detection_limit(null_small, alpha, power)
    n = sensitivity.required_n(N_SMALL, null_small, alpha, tolerance, power)
    null = null_distribution.simulate_null(n, CELLS, replicates=5000, seed=9)
    rejections = _rejections(
        null, _deviating_claim(1.2 * tolerance), n, alpha, experiments, seed=10
    )
    assert rejections >= scipy.stats.binom.ppf(ALPHA_CHECK, experiments, power)


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "probabilities", "error", "match"),
    [
        (np.array([1, 2]), [0.2, 0.3, 0.5], ValueError, "counts must have shape"),
        (np.array([1, 2, 3]), [0.6, -0.1, 0.5], ValueError, "probabilities must be >= 0"),
        (np.array([1, 2, 3]), [0.2, 0.3, 0.4], ValueError, "probabilities must sum to 1"),
        (np.array([1, 2, 3]), [0.2, np.nan, 0.8], ValueError, "probabilities must be finite"),
        (np.array([1, -2, 3]), [0.2, 0.3, 0.5], ValueError, "counts must be >= 0"),
        (np.array([0, 0, 0]), [0.2, 0.3, 0.5], ValueError, "counts must hold"),
        (np.array([1.0, 2.0, 3.0]), [0.2, 0.3, 0.5], TypeError, "counts must be an integer"),
        (np.array([[1, 2, 3]]), [0.2, 0.3, 0.5], ValueError, "counts must have shape"),
    ],
)
def test_statistic_input_validation(counts, probabilities, error, match):
    for function in (
        statistics.ks_statistic,
        statistics.l1_statistic,
        statistics.g_statistic,
        sensitivity.standardized_residuals,
    ):
        with pytest.raises(error, match=match):
            function(counts, probabilities)


def test_simulation_and_sensitivity_validation(null_small):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        null_distribution.simulate_null(0, CELLS)
    with pytest.raises(ValueError, match="replicates must be a positive integer"):
        null_distribution.simulate_null(10, CELLS, replicates=0)
    with pytest.raises(ValueError, match="probabilities must sum to 1"):
        null_distribution.simulate_null(10, [0.5, 0.6])
    with pytest.raises(ValueError, match="name must be one of"):
        null_small.pvalue("chi2", 1.0)
    with pytest.raises(ValueError, match="observed must be a number"):
        null_small.pvalue("l1", math.nan)
    with pytest.raises(ValueError, match="q must be in"):
        null_small.quantile("l1", 1.5)
    for bad in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            sensitivity.detection_limit(null_small, bad)
        with pytest.raises(ValueError, match=r"power must be in \(0, 1\)"):
            sensitivity.detection_limit(null_small, 0.01, power=bad)
        with pytest.raises(ValueError, match=r"alpha_per_test must be in \(0, 1\)"):
            null_distribution.default_replicates(bad)
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="tolerance must be a positive"):
            sensitivity.required_n(N_SMALL, null_small, 0.01, bad)
    with pytest.raises(ValueError, match="n must be the n the null was simulated for"):
        sensitivity.required_n(N_SMALL + 1, null_small, 0.01, 0.1)
    with pytest.raises(TypeError, match="null must be a NullDistribution"):
        sensitivity.detection_limit("null", 0.01)
    with pytest.raises(ValueError, match="d must be in"):
        statistics.kolmogorov_pvalue(1.5, 10)
    with pytest.raises(ValueError, match="k must be a non-negative integer"):
        sensitivity.worst_cells(np.array([1, 2]), [0.5, 0.5], k=-1)
