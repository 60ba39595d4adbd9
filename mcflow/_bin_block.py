"""The bin lookup inside kernels: a block of values added to a count row.

A :class:`mcflow._binning.Binning` decides the lookup once per binning; each
block then runs one of three loops.  Uniform and fine-table lookups take two
passes, a vectorized one that finds every value's cell and a plain one that
settles values near an edge and adds the ones.  The result always agrees with
the edges: ``edges[i] <= y < edges[i + 1]``, and every value outside
``[lo, hi)`` lands in its own counter (underflow, overflow, -inf, +inf, NaN).
"""

from __future__ import annotations

import numpy as np

from mcflow._binning import (
    EDGE_MARGIN,
    LOOKUP_FINE,
    LOOKUP_UNIFORM,
    NAN,
    NEGINF,
    OVERFLOW,
    POSINF,
    UNDERFLOW,
)
from mcflow._numba import jit

__all__ = ["bin_block"]


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
    last = bins - 1.0
    near_edges = 0
    for i in range(count):
        y = values[i]
        inside = (y >= lo) & (y < hi)
        position = (y - lo) * cell_scale if inside else 0.5  # no float-to-int of nan
        whole = np.floor(position)
        # position's rounding error is below 1e-9 bins (bins <= MAX_BINS), so only
        # a value this close to an edge can land on its wrong side.  (A value
        # rounded up to position == bins has fraction 0: it counts.)
        near_edges += np.intp(np.abs(position - whole - 0.5) > 0.5 - EDGE_MARGIN)
        # The clamp in floats, then one conversion: 0.08 ns per value less (measured).
        slots[i] = np.intp(min(whole, last)) if inside else _counter_slot(y, hi, bins)
    return near_edges


@jit(inline="always")
def _counter_slot(y, hi, base):
    """Return ``base`` + the counter of a value outside ``[lo, hi)``, branch-free."""
    # -inf: UNDERFLOW + 2 = NEGINF; +inf: OVERFLOW + 2 = POSINF; NaN: 0 + 4 = NAN.
    return base + (np.intp(y >= hi) + 2 * np.intp(np.abs(y) == np.inf) + 4 * np.intp(y != y))


@jit(inline="always")
def _table_slots(values, count, lo, hi, cell_scale, cells, slots):
    """Each value's lookup cell into ``slots[:count]``; ``cells`` + its counter if outside."""
    last = cells - 1.0
    for i in range(count):
        y = values[i]
        inside = (y >= lo) & (y < hi)
        position = (y - lo) * cell_scale if inside else 0.0  # no float-to-int of nan
        slots[i] = np.intp(min(position, last)) if inside else _counter_slot(y, hi, cells)


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
        # The same two passes: the vectorized one finds each value's cell (measured
        # 0.4-0.8 ns per value faster than one loop, 216 equal-probability bins).
        cells = cell_bins.size - 1
        _table_slots(values, count, lo, hi, cell_scale, cells, slots)
        for i in range(count):
            cell = slots[i]
            if cell < cells:
                y = values[i]
                first = np.intp(cell_bins[cell])
                offset = (y - lo) * cell_scale - cell
                # Most cells lie inside one bin: then the table is the answer,
                # unless y sits within rounding distance of the cell's ends.
                if (cell_bins[cell + 1] != first or offset < EDGE_MARGIN
                        or offset > 1.0 - EDGE_MARGIN):
                    first -= np.intp(edges[first] > y)
                    first += np.intp(edges[first + 1] <= y)
                row[first] += 1
            else:
                row[bins + cell - cells] += 1
    else:
        for i in range(count):
            y = values[i]
            if y >= lo and y < hi:
                row[_searched_bin(y, lo, cell_scale, edges, cell_bins)] += 1
            else:
                _record_outside(y, lo, hi, bins, row)
