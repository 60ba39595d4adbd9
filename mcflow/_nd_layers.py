"""The layers of a d-dimensional validation, each returning a :class:`LayerResult`.

For y = T(x), x ~ N(mean, diag(scale^2)) = p_X, the residual

    rho(x) = log q(T(x)) + log|det J_T(x)| - log p_X(x)

is exactly 0 everywhere when the claimed density q is right.

* **structure** (no sampling): shapes, finite values, the inverse's round trip
  and the user's log-det against a finite-difference Jacobian, at design points
  (scrambled Sobol in the bulk, per-axis tail points at 3, 5 and 8 sigma).
* **pointwise**: rho at the first Monte Carlo rows and the design points,
  against a tolerance from the Jacobian's error estimate; deterministic, it
  spends no alpha.  With the user's log-det the residual is split into the
  density term and the Jacobian term, which says where the bug is.
* **normalisation**: ``Z = E_r[q / r] = 1`` by importance sampling from a
  Student t fitted to a pilot of T's samples (``mcflow.nd``); a t-test on
  batch means; inconclusive when the weights are too heavy-tailed for a
  t-test (Pareto k-hat > 0.5, where their variance is infinite, or ESS < 1000).
  Catches mass of q outside T's image.
* **mc_vs_claimed** (:mod:`mcflow._nd_regions`): over all n samples, the
  fraction of samples in a few regions against the claimed mass of each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mcflow._nd_case import design_points
from mcflow._nd_jacobian import reference_log_det
from mcflow._user_code import hide_mcflow_frames
from mcflow.result import LayerResult

__all__ = ["BATCHES", "Weights", "base_log_pdf", "design_points", "normalisation_layer",
           "pointwise_layer", "structure_layer", "tail_size"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Batch means of the normalisation's t-test: batches of >= 150 rows at n = 1e4.
BATCHES = 64
#: Gauss-Kronrod-style safety on the finite-difference error estimate.
SAFETY = 10.0
#: Relative float64 allowance on rho's terms (log q, log p_X, log|det J|).
_FLOAT_RTOL = 1e-9
_ROUNDTRIP_RTOL = 1e-8
_MAX_K_HAT = 0.5
_MIN_ESS = 1000.0
_LOG_2PI = float(np.log(2 * np.pi))


def base_log_pdf(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``log N(x; mean, diag(scale^2))`` of each row."""
    z = (x - mean) / scale
    return -0.5 * (z * z).sum(axis=1) - np.log(scale).sum() - 0.5 * x.shape[1] * _LOG_2PI


def _tolerance(error: np.ndarray, *terms: np.ndarray) -> np.ndarray:
    magnitude = sum(np.abs(term) for term in terms)
    return SAFETY * error + _FLOAT_RTOL * (1.0 + magnitude)


def _worst_text(x: np.ndarray, residual: np.ndarray, flagged: np.ndarray) -> str:
    index = int(np.argmax(np.where(flagged, np.abs(residual), -1.0)))
    point = ", ".join(f"{v:.3g}" for v in x[index][:6]) + (", ..." if x.shape[1] > 6 else "")
    return f"worst at x = ({point}): {residual[index]:+.3e}"


@dataclass(frozen=True)
class Pointwise:
    """The pointwise layer and its numbers (for the result)."""

    layer: LayerResult
    worst_x: np.ndarray | None


def structure_layer(forward: Callable[[np.ndarray], np.ndarray],
                    log_prob: Callable[[np.ndarray], np.ndarray],
                    inverse: Callable[[np.ndarray], np.ndarray] | None,
                    log_det: Callable[[np.ndarray], np.ndarray] | None,
                    x: np.ndarray) -> LayerResult:
    """Shapes, finite values, inverse round trip and user log-det vs finite differences."""
    m, d = x.shape
    with np.errstate(all="ignore"):
        y = np.asarray(forward(x), dtype=np.float64)
        if y.shape != (m, d):
            return LayerResult("structure", "fail", f"forward returned shape {y.shape} for "
                               f"input shape {(m, d)}; it must map (m, d) -> (m, d)")
        lq = np.asarray(log_prob(y), dtype=np.float64)
        if lq.shape not in ((m,), (m, 1)):
            return LayerResult("structure", "fail", f"log_prob returned shape {lq.shape} for "
                               f"{m} rows; it must return (m,)")
        bulk = slice(0, 512)  # the Sobol points: T must be finite there
        if not np.all(np.isfinite(y[bulk])):
            return LayerResult("structure", "fail", "forward is not finite at bulk design "
                               "points (scrambled Sobol normal quantiles at 1x and 2x scale)")
        statistics: dict[str, float] = {}
        if inverse is not None:
            back = np.asarray(inverse(y[bulk]), dtype=np.float64)
            error = np.abs(back - x[bulk]) / (1.0 + np.abs(x[bulk]))
            statistics["roundtrip_error"] = float(np.nanmax(error))
            if not statistics["roundtrip_error"] <= _ROUNDTRIP_RTOL:
                return LayerResult("structure", "fail", f"inverse(forward(x)) differs from x by "
                                   f"{statistics['roundtrip_error']:.2e} relative (more than "
                                   f"{_ROUNDTRIP_RTOL:g}): not the inverse", statistics)
        if log_det is not None:
            user = np.asarray(log_det(x[bulk]), dtype=np.float64).reshape(-1)
            reference, error = reference_log_det(forward, x[bulk])
            off = np.abs(user - reference)
            flagged = off > _tolerance(error, reference)
            statistics["log_det_max_difference"] = float(np.nanmax(off))
            if np.any(flagged):
                return LayerResult(
                    "structure", "fail",
                    f"log_abs_det_jacobian disagrees with the finite-difference Jacobian at "
                    f"{int(flagged.sum())} of {flagged.size} design points; "
                    f"{_worst_text(x[bulk], user - reference, flagged)}", statistics)
    return LayerResult("structure", "pass", "shapes, finite values"
                       + (", inverse round trip" if inverse is not None else "")
                       + (", log-det vs finite differences" if log_det is not None else "")
                       + " agree at the design points", statistics)


def pointwise_layer(forward: Callable[[np.ndarray], np.ndarray],
                    log_prob: Callable[[np.ndarray], np.ndarray],
                    log_det: Callable[[np.ndarray], np.ndarray] | None,
                    x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> Pointwise:
    r"""``rho(x)`` at every row of ``x``; fail where it exceeds its tolerance.

    Tolerance per point: ``SAFETY eps_FD + 1e-9 (1 + |log q| + |log p_X| + |ldj|)``
    (the finite-difference error estimate, and float64 evaluation).
    """
    with np.errstate(all="ignore"):
        y = np.asarray(forward(x), dtype=np.float64)
        usable = np.all(np.isfinite(y), axis=1)
        x, y = x[usable], y[usable]
        lq = np.asarray(log_prob(y), dtype=np.float64).reshape(-1)
        lp = base_log_pdf(x, mean, scale)
        reference, error = reference_log_det(forward, x)
        residual = lq + reference - lp
        tolerance = _tolerance(error, lq, lp, reference)
        flagged = ~(np.abs(residual) <= tolerance) & np.isfinite(error)
    statistics = {"points": int(x.shape[0]), "flagged": int(flagged.sum()),
                  "max_abs_residual": float(np.nanmax(np.abs(residual))) if x.size else 0.0}
    if not flagged.any():
        return Pointwise(LayerResult(
            "pointwise", "pass", f"log q(T(x)) + log|det J| - log p_X(x) = 0 within tolerance "
            f"at all {x.shape[0]} points (max |rho| = {statistics['max_abs_residual']:.1e})",
            statistics), None)
    message = (f"the change of variables fails at {int(flagged.sum())} of {x.shape[0]} points: "
               f"{_worst_text(x, residual, flagged)} in log density")
    message += _likely_cause(residual, flagged, tolerance)
    if log_det is not None:
        user = np.asarray(log_det(x), dtype=np.float64).reshape(-1)
        density_term = np.abs(lq + user - lp)[flagged]
        jacobian_term = np.abs(reference - user)[flagged]
        where = ("the log-det (log_abs_det_jacobian vs the true Jacobian)"
                 if np.median(jacobian_term) > np.median(density_term) else
                 "the density path (log_prob vs the forward log-det: inverse, base density, "
                 "summation)")
        message += f"; the error is in {where}"
    worst = x[int(np.argmax(np.where(flagged, np.abs(residual), -1.0)))]
    return Pointwise(LayerResult("pointwise", "fail", message, statistics), worst)


def _likely_cause(residual: np.ndarray, flagged: np.ndarray, tolerance: np.ndarray) -> str:
    """Name the bug when the residual says it: the same constant at every point."""
    if flagged.mean() < 0.99:  # wrong only somewhere: a region, a branch, one coordinate
        return (f" (wrong at {100 * flagged.mean():.0f}% of the points: an error confined to a "
                "region or depending on x, e.g. one coordinate's scale or one layer's sign)")
    spread = float(np.ptp(residual[flagged]))
    if spread <= 10 * float(np.max(tolerance[flagged])):
        constant = float(np.median(residual[flagged]))
        return (f" (the same {constant:+.4g} everywhere: q is off by a constant factor "
                f"{np.exp(constant):.4g}, e.g. a log-det term not multiplied by the dimension or a "
                "missing normalising constant)")
    return ""


def tail_size(count: int) -> int:
    """Return how many of the largest weights the Pareto fit may use (3 sqrt(count), + 1)."""
    return int(3 * np.sqrt(count)) + 1


@dataclass(frozen=True)
class Weights:
    """What the normalisation layer needs of the importance weights, accumulated in blocks."""

    batch_means: np.ndarray
    total: float
    squares: float
    positive: int
    largest: np.ndarray  # ascending, at most tail_size(count)
    count: int
    nan_log_q: int


def normalisation_layer(weights: Weights, alpha: float, proposal: str = "the proposal"
                        ) -> LayerResult:
    r"""``Z = E_r[q/r]`` against 1: a t-test on batch means, with weight diagnostics."""
    means = weights.batch_means
    z_hat, se = float(means.mean()), float(means.std(ddof=1) / np.sqrt(means.size))
    ess = weights.total**2 / weights.squares if weights.squares > 0 else 0.0
    k_hat = _pareto_k(weights.largest, weights.positive)
    t = (z_hat - 1.0) / se if se > 0 else (0.0 if z_hat == 1.0 else np.inf)
    pvalue = float(2 * stats.t.sf(abs(t), means.size - 1))
    statistics = {"z": z_hat, "standard_error": se, "pvalue": pvalue, "ess": ess,
                  "pareto_k": k_hat, "proposal_samples": weights.count,
                  "nan_log_q": weights.nan_log_q, "proposal": proposal}
    text = f"integral of q = {z_hat:.5f} +- {se:.1e} (p = {pvalue:.3g}; draws from {proposal})"
    # Heavy-tailed weights make both the estimate and its standard error unreliable
    # (typically too small): no verdict either way, whatever the p-value says.
    if not (k_hat <= _MAX_K_HAT and ess >= _MIN_ESS):
        return LayerResult("normalisation", "skipped",
                           f"{text}, but the importance weights are too heavy-tailed to trust "
                           f"(Pareto k = {k_hat:.2f}, ESS = {ess:.0f})", statistics)
    if pvalue <= alpha:
        return LayerResult("normalisation", "fail",
                           f"{text}: q does not integrate to 1 (mass outside T's image, a "
                           "constant log-det factor, or no normalisation)", statistics)
    return LayerResult("normalisation", "pass", f"{text}: consistent with 1", statistics)


def _pareto_k(largest: np.ndarray, positive: int) -> float:
    """Generalized-Pareto shape of the largest weights (Vehtari et al.'s k-hat)."""
    tail = min(positive // 5, int(3 * np.sqrt(positive)))
    if tail < 20:
        return np.inf
    threshold = largest[-tail - 1]
    excess = largest[-tail:] - threshold
    if not np.any(excess > 0):
        return 0.0
    shape, _, _ = stats.genpareto.fit(excess, floc=0.0)
    return float(shape)
