"""Analytic density of Y = T(X), X ~ N(mu, sigma), by the change of variables.

Two routes to the same number (the seed document's equations)::

    Eq. (5):  p_Y(y) = p_X(T^-1(y)) |dT^-1/dy (y)|
    Eq. (4):  p_Y(y) = p_X(x) / |dT/dx (x)|,   x = T^-1(y)

Both are evaluated in log space, ``log p_X(x) +- log|J|``, and exponentiated
once, so densities far in the tails neither underflow early nor lose digits.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from mcflow._checks import check_normal
from mcflow._user_code import hide_mcflow_frames
from mcflow.engine import check_transform
from mcflow.transform import Transform

__all__ = ["density", "log_density"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
Method = Literal["inverse", "forward", "eq5", "eq4"]
#: The seed document's equation numbers, kept as aliases.
_ALIASES = {"eq5": "inverse", "eq4": "forward"}


def log_density(
    transform: Transform,
    y: np.ndarray | float,
    mu: float = 0.0,
    sigma: float = 1.0,
    *,
    method: Method = "inverse",
) -> np.ndarray:
    """Log of the analytic density of Y = T(X) at ``y``; ``-inf`` outside the support.

    Parameters
    ----------
    transform : Transform
        Needs an inverse and a log-Jacobian (every built-in has both).
    y : array_like
        Points to evaluate at (any shape).
    mu, sigma : float
        Parameters of X ~ N(mu, sigma).
    method : {"inverse", "forward"}
        ``"inverse"`` (the seed's Eq. 5): ``log p_X(T^-1(y)) + log|dT^-1/dy|``;
        ``"forward"`` (Eq. 4): ``log p_X(x) - log|dT/dx|`` at ``x = T^-1(y)``.
        ``"eq5"`` and ``"eq4"`` are aliases.

    Returns
    -------
    ndarray of float64
        Same shape as ``y``.  NaN where ``y`` is NaN.
    """
    transform = check_transform(transform)
    mu, sigma = check_normal(mu, sigma)
    method = _ALIASES.get(method, method)  # type: ignore[assignment]
    if method not in ("inverse", "forward"):
        raise ValueError(f"method must be 'inverse' or 'forward', got {method!r}")
    if not transform.has_density:
        raise ValueError(
            f"transform {transform.name!r} has no inverse and log_abs_det_jacobian, so its "
            "density cannot be derived; pass them to mcflow.Transform, or give the "
            "validator an explicit pdf"
        )
    values = np.asarray(y, dtype=np.float64)
    lo, hi = transform.support
    inside = (values > lo) & (values < hi)
    # The boundary of a closed-looking support (y == lo == 0 for exp) has
    # density 0; infinite ends are never inside.
    out = np.full(values.shape, -np.inf)
    out[np.isnan(values)] = np.nan
    points = values[inside]
    with np.errstate(all="ignore"):
        x = transform.inverse_array(points)
        z = (x - mu) / sigma
        log_px = -0.5 * z * z - math.log(sigma) - _HALF_LOG_2PI
        if method == "inverse":
            result = log_px + transform.inverse_log_abs_det_array(points)
        else:
            result = log_px - transform.log_abs_det_array(x)
    out[inside] = result
    return out


def density(
    transform: Transform,
    y: np.ndarray | float,
    mu: float = 0.0,
    sigma: float = 1.0,
    *,
    method: Method = "inverse",
) -> np.ndarray:
    """Analytic density p_Y of Y = T(X), X ~ N(mu, sigma), at ``y``.

    ``p_Y(y) = p_X(T^-1(y)) |dT^-1/dy (y)| = p_X(x) / |dT/dx (x)|`` at
    ``x = T^-1(y)`` (the seed's Eq. 5 and Eq. 4); zero outside the support.

    Parameters
    ----------
    transform : Transform
        Needs an inverse and a log-Jacobian.
    y : array_like
        Points to evaluate at.
    mu, sigma : float
        Parameters of X.
    method : {"inverse", "forward"}
        Which form of the change of variables to evaluate (``"eq5"``/``"eq4"`` alias them).

    Returns
    -------
    ndarray of float64

    See Also
    --------
    log_density : the same in log space.
    scipy.stats.lognorm : ``density(Exp(), y, mu, sigma)`` equals
        ``lognorm.pdf(y, s=sigma, scale=exp(mu))``.

    Examples
    --------
    >>> import mcflow
    >>> float(mcflow.density(mcflow.transforms.Exp(), 1.0))  # 1/sqrt(2 pi)
    0.3989422804014327
    """
    with np.errstate(over="ignore"):
        return np.exp(log_density(transform, y, mu, sigma, method=method))
