"""The simulated multinomial nulls of a validation: fixed seed, cached, bounded cost.

A null costs O(cells) per replicate (one exact binomial per cell and the
statistics, about 20 ns per thread: ``mcflow._multinomial``).  The replicates
needed to resolve ``alpha_per_test``
(:func:`~mcflow.null_distribution.default_replicates`) times the cells is capped at
:data:`MAX_CELL_DRAWS`.  A binning with more cells than that allows (a user's
1e6 bins) is tested on groups of adjacent cells of about equal claimed
probability (:func:`cell_groups`): any partition gives a valid test, and the
null stays exact for it; only power at the finest scales is given up, and
the result says so.  Replicate ``r`` is drawn from a stream keyed by
``(NULL_SEED, r)``, so the null is the same on any number of threads.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import tempfile
from pathlib import Path

import numba
import numpy as np

from mcflow._version import __version__
from mcflow.null_distribution import NullDistribution, simulate_null
from mcflow.statistics import check_probabilities

__all__ = ["MAX_CELL_DRAWS", "NULL_SEED", "cache_directory", "cell_groups", "group", "null_for",
           "quantized"]

#: Seed of the multinomial null simulation.  Fixed on purpose: the null is a
#: numerical evaluation of a distribution, not part of the tested randomness,
#: and a fixed one makes every p-value a deterministic function of the data.
NULL_SEED = 0x6D63666C6F77
#: Replicates x cells at most: about 0.3 s of draws and statistics on 2 cores (0.6 s on one).
MAX_CELL_DRAWS = 3 * 10**7
#: Kullback-Leibler divergence allowed between the user's multinomial and the rounded one
#: tested (:func:`quantized`): total variation <= sqrt(KL / 2) = 1e-4, below the Monte
#: Carlo error sqrt(alpha / R) >= 3e-4 of a p-value near alpha at R <= 1e5.
_SHARED_KL = 2e-8
#: Fewest groups a capped binning is tested on.
_MIN_GROUPS = 64
#: Part of every disk-cache key: bump it when the simulation changes.
_FORMAT = "mcflow-null/4"
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
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no HOME and no passwd entry: no cache rather than no run
        return None
    return Path(base) / "mcflow" / "nulls"


def _disk_key(n: int, replicates: int, probabilities: bytes) -> str:
    header = (f"{_FORMAT}|mcflow {__version__}|{NULL_SEED}|{n}|{replicates}|"
              f"numba {numba.__version__}|")
    return hashlib.sha256(header.encode() + probabilities).hexdigest()


def _load(path: Path, replicates: int) -> np.ndarray | None:
    """Return the stored (replicates, 5) array: the statistics, then the sorted min-p."""
    try:
        stored = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, truncated or not ours: simulate again
        return None
    if stored.dtype != np.float64 or stored.shape != (replicates, 5):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # pruning goes by last use
    return stored


def _store(directory: Path, path: Path, table: np.ndarray) -> None:
    temporary = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as file:
            temporary = file.name
            np.save(file, table)
        os.replace(temporary, path)  # atomic: a reader sees the whole table or none
        temporary = None
        cached = sorted(directory.glob("*.npy"), key=lambda entry: entry.stat().st_mtime)
        for stale in cached[:-_MAX_CACHED]:
            stale.unlink(missing_ok=True)
    except OSError:  # a read-only or full cache costs time on the next run, nothing else
        return
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


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
    return simulate_null(n, cells, replicates=replicates, seed=NULL_SEED)


def null_for(n: int, probabilities: np.ndarray, replicates: int) -> NullDistribution:
    """Return the (cached) null of ``n`` samples in cells of about ``probabilities``.

    The null is simulated for the probabilities rounded to a relative grid
    (:func:`quantized`), and its ``probabilities`` are those rounded ones: test
    the observed counts against them (:func:`mcflow.layers.mc_layer` does), so
    that observed and replicate statistics come from one function and ties stay
    ties.  Claims equal but for quadrature rounding (every monotone built-in's
    masses on its equal-probability bins, relative differences ~1e-12) then
    share one null, whatever ran before (the rounding depends on the claim
    alone).
    """
    cells = quantized(np.ascontiguousarray(probabilities, dtype=np.float64), n)
    raw = cells.tobytes()
    return _cached(n, hashlib.sha1(raw).hexdigest(), replicates, raw)


def quantized(probabilities: np.ndarray, n: int) -> np.ndarray:
    r"""Round each probability to ``k`` significant bits, ``2^-k <= sqrt(2 KL / n)``.

    A relative change ``delta_i <= 2^-k`` of every ``p_i`` moves the multinomial
    by a Kullback-Leibler divergence of about ``n \sum_i p_i delta_i^2 / 2 <=
    KL = 2e-8`` (:data:`_SHARED_KL`), and L1 by at most ``2^-k`` (6e-8 at n =
    1e7, against a detection limit of 8e-3): the rounded claim is the user's
    to far below what any n resolves.  Exact powers of two, so the same on
    every machine; zeros stay zero.  Renormalized after rounding (which moves
    the sum by up to ``2^-k``).
    """
    bits = min(52, max(1, math.ceil(-math.log2(math.sqrt(2.0 * _SHARED_KL / n)))))
    mantissa, exponent = np.frexp(probabilities)
    rounded = np.ldexp(np.round(np.ldexp(mantissa, bits)), exponent - bits)
    return rounded / rounded.sum()  # the sum moved by up to 2^-k; a function of the claim
