"""Bin lookup agrees with the edges exactly; bad bins are rejected clearly."""

from __future__ import annotations

import numpy as np
import pytest

from mcflow import _binning, _kernels


def _reference_row(values, edges):
    """Counts by the definition: edges[i] <= y < edges[i+1], then the counters."""
    finite = np.isfinite(values)
    inside = finite & (values >= edges[0]) & (values < edges[-1])
    index = np.searchsorted(edges, values[inside], side="right") - 1
    regular = np.bincount(index, minlength=edges.size - 1)
    return np.concatenate([regular, [
        np.count_nonzero(finite & (values < edges[0])),
        np.count_nonzero(finite & (values >= edges[-1])),
        np.count_nonzero(values == -np.inf),
        np.count_nonzero(values == np.inf),
        np.count_nonzero(np.isnan(values)),
    ]])


def _kernel_row(values, binning, workers=2):
    rows = _kernels.bin_values(values, binning.edges, binning.cell_scale, binning.cell_bins,
                               binning.lookup, workers)
    return rows.sum(axis=0)


def _awkward_values(edges, rng):
    # Values exactly on every edge, one ulp either side, random ones, and the
    # non-finite ones: where an off-by-one lookup would show.
    on_edges = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    spread = edges[-1] - edges[0]
    randoms = rng.uniform(edges[0] - 0.1 * spread, edges[-1] + 0.1 * spread, 20_000)
    specials = np.array([np.nan, np.inf, -np.inf, np.nan, 1e308, -1e308])
    return np.concatenate([on_edges, randoms, specials])


@pytest.mark.parametrize(("bins", "range_", "lookup"), [
    (1, (0.0, 1.0), _binning.LOOKUP_UNIFORM),
    (200, (0.0, 20.0), _binning.LOOKUP_UNIFORM),
    (7, (-3.3, 1e-3), _binning.LOOKUP_UNIFORM),
    (1000, (-1e-9, 1e-9), _binning.LOOKUP_UNIFORM),
    # Narrow for their magnitude: the rounding of (y - lo) * scale is a sizeable
    # fraction of a bin, so a table or a plain binary search must take over.
    (1000, (1e6, 1e6 + 1e-3), _binning.LOOKUP_SEARCH),
    (1000, (1.0, 1.0 + 1e-9), _binning.LOOKUP_SEARCH),
    (50, (1e4, 1e4 + 1e-3), _binning.LOOKUP_SEARCH),
    (50, (1e3, 1e3 + 1e-3), _binning.LOOKUP_UNIFORM),
])
def test_uniform_bins_match_definition(bins, range_, lookup):
    binning = _binning.make_binning(bins, range_)
    assert binning.lookup == lookup
    values = _awkward_values(binning.edges, np.random.default_rng(1))
    assert np.array_equal(_kernel_row(values, binning), _reference_row(values, binning.edges))


def test_equal_probability_edges_match_definition():
    # Lognormal quantiles: narrow bins near the mode, very wide in the tail.
    from scipy import stats

    edges = stats.lognorm.ppf(np.linspace(1e-6, 1 - 1e-6, 201), 1.0)
    binning = _binning.make_binning(edges, None)
    assert binning.lookup == _binning.LOOKUP_FINE
    values = _awkward_values(edges, np.random.default_rng(2))
    assert np.array_equal(_kernel_row(values, binning), _reference_row(values, edges))


def test_capped_lookup_falls_back_to_search_and_stays_exact():
    # 1e-9 .. 1e9 geometric edges need more cells than the cap: binary search path.
    edges = np.geomspace(1e-9, 1e9, 400)
    binning = _binning.make_binning(edges, None)
    assert binning.lookup == _binning.LOOKUP_SEARCH
    rng = np.random.default_rng(3)
    values = np.concatenate([_awkward_values(edges, rng), np.exp(rng.uniform(-21, 21, 20_000))])
    assert np.array_equal(_kernel_row(values, binning), _reference_row(values, edges))


def test_matches_numpy_histogram_inside_the_range():
    values = np.random.default_rng(4).standard_normal(50_000)
    binning = _binning.make_binning(37, (-2.0, 3.0))
    counts, _ = np.histogram(values[values < 3.0], bins=binning.edges)
    assert np.array_equal(_kernel_row(values, binning)[:37], counts)


@pytest.mark.parametrize(
    ("bins", "range_", "error", "match"),
    [
        (0, (0, 1), ValueError, r"bins must be >= 1, got 0"),
        (-3, (0, 1), ValueError, r"bins must be >= 1"),
        (True, (0, 1), TypeError, r"bins must be an integer"),
        (10, None, ValueError, r"range=\(lo, hi\) is required"),
        (10, (1.0, 1.0), ValueError, r"range must satisfy lo < hi, got \(1.0, 1.0\)"),
        (10, (2.0, 1.0), ValueError, r"lo < hi"),
        (10, (0.0, np.inf), ValueError, r"range must have finite ends"),
        (10, (np.nan, 1.0), ValueError, r"range must have finite ends"),
        (10, "ab", TypeError, r"range must be a pair"),
        ([0.0, 2.0, 1.0], None, ValueError, r"strictly increasing; edges\[1\] = 2.0"),
        ([0.0, 1.0, 1.0], None, ValueError, r"strictly increasing"),
        ([0.0, np.nan, 1.0], None, ValueError, r"finite; edges\[1\] = nan"),
        ([0.0, 1.0, np.inf], None, ValueError, r"finite"),
        ([1.0], None, ValueError, r"1-d array of 2 to 2\*\*24 \+ 1 values"),
        (2**24 + 1, (0, 1), ValueError, r"bins must be <= 16777216"),
        ([0.0, 1.0], (0, 1), ValueError, r"range must be None"),
        ("edges", None, TypeError, r"bins must be an integer or an array"),
    ],
)
def test_bad_bins_are_rejected_with_the_parameter_named(bins, range_, error, match):
    with pytest.raises(error, match=match):
        _binning.make_binning(bins, range_)


def test_explicit_edges_far_from_zero_match_definition():
    # Equal-probability-like edges around 1e5: the table must coarsen its
    # cells for the rounding of (y - lo) * scale; results stay exact.
    rng = np.random.default_rng(5)
    edges = 1e5 + np.sort(rng.uniform(0.0, 1e-4, 120))
    binning = _binning.make_binning(edges, None)
    values = _awkward_values(edges, rng)
    assert np.array_equal(_kernel_row(values, binning), _reference_row(values, edges))
