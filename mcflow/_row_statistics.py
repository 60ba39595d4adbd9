"""The four statistics of many count vectors in one fused, parallel pass.

A simulated null evaluates KS, L1, G and AD on R x cells counts (4e4 x 210 for
the seed's case).  As NumPy expressions that is a dozen temporaries of that
size per statistic, slower than drawing the counts; here each row is one loop
over its cells with every statistic updated in registers
(:func:`statistics_into`).  The simulated null calls the same function on each
count vector as it draws it (``mcflow._multinomial``), and observed counts
go through it too, so an observed vector equal to a simulated one gives
bit-identical statistics (ties stay ties).

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

__all__ = ["STATISTIC_COLUMNS", "boundary_weights", "row_statistics", "statistics_into"]

#: Column of each statistic in :func:`row_statistics`' result.
STATISTIC_COLUMNS = {"ks": 0, "l1": 1, "g": 2, "ad": 3}


@jit
def statistics_into(counts, probabilities, cumulative, weights, out, row):  # pragma: no cover
    """Write the four statistics of one count vector into ``out[row]``.

    The one definition both the observed counts (:func:`row_statistics`) and the
    simulated null (``mcflow._multinomial``) use, so equal counts give equal bits.
    """
    cells = counts.size
    total = 0
    for j in range(cells):
        total += counts[j]
    n = float(total)
    running = 0
    ks = 0.0
    l1 = 0.0
    g = 0.0
    ad = 0.0
    for j in range(cells):
        c = counts[j]
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
    out[row, 0] = ks
    out[row, 1] = l1
    out[row, 2] = 2.0 * g
    out[row, 3] = n * ad


@jit
def _statistics_kernel(counts, probabilities, cumulative, weights, out):  # pragma: no cover
    for r in range(counts.shape[0]):
        statistics_into(counts[r], probabilities, cumulative, weights, out, r)


def boundary_weights(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the claimed CDF ``F_j`` at the inner boundaries and AD's weights.

    AD's weight at boundary ``j`` is ``p_j / (F_j (1 - F_j))``, 0 where ``F_j (1 - F_j) = 0``.
    """
    cumulative = np.cumsum(probabilities[:-1])
    spread = cumulative * (1.0 - cumulative)
    # A boundary where the claimed CDF is 0 or 1 carries no weight (its cell has no
    # claimed mass; samples there are G's business, which is infinite then).
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(spread > 0.0, probabilities[:-1] / spread, 0.0)
    return cumulative, weights


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
    cumulative, weights = boundary_weights(probabilities)
    out = np.empty((counts.shape[0], 4))
    _statistics_kernel(counts, probabilities, cumulative, weights, out)
    return out
