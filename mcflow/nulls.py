"""The simulated multinomial nulls of a validation: fixed seed, cached, bounded cost.

A null costs O(cells) per replicate (NumPy's multinomial draws one binomial
per cell, ~40 ns).  The replicates needed to resolve ``alpha_per_test``
(:func:`~mcflow.null_distribution.default_replicates`) times the cells is capped at
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
import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mcflow.null_distribution import NullDistribution, simulate_null
from mcflow.statistics import check_probabilities

__all__ = ["MAX_CELL_DRAWS", "NULL_SEED", "cache_directory", "cell_groups", "group", "null_for"]

#: Seed of the multinomial null simulation.  Fixed on purpose: the null is a
#: numerical evaluation of a distribution, not part of the tested randomness,
#: and a fixed one makes every p-value a deterministic function of the data.
NULL_SEED = 0x6D63666C6F77
#: Replicates x cells at most: 1.5 s of multinomial draws on 2 cores (3.1 s on one).
MAX_CELL_DRAWS = 3 * 10**7
#: Kullback-Leibler divergence between two multinomials below which one's null serves the
#: other: total variation <= sqrt(KL / 2) = 1e-4 bounds the change of any p-value, below
#: the Monte Carlo error sqrt(alpha / R) >= 3e-4 of a p-value near alpha at R <= 1e5.
_SHARED_KL = 2e-8
#: Nulls of this process that a nearly equal claim may share (see :func:`null_for`).
_RECENT: list[tuple[int, int, np.ndarray, bytes]] = []
#: Fewest groups a capped binning is tested on.
_MIN_GROUPS = 64
_BATCHES = 16
#: Part of every disk-cache key: bump it when the simulation changes.
_FORMAT = "mcflow-null/2"
#: Nulls kept on disk (each at most 100,000 x 5 float64 = 4 MB); the oldest go first.
_MAX_CACHED = 256


def cache_directory() -> Path | None:
    """Where simulated nulls are kept between runs, or None when disabled.

    ``$MCFLOW_CACHE_DIR/nulls`` if set (set it empty to disable), else
    ``$XDG_CACHE_HOME/mcflow/nulls`` or ``~/.cache/mcflow/nulls``.
    """
    configured = os.environ.get("MCFLOW_CACHE_DIR")
    if configured is not None:
        return Path(configured) / "nulls" if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mcflow" / "nulls"


def _disk_key(n: int, replicates: int, probabilities: bytes) -> str:
    header = f"{_FORMAT}|{NULL_SEED}|{n}|{replicates}|{_BATCHES}|numpy {np.__version__}|"
    return hashlib.sha256(header.encode() + probabilities).hexdigest()


def _load(path: Path, replicates: int) -> np.ndarray | None:
    """Return the stored (replicates, 5) array: the statistics, then the sorted min-p."""
    try:
        stored = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, truncated or not ours: simulate again
        return None
    if stored.dtype != np.float64 or stored.shape != (replicates, 5):
        return None
    return stored


def _store(directory: Path, path: Path, table: np.ndarray) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as file:
            np.save(file, table)
        os.replace(file.name, path)  # atomic: a reader sees the whole table or none
        cached = sorted(directory.glob("*.npy"), key=lambda entry: entry.stat().st_mtime)
        for stale in cached[:-_MAX_CACHED]:
            stale.unlink(missing_ok=True)
    except OSError:  # a read-only or full cache costs time on the next run, nothing else
        return


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
    directory = cache_directory()
    path = None if directory is None else \
        directory / f"{_disk_key(n, replicates, probabilities)}.npy"
    stored = None if path is None else _load(path, replicates)
    if stored is not None:
        normalized = check_probabilities(cells)  # as simulate_null normalizes them
        table, min_pvalues = np.ascontiguousarray(stored[:, :4]), stored[:, 4].copy()
        for values in (table, min_pvalues, normalized):
            values.setflags(write=False)
        return NullDistribution(n=n, replicates=replicates, probabilities=normalized,
                                table=table, seed=NULL_SEED, min_pvalues=min_pvalues)
    null = _simulate(n, cells, replicates)
    if directory is not None and path is not None:
        # the sorted min-p too: the combined p-value's searchsorted over R x 4 is the
        # slowest part of a null that is already known
        _store(directory, path, np.column_stack([null.table, null._replicate_min_pvalues]))
    return null


def _simulate(n: int, cells: np.ndarray, replicates: int) -> NullDistribution:
    batches = min(_BATCHES, replicates)
    sizes = [replicates * (b + 1) // batches - replicates * b // batches for b in range(batches)]
    seeds = np.random.SeedSequence(NULL_SEED).spawn(batches)

    def run(index: int) -> NullDistribution:
        return simulate_null(n, cells, replicates=sizes[index],
                             seed=int(seeds[index].generate_state(1)[0]))

    with ThreadPoolExecutor(max_workers=min(batches, os.cpu_count() or 1)) as pool:
        return _merge(list(pool.map(run, range(batches))), n)


def null_for(n: int, probabilities: np.ndarray, replicates: int) -> NullDistribution:
    """Return the (cached) null of ``n`` samples in cells of ``probabilities``.

    A null already simulated in this process for probabilities p' within a
    relative ``delta = max |p_i / p'_i - 1|`` with ``n delta^2 / 2 <= 2e-8``
    is returned instead: the two multinomials' Kullback-Leibler divergence is
    about ``n sum_i p_i delta_i^2 / 2`` <= that, so no p-value can tell them
    apart (:data:`_SHARED_KL`).  Claims equal but for quadrature rounding
    (every monotone built-in's masses on its equal-probability bins, relative
    differences ~1e-12) then share one null in ``mcflow check``.
    """
    cells = np.ascontiguousarray(probabilities, dtype=np.float64)
    raw = _shared(n, replicates, cells)
    return _cached(n, hashlib.sha1(raw).hexdigest(), replicates, raw)


def _shared(n: int, replicates: int, cells: np.ndarray) -> bytes:
    """Bytes of a recent null's probabilities close enough to ``cells``, else of ``cells``."""
    delta = math.sqrt(2.0 * _SHARED_KL / n)
    for recent_n, recent_replicates, recent, raw in _RECENT:
        if recent_n == n and recent_replicates == replicates and recent.shape == cells.shape \
                and np.array_equal(recent == 0.0, cells == 0.0):
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = np.abs(cells / recent - 1.0)
            if float(np.max(relative, where=recent > 0.0, initial=0.0)) <= delta:
                return raw
    raw = cells.tobytes()
    _RECENT.insert(0, (n, replicates, cells.copy(), raw))
    del _RECENT[64:]
    return raw
