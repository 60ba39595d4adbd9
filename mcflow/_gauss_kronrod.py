"""Adaptive Gauss–Kronrod quadrature vectorized over many pieces (the scheme).

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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcflow._user_code import hide_mcflow_frames

__all__ = ["NODES", "Budget", "Integrand", "adaptive"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

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


def adaptive(
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



NODES = _NODES
