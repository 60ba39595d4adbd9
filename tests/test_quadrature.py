"""Quadrature over bins: accuracy, honest error estimates, singular and infinite cases.

References are exact CDF differences (scipy's ndtr, erf, cbrt, all accurate
to a few ulps where used) or mpmath values computed once and written below
as literals, so the tests need no mpmath.  "Honest" means the true error is
at most the returned estimate; the estimates are tested at loose tolerances,
where they are far above the references' own rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss
from scipy.special import erf, erfc, ndtr
from scipy.stats import lognorm, norm

from mcflow import _gauss_kronrod
from mcflow.quadrature import (
    integrate_bins,
    integrate_interval,
    normal_interval_probabilities,
)

EPS = np.finfo(np.float64).eps
LOGNORMAL_SHAPE = 0.7


def normal_pdf(y):
    return np.exp(-0.5 * y * y) / math.sqrt(2 * math.pi)


def lognormal_pdf(y):
    out = np.zeros_like(y)
    positive = y > 0
    log_y = np.log(y[positive])
    out[positive] = np.exp(-0.5 * (log_y / LOGNORMAL_SHAPE) ** 2) / (
        y[positive] * LOGNORMAL_SHAPE * math.sqrt(2 * math.pi)
    )
    return out


def cube_pdf(y):
    """Density of X**3, X ~ N(0, 1): |y|^(-2/3) singular at 0."""
    root = np.cbrt(y)
    return normal_pdf(root) / (3 * root * root)


def cube_reference(lo, hi):
    return normal_interval_probabilities(np.cbrt(lo), np.cbrt(hi))


def chi2_1_pdf(y):
    """Chi-square(1) density: y^(-1/2) singular at 0, zero below."""
    out = np.zeros_like(y)
    positive = y > 0
    out[positive] = np.exp(-0.5 * y[positive]) / np.sqrt(2 * math.pi * y[positive])
    return out


def chi2_1_reference(lo, hi):
    # P(Y < y) = erf(sqrt(y / 2)) for y >= 0; erfc differences on the upper side.
    a, b = np.sqrt(np.maximum(lo, 0.0) / 2), np.sqrt(np.maximum(hi, 0.0) / 2)
    return np.where(a > 0.5, erfc(a) - erfc(b), erf(b) - erf(a))


def lognormal_reference(lo, hi):
    dist = lognorm(LOGNORMAL_SHAPE)
    # sf differences above the median keep the digits of small upper tails.
    return np.where(lo >= 1.0, dist.sf(lo) - dist.sf(hi), dist.cdf(hi) - dist.cdf(lo))


# --------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------


def test_kronrod_rule_constants():
    # K21 integrates polynomials of degree <= 31 exactly; G10 degree <= 19,
    # and its nodes and weights are Gauss-Legendre's.
    for degree in range(32):
        exact = 0.0 if degree % 2 else 2.0 / (degree + 1)
        moment = np.dot(_gauss_kronrod._KRONROD_WEIGHTS, _gauss_kronrod._NODES**degree)
        assert moment == pytest.approx(exact, abs=4 * EPS)
    gauss = _gauss_kronrod._GAUSS_WEIGHTS > 0
    nodes, weights = leggauss(10)
    np.testing.assert_allclose(np.sort(_gauss_kronrod._NODES[gauss]), np.sort(nodes), atol=2 * EPS)
    np.testing.assert_allclose(
        _gauss_kronrod._GAUSS_WEIGHTS[gauss][np.argsort(_gauss_kronrod._NODES[gauss])],
        weights[np.argsort(nodes)],
        atol=2 * EPS,
    )


# --------------------------------------------------------------------------
# Smooth densities over many bins
# --------------------------------------------------------------------------


def test_normal_over_many_bins():
    # Reference: tail-aware ndtr differences.  ndtr's relative error is about
    # z^2 eps (< 1e-14 for |z| <= 8) and bins >= 0.02 wide lose < 2 digits
    # to the difference, so the reference is good to ~1e-14: a 1e-12 gap
    # would be the quadrature's.
    edges = np.concatenate([np.linspace(-8, 8, 801), [8.5, 9.0]])
    integrals, errors = integrate_bins(normal_pdf, edges)
    reference = normal_interval_probabilities(edges[:-1], edges[1:])
    np.testing.assert_allclose(integrals, reference, rtol=1e-12, atol=0)
    assert np.all(errors <= 1e-12 * integrals)


def test_lognormal_over_many_bins():
    edges = np.concatenate([[0.0], np.geomspace(0.01, 30.0, 300)])
    integrals, _ = integrate_bins(lognormal_pdf, edges)
    np.testing.assert_allclose(integrals, lognormal_reference(edges[:-1], edges[1:]), rtol=1e-12)


def test_one_pdf_call_per_level_on_all_bins():
    calls = []

    def counting_pdf(y):
        calls.append(y.shape)
        return normal_pdf(y)

    edges = np.linspace(-6, 6, 1001)
    integrate_bins(counting_pdf, edges)
    # Narrow bins converge at once: a single call with all 1000 bins' 21 nodes.
    assert calls == [(1000, 21)]
    calls.clear()
    integrate_bins(counting_pdf, [-12.0, 0.0, 12.0], max_levels=5)
    assert 1 < len(calls) <= 6


@pytest.mark.parametrize(
    ("pdf", "edges", "reference"),
    [
        (normal_pdf, np.linspace(-6, 6, 7), normal_interval_probabilities),
        (lognormal_pdf, np.array([0.0, 0.2, 1.0, 3.0, 10.0, 40.0]), lognormal_reference),
        (cube_pdf, np.array([-8.0, -1.0, -0.3, 0.0, 0.1, 0.7, 5.0]), cube_reference),
        (cube_pdf, np.array([-1.0, 1.0, 2.5]), cube_reference),  # 0 on a node
        (cube_pdf, np.array([-0.3, 0.7]), cube_reference),  # 0 inside, not on a node
        (chi2_1_pdf, np.array([-1.0, 0.0, 1e-8, 0.5, 3.0, 9.0]), chi2_1_reference),
        (chi2_1_pdf, np.array([-0.25, 0.5]), chi2_1_reference),  # jump + singularity
    ],
)
@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-9])
def test_error_estimates_are_honest(pdf, edges, reference, rtol):
    # At these tolerances the estimates (>= ~rtol * I where a bin is refined,
    # and far above 1e-14 I) dwarf the references' rounding, so "true error
    # <= estimate" is a test of the estimate and not of the reference.
    integrals, errors = integrate_bins(pdf, edges, rtol=rtol)
    exact = reference(edges[:-1], edges[1:])
    assert np.all(np.abs(integrals - exact) <= errors + 1e-14 * exact)
    assert np.all(errors <= rtol * integrals + 1e-300)


# --------------------------------------------------------------------------
# Singular densities
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"), [(0.0, 0.5), (-0.5, 0.0), (0.0, 1e-9), (-1.0, 1.0), (-0.3, 0.7), (0.0, 8.0)]
)
def test_cube_density_singularity(lo, hi):
    (integral,), (error,) = integrate_bins(cube_pdf, [lo, hi])
    exact = cube_reference(lo, hi)
    assert abs(integral - exact) <= 1e-10
    assert abs(integral - exact) <= error + 1e-15 * exact
    assert error <= 1e-12 * integral


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 0.5), (0.0, 1e-12), (-2.0, 2.0), (0.0, 30.0)])
def test_chi_square_singularity(lo, hi):
    (integral,), (error,) = integrate_bins(chi2_1_pdf, [lo, hi])
    exact = chi2_1_reference(lo, hi)
    assert abs(integral - exact) <= 1e-10
    assert abs(integral - exact) <= error + 1e-15 * exact


def test_unconverged_bin_returns_estimate_and_large_error():
    # 0 levels: the K21 value of the singular bin, with an error estimate
    # that covers its (large) true error instead of an exception.
    (integral,), (error,) = integrate_bins(cube_pdf, [0.0, 1.0], max_levels=0)
    exact = cube_reference(0.0, 1.0)
    assert abs(integral - exact) > 1e-6
    assert abs(integral - exact) <= error
    # A non-integrable density does not converge either, and does not raise.
    (_,), (error,) = integrate_bins(lambda y: 1.0 / np.abs(y), [0.0, 1.0], max_levels=10)
    assert error > 1e-3


def test_singularity_away_from_zero_is_resolution_limited_but_honest():
    # Floats near 1 are 2.2e-16 apart, so the mass of |y - 1|^(-2/3) within
    # ~1e3 ulps of 1 (~1e-4) cannot be sampled: the bin does not reach rtol,
    # and the estimate says so.
    (integral,), (error,) = integrate_bins(lambda y: np.abs(y - 1.0) ** (-2 / 3), [1.0, 2.0])
    assert abs(integral - 3.0) <= error
    assert error > 1e-12 * 3.0


# --------------------------------------------------------------------------
# Infinite intervals
# --------------------------------------------------------------------------


def test_whole_line_and_half_lines():
    value, error = integrate_interval(normal_pdf, -np.inf, np.inf)
    assert abs(value - 1.0) <= 1e-13
    assert error <= 1e-12
    value, _ = integrate_interval(lognormal_pdf, 0.0, np.inf)
    assert abs(value - 1.0) <= 1e-13
    # Tails of the normal, against ndtr (accurate to ~1e-15 at these z).
    for point in (-3.0, 0.0, 0.3, 2.0, 7.0):
        value, _ = integrate_interval(normal_pdf, point, np.inf)
        assert value == pytest.approx(ndtr(-point), rel=1e-12)
        value, _ = integrate_interval(normal_pdf, -np.inf, point)
        assert value == pytest.approx(ndtr(point), rel=1e-12)
    # Heavy tail: the Cauchy density integrates to 1 (its tail is 1/y^2).
    value, _ = integrate_interval(lambda y: 1 / (np.pi * (1 + y * y)), -np.inf, np.inf)
    assert abs(value - 1.0) <= 1e-13
    # Singular end: chi-square(1) over [0, inf) and a finite interval.
    value, _ = integrate_interval(chi2_1_pdf, 0.0, np.inf)
    assert abs(value - 1.0) <= 1e-12
    value, _ = integrate_interval(cube_pdf, -1.0, 1.0)
    assert value == pytest.approx(cube_reference(-1.0, 1.0), rel=1e-12)


@pytest.mark.parametrize("scale", [1e-2, 1e3, 1e6])
def test_infinite_interval_at_other_scales(scale):
    value, error = integrate_interval(lambda y: normal_pdf(y / scale) / scale, -np.inf, np.inf)
    assert abs(value - 1.0) <= max(1e-12, error)
    assert abs(value - 1.0) <= 1e-11


# --------------------------------------------------------------------------
# Normal interval probabilities
# --------------------------------------------------------------------------

# P(a < X < b) for X ~ N(0, 1), computed with mpmath at 60 digits
# (mp.ncdf(-a) - mp.ncdf(-b) for a >= 0, mp.ncdf(b) - mp.ncdf(a) otherwise).
DEEP_TAILS = [
    (30.0, 31.0, 4.9067139271479175345e-198),
    (-31.0, -30.0, 4.9067139271479175345e-198),
    (-np.inf, -35.0, 1.124910706472406244e-268),
    (37.0, np.inf, 5.7255712225245768227e-300),
    (8.0, 8.5, 6.12616522604975094e-16),
    (5.0, np.inf, 2.8665157187919391167e-7),
    (-1.0, 2.0, 0.81859461412036374138),
]


@pytest.mark.parametrize(("a", "b", "exact"), DEEP_TAILS)
def test_normal_interval_probabilities_deep_tails(a, b, exact):
    # scipy's ndtr carries a relative error of about z^2 eps (1.5e-13 at
    # z = 37); neither form used here cancels for these wide intervals.
    z = min(abs(a), abs(b))
    tolerance = 2 * (z * z + 1) * EPS
    assert normal_interval_probabilities(a, b) == pytest.approx(exact, rel=tolerance)
    # Reversed ends (decreasing transforms) give the same interval.
    assert normal_interval_probabilities(b, a) == normal_interval_probabilities(a, b)


def test_normal_interval_probabilities_against_scipy_tails():
    # The upper-tail form is exactly scipy's sf; the naive cdf difference
    # would be 1 - 1 = 0 at 30 sigma.
    assert normal_interval_probabilities(30.0, np.inf) == norm.sf(30.0)
    assert normal_interval_probabilities(-np.inf, -30.0) == norm.cdf(-30.0)
    assert math.log(normal_interval_probabilities(30.0, np.inf)) == pytest.approx(
        norm.logsf(30.0), rel=1e-14
    )
    assert norm.cdf(31.0) - norm.cdf(30.0) == 0.0  # what the tail-aware form avoids
    assert normal_interval_probabilities(30.0, 31.0) > 0.0


def test_normal_interval_probabilities_arrays_and_parameters():
    lower = np.array([-np.inf, -1.0, 2.0, np.inf, 3.0, -np.inf])
    upper = np.array([np.inf, 1.0, -np.inf, np.inf, 3.0, -np.inf])
    expected = [1.0, ndtr(1.0) - ndtr(-1.0), ndtr(2.0), 0.0, 0.0, 0.0]
    np.testing.assert_allclose(normal_interval_probabilities(lower, upper), expected, rtol=1e-15)
    # mu = 2, sigma = 0.5: 17 is exactly 30 sigma above the mean.
    assert normal_interval_probabilities(17.0, np.inf, mu=2.0, sigma=0.5) == norm.sf(30.0)
    # Symmetry, exactly: P(a < X < b) = P(-b < X < -a).
    edges = np.linspace(-40, 40, 333)
    np.testing.assert_array_equal(
        normal_interval_probabilities(edges[:-1], edges[1:]),
        normal_interval_probabilities(-edges[1:], -edges[:-1]),
    )
    # Broadcasting.
    assert normal_interval_probabilities(np.zeros((2, 3)), 1.0).shape == (2, 3)
    assert np.isnan(normal_interval_probabilities(np.nan, 1.0))


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def test_negative_or_nan_pdf_is_rejected():
    def negative_beyond(y):
        return np.where(y > 1.2, -0.3, 1.0)

    with pytest.raises(
        ValueError, match=r"pdf returned -0\.3 at y = 1\.2\d*; a density must be >= 0"
    ):
        integrate_bins(negative_beyond, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"pdf returned nan at y = "):
        integrate_bins(lambda y: np.where(y < 0, np.nan, 1.0), [-1.0, 1.0])
    # Reported in y, not in the integration variable of an infinite interval.
    with pytest.raises(ValueError, match=r"pdf returned -1\.0 at y = 1[0-9.e+]*; a density"):
        integrate_interval(lambda y: np.where(y > 10, -1.0, 0.0), 0.0, np.inf)
    with pytest.raises(ValueError, match="pdf must return an array of its input's shape"):
        integrate_bins(lambda y: np.ones(3), [0.0, 1.0])


def test_argument_validation():
    with pytest.raises(TypeError, match="pdf must be callable"):
        integrate_bins("pdf", [0.0, 1.0])
    with pytest.raises(ValueError, match="edges must be strictly increasing"):
        integrate_bins(normal_pdf, [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="edges must be finite"):
        integrate_bins(normal_pdf, [0.0, np.inf])
    with pytest.raises(ValueError, match="edges must be a 1-d array"):
        integrate_bins(normal_pdf, [0.0])
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        integrate_bins(normal_pdf, [0.0, 1.0], rtol=-1e-3)
    with pytest.raises(ValueError, match="rtol and atol cannot both be 0"):
        integrate_bins(normal_pdf, [0.0, 1.0], rtol=0.0)
    with pytest.raises(ValueError, match="max_levels must be a non-negative integer"):
        integrate_bins(normal_pdf, [0.0, 1.0], max_levels=-1)
    with pytest.raises(ValueError, match="lo must be < hi"):
        integrate_interval(normal_pdf, 1.0, 0.0)
    with pytest.raises(ValueError, match="lo must be < hi"):
        integrate_interval(normal_pdf, np.nan, 0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        normal_interval_probabilities(0.0, 1.0, sigma=0.0)


def test_atol_stops_refinement():
    # A loose absolute tolerance is met by every bin's estimate.
    edges = np.linspace(0.0, 1.0, 11)
    _, errors = integrate_bins(cube_pdf, edges, rtol=0.0, atol=1e-6)
    assert np.all(errors <= 1e-6)
