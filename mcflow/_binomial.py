r"""Exact binomial draws for :mod:`mcflow._multinomial`, one lane of a group at a time or all.

Each binomial is exact: inversion of the CDF (NumPy's method, with a restart
beyond ``mean + 10 sd``) when ``n min(p, 1 - p) < 10``, else Hormann's BTRS
transformed rejection with squeeze (W. Hormann, "The generation of binomial
random variates", J. Statist. Comput. Simul. 46, 1993), the sampler of
TensorFlow's and JAX's binomials; ``p > 1/2`` draws the complement.  BTRS
accepts 79-86% of draws by its squeeze; the rest compare ``log v`` against
``log f(k) / f(m)`` written with Stirling's series, whose tail is tabulated
from ``lgamma`` below 10 and summed to ``x^-7`` above (error ``< 1/(1188 x^9)
< 4e-13``).  The logarithms are :func:`mcflow._maths.log`'s (<= 4 ulp), and
the reciprocals come two from one division (3 ulp): float64 rounding moves the
log-ratio by about ``(n + k) 2^-50`` (``1e-7`` at ``n = 1e8``), so the sampled
law differs from the binomial by that relative amount on the ~20% of draws
that reach the test, far below the ``1e-3`` a null of ``R <= 1e5`` replicates
resolves.

Every draw takes its uniforms from its own lane of a group's xoshiro256** state
(word ``w`` of lane ``l`` at ``w LANES + l``), so a replicate's numbers never
depend on the other lanes.  :func:`squeezed_draws` and :func:`full_tests` are
the branch-free loops over many lanes (they vectorize); :func:`inversion` and
:func:`btrs_finish` finish one lane.
"""

from __future__ import annotations

import math

import numpy as np

from mcflow import _maths
from mcflow._numba import jit
from mcflow._rng import _next
from mcflow._row_statistics import LANES

__all__ = ["INVERSION_BELOW", "btrs_finish", "full_tests", "inversion", "lane_uniform",
           "squeezed_draws"]

#: Below this mean of the smaller side, inversion; at and above, BTRS (Hormann's bound).
INVERSION_BELOW = 10.0
_TWO_POW_M52 = 2.0**-52


def _stirling_tails() -> np.ndarray:
    """``log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2]`` for k = 0..9."""
    return np.array([math.lgamma(k + 1.0) - (0.5 * math.log(2.0 * math.pi)
                                             + (k + 0.5) * math.log(k + 1.0) - (k + 1.0))
                     for k in range(10)])


_STIRLING_TAILS = _stirling_tails()


@jit
def _series_tail(inverse):  # pragma: no cover
    """Stirling's series for the tail at ``k >= 10`` from ``inverse = 1 / (k + 1)``.

    Error ``< 1/(1188 (k+1)^9)``; the coefficients are multiplied, not divided by
    (a division costs ten multiplications in a vector loop).
    """
    square = inverse * inverse
    return inverse * (1.0 / 12.0 - square * (1.0 / 360.0 - square * (
        1.0 / 1260.0 - square * (1.0 / 1680.0))))


@jit
def _stirling_tail(k):  # pragma: no cover
    return _STIRLING_TAILS[int(k)] if k <= 9.0 else _series_tail(1.0 / (k + 1.0))


@jit
def _hat(count, p, u, v):  # pragma: no cover
    """BTRS's hat at ``(u, v)``: ``(spread, b, 1 / b, a, 0.5 - |u|, k, squeezed)``.

    The one expression of the candidate ``k`` and the squeeze for the vector and
    the scalar paths, so both take the same decision on the same pair.
    """
    spread = math.sqrt(count * p * (1.0 - p))
    b = 1.15 + 2.53 * spread
    inverse_b = 1.0 / b
    a = -0.0873 + 0.0248 * b + 0.01 * p
    distance = 0.5 - abs(u)
    k = np.floor((2.0 * a / distance + b) * u + count * p + 0.5)
    squeezed = (distance >= 0.07) & (v <= 0.92 - 4.2 * inverse_b)
    return spread, b, inverse_b, a, distance, k, squeezed


@jit
def _unit_open(word):  # pragma: no cover
    """Return a uniform in the open interval (0, 1): a word's top 52 bits plus half a step."""
    return (float(np.int64(word >> np.uint64(12))) + 0.5) * _TWO_POW_M52


@jit
def lane_uniform(state, lane):  # pragma: no cover
    """Step lane ``lane`` of a group's state (word ``w`` of lane ``l`` at ``w LANES + l``)."""
    word, s0, s1, s2, s3 = _next(state[lane], state[LANES + lane], state[2 * LANES + lane],
                                 state[3 * LANES + lane])
    state[lane] = s0
    state[LANES + lane] = s1
    state[2 * LANES + lane] = s2
    state[3 * LANES + lane] = s3
    return _unit_open(word)


@jit
def inversion(n, p, state, lane):  # pragma: no cover
    """Binomial(n, p) by sequential search of the CDF, for ``n p < 10`` and ``p <= 1/2``."""
    q = 1.0 - p
    mean = n * p
    first_mass = math.exp(n * math.log1p(-p))  # >= e^-14 here: no underflow
    bound = min(float(n), mean + 10.0 * math.sqrt(mean * q + 1.0))
    odds = p / q
    while True:
        k = 0
        mass = first_mass
        u = lane_uniform(state, lane)
        while u > mass:
            k += 1
            if k > bound:
                break
            u -= mass
            mass *= (n - k + 1) * odds / k
        if k <= bound:
            return np.int64(k)


@jit
def btrs_finish(n, p, u, v, state, lane):  # pragma: no cover
    """Finish Hormann's BTRS (``n p >= 10``, ``p <= 1/2``) from a pair the squeeze missed.

    Tests ``(u, v)`` against ``log f(k) / f(mode)`` and, on rejection, draws fresh
    pairs from the lane's generator until one is accepted (the BTRS loop itself).
    """
    count = float(n)
    odds = p / (1.0 - p)
    mode = math.floor((count + 1.0) * p)
    log_mode_terms = ((mode + 0.5) * math.log((mode + 1.0) / (odds * (count - mode + 1.0)))
                      + _stirling_tail(mode) + _stirling_tail(count - mode))
    while True:
        spread, b, inverse_b, a, distance, k, squeezed = _hat(count, p, u, v)
        if squeezed:
            return np.int64(k)
        if 0.0 <= k <= count:
            alpha = (2.83 + 5.1 * inverse_b) * spread
            square = distance * distance
            log_v = math.log(v * alpha * square / (a + b * square))
            # log f(k) / f(mode) by Stirling's series
            log_ratio = (log_mode_terms
                         + (count + 1.0) * math.log1p((k - mode) / (count - k + 1.0))
                         + (k + 0.5) * math.log(odds * (count - k + 1.0) / (k + 1.0))
                         - _stirling_tail(k) - _stirling_tail(count - k))
            if log_v <= log_ratio:
                return np.int64(k)
        u = lane_uniform(state, lane) - 0.5
        v = lane_uniform(state, lane)


@jit
def squeezed_draws(remaining, p, state, draws, pairs, accepted):  # pragma: no cover
    """BTRS's first pair and squeeze for every lane at once, branch-free (vectorizes).

    Every lane steps its generator twice per cell whatever happens next, so a
    replicate's numbers never depend on the other lanes.
    """
    s0 = state[0:LANES]
    s1 = state[LANES:2 * LANES]
    s2 = state[2 * LANES:3 * LANES]
    s3 = state[3 * LANES:4 * LANES]
    for lane in range(LANES):
        first, a0, a1, a2, a3 = _next(s0[lane], s1[lane], s2[lane], s3[lane])
        second, a0, a1, a2, a3 = _next(a0, a1, a2, a3)
        s0[lane] = a0
        s1[lane] = a1
        s2[lane] = a2
        s3[lane] = a3
        count = float(remaining[lane])
        u = _unit_open(first) - 0.5
        v = _unit_open(second)
        k, squeezed = _hat(count, p, u, v)[5:]
        draws[lane] = k
        pairs[lane] = u
        pairs[LANES + lane] = v
        # 1: the squeeze accepts; 0: BTRS's full test decides; 2: inversion's regime
        btrs = count * p >= INVERSION_BELOW
        accepted[lane] = np.uint8(btrs & squeezed) + np.uint8(2) * np.uint8(not btrs)


@jit
def full_tests(pending, p, remaining_c, u_c, v_c, draws_c, verdicts, work):  # pragma: no cover
    """BTRS's squeeze and full test of ``pending`` compacted pairs at once (vectorizes).

    ``verdicts[i]`` is 1 (accept ``draws_c[i]``), 0 (reject: draw a new pair) or 2
    (``k`` or ``count - k`` below 10, where the Stirling tail is tabulated: the
    scalar :func:`btrs_finish` decides that pair).  Branch-free, in three loops:
    the four logarithms' arguments, then one loop of :func:`mcflow._maths.log`
    over all of them (one copy of its code to compile, not four), then
    the verdicts.  One division gives both reciprocals ``1 / (k + 1)`` and
    ``1 / (count - k + 1)`` (and the mode's), since the divider, not the
    arithmetic, bounds the first loop.  ``work`` holds ``5 LANES`` doubles.
    """
    odds = p / (1.0 - p)
    inverse_odds = (1.0 - p) / p
    for i in range(pending):
        count = float(remaining_c[i])
        v = v_c[i]
        spread, b, inverse_b, a, distance, k, squeezed = _hat(count, p, u_c[i], v)
        alpha = (2.83 + 5.1 * inverse_b) * spread
        square = distance * distance
        mode = np.floor((count + 1.0) * p)
        mode_lower = mode + 1.0
        mode_upper = count - mode + 1.0
        mode_both = 1.0 / (mode_lower * mode_upper)
        # k clamped into [0, count] so the logs stay finite; out-of-range k is rejected
        inside = (k >= 0.0) & (k <= count)
        kk = min(max(k, 0.0), count)
        lower = kk + 1.0
        upper = count - kk + 1.0
        both = 1.0 / (lower * upper)
        step = (kk - mode) * (both * lower)  # log1p's argument, as log(1 + step) - rounding
        shifted = 1.0 + step
        work[i] = v * alpha * square / (a + b * square)
        work[LANES + i] = mode_lower * (mode_both * mode_lower) * inverse_odds
        work[2 * LANES + i] = shifted
        work[3 * LANES + i] = odds * upper * (both * upper)
        work[4 * LANES + i] = (_series_tail(mode_both * mode_upper)
                               + _series_tail(mode_both * mode_lower)
                               - _series_tail(both * upper) - _series_tail(both * lower)
                               - (count + 1.0) * (((shifted - 1.0) - step) / shifted))
        tabulated = inside & ((kk <= 9.0) | (count - kk <= 9.0))
        draws_c[i] = k
        verdicts[i] = np.uint8(squeezed) | (np.uint8(inside) << np.uint8(1)) \
            | (np.uint8(tabulated) << np.uint8(2))
    for term in range(4):
        for i in range(pending):
            work[term * LANES + i] = _maths.log(work[term * LANES + i])
    for i in range(pending):
        count = float(remaining_c[i])
        mode = np.floor((count + 1.0) * p)
        kk = min(max(draws_c[i], 0.0), count)
        log_ratio = ((mode + 0.5) * work[LANES + i] + (count + 1.0) * work[2 * LANES + i]
                     + (kk + 0.5) * work[3 * LANES + i] + work[4 * LANES + i])
        flags = verdicts[i]
        accepted = ((flags & np.uint8(1)) != 0) | (((flags & np.uint8(2)) != 0)
                                                   & (work[i] <= log_ratio))
        tabulated = (flags & np.uint8(4)) != 0
        verdicts[i] = np.uint8(1) if accepted else (np.uint8(2) if tabulated else np.uint8(0))
