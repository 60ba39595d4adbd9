"""The simulated multinomial nulls of a validation: fixed seed, cached, bounded cost.

A null costs O(cells) per replicate (NumPy's multinomial draws one binomial
per cell, ~40 ns).  The replicates needed to resolve ``alpha_per_test``
(:func:`~mcflow.statistics.default_replicates`) times the cells is capped at
:data:`MAX_CELL_DRAWS`.  A binning with more cells than that allows (a user's
1e6 bins) is tested on groups of adjacent cells of about equal claimed
probability (:func:`cell_groups`): any partition gives a valid test, and the
null stays exact for it; only power at the finest scales is given up, and
the result says so.  Replicates are drawn in batches with their own spawned
generators on a thread pool (NumPy's multinomial releases the GIL), so the
null is the same on any number of threads.
"""

from __future__ import annotations

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mcflow.null_distribution import NullDistribution, simulate_null

__all__ = ["MAX_CELL_DRAWS", "NULL_SEED", "cell_groups", "group", "null_for"]

#: Seed of the multinomial null simulation.  Fixed on purpose: the null is a
#: numerical evaluation of a distribution, not part of the tested randomness,
#: and a fixed one makes every p-value a deterministic function of the data.
NULL_SEED = 0x6D63666C6F77
#: Replicates x cells at most: 1.5 s of multinomial draws on 2 cores (3.1 s on one).
MAX_CELL_DRAWS = 3 * 10**7
#: Fewest groups a capped binning is tested on.
_MIN_GROUPS = 64
_BATCHES = 16


def cell_groups(probabilities: np.ndarray, replicates: int) -> np.ndarray | None:
    """Return the first cell of each group, or None if the cells fit the budget.

    The last cell (non-finite values) stays a group of its own; the others
    are cut where the claimed cumulative probability crosses multiples of
    ``1 / groups``, so every group holds about the same mass.
    """
    groups = max(_MIN_GROUPS, MAX_CELL_DRAWS // replicates)
    if probabilities.size <= groups:
        return None
    ordered = probabilities[:-1]
    cumulative = np.cumsum(ordered)
    targets = np.linspace(0.0, cumulative[-1], groups - 1, endpoint=False)[1:]
    cuts = np.searchsorted(cumulative, targets, side="right") + 1
    starts = np.unique(np.concatenate([[0], cuts[cuts < ordered.size]]))
    return np.concatenate([starts, [ordered.size]])


def group(values: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    """Sum ``values`` over the groups starting at ``starts`` (unchanged if None)."""
    return values if starts is None else np.add.reduceat(values, starts)


def _merge(parts: list[NullDistribution], n: int) -> NullDistribution:
    table = np.concatenate([part.table for part in parts])
    table.setflags(write=False)
    return NullDistribution(n=n, replicates=sum(part.replicates for part in parts),
                            probabilities=parts[0].probabilities, table=table, seed=NULL_SEED)


@functools.lru_cache(maxsize=64)
def _cached(n: int, digest: str, replicates: int, probabilities: bytes) -> NullDistribution:
    del digest  # part of the cache key only
    cells = np.frombuffer(probabilities)
    batches = min(_BATCHES, replicates)
    sizes = [replicates * (b + 1) // batches - replicates * b // batches for b in range(batches)]
    seeds = np.random.SeedSequence(NULL_SEED).spawn(batches)

    def run(index: int) -> NullDistribution:
        return simulate_null(n, cells, replicates=sizes[index],
                             seed=int(seeds[index].generate_state(1)[0]))

    with ThreadPoolExecutor(max_workers=min(batches, os.cpu_count() or 1)) as pool:
        return _merge(list(pool.map(run, range(batches))), n)


def null_for(n: int, probabilities: np.ndarray, replicates: int) -> NullDistribution:
    """Return the (cached) null of ``n`` samples in cells of ``probabilities``."""
    cells = np.ascontiguousarray(probabilities, dtype=np.float64)
    raw = cells.tobytes()
    return _cached(n, hashlib.sha1(raw).hexdigest(), replicates, raw)
