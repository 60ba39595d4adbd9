"""The two streaming passes of a d-dimensional validation, block by block in fixed memory.

* :func:`proposal_pass`: importance sampling from the proposal, for the
  integral of q and its mass in each region (float sums, reduced in block
  order).
* :func:`count_samples`: the n samples of T: counters, region counts and grid
  counts (integers, so any split of the blocks, over threads or over Dask
  tasks (:func:`count_on_client`), adds up to bitwise the same result).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcflow import _nd_layers as layers
from mcflow._nd_histogram import Grid
from mcflow._nd_proposal import FlowMixture, StudentT
from mcflow._nd_regions import Regions
from mcflow._nd_stream import BLOCK_ROWS, blocks, rows
from mcflow._user_code import hide_mcflow_frames
from mcflow.result import LayerResult

__all__ = ["Counts", "count_on_client", "count_samples", "proposal_pass"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

Array = Callable[[np.ndarray], Any]
#: Blocks of BLOCK_ROWS rows per Dask task.
TASK_BLOCKS = 16


def proposal_pass(log_prob: Array, proposal: StudentT | FlowMixture, regions: Regions,
                  seed: int, count: int, alpha: float
                  ) -> tuple[LayerResult, tuple[np.ndarray, ...]]:
    """Estimate the integral of q, and its mass in each region, by importance sampling.

    Streams: per batch the sum of the weights, in all the sums of weights and
    squares, and only the largest weights (the Pareto fit's tail), so memory
    stays flat whatever ``count``.
    """
    batch_sums = np.zeros(layers.BATCHES)
    tail = layers.tail_size(count)
    largest = np.empty(0)
    total = squares_total = 0.0
    positive = nan_log_q = 0
    sums, squares = np.zeros(regions.count), np.zeros(regions.count)
    for first, stop in blocks(count):
        u, block_r = proposal.block(seed, first, stop)
        finite = np.isfinite(block_r)  # draws T sent to infinity weigh nothing
        block_q = np.full(stop - first, -np.inf)
        with np.errstate(all="ignore"):
            block_q[finite] = log_prob(u[finite])
            weights = np.exp(np.where(np.isnan(block_q), -np.inf, block_q)
                             - np.where(finite, block_r, 0.0))
        nan_log_q += int(np.isnan(block_q).sum())
        batch_of = np.arange(first, stop, dtype=np.int64) * layers.BATCHES // count
        batch_sums += np.bincount(batch_of, weights=weights, minlength=layers.BATCHES)
        total += float(weights.sum())
        squares_total += float((weights * weights).sum())
        positive += int(np.count_nonzero(weights > 0))
        largest = np.concatenate([largest, weights[weights > 0]])
        if largest.size > tail:
            largest = np.partition(largest, largest.size - tail)[-tail:]
        inside = regions.members(u) * weights[:, None]
        sums += inside.sum(axis=0)
        squares += (inside * inside).sum(axis=0)
    edges = -(-np.arange(layers.BATCHES + 1) * count // layers.BATCHES)  # first row of a batch
    sizes = np.diff(edges)
    weights_summary = layers.Weights(batch_sums / sizes, total, squares_total, positive,
                                     np.sort(largest), count, nan_log_q)
    layer = layers.normalisation_layer(weights_summary, alpha, proposal.description)
    return layer, (sums, squares, np.array([count]))


@dataclass
class Counts:
    """Integer tallies of the samples of T."""

    regions: np.ndarray
    grid: np.ndarray | None
    nonfinite_y: int = 0
    invalid_log_q: int = 0  # NaN, -inf or +inf where a (finite) sample landed
    nan_log_q: int = 0
    zero_density: int = 0  # log q = -inf: q says the sample is impossible

    def add(self, other: Counts) -> None:
        """Add another range's tallies (order does not matter: integers)."""
        self.regions += other.regions
        if self.grid is not None and other.grid is not None:
            self.grid += other.grid
        self.nonfinite_y += other.nonfinite_y
        self.invalid_log_q += other.invalid_log_q
        self.nan_log_q += other.nan_log_q
        self.zero_density += other.zero_density


def count_samples(forward: Array, log_prob: Array, regions: Regions, grid: Grid | None,
                  seed: int, start: int, stop: int, mean: np.ndarray, scale: np.ndarray,
                  progress: Callable[[int, int], None] | None = None) -> Counts:
    """Tally rows ``[start, stop)`` of the samples stream (``start`` on a block boundary)."""
    counts = Counts(np.zeros(regions.count, dtype=np.int64),
                    None if grid is None else np.zeros(grid.cells, dtype=np.int64))
    for first in range(start, stop, BLOCK_ROWS):
        x = mean + scale * rows(seed, "samples", first, min(first + BLOCK_ROWS, stop), mean.size)
        with np.errstate(all="ignore"):
            y = forward(x)
            finite = np.all(np.isfinite(y), axis=1)
            lq = log_prob(y[finite])
        counts.nonfinite_y += int((~finite).sum())
        lq = np.asarray(lq, dtype=np.float64)
        counts.invalid_log_q += int(np.count_nonzero(~np.isfinite(lq)))
        counts.nan_log_q += int(np.isnan(lq).sum())
        counts.zero_density += int(np.count_nonzero(lq == -np.inf))
        counts.regions += regions.members(y).sum(axis=0)
        if grid is not None and counts.grid is not None:
            counts.grid += np.bincount(grid.cell_of(y), minlength=grid.cells)
        if progress is not None:
            progress(min(first + BLOCK_ROWS, stop) - start, stop - start)
    return counts


def count_on_client(client: Any, forward: Array, log_prob: Array, regions: Regions,
                    grid: Grid | None, seed: int, n: int, mean: np.ndarray,
                    scale: np.ndarray, progress: Callable[[int, int], None] | None = None
                    ) -> tuple[Counts, dict[str, Any]]:
    """:func:`count_samples` over all n rows as Dask tasks of ``TASK_BLOCKS`` blocks each."""
    from distributed import as_completed
    from distributed.protocol.pickle import dumps

    try:
        dumps((forward, log_prob))
    except Exception as error:  # pickle raises many types; all mean "cannot ship"
        raise TypeError(f"the case's functions cannot be sent to Dask workers "
                        f"({type(error).__name__}: {error}); define them at module level "
                        "(importable on the workers)") from None
    step = TASK_BLOCKS * BLOCK_ROWS
    run = uuid.uuid4().hex
    started = time.perf_counter()
    futures = [client.submit(count_samples, forward, log_prob, regions, grid, seed, first,
                             min(first + step, n), mean, scale, key=f"mcflow-nd-{run}-{first}",
                             pure=False, retries=3) for first in range(0, n, step)]
    total = Counts(np.zeros(regions.count, dtype=np.int64),
                   None if grid is None else np.zeros(grid.cells, dtype=np.int64))
    sizes = {future.key: min(step, n - first) for future, first in
             zip(futures, range(0, n, step), strict=True)}
    done = 0
    try:
        for future in as_completed(futures):
            total.add(future.result())
            done += sizes[future.key]
            if progress is not None:
                progress(done, n)
    except BaseException:
        client.cancel(futures)
        raise
    return total, {"tasks": len(futures), "seconds": time.perf_counter() - started}
