"""Every float64 rule about the ends of a support, as pure functions.

The sampler computes ``fl(T(x))``, not ``T(x)``.  Near a finite end of the
support (tanh's 1) float64 runs out of values: every x beyond about 19.06
gives exactly ``1.0``, and a claimed density evaluated within a few ulps of
the end is noise.  Towards infinity, ``exp(x)`` overflows to ``inf`` for
``x > 709.78``.  The validator therefore

* integrates the claimed p_Y only up to :func:`cutoffs` (``MIN_BIN_ULPS``
  floats inside a finite end, a quarter of the largest float towards
  infinity, so quadrature midpoints cannot overflow);
* with an inverse, takes the exact mass of what lies beyond the cut-offs, and
  moves the mass that float64 rounds exactly onto a finite end to the cell
  that counts the end (:func:`relocate_rounded`, :func:`rounded_onto_end`,
  found by bisection on the float64 forward map itself);
* without an inverse, leaves what lies beyond float64 to the non-finite cell.
"""

from __future__ import annotations

import math

import numpy as np

from mcflow._user_code import hide_mcflow_frames
from mcflow.quadrature import normal_interval_probabilities
from mcflow.transform import Transform

__all__ = ["LARGEST", "cell_of", "cutoffs", "inverse_points", "relocate_rounded",
           "rounded_onto_end"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

LARGEST = float(np.finfo(np.float64).max)


def cell_of(value: float, edges: np.ndarray) -> int:
    """Index in ``[underflow, bins..., overflow]`` of the cell the kernel counts ``value`` in."""
    if value < edges[0]:
        return 0
    if value >= edges[-1]:
        return int(edges.size)
    return int(np.searchsorted(edges, value, side="right"))


def cutoffs(support: tuple[float, float], ulps: float) -> tuple[float, float]:
    """Where float64 stops resolving Y near each end of the support.

    ``ulps`` floats inside a finite end; towards infinity a quarter of the
    largest float.
    """
    lo, hi = support
    cut_lo = lo + ulps * float(np.spacing(abs(lo))) if math.isfinite(lo) else -LARGEST / 4
    cut_hi = hi - ulps * float(np.spacing(abs(hi))) if math.isfinite(hi) else LARGEST / 4
    return cut_lo, cut_hi


def inverse_points(transform: Transform, points: np.ndarray) -> np.ndarray:
    """T^-1 at points of the support (a new array).

    At an end of the support the inverse is only asked once, and where it
    raises or gives NaN there (``y / (1 - |y|)`` at 1) the end maps to the end
    of the line it comes from, by T's orientation.
    """
    lo, hi = transform.support
    at_end = (points <= lo) | (points >= hi)
    x = np.full(points.shape, np.nan)
    with np.errstate(all="ignore"):
        x[~at_end] = transform.inverse_array(points[~at_end])
        for end in (lo, hi):
            chosen = points == end
            if np.any(chosen):
                x[chosen] = _inverse_at_end(transform, end)
    if np.any(np.isnan(x)):
        bad = points[np.isnan(x)][0]
        raise ValueError(
            f"transform {transform.name!r}: inverse({bad}) is NaN inside the support "
            f"{transform.support}; check the inverse, or declare support=(lo, hi)"
        )
    return x


def _inverse_at_end(transform: Transform, end: float) -> float:
    try:
        value = float(transform.inverse_array(np.array([end]))[0])
    except Exception:
        # (1 / (1 - |y|) at 1, nflows' InputOutsideDomain, a bisection that cannot bracket inf)
        value = math.nan
    if not math.isnan(value):
        return value
    lo, hi = transform.support
    if math.isfinite(lo) and math.isfinite(hi):
        probes = (lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo))
    elif math.isfinite(lo):
        probes = (lo + 1.0, lo + 2.0)
    elif math.isfinite(hi):
        probes = (hi - 2.0, hi - 1.0)
    else:
        probes = (-1.0, 1.0)
    low, high = transform.inverse_array(np.array(probes))
    increasing = not high < low
    return math.inf if (end == hi) == increasing else -math.inf


def _forward_at(transform: Transform, x: float) -> float:
    with np.errstate(all="ignore"):
        return float(transform.forward_array(np.array([x]))[0])


def rounded_onto_end(transform: Transform, end: float, mu: float, sigma: float) -> float:
    """P(fl(T(X)) == end) for a finite support end that T saturates onto in float64."""
    is_upper = end >= transform.support[1]
    inner = float(np.nextafter(end, -np.inf if is_upper else np.inf))
    start = float(inverse_points(transform, np.array([inner]))[0])
    if not math.isfinite(start):
        return 0.0
    step = 1e-3 * max(1.0, abs(start))
    ahead = abs(_forward_at(transform, start + step) - end)
    behind = abs(_forward_at(transform, start - step) - end)
    outward = 1.0 if ahead <= behind else -1.0
    near, far = start, start + outward * 64.0 * max(1.0, abs(start), sigma)
    if _forward_at(transform, far) != end:
        return 0.0  # no rounding onto the end within reach: nothing to move
    for _ in range(200):  # bisection on float64 x; ends when the interval is one ulp
        middle = 0.5 * (near + far)
        if middle in (near, far):
            break
        if _forward_at(transform, middle) == end:
            far = middle
        else:
            near = middle
    lower, upper = (far, np.inf) if outward > 0 else (-np.inf, far)
    return float(normal_interval_probabilities(np.array([lower]), np.array([upper]),
                                               mu, sigma)[0])


def relocate_rounded(masses: np.ndarray, transform: Transform, edges: np.ndarray, mu: float,
                     sigma: float) -> np.ndarray:
    """Return ``masses`` with what float64 rounds onto a finite end moved to the end's cell."""
    moved_masses = masses.copy()
    lo, hi = transform.support
    for end, inward in ((lo, np.inf), (hi, -np.inf)):
        if not math.isfinite(end):
            continue
        source = cell_of(float(np.nextafter(end, inward)), edges)
        target = cell_of(end, edges)
        if source != target:
            moved = min(rounded_onto_end(transform, end, mu, sigma), moved_masses[source])
            moved_masses[source] -= moved
            moved_masses[target] += moved
    return moved_masses
