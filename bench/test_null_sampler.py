"""The null's multinomial sampler against NumPy's multinomial, side by side in one run.

The seed's case at n = 1e7: 213 equal cells (the equal-probability binning of
``make run``'s 1e7 samples), 20,000 replicates.  Compare the rows'
``min`` in one run: ``mcflow_counts`` (count vectors only, like NumPy's),
``mcflow_null`` (counts and their four statistics, what a first validation
waits for) and ``numpy_multinomial`` (counts only), all on one thread.  Each benchmark checks its
result: every row sums to n, and the cells' means are those of the multinomial
(a z-test at 4.5 standard errors on each, false alarm < 213 * 7e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from mcflow._multinomial import multinomial_counts, null_statistics
from mcflow._numba import numba_threads
from mcflow._row_statistics import row_statistics

N = 10**7
CELLS = 213
REPLICATES = 20_000
PROBABILITIES = np.full(CELLS, 1.0 / CELLS)
KEY = np.uint64(0x6E756C6C)


def _check_counts(counts: np.ndarray) -> None:
    assert counts.shape == (REPLICATES, CELLS)
    assert (counts.sum(axis=1) == N).all()
    mean = N * PROBABILITIES
    standard_error = np.sqrt(N * PROBABILITIES * (1.0 - PROBABILITIES) / REPLICATES)
    assert (np.abs(counts.mean(axis=0) - mean) <= 4.5 * standard_error).all()


@pytest.mark.benchmark(group="null sampler")
def test_mcflow_counts(run):
    with numba_threads(1):
        counts = run(lambda: multinomial_counts(N, PROBABILITIES, REPLICATES, KEY),
                     n=REPLICATES * CELLS, threads=1)
    _check_counts(counts)


@pytest.mark.benchmark(group="null sampler")
def test_mcflow_null(run):
    with numba_threads(1):
        table = run(lambda: null_statistics(N, PROBABILITIES, REPLICATES, KEY),
                    n=REPLICATES * CELLS, threads=1)
    counts = multinomial_counts(N, PROBABILITIES, REPLICATES, KEY)
    np.testing.assert_array_equal(table, row_statistics(counts, PROBABILITIES))


@pytest.mark.benchmark(group="null sampler")
def test_numpy_multinomial(run):
    rng = np.random.default_rng(0)
    counts = run(lambda: rng.multinomial(N, PROBABILITIES, size=REPLICATES),
                 n=REPLICATES * CELLS, threads=1)
    _check_counts(counts)
