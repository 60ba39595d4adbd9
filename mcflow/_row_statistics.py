"""The four statistics of many count vectors in one fused, parallel pass.

A simulated null evaluates KS, L1, G and AD on R x cells counts (4e4 x 210 for
the seed's case).  As NumPy expressions that is a dozen temporaries of that
size per statistic, slower than drawing the counts; here :data:`LANES` count
vectors at a time go through one loop over the cells, every statistic of
every vector updated side by side, branch-free, so the loop vectorizes across
the vectors (:func:`block_statistics_into`, with :func:`mcflow._maths.log`).
The simulated null calls the same function on each group of count vectors as
it draws them (``mcflow._multinomial``), and observed counts go through it too
(:func:`row_statistics` pads the last group with copies of a real row), so an
observed vector equal to a simulated one gives bit-identical statistics (ties
stay ties).

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

from mcflow import _maths
from mcflow._numba import jit

__all__ = ["LANES", "STATISTIC_COLUMNS", "block_statistics_into", "boundary_weights",
           "row_statistics"]

#: Column of each statistic in :func:`row_statistics`' result.
STATISTIC_COLUMNS = {"ks": 0, "l1": 1, "g": 2, "ad": 3}


#: Count vectors evaluated side by side (:func:`block_statistics_into`), one per SIMD lane.
LANES = 32


@jit(inline="always")
def _g_term(c, expected):  # pragma: no cover
    """One cell's ``c log(c / e) - (c - e)``, branch-free (vectorizes across lanes).

    ``log1p(x)``, ``x = (c - e) / e``, when ``|c - e| < e / 2`` (written as
    ``log(1 + x)`` less the rounding of ``1 + x``), else ``log(c / e)``; ``e``
    where ``c = 0``; ``+inf`` where ``c > 0 = e``.
    """
    count = float(c)
    excess = count - expected
    inverse = 1.0 / expected
    x = excess * inverse
    small = abs(excess) < 0.5 * expected
    v = 1.0 + x
    argument = v if small else count * inverse
    correction = ((v - 1.0) - x) / v if small else 0.0
    term = count * (_maths.log(argument) - correction) - excess
    term = term if expected != 0.0 else math.inf
    return term if c != 0 else expected


@jit
def block_statistics_into(counts, probabilities, cumulative, weights, out, first,
                          rows):  # pragma: no cover
    """Write the statistics of ``counts[:, l]`` into ``out[first + l]`` for ``l < rows``.

    ``counts`` is ``(cells, LANES)``: one count vector per column, all of them
    evaluated in one loop over the cells that vectorizes across the columns
    (columns ``>= rows`` are computed and dropped).  The one definition both the
    observed counts (:func:`row_statistics`) and the simulated null
    (``mcflow._multinomial``) use, so equal counts give equal bits.
    """
    cells = counts.shape[0]
    totals = np.zeros(LANES, np.int64)
    for j in range(cells):
        column = counts[j]
        for lane in range(LANES):
            totals[lane] += column[lane]
    n = np.empty(LANES)
    inverse_n = np.empty(LANES)
    running = np.zeros(LANES, np.int64)
    ks = np.zeros(LANES)
    l1 = np.zeros(LANES)
    g = np.zeros(LANES)
    ad = np.zeros(LANES)
    for lane in range(LANES):
        n[lane] = float(totals[lane])
        inverse_n[lane] = 1.0 / n[lane]
    for j in range(cells):
        column = counts[j]
        p = probabilities[j]
        for lane in range(LANES):
            c = column[lane]
            l1[lane] += abs(c * inverse_n[lane] - p)
            g[lane] += _g_term(c, n[lane] * p)
        if j < cells - 1:  # the inner boundaries: KS and AD
            boundary = cumulative[j]
            weight = weights[j]
            for lane in range(LANES):
                running[lane] += column[lane]
                gap = running[lane] / n[lane] - boundary
                ks[lane] = max(ks[lane], abs(gap))
                ad[lane] += gap * gap * weight
    for lane in range(rows):
        out[first + lane, 0] = ks[lane]
        out[first + lane, 1] = l1[lane]
        out[first + lane, 2] = 2.0 * g[lane]
        out[first + lane, 3] = n[lane] * ad[lane]


@jit
def _statistics_kernel(counts, probabilities, cumulative, weights, out):  # pragma: no cover
    block = np.empty((counts.shape[1], LANES), np.int64)
    for first in range(0, counts.shape[0], LANES):
        rows = min(LANES, counts.shape[0] - first)
        for lane in range(LANES):
            row = counts[first + lane if lane < rows else first]  # padding: a real row
            for j in range(counts.shape[1]):
                block[j, lane] = row[j]
        block_statistics_into(block, probabilities, cumulative, weights, out, first, rows)


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
