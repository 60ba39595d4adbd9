"""Matplotlib figures of a run, drawn on the Agg canvas; nothing here touches a screen.

:func:`samples_figure` and :func:`validation_densities_figure` reproduce the
seed document's Fig. 1 (histograms of X and Y) and Fig. 2 (the PDFs of X and
Y, here with the Monte Carlo density of Y overlaid); the others show where a
validation found its evidence.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas
attached, never through :mod:`matplotlib.pyplot`: importing this module
leaves the user's backend and pyplot's figure list as they were, and a
figure is freed as soon as nothing refers to it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from mcflow.result import ValidationResult

__all__ = [
    "cdf_difference_figure",
    "new_figure",
    "overview_figure",
    "residuals_figure",
    "samples_figure",
    "save_figure",
    "validation_densities_figure",
]

_VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#ef6c00"}
_X_COLOUR = "#4C72B0"
_Y_COLOUR = "#DD8452"
_STYLE: dict[RcKeyType, Any] = {"axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
          "axes.spines.right": False, "font.size": 10}


def new_figure(figsize: tuple[float, float]) -> Figure:
    """Return an empty figure on an Agg canvas, with constrained layout.

    Unlike ``pyplot.figure`` it is not registered with pyplot, so it never
    needs closing and never opens a window, whatever the user's backend.

    Parameters
    ----------
    figsize : (float, float)
        Width and height in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def samples_figure(x: np.ndarray, y: np.ndarray, transform_name: str) -> Figure:
    """Draw the seed's Fig. 1: histograms of samples of X and of Y = T(X) side by side.

    Parameters
    ----------
    x, y : ndarray
        Draws of X and their images (non-finite y are left out and counted in the title).
    transform_name : str
        For the Y axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    with rc_context(_STYLE):
        figure = new_figure((9, 3.4))
        left, right = figure.subplots(1, 2)
        left.hist(x, bins=50, color=_X_COLOUR, alpha=0.85)
        left.set_xlabel("X")
        left.set_ylabel("count")
        finite = y[np.isfinite(y)]
        right.hist(finite, bins=50, color=_Y_COLOUR, alpha=0.85)
        right.set_xlabel(f"Y = {transform_name}(X)")
        right.set_ylabel("count")
        dropped = y.size - finite.size
        note = f" ({dropped} non-finite not shown)" if dropped else ""
        figure.suptitle(f"Histograms of {x.size:,} samples of X and Y{note}")
    return figure


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a figure to PNG atomically (temporary name, then rename).

    Parameters
    ----------
    figure : Figure
        From this module, or any Figure; one that pyplot manages is closed
        after saving so that it does not accumulate in pyplot's list.
    path : str or Path
        Destination; missing folders are created.
    dpi : int
        Resolution.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    figure.savefig(temporary, dpi=dpi, format="png")
    # Only a user's own pyplot figure needs closing; importing pyplot here
    # would select a backend, so use it only if the user already has.
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)
    temporary.replace(path)
    return path


def _normal_pdf(xs: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((xs - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def validation_densities_figure(result: ValidationResult) -> Figure:
    """Draw the seed's Fig. 2 for a validation: p_X, and p_Y claimed vs Monte Carlo.

    The middle panel shows the central 99.5% of Y on linear axes; the right
    panel every bin on a log density axis, where tail errors show.

    Parameters
    ----------
    result : ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    h = result.histogram
    empirical = h.density()
    with rc_context(_STYLE):
        figure = new_figure((13, 3.8))
        axes = figure.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
        xs = np.linspace(result.mu - 4.5 * result.sigma, result.mu + 4.5 * result.sigma, 600)
        axes[0].plot(xs, _normal_pdf(xs, result.mu, result.sigma), color=_X_COLOUR, lw=2)
        axes[0].set(xlabel="x", ylabel="density",
                    title=f"$p_X$, X ~ N({result.mu:g}, {result.sigma:g})")
        lo, hi = result.central_range()
        for axis, (left, right), log in ((axes[1], (lo, hi), False),
                                         (axes[2], (h.edges[0], h.edges[-1]), True)):
            axis.stairs(empirical, h.edges, color="black", lw=1.0,
                        label=f"Monte Carlo, n = {h.n:.3g}")
            if result.claimed_curve is not None:
                ys, claimed = result.claimed_curve
                shown = (ys >= left) & (ys <= right)
                axis.plot(ys[shown], claimed[shown], color=_Y_COLOUR, lw=1.8, alpha=0.9,
                          label="claimed $p_Y$")
            axis.set_xlim(left, right)
            axis.set(xlabel="y", ylabel="density")
            if log:
                axis.set_yscale("log")
                positive = empirical[empirical > 0]
                if positive.size:
                    axis.set_ylim(bottom=positive.min() / 3)
                axis.set_title(f"$p_Y$ over all {h.bins} bins (log)")
            else:
                axis.set_title(f"$p_Y$, Y = {result.transform}(X): central 99.5%")
                axis.set_ylim(bottom=0)
            axis.legend(frameon=False, fontsize=8)
    return figure


def _observed_cells(result: ValidationResult) -> np.ndarray:
    """Return the [underflow, bins..., overflow, non-finite] counts the statistics used."""
    if result.cells is not None:
        return result.cells
    h = result.histogram
    return np.concatenate([[h.underflow], h.counts, [h.overflow, h.nonfinite]])


def _cell_positions(result: ValidationResult) -> tuple[np.ndarray, np.ndarray]:
    """Cells [underflow, bins..., overflow, non-finite]: claimed CDF at their middles."""
    probabilities = np.concatenate([[result.expected_underflow], result.expected,
                                    [result.expected_overflow, result.expected_nonfinite]])
    cumulative = np.cumsum(probabilities)
    return cumulative - probabilities / 2, probabilities


def residuals_figure(result: ValidationResult) -> Figure:
    """Draw standardized residuals per cell with +-3 bands and the worst cells marked.

    Cells are placed at their claimed cumulative probability, so
    equal-probability bins are evenly spaced and the tails are visible.

    Parameters
    ----------
    result : ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mcflow.sensitivity import standardized_residuals

    cells = _observed_cells(result)
    positions, probabilities = _cell_positions(result)
    residuals = standardized_residuals(cells, probabilities)
    colour = _VERDICT_COLOURS.get(result.verdict, "black")
    with rc_context(_STYLE):
        figure = new_figure((12, 3.6))
        axis = figure.subplots()
        finite = np.isfinite(residuals)
        axis.vlines(positions[finite], 0, residuals[finite], color=colour, lw=1)
        axis.plot(positions[finite], residuals[finite], "o", ms=2.5, color=colour)
        for level in (-3, 3):
            axis.axhline(level, color="grey", ls="--", lw=1)
        axis.axhline(0, color="black", lw=0.6)
        labels = []
        for rank, worst in enumerate(result.worst_bins, start=1):
            index = worst.cell
            if index < positions.size and np.isfinite(residuals[index]):
                axis.plot(positions[index], residuals[index], "o", ms=9, mfc="none",
                          color="black")
                axis.annotate(str(rank), (positions[index], residuals[index]), fontsize=7,
                              xytext=(5, 5), textcoords="offset points")
                labels.append(f"{rank}: [{worst.lo:.4g}, {worst.hi:.4g})  "
                              f"z = {worst.residual:+.1f}")
        if labels:
            axis.text(1.01, 1.0, "worst cells\n" + "\n".join(labels), transform=axis.transAxes,
                      fontsize=7.5, va="top", family="monospace")
        axis.set(xlabel="claimed cumulative probability of the cell",
                 ylabel="(c - nP) / sqrt(nP(1-P))",
                 title=f"Standardized residuals, {result.transform}: {result.verdict.upper()}")
        axis.set_xlim(0, 1)
        peak = np.nanmax(np.abs(residuals[finite])) if finite.any() else 3.0
        axis.set_ylim(-max(4.0, 1.15 * peak), max(4.0, 1.15 * peak))
    return figure


def cdf_difference_figure(result: ValidationResult) -> Figure:
    """Draw the empirical minus claimed CDF at the bin edges, with the KS band.

    Parameters
    ----------
    result : ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    h = result.histogram
    cells = _observed_cells(result)
    empirical = (cells[0] + np.concatenate([[0], np.cumsum(cells[1:-2])])) / h.n
    claimed = result.expected_underflow + np.concatenate([[0.0], np.cumsum(result.expected)])
    difference = empirical - claimed
    where = int(np.argmax(np.abs(difference)))
    band = result.critical_values.get("ks")
    colour = _VERDICT_COLOURS.get(result.verdict, "black")
    with rc_context(_STYLE):
        figure = new_figure((10, 3.4))
        axis = figure.subplots()
        axis.plot(claimed, difference, color=colour, lw=1.2, marker=".", ms=3)
        if band is not None:
            axis.axhspan(-band, band, color="grey", alpha=0.15,
                         label=f"KS acceptance band (per-test alpha {result.alpha_per_test:.2g})")
        axis.axhline(0, color="black", lw=0.6)
        axis.plot([claimed[where]], [difference[where]], "o", ms=8, mfc="none", color="black",
                  label=f"KS D = {abs(difference[where]):.2e} at y = {h.edges[where]:.4g}")
        axis.set(xlabel="claimed CDF F(y) at the bin edges", ylabel="F_emp(y) - F(y)",
                 title=f"CDF difference, {result.transform}")
        axis.set_xlim(0, 1)
        axis.legend(frameon=True, framealpha=0.9, fontsize=8, loc="best")
    return figure


def overview_figure(names: Sequence[str], results: Sequence[ValidationResult]) -> Figure:
    """Draw one bar per case: -log10 of its combined p-value against the threshold.

    Parameters
    ----------
    names : sequence of str
    results : sequence of ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    smallest = [max(r.combined_pvalue, 1e-300) for r in results]  # what the verdict tested
    heights = -np.log10(smallest)
    with rc_context(_STYLE):
        figure = new_figure((8, 0.5 * len(results) + 1.5))
        axis = figure.subplots()
        positions = np.arange(len(results))
        axis.barh(positions, heights,
                  color=[_VERDICT_COLOURS.get(r.verdict, "grey") for r in results])
        # Each case has its own threshold (alpha/3 or alpha/6 per test).
        thresholds = [-math.log10(r.alpha_per_test) for r in results]
        axis.vlines(thresholds, positions - 0.45, positions + 0.45, color="black",
                    linestyles="--", lw=1.2, label="fail threshold (alpha per test)")
        axis.set_yticks(positions, [f"{n} ({r.verdict})" for n, r in zip(names, results,
                                                                            strict=True)])
        axis.invert_yaxis()
        axis.set(xlabel="-log10(combined p-value of the end-to-end layer)",
                 title="mcflow check: all cases")
        axis.legend(frameon=False, fontsize=8)
    return figure
