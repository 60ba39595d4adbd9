"""Engine throughput against NumPy baselines, measured side by side in one run.

Run with ``make bench`` (or ``pytest bench --benchmark-only``); every
benchmark checks its own result so that a fast wrong kernel cannot score.
"""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest
from scipy import stats

from mcflow import bench, registry
from mcflow.edges import equal_probability_edges
from mcflow.engine import histogram

N = int(float(os.environ.get("MCFLOW_BENCH_N", "1e8")))
N_ENGINE_ALONE = int(float(os.environ.get("MCFLOW_BENCH_N_LARGE", "1e9")))
ALL_THREADS = numba.config.NUMBA_NUM_THREADS
EXP = registry.case("seed exp").transform()  # the cases tests and config use
CHAIN = bench.three_step_chain()


def _check_counts(counts, n, edges, cdf):
    """In-range counts must match the exact cell masses: chi-square at alpha 1e-6.

    Bins expecting 20 or fewer are left out so the chi-square approximation
    holds; the rest are compared with their exact masses, one degree of
    freedom each (no total is fitted).
    """
    expected = n * np.diff(cdf(edges))
    keep = expected > 20
    chi2 = float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    assert chi2 < stats.chi2.isf(1e-6, keep.sum())


def _check_lognormal_counts(counts, n, edges):
    """Counts of exp(N(0,1)) must match the lognormal."""
    _check_counts(counts, n, edges, lambda y: stats.lognorm.cdf(y, 1.0))


def _sinh_arcsinh_cdf(y, skew=0.5, tailweight=1.5):
    """P(sinh((asinh X + skew) tailweight) <= y) = Phi(sinh(asinh(y) / tailweight - skew))."""
    return stats.norm.cdf(np.sinh(np.arcsinh(y) / tailweight - skew))


def _three_step_chain_cdf(y):
    """P(1 + 2 exp(X / 2) <= y) = Phi(2 log((y - 1) / 2)) for y > 1 (bench.three_step_chain)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 1.0, stats.norm.cdf(2.0 * np.log((y - 1.0) / 2.0)), 0.0)


def _check_histogram(h, n):
    assert h.in_range + h.underflow + h.overflow + h.nonfinite == n


UNIFORM_EDGES = np.linspace(*bench.BENCH_RANGE, bench.BENCH_BINS + 1)


@pytest.mark.benchmark(group="exp, 200 uniform bins")
@pytest.mark.parametrize("threads", sorted({1, ALL_THREADS}))
def test_engine_exp(run, threads):
    h = run(lambda: histogram(EXP, N, bench.BENCH_BINS, bench.BENCH_RANGE, threads=threads),
            n=N, threads=threads)
    _check_histogram(h, N)
    _check_lognormal_counts(h.counts, N, UNIFORM_EDGES)


@pytest.mark.benchmark(group="exp, 200 uniform bins")
def test_numpy_pipeline(run):
    counts = run(lambda: bench.numpy_pipeline(N), n=N, threads=1)
    _check_lognormal_counts(counts, N, UNIFORM_EDGES)


@pytest.mark.benchmark(group="exp, 200 uniform bins")
def test_numpy_fast_histogram_pool(run):
    pytest.importorskip("fast_histogram")
    counts = run(lambda: bench.numpy_fast_histogram(N, ALL_THREADS), n=N, threads=ALL_THREADS)
    _check_lognormal_counts(counts, N, UNIFORM_EDGES)


@pytest.mark.benchmark(group="exp, 200 uniform bins")
def test_numpy_boost_histogram_fill(run):
    pytest.importorskip("boost_histogram")
    counts = run(lambda: bench.numpy_boost_histogram(N, ALL_THREADS), n=N, threads=ALL_THREADS)
    _check_lognormal_counts(counts, N, UNIFORM_EDGES)


@pytest.mark.benchmark(group="normal generation")
@pytest.mark.parametrize("threads", sorted({1, ALL_THREADS}))
def test_engine_normals_only(run, threads):
    total = run(lambda: bench.engine_normals(N, threads), n=N, threads=threads)
    assert abs(total) < 6 * np.sqrt(N)  # a sum of N standard normals, 6 sigma


@pytest.mark.benchmark(group="normal generation")
def test_numpy_standard_normal(run):
    last_fill = run(lambda: bench.numpy_normals(N), n=N, threads=1)
    assert last_fill.size == min(N, 1_000_000)
    # The last fill must be N(0, 1) draws: exact KS p-value, alpha 1e-6.
    assert stats.kstest(last_fill, "norm").pvalue > 1e-6


@pytest.mark.benchmark(group="transforms, all threads")
@pytest.mark.parametrize(
    ("name", "transform", "range_", "cdf"),
    [("exp", EXP, bench.BENCH_RANGE, lambda y: stats.lognorm.cdf(y, 1.0)),
     ("sinh_arcsinh", registry.case("sinh-arcsinh").transform(), (-20.0, 20.0),
      _sinh_arcsinh_cdf),
     ("3-step chain", CHAIN, (0.0, 80.0), _three_step_chain_cdf),
     ("vectorized numpy exp", bench.vectorized_exp(), bench.BENCH_RANGE,
      lambda y: stats.lognorm.cdf(y, 1.0))],
)
def test_engine_transforms(run, name, transform, range_, cdf):
    h = run(lambda: histogram(transform, N, bench.BENCH_BINS, range_), n=N, threads=ALL_THREADS)
    _check_histogram(h, N)
    _check_counts(h.counts, N, h.edges, cdf)


@pytest.mark.benchmark(group="bins, all threads")
@pytest.mark.parametrize("kind", ["uniform", "equal-probability"])
def test_engine_bin_kinds(run, kind):
    edges = UNIFORM_EDGES if kind == "uniform" else equal_probability_edges(EXP, N)
    h = run(lambda: histogram(EXP, N, edges), n=N, threads=ALL_THREADS)
    _check_histogram(h, N)
    _check_lognormal_counts(h.counts, N, h.edges)


@pytest.mark.benchmark(group="engine alone, n = 1e9")
def test_engine_exp_large(run):
    h = run(lambda: histogram(EXP, N_ENGINE_ALONE, bench.BENCH_BINS, bench.BENCH_RANGE),
            n=N_ENGINE_ALONE, threads=ALL_THREADS, rounds=1)
    _check_histogram(h, N_ENGINE_ALONE)
    _check_lognormal_counts(h.counts, N_ENGINE_ALONE, UNIFORM_EDGES)
