"""Matplotlib figures of a run (Agg backend; nothing here touches a screen).

The first two reproduce the seed document's Fig. 1 (histograms of X and Y)
and Fig. 2 (the PDFs of X and Y, here with the Monte Carlo density of Y
overlaid).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mcflow.density import density
from mcflow.engine import Histogram
from mcflow.transform import Transform

__all__ = ["densities_figure", "samples_figure", "save_figure"]

_X_COLOUR = "#4C72B0"
_Y_COLOUR = "#DD8452"
_STYLE = {"axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
          "axes.spines.right": False, "font.size": 10}


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
    with plt.rc_context(_STYLE):
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
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


def densities_figure(
    transform: Transform,
    histogram: Histogram,
    *,
    mu: float = 0.0,
    sigma: float = 1.0,
    log_scale: bool = False,
) -> Figure:
    """Draw the seed's Fig. 2: analytic p_X and p_Y, with the Monte Carlo density of Y.

    Parameters
    ----------
    transform : Transform
        T; its analytic density is drawn when it has one.
    histogram : Histogram
        Monte Carlo counts of Y; drawn as a step curve of counts / (n width).
    mu, sigma : float
        Parameters of X.
    log_scale : bool
        Log density axis, for heavy tails.

    Returns
    -------
    matplotlib.figure.Figure
    """
    with plt.rc_context(_STYLE):
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
        xs = np.linspace(mu - 4.5 * sigma, mu + 4.5 * sigma, 600)
        px = np.exp(-0.5 * ((xs - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        left.plot(xs, px, color=_X_COLOUR, lw=2)
        left.set_xlabel("x")
        left.set_ylabel("density")
        left.set_title(f"$p_X$, X ~ N({mu:g}, {sigma:g})")

        edges = histogram.edges
        right.stairs(histogram.density(), edges, color="black", lw=1.0,
                     label=f"Monte Carlo, n = {histogram.n:.3g}")
        if transform.has_density:
            ys = np.linspace(edges[0], edges[-1], 2000)
            right.plot(ys, density(transform, ys, mu, sigma), color=_Y_COLOUR, lw=2, alpha=0.9,
                       label="analytic $p_Y$ (Eq. 5)")
        right.set_xlabel("y")
        right.set_ylabel("density")
        right.set_title(f"$p_Y$, Y = {histogram.transform}(X)")
        if log_scale:
            right.set_yscale("log")
        right.legend(frameon=False)
    return figure


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a figure to PNG atomically (temporary name, then rename) and close it.

    Parameters
    ----------
    figure : Figure
    path : str or Path
    dpi : int

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    figure.savefig(temporary, dpi=dpi, format="png")
    plt.close(figure)
    temporary.replace(path)
    return path
