"""The random streams: statistical quality of the normals, keying, seeds."""

from __future__ import annotations

import math
from fractions import Fraction

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


def _layer_edges():
    """x_0 = 0 < x_1 < ... < x_L-1 = r: layer i is the rectangle [0, x_i) x [f(x_i), f(x_{i-1}))."""
    edges = _rng.ZIGGURAT_WIDTH.copy()
    edges[0] = 0.0  # table entry 0 holds the base strip's width instead
    return edges


def _layer_area():
    r = _rng.ZIGGURAT_R
    return r * math.exp(-0.5 * r * r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))


def test_layer_tables_are_monotone_and_the_fast_path_is_each_layers_core():
    x = _layer_edges()
    height = _rng.ZIGGURAT_HEIGHT
    assert x.size == _rng.ZIGGURAT_LAYERS == 1024
    assert x[-1] == _rng.ZIGGURAT_R
    assert np.all(np.diff(x) > 0)
    assert height[0] == 1.0
    assert np.all(np.diff(height) < 0)
    # height_i = f(x_i) = exp(-x_i^2 / 2) in float64: exp's 1 ulp plus the
    # rounding of x_i^2 / 2 (eps relative, x^2 / 2 relative in f) bound it.
    exact = np.exp(-0.5 * x.astype(np.longdouble) ** 2)[1:]
    eps = np.finfo(np.float64).eps
    assert np.all(np.abs(height[1:] - exact) <= eps * (1 + x[1:] ** 2) * exact)
    # Layer i takes u x_i at once when u < ratio_i, u a multiple of 2**-52 in
    # [0, 1).  That is right exactly for u < q_i = x_{i-1} / x_i (the point lies
    # under layer i-1, where the pdf is above the whole rectangle).  ratio_i
    # must be q_i correctly rounded (IEEE division): then at most the one
    # multiple of 2**-52 between q_i and ratio_i is misjudged (2**-62 per draw).
    for i in range(x.size):
        lower = _rng.ZIGGURAT_R if i == 0 else float(x[i - 1])
        width = float(_rng.ZIGGURAT_WIDTH[i])
        assert _rng.ZIGGURAT_RATIO[i] == float(Fraction(lower) / Fraction(width)), i
    assert _rng.ZIGGURAT_RATIO[1] == 0.0  # the apex layer always takes the wedge test
    # 0.43% of draws leave the fast path (mean of 1 - ratio over the layers).
    assert 1.0 - _rng.ZIGGURAT_RATIO.mean() == pytest.approx(0.004277, abs=1e-6)


def test_every_ziggurat_layer_holds_the_same_area():
    # Layer i (2..L-1) must hold v = x_i (f(x_{i-1}) - f(x_i)).  The builder
    # gets f(x_{i-1}) = v / x_i + f(x_i) with relative error at most
    # eps (2 + x_{i-1}^2) (division, addition: eps/2 each; exp: eps; log's
    # absolute eps |log f| = eps x^2 / 2; sqrt's eps/2 in x is eps x^2 / 2 in
    # f), which the difference amplifies by f(x_{i-1}) / (f(x_{i-1}) - f(x_i)).
    # The areas are recomputed in long double from the stored float64 edges.
    eps = np.finfo(np.float64).eps
    v = _layer_area()
    x = _layer_edges().astype(np.longdouble)
    f = np.exp(-0.5 * x * x)
    area = x[1:] * (f[:-1] - f[1:])
    error = np.abs(area / np.longdouble(v) - 1).astype(float)
    f64 = f.astype(float)
    bound = eps * (2.0 + x[:-1].astype(float) ** 2) * f64[:-1] / (f64[:-1] - f64[1:])
    assert np.all(error[1:] <= bound[1:]), np.flatnonzero(error[1:] > bound[1:]) + 2
    # The base strip, rectangle [0, r) x [0, f(r)) plus the tail, as one width
    # v / f(r): the builder's division and the product here round eps/2 each.
    r = _rng.ZIGGURAT_R
    base = _rng.ZIGGURAT_WIDTH[0]
    assert base * math.exp(-0.5 * r * r) == pytest.approx(v, rel=eps, abs=0)
    # The apex layer (i = 1) is not set by the recursion but closes it, so its
    # area checks r: it must hold v to within what one float64 ulp of r moves
    # it, measured by the same recursion in long double.
    assert abs(float(area[0] / np.longdouble(v)) - 1) <= eps * _apex_sensitivity_to_r()


def _apex_sensitivity_to_r():
    """d log(apex area) / d log r, by the layer recursion run in long double."""

    def f(t):
        return np.exp(-t * t / 2)

    def apex_area_over_v(r):
        v = r * f(r) + np.sqrt(np.longdouble(np.pi) / 2) * np.longdouble(
            math.erfc(float(r) / math.sqrt(2)))
        x = r
        for _ in range(_rng.ZIGGURAT_LAYERS - 2):
            x = np.sqrt(-2 * np.log(v / x + f(x)))
        return x * (1 - f(x)) / v

    r = np.longdouble(_rng.ZIGGURAT_R)
    step = np.longdouble(1e-12)
    return abs(float((apex_area_over_v(r * (1 + step)) - apex_area_over_v(r)) / step))


# Cell edges of |Z|: every layer edge x_0 = 0 .. x_1023 = r, then the tail
# beyond r cut at r + 0.1, 0.25, 0.5 and 1; with both signs, 2056 cells.
_STRIP_EDGES = np.concatenate([_layer_edges(), _rng.ZIGGURAT_R + np.array([0.1, 0.25, 0.5, 1.0])])
_SIGNED_EDGES = np.concatenate([-_STRIP_EDGES[:0:-1], _STRIP_EDGES])


@pytest.fixture(scope="module")
def strip_draws():
    """Cell counts and the draws beyond r of 2**25 normals (four streams of 2**23)."""
    counts = np.zeros(_SIGNED_EDGES.size + 1, dtype=np.int64)
    tails = []
    for stream in range(4):
        draws = _rng.standard_normals(1 << 23, seed=20261130 + stream)
        counts += np.bincount(np.searchsorted(_SIGNED_EDGES, draws), minlength=counts.size)
        tails.append(np.abs(draws[np.abs(draws) > _rng.ZIGGURAT_R]))
    return counts, np.concatenate(tails)


def test_draws_land_in_every_layers_strip_at_its_normal_probability(strip_draws):
    # |Z| in [x_{i-1}, x_i) is where layer i's wedge test acts (and only layers
    # >= i reach); beyond r is the base strip's tail path.  Each cell count is
    # binomial(n, p) with p from Phi.  Exact binomial two-sided p-values,
    # Bonferroni over the cells: a correct generator fails with probability at
    # most 1e-6; so does the chi-square over all cells.
    counts, _ = strip_draws
    n = int(counts.sum())
    p = np.diff(np.concatenate([[0.0], stats.norm.cdf(_SIGNED_EDGES), [1.0]]))
    pvalues = np.minimum(1.0, 2 * np.minimum(stats.binom.cdf(counts, n, p),
                                             stats.binom.sf(counts - 1, n, p)))
    family_alpha = 1e-6
    assert np.all(pvalues > family_alpha / counts.size), np.flatnonzero(
        pvalues <= family_alpha / counts.size)
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert chi2 < stats.chi2.isf(family_alpha, counts.size - 1)


def test_tail_draws_follow_the_normal_beyond_r(strip_draws):
    # The tail path (Marsaglia's exponential rejection) has its own code: its
    # draws, given |Z| > r, must follow P(|Z| > t | |Z| > r) = sf(t) / sf(r).
    # Exact KS p-value; a correct generator fails with probability 1e-6.
    _, tail = strip_draws
    r = _rng.ZIGGURAT_R

    def conditional_cdf(t):
        return 1.0 - stats.norm.sf(t) / stats.norm.sf(r)

    # 2**25 * 2 sf(r) = 1802 expected; 5 standard deviations below it.
    assert tail.size > 1802 - 5 * math.sqrt(1802)
    assert stats.kstest(tail, conditional_cdf).pvalue > 1e-6


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
    first = np.empty(_rng.STATE_WORDS, dtype=np.uint64)
    again = np.empty(_rng.STATE_WORDS, dtype=np.uint64)
    other = np.empty(_rng.STATE_WORDS, dtype=np.uint64)
    _rng.seed_chunk_state(key, 3, first)
    _rng.seed_chunk_state(key, 3, again)
    _rng.seed_chunk_state(key, 4, other)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    # Every generator of a chunk starts apart (17 distinct SplitMix64 positions).
    lanes = first[:4 * _rng.LANES].reshape(4, _rng.LANES).T
    starts = {tuple(lane) for lane in lanes} | {tuple(first[4 * _rng.LANES:])}
    assert len(starts) == _rng.LANES + 1
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


_MASK64 = (1 << 64) - 1


def _reference_words(key: int, chunk: int, count: int) -> list[int]:
    """The first ``count`` words of a chunk in stream order, in plain Python integers.

    Lane l of a chunk is xoshiro256** seeded at SplitMix64 position
    4 (chunk (LANES + 1) + l); value j LANES + l of a block is lane l's j-th word.
    """
    golden = 0x9E3779B97F4A7C15

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & _MASK64

    lanes = []
    for lane in range(_rng.LANES):
        z = (key + 4 * (chunk * (_rng.LANES + 1) + lane) * golden) & _MASK64
        state = []
        for _ in range(4):
            z = (z + golden) & _MASK64
            state.append(mix(z))
        lanes.append(state)
    words = []
    for _ in range(-(-count // _rng.LANES)):
        for state in lanes:
            s0, s1, s2, s3 = state
            words.append((rotl((s1 * 5) & _MASK64, 7) * 9) & _MASK64)
            t = (s1 << 17) & _MASK64
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            state[:] = [s0, s1, s2, rotl(s3, 45)]
    return words[:count]


def test_fast_draws_match_the_streams_definition_bit_for_bit():
    # Chunk 1's first two blocks, rebuilt from the definition in plain Python:
    # every draw the fast path accepts must be exactly sign * u * x_layer.
    key = int(_rng.seed_key(11))
    count = 2 * _rng.BLOCK
    draws = _rng.standard_normals(_rng.CHUNK_SIZE + count, seed=11)[_rng.CHUNK_SIZE:]
    accepted = 0
    for value, word in zip(draws, _reference_words(key, 1, count), strict=True):
        layer = word & (_rng.ZIGGURAT_LAYERS - 1)
        uniform = (word >> 12) / 2.0**52
        if uniform < _rng.ZIGGURAT_RATIO[layer]:
            sign = -1.0 if word >> 10 & 1 else 1.0
            assert value == sign * (uniform * _rng.ZIGGURAT_WIDTH[layer])
            accepted += 1
    # The others come from the fallback generator; 0.43% expected, so at least
    # 98% of 1024 draws are checked here (binomial: 5 sd is 10 draws).
    assert accepted >= 0.98 * count


def test_a_chunks_values_do_not_depend_on_how_many_are_drawn():
    # Blocks are drawn whole, so a short last block holds the same values.
    full = _rng.standard_normals(_rng.CHUNK_SIZE, seed=5)
    for n in (1, 511, 512, 513, 5000, _rng.CHUNK_SIZE - 1):
        assert np.array_equal(_rng.standard_normals(n, seed=5), full[:n]), n


@pytest.mark.slow
def test_tails_at_1e9_draws_have_normal_frequencies():
    # 1e9 raw normals through the engine's own kernel: beyond r the tail path,
    # beyond 5 and 6 the far tail a flow's outliers come from.  Each count is
    # binomial(n, p); 5 standard deviations bound a false failure at ~6e-7 each.
    from mcflow import histogram, transforms

    n = 10**9
    r = _rng.ZIGGURAT_R
    edges = np.array([-6.0, -5.0, -r, r, 5.0, 6.0])
    counts = histogram(transforms.Affine(0.0, 1.0), n, edges, seed=20261202)
    cells = np.concatenate([[counts.underflow], counts.counts, [counts.overflow]])
    p = np.diff(np.concatenate([[0.0], stats.norm.cdf(edges), [1.0]]))
    assert int(cells.sum()) == n
    for observed, expected in zip(cells, n * p, strict=True):
        assert abs(observed - expected) < 5 * math.sqrt(expected), (observed, expected)
