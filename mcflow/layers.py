"""The validation layers, each a function returning a :class:`LayerResult`, and the verdict.

Thresholds (the rule, in one place):

* **Sample-free checks** (the exact layer, and the claimed total mass) fail
  when the discrepancy exceeds what the numbers can resolve: the numerical
  floor, ``SAFETY`` times the quadrature error estimates plus the inverse's
  round-trip error plus a float64 evaluation allowance (see
  :func:`numerical_floor`).  They do not wait for the Monte Carlo resolution:
  an error the exact masses show fails at any n.  A user ``tolerance`` raises
  the exact layer's threshold to it.
* **Monte Carlo layers** fail when the min-p combination of their four
  statistics (KS, L1, G, Anderson–Darling), calibrated on the simulated
  replicates, has a p-value at most ``alpha_per_test``, the layer's share of
  ``alpha`` (so a correct density fails with probability at most ``alpha``).
* The verdict is ``fail`` if any layer failed; else ``inconclusive`` if the
  run cannot see what was asked (``tolerance`` below the detection limit, or
  claimed masses too uncertain for the Monte Carlo comparison); else ``pass``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mcflow.null_distribution import NullDistribution
from mcflow.result import LayerResult, Verdict, p_text
from mcflow.statistics import (
    StatisticName,
    ad_statistic,
    g_statistic,
    kolmogorov_pvalue,
    ks_statistic,
    l1_statistic,
)

__all__ = ["EVALUATION_RTOL", "SAFETY", "STATISTICS", "exact_layer", "mc_layer",
           "numerical_floor", "verdict_of"]

STATISTICS: tuple[StatisticName, ...] = ("ks", "l1", "g", "ad")
#: Gauss-Kronrod error estimates are usually pessimistic, but near kinks and
#: noise they can fall short of the true error by a few times: 10x covers it.
SAFETY = 10.0
#: Relative accuracy a claimed density computed in float64 is granted.  Library
#: code regularizes with constants of about 1e-8 (pyro's ELU inverse takes
#: log1p(y + 1e-8), its spline clamps): each moves the total mass by ~4e-9, a
#: deviation no sample can ever show.  2e-8 covers that, and stays 10x below
#: the smallest shipped tail bug re-created in the corpus (L1 = 2.9e-7, a spline
#: wrong beyond its tail bound) and 1e4x below what 1e10 samples resolve.
EVALUATION_RTOL = 2e-8
#: Expected count above which a cell with no sample is worth naming.
_NAMED_EMPTY_EXPECTED = 10.0


def numerical_floor(errors: np.ndarray, roundtrip_error: float, total_mass: float,
                    evaluation_rtol: float = EVALUATION_RTOL) -> float:
    r"""Return the smallest discrepancy a sample-free check can trust.

    .. math:: \text{floor} = \text{SAFETY} \sum_i \epsilon_i + r + \rho M,

    with ``epsilon_i`` the quadrature error estimates (finite ones), ``r`` the
    mass moved by the inverse's round-trip error at the edges, ``M`` the
    claimed total mass and ``rho`` the claim's relative evaluation accuracy
    (``EVALUATION_RTOL`` for float64 code; a float32 claim's measured rounding).
    """
    finite = errors[np.isfinite(errors)]
    return float(SAFETY * finite.sum() + roundtrip_error + evaluation_rtol * abs(total_mass))


def mass_text(mass: float) -> str:
    """Write a total mass so that a deviation from 1 is visible: ``1 + 4.28e-09``."""
    if abs(mass - 1.0) < 1e-4:
        return f"1 {'+' if mass >= 1.0 else '-'} {abs(mass - 1.0):.3g}"
    return f"{mass:.6g}"


def _empty_cells_hint(cells: np.ndarray, probabilities: np.ndarray, edges: np.ndarray,
                      against: str) -> str:
    """Name the interval where the claim expects samples and none landed, if any."""
    n = int(cells.sum())
    empty = np.flatnonzero((cells[:-1] == 0) & (n * probabilities[:-1] >= _NAMED_EMPTY_EXPECTED))
    if empty.size == 0:
        return ""
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])
    lo, hi = float(bounds[empty[0]]), float(bounds[empty[-1] + 1])
    expected = float(n * probabilities[empty].sum())
    return (f"; the {against} expects {expected:.4g} samples in [{lo:.6g}, {hi:.6g}) where none "
            "landed: if T cannot take values there, declare support=(lo, hi)")


def mc_layer(name: str, cells: np.ndarray, probabilities: np.ndarray, null: NullDistribution,
             alpha_per_test: float, against: str, edges: np.ndarray | None) -> LayerResult:
    r"""Compare observed cells with ``probabilities`` against ``null``: one combined test.

    KS, L1, G and Anderson–Darling are computed; the layer fails when their
    min-p combination's p-value (:meth:`NullDistribution.combined_pvalue`) is
    at most ``alpha_per_test``.  The per-statistic p-values are reported too.
    """
    n = int(cells.sum())
    # The probabilities the null was simulated for (the claim rounded far below any
    # resolution, mcflow.nulls.quantized): observed and replicates through one function.
    tested = null.probabilities if null.probabilities.shape == probabilities.shape \
        else probabilities
    observed: dict[StatisticName, float] = {
        "ks": ks_statistic(cells, tested),
        "l1": l1_statistic(cells, tested),
        "g": g_statistic(cells, tested),
        "ad": ad_statistic(cells, tested),
    }
    pvalues = {key: null.pvalue(key, value) for key, value in observed.items()}
    combined = null.combined_pvalue({str(key): value for key, value in observed.items()})
    # The combined p-value of a sample beyond every replicate: the combination's own floor.
    combined_floor = null.combined_pvalue({str(key): math.inf for key in STATISTICS})
    floor = 1.0 / (null.replicates + 1.0)
    statistics: dict[str, Any] = {
        "ks_statistic": observed["ks"], "ks_pvalue": pvalues["ks"],
        "ks_asymptotic_pvalue": kolmogorov_pvalue(observed["ks"], n),
        "l1": observed["l1"], "l1_pvalue": pvalues["l1"],
        "g_statistic": observed["g"], "g_pvalue": pvalues["g"],
        "ad_statistic": observed["ad"], "ad_pvalue": pvalues["ad"],
        "combined_pvalue": combined, "combined_pvalue_floor": combined_floor,
        "alpha_per_test": alpha_per_test, "cells": int(cells.size),
    }
    impossible = np.flatnonzero((probabilities == 0) & (cells > 0))
    if impossible.size:
        statistics["impossible_cells"] = impossible.tolist()
    # An observation beyond every replicate still shares its min-p with the (up to 4)
    # replicates holding a column maximum: the combined p-value cannot go below this.
    resolvable = (1 + len(STATISTICS)) / (null.replicates + 1.0)
    if resolvable > alpha_per_test:
        statistics["unresolvable"] = True
        return LayerResult(
            name, "skipped",
            f"alpha per test {alpha_per_test:.2g} is below the smallest p-value "
            f"{null.replicates:,} null replicates resolve ({resolvable:.2g}): this layer cannot "
            f"fail (smallest single {p_text(min(pvalues.values()), floor)}); use a larger "
            "alpha or fewer cases per check", statistics)
    if combined <= alpha_per_test:
        named = ", ".join(f"{key.upper()} {p_text(pvalues[key], floor)}" for key in
                          sorted(STATISTICS, key=lambda key: pvalues[key])[:2])
        message = (f"the sample disagrees with the {against}: combined "
                   f"{p_text(combined, combined_floor)} <= {alpha_per_test:.3g} (min-p of KS, L1, "
                   f"G, AD; strongest {named})")
        if impossible.size:
            message += (f"; {int(cells[impossible].sum())} samples fell where the {against} "
                        "put zero mass")
        if edges is not None:  # 1-D cells: name the interval
            message += _empty_cells_hint(cells, probabilities, edges, against)
        return LayerResult(name, "fail", message, statistics)
    return LayerResult(name, "pass",
                       f"consistent with the {against} (combined p = {combined:.3g})",
                       statistics)


def exact_layer(claimed_cells: np.ndarray, exact_cells: np.ndarray, floor: float,
                tolerance: float | None) -> LayerResult:
    """Claimed against exact cell masses (last cell: the mass neither puts in the cells)."""
    normalization, expected_normalization = float(claimed_cells[:-1].sum()), \
        float(exact_cells[:-1].sum())
    differences = np.abs(claimed_cells - exact_cells)
    l1_exact = float(differences.sum())
    threshold = max(floor, tolerance or 0.0)
    worst = int(np.argmax(differences))
    statistics = {"l1_exact": l1_exact, "threshold": threshold, "numerical_floor": floor,
                  "normalization": normalization,
                  "expected_normalization": expected_normalization, "worst_cell": worst}
    if abs(normalization - expected_normalization) > threshold:
        return LayerResult(
            "exact", "fail",
            f"p_Y integrates to {mass_text(normalization)} over the support, expected "
            f"{mass_text(expected_normalization)} (numerical floor {floor:.1e}): a missing or "
            "extra Jacobian factor?", statistics)
    if l1_exact > threshold:
        return LayerResult(
            "exact", "fail",
            f"the claimed p_Y puts the wrong mass in the bins: L1 to the exact masses "
            f"= {l1_exact:.3e} > {threshold:.1e} (worst cell {worst})", statistics)
    return LayerResult("exact", "pass",
                       f"bin masses match the exact ones (L1 = {l1_exact:.2e} <= {threshold:.1e})",
                       statistics)


def verdict_of(layers: list[LayerResult], resolved: bool) -> Verdict:
    """``fail`` if any layer failed, ``inconclusive`` if the run cannot see, else ``pass``."""
    if any(layer.status == "fail" for layer in layers):
        return "fail"
    return "pass" if resolved else "inconclusive"
