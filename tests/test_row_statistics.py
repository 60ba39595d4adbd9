"""The fused statistics kernel against the plain NumPy formulas it replaced.

Agreement is to float64 rounding of the sums: each statistic is a sum of at most `cells`
terms of similar size, so the two summation orders differ by a few ulp per term,
<= cells * 4 * eps relative; KS (a max of identical expressions) agrees exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcflow._row_statistics import row_statistics
from mcflow.statistics import ROW_STATISTICS


def _reference(counts, probabilities):
    totals = counts.sum(axis=1).astype(np.float64)
    cumulative_counts = np.cumsum(counts[:, :-1], axis=1)
    cumulative_probabilities = np.cumsum(probabilities[:-1])
    gaps = cumulative_counts / totals[:, None] - cumulative_probabilities
    ks = np.abs(gaps).max(axis=1)
    l1 = np.abs(counts / totals[:, None] - probabilities).sum(axis=1)
    expected = totals[:, None] * probabilities
    excess = counts - expected
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.where(np.abs(excess) < 0.5 * expected, np.log1p(excess / expected),
                             np.log(counts) - np.log(expected))
        terms = counts * log_ratio - excess
    terms = np.where(counts == 0, expected, terms)
    terms = np.where((expected == 0.0) & (counts > 0), np.inf, terms)
    g = 2.0 * terms.sum(axis=1)
    spread = cumulative_probabilities * (1.0 - cumulative_probabilities)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(spread > 0.0, probabilities[:-1] / spread, 0.0)
    ad = totals * (gaps * gaps * weights).sum(axis=1)
    return np.column_stack([ks, l1, g, ad])


@pytest.mark.parametrize(("n", "cells"), [(50, 7), (10**4, 40), (10**9, 300)])
def test_the_kernel_matches_the_numpy_formulas(n, cells):
    rng = np.random.default_rng(cells)
    probabilities = rng.dirichlet(np.ones(cells))
    probabilities[3] = 0.0  # a cell the claim gives no mass
    probabilities /= probabilities.sum()
    counts = rng.multinomial(n, probabilities, size=200)
    counts[0, 3] = 1  # an impossible observation: G = inf
    fused, reference = row_statistics(counts, probabilities), _reference(counts, probabilities)
    assert np.array_equal(fused[:, 0], reference[:, 0])
    assert fused[0, 2] == np.inf and reference[0, 2] == np.inf
    tolerance = cells * 4 * np.finfo(float).eps
    np.testing.assert_allclose(fused[1:], reference[1:], rtol=tolerance, atol=0.0)


def test_a_single_row_gives_the_statistics_of_that_row_in_a_batch():
    rng = np.random.default_rng(1)
    probabilities = np.full(20, 0.05)
    counts = rng.multinomial(1000, probabilities, size=64)
    batch = row_statistics(counts, probabilities)
    for index, name in enumerate(("ks", "l1", "g", "ad")):
        single = ROW_STATISTICS[name](counts[17:18], probabilities)[0]
        assert single == batch[17, index]  # bit-identical: observed ties stay ties
