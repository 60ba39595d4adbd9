"""The four statistics of many count vectors in one fused, parallel pass.

A simulated null evaluates KS, L1, G and AD on R x cells counts (4e4 x 210 for
the seed's case).  As NumPy expressions that is a dozen temporaries of that
size per statistic, slower than drawing the counts; here each row is one loop
over its cells with every statistic updated in registers.  The kernel is
serial: the null's batches already run on a thread pool
(:mod:`mcflow.nulls`), and a parallel kernel called from those threads would
abort under numba's workqueue threading layer (not thread-safe).  Observed
counts go through the same kernel, so an observed vector equal to a simulated
one gives bit-identical statistics (ties stay ties).

Per row, with ``n = sum(c)``, ``e_i = n p_i``, ``C_j`` and ``F_j`` the
cumulative counts and probabilities over the inner boundaries ``j < cells - 1``:

- ``ks = max_j |C_j / n - F_j|``;
- ``l1 = sum_i |c_i / n - p_i|``;
- ``g = 2 sum_i [c_i log(c_i / e_i) - (c_i - e_i)]`` (``e_i`` where ``c_i = 0``,
  ``+inf`` where ``c_i > 0 = e_i``; ``log1p`` when ``|c_i - e_i| < e_i / 2``);
- ``ad = n sum_j (C_j / n - F_j)^2 p_j / (F_j (1 - F_j))`` (weight 0 where
  ``F_j (1 - F_j) = 0``).
"""

from __future__ import annotations

import math

import numpy as np

from mcflow._numba import jit

__all__ = ["STATISTIC_COLUMNS", "row_statistics"]

#: Column of each statistic in :func:`row_statistics`' result.
STATISTIC_COLUMNS = {"ks": 0, "l1": 1, "g": 2, "ad": 3}


@jit
def _statistics_kernel(counts, probabilities, cumulative, weights, out):  # pragma: no cover
    rows, cells = counts.shape
    for r in range(rows):
        total = 0
        for j in range(cells):
            total += counts[r, j]
        n = float(total)
        running = 0
        ks = 0.0
        l1 = 0.0
        g = 0.0
        ad = 0.0
        for j in range(cells):
            c = counts[r, j]
            p = probabilities[j]
            l1 += abs(c / n - p)
            expected = n * p
            if c == 0:
                g += expected
            elif expected == 0.0:
                g = math.inf
            else:
                excess = c - expected
                if abs(excess) < 0.5 * expected:
                    log_ratio = math.log1p(excess / expected)
                else:
                    log_ratio = math.log(c) - math.log(expected)
                g += c * log_ratio - excess
            if j < cells - 1:
                running += c
                gap = running / n - cumulative[j]
                ks = max(ks, abs(gap))
                ad += gap * gap * weights[j]
        out[r, 0] = ks
        out[r, 1] = l1
        out[r, 2] = 2.0 * g
        out[r, 3] = n * ad


def row_statistics(counts: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Return ``(rows, 4)`` statistics (columns ks, l1, g, ad) of each row of counts.

    Parameters
    ----------
    counts : ndarray of int64, shape (rows, cells)
        Count vectors over an ordered partition, each with a positive total.
    probabilities : ndarray of float64, shape (cells,)
        The claimed cell probabilities (normalized).

    Returns
    -------
    ndarray of float64, shape (rows, 4)
    """
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float64)
    cumulative = np.cumsum(probabilities[:-1])
    spread = cumulative * (1.0 - cumulative)
    # A boundary where the claimed CDF is 0 or 1 carries no weight (its cell has no
    # claimed mass; samples there are G's business, which is infinite then).
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(spread > 0.0, probabilities[:-1] / spread, 0.0)
    out = np.empty((counts.shape[0], 4))
    _statistics_kernel(counts, probabilities, cumulative, weights, out)
    return out
