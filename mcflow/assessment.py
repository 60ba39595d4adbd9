"""What the Monte Carlo layers test: the observed cells, their claimed probabilities, the null.

:func:`tested_cells` assembles the cells ``[underflow, bins..., overflow,
non-finite]`` the tests see (groups of cells for a huge binning), the claimed
and exact probabilities with the mass the claim leaves out, and the simulated
null; :func:`run_layers` runs the exact and Monte Carlo layers on them and
:func:`resolution_layer` says when the run cannot see what was asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcflow._user_code import hide_mcflow_frames
from mcflow.case import Case
from mcflow.cdf_claim import cdf_cell_masses, cdf_layers
from mcflow.counts import Histogram
from mcflow.expected import Expected
from mcflow.layers import (
    EVALUATION_RTOL,
    SAFETY,
    STATISTICS,
    exact_layer,
    mass_text,
    mc_layer,
)
from mcflow.null_distribution import NullDistribution, default_replicates
from mcflow.nulls import cell_groups, group, null_for
from mcflow.result import LayerResult
from mcflow.sensitivity import detection_limit, required_n

__all__ = ["Tested", "cdf_claim_layers", "invalid_message", "l1_level", "observed_cells",
           "resolution_layer", "run_layers", "tested_cells", "with_deficit"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Claimed-mass uncertainty, relative to the detection limit, above which the
#: Monte Carlo comparison with the claim cannot be trusted (inconclusive).
_TRUSTED_UNCERTAINTY = 0.1
_SAME_NULL = 1e-12


def l1_level(alpha_per_test: float) -> float:
    """Return the L1 test's level within a layer's min-p test, for the detection limit.

    The combined min-p is at least as small as the smallest single p-value, and
    its null quantile at ``alpha_per_test`` is at least ``alpha_per_test / 4`` (a
    union bound), up to the replicates' resolution ``1 / (R + 1)``; so L1's power
    at this level is, to that resolution, a lower bound on the layer's.
    """
    return alpha_per_test / len(STATISTICS)


def observed_cells(h: Histogram, support: tuple[float, float], overflow_in_tail: bool
                   ) -> np.ndarray:
    """Return the observed [underflow, bins..., overflow, non-finite] for the statistics.

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



def with_deficit(masses: np.ndarray, floor: float) -> np.ndarray:
    """Append the non-finite cell: the mass the cells leave out (0 within ``floor``)."""
    deficit = 1.0 - float(masses.sum())
    deficit = 0.0 if abs(deficit) <= floor else max(deficit, 0.0)
    cells = np.concatenate([np.clip(masses, 0.0, None), [deficit]])
    return cells / cells.sum()





def invalid_message(invalid: tuple[float, float, int, float], where: str) -> str:
    """Describe NaN or negative claimed values recorded by the quadrature."""
    lo, hi, count, value = invalid
    return (f"the claimed p_Y is {value!r} (NaN or negative) at {count} points in "
            f"[{lo:.6g}, {hi:.6g}], {where}")


def _claim_layers(expected: Expected, cells: np.ndarray, probabilities: np.ndarray,
                  null: Any, alpha_per_test: float, edges: np.ndarray,
                  tolerance: float | None) -> list[LayerResult]:
    """Run the exact layer (with an inverse) and the end-to-end layer."""
    layers: list[LayerResult] = []
    normalization = float(expected.claimed.sum())
    unresolved = np.flatnonzero(~np.isfinite(expected.errors))
    if expected.exact is not None:
        if unresolved.size:
            layers.append(LayerResult(
                "exact", "skipped",
                f"quadrature could not resolve the claimed p_Y in cell {int(unresolved[0])} "
                "(it stays infinite at a point that cannot be refined): the exact comparison "
                "would not be trustworthy", {"unresolved_cells": unresolved.tolist()}))
        else:
            claimed = np.concatenate([expected.claimed, [max(0.0, 1.0 - normalization)]])
            exact_total = float(expected.exact.sum())
            exact = np.concatenate([expected.exact, [max(0.0, 1.0 - exact_total)]])
            layers.append(exact_layer(claimed, exact, expected.floor, tolerance))
    end_to_end = mc_layer("mc_vs_claimed", cells, probabilities, null, alpha_per_test,
                          "claimed p_Y", edges)
    if expected.invalid_inside is not None:
        end_to_end = LayerResult("mc_vs_claimed", "fail", invalid_message(
            expected.invalid_inside, "where samples land"), end_to_end.statistics)
    elif expected.exact is None and normalization > 1.0 + expected.floor:
        end_to_end = LayerResult(
            "mc_vs_claimed", "fail",
            f"p_Y integrates to {mass_text(normalization)} over [{expected.domain.lo:.6g}, "
            f"{expected.domain.hi:.6g}], more than 1 (numerical floor {expected.floor:.1e}): "
            "a missing or extra Jacobian factor?", end_to_end.statistics)
    elif end_to_end.status == "fail" and probabilities[-1] > 0:
        n = int(cells.sum())
        end_to_end = LayerResult(
            "mc_vs_claimed", "fail",
            f"{end_to_end.message}; p_Y integrates to {normalization:.6g} over "
            f"[{expected.domain.lo:.6g}, {expected.domain.hi:.6g}], where the samples land, "
            f"so {n * probabilities[-1]:.4g} NaN/inf samples were expected and {cells[-1]} "
            "seen: the claim puts mass where T takes no values (if T's values are bounded, "
            "declare support=(lo, hi)) or is not normalized",
            end_to_end.statistics)
    layers.append(end_to_end)
    return layers



@dataclass(frozen=True)
class Tested:
    """The cells the Monte Carlo tests see (groups of cells for a huge binning) and the null."""

    cells: np.ndarray
    probabilities: np.ndarray
    exact: np.ndarray | None
    edges: np.ndarray
    #: The bin edges before grouping.
    all_edges: np.ndarray
    starts: np.ndarray | None
    #: The claimed probabilities of every cell, before grouping.
    cell_probabilities: np.ndarray
    null: NullDistribution
    limit: float
    n: int


def tested_cells(cells: np.ndarray, expected: Expected, edges: np.ndarray, n: int,
                 alpha_per_test: float) -> Tested:
    """Group the cells if the null's budget needs it, and simulate the null."""
    # resolve alpha / 4 (the single statistics' union bound), as before the min-p test
    replicates = default_replicates(l1_level(alpha_per_test))
    probabilities = with_deficit(expected.claimed, expected.floor)
    starts = cell_groups(probabilities, replicates)
    tested_edges = edges if starts is None else \
        np.concatenate([[-np.inf], edges, [np.inf]])[starts[1:-1]]
    exact = None if expected.exact is None else \
        group(with_deficit(expected.exact, 1e-14), starts)
    null = null_for(n, group(probabilities, starts), replicates)
    limit = detection_limit(null, l1_level(alpha_per_test))
    return Tested(group(cells, starts), group(probabilities, starts), exact, tested_edges,
                  edges, starts, probabilities, null, limit, n)


def run_layers(expected: Expected, tested: Tested, alpha_per_test: float,
               tolerance: float | None) -> list[LayerResult]:
    """Run the exact, mc_vs_exact and mc_vs_claimed layers (skipped ones say why)."""
    layers = _claim_layers(expected, tested.cells, tested.probabilities, tested.null,
                           alpha_per_test, tested.edges, tolerance)
    if tested.exact is None:
        why = ("no inverse" if expected.exact_unavailable is None
               else f"the inverse cannot give exact masses ({expected.exact_unavailable})")
        return [LayerResult(name, "skipped", f"{why}: exact masses unavailable")
                for name in ("exact", "mc_vs_exact")] + layers
    # Probabilities within 1e-12 of each other have nulls no replicate count can tell
    # apart: a correct claim shares its null with the exact masses.
    close = np.max(np.abs(tested.exact - tested.probabilities)) <= _SAME_NULL
    exact_null = tested.null if close else \
        null_for(tested.n, tested.exact, tested.null.replicates)
    layers.insert(1, mc_layer("mc_vs_exact", tested.cells, tested.exact, exact_null,
                              alpha_per_test, "exact bin masses", tested.edges))
    return layers


def resolution_layer(expected: Expected, tested: Tested, alpha_per_test: float,
                     tolerance: float | None) -> LayerResult | None:
    """Say why this run cannot see what is asked, or None when it can."""
    uncertainty = SAFETY * float(expected.errors[np.isfinite(expected.errors)].sum())
    if expected.exhausted and uncertainty > _TRUSTED_UNCERTAINTY * tested.limit:
        return LayerResult(
            "resolution", "skipped",
            f"the claimed p_Y is too rough to integrate: after {expected.evaluations:,} "
            f"evaluations its cell masses are uncertain by {uncertainty:.2e}, above "
            f"{_TRUSTED_UNCERTAINTY:g} x the detection limit {tested.limit:.2e}")
    if tolerance is not None and tested.limit > tolerance:
        needed = required_n(tested.n, tested.null, l1_level(alpha_per_test), tolerance)
        return LayerResult(
            "resolution", "skipped",
            f"n = {tested.n:,} detects L1 deviations >= {tested.limit:.2e} (95% power), not "
            f"the requested tolerance {tolerance:.2e}; about n = {needed:,} would")
    return None


def cdf_claim_layers(case: Case, expected: Expected, tested: Tested, alpha_per_test: float,
                     tolerance: float | None) -> list[LayerResult]:
    """Run the claimed CDF's layers (:mod:`mcflow.cdf_claim`) on the tested cells."""
    assert case.cdf is not None
    rtol = EVALUATION_RTOL if case.pdf_rtol is None else max(case.pdf_rtol, EVALUATION_RTOL)
    eps = float(np.finfo(np.float32 if case.dtype == "float32" else np.float64).eps)
    claim = cdf_cell_masses(case.cdf, tested.all_edges, expected.roundtrip, rtol, eps,
                            case.transform.support)
    return cdf_layers(claim, tested.cells, expected.exact, tested.starts, tested.edges,
                      tested.n, tested.null.replicates, alpha_per_test, tolerance)
