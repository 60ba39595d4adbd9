"""The random streams: statistical quality of the normals, keying, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcflow import _rng

# One fixed sample for the quality checks: 2**20 draws spanning 16 chunks.
N_QUALITY = 1 << 20


@pytest.fixture(scope="module")
def normals():
    return _rng.standard_normals(N_QUALITY, seed=20261129)


def test_moments_match_standard_normal(normals):
    # Each sample moment is asymptotically normal with the stated standard
    # error; 5 standard errors bound a false failure at ~6e-7 per moment.
    n = normals.size
    mean_se = 1.0 / math.sqrt(n)
    var_se = math.sqrt(2.0 / n)
    skew_se = math.sqrt(6.0 / n)
    kurt_se = math.sqrt(24.0 / n)
    assert abs(normals.mean()) < 5 * mean_se
    assert abs(normals.var() - 1.0) < 5 * var_se
    assert abs(stats.skew(normals)) < 5 * skew_se
    assert abs(stats.kurtosis(normals)) < 5 * kurt_se


def test_ks_against_phi(normals):
    # Exact KS p-value of continuous draws; a correct generator fails at 1e-4.
    assert stats.kstest(normals, "norm").pvalue > 1e-4


def test_ziggurat_tail_and_centre_frequencies(normals):
    # The tail beyond r and the apex layer are the generator's special paths.
    # Counts are binomial; 5 standard deviations bound a false failure at ~6e-7.
    n = normals.size
    for lo, hi in [(_rng.ZIGGURAT_R, np.inf), (-np.inf, -_rng.ZIGGURAT_R), (-0.05, 0.05),
                   (2.0, 2.5)]:
        p = stats.norm.cdf(hi) - stats.norm.cdf(lo)
        observed = np.count_nonzero((normals > lo) & (normals < hi))
        assert abs(observed - n * p) < 5 * math.sqrt(n * p * (1 - p)), (lo, hi)


def test_ziggurat_layers_have_equal_area():
    # Every layer (and the base strip with its tail) must hold the same area v;
    # the apex layer closes the recursion, so it checks the constant r too.
    r = _rng.ZIGGURAT_R
    area = r * math.exp(-0.5 * r * r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))
    x1 = _rng.ZIGGURAT_WIDTH[1] * 2.0**53
    apex_area = x1 * (1.0 - math.exp(-0.5 * x1 * x1))
    assert apex_area == pytest.approx(area, rel=1e-10)
    assert _rng.ZIGGURAT_ACCEPT[1] == 0  # the apex layer always takes the wedge test


def test_consecutive_chunks_are_uncorrelated(normals):
    # Lag-1 correlation of a sequence of independent draws has standard error
    # 1/sqrt(n); test it across chunk boundaries too (pairs of chunk starts).
    n = normals.size
    lag1 = np.corrcoef(normals[:-1], normals[1:])[0, 1]
    assert abs(lag1) < 5 / math.sqrt(n)
    chunk = _rng.CHUNK_SIZE
    starts = normals.reshape(-1, chunk)
    cross = np.corrcoef(starts[:-1].ravel(), starts[1:].ravel())[0, 1]
    assert abs(cross) < 5 / math.sqrt(starts[:-1].size)


def test_stream_is_a_function_of_seed_and_chunk():
    key = _rng.seed_key(7)
    first = np.empty(4, dtype=np.uint64)
    again = np.empty(4, dtype=np.uint64)
    other = np.empty(4, dtype=np.uint64)
    _rng.seed_chunk_state(key, 3, first)
    _rng.seed_chunk_state(key, 3, again)
    _rng.seed_chunk_state(key, 4, other)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert _rng.seed_key(7) == key
    assert _rng.seed_key(8) != key


def test_different_seeds_give_different_streams():
    a = _rng.standard_normals(1000, seed=1)
    b = _rng.standard_normals(1000, seed=2)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, _rng.standard_normals(1000, seed=1))


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [(-1, ValueError, "non-negative"), (1.5, TypeError, "seed"), ("0", TypeError, "seed"),
     (True, TypeError, "seed")],
)
def test_bad_seed_is_rejected(seed, error, match):
    with pytest.raises(error, match=match):
        _rng.seed_key(seed)
