"""What a run could see: detection limits, required sample sizes, worst cells.

The detection limit and required n come from the same simulated null as the
p-values (:mod:`mcflow.null_distribution`); the residuals are diagnostics.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from mcflow._checks import check_n, check_open_unit
from mcflow.null_distribution import NullDistribution
from mcflow.statistics import check_counts, check_probabilities

__all__ = ["detection_limit", "required_n", "standardized_residuals", "worst_cells"]

# --------------------------------------------------------------------------
# Sensitivity
# --------------------------------------------------------------------------


def detection_limit(null: NullDistribution, alpha: float, power: float = 0.95) -> float:
    r"""Smallest true L1 deviation the L1 test detects with probability >= ``power``.

    .. math:: d_{min} = q_{1-\alpha}(L_1^{null}) + q_{power}(L_1^{null}).

    If the data really come from ``Q`` with ``||Q - P||_1 = d``, the triangle
    inequality gives ``L1_obs = ||emp - P||_1 >= d - ||emp - Q||_1``, and
    ``||emp - Q||_1`` is distributed (approximately, for ``Q`` near ``P``) like
    the null L1.  So once ``d >= d_min`` the observed L1 exceeds the test's
    critical value ``q_{1-alpha}`` with probability at least ``power``.  The
    bound is conservative (an upper bound on the true detection limit): the
    triangle inequality is rarely tight, and the real power at ``d_min`` is
    usually far above ``power``.

    Parameters
    ----------
    null : NullDistribution
        Simulated null at the run's ``n`` and cells.
    alpha : float
        Level of the L1 test, in (0, 1).
    power : float, default 0.95
        Required detection probability, in (0, 1).

    Returns
    -------
    float
        ``d_min`` (in units of L1, i.e. twice the misplaced probability).
    """
    if not isinstance(null, NullDistribution):
        raise TypeError(f"null must be a NullDistribution, got {type(null).__name__}")
    level = check_open_unit("alpha", alpha)
    detection_probability = check_open_unit("power", power)
    return null.quantile("l1", 1.0 - level) + null.quantile("l1", detection_probability)


def required_n(
    n: int,
    null: NullDistribution,
    alpha: float,
    tolerance: float,
    power: float = 0.95,
) -> int:
    r"""Estimate the n at which the L1 test detects a deviation of size ``tolerance``.

    .. math:: n_{req} = \left\lceil n \left(\frac{d_{min}(n)}{tolerance}\right)^2
              \right\rceil,

    using that at fixed cells the null L1 quantiles, hence
    :func:`detection_limit`, scale as ``1 / sqrt(n)``.

    Parameters
    ----------
    n : int
        Observations the ``null`` was simulated for.
    null : NullDistribution
        Simulated null at ``n``.
    alpha : float
        Level of the L1 test, in (0, 1).
    tolerance : float
        L1 deviation to be detected, > 0.
    power : float, default 0.95
        Required detection probability, in (0, 1).

    Returns
    -------
    int
        The ``n`` at which ``detection_limit`` would equal ``tolerance``.
    """
    samples = check_n(n)
    if not isinstance(null, NullDistribution):
        raise TypeError(f"null must be a NullDistribution, got {type(null).__name__}")
    if samples != null.n:
        raise ValueError(f"n must be the n the null was simulated for ({null.n}), got {samples}")
    try:
        wanted = float(tolerance)
    except (TypeError, ValueError):
        raise TypeError(
            f"tolerance must be a positive number, got {type(tolerance).__name__} {tolerance!r}"
        ) from None
    if not (wanted > 0.0 and math.isfinite(wanted)):
        raise ValueError(f"tolerance must be a positive finite number, got {tolerance!r}")
    limit = detection_limit(null, alpha, power)
    return math.ceil(samples * (limit / wanted) ** 2)


# --------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------


def standardized_residuals(counts: Any, probabilities: Any) -> np.ndarray:
    r"""Per-cell residuals in units of their binomial standard deviation.

    .. math:: r_i = \frac{c_i - n p_i}{\sqrt{n p_i (1 - p_i)}}.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    ndarray of float64, shape (cells,)
        ``r_i``; NaN where ``p_i`` is 0 or 1 (no variance to scale by).
    """
    cell_probabilities = check_probabilities(probabilities)
    cell_counts = check_counts(counts, cell_probabilities.size)
    samples = float(cell_counts.sum())
    expected = samples * cell_probabilities
    variance = expected * (1.0 - cell_probabilities)
    residuals = np.full(cell_probabilities.size, np.nan)
    defined = variance > 0.0
    residuals[defined] = (cell_counts[defined] - expected[defined]) / np.sqrt(variance[defined])
    return residuals


def worst_cells(counts: Any, probabilities: Any, k: int = 5) -> list[tuple[int, float]]:
    """List the ``k`` cells with the largest standardized residuals in absolute value.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities.
    k : int, default 5
        How many cells to return (fewer if fewer have a defined residual).

    Returns
    -------
    list of (int, float)
        ``(index, residual)`` sorted by ``|residual|`` descending; cells whose
        residual is NaN (``p_i`` 0 or 1) are skipped.
    """
    if isinstance(k, (bool, np.bool_)):
        raise TypeError(f"k must be a non-negative integer, got {k!r}")
    try:
        wanted = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be a non-negative integer, got {type(k).__name__} {k!r}") from None
    if wanted < 0:
        raise ValueError(f"k must be a non-negative integer, got {wanted}")
    residuals = standardized_residuals(counts, probabilities)
    defined = np.flatnonzero(~np.isnan(residuals))
    # Stable sort: among equal |residual| the lower index comes first.
    order = defined[np.argsort(-np.abs(residuals[defined]), kind="stable")]
    return [(int(index), float(residuals[index])) for index in order[:wanted]]
