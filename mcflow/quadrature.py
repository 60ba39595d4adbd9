"""Integrals of a density over many bins, with honest errors; exact normal intervals.

:func:`integrate_bins` and :func:`integrate_interval` are adaptive
Gauss–Kronrod quadrature (QUADPACK's ``qk21``) vectorized over all bins at
once; the scheme, its error estimates and its refinement rules are described
in :mod:`mcflow._gauss_kronrod`.  :func:`normal_interval_probabilities` gives
exact normal masses without cancellation in either tail.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import ndtr

from mcflow._checks import check_normal
from mcflow._gauss_kronrod import Budget, Integrand, adaptive
from mcflow._user_code import hide_mcflow_frames

__all__ = ["Budget", "integrate_bins", "integrate_interval", "normal_interval_probabilities"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

Pdf = Callable[[np.ndarray], np.ndarray]

# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _check_pdf(pdf: Any) -> Pdf:
    if not callable(pdf):
        raise TypeError(f"pdf must be callable, got {type(pdf).__name__} {pdf!r}")
    return pdf


def _check_edges(edges: Any) -> np.ndarray:
    values = np.asarray(edges, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            f"edges must be a 1-d array of at least 2 values, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(
            f"edges must be finite, got {values[bad]} at index {bad}; "
            "use integrate_interval for an infinite interval"
        )
    steps = np.diff(values)
    if np.any(steps <= 0.0):
        bad = int(np.flatnonzero(steps <= 0.0)[0])
        raise ValueError(
            f"edges must be strictly increasing, got edges[{bad}] = {values[bad]} and "
            f"edges[{bad + 1}] = {values[bad + 1]}"
        )
    return values


def _check_tolerances(rtol: Any, atol: Any, max_levels: Any) -> tuple[float, float, int]:
    numbers = []
    for parameter, value in (("rtol", rtol), ("atol", atol)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{parameter} must be a non-negative number, got {type(value).__name__} {value!r}"
            ) from None
        if not (number >= 0.0 and math.isfinite(number)):
            raise ValueError(f"{parameter} must be a finite number >= 0, got {value!r}")
        numbers.append(number)
    if numbers[0] == 0.0 and numbers[1] == 0.0:
        raise ValueError("rtol and atol cannot both be 0")
    if isinstance(max_levels, (bool, np.bool_)):
        raise TypeError(f"max_levels must be a non-negative integer, got {max_levels!r}")
    try:
        levels = operator.index(max_levels)
    except TypeError:
        raise TypeError(
            f"max_levels must be a non-negative integer, got {type(max_levels).__name__} "
            f"{max_levels!r}"
        ) from None
    if levels < 0:
        raise ValueError(f"max_levels must be a non-negative integer, got {levels}")
    return numbers[0], numbers[1], levels


def _evaluate_pdf(pdf: Pdf, y: np.ndarray) -> np.ndarray:
    """Call the user's pdf on ``y`` and insist on a density's values."""
    # An integrable singularity may sit exactly on a node (the centre of a
    # symmetric bin): the pdf's divide-by-zero there is expected, and the inf
    # it returns is refined away, so its floating-point warnings are muted.
    with np.errstate(all="ignore"):
        values = np.asarray(pdf(y), dtype=np.float64)
    if values.shape != y.shape:
        raise ValueError(
            f"pdf must return an array of its input's shape {y.shape}, got shape {values.shape}"
        )
    invalid = ~(values >= 0.0)  # negative or NaN
    if np.any(invalid):
        # Report the leftmost offending point: reproducible, and easy to look at.
        candidates = np.flatnonzero(invalid.ravel())
        first = candidates[np.argmin(y.ravel()[candidates])]
        raise ValueError(
            f"pdf returned {float(values.ravel()[first])!r} at y = {float(y.ravel()[first])!r}; "
            "a density must be >= 0"
        )
    return values


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def integrate_bins(
    pdf: Pdf,
    edges: Any,
    *,
    rtol: float = 1e-12,
    atol: float = 0.0,
    max_levels: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Integrate a density over every bin, with per-bin error estimates.

    .. math:: I_i = \int_{e_i}^{e_{i+1}} p(y)\, dy

    by adaptive Gauss–Kronrod (G10/K21), vectorized over all bins: one pdf
    call per refinement level, on all intervals of all bins (see the module
    docstring).  Integrable singularities at an edge or inside a bin, such as
    ``|y|^(-2/3)`` (X**3) or ``y^(-1/2)`` (chi-square(1)) at 0, converge.

    Parameters
    ----------
    pdf : callable
        Vectorized density: takes a float64 ndarray of any shape and returns
        an array of the same shape, >= 0 (``+inf`` is allowed at isolated
        points).  Floating-point warnings inside it are silenced.
    edges : array_like of float, shape (bins + 1,)
        Finite, strictly increasing bin edges.
    rtol, atol : float
        A bin is converged when its error estimate is at most
        ``max(atol, rtol * |I_i|)``.  Below ~1e-14 the roundoff floor of the
        error estimate (50 eps per interval) makes ``rtol`` unreachable.
    max_levels : int
        Refinement levels at most.  A bin not converged by then is returned
        with its best estimate and its (large) error estimate; no exception.

    Returns
    -------
    integrals : ndarray of float64, shape (bins,)
        Kronrod estimates of ``I_i``.
    errors : ndarray of float64, shape (bins,)
        Error estimates, conservative (Gauss–Kronrod difference or QUADPACK's
        scaled estimate, whichever is larger).  ``inf`` where the pdf stayed
        infinite at a node that could not be refined away; the integral then
        omits that interval.  They bound the quadrature error, not the pdf's
        own rounding (``exp(-y**2 / 2)`` carries a relative error of about
        ``y**2 eps``, which exceeds the 50 eps floor beyond ``|y| ~ 8``).

    Raises
    ------
    ValueError
        If the pdf returns NaN or a negative value (the message names the
        leftmost such ``y``), or an array of the wrong shape.
    """
    density = _check_pdf(pdf)
    bin_edges = _check_edges(edges)
    rtol, atol, max_levels = _check_tolerances(rtol, atol, max_levels)
    return adaptive(
        lambda y, _owner: _evaluate_pdf(density, y),
        bin_edges[:-1],
        bin_edges[1:],
        rtol,
        atol,
        max_levels,
    )


def _pieces_integrand(
    density: Pdf, tail: np.ndarray, anchor: np.ndarray, reach: np.ndarray
) -> Integrand:
    """Integrand over the pieces of an interval with infinite ends.

    A direct piece integrates in ``y`` itself.  A tail piece ``i`` covers the
    ray beyond ``anchor[i]`` with ``y = anchor[i] + reach[i] / s``, ``s in (0, 1]``,
    ``dy = |reach[i]| / s^2 ds``: the infinite end sits at ``s = 0``, where
    floats are dense, so a density's mass at any large scale is resolved.
    """
    largest = np.finfo(np.float64).max

    def integrand(t: np.ndarray, owner: np.ndarray) -> np.ndarray:
        in_tail = tail[owner][:, None]
        with np.errstate(divide="ignore", over="ignore"):
            offset = reach[owner][:, None] / t
            jacobian = np.where(in_tail, np.abs(offset) / t, 1.0)
            # Clipped so that an s refined to a denormal still gives a finite y.
            y = np.where(in_tail, np.clip(anchor[owner][:, None] + offset, -largest, largest), t)
        values = _evaluate_pdf(density, y)
        # 0 * inf (a vanishing tail at a tiny s) is 0, not NaN.
        return np.where(values > 0.0, values * jacobian, 0.0)

    return integrand


def _pieces(lower: float, upper: float) -> tuple[np.ndarray, ...]:
    """Direct and tail pieces of an interval with at least one infinite end.

    Returns ``(lo, hi, tail, anchor, reach)``, one entry per piece.
    """
    if math.isfinite(lower):  # [lower, inf): direct [lower, lower + c], tail beyond
        reach = max(1.0, abs(lower))
        split = lower + reach
        return (
            np.array([lower, 0.0]), np.array([split, 1.0]), np.array([False, True]),
            np.array([0.0, lower]), np.array([0.0, reach]),
        )
    if math.isfinite(upper):  # (-inf, upper]: tail below upper - c, direct above
        reach = max(1.0, abs(upper))
        split = upper - reach
        return (
            np.array([0.0, split]), np.array([1.0, upper]), np.array([True, False]),
            np.array([upper, 0.0]), np.array([-reach, 0.0]),
        )
    # The whole line: tails beyond -1 and 1, direct pieces [-1, 0] and [0, 1]
    # (0 as an edge: densities of symmetric transforms are often singular there).
    return (
        np.array([0.0, -1.0, 0.0, 0.0]), np.array([1.0, 0.0, 1.0, 1.0]),
        np.array([True, False, False, True]),
        np.array([0.0, 0.0, 0.0, 0.0]), np.array([-1.0, 0.0, 0.0, 1.0]),
    )


def integrate_interval(
    pdf: Pdf,
    lo: float,
    hi: float,
    *,
    rtol: float = 1e-12,
    atol: float = 0.0,
    max_levels: int = 60,
) -> tuple[float, float]:
    r"""Integrate a density over one interval whose ends may be infinite.

    .. math:: I = \int_{lo}^{hi} p(y)\, dy

    A finite interval is one bin of :func:`integrate_bins`.  An infinite one
    is cut into pieces integrated together by the same vectorized scheme:
    direct pieces in ``y`` near the finite end (``[lo, lo + c]`` with
    ``c = max(1, |lo|)``; ``[-1, 0]`` and ``[0, 1]`` for the whole line), and
    tail pieces mapped onto ``s in (0, 1]``:

    .. math:: \int_{a + c}^{\infty} p(y)\, dy
              = \int_0^1 p\!\left(a + \frac{c}{s}\right) \frac{c}{s^2}\, ds,

    and its mirror image below ``hi - c`` (``a = 0``, ``c = 1`` on each side of
    the whole line).  The infinite end sits at ``s = 0``, where floats are
    dense, so mass at any large scale is resolved; the nodes are interior, so
    ``y = inf`` is never evaluated.  Like any quadrature that only samples the
    pdf, it cannot see a peak much narrower than the spacing of the first
    nodes (about 1e-3 of a piece's width).

    Parameters
    ----------
    pdf : callable
        Vectorized density, as for :func:`integrate_bins`.
    lo, hi : float
        Ends, ``lo < hi``; ``lo`` may be ``-inf`` and ``hi`` ``+inf``.
    rtol, atol, max_levels
        As for :func:`integrate_bins`.

    Returns
    -------
    value : float
        Estimate of ``I``.
    error : float
        Its error estimate.
    """
    density = _check_pdf(pdf)
    lower, upper = float(lo), float(hi)
    if math.isnan(lower) or math.isnan(upper) or not lower < upper:
        raise ValueError(f"lo must be < hi, got lo = {lo!r}, hi = {hi!r}")
    rtol, atol, max_levels = _check_tolerances(rtol, atol, max_levels)
    if math.isfinite(lower) and math.isfinite(upper):
        integrals, errors = integrate_bins(
            density, [lower, upper], rtol=rtol, atol=atol, max_levels=max_levels
        )
        return float(integrals[0]), float(errors[0])
    piece_lo, piece_hi, tail, anchor, reach = _pieces(lower, upper)
    integrand = _pieces_integrand(density, tail, anchor, reach)
    # Each piece gets an equal share of the absolute tolerance.
    integrals, errors = adaptive(
        integrand, piece_lo, piece_hi, rtol, atol / piece_lo.size, max_levels
    )
    return math.fsum(integrals), math.fsum(errors)


def normal_interval_probabilities(
    lower: Any, upper: Any, mu: float = 0.0, sigma: float = 1.0
) -> np.ndarray:
    r"""Probability that X ~ N(mu, sigma) falls between ``lower`` and ``upper``.

    .. math:: P = \Phi(b) - \Phi(a) = \Phi(-a) - \Phi(-b),\quad
              a = \frac{\min(l, u) - \mu}{\sigma},\ b = \frac{\max(l, u) - \mu}{\sigma},

    taking the second form when ``a > 0`` so that both terms are small upper
    tails: no cancellation against 1 in either tail.  Relative accuracy is
    that of :func:`scipy.special.ndtr` (about ``z^2 eps``: ~6e-14 at 30 sigma)
    plus the cancellation of a difference, ``eps * Phi(-|a|) / P``, which only
    matters for bins much narrower than ``1 / |a|``.

    Parameters
    ----------
    lower, upper : array_like of float
        Interval ends, broadcast together; ``lower > upper`` is read as the
        interval ``[upper, lower]`` (decreasing transforms reverse x-edges),
        and either may be infinite.
    mu, sigma : float
        Parameters of X.

    Returns
    -------
    ndarray of float64
        The probabilities, in the broadcast shape; NaN where an end is NaN.
    """
    mean, scale = check_normal(mu, sigma)
    a = (np.asarray(lower, dtype=np.float64) - mean) / scale
    b = (np.asarray(upper, dtype=np.float64) - mean) / scale
    start, stop = np.minimum(a, b), np.maximum(a, b)
    with np.errstate(invalid="ignore"):
        upper_side = start > 0.0
        probabilities = np.where(
            upper_side, ndtr(-start) - ndtr(-stop), ndtr(stop) - ndtr(start)
        )
    return np.asarray(probabilities, dtype=np.float64)
