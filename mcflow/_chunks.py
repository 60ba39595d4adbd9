"""The chunk loop shared by local runs and Dask tasks: draw, transform, bin, check.

Chunks ``[first, last)`` are handed to the compiled kernel a batch at a time
(so a long run reports progress and can be interrupted), the kernel splits a
batch over threads, and integer counts are summed.  After every kernel call
the cells must add up to the batch: a sample is never lost silently, and an
exception a user's function raised inside the kernel is found again and
raised as itself.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mcflow import _kernels
from mcflow._binning import Binning
from mcflow._numba import numba_threads, one_launch_at_a_time
from mcflow._rng import CHUNK_SIZE
from mcflow._user_code import hide_mcflow_frames
from mcflow.transform import Transform

__all__ = ["count_chunks", "samples_in"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Chunks per worker per kernel call: ~2 M samples, a few ms, so progress
#: updates and Ctrl-C are prompt while the call overhead stays below 0.1%.
_CHUNKS_PER_WORKER_PER_CALL = 32
#: Chunks per call on the vectorized path: the user's function sees 1 M values
#: per call, whatever the thread count (so its results cannot depend on it).
VECTORIZED_CHUNKS_PER_CALL = 16


def count_chunks(transform: Transform, key: np.uint64, first: int, last: int, n: int,
                 mu: float, sigma: float, binning: Binning, threads: int,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Count ``T(mu + sigma Z)`` of chunks ``[first, last)`` into one row.

    The row holds the regular bins, then underflow, overflow, -inf, +inf,
    NaN; ``progress(samples_done)`` is called after each batch.
    """
    row = np.zeros(binning.bins + 5, dtype=np.int64)
    # No more workers than chunks: an idle thread's wake-up can cost more than a chunk
    # (the counts depend on the chunks only, never on the workers).
    threads = max(1, min(threads, last - first))
    with numba_threads(threads):
        for batch_start, batch_stop in _batches(first, last, transform, threads):
            row += _count_batch(transform, key, batch_start, batch_stop, n, mu, sigma,
                                binning, threads)
            if progress is not None:
                progress(samples_in(first, batch_stop, n))
    return row


def samples_in(first_chunk: int, stop_chunk: int, n: int) -> int:
    """Return the number of samples in chunks ``[first_chunk, stop_chunk)`` of a run of n."""
    return min(stop_chunk * CHUNK_SIZE, n) - first_chunk * CHUNK_SIZE


def _batches(
    first: int, last: int, transform: Transform, threads: int
) -> Iterator[tuple[int, int]]:
    if transform.vectorized:
        step = VECTORIZED_CHUNKS_PER_CALL * (threads if transform.concurrent else 1)
    else:
        step = _CHUNKS_PER_WORKER_PER_CALL * threads
    for start in builtins.range(first, last, step):
        yield start, min(start + step, last)


def _count_batch(transform: Transform, key: np.uint64, start: int, stop: int, n: int,
                 mu: float, sigma: float, binning: Binning, threads: int) -> np.ndarray:
    """Count chunks ``[start, stop)``, checking that the cells add up to the samples drawn."""
    drawn = samples_in(start, stop, n)
    if transform.vectorized:
        x = np.empty(drawn)
        with one_launch_at_a_time():
            _kernels.normals_chunks(key, start, stop, n, mu, sigma, x, threads)
        y = _forward_in_calls(transform, x, threads)
        with one_launch_at_a_time():
            rows = _kernels.bin_values(y, binning.edges, binning.cell_scale,
                                       binning.cell_bins, binning.lookup, threads)
        return checked(rows.sum(axis=0), drawn, transform)
    argument = transform.kernel_argument
    kernel = (
        _kernels.histogram_chunks if isinstance(argument, tuple)
        else _kernels.histogram_chunks_uncached
    )
    try:
        with one_launch_at_a_time():
            rows = kernel(argument, key, start, stop, n, mu, sigma, binning.edges,
                          binning.cell_scale, binning.cell_bins, binning.lookup, threads)
    except Exception:  # numba may turn a user's exception into SystemError: find it again
        _reraise_from_forward(transform, key, start, stop, n, mu, sigma, threads)
        raise
    counts = rows.sum(axis=0)
    if int(counts.sum()) != drawn:
        _reraise_from_forward(transform, key, start, stop, n, mu, sigma, threads)
    return checked(counts, drawn, transform)


def _forward_in_calls(transform: Transform, x: np.ndarray, threads: int) -> np.ndarray:
    """T(x) by calls of ``VECTORIZED_CHUNKS_PER_CALL`` chunks, concurrent ones on threads."""
    size = VECTORIZED_CHUNKS_PER_CALL * CHUNK_SIZE
    if not transform.concurrent or x.size <= size:
        return transform.forward_array(x)
    parts = [x[start:start + size] for start in builtins.range(0, x.size, size)]
    with ThreadPoolExecutor(max_workers=min(threads, len(parts))) as pool:
        # map re-raises the first exception a call raised, as itself
        return np.concatenate(list(pool.map(transform.forward_array, parts)))


def _reraise_from_forward(transform: Transform, key: np.uint64, start: int, stop: int, n: int,
                          mu: float, sigma: float, threads: int) -> None:
    """Redraw a failed batch's x and apply T serially: a user's exception surfaces as itself."""
    x = np.empty(samples_in(start, stop, n))
    with one_launch_at_a_time():
        _kernels.normals_chunks(key, start, stop, n, mu, sigma, x, threads)
    with np.errstate(all="ignore"):
        transform.forward_array(x)


def checked(counts: np.ndarray, drawn: int, transform: Transform) -> np.ndarray:
    """Raise if the cells do not add up to the batch: a sample must never be lost."""
    total = int(counts.sum())
    if total != drawn:
        raise RuntimeError(
            f"the kernel counted {total} of {drawn} samples of transform {transform.name!r} "
            "(the forward map failed inside the compiled kernel without raising); nothing "
            "was counted for this run")
    return counts


