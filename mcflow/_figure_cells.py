"""The figures that compare the Monte Carlo cells with the claimed ones (Fig. 2 and residuals).

Both compare like with like: the claimed density is drawn as its *bin
average* (the claimed mass of the bin over its width), the quantity the
Monte Carlo histogram estimates, next to the pointwise curve; and the tails
are shown on the claimed normal-score axis ``s = Phi^-1(F(y))``, on which
equal-probability bins are evenly spaced and exp's left tail or tanh's
+-1 tails take as much room as the bulk.  Ratio panels show
``observed / claimed - 1`` with the +-2 sigma band of a correct density.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from scipy.special import ndtri

from mcflow._figure_style import STYLE, VERDICT_COLOURS, X_COLOUR, Y_COLOUR, new_figure

if TYPE_CHECKING:
    from mcflow.result import ValidationResult

__all__ = ["observed_cells", "residuals_figure", "validation_densities_figure"]


def _normal_pdf(xs: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((xs - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def normal_scores(result: ValidationResult) -> np.ndarray:
    """``Phi^-1`` of the claimed CDF at the middle of every bin."""
    cumulative = result.expected_underflow + np.cumsum(result.expected) - result.expected / 2
    return ndtri(np.clip(cumulative, 1e-300, 1 - 1e-16))


def observed_cells(result: ValidationResult) -> np.ndarray:
    """Return the [underflow, bins..., overflow, non-finite] counts the statistics used."""
    h = result.histogram
    if result.cells is not None and result.cells.size == h.bins + 3:
        return result.cells
    return np.concatenate([[h.underflow], h.counts, [h.overflow, h.nonfinite]])


def _ratio_panel(axis: Any, where: np.ndarray, result: ValidationResult, shown: np.ndarray,
                 colour: str) -> None:
    h = result.histogram
    expected = h.n * result.expected[shown]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = h.counts[shown] / expected - 1.0
        band = 2.0 * np.sqrt((1.0 - result.expected[shown]) / expected)
    axis.fill_between(where, -band, band, color="grey", alpha=0.2, step="mid",
                      label="+-2 sigma of a correct density")
    axis.plot(where, ratio, ".", ms=3, color=colour)
    axis.axhline(0.0, color="black", lw=0.6)
    finite = np.isfinite(ratio)
    if finite.any():
        limit = max(3.0 * float(np.nanmedian(band)), 1.2 * float(np.abs(ratio[finite]).max()))
        limit = min(limit, max(1.0, 3.0 * float(np.nanmedian(band))))
        axis.set_ylim(-limit, limit)
    axis.set_ylabel("MC / claimed - 1")
    axis.legend(frameon=False, fontsize=7, loc="upper right")


def validation_densities_figure(result: ValidationResult) -> Figure:
    """Draw the seed's Fig. 2: p_X, and p_Y claimed against Monte Carlo, with ratio panels.

    Middle: the central 99.5% of Y on linear axes; right: every bin, log
    density against the claimed normal score (the tails).  Under each, the
    ratio of the Monte Carlo to the claimed bin mass.

    Parameters
    ----------
    result : ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    h = result.histogram
    empirical = h.density()
    claimed_average = result.expected / h.widths
    colour = VERDICT_COLOURS.get(result.verdict, "black")
    with rc_context(STYLE):
        figure = new_figure((14, 5.2))
        grid = figure.add_gridspec(2, 3, width_ratios=[1, 1.4, 1.4], height_ratios=[3, 1.3])
        px = figure.add_subplot(grid[:, 0])
        xs = np.linspace(result.mu - 4.5 * result.sigma, result.mu + 4.5 * result.sigma, 600)
        px.plot(xs, _normal_pdf(xs, result.mu, result.sigma), color=X_COLOUR, lw=2)
        px.set(xlabel="x", ylabel="density", title=f"$p_X$, X ~ N({result.mu:g}, {result.sigma:g})")
        centre, centre_ratio = figure.add_subplot(grid[0, 1]), figure.add_subplot(grid[1, 1])
        lo, hi = result.central_range()
        middles = (h.edges[:-1] + h.edges[1:]) / 2
        shown = (middles >= lo) & (middles <= hi)
        centre.stairs(empirical, h.edges, color="black", lw=1.3,
                      label=f"Monte Carlo, n = {h.n:.3g}")
        centre.stairs(claimed_average, h.edges, color=Y_COLOUR, lw=1.6, ls="--",
                      label="claimed, bin average")
        if result.claimed_curve is not None:
            ys, claimed = result.claimed_curve
            inside = (ys >= lo) & (ys <= hi)
            centre.plot(ys[inside], claimed[inside], color=Y_COLOUR, lw=0.8, alpha=0.6,
                        label="claimed $p_Y$ (pointwise)")
        centre.set_xlim(lo, hi)
        centre.set_ylim(bottom=0)
        centre.set(ylabel="density", title=f"$p_Y$, Y = {result.transform}(X): central 99.5%")
        centre.legend(frameon=False, fontsize=8)
        _ratio_panel(centre_ratio, middles[shown], result, shown, colour)
        centre_ratio.set_xlim(lo, hi)
        centre_ratio.set_xlabel("y")
        tails, tails_ratio = figure.add_subplot(grid[0, 2]), figure.add_subplot(grid[1, 2])
        scores = normal_scores(result)
        everywhere = np.ones(h.bins, dtype=bool)
        positive = empirical > 0
        tails.semilogy(scores[positive], empirical[positive], ".", ms=3.5, color="black",
                       label="Monte Carlo")
        tails.semilogy(scores, claimed_average, color=Y_COLOUR, lw=1.4,
                       label="claimed, bin average")
        tails.set(ylabel="density (log)",
                  title="every bin on the claimed normal score $\\Phi^{-1}(F(y))$")
        quantile_ticks = [s for s in (-4, -2, 0, 2, 4) if scores[0] <= s <= scores[-1]]
        top = tails.secondary_xaxis("top")
        spread = float(np.ptp(middles)) or 1.0
        values = [float(np.interp(s, scores, middles)) for s in quantile_ticks]
        top.set_xticks(quantile_ticks, [f"y={0.0 if abs(v) < 1e-9 * spread else v:.3g}"
                                        for v in values], fontsize=7)
        tails.legend(frameon=False, fontsize=8, loc="lower center")
        _ratio_panel(tails_ratio, scores, result, everywhere, colour)
        tails_ratio.set_xlabel("claimed normal score of the bin")
        for axis in (tails, tails_ratio):
            axis.set_xlim(scores[0] - 0.2, scores[-1] + 0.2)
    return figure


def residuals_figure(result: ValidationResult) -> Figure:
    """Draw the standardized residual of every bin, and of the out-of-range cells apart.

    Bins sit at their claimed normal score, so the tails are spread out;
    values beyond the axis limit (a robust one, so that one huge cell does
    not flatten the others) are drawn at the edge as triangles with their
    value.  Underflow, overflow and non-finite cells get their own panel.

    Parameters
    ----------
    result : ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    from mcflow.sensitivity import standardized_residuals

    cells = observed_cells(result)
    probabilities = np.concatenate([[result.expected_underflow], result.expected,
                                    [result.expected_overflow, result.expected_nonfinite]])
    residuals = standardized_residuals(cells, probabilities)
    bins = residuals[1:-2]
    scores = normal_scores(result)
    colour = VERDICT_COLOURS.get(result.verdict, "black")
    with rc_context(STYLE):
        figure = new_figure((13, 3.8))
        axis, outside = figure.subplots(1, 2, gridspec_kw={"width_ratios": [5, 1]})
        finite = np.isfinite(bins)
        magnitude = np.abs(bins[finite])
        limit = max(5.0, 1.25 * float(np.quantile(magnitude, 0.99))) if finite.any() else 5.0
        clipped = np.clip(bins, -limit, limit)
        axis.vlines(scores[finite], 0, clipped[finite], color=colour, lw=1)
        axis.plot(scores[finite], clipped[finite], "o", ms=2.5, color=colour)
        beyond = finite & (np.abs(bins) > limit)
        for index in np.flatnonzero(beyond):
            axis.plot(scores[index], clipped[index], "^" if bins[index] > 0 else "v", ms=7,
                      color=colour)
            axis.annotate(f"{bins[index]:+.3g}", (scores[index], clipped[index]), fontsize=7,
                          xytext=(3, -10 if bins[index] > 0 else 4), textcoords="offset points")
        for level in (-3, 3):
            axis.axhline(level, color="grey", ls="--", lw=1)
        axis.axhline(0, color="black", lw=0.6)
        labels = []
        for rank, worst in enumerate(result.worst_bins, start=1):
            cell = worst.cell - 1  # cell 0 is the underflow
            if 0 <= cell < bins.size and np.isfinite(bins[cell]):
                axis.plot(scores[cell], clipped[cell], "o", ms=9, mfc="none", color="black")
                axis.annotate(str(rank), (scores[cell], clipped[cell]), fontsize=7,
                              xytext=(5, 5), textcoords="offset points")
            labels.append(f"{rank}: [{worst.lo:.4g}, {worst.hi:.4g})  z = {worst.residual:+.1f}")
        if labels:
            axis.text(0.01, 0.98, "worst cells\n" + "\n".join(labels), transform=axis.transAxes,
                      fontsize=7.5, va="top", family="monospace",
                      bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
        axis.set(xlabel="claimed normal score of the bin", ylabel="(c - nP) / sqrt(nP(1-P))",
                 title=f"Standardized residuals, {result.transform}: {result.verdict.upper()}")
        axis.set_ylim(-1.1 * limit, 1.1 * limit)
        names = ["below", "above", "non-finite"]
        values = [residuals[0], residuals[-2], residuals[-1]]
        counts = [cells[0], cells[-2], cells[-1]]
        shown = [0.0 if not np.isfinite(v) else float(np.clip(v, -limit, limit)) for v in values]
        outside.bar(range(3), shown, color=colour, alpha=0.8)
        for position, (value, count) in enumerate(zip(values, counts, strict=True)):
            text = f"{int(count)}" + ("" if not np.isfinite(value) else f"\nz={value:+.2g}")
            outside.annotate(text, (position, 0), ha="center", fontsize=7, xytext=(0, 6),
                             textcoords="offset points")
        outside.set_xticks(range(3), names, fontsize=8)
        outside.set_ylim(-1.1 * limit, 1.1 * limit)
        outside.set_title("outside the bins", fontsize=9)
    return figure
