"""Bin specifications: validated edges and the lookup table the kernels use.

Uniform and explicit (non-uniform) edges share one lookup: a uniform grid of
cells over ``[lo, hi)`` with a table giving the bin at each cell's left end.
A value's cell is one multiply away; at most a step or two along the edges
then finds its bin.  For uniform bins each cell is a bin; for explicit edges
the grid is 32 times finer than the narrowest bin (capped), so a cell
rarely straddles an edge and the branches stay predictable.  The result
always agrees with the edges: ``edges[i] <= y < edges[i + 1]``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "COUNTER_NAMES",
    "EDGE_MARGIN",
    "LOOKUP_FINE",
    "LOOKUP_SEARCH",
    "LOOKUP_UNIFORM",
    "MAX_BINS",
    "NAN",
    "NEGINF",
    "OVERFLOW",
    "POSINF",
    "UNDERFLOW",
    "Binning",
    "make_binning",
]

#: Positions of the counters after the ``bins`` regular cells of a count row.
UNDERFLOW, OVERFLOW, NEGINF, POSINF, NAN = range(5)
#: Bin lookups, fastest first: uniform edges (cell = bin); a table whose cells
#: hold at most one edge; binary search within a cell's bins.
LOOKUP_UNIFORM, LOOKUP_FINE, LOOKUP_SEARCH = range(3)
COUNTER_NAMES = ("underflow", "overflow", "neginf", "posinf", "nan")
# Lookup cells: fine enough that a cell rarely straddles a bin edge, capped
# so the table (int32) stays within a 1 MiB of cache-friendly memory.
_CELLS_PER_NARROWEST_BIN = 32
#: Largest number of bins (keeps the uniform lookup's rounding below EDGE_MARGIN).
MAX_BINS = 1 << 24
#: Distance from a cell end, in cells, within which a lookup checks the edges themselves.
EDGE_MARGIN = 1e-6
# Largest rounding drift of a value's position allowed, in cells (well below
# EDGE_MARGIN, so a value that far from a cell end is safely inside it).
_ROUNDING_IN_CELLS = 1e-7
_MAX_CELLS = 1 << 18


@dataclass(frozen=True)
class Binning:
    """Validated bin edges plus the lookup table the kernels use.

    Attributes
    ----------
    edges : ndarray of float64, shape (bins + 1,)
        Strictly increasing, finite.
    uniform : bool
        Whether the edges came from ``(bins, range)``.
    cell_scale : float
        Cells per unit of ``y``.
    cell_bins : ndarray of int32, shape (cells + 1,)
        Bin containing the left end of each cell (last entry: last bin).
    lookup : int
        ``LOOKUP_UNIFORM`` (uniform edges), ``LOOKUP_FINE`` (every cell holds
        at most one edge: branch-free lookup) or ``LOOKUP_SEARCH`` (the table
        hit its size cap: binary search per value).
    """

    edges: np.ndarray
    uniform: bool
    cell_scale: float
    cell_bins: np.ndarray
    lookup: int

    @property
    def bins(self) -> int:
        """Number of regular bins."""
        return self.edges.size - 1

    @property
    def lo(self) -> float:
        """Left edge of the first bin."""
        return float(self.edges[0])

    @property
    def hi(self) -> float:
        """Right edge of the last bin (values equal to it overflow)."""
        return float(self.edges[-1])


def _check_range(range_: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in range_)
    except (TypeError, ValueError):
        raise TypeError(
            f"range must be a pair of numbers (lo, hi), got {range_!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"range must have finite ends, got ({lo}, {hi})")
    if not lo < hi:
        raise ValueError(f"range must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi


def make_binning(bins: int | np.ndarray | list, range: tuple[float, float] | None) -> Binning:
    """Validate a user's ``bins``/``range`` and build the kernel's lookup.

    Parameters
    ----------
    bins : int or array_like
        Number of uniform bins over ``range``, or the explicit increasing edges.
    range : (float, float) or None
        Required with an integer ``bins``; must be None with explicit edges.

    Returns
    -------
    Binning
    """
    if isinstance(bins, (bool, np.bool_)):
        raise TypeError(f"bins must be an integer or an array of edges, got {bins!r}")
    if isinstance(bins, (int, np.integer)):
        count = operator.index(bins)
        if count < 1:
            raise ValueError(f"bins must be >= 1, got {count}")
        if count > MAX_BINS:
            raise ValueError(f"bins must be <= {MAX_BINS} (2**24), got {count}")
        if range is None:
            raise ValueError(
                "range=(lo, hi) is required when bins is an integer; "
                "or pass bins as an array of edges"
            )
        lo, hi = _check_range(range)
        edges = np.linspace(lo, hi, count + 1)
        uniform = True
    else:
        try:
            edges = np.array(bins, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"bins must be an integer or an array of edges, got {type(bins).__name__}"
            ) from None
        if edges.ndim != 1 or edges.size < 2 or edges.size > MAX_BINS + 1:
            raise ValueError(
                f"bins as edges must be a 1-d array of 2 to 2**24 + 1 values, "
                f"got shape {edges.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(edges))
        if bad.size:
            raise ValueError(
                f"bins edges must be finite; edges[{bad[0]}] = {edges[bad[0]]}"
            )
        steps = np.flatnonzero(np.diff(edges) <= 0)
        if steps.size:
            i = steps[0]
            raise ValueError(
                f"bins edges must be strictly increasing; edges[{i}] = {edges[i]} "
                f">= edges[{i + 1}] = {edges[i + 1]}"
            )
        if range is not None:
            raise ValueError("range must be None when bins is an array of edges")
        uniform = False
    return _with_lookup(edges, uniform)


def _with_lookup(edges: np.ndarray, uniform: bool) -> Binning:
    bins = edges.size - 1
    lo, hi = edges[0], edges[-1]
    if not math.isfinite(float(hi) - float(lo)):  # Python floats: overflow gives inf quietly
        raise ValueError(
            f"bins span [{lo:g}, {hi:g}], wider than the largest float64; "
            "use edges within +-8e307 (values beyond go to the under/overflow counters)"
        )
    # How far (y - lo) * scale can drift from the exact position, in y units:
    # the lookups trust a cell only this far from its ends, so a range narrow
    # for its magnitude (1e6 + [0, 1e-3)) must use coarser cells, or one cell
    # and a binary search over all edges.
    rounding = 8.0 * float(np.spacing(max(abs(lo), abs(hi))))
    finest = max(1, int(_ROUNDING_IN_CELLS * (hi - lo) / rounding))
    direct = uniform and bins <= finest  # cell index = bin index
    if direct:
        cells = bins
    else:
        narrowest = float(np.min(np.diff(edges)))
        cells = int(min(_MAX_CELLS, finest, max(bins, math.ceil(
            _CELLS_PER_NARROWEST_BIN * (hi - lo) / narrowest))))
    cell_scale = cells / (hi - lo)
    if direct:
        cell_bins = np.minimum(np.arange(cells + 1), bins - 1)
    else:
        cell_starts = lo + np.arange(cells + 1) / cell_scale
        cell_bins = np.searchsorted(edges, cell_starts, side="right") - 1
    cell_bins = np.clip(cell_bins, 0, bins - 1).astype(np.int32)
    if direct:
        lookup = LOOKUP_UNIFORM
    elif np.all(np.diff(cell_bins) <= 1):
        lookup = LOOKUP_FINE
    else:
        lookup = LOOKUP_SEARCH
    return Binning(edges=edges, uniform=uniform, cell_scale=cell_scale, cell_bins=cell_bins,
                   lookup=lookup)
