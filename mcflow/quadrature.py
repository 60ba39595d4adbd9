"""Integrals of a density over many bins, with honest errors; exact normal intervals.

:func:`integrate_bins` is adaptive Gauss–Kronrod quadrature (the 10-point
Gauss rule embedded in the 21-point Kronrod rule, QUADPACK's ``qk21``)
vectorized over all bins at once:

* Each *level* calls the pdf once, on the 21 nodes of every interval created
  at that level, whatever bin it belongs to.
* Each interval gets the Kronrod value ``K`` and the error estimate
  ``max(|K - G|, QUADPACK's scaled estimate, 50 eps K)``.  ``|K - G|`` alone is
  the Gauss rule's error, far above the Kronrod rule's for smooth integrands,
  but near a singularity the two rules converge at the same slow rate and
  ``|K - G|`` can fall below the true error; QUADPACK's
  ``resasc * min(1, (200 |K - G| / resasc)^1.5)`` covers that case.
* A bin has converged when the errors of its intervals add up to at most
  ``max(atol, rtol * |integral|)``.  This budget is per bin, not per interval:
  at an endpoint singularity the interval touching it keeps the same
  *relative* error however small it gets, so a per-interval relative test
  would never pass, while its absolute error does go to zero.
* In a bin that has not converged, the intervals with the smallest errors
  are kept as long as their errors add up to at most half the bin's
  tolerance; the others are refined.  An interval is bisected, or cut into 16
  pieces when its error fell slower than ``width^3`` since its parent (the
  algebraic convergence of a singularity or a jump), so that an endpoint
  singularity such as ``|y|^(-2/3)`` is resolved to 1e-12 in about 30 levels
  rather than a hundred and twenty bisections.

Floating point bounds what any method can do near a singularity at
``y0 != 0``: the pdf cannot be evaluated between ``y0`` and the next float, so
the mass within about a thousand ulps of ``y0`` is out of reach (e.g. ~1e-4
for ``|y - 1|^(-2/3)``), and the error estimates say so.  At ``y0 = 0`` floats
are dense and the singularity is resolved fully.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from mcflow.engine import check_normal

__all__ = ["Budget", "integrate_bins", "integrate_interval", "normal_interval_probabilities"]

Pdf = Callable[[np.ndarray], np.ndarray]
#: Integrand on the integration variable: ``(nodes, owner) -> values``, where
#: ``nodes`` has one row of rule nodes per interval and ``owner[i]`` is the
#: piece (bin) that row belongs to.
Integrand = Callable[[np.ndarray, np.ndarray], np.ndarray]

# QUADPACK qk21 on [-1, 1]: Kronrod nodes from the end inwards (the last is
# the centre); the odd-indexed ones are the 10-point Gauss nodes.
_HALF_NODES = np.array([
    0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
    0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
    0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
    0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
    0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
    0.0,
])
_HALF_KRONROD_WEIGHTS = np.array([
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
    0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
    0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077208980223631, 0.134709217311473325928054001771707,
    0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
    0.149445554002916905664936468389821,
])
_HALF_GAUSS_WEIGHTS = np.array([
    0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
    0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
    0.295524224714752870173892994651338,
])


def _full_rule() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes, Kronrod weights and Gauss weights (0 off the Gauss nodes) on [-1, 1]."""
    nodes = np.concatenate([-_HALF_NODES, _HALF_NODES[-2::-1]])
    kronrod = np.concatenate([_HALF_KRONROD_WEIGHTS, _HALF_KRONROD_WEIGHTS[-2::-1]])
    half_gauss = np.zeros(_HALF_NODES.size)
    half_gauss[1::2] = _HALF_GAUSS_WEIGHTS
    gauss = np.concatenate([half_gauss, half_gauss[-2::-1]])
    return nodes, kronrod, gauss


_NODES, _KRONROD_WEIGHTS, _GAUSS_WEIGHTS = _full_rule()

#: QUADPACK's roundoff floor on an interval's error, relative to its integral.
_ROUNDOFF = 50.0 * np.finfo(np.float64).eps
#: An interval whose error fell slower than width**_SLOW_ORDER since its
#: parent is converging algebraically (singularity, jump) ...
_SLOW_ORDER = 3.0
#: ... and is cut into this many pieces instead of two.
_MANY_PIECES = 16
#: Narrowest piece, in ulps of its position: narrower, the rule's outer nodes
#: would round onto the interval's ends (where a singular pdf is infinite).
_MIN_PIECE_ULPS = 1024.0
#: Most new intervals per level (21 pdf values each: ~22 MB of nodes).
_MAX_NEW_INTERVALS = 1 << 17


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
# The vectorized adaptive scheme, in an integration variable t
# --------------------------------------------------------------------------


def _rule(
    integrand: Integrand, lo: np.ndarray, hi: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kronrod value and error estimate of every interval ``[lo[i], hi[i]]``."""
    center = 0.5 * (lo + hi)
    half = 0.5 * (hi - lo)
    values = integrand(center[:, None] + half[:, None] * _NODES, owner)
    with np.errstate(invalid="ignore", over="ignore"):
        kronrod = (values @ _KRONROD_WEIGHTS) * half
        gauss = (values @ _GAUSS_WEIGHTS) * half
        difference = np.abs(kronrod - gauss)
        # QUADPACK's "resasc": the integral of |f - mean f|, the scale of the
        # error when the rules have not yet resolved the integrand.
        mean = 0.5 * (values @ _KRONROD_WEIGHTS)
        spread = (np.abs(values - mean[:, None]) @ _KRONROD_WEIGHTS) * half
        resolved = spread > 0.0
        ratio = 200.0 * difference / np.where(resolved, spread, 1.0)
        scaled = np.where(resolved, spread * np.minimum(1.0, ratio) ** 1.5, 0.0)
        error = np.maximum(np.maximum(difference, scaled), _ROUNDOFF * np.abs(kronrod))
    error = np.where(np.isfinite(kronrod) & np.isfinite(error), error, np.inf)
    return kronrod, error


def _refinement(
    lo: np.ndarray,
    hi: np.ndarray,
    owner: np.ndarray,
    value: np.ndarray,
    error: np.ndarray,
    slow_threshold: np.ndarray,
    tolerance: np.ndarray,
    converged: np.ndarray,
) -> np.ndarray:
    """Pieces to cut each interval into (0: keep it as it is)."""
    bin_tolerance = tolerance[owner]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(bin_tolerance > 0.0, error / bin_tolerance, np.inf)
    # Greedy split per bin: keep the smallest errors while they add up to at
    # most half the tolerance.  Shares are capped at 1 (anything above 0.5 is
    # refined anyway) so the running sum over all bins stays small and the
    # per-bin differences below keep their digits.
    capped = np.minimum(share, 1.0)
    order = np.lexsort((capped, owner))
    sorted_owner = owner[order]
    running = np.cumsum(capped[order])
    group_start = np.searchsorted(sorted_owner, sorted_owner, side="left")
    before = np.where(group_start > 0, running[np.maximum(group_start - 1, 0)], 0.0)
    over_budget = np.empty(owner.size, dtype=bool)
    over_budget[order] = (running - before) > 0.5
    at_roundoff = np.isfinite(error) & (error <= _ROUNDOFF * np.abs(value))
    wanted = over_budget & ~converged[owner] & ~at_roundoff

    slow = np.isfinite(error) & (error > slow_threshold)
    pieces = np.where(slow, _MANY_PIECES, 2)
    width = hi - lo
    resolution = _MIN_PIECE_ULPS * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))
    pieces = np.where(width / pieces >= resolution, pieces, 2)
    return np.where(wanted & (width / 2.0 >= resolution), pieces, 0)


def _limit_new_intervals(pieces: np.ndarray, error: np.ndarray, owner: np.ndarray,
                         tolerance: np.ndarray) -> np.ndarray:
    """Refine only the worst intervals if the level would create too many."""
    if pieces.sum() <= _MAX_NEW_INTERVALS:
        return pieces
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tolerance[owner] > 0.0, error / tolerance[owner], np.inf)
    priority = np.argsort(-share, kind="stable")
    within_budget = priority[np.cumsum(pieces[priority]) <= _MAX_NEW_INTERVALS]
    limited = np.zeros_like(pieces)
    limited[within_budget] = pieces[within_budget]
    return limited


def _cut(
    lo: np.ndarray, hi: np.ndarray, pieces: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut each ``[lo[i], hi[i]]`` into ``pieces`` equal parts that tile it exactly."""
    fractions = np.arange(pieces + 1) / pieces
    points = lo[:, None] + (hi - lo)[:, None] * fractions
    points[:, 0] = lo
    points[:, -1] = hi
    return points[:, :-1].ravel(), points[:, 1:].ravel()


@dataclass
class Budget:
    """How much refinement a caller can afford, and what accuracy it really needs.

    Refinement aims at ``max(atol, rtol |I|)`` per piece.  Once ``soft``
    integrand values have been spent, a piece also counts as converged at
    ``needed(|I|)`` (the accuracy the caller's test can resolve); at ``hard``
    values refinement stops.  ``evaluations`` counts what was spent.
    """

    soft: int
    hard: int
    needed: Callable[[np.ndarray], np.ndarray]
    evaluations: int = 0


def _adaptive(
    integrand: Integrand,
    piece_lo: np.ndarray,
    piece_hi: np.ndarray,
    rtol: float,
    atol: float,
    max_levels: int,
    budget: Budget | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate ``integrand`` over each ``[piece_lo[i], piece_hi[i]]``; see the module doc."""
    spent = budget if budget is not None else Budget(2**62, 2**62, np.zeros_like)
    bins = piece_lo.size
    integrals = np.zeros(bins)
    errors = np.zeros(bins)
    # The pool: intervals of the pieces (bins) still being refined.
    lo, hi = piece_lo.copy(), piece_hi.copy()
    owner = np.arange(bins)
    slow_threshold = np.full(bins, np.inf)
    value, error = _rule(integrand, lo, hi, owner)
    spent.evaluations += lo.size * _NODES.size
    for level in range(max_levels + 1):
        finite_value = np.where(np.isfinite(value), value, 0.0)
        estimate = np.bincount(owner, weights=finite_value, minlength=bins)
        total_error = np.bincount(owner, weights=error, minlength=bins)
        tolerance = np.maximum(atol, rtol * np.abs(estimate))
        if spent.evaluations >= spent.soft:
            tolerance = np.maximum(tolerance, spent.needed(np.abs(estimate)))
        converged = total_error <= tolerance
        if level < max_levels and spent.evaluations < spent.hard:
            wanted = _refinement(lo, hi, owner, value, error, slow_threshold, tolerance,
                                 converged)
        else:
            wanted = np.zeros(owner.size, dtype=np.int64)
        # A bin is done when it converged or nothing in it can be refined
        # (last level, roundoff floor, float resolution): report what it has.
        refining = np.bincount(owner[wanted > 0], minlength=bins) > 0
        done = (np.bincount(owner, minlength=bins) > 0) & ~refining
        integrals[done] = estimate[done]
        errors[done] = total_error[done]
        if not refining.any():
            break
        pieces = _limit_new_intervals(wanted, error, owner, tolerance)
        keep = refining[owner] & (pieces == 0)
        parts: list[tuple[np.ndarray, ...]] = []
        for count in (2, _MANY_PIECES):
            chosen = pieces == count
            if chosen.any():
                cut_lo, cut_hi = _cut(lo[chosen], hi[chosen], count)
                # A piece is "slow" if its error will exceed its parent's
                # scaled by (width ratio)**_SLOW_ORDER.
                threshold = np.repeat(error[chosen] * float(count) ** -_SLOW_ORDER, count)
                parts.append((cut_lo, cut_hi, np.repeat(owner[chosen], count), threshold))
        fresh_lo, fresh_hi, fresh_owner, fresh_threshold = (
            np.concatenate(columns) for columns in zip(*parts, strict=True)
        )
        fresh_value, fresh_error = _rule(integrand, fresh_lo, fresh_hi, fresh_owner)
        spent.evaluations += fresh_lo.size * _NODES.size
        lo = np.concatenate([lo[keep], fresh_lo])
        hi = np.concatenate([hi[keep], fresh_hi])
        owner = np.concatenate([owner[keep], fresh_owner])
        value = np.concatenate([value[keep], fresh_value])
        error = np.concatenate([error[keep], fresh_error])
        slow_threshold = np.concatenate([slow_threshold[keep], fresh_threshold])
    return integrals, errors


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
    return _adaptive(
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
    integrals, errors = _adaptive(
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
