"""The look shared by every figure: style, colours and a pyplot-free figure factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = ["STYLE", "VERDICT_COLOURS", "X_COLOUR", "Y_COLOUR", "new_figure"]

VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#ef6c00"}
X_COLOUR = "#4C72B0"
Y_COLOUR = "#DD8452"
STYLE: dict[RcKeyType, Any] = {"axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
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
