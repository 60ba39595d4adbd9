"""Goodness-of-fit statistics on binned counts, calibrated by simulating the null.

The counts cover an *ordered* partition of the real line into cells (in
practice ``[underflow, bin_0, ..., bin_{k-1}, overflow]``) and the claim under
test gives each cell a probability.  Three statistics measure the distance
between the empirical cell frequencies ``c_i / n`` and the claim ``p_i``:

* ``ks``: the largest gap between the two cumulative distributions at the
  cell boundaries (Kolmogorov–Smirnov on a grid);
* ``l1``: ``sum_i |c_i / n - p_i|``, twice the total-variation distance, the
  one with a direct meaning ("how much probability is in the wrong place");
* ``g``: the likelihood-ratio statistic ``2 sum_i c_i log(c_i / (n p_i))``;
* ``ad``: Anderson–Darling on the cells (the discrete form of Choulakian,
  Lockhart and Stephens, 1994): the squared CDF gaps weighted by
  ``1 / (H (1 - H))``, which gives the tails the weight KS denies them and
  makes it the most powerful of the four against smooth errors (a scale or a
  location off by 1%).

Their null distributions are not taken from asymptotic formulas (which fail
for sparse cells, and for ``ks`` on a grid):
:func:`mcflow.null_distribution.simulate_null` draws count vectors from
``Multinomial(n, p)`` itself, and :mod:`mcflow.sensitivity` turns the same
simulation into "which deviation would this run have seen".
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy.stats import kstwobign

from mcflow._checks import check_n
from mcflow._row_statistics import STATISTIC_COLUMNS, row_statistics

__all__ = [
    "STATISTIC_NAMES",
    "StatisticName",
    "ad_statistic",
    "g_statistic",
    "kolmogorov_pvalue",
    "ks_statistic",
    "l1_statistic",
]

StatisticName = Literal["ks", "l1", "g", "ad"]
STATISTIC_NAMES: tuple[str, ...] = ("ks", "l1", "g", "ad")

#: How far ``sum(probabilities)`` may be from 1 (quadrature and rounding
#: leave ~1e-12; anything near 1e-9 is a modelling error, not rounding).
_SUM_TOLERANCE = 1e-9



# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def check_probabilities(probabilities: Any) -> np.ndarray:
    """Return the cell probabilities as float64, normalized to sum to 1."""
    values = np.asarray(probabilities, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"probabilities must be a non-empty 1-d array, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"probabilities must be finite, got {values[bad]} at index {bad}")
    if np.any(values < 0.0):
        bad = int(np.flatnonzero(values < 0.0)[0])
        raise ValueError(f"probabilities must be >= 0, got {values[bad]!r} at index {bad}")
    total = math.fsum(values)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(
            f"probabilities must sum to 1 (within {_SUM_TOLERANCE:g}), got sum {total!r}"
        )
    return values / total


def check_counts(counts: Any, cells: int) -> np.ndarray:
    """Return ``counts`` as a 1-d int64 array of ``cells`` entries with n > 0."""
    values = np.asarray(counts)
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"counts must be an integer array, got dtype {values.dtype}")
    if values.shape != (cells,):
        raise ValueError(
            f"counts must have shape (cells,) with cells = len(probabilities) = {cells}, "
            f"got shape {values.shape}"
        )
    values = values.astype(np.int64, copy=False)
    if np.any(values < 0):
        bad = int(np.flatnonzero(values < 0)[0])
        raise ValueError(f"counts must be >= 0, got {values[bad]} at index {bad}")
    if values.sum() <= 0:
        raise ValueError("counts must hold at least one observation, got n = 0")
    return values


def check_statistic_name(name: Any) -> str:
    if name not in STATISTIC_NAMES:
        raise ValueError(f"name must be one of {STATISTIC_NAMES}, got {name!r}")
    return str(name)


# --------------------------------------------------------------------------
# Statistics, vectorized over replicate rows
# --------------------------------------------------------------------------


def _column(name: str) -> Any:
    column = STATISTIC_COLUMNS[name]

    def rows(counts: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        return row_statistics(counts, probabilities)[:, column]

    rows.__name__ = f"_{name}_rows"
    return rows


#: One statistic of every row (:func:`mcflow._row_statistics.row_statistics`'s column).
ROW_STATISTICS = {name: _column(name) for name in STATISTIC_COLUMNS}


def _observed(name: str, counts: Any, probabilities: Any) -> float:
    cell_probabilities = check_probabilities(probabilities)
    rows = check_counts(counts, cell_probabilities.size)[None, :]
    # Same code path as the simulated replicates, so equal count vectors give
    # bit-identical statistics and ties are seen as ties.
    return float(ROW_STATISTICS[name](rows, cell_probabilities)[0])


def ks_statistic(counts: Any, probabilities: Any) -> float:
    r"""Kolmogorov–Smirnov distance between the binned empirical and claimed CDFs.

    .. math:: D = \max_j \left| C_j / n - F_j \right|,\quad
              C_j = \sum_{i \le j} c_i,\quad F_j = \sum_{i \le j} p_i,

    over the boundaries between consecutive cells.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts over an ordered partition of the line.
    probabilities : array_like of float, shape (cells,)
        Claimed probability of each cell (>= 0, summing to 1 within 1e-9;
        normalized here).

    Returns
    -------
    float
        ``D`` in [0, 1].
    """
    return _observed("ks", counts, probabilities)


def l1_statistic(counts: Any, probabilities: Any) -> float:
    r"""L1 distance between the empirical cell frequencies and the claim.

    .. math:: L_1 = \sum_i \left| c_i / n - p_i \right|,

    twice the total-variation distance: ``L1 / 2`` is the probability mass
    that sits in the wrong cells.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    float
        ``L1`` in [0, 2].
    """
    return _observed("l1", counts, probabilities)


def g_statistic(counts: Any, probabilities: Any) -> float:
    r"""Likelihood-ratio (G) statistic of the counts against the claim.

    .. math:: G = 2 \sum_i c_i \log\frac{c_i}{n p_i},

    with ``0 log 0 = 0``.  It is evaluated as the equal sum
    ``2 sum_i [c_i log(c_i / e_i) - (c_i - e_i)]``, ``e_i = n p_i``, whose
    terms are all >= 0, so it keeps its digits at ``n = 1e12``.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    float
        ``G >= 0``; ``+inf`` if a cell with ``p_i == 0`` has ``c_i > 0`` (an
        observation the claim calls impossible, e.g. outside its support).
    """
    return _observed("g", counts, probabilities)


def ad_statistic(counts: Any, probabilities: Any) -> float:
    r"""Anderson–Darling statistic of the counts against the claim, on the cells.

    .. math:: A^2 = n \sum_{j < k} \frac{(C_j / n - H_j)^2\, p_j}{H_j (1 - H_j)},
              \quad C_j = \sum_{i \le j} c_i,\quad H_j = \sum_{i \le j} p_i,

    the discrete Anderson–Darling statistic (Choulakian, Lockhart & Stephens,
    1994); boundaries with ``H_j`` in {0, 1} are left out.  Its null is
    simulated like the others' (the continuous tables do not apply to cells).

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    float
        ``A^2 >= 0``.
    """
    return _observed("ad", counts, probabilities)


def kolmogorov_pvalue(d: float, n: int) -> float:
    r"""Asymptotic Kolmogorov p-value of a KS distance from ``n`` observations.

    .. math:: p = \Pr\left(K > \sqrt{n}\, d\right),

    where ``K`` follows the Kolmogorov distribution
    (:data:`scipy.stats.kstwobign`).

    This is the p-value for a *continuous* CDF.  Evaluated on the binned
    statistic it is conservative (too large): the maximum over a grid of bin
    edges can only be smaller than the maximum over the whole line, so the
    binned ``D`` is stochastically smaller than the continuous one.  Use
    :meth:`mcflow.null_distribution.NullDistribution.pvalue` for a calibrated p-value.

    Parameters
    ----------
    d : float
        KS distance in [0, 1].
    n : int
        Number of observations.

    Returns
    -------
    float
        The asymptotic p-value in [0, 1].
    """
    distance = float(d)
    if not 0.0 <= distance <= 1.0:
        raise ValueError(f"d must be in [0, 1], got {d!r}")
    samples = check_n(n)
    return float(kstwobign.sf(math.sqrt(samples) * distance))
