"""Bin specifications and the scalar bin lookup used inside kernels.

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

from mcflow._numba import jit

__all__ = [
    "COUNTER_NAMES",
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
    "bin_block",
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
#: Largest number of bins (keeps the uniform lookup's rounding below _EDGE_MARGIN).
MAX_BINS = 1 << 24
_EDGE_MARGIN = 1e-6
# Largest rounding drift of a value's position allowed, in cells (well below
# _EDGE_MARGIN, so a value that far from a cell end is safely inside it).
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


@jit(inline="always")
def _record_outside(y, lo, hi, bins, row):
    """Count a value that is not in [lo, hi): its own counter, never dropped."""
    if y < lo:
        if y == -np.inf:
            row[bins + NEGINF] += 1
        else:
            row[bins + UNDERFLOW] += 1
    elif y >= hi:
        if y == np.inf:
            row[bins + POSINF] += 1
        else:
            row[bins + OVERFLOW] += 1
    else:
        row[bins + NAN] += 1


@jit(inline="always")
def _searched_bin(y, lo, cell_scale, edges, cell_bins):
    """Bin of y in [lo, hi) by binary search inside the cell's bin range."""
    cells = cell_bins.size - 1
    cell = min(np.intp((y - lo) * cell_scale), cells - 1)
    first = max(np.intp(cell_bins[cell]) - 1, 0)
    last = min(np.intp(cell_bins[cell + 1]) + 1, edges.size - 2)
    while first < last:  # largest i in [first, last] with edges[i] <= y
        mid = (first + last + 1) >> 1
        if edges[mid] <= y:
            first = mid
        else:
            last = mid - 1
    return first


@jit(inline="always")
def _uniform_slots(values, count, lo, hi, cell_scale, edges, slots):
    """Each value's cell of the count row, for uniform edges, into ``slots[:count]``.

    Branch-free, so the loop vectorizes: a value in ``[lo, hi)`` gets its bin,
    any other value the index of its counter (``bins`` + UNDERFLOW ... NAN).
    Returns how many values sit within rounding distance of a bin edge: their
    bins are then settled by the edges themselves.
    """
    bins = edges.size - 1
    near_edges = 0
    for i in range(count):
        y = values[i]
        inside = (y >= lo) & (y < hi)
        position = (y - lo) * cell_scale if inside else 0.5  # no float-to-int of nan
        whole = np.floor(position)
        # position's rounding error is below 1e-9 bins (bins <= MAX_BINS), so only
        # a value this close to an edge can land on its wrong side.  (A value
        # rounded up to position == bins has fraction 0: it counts.)
        near_edges += np.intp(np.abs(position - whole - 0.5) > 0.5 - _EDGE_MARGIN)
        counter = bins + (np.intp(y >= hi) + 2 * np.intp(y == -np.inf)
                          + 2 * np.intp(y == np.inf) + 4 * np.intp(y != y))
        slots[i] = min(np.intp(whole), bins - 1) if inside else counter
    return near_edges


@jit
def bin_block(values, count, lo, hi, cell_scale, edges, cell_bins, lookup, row, slots):
    """Add ``values[:count]`` to a count row of ``bins + 5`` int64 cells.

    The row holds the ``bins`` regular bins followed by the counters
    underflow, overflow, -inf, +inf and NaN, so every value lands in exactly
    one cell.  ``slots`` is int64 work space of at least ``count`` values.
    """
    bins = edges.size - 1
    # Decided per block, not per value: a per-value branch between the
    # lookups defeats LLVM's code for the fast ones.
    if lookup == LOOKUP_UNIFORM:
        # Two passes: a vectorized one finds every value's cell, then a plain
        # loop adds the ones.  The fused loop of both could not vectorize and
        # cost 1.7-1.9 ns per value in the seed's kernel; the two passes 1.0-1.2.
        if _uniform_slots(values, count, lo, hi, cell_scale, edges, slots):
            for i in range(count):
                first = slots[i]
                if first < bins:
                    y = values[i]
                    first -= np.intp(edges[first] > y)
                    first += np.intp(edges[first + 1] <= y)
                    slots[i] = first
        for i in range(count):
            row[slots[i]] += 1
    elif lookup == LOOKUP_FINE:
        cells = cell_bins.size - 1
        for i in range(count):
            y = values[i]
            if y >= lo and y < hi:
                position = (y - lo) * cell_scale
                cell = min(np.intp(position), cells - 1)
                first = np.intp(cell_bins[cell])
                offset = position - cell
                # Most cells lie inside one bin: then the table is the answer,
                # unless y sits within rounding distance of the cell's ends.
                if (cell_bins[cell + 1] != first or offset < _EDGE_MARGIN
                        or offset > 1.0 - _EDGE_MARGIN):
                    first -= np.intp(edges[first] > y)
                    first += np.intp(edges[first + 1] <= y)
                row[first] += 1
            else:
                _record_outside(y, lo, hi, bins, row)
    else:
        for i in range(count):
            y = values[i]
            if y >= lo and y < hi:
                row[_searched_bin(y, lo, cell_scale, edges, cell_bins)] += 1
            else:
                _record_outside(y, lo, hi, bins, row)
