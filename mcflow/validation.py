"""Validate a claimed density p_Y of Y = T(X), X ~ N(mu, sigma), in three layers.

1. **exact** (sample-free; needs T's inverse): the exact mass of every cell,
   ``|Phi((T^-1(e_{i+1}) - mu)/sigma) - Phi((T^-1(e_i) - mu)/sigma)|``, against
   an adaptive Gauss-Kronrod integral of the claimed p_Y over the cell, and
   the claimed p_Y's total mass over the support.  A density missing its
   Jacobian factor fails here before any sampling.
2. **mc_vs_exact** (needs T's inverse): the Monte Carlo histogram against the
   exact masses: tests the forward map and the sampler.
3. **mc_vs_claimed** (always): the histogram against the claimed p_Y: the
   end-to-end check, and the only one when just a forward map and a pdf are
   given.

The Monte Carlo layers use KS, L1 and G statistics on the cells
``[underflow, bins..., overflow, non-finite]``, each with a p-value from a
simulated multinomial null (exact for the binning, whatever n).  The alpha
budget is split by Bonferroni over the 3 statistics of each Monte Carlo
layer, so a correct density fails with probability at most ``alpha``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcflow import __version__
from mcflow.density import density
from mcflow.edges import MIN_BIN_ULPS, equal_probability_edges
from mcflow.engine import Histogram, ProgressCallback, check_n, check_normal, check_transform
from mcflow.engine import histogram as run_histogram
from mcflow.quadrature import integrate_bins, normal_interval_probabilities
from mcflow.statistics import (
    NullDistribution,
    default_replicates,
    detection_limit,
    g_statistic,
    kolmogorov_pvalue,
    ks_statistic,
    l1_statistic,
    required_n,
    simulate_null,
    worst_cells,
)
from mcflow.transform import Transform

__all__ = ["SCHEMA_VERSION", "LayerResult", "ValidationResult", "validate"]

#: Version of the ``to_dict()`` layout (bump on any incompatible change).
SCHEMA_VERSION = "mcflow.validation/1"
STATISTICS = ("ks", "l1", "g")
#: Seed of the multinomial null simulation.  Fixed on purpose: the null is a
#: numerical evaluation of a distribution, not part of the tested randomness,
#: and a fixed one makes every p-value a deterministic function of the data.
_NULL_SEED = 0x6D63666C6F77
_SIGMA_STEP = 1e-3


@dataclass(frozen=True)
class LayerResult:
    """Outcome of one validation layer.

    Attributes
    ----------
    name : str
        ``"exact"``, ``"mc_vs_exact"`` or ``"mc_vs_claimed"``.
    status : str
        ``"pass"``, ``"fail"`` or ``"skipped"``.
    message : str
        One line a person can act on.
    statistics : dict
        The layer's numbers (statistics and p-values, or masses and thresholds).
    """

    name: str
    status: str
    message: str
    statistics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable view."""
        return {"name": self.name, "status": self.status, "message": self.message,
                "statistics": _jsonable(self.statistics)}


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """Everything :func:`validate` found; ``verdict`` is the one-word answer.

    The top-level statistics (``ks_statistic``, ``l1``, ``g_statistic`` and
    their p-values) are those of the end-to-end layer, Monte Carlo against the
    claimed p_Y.  ``expected`` holds the claimed probability of each bin of
    ``histogram`` (same order); the under/overflow and non-finite cells'
    expectations are in ``expected_underflow``, ``expected_overflow`` and
    ``expected_nonfinite``.
    """

    verdict: str
    transform: str
    n: int
    seed: int | None
    mu: float
    sigma: float
    alpha: float
    alpha_per_test: float
    tolerance: float | None
    histogram: Histogram
    expected: np.ndarray
    expected_underflow: float
    expected_overflow: float
    expected_nonfinite: float
    exact: np.ndarray | None
    layers: tuple[LayerResult, ...]
    ks_statistic: float
    ks_pvalue: float
    ks_asymptotic_pvalue: float
    l1: float
    l1_pvalue: float
    g_statistic: float
    g_pvalue: float
    normalization: float
    expected_normalization: float
    quadrature_error: float
    detection_limit: float
    required_n: int | None
    sigma_detection: float | None
    worst_bins: tuple[dict[str, float], ...]
    replicates: int
    seconds: dict[str, float]
    default_bins: bool
    transform_object: Transform | None = field(default=None, repr=False)
    pdf_function: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    critical_values: dict[str, float] = field(default_factory=dict)
    cells: np.ndarray | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``"pass"``."""
        return self.verdict == "pass"

    @property
    def failed_layers(self) -> tuple[str, ...]:
        """Names of the layers that failed."""
        return tuple(layer.name for layer in self.layers if layer.status == "fail")

    @property
    def messages(self) -> tuple[str, ...]:
        """The layers' messages, failures first."""
        ordered = sorted(self.layers, key=lambda layer: layer.status != "fail")
        return tuple(f"[{layer.name}] {layer.message}" for layer in ordered)

    def summary(self) -> str:
        """Return a few lines for a terminal or an assertion message."""
        lines = [
            f"{self.verdict.upper()}: {self.transform}, n = {self.n:,}, seed = {self.seed}, "
            f"alpha = {self.alpha:g}",
            f"  KS D = {self.ks_statistic:.3e} (p = {self.ks_pvalue:.3g}), "
            f"L1 = {self.l1:.3e} (p = {self.l1_pvalue:.3g}), "
            f"G = {self.g_statistic:.4g} (p = {self.g_pvalue:.3g})",
            f"  normalization = {self.normalization:.6g} "
            f"(expected {self.expected_normalization:.6g}); "
            f"detection limit L1 = {self.detection_limit:.2e}",
        ]
        lines += [f"  {message}" for message in self.messages]
        if self.verdict != "pass" and self.worst_bins:
            worst = ", ".join(
                f"[{b['lo']:.4g}, {b['hi']:.4g}) z = {b['residual']:+.1f}" for b in self.worst_bins
            )
            lines.append(f"  worst bins: {worst}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable view with a versioned schema (see the README)."""
        h = self.histogram
        return _jsonable({
            "schema": SCHEMA_VERSION,
            "mcflow_version": __version__,
            "verdict": self.verdict,
            "passed": self.passed,
            "failed_layers": list(self.failed_layers),
            "transform": self.transform,
            "n": self.n,
            "seed": self.seed,
            "mu": self.mu,
            "sigma": self.sigma,
            "alpha": self.alpha,
            "alpha_per_test": self.alpha_per_test,
            "tolerance": self.tolerance,
            "statistics": {
                "ks_statistic": self.ks_statistic,
                "ks_pvalue": self.ks_pvalue,
                "ks_asymptotic_pvalue": self.ks_asymptotic_pvalue,
                "l1": self.l1,
                "l1_pvalue": self.l1_pvalue,
                "g_statistic": self.g_statistic,
                "g_pvalue": self.g_pvalue,
            },
            "normalization": self.normalization,
            "expected_normalization": self.expected_normalization,
            "quadrature_error": self.quadrature_error,
            "detection_limit": self.detection_limit,
            "required_n": self.required_n,
            "sigma_detection": self.sigma_detection,
            "replicates": self.replicates,
            "layers": [layer.to_dict() for layer in self.layers],
            "worst_bins": list(self.worst_bins),
            "histogram": {
                **h.to_dict(),
                "expected": self.expected.tolist(),
                "expected_underflow": self.expected_underflow,
                "expected_overflow": self.expected_overflow,
                "expected_nonfinite": self.expected_nonfinite,
                "exact": None if self.exact is None else self.exact.tolist(),
                "default_bins": self.default_bins,
            },
            "seconds": self.seconds,
        })

    def report(self, directory: str, **options: Any) -> Any:
        """Write an HTML/Markdown/JSON report of this result (see :mod:`mcflow.reporting`)."""
        from mcflow.reporting import write_report

        return write_report([self], directory, **options)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "nan"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return number
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}")
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {value}")
    return value


def _check_tolerance(tolerance: Any) -> float | None:
    if tolerance is None:
        return None
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        raise TypeError(f"tolerance must be a positive number or None, got {tolerance!r}") from None
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"tolerance must be a positive finite L1 distance, got {value}")
    return value


def _claimed_pdf(transform: Transform, pdf: Callable[..., Any] | None, mu: float, sigma: float
                 ) -> Callable[[np.ndarray], np.ndarray]:
    if pdf is None:
        if not transform.has_density:
            raise ValueError(
                f"pdf is None and transform {transform.name!r} has no inverse and "
                "log_abs_det_jacobian to derive p_Y from; pass pdf=... (a vectorized "
                "callable p_Y(y))"
            )
        return functools.partial(_derived_pdf, transform, mu=mu, sigma=sigma)
    if not callable(pdf):
        raise TypeError(f"pdf must be a callable p_Y(y: ndarray) -> ndarray, got {pdf!r}")

    def checked(y: np.ndarray) -> np.ndarray:
        values = np.asarray(pdf(y), dtype=np.float64)
        if values.shape != np.shape(y):
            raise ValueError(
                f"pdf returned shape {values.shape} for input shape {np.shape(y)}; it must "
                "be vectorized (elementwise over an ndarray)"
            )
        return values

    return checked


def _derived_pdf(transform: Transform, y: np.ndarray, *, mu: float, sigma: float) -> np.ndarray:
    return density(transform, y, mu, sigma)


def _inverse_points(transform: Transform, points: np.ndarray) -> np.ndarray:
    """T^-1 at points of the support; infinite ends map to the ends of the line."""
    with np.errstate(all="ignore"):
        x = transform.inverse_array(points)
    finite = x[np.isfinite(x)]
    increasing = finite.size < 2 or finite[-1] >= finite[0]
    ends = np.isnan(x) & np.isinf(points)
    x[ends] = np.where(points[ends] > 0, np.inf if increasing else -np.inf,
                       -np.inf if increasing else np.inf)
    if np.any(np.isnan(x)):
        bad = points[np.isnan(x)][0]
        raise ValueError(
            f"transform {transform.name!r}: inverse({bad}) is NaN inside the support "
            f"{transform.support}; check the inverse or the support"
        )
    return x


def _exact_between(transform: Transform, lower: np.ndarray, upper: np.ndarray, mu: float,
                   sigma: float) -> np.ndarray:
    """Exact P(lower < Y < upper) through T's inverse (monotone T)."""
    x = _inverse_points(transform, np.concatenate([lower, upper]))
    return normal_interval_probabilities(x[: lower.size], x[lower.size:], mu, sigma)


def _cell_of(value: float, edges: np.ndarray) -> int:
    """Index in [underflow, bins..., overflow] of the cell the kernel counts ``value`` in."""
    if value < edges[0]:
        return 0
    if value >= edges[-1]:
        return edges.size
    return int(np.searchsorted(edges, value, side="right"))


def _cutoffs(support: tuple[float, float], ulps: float) -> tuple[float, float]:
    """Where float64 stops resolving Y near each end of the support.

    ``ulps`` floats inside a finite end; towards infinity a quarter of the
    largest float (so quadrature midpoints cannot overflow).
    """
    lo, hi = support
    cut_lo = lo + ulps * float(np.spacing(abs(lo))) if math.isfinite(lo) else -_LARGEST / 4
    cut_hi = hi - ulps * float(np.spacing(abs(hi))) if math.isfinite(hi) else _LARGEST / 4
    return cut_lo, cut_hi


def _forward_at(transform: Transform, x: float) -> float:
    with np.errstate(all="ignore"):
        return float(transform.forward_array(np.array([x]))[0])


def _rounded_onto_end(transform: Transform, end: float, mu: float, sigma: float) -> float:
    """P(fl(T(X)) == end) for a finite support end that T saturates onto in float64.

    Found from the implementation itself: bisection in x for where the
    float64 forward map starts returning exactly ``end`` (tanh: x > 19.06).
    """
    is_upper = end >= transform.support[1]
    inner = float(np.nextafter(end, -np.inf if is_upper else np.inf))
    start = float(_inverse_points(transform, np.array([inner]))[0])
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


def _relocate_rounded(masses: np.ndarray, transform: Transform, edges: np.ndarray, mu: float,
                      sigma: float) -> None:
    """Move the mass float64 rounds onto a finite support end to the cell counting the end."""
    lo, hi = transform.support
    for end, inward in ((lo, np.inf), (hi, -np.inf)):
        if not math.isfinite(end):
            continue
        source = _cell_of(float(np.nextafter(end, inward)), edges)
        target = _cell_of(end, edges)
        if source != target:
            moved = min(_rounded_onto_end(transform, end, mu, sigma), masses[source])
            masses[source] -= moved
            masses[target] += moved


def _cell_masses_exact(transform: Transform, edges: np.ndarray, mu: float, sigma: float
                       ) -> np.ndarray:
    """Exact masses of [underflow, bins..., overflow], as float64 Y falls into them.

    The masses of the real-valued Y, except that what T rounds exactly onto a
    finite support end is counted where the kernel counts that end (a user's
    last bin may end at the support's end, whose value then overflows).
    """
    lo, hi = transform.support
    boundaries = np.clip(np.concatenate([[lo], edges, [hi]]), lo, hi)
    masses = _exact_between(transform, boundaries[:-1], boundaries[1:], mu, sigma)
    _relocate_rounded(masses, transform, edges, mu, sigma)
    return masses


def _exact_end_masses(transform: Transform, edges: np.ndarray, mu: float, sigma: float
                      ) -> np.ndarray:
    """Exact masses of the bands next to the support's ends that quadrature skips.

    Within ``MIN_BIN_ULPS`` of a finite end (or beyond a quarter of the largest
    float) a claimed density evaluated on float64 y cannot be integrated
    reliably: tanh's piles up against 1 over decades below the ulp.  With an
    inverse those bands are exact, placed in the cells that hold them, and what
    rounds onto the end goes where the kernel counts the end.
    """
    lo, hi = transform.support
    band_lo, band_hi = _cutoffs(transform.support, MIN_BIN_ULPS)
    masses = np.zeros(edges.size + 1)
    if not band_lo < band_hi:
        return masses
    pieces = _exact_between(transform, np.array([lo, band_hi]), np.array([band_lo, hi]),
                            mu, sigma)
    inner_lo = lo if not math.isfinite(lo) else 0.5 * (lo + band_lo)
    inner_hi = hi if not math.isfinite(hi) else 0.5 * (band_hi + hi)
    masses[_cell_of(inner_lo, edges)] += pieces[0]
    masses[_cell_of(inner_hi, edges)] += pieces[1]
    _relocate_rounded(masses, transform, edges, mu, sigma)
    return masses


@dataclass(frozen=True)
class _Claimed:
    masses: np.ndarray  # [underflow, bins..., overflow]
    errors: np.ndarray


#: Absolute accuracy asked of each integral: masses below it are unobservable
#: (they would need more than 1e25 samples to show up once).
_ATOL = 1e-25
#: 1e-10 relative is 1e6 times below the statistical resolution of a bin even
#: at n = 1e10; asking for more only costs time where float64 runs out.
_QUADRATURE = {"atol": _ATOL, "rtol": 1e-10, "max_levels": 40}
_LARGEST = float(np.finfo(np.float64).max)
_DECADES_PER_PIECE = 0.6  # pieces of a bin spanning decades grow by 4x
_TAIL_FINE_POWERS = np.arange(-40, 1)


def _graded_points(a: float, b: float, support: tuple[float, float]) -> np.ndarray:
    """Extra cut points for [a, b] when it spans many decades or straddles 0.

    Adaptive quadrature starts from a few nodes per interval and cannot find
    mass it never samples, such as the bulk of [1e150, 1e295) sitting in its
    first decade.  Cutting at 0 and at geometrically growing distances from it
    gives every decade its own piece; likewise for distances to a finite end
    of the support (tanh's density piles up against 1 over many decades).
    """
    points = []
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
    return np.asarray(points, dtype=np.float64)


def _integrate_cells(pdf: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
                     support: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Integrals of ``pdf`` over each bin, bins spanning decades cut into pieces."""
    cuts = [edges]
    for a, b in itertools.pairwise(edges):
        extra = _graded_points(float(a), float(b), support)
        if extra.size:
            cuts.append(extra[(extra > a) & (extra < b)])
    grid = np.unique(np.concatenate(cuts))
    masses, errors = integrate_bins(pdf, grid, **_QUADRATURE)
    starts = np.searchsorted(grid, edges[:-1])
    return np.add.reduceat(masses, starts), np.add.reduceat(errors, starts)


def _integrate_tail(pdf: Callable[[np.ndarray], np.ndarray], far: float, edge: float,
                    scale: float) -> tuple[float, float]:
    """Integral of ``pdf`` from the outermost bin edge to the support's end ``far``.

    The cell is cut into pieces: fine ones next to the edge, pieces growing
    geometrically out to the largest float (infinite ``far``) or shrinking
    geometrically onto ``far`` (finite), and 0 when it lies inside, where
    integrable singularities sit.  Mass beyond the largest float is not
    representable in float64; ``far`` is therefore always a finite cut-off
    (see :func:`_cutoffs`) and :func:`_exact_end_masses` adds what lies beyond.
    """
    direction = 1.0 if far > edge else -1.0
    end = far
    with np.errstate(over="ignore", invalid="ignore"):
        pieces = [edge + direction * scale * 2.0**_TAIL_FINE_POWERS,  # next to the edge
                  edge + direction * scale * 2.0 ** np.arange(1, 1100),  # growing outwards
                  end - (end - edge) * 2.0 ** -np.arange(0, 1075)]  # shrinking onto the end
    points = np.concatenate([[edge, end], *pieces])
    if (edge < 0.0 < end) or (end < 0.0 < edge):
        points = np.append(points, 0.0)
    points = points[np.isfinite(points)]
    inside = ((points - edge) * direction >= 0) & ((end - points) * direction >= 0)
    points = np.unique(points[inside])
    masses, errors = integrate_bins(pdf, points, **_QUADRATURE)
    return float(masses.sum()), float(errors.sum())


def _cell_masses_claimed(pdf: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
                         support: tuple[float, float], cut_ulps: float) -> _Claimed:
    """Quadrature of the claimed p_Y over [underflow, bins..., overflow], up to the cut-offs."""
    cut_lo, cut_hi = _cutoffs(support, cut_ulps)
    masses = np.zeros(edges.size + 1)
    errors = np.zeros(edges.size + 1)
    clipped = np.clip(edges, cut_lo, cut_hi)
    widths = np.diff(clipped)
    inside = np.flatnonzero(widths > 0)  # contiguous: clipping only empties end bins
    if inside.size:
        first, last = inside[0], inside[-1]
        bin_masses, bin_errors = _integrate_cells(pdf, clipped[first: last + 2], support)
        masses[first + 1: last + 2] = bin_masses
        errors[first + 1: last + 2] = bin_errors
    scale = float(max(np.max(np.abs(edges)), edges[-1] - edges[0]))
    if cut_lo < edges[0]:
        masses[0], errors[0] = _integrate_tail(pdf, cut_lo, float(edges[0]), scale)
    if edges[-1] < cut_hi:
        masses[-1], errors[-1] = _integrate_tail(pdf, cut_hi, float(edges[-1]), scale)
    return _Claimed(masses=masses, errors=errors)


def _cells(h: Histogram, support: tuple[float, float], overflow_in_tail: bool) -> np.ndarray:
    """Observed [underflow, bins..., overflow, non-finite] for the statistics.

    With an inverse (``overflow_in_tail``), an infinite value beyond an
    unbounded support end is a sample of the far tail that overflowed float64
    (exp of a large x): it belongs to the outermost cell, whose exact mass
    includes it.  NaN, infinities past a bounded support, and every infinity
    of a forward-only transform are non-finite outcomes the claimed density's
    missing mass must account for.
    """
    lo, hi = support
    neginf_in_tail = h.neginf if overflow_in_tail and lo == -math.inf else 0
    posinf_in_tail = h.posinf if overflow_in_tail and hi == math.inf else 0
    nonfinite = h.nan + (h.neginf - neginf_in_tail) + (h.posinf - posinf_in_tail)
    return np.concatenate([[h.underflow + neginf_in_tail], h.counts,
                           [h.overflow + posinf_in_tail, nonfinite]]).astype(np.int64)


def _with_deficit(masses: np.ndarray, floor: float) -> np.ndarray:
    """Append the non-finite cell: the mass the cells leave out (0 within ``floor``)."""
    deficit = 1.0 - float(masses.sum())
    deficit = 0.0 if abs(deficit) <= floor else max(deficit, 0.0)
    cells = np.concatenate([np.clip(masses, 0.0, None), [deficit]])
    return cells / cells.sum()


@functools.lru_cache(maxsize=64)
def _cached_null(n: int, digest: str, replicates: int, probabilities: bytes) -> NullDistribution:
    del digest  # part of the cache key only
    return simulate_null(n, np.frombuffer(probabilities), replicates=replicates, seed=_NULL_SEED)


def _null(n: int, probabilities: np.ndarray, replicates: int) -> NullDistribution:
    raw = np.ascontiguousarray(probabilities, dtype=np.float64).tobytes()
    return _cached_null(n, hashlib.sha1(raw).hexdigest(), replicates, raw)


def _mc_layer(name: str, cells: np.ndarray, probabilities: np.ndarray, null: NullDistribution,
              alpha_per_test: float, against: str) -> LayerResult:
    n = int(cells.sum())
    observed = {
        "ks": ks_statistic(cells, probabilities),
        "l1": l1_statistic(cells, probabilities),
        "g": g_statistic(cells, probabilities),
    }
    pvalues = {key: null.pvalue(key, value) for key, value in observed.items()}
    statistics: dict[str, Any] = {
        "ks_statistic": observed["ks"], "ks_pvalue": pvalues["ks"],
        "ks_asymptotic_pvalue": kolmogorov_pvalue(observed["ks"], n),
        "l1": observed["l1"], "l1_pvalue": pvalues["l1"],
        "g_statistic": observed["g"], "g_pvalue": pvalues["g"],
        "alpha_per_test": alpha_per_test,
    }
    failing = [key for key in STATISTICS if pvalues[key] <= alpha_per_test]
    impossible = np.flatnonzero((probabilities == 0) & (cells > 0))
    if impossible.size:
        statistics["impossible_cells"] = impossible.tolist()
    if failing:
        named = ", ".join(f"{key.upper()} p = {pvalues[key]:.3g}" for key in failing)
        message = (f"the sample disagrees with the {against}: {named} "
                   f"(<= {alpha_per_test:.3g} per test)")
        if impossible.size:
            message += (f"; {int(cells[impossible].sum())} samples fell where the {against} "
                        "put zero mass")
        return LayerResult(name, "fail", message, statistics)
    smallest = min(pvalues.values())
    return LayerResult(name, "pass", f"consistent with the {against} (smallest p = {smallest:.3g})",
                       statistics)


def _unresolved_layer(claimed: _Claimed, unresolved: np.ndarray, numerical_floor: float,
                      limit: float) -> LayerResult:
    errors = np.where(np.isfinite(claimed.errors), claimed.errors, np.inf)
    worst = int(unresolved[0]) if unresolved.size else int(np.argmax(errors))
    return LayerResult(
        "exact", "skipped",
        f"quadrature could not resolve the claimed p_Y in cell {worst} (error estimate "
        f"{errors[worst]:.2g}, total {numerical_floor / 10:.2g} vs the detection limit "
        f"{limit:.2g}): the exact comparison would not be trustworthy",
        {"unresolved_cells": unresolved.tolist(), "worst_cell": worst})


def _exact_layer(claimed_cells: np.ndarray, exact_cells: np.ndarray, numerical_floor: float,
                 material_floor: float, normalization: float, expected_normalization: float
                 ) -> LayerResult:
    l1_exact = float(np.abs(claimed_cells - exact_cells).sum())
    threshold = max(numerical_floor, material_floor)
    worst = int(np.argmax(np.abs(claimed_cells - exact_cells)))
    statistics = {"l1_exact": l1_exact, "threshold": threshold,
                  "numerical_floor": numerical_floor, "normalization": normalization,
                  "expected_normalization": expected_normalization, "worst_cell": worst}
    if abs(normalization - expected_normalization) > threshold:
        return LayerResult(
            "exact", "fail",
            f"p_Y integrates to {normalization:.6g} over the support, expected "
            f"{expected_normalization:.6g}", statistics)
    if l1_exact > threshold:
        return LayerResult(
            "exact", "fail",
            f"the claimed p_Y puts the wrong mass in the bins: L1 to the exact masses "
            f"= {l1_exact:.3e} > {threshold:.1e} (worst cell {worst})", statistics)
    return LayerResult("exact", "pass",
                       f"bin masses match the exact ones (L1 = {l1_exact:.2e} <= {threshold:.1e})",
                       statistics)


def validate(
    transform: Transform,
    pdf: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    n: int = 10**7,
    bins: int | np.ndarray | None = None,
    range: tuple[float, float] | None = None,
    seed: int | None = 0,
    alpha: float = 0.01,
    tolerance: float | None = None,
    mu: float = 0.0,
    sigma: float = 1.0,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    client: Any = None,
) -> ValidationResult:
    """Check a claimed density p_Y of Y = T(X), X ~ N(mu, sigma), against brute force.

    Parameters
    ----------
    transform : Transform
        T. With an inverse (a monotone bijection onto its support) the exact
        layers run too.  Non-injective forwards work with an explicit ``pdf``.
    pdf : callable, optional
        Vectorized claimed density ``p_Y(y: ndarray) -> ndarray``.  Default:
        derived from ``transform`` by the seed's Eq. (5).
    n : int, default 1e7
        Monte Carlo samples.
    bins : int or array_like, optional
        Default: equal-probability bins with refined tails (see
        :func:`mcflow.edges.equal_probability_edges`).  An int needs ``range``.
    range : (float, float), optional
        Range for integer ``bins``.
    seed : int, optional
        Seed of the sample (the multinomial null uses its own fixed seed).
    alpha : float, default 0.01
        Probability that a correct density fails (split over the tests).
    tolerance : float, optional
        The L1 deviation you care about.  The verdict is ``"inconclusive"``
        when this n cannot detect it (95% power); ``required_n`` then says how
        many samples would.  The exact layer then fails only beyond it.
    mu, sigma : float
        Parameters of X.
    threads : int, optional
        Threads for the engine.
    progress : callable, optional
        ``progress(samples_done, n)`` during sampling.
    client : distributed.Client, optional
        Draw the samples on this Dask cluster (bitwise the same counts).

    Returns
    -------
    ValidationResult

    Examples
    --------
    >>> import mcflow
    >>> r = mcflow.validate(mcflow.transforms.Exp(), n=10**5)
    >>> r.verdict
    'pass'
    """
    started = time.perf_counter()
    transform = check_transform(transform)
    n = check_n(n)
    mu, sigma = check_normal(mu, sigma)
    alpha = _check_alpha(alpha)
    tolerance = _check_tolerance(tolerance)
    claimed_pdf = _claimed_pdf(transform, pdf, mu, sigma)
    has_exact = transform.has_inverse

    default_bins = bins is None
    if default_bins:
        if range is not None:
            raise ValueError("range needs an integer bins; with bins=None the bins are automatic")
        edges: Any = equal_probability_edges(transform, n, mu=mu, sigma=sigma, seed=seed)
    else:
        edges = bins  # validated by the engine

    sampling_started = time.perf_counter()
    h = run_histogram(transform, n, bins=edges, range=range, seed=seed, mu=mu, sigma=sigma,
                      threads=threads, progress=progress, client=client)
    sampling_seconds = time.perf_counter() - sampling_started
    edges = h.edges

    quadrature_started = time.perf_counter()
    try:
        claimed = _cell_masses_claimed(claimed_pdf, edges, transform.support,
                                       MIN_BIN_ULPS if has_exact else 1.0)
    except ValueError as error:
        raise ValueError(f"pdf: {error}") from None
    if has_exact:
        claimed.masses[:] += _exact_end_masses(transform, edges, mu, sigma)
    quadrature_error = float(claimed.errors.sum())
    unresolved = np.flatnonzero(~np.isfinite(claimed.errors) | ~np.isfinite(claimed.masses))
    # A non-finite error would make every threshold infinite: such cells are
    # reported, and the floor only ever counts finite error estimates.
    numerical_floor = 10.0 * float(claimed.errors[np.isfinite(claimed.errors)].sum()) + 1e-12
    normalization = float(claimed.masses.sum())
    claimed_probabilities = _with_deficit(claimed.masses, numerical_floor)
    exact_masses = _cell_masses_exact(transform, edges, mu, sigma) if has_exact else None
    quadrature_seconds = time.perf_counter() - quadrature_started

    cells = _cells(h, transform.support, overflow_in_tail=has_exact)
    layers_run = 2 if has_exact else 1
    alpha_per_test = alpha / (len(STATISTICS) * layers_run)
    replicates = default_replicates(alpha_per_test)
    null_started = time.perf_counter()
    claimed_null = _null(n, claimed_probabilities, replicates)
    limit = detection_limit(claimed_null, alpha_per_test)
    null_seconds = time.perf_counter() - null_started

    quadrature_resolved = unresolved.size == 0 and numerical_floor <= 0.01 * limit
    layers: list[LayerResult] = []
    if exact_masses is not None:
        exact_probabilities = _with_deficit(exact_masses, 1e-14)
        expected_normalization = float(exact_masses.sum())
        material_floor = tolerance if tolerance is not None else 0.01 * limit
        claimed_with_deficit = np.concatenate([claimed.masses, [max(0.0, 1 - normalization)]])
        exact_with_deficit = np.concatenate([exact_masses, [max(0.0, 1 - expected_normalization)]])
        if quadrature_resolved:
            layers.append(_exact_layer(claimed_with_deficit, exact_with_deficit, numerical_floor,
                                       material_floor, normalization, expected_normalization))
        else:
            layers.append(_unresolved_layer(claimed, unresolved, numerical_floor, limit))
        exact_null = _null(n, exact_probabilities, replicates)
        layers.append(_mc_layer("mc_vs_exact", cells, exact_probabilities, exact_null,
                                alpha_per_test, "exact bin masses"))
    else:
        expected_normalization = 1.0
        layers.append(LayerResult("exact", "skipped",
                                  "no inverse: exact masses unavailable"))
        layers.append(LayerResult("mc_vs_exact", "skipped",
                                  "no inverse: exact masses unavailable"))
    end_to_end = _mc_layer("mc_vs_claimed", cells, claimed_probabilities, claimed_null,
                           alpha_per_test, "claimed p_Y")
    if normalization > 1.0 + max(numerical_floor, 1e-9) and exact_masses is None:
        end_to_end = LayerResult(
            "mc_vs_claimed", "fail",
            f"p_Y integrates to {normalization:.6g} over the support, more than 1",
            end_to_end.statistics)
    elif end_to_end.status == "fail" and claimed_probabilities[-1] > 0:
        end_to_end = LayerResult(
            "mc_vs_claimed", "fail",
            f"{end_to_end.message}; p_Y integrates to {normalization:.6g}, so "
            f"{n * claimed_probabilities[-1]:.4g} NaN/inf samples were expected and "
            f"{cells[-1]} seen (check the support and the normalization)",
            end_to_end.statistics)
    layers.append(end_to_end)

    needed = required_n(n, claimed_null, alpha_per_test, tolerance) if tolerance else None
    if any(layer.status == "fail" for layer in layers):
        verdict = "fail"
    elif tolerance is not None and limit > tolerance:
        verdict = "inconclusive"
        layers.append(LayerResult(
            "resolution", "skipped",
            f"n = {n:,} detects L1 deviations >= {limit:.2e} (95% power), not the requested "
            f"tolerance {tolerance:.2e}; about n = {needed:,} would"))
    else:
        verdict = "pass"

    sigma_detection = None
    if exact_masses is not None:
        shifted = _cell_masses_exact(transform, edges, mu, sigma * (1.0 + _SIGMA_STEP))
        slope = float(np.abs(shifted - exact_masses).sum()) / _SIGMA_STEP
        sigma_detection = limit / slope if slope > 0 else None

    worst = []
    cell_lo = np.concatenate([[-np.inf], edges, [np.nan]])
    cell_hi = np.concatenate([edges, [np.inf], [np.nan]])
    # Samples where the claim has zero mass are the strongest evidence of all:
    # they lead the list (their standardized residual is infinite).
    impossible = [(int(i), math.inf) for i in
                  np.flatnonzero((claimed_probabilities == 0) & (cells > 0))]
    for index, residual in (impossible + worst_cells(cells, claimed_probabilities, k=5))[:5]:
        worst.append({
            "cell": int(index), "lo": float(cell_lo[index]), "hi": float(cell_hi[index]),
            "observed": int(cells[index]), "expected": float(n * claimed_probabilities[index]),
            "residual": float(residual),
        })

    stats = end_to_end.statistics
    return ValidationResult(
        verdict=verdict,
        transform=transform.name,
        n=n,
        seed=h.seed,
        mu=mu,
        sigma=sigma,
        alpha=alpha,
        alpha_per_test=alpha_per_test,
        tolerance=tolerance,
        histogram=h,
        expected=claimed_probabilities[1:-2].copy(),
        expected_underflow=float(claimed_probabilities[0]),
        expected_overflow=float(claimed_probabilities[-2]),
        expected_nonfinite=float(claimed_probabilities[-1]),
        exact=None if exact_masses is None else exact_masses[1:-1].copy(),
        layers=tuple(layers),
        ks_statistic=float(stats["ks_statistic"]),
        ks_pvalue=float(stats["ks_pvalue"]),
        ks_asymptotic_pvalue=float(stats["ks_asymptotic_pvalue"]),
        l1=float(stats["l1"]),
        l1_pvalue=float(stats["l1_pvalue"]),
        g_statistic=float(stats["g_statistic"]),
        g_pvalue=float(stats["g_pvalue"]),
        normalization=normalization,
        expected_normalization=expected_normalization,
        quadrature_error=quadrature_error,
        detection_limit=float(limit),
        required_n=needed,
        sigma_detection=sigma_detection,
        worst_bins=tuple(worst),
        replicates=replicates,
        seconds={"sampling": sampling_seconds, "quadrature": quadrature_seconds,
                 "null": null_seconds, "total": time.perf_counter() - started},
        default_bins=default_bins,
        transform_object=transform,
        pdf_function=claimed_pdf,
        critical_values={key: float(claimed_null.quantile(key, 1.0 - alpha_per_test))
                         for key in STATISTICS},
        cells=cells,
    )
