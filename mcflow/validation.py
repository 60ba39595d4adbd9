"""Validate a claimed density p_Y of Y = T(X), X ~ N(mu, sigma), in three layers.

1. **exact** (sample-free; needs T's inverse): the exact mass of every cell,
   ``|Phi((T^-1(e_{i+1}) - mu)/sigma) - Phi((T^-1(e_i) - mu)/sigma)|``, against
   an adaptive Gauss-Kronrod integral of the claimed p_Y over the cell, and
   the claimed p_Y's total mass.  A density missing its Jacobian factor fails
   here before any sampling, at any n (:mod:`mcflow.layers` has the rule).
2. **mc_vs_exact** (needs T's inverse): the Monte Carlo histogram against the
   exact masses: tests the forward map and the sampler.
3. **mc_vs_claimed** (always): the histogram against the claimed p_Y: the
   end-to-end check, and the only one when just a forward map and a pdf are
   given.

The Monte Carlo layers use KS, L1, G and Anderson-Darling statistics on the
cells ``[underflow, bins..., overflow, non-finite]``, combined into one min-p
test whose p-value comes from the simulated multinomial null (exact for the
binning, whatever n).  The alpha budget is split by Bonferroni over the Monte
Carlo layers, so a correct density fails with probability at most ``alpha``.
Where the claimed p_Y is evaluated is :mod:`mcflow.expected`'s business.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numba.core.event import install_timer

from mcflow._checks import check_alpha, check_n, check_tolerance
from mcflow._jacobian_pattern import explain_exact_layer
from mcflow._prewarm import start_null_compile
from mcflow._seeds import AUTO_SEED, case_seed, pdf_identity
from mcflow._user_code import as_float_array, hide_mcflow_frames
from mcflow.assessment import (
    Tested,
    cdf_claim_layers,
    invalid_message,
    l1_level,
    observed_cells,
    resolution_layer,
    run_layers,
    tested_cells,
)
from mcflow.case import Case
from mcflow.density import density
from mcflow.edges import equal_probability_edges
from mcflow.engine import Histogram, ProgressCallback, check_transform, sample
from mcflow.engine import histogram as run_histogram
from mcflow.expected import Expected, exact_cell_masses, expected_masses
from mcflow.layers import (
    STATISTICS,
    verdict_of,
)
from mcflow.result import (
    SCHEMA_VERSION,
    LayerResult,
    ValidationResult,
    Verdict,
    WorstBin,
    central_range,
)
from mcflow.sensitivity import required_n, worst_cells
from mcflow.transform import Transform

__all__ = ["SCHEMA_VERSION", "Case", "LayerResult", "ValidationResult", "validate"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_SIGMA_STEP = 1e-3
_CURVE_POINTS = 3000
#: Draws kept for the seed's Fig. 1 (histograms of X and Y).
_FIGURE_SAMPLE = 10_000


@contextmanager
def _phase(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[name]``, numba's compiling to ``"compile"``.

    The first run on a machine compiles the kernels (or loads them from numba's cache)
    inside sampling, quadrature and the null; counted there, a 1e8 run that compiled
    for 10 s would read as sampling at 10 M samples/s.
    """
    started = time.perf_counter()
    compiled: list[float] = []
    try:
        with install_timer("numba:compile", compiled.append):
            yield
    finally:
        compiling = sum(compiled)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started - compiling
        if compiling:
            seconds["compile"] = seconds.get("compile", 0.0) + compiling


def _resolve_seed(seed: Any, case: Case) -> int | None:
    if isinstance(seed, str):
        if seed != AUTO_SEED:
            raise ValueError(f"seed must be an integer, 'auto' or None, got {seed!r}")
        identity = (case.identity,) if case.identity else ()
        return case_seed(case.transform.name, pdf_identity(case.pdf), case.mu, case.sigma,
                         *identity)
    return seed  # checked by the engine


def _case_of(transform: Any, pdf: Any, mu: Any, sigma: Any, cdf: Any) -> Case:
    """Return the case to validate: a :class:`Case` with the call's overrides, or a new one."""
    if isinstance(transform, Case):
        overrides = {key: value for key, value in
                     (("pdf", pdf), ("mu", mu), ("sigma", sigma), ("cdf", cdf))
                     if value is not None}
        return dataclasses.replace(transform, **overrides) if overrides else transform
    return Case(check_transform(transform), pdf, 0.0 if mu is None else mu,
                1.0 if sigma is None else sigma, cdf=cdf)


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
        return as_float_array(pdf(np.array(y, dtype=np.float64)), np.shape(y), "pdf")

    return checked


def _derived_pdf(transform: Transform, y: np.ndarray, *, mu: float, sigma: float) -> np.ndarray:
    return density(transform, y, mu, sigma)



def _worst_bins(cells: np.ndarray, probabilities: np.ndarray, edges: np.ndarray
                ) -> tuple[WorstBin, ...]:
    n = int(cells.sum())
    cell_lo = np.concatenate([[-np.inf], edges, [np.nan]])
    cell_hi = np.concatenate([edges, [np.inf], [np.nan]])
    # Samples where the claim has zero mass are the strongest evidence of all:
    # they lead the list (their standardized residual is infinite).
    impossible = [(int(i), math.inf) for i in
                  np.flatnonzero((probabilities == 0) & (cells > 0))]
    return tuple(WorstBin(
        cell=int(index), lo=float(cell_lo[index]), hi=float(cell_hi[index]),
        observed=int(cells[index]), expected=float(n * probabilities[index]),
        residual=float(residual),
    ) for index, residual in (impossible + worst_cells(cells, probabilities, k=5))[:5])


def _claimed_curve(pdf: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
                   probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Evaluate the claimed p_Y on the figures' grid: the central 99.5% and every bin."""
    lo, hi = central_range(edges, float(probabilities[0]), probabilities[1:-2])
    ys = np.unique(np.concatenate([np.linspace(lo, hi, _CURVE_POINTS),
                                   np.linspace(edges[0], edges[-1], _CURVE_POINTS),
                                   edges[:-1] + 0.5 * np.diff(edges)]))
    try:
        with np.errstate(all="ignore"):
            return ys, pdf(ys)
    except Exception:  # a curve for the figure only: the verdict is already made
        return None


def _sigma_detection(transform: Transform, edges: np.ndarray, exact: np.ndarray | None,
                     mu: float, sigma: float, limit: float) -> float | None:
    if exact is None:
        return None
    shifted = exact_cell_masses(transform, edges, mu, sigma * (1.0 + _SIGMA_STEP))
    slope = float(np.abs(shifted - exact).sum()) / _SIGMA_STEP
    return limit / slope if slope > 0 else None


def validate(
    transform: Transform | Case,
    pdf: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    n: int = 10**7,
    bins: int | np.ndarray | None = None,
    range: tuple[float, float] | None = None,
    seed: int | str | None = AUTO_SEED,
    alpha: float = 0.01,
    tolerance: float | None = None,
    mu: float | None = None,
    sigma: float | None = None,
    cdf: Callable[[np.ndarray], np.ndarray] | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    client: Any = None,
) -> ValidationResult:
    """Check a claimed density p_Y of Y = T(X), X ~ N(mu, sigma), against brute force.

    Parameters
    ----------
    transform : Transform or Case
        T. With an inverse (a monotone bijection onto its support) the exact
        layers run too.  Non-injective forwards work with an explicit ``pdf``.
        A :class:`Case` (e.g. from :func:`mcflow.from_torch`) brings its pdf,
        mu, sigma and CDF; arguments given here override them.
    pdf : callable, optional
        Vectorized claimed density ``p_Y(y: ndarray) -> ndarray``.  Default:
        derived from ``transform`` by the seed's Eq. (5).
    n : int, default 1e7
        Monte Carlo samples.
    bins, range : int or array_like, and (float, float), optional
        Default: equal-probability bins with refined tails
        (:func:`mcflow.edges.equal_probability_edges`).  An int needs ``range``.
    seed : int, "auto" or None, default "auto"
        Seed of the sample (the multinomial null uses its own fixed seed).
        ``"auto"`` derives it from the case (transform name, pdf, mu, sigma;
        see :func:`mcflow._seeds.case_seed`), so different cases are
        independent experiments and a failure reproduces; ``None`` draws fresh
        entropy.  The seed used is ``result.seed``.
    alpha : float, default 0.01
        Probability that a correct density fails (split over the tests).
    tolerance : float, optional
        The L1 deviation you care about.  The verdict is ``"inconclusive"``
        when this n cannot detect it (95% power); ``required_n`` then says how
        many samples would.  The exact layer then fails only beyond it.
    mu, sigma : float, optional
        Parameters of X (default 0 and 1, or the case's).
    cdf : callable, optional
        A claimed CDF F_Y, vectorized: its differences over the bins are
        tested too (:mod:`mcflow.cdf_claim`), sample-free against the exact
        masses when T has an inverse.
    threads, progress, client
        Engine threads; ``progress(samples_done, n)`` during sampling; a Dask
        client to draw the samples on (bitwise the same counts).

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
    seconds: dict[str, float] = {}
    case = _case_of(transform, pdf, mu, sigma, cdf)
    transform, mu, sigma = case.transform, case.mu, case.sigma
    n = check_n(n)
    alpha, tolerance = check_alpha(alpha), check_tolerance(tolerance)
    seed = _resolve_seed(seed, case)
    # The bins of a forward-only T come from a pilot sample: seeded by the case, not the
    # run, so every seed of a case tests the same cells and shares one (cached) null.
    pilot_seed = _resolve_seed(AUTO_SEED, case)
    claimed_pdf = _claimed_pdf(transform, case.pdf, mu, sigma)
    if bins is None and range is not None:
        raise ValueError("range needs an integer bins; with bins=None the bins are automatic")
    null_compile = start_null_compile()  # on another core while this one compiles the sampler
    with _phase(seconds, "edges"):
        edges = equal_probability_edges(transform, n, mu=mu, sigma=sigma, seed=pilot_seed) \
            if bins is None else bins
    with _phase(seconds, "sampling"):
        h = run_histogram(transform, n, bins=edges, range=range, seed=seed, mu=mu, sigma=sigma,
                          threads=threads, progress=progress, client=client)
    with _phase(seconds, "quadrature"):
        expected = expected_masses(transform, claimed_pdf, h.edges, n, mu, sigma, case.pdf_rtol)
    cells = observed_cells(h, transform.support, overflow_in_tail=transform.has_inverse)
    mc_layers = 1 + (expected.exact is not None) + (case.cdf is not None)
    alpha_per_test = alpha / mc_layers  # each layer's combined test (min-p over statistics)
    if null_compile is not None:
        seconds["compile"] = seconds.get("compile", 0.0) + null_compile.wait()
    with _phase(seconds, "null"):
        tested = tested_cells(cells, expected, h.edges, n, alpha_per_test)
        layers = run_layers(expected, tested, alpha_per_test, tolerance)
        if expected.exact is not None and transform.has_inverse:
            # inside the support, as the exact masses were computed: bins beyond it get
            # no width, and a user's inverse never sees values it may refuse
            layers = explain_exact_layer(layers, expected.claimed, expected.exact,
                                         np.clip(h.edges, *transform.support),
                                         transform.inverse_array)
        if case.cdf is not None:
            layers += cdf_claim_layers(case, expected, tested, alpha_per_test, tolerance)
    resolution = resolution_layer(expected, tested, alpha_per_test, tolerance)
    if resolution is None and any(layer.statistics.get("unresolvable") for layer in layers):
        resolution = LayerResult("resolution", "skipped", "a Monte Carlo layer cannot resolve "
                                 "alpha at this number of null replicates (see its message)")
    if resolution is not None:
        layers.append(resolution)
    with _phase(seconds, "result"):  # worst bins, the exact curve, sigma detection
        result = _result(case, claimed_pdf, h, cells, expected, tested, layers,
                         verdict_of(layers, resolution is None), alpha, alpha_per_test,
                         tolerance, seconds, default_bins=bins is None)
    seconds["total"] = time.perf_counter() - started  # result.seconds is this dict
    return result


def _precision_note(case: Case, limit: float, failed: bool) -> str | None:
    """State what a float32 claim resolves against what this run resolves."""
    if case.dtype != "float32":
        return None
    rtol = case.pdf_rtol if case.pdf_rtol is not None else 2.0**-24
    source = case.library or "user code"
    if failed:
        return (f"the claim is computed in float32 ({source}), and it fails: float32 rounding "
                f"of its sampling path and density (relative accuracy {rtol:.1e} at typical "
                "points, much worse where float32 saturates, near support ends and in the "
                "tails) can cause that alone; validate with dtype='float64' to tell float32 "
                "rounding from a bug")
    where = ("below it: float32 rounding cannot show at this n" if rtol < limit else
             "above it: this n could resolve float32 rounding, and did not")
    return (f"the claim is computed in float32 ({source}): its relative accuracy {rtol:.1e} "
            f"bounds the L1 it can move; this run's detection limit is L1 = {limit:.1e}, "
            f"{where}")


def _warnings(case: Case, expected: Expected, tested: Tested, cells: np.ndarray,
              failed: bool) -> tuple[str, ...]:
    warnings = list(case.notes)
    precision = _precision_note(case, tested.limit, failed)
    if precision is not None:
        warnings.append(precision)
    if expected.invalid_outside is not None:
        warnings.append(invalid_message(expected.invalid_outside,
                                         "where no sample lands: taken as 0"))
    if tested.starts is not None:
        warnings.append(f"{cells.size:,} cells: the tests merge them into {tested.cells.size:,} "
                        "groups of about equal claimed probability, for which the simulated "
                        "null is exact (cost cap); power at the finest scale is given up")
    return tuple(warnings)


def _result(case: Case, claimed_pdf: Callable[[np.ndarray], np.ndarray],
            h: Histogram, cells: np.ndarray, expected: Expected, tested: Tested,
            layers: list[LayerResult], verdict: Verdict, alpha: float, alpha_per_test: float,
            tolerance: float | None, seconds: dict[str, float], *, default_bins: bool
            ) -> ValidationResult:
    probabilities = tested.cell_probabilities
    stats = next(layer for layer in layers if layer.name == "mc_vs_claimed").statistics
    n, mu, sigma, edges = h.n, h.mu, h.sigma, h.edges
    transform = case.transform
    return ValidationResult(
        verdict=verdict, transform=case.name, n=n, seed=h.seed, mu=mu, sigma=sigma,
        alpha=alpha, alpha_per_test=alpha_per_test, tolerance=tolerance, histogram=h,
        expected=probabilities[1:-2].copy(),
        expected_underflow=float(probabilities[0]),
        expected_overflow=float(probabilities[-2]),
        expected_nonfinite=float(probabilities[-1]),
        exact=None if expected.exact is None else expected.exact[1:-1].copy(),
        layers=tuple(layers),
        ks_statistic=float(stats["ks_statistic"]), ks_pvalue=float(stats["ks_pvalue"]),
        ks_asymptotic_pvalue=float(stats["ks_asymptotic_pvalue"]),
        l1=float(stats["l1"]), l1_pvalue=float(stats["l1_pvalue"]),
        g_statistic=float(stats["g_statistic"]), g_pvalue=float(stats["g_pvalue"]),
        ad_statistic=float(stats["ad_statistic"]), ad_pvalue=float(stats["ad_pvalue"]),
        combined_pvalue=float(stats["combined_pvalue"]),
        combined_pvalue_floor=float(stats["combined_pvalue_floor"]),
        normalization=float(expected.claimed.sum()),
        expected_normalization=1.0 if expected.exact is None else float(expected.exact.sum()),
        quadrature_error=float(expected.errors.sum()),
        detection_limit=float(tested.limit),
        required_n=None if tolerance is None else
        required_n(n, tested.null, l1_level(alpha_per_test), tolerance),
        sigma_detection=_sigma_detection(transform, edges, expected.exact, mu, sigma,
                                         tested.limit),
        worst_bins=_worst_bins(cells, probabilities, edges),
        replicates=tested.null.replicates, seconds=seconds, default_bins=default_bins,
        claimed_curve=_claimed_curve(claimed_pdf, edges, probabilities),
        figure_sample=sample(transform, min(_FIGURE_SAMPLE, n), seed=h.seed, mu=mu,
                             sigma=sigma) if h.seed is not None else None,
        critical_values={key: float(tested.null.quantile(key, 1.0 - l1_level(alpha_per_test)))
                         for key in STATISTICS},
        cells=cells, warnings=_warnings(case, expected, tested, cells, verdict == "fail"),
        pdf_evaluations=expected.evaluations,
        quadrature_domain=(expected.domain.lo, expected.domain.hi),
    )
