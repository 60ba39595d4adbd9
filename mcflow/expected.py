"""Expected cell masses: exact ones through T's inverse, claimed ones by quadrature.

Cells are ``[underflow, bins..., overflow]``.  The claimed p_Y is integrated
only over the *quadrature domain*: the image under T of the central interval
``mu +- z sigma`` that holds all but ``2 eps`` of X's mass, with
``eps = min(1e-12, 1e-3 / n)`` (so at most 1e-3 samples of the whole run are
expected outside it), widened by one grid step at interior extrema, and cut
where float64 stops resolving the support's ends (:mod:`mcflow._float_support`).
A claimed density is never evaluated at float64 extremes where no sample can
land (``y = 1e-310`` for exp), where real libraries return NaN or inf.

Inside the domain the claimed values must be a density's: NaN or negative
values inside the image of the sampled region (where mass is resolvable) are
recorded as a defect of the claim; outside it, in the widening margin, they
are taken as 0 and reported as a warning.  With an inverse, the exact mass of
what lies outside the domain is added to both sides, so the exact layer
compares the claim where it was evaluated and nowhere else.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from mcflow._float_support import cutoffs, inverse_points, relocate_rounded
from mcflow._gauss_kronrod import Budget, adaptive
from mcflow._user_code import as_float_array, hide_mcflow_frames
from mcflow.edges import MIN_BIN_ULPS
from mcflow.layers import EVALUATION_RTOL, numerical_floor
from mcflow.quadrature import normal_interval_probabilities
from mcflow.transform import Transform

__all__ = ["ClaimedMasses", "Domain", "Expected", "claimed_cell_masses", "exact_cell_masses",
           "exact_within", "expected_masses", "quadrature_domain"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Tail probability of X left outside the domain on each side, at most.
_MAX_TAIL = 1e-12
#: Expected samples of the whole run outside the domain, at most.
_SAMPLES_OUTSIDE = 1e-3
_GRID_POINTS = 8193
#: Absolute accuracy asked of each integral: masses below it are unobservable.
_ATOL = 1e-25
#: Relative accuracy wanted: 1e6 times below the resolution of a bin at n = 1e10.
_RTOL = 1e-10
_MAX_LEVELS = 40
#: Claimed-pdf values after which refinement settles for what the test resolves ...
_SOFT_EVALUATIONS = 2**19
#: ... and after which it stops (a pdf too rough to integrate is reported, not chased).
_HARD_EVALUATIONS = 2**22
#: A cell's mass error that shifts its expected count by 1% of its standard deviation.
_RESOLUTION_FRACTION = 0.01
_DECADES_PER_PIECE = 0.6  # pieces of a bin spanning decades grow by 4x


@dataclass(frozen=True)
class Domain:
    """Where the claimed p_Y is evaluated: ``[lo, hi]``; samples land in ``core``."""

    lo: float
    hi: float
    core: tuple[float, float]
    tail_probability: float


@dataclass(frozen=True)
class ClaimedMasses:
    """Quadrature of the claimed p_Y over each cell within the domain."""

    masses: np.ndarray
    errors: np.ndarray
    #: (lo, hi, count, example value) of the NaN/negative values inside the core ...
    invalid_inside: tuple[float, float, int, float] | None
    #: ... and of those outside it (taken as 0).
    invalid_outside: tuple[float, float, int, float] | None
    evaluations: int
    exhausted: bool


def quadrature_domain(transform: Transform, n: int, mu: float, sigma: float,
                      cut_ulps: float) -> Domain:
    """Return the interval where the claimed p_Y is integrated (see the module docstring)."""
    tail = min(_MAX_TAIL, _SAMPLES_OUTSIDE / n)
    z = -float(ndtri(tail))
    x = mu + sigma * np.linspace(-z, z, _GRID_POINTS)
    with np.errstate(all="ignore"):
        y = transform.forward_array(x)
    finite = np.flatnonzero(np.isfinite(y))
    cut_lo, cut_hi = cutoffs(transform.support, cut_ulps)
    if finite.size == 0:
        return Domain(cut_lo, cut_hi, (cut_lo, cut_hi), tail)
    values = y[finite]
    lows = [_widened(values, int(np.argmin(values)), -1)]
    highs = [_widened(values, int(np.argmax(values)), +1)]
    core = (float(values.min()), float(values.max()))
    lo = max(min(lows), cut_lo)
    hi = min(max(highs), cut_hi)
    if not lo < hi:
        lo, hi = cut_lo, cut_hi
    return Domain(lo, hi, core, tail)


def _widened(values: np.ndarray, at: int, side: int) -> float:
    """Return an extremum on the grid, widened by a step if inside (T may turn there)."""
    extreme = float(values[at])
    if at in (0, values.size - 1):
        return extreme  # an end of the interval: the image's end for a monotone T
    step = max(abs(float(values[at - 1]) - extreme), abs(float(values[at + 1]) - extreme))
    return extreme + side * step


def _graded_points(a: float, b: float, support: tuple[float, float]) -> np.ndarray:
    """Cut points for ``[a, b]`` when it spans many decades or straddles 0.

    Adaptive quadrature cannot find mass it never samples, such as the bulk
    of ``[1e150, 1e295)`` sitting in its first decade.  Cutting at 0 and at
    geometrically growing distances from it (and from a finite support end,
    where tanh's density piles up) gives every decade its own piece.
    """
    points: list[float] = []
    lo, hi = support
    # Ratios as differences of logs: a subnormal distance would overflow them.
    if math.isfinite(hi) and hi - b > 0.0 and math.log10(hi - a) - math.log10(hi - b) > 3:
        count = int((math.log10(hi - a) - math.log10(hi - b)) / _DECADES_PER_PIECE) + 2
        points.extend(hi - np.geomspace(hi - b, hi - a, count)[1:-1])
    if math.isfinite(lo) and a - lo > 0.0 and math.log10(b - lo) - math.log10(a - lo) > 3:
        count = int((math.log10(b - lo) - math.log10(a - lo)) / _DECADES_PER_PIECE) + 2
        points.extend(lo + np.geomspace(a - lo, b - lo, count)[1:-1])
    if a < 0.0 < b:
        shrinking = 4.0 ** -np.arange(1, 40)
        points.append(0.0)
        points.extend(a * shrinking)
        points.extend(b * shrinking)
    elif a > 0.0 and math.log10(b) - math.log10(a) > 3:
        count = int((math.log10(b) - math.log10(a)) / _DECADES_PER_PIECE) + 2
        points.extend(np.geomspace(a, b, count)[1:-1])
    elif b < 0.0 and math.log10(-a) - math.log10(-b) > 3:
        count = int((math.log10(-a) - math.log10(-b)) / _DECADES_PER_PIECE) + 2
        points.extend(-np.geomspace(-b, -a, count)[1:-1])
    extra = np.asarray(points, dtype=np.float64)
    return extra[(extra > a) & (extra < b)]


class _Recorder:
    """The claimed pdf as an integrand: converted, NaN/negative values recorded and zeroed."""

    def __init__(self, pdf: Callable[[np.ndarray], np.ndarray], core: tuple[float, float]):
        self.pdf = pdf
        self.core = core
        self.inside: list[tuple[float, float, int, float]] = []
        self.outside: list[tuple[float, float, int, float]] = []

    def __call__(self, y: np.ndarray, _owner: np.ndarray) -> np.ndarray:
        # Libraries expect a batch of points: the pdf sees a 1-d array.
        with np.errstate(all="ignore"):
            values = as_float_array(self.pdf(y.ravel()), (y.size,), "pdf").reshape(y.shape)
        invalid = ~(values >= 0.0)  # NaN or negative; +inf is a singularity, refined away
        if np.any(invalid):
            where = y[invalid]
            within = (where >= self.core[0]) & (where <= self.core[1])
            for chosen, record in ((within, self.inside), (~within, self.outside)):
                if np.any(chosen):
                    first = int(np.argmin(where[chosen]))
                    record.append((float(where[chosen].min()), float(where[chosen].max()),
                                   int(chosen.sum()), float(values[invalid][chosen][first])))
            values[invalid] = 0.0
        return values

    @staticmethod
    def merged(records: list[tuple[float, float, int, float]]
               ) -> tuple[float, float, int, float] | None:
        if not records:
            return None
        first = min(records, key=lambda record: record[0])
        return (first[0], max(record[1] for record in records),
                sum(record[2] for record in records), first[3])


def claimed_cell_masses(pdf: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
                        domain: Domain, support: tuple[float, float], n: int,
                        rtol: float = _RTOL) -> ClaimedMasses:
    """Integrals of the claimed p_Y over each cell intersected with the domain.

    ``rtol`` is the relative accuracy asked of each integral (no finer than
    the pdf's own: a float32 claim is integrated to its rounding).
    """
    inner = edges[(edges > domain.lo) & (edges < domain.hi)]
    bounds = np.concatenate([[domain.lo], inner, [domain.hi]])
    cuts = [bounds] + [_graded_points(float(a), float(b), support)
                       for a, b in itertools.pairwise(bounds)]
    grid = np.unique(np.concatenate(cuts))
    recorder = _Recorder(pdf, domain.core)

    def needed(mass: np.ndarray) -> np.ndarray:
        return _RESOLUTION_FRACTION * np.sqrt(np.maximum(mass, 1.0 / n) / n)

    budget = Budget(_SOFT_EVALUATIONS, _HARD_EVALUATIONS, needed)
    masses, errors = adaptive(recorder, grid[:-1], grid[1:], max(rtol, _RTOL), _ATOL,
                              _MAX_LEVELS, budget)
    # searchsorted "right" is the kernel's rule: 0 below edges[0], edges.size at or above the end.
    cells = np.searchsorted(edges, 0.5 * (grid[:-1] + grid[1:]), side="right")
    cell_masses = np.bincount(cells, weights=masses, minlength=edges.size + 1)
    cell_errors = np.bincount(cells, weights=errors, minlength=edges.size + 1)
    unconverged = cell_errors > needed(np.abs(cell_masses))
    return ClaimedMasses(
        masses=cell_masses, errors=cell_errors,
        invalid_inside=_Recorder.merged(recorder.inside),
        invalid_outside=_Recorder.merged(recorder.outside),
        evaluations=budget.evaluations,
        exhausted=bool(budget.evaluations >= _HARD_EVALUATIONS and np.any(unconverged)))


def _exact_between(transform: Transform, lower: np.ndarray, upper: np.ndarray, mu: float,
                   sigma: float) -> np.ndarray:
    """Exact P(lower < Y < upper) through T's inverse (monotone T)."""
    x = inverse_points(transform, np.concatenate([lower, upper]))
    return normal_interval_probabilities(x[: lower.size], x[lower.size:], mu, sigma)


def _branch_masses(transform: Transform, boundaries: np.ndarray, mu: float, sigma: float
                   ) -> np.ndarray:
    r"""Exact masses between consecutive ``boundaries`` summed over T's inverse branches.

    .. math:: P(a < Y < b) = \sum_k P\big(X \text{ between } g_k(a_k), g_k(b_k)\big),

    with ``[a_k, b_k]`` the interval cut to branch k's image.
    """
    total = np.zeros(boundaries.size - 1)
    for index, (_, (lo, hi)) in enumerate(transform.inverse_branches):
        clipped = np.clip(boundaries, lo, hi)
        x = transform.branch_array(index, clipped)
        if np.any(np.isnan(x)):
            bad = float(clipped[np.isnan(x)][0])
            raise ValueError(f"inverse_branches[{index}] is NaN at y = {bad!r}, inside its "
                             f"interval ({lo:g}, {hi:g})")
        total += normal_interval_probabilities(x[:-1], x[1:], mu, sigma)
    return total


def exact_cell_masses(transform: Transform, edges: np.ndarray, mu: float, sigma: float
                      ) -> np.ndarray:
    """Exact masses of ``[underflow, bins..., overflow]`` as float64 Y falls into them.

    What T rounds exactly onto a finite support end is counted where the
    kernel counts that end.  A non-injective T sums over its inverse branches.
    """
    if transform.has_branches:
        return _branch_masses(transform, np.concatenate([[-np.inf], edges, [np.inf]]), mu,
                              sigma)
    lo, hi = transform.support
    boundaries = np.clip(np.concatenate([[lo], edges, [hi]]), lo, hi)
    masses = _exact_between(transform, boundaries[:-1], boundaries[1:], mu, sigma)
    return relocate_rounded(masses, transform, edges, mu, sigma)


def exact_within(transform: Transform, edges: np.ndarray, domain: Domain, mu: float,
                 sigma: float) -> np.ndarray:
    """Exact masses of each cell intersected with the domain (real-valued Y)."""
    boundaries = np.clip(np.concatenate([[-np.inf], edges, [np.inf]]), domain.lo, domain.hi)
    if transform.has_branches:
        return _branch_masses(transform, boundaries, mu, sigma)
    return _exact_between(transform, boundaries[:-1], boundaries[1:], mu, sigma)


@dataclass(frozen=True)
class Expected:
    """Claimed and exact cell masses of [underflow, bins..., overflow] and their errors."""

    claimed: np.ndarray
    errors: np.ndarray
    exact: np.ndarray | None
    floor: float
    domain: Domain
    evaluations: int
    exhausted: bool
    invalid_inside: tuple[float, float, int, float] | None
    invalid_outside: tuple[float, float, int, float] | None
    #: Why the exact masses could not be computed despite an inverse (None: they were).
    exact_unavailable: str | None = None
    #: Mass the inverse's round-trip error moves at the edges (0 without exact masses).
    roundtrip: float = 0.0


def _roundtrip_error(transform: Transform, edges: np.ndarray, mu: float, sigma: float) -> float:
    """Mass between x = T^-1(e) and T^-1(T(x)) at every edge: what an inexact inverse moves."""
    lo, hi = transform.support
    inside = edges[(edges > lo) & (edges < hi)]
    # (inverse, the edges it applies to): a branch only within its interval of y
    inverses = [(transform.inverse_array, inside)] if transform.has_inverse else [
        (functools.partial(transform.branch_array, index),
         inside[(inside >= branch_lo) & (inside <= branch_hi)])
        for index, (_, (branch_lo, branch_hi)) in enumerate(transform.inverse_branches)]
    moved = 0.0
    for inverse, points in inverses:
        with np.errstate(all="ignore"):
            x = inverse(points)
            again = inverse(transform.forward_array(x))
        usable = np.isfinite(x) & np.isfinite(again)
        moved += float(normal_interval_probabilities(x[usable], again[usable], mu, sigma).sum())
    return 2.0 * moved  # each edge bounds two cells


def expected_masses(transform: Transform, pdf: Callable[[np.ndarray], np.ndarray],
                    edges: np.ndarray, n: int, mu: float, sigma: float,
                    pdf_rtol: float | None = None) -> Expected:
    """Claimed masses (exact outside the domain, with an inverse), exact masses, the floor.

    ``pdf_rtol``: the claim's relative evaluation accuracy (None: float64 code,
    :data:`mcflow.layers.EVALUATION_RTOL`).
    """
    has_exact = transform.has_exact_masses
    rtol = EVALUATION_RTOL if pdf_rtol is None else max(pdf_rtol, EVALUATION_RTOL)
    domain = quadrature_domain(transform, n, mu, sigma, MIN_BIN_ULPS if has_exact else 1.0)
    claimed = claimed_cell_masses(pdf, edges, domain, transform.support, n,
                                  _RTOL if pdf_rtol is None else rtol)
    masses, exact, roundtrip, unavailable = claimed.masses, None, 0.0, None
    if has_exact:
        try:
            exact = exact_cell_masses(transform, edges, mu, sigma)
            within = exact_within(transform, edges, domain, mu, sigma)
            roundtrip = _roundtrip_error(transform, edges, mu, sigma)
        except ValueError as error:  # an inverse that is NaN inside the support: not a bijection
            exact, roundtrip, unavailable = None, 0.0, str(error)
        else:
            # Outside the domain the claim was not evaluated: both sides take the exact mass.
            masses = masses + np.clip(exact - within, 0.0, None)
    return Expected(
        claimed=masses, errors=claimed.errors, exact=exact,
        floor=numerical_floor(claimed.errors, roundtrip, float(masses.sum()), rtol),
        domain=domain,
        evaluations=claimed.evaluations, exhausted=claimed.exhausted,
        invalid_inside=claimed.invalid_inside, invalid_outside=claimed.invalid_outside,
        exact_unavailable=unavailable, roundtrip=roundtrip)
