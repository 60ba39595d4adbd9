r"""The flattened d-dimensional histogram for d <= 3, tested with the 1-D machinery.

Cells are a grid in the pilot's whitened coordinates ``z = W (y - c)``: per
axis, edges at the pilot's quantiles ``0.001 ... 0.999`` (``CELLS_PER_AXIS``
bins), plus one cell for everything outside the grid.  The claimed mass of a
cell,

    Q_j = |det W|^-1 integral over the cell of q(c + W^-1 z) dz,

comes from tensor Gauss–Legendre rules with 5 and 10 nodes per axis, the
difference being the error estimate; a cell whose estimate exceeds a tenth of
its count's standard deviation at this n, ``0.1 sqrt(Q_j / n)``, is cut into
``2^d`` halves and integrated again (up to ``_LEVELS`` times), so the
quadrature moves no expected count by more than a tenth of its Poisson
noise.  The outside cell gets ``1 - sum Q_j``: whether q integrates to 1 is
the normalisation layer's question.  The observed counts are then compared by
:func:`mcflow.layers.mc_layer`: KS, L1, G and Anderson–Darling and their
min-p combination against a simulated multinomial null, as in 1-D.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcflow._user_code import hide_mcflow_frames
from mcflow.layers import mc_layer
from mcflow.null_distribution import default_replicates
from mcflow.nulls import cell_groups, group, null_for
from mcflow.result import LayerResult

__all__ = ["CELLS_PER_AXIS", "MAX_DIM", "Grid", "fit_grid", "histogram_layer"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Highest dimension with a histogram layer.
MAX_DIM = 3
#: Bins per whitened axis: 64, 16^2 and 6^3 cells keep the null's replicates x cells
#: near 4e6 (0.2 s) at alpha = 0.01 / 3.
CELLS_PER_AXIS = {1: 64, 2: 16, 3: 6}
_OUTER_QUANTILE = 0.001
_LOW_NODES, _HIGH_NODES = 5, 10
#: Refinements of the cells whose quadrature error is too large.
_LEVELS = 4
#: log q evaluations the quadrature may spend in all: as many as the samples (n), within
#: [2^18, 2^22], so that it never costs much more than sampling does.
_MIN_EVALUATIONS, _MAX_EVALUATIONS = 2**18, 2**22
_CALL_ROWS = 2**16


@dataclass(frozen=True)
class Grid:
    """The grid in whitened coordinates: ``edges[a]`` are the bin edges of axis a."""

    centre: np.ndarray
    whitening: np.ndarray
    edges: tuple[np.ndarray, ...]

    @property
    def cells(self) -> int:
        """Grid cells plus the outside cell."""
        return math.prod(e.size - 1 for e in self.edges) + 1

    def cell_of(self, y: np.ndarray) -> np.ndarray:
        """Flat cell index of each row; rows outside the grid (or not finite) get the last."""
        z = (y - self.centre) @ self.whitening.T
        index = np.zeros(y.shape[0], dtype=np.int64)
        inside = np.all(np.isfinite(y), axis=1)
        for axis, edges in enumerate(self.edges):
            position = np.searchsorted(edges, z[:, axis], side="right") - 1
            inside &= (position >= 0) & (position < edges.size - 1)
            index = index * (edges.size - 1) + np.clip(position, 0, edges.size - 2)
        return np.where(inside, index, self.cells - 1)


def fit_grid(pilot: np.ndarray, centre: np.ndarray, whitening: np.ndarray) -> Grid:
    """Edges at the pilot's whitened quantiles."""
    finite = pilot[np.all(np.isfinite(pilot), axis=1)]
    z = (finite - centre) @ whitening.T
    levels = np.linspace(_OUTER_QUANTILE, 1 - _OUTER_QUANTILE,
                         CELLS_PER_AXIS[pilot.shape[1]] + 1)
    return Grid(centre, whitening, tuple(np.quantile(z[:, a], levels) for a in range(z.shape[1])))


def _rule(log_prob: Callable[[np.ndarray], np.ndarray], grid: Grid, lo: np.ndarray,
          hi: np.ndarray, nodes: int) -> tuple[np.ndarray, int]:
    """Tensor Gauss–Legendre integral of q over each box ``[lo, hi]`` (whitened); NaNs of q."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    d = lo.shape[1]
    index = np.indices((nodes,) * d).reshape(d, -1).T
    weights = np.prod(w[index], axis=1)
    z = lo[:, None, :] + (hi - lo)[:, None, :] * (t[index] + 1.0)[None] / 2.0
    y = (grid.centre + z.reshape(-1, d) @ np.linalg.inv(grid.whitening).T)
    values = np.empty(y.shape[0])
    with np.errstate(all="ignore"):
        for first in range(0, y.shape[0], _CALL_ROWS):
            values[first:first + _CALL_ROWS] = np.asarray(
                log_prob(y[first:first + _CALL_ROWS]), dtype=np.float64).reshape(-1)
        nans = int(np.isnan(values).sum())
        density = np.exp(np.where(np.isnan(values), -np.inf, values)).reshape(lo.shape[0], -1)
    volume = np.prod(hi - lo, axis=1) / 2.0**d / abs(np.linalg.det(grid.whitening))
    return (density * weights).sum(axis=1) * volume, nans


def _halves(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = lo.shape[1]
    corner = np.indices((2,) * d).reshape(d, -1).T  # (2^d, d) of 0/1
    half = (hi - lo) / 2.0
    child_lo = lo[:, None, :] + corner[None] * half[:, None, :]
    return child_lo.reshape(-1, d), (child_lo + half[:, None, :]).reshape(-1, d)


def claimed_cells(log_prob: Callable[[np.ndarray], np.ndarray], grid: Grid, n: int
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """Claimed mass and quadrature error of every grid cell (adaptive), and q's NaN count."""
    lows = np.meshgrid(*[e[:-1] for e in grid.edges], indexing="ij")
    highs = np.meshgrid(*[e[1:] for e in grid.edges], indexing="ij")
    lo = np.stack([a.reshape(-1) for a in lows], axis=1)
    hi = np.stack([a.reshape(-1) for a in highs], axis=1)
    owner = np.arange(lo.shape[0])
    masses, errors = np.zeros(lo.shape[0]), np.zeros(lo.shape[0])
    nans = spent = 0
    budget = budget_of(n)
    for level in range(_LEVELS + 1):
        coarse, bad_low = _rule(log_prob, grid, lo, hi, _LOW_NODES)
        fine, bad_high = _rule(log_prob, grid, lo, hi, _HIGH_NODES)
        nans += bad_low + bad_high
        spent += lo.shape[0] * (_LOW_NODES ** lo.shape[1] + _HIGH_NODES ** lo.shape[1])
        piece_error = np.abs(fine - coarse)
        cell_mass, cell_error = masses.copy(), errors.copy()
        np.add.at(cell_mass, owner, fine)
        np.add.at(cell_error, owner, piece_error)
        refine = cell_error > 0.1 * np.sqrt(np.maximum(cell_mass, 1.0 / n) / n)
        per_piece = 2**lo.shape[1] * (_LOW_NODES ** lo.shape[1] + _HIGH_NODES ** lo.shape[1])
        affordable = (budget - spent) // per_piece
        if level == _LEVELS or not refine.any() or affordable < 1:
            return cell_mass, cell_error, nans
        # the pieces of the cells still too coarse, the worst first, as far as the budget goes
        candidates = np.flatnonzero(refine[owner])
        split = candidates[np.argsort(-piece_error[candidates])[:affordable]]
        keep = np.ones(lo.shape[0], dtype=bool)
        keep[split] = False
        np.add.at(masses, owner[keep], fine[keep])
        np.add.at(errors, owner[keep], piece_error[keep])
        lo, hi = _halves(lo[~keep], hi[~keep])
        owner = np.repeat(owner[~keep], 2 ** lo.shape[1])
    raise AssertionError("unreachable")


def budget_of(n: int) -> int:
    """Return how many evaluations of q the cell quadrature may spend at this n."""
    return min(max(n, _MIN_EVALUATIONS), _MAX_EVALUATIONS)


def histogram_layer(counts: np.ndarray, masses: np.ndarray, errors: np.ndarray, nans: int,
                    alpha: float) -> LayerResult:
    """Test the grid counts against the claimed cell masses (outside cell last)."""
    n = int(counts.sum())
    inside, error = float(masses.sum()), float(errors.sum())
    name = "histogram"
    statistics = {"claimed_grid_mass": inside, "quadrature_error": error, "nan_log_q": nans}
    if inside - error > 1.0:
        return LayerResult(name, "fail", f"q's mass on the grid alone is {inside:.6f} +- "
                           f"{error:.1e} > 1: q integrates to more than 1", statistics)
    unresolved = errors > 0.1 * np.sqrt(np.maximum(masses, 1.0 / n) / n)
    if unresolved.any():
        return LayerResult(name, "skipped", f"not run: the claimed mass of "
                           f"{int(unresolved.sum())} cells could not be integrated to a tenth of "
                           f"their count's noise at n = {n:,} within {budget_of(n):,} "
                           f"evaluations of q (largest error {errors.max():.1e}); the other "
                           "layers decide", statistics)
    probabilities = np.append(masses, max(1.0 - inside, 0.0))
    probabilities /= probabilities.sum()
    replicates = default_replicates(alpha)  # resolves the combined p-value near alpha
    starts = cell_groups(probabilities, replicates)
    null = null_for(n, group(probabilities, starts), replicates)
    layer = mc_layer(name, group(counts, starts), group(probabilities, starts), null, alpha,
                     "claimed cell masses", None)
    expected = n * probabilities
    with np.errstate(divide="ignore", invalid="ignore"):
        residuals = np.where(expected > 0, (counts - expected) / np.sqrt(expected), 0.0)
    layer.statistics.update(statistics, standardized_residuals=residuals.round(3).tolist())
    return layer
