"""Plain-data results of :func:`mcflow.validate`: layers, statistics, the verdict.

Nothing here calls user code or samples: a result is what was found, and the
reporting layer reads it without re-running anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mcflow._version import __version__
from mcflow.engine import Histogram

__all__ = ["SCHEMA_VERSION", "LayerResult", "ValidationResult", "Verdict", "WorstBin",
           "central_range", "p_text"]

#: Version of the JSON document (:mod:`mcflow._document`) and of each result's ``to_dict()``
#: (a case of it); bump on any incompatible change.  ``/1`` had three shapes under one name.
SCHEMA_VERSION = "mcflow.validation/2"
Verdict = Literal["pass", "fail", "inconclusive"]


def p_text(pvalue: float, floor: float, label: str = "p") -> str:
    """Write a Monte Carlo p-value: ``p = 0.0123``, or ``p < 1e-05`` at its null's ``floor``.

    ``floor`` is the smallest value the null gives (``1 / (R + 1)`` for ``R``
    replicates): a p-value there only says "at most this", so it reads as a bound
    (``1.5 * floor`` to one digit, never below it).  ``label=""`` writes a table
    cell: ``0.0123`` or ``< 1e-05``.
    """
    prefix = f"{label} " if label else ""
    if pvalue <= floor * (1 + 1e-9):
        return f"{prefix}< {1.5 * floor:.1g}"
    return f"{prefix}= {pvalue:.3g}" if label else f"{pvalue:.3g}"


def central_range(edges: np.ndarray, underflow: float, expected: np.ndarray,
                  mass: float = 0.995) -> tuple[float, float]:
    """Return the edges holding the central ``mass`` of cell probabilities ``expected``."""
    cumulative = underflow + np.concatenate([[0.0], np.cumsum(expected)])
    lo = edges[max(int(np.searchsorted(cumulative, (1 - mass) / 2)) - 1, 0)]
    hi = edges[min(int(np.searchsorted(cumulative, 1 - (1 - mass) / 2)), edges.size - 1)]
    return float(lo), float(hi)


@dataclass(frozen=True)
class WorstBin:
    """A cell with one of the largest standardized residuals (impossible samples first)."""

    cell: int
    lo: float
    hi: float
    observed: int
    expected: float
    residual: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable view."""
        return {"cell": self.cell, "lo": self.lo, "hi": self.hi, "observed": self.observed,
                "expected": self.expected, "residual": self.residual}


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

    verdict: Verdict
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
    worst_bins: tuple[WorstBin, ...]
    replicates: int
    seconds: dict[str, float]
    default_bins: bool
    #: ``(y, claimed p_Y(y))`` on a plotting grid (the central range and every bin).
    claimed_curve: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    #: ``(x, y)``: the first draws of the tested stream, for the seed's Fig. 1.
    figure_sample: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    critical_values: dict[str, float] = field(default_factory=dict)
    cells: np.ndarray | None = field(default=None, repr=False)
    #: Things a person should know that did not change the verdict.
    warnings: tuple[str, ...] = ()
    #: Calls' worth of claimed-pdf values spent by the quadrature.
    pdf_evaluations: int = 0
    #: ``[lo, hi]`` where the claimed p_Y was integrated.
    quadrature_domain: tuple[float, float] | None = None
    #: Anderson–Darling on the cells (end-to-end layer), and its p-value.
    ad_statistic: float = math.nan
    ad_pvalue: float = math.nan
    #: The end-to-end layer's min-p combination of KS, L1, G and AD: what it tests.
    combined_pvalue: float = math.nan
    #: The smallest combined p-value its null gives (a sample beyond every replicate).
    combined_pvalue_floor: float = math.nan

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``"pass"``."""
        return self.verdict == "pass"

    @property
    def failed_layers(self) -> tuple[str, ...]:
        """Names of the layers that failed."""
        return tuple(layer.name for layer in self.layers if layer.status == "fail")

    def central_range(self, mass: float = 0.995) -> tuple[float, float]:
        """Return bin edges that hold the central ``mass`` of the claimed distribution."""
        return central_range(self.histogram.edges, self.expected_underflow, self.expected, mass)

    @property
    def pvalue_floor(self) -> float:
        """The smallest p-value of one statistic, ``1 / (replicates + 1)``."""
        return 1.0 / (self.replicates + 1.0)

    def pvalue_texts(self, label: str = "p") -> dict[str, str]:
        """Return the ``ks``, ``l1``, ``g``, ``ad`` and ``combined`` p-values by :func:`p_text`."""
        floor = self.pvalue_floor
        texts = {key: p_text(value, floor, label) for key, value in (
            ("ks", self.ks_pvalue), ("l1", self.l1_pvalue), ("g", self.g_pvalue),
            ("ad", self.ad_pvalue))}
        texts["combined"] = p_text(self.combined_pvalue, self.combined_pvalue_floor, label)
        return texts

    @property
    def messages(self) -> tuple[str, ...]:
        """The layers' messages, failures first."""
        ordered = sorted(self.layers, key=lambda layer: layer.status != "fail")
        return tuple(f"[{layer.name}] {layer.message}" for layer in ordered)

    def summary(self) -> str:
        """Return a few lines for a terminal or an assertion message."""
        p = self.pvalue_texts()
        lines = [
            f"{self.verdict.upper()}: {self.transform}, n = {self.n:,}, seed = {self.seed}, "
            f"alpha = {self.alpha:g}",
            f"  KS D = {self.ks_statistic:.3e} ({p['ks']}), L1 = {self.l1:.3e} ({p['l1']}), "
            f"G = {self.g_statistic:.4g} ({p['g']}), AD = {self.ad_statistic:.4g} ({p['ad']}); "
            f"combined {p['combined']}",
            f"  normalization = {self.normalization:.6g} "
            f"(expected {self.expected_normalization:.6g}); "
            f"detection limit L1 = {self.detection_limit:.2e}",
        ]
        lines += [f"  {message}" for message in self.messages]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        if self.verdict != "pass" and self.worst_bins:
            worst = ", ".join(
                f"[{b.lo:.4g}, {b.hi:.4g}) z = {b.residual:+.1f}" for b in self.worst_bins
            )
            lines.append(f"  worst bins: {worst}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return this result as one case of the JSON document, identifiable on its own.

        The keys are those of a ``"1d"`` case of ``mcflow.validation/2`` (the
        README's JSON section; ``name`` is the transform's), plus ``schema`` and
        ``mcflow_version``, which a document holds once at its top level
        (:func:`mcflow._document.result_case` moves them there).  Non-finite
        floats are the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (strict JSON).
        """
        h = self.histogram
        return _jsonable({
            "schema": SCHEMA_VERSION,
            "mcflow_version": __version__,
            "name": self.transform,
            "kind": "1d",
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
                "ad_statistic": self.ad_statistic,
                "ad_pvalue": self.ad_pvalue,
                "combined_pvalue": self.combined_pvalue,
                "combined_pvalue_floor": self.combined_pvalue_floor,
            },
            "normalization": self.normalization,
            "expected_normalization": self.expected_normalization,
            "quadrature_error": self.quadrature_error,
            "detection_limit": self.detection_limit,
            "required_n": self.required_n,
            "sigma_detection": self.sigma_detection,
            "replicates": self.replicates,
            "warnings": list(self.warnings),
            "pdf_evaluations": self.pdf_evaluations,
            "quadrature_domain": self.quadrature_domain,
            "layers": [layer.to_dict() for layer in self.layers],
            "worst_bins": [worst.to_dict() for worst in self.worst_bins],
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


def _jsonable(value: Any) -> Any:
    """Return ``value`` as strict JSON data: NumPy types unwrapped, non-finite floats as strings."""
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


