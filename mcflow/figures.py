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

import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from PIL import Image

from mcflow._figure_cells import observed_cells, residuals_figure, validation_densities_figure
from mcflow._figure_style import STYLE as _STYLE
from mcflow._figure_style import VERDICT_COLOURS as _VERDICT_COLOURS
from mcflow._figure_style import X_COLOUR as _X_COLOUR
from mcflow._figure_style import Y_COLOUR as _Y_COLOUR
from mcflow._figure_style import new_figure

if TYPE_CHECKING:

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
    # Agg's PNG is only decoded again here: zlib level 1 for it, level 8 for the file
    # (3-7% more bytes than 9, at a third of its time).  0.32 -> 0.28 s per report
    # figure, pixel-identical (measured).  Not raw RGBA: its pixel size would have to
    # be guessed from matplotlib's rounding of inches x dpi.
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png", pil_kwargs={"compress_level": 1})
    # A plot has few colours: a 256-colour palette keeps it visually the same at about a
    # third of the bytes (the HTML report embeds every figure).
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
            temporary, format="PNG", compress_level=8)
    # Only a user's own pyplot figure needs closing; importing pyplot here
    # would select a backend, so use it only if the user already has.
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)
    temporary.replace(path)
    return path


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
    cells = observed_cells(result)
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
    """Draw one bar per case: its L1 distance from the claim against its detection limit.

    An effect size, not a p-value (every failure sits at the p-value floor):
    the bar is the L1 distance between the Monte Carlo and the claimed cell
    probabilities, the tick the smallest L1 this n detects with 95% power;
    a correct density's bar stays near the noise, a wrong one's reaches past
    the tick by as far as it is wrong.

    Parameters
    ----------
    names : sequence of str
    results : sequence of ValidationResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    distances = np.array([max(r.l1, 1e-12) for r in results])
    limits = np.array([max(r.detection_limit, 1e-12) for r in results])
    with rc_context(_STYLE):
        figure = new_figure((9, 0.5 * len(results) + 1.8))
        axis = figure.subplots()
        positions = np.arange(len(results))
        axis.barh(positions, distances,
                  color=[_VERDICT_COLOURS.get(r.verdict, "grey") for r in results])
        axis.vlines(limits, positions - 0.45, positions + 0.45, color="black",
                    linestyles="--", lw=1.2, label="detection limit at this n (95% power)")
        for position, (distance, limit) in enumerate(zip(distances, limits, strict=True)):
            axis.annotate(f"{distance:.2g} ({distance / limit:.2g}x the limit)",
                          (distance, position), xytext=(4, -3), textcoords="offset points",
                          fontsize=7.5)
        axis.set_xlim(0.0, 1.45 * max(distances.max(), limits.max()))
        axis.set_yticks(positions, [f"{n} ({r.verdict})" for n, r in zip(names, results,
                                                                            strict=True)])
        axis.invert_yaxis()
        axis.set(xlabel="L1 distance of the Monte Carlo cells from the claimed ones",
                 title="mcflow check: the size of each case's disagreement")
        axis.legend(frameon=False, fontsize=8, loc="lower right")
    return figure
