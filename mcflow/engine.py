"""Public engine: :func:`histogram` and :func:`sample` of Y = T(X), X ~ N(mu, sigma).

The sample range ``[0, n)`` is cut into fixed chunks of
:data:`~mcflow._rng.CHUNK_SIZE` draws, each with its own stream keyed by
``(seed, chunk)``; :mod:`mcflow._chunks` runs them, locally or in a Dask task
(:mod:`mcflow.distributed`).  The counts therefore do not depend on the number
of threads, the batch size or how the chunk range is split between calls or
machines.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from mcflow import _kernels
from mcflow._binning import Binning, make_binning
from mcflow._checks import check_n, check_normal
from mcflow._chunks import checked, count_chunks, samples_in
from mcflow._numba import one_launch_at_a_time
from mcflow._rng import CHUNK_SIZE, seed_key, standard_normals
from mcflow._user_code import hide_mcflow_frames
from mcflow.counts import Histogram
from mcflow.transform import Transform

__all__ = ["Histogram", "histogram", "sample"]

#: Draws up to which :func:`sample` generates on the calling thread (16 chunks).
_SERIAL_SAMPLE = 16 * CHUNK_SIZE

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

ProgressCallback = Callable[[int, int], None]


def check_transform(transform: Any) -> Transform:
    """Validate the transform argument."""
    if not isinstance(transform, Transform):
        raise TypeError(
            f"transform must be a mcflow.Transform (e.g. mcflow.transforms.Exp()), "
            f"got {type(transform).__name__}"
        )
    return transform


def check_threads(threads: Any) -> int:
    """Validate a thread count; None means numba's current setting."""
    if threads is None:
        return numba.get_num_threads()
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a positive integer or None, got {threads!r}")
    most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    if not 1 <= threads <= most:
        raise ValueError(
            f"threads must be between 1 and {most} "
            f"(NUMBA_NUM_THREADS), got {threads}"
        )
    return int(threads)


def histogram(
    transform: Transform,
    n: int,
    bins: int | np.ndarray | list = 200,
    range: tuple[float, float] | None = None,
    *,
    seed: int | None = 0,
    mu: float = 0.0,
    sigma: float = 1.0,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    chunks: tuple[int, int] | None = None,
    client: Any = None,
) -> Histogram:
    """Histogram ``n`` draws of Y = T(X), X ~ N(mu, sigma), in fixed memory.

    Parameters
    ----------
    transform : Transform
        The map T (a built-in from :mod:`mcflow.transforms` or a user's).
    n : int
        Number of samples (up to 2**62; ``1e8`` as a float is accepted).
    bins : int or array_like, default 200
        Number of uniform bins over ``range``, or increasing finite edges.
    range : (float, float), optional
        ``(lo, hi)`` for integer ``bins``; required then.
    seed : int, optional
        Stream seed.  The same seed gives bitwise-identical counts for any
        number of threads.
    mu, sigma : float
        Mean and standard deviation of X.
    threads : int, optional
        Threads to use (default: numba's setting, usually all cores).
    progress : callable, optional
        Called as ``progress(samples_done, n)`` after each batch.
    chunks : (int, int), optional
        Only the chunk range ``[start, stop)`` (for splitting a run across
        processes or machines; ``Histogram`` objects of disjoint ranges add).
    client : distributed.Client, optional
        Run the chunks as Dask tasks on this cluster (see
        :mod:`mcflow.distributed`); the counts are bitwise those of a local
        run.  ``threads`` is then ignored: each task uses its worker's threads.

    Returns
    -------
    Histogram

    Notes
    -----
    Memory is O(bins x threads): no array of size ``n`` is allocated (the
    vectorized path holds one batch of 1 M values).  Unlike
    :func:`numpy.histogram`, nothing is dropped: out-of-range values go to
    ``underflow``/``overflow`` and NaN/inf to their own counters.

    See Also
    --------
    numpy.histogram : the in-memory equivalent for an array of samples.

    Examples
    --------
    >>> import mcflow
    >>> h = mcflow.histogram(mcflow.transforms.Exp(), 10**6, bins=50, range=(0, 10))
    >>> int(h.counts.sum()) + h.underflow + h.overflow + h.nonfinite == h.n
    True
    """
    transform = check_transform(transform)
    n = check_n(n)
    mu, sigma = check_normal(mu, sigma)
    binning = make_binning(bins, range)
    threads = check_threads(threads)
    # One fresh entropy draw for the whole run, shared by every task.
    stream_seed: int | np.random.SeedSequence = np.random.SeedSequence() if seed is None \
        else seed
    first, last = _check_chunks(chunks, -(-n // CHUNK_SIZE))
    started = time.perf_counter()
    row, threads = _count(transform, stream_seed, n, first, last, mu, sigma, binning, threads,
                          progress, client)
    underflow, overflow, neginf, posinf, nan = (int(v) for v in row[binning.bins:])
    return Histogram(
        counts=row[:binning.bins].copy(), edges=binning.edges, underflow=underflow,
        overflow=overflow, neginf=neginf, posinf=posinf, nan=nan, n=samples_in(first, last, n),
        seed=int(seed) if isinstance(seed, (int, np.integer)) else None, mu=mu, sigma=sigma,
        transform=transform.name, seconds=time.perf_counter() - started, threads=threads,
        chunks=(first, last))


def _count(transform: Transform, seed: int | np.random.SeedSequence, n: int, first: int,
           last: int, mu: float, sigma: float, binning: Binning, threads: int,
           progress: ProgressCallback | None, client: Any) -> tuple[np.ndarray, int]:
    """Count chunks ``[first, last)`` locally or on Dask; return the row and the threads."""
    drawn_total = samples_in(first, last, n)
    if client is not None:
        from mcflow.distributed import count_on_cluster

        row, info = count_on_cluster(client, transform, seed, n, first, last, mu, sigma,
                                     binning, progress=progress)
        return checked(row, drawn_total, transform), int(info["workers"])

    def report(done: int) -> None:
        if progress is not None:
            progress(done, drawn_total)

    row = count_chunks(transform, seed_key(seed), first, last, n, mu, sigma, binning, threads,
                       report if progress is not None else None)
    return row, threads


def _check_chunks(chunks: Any, total_chunks: int) -> tuple[int, int]:
    if chunks is None:
        return 0, total_chunks
    try:
        start, stop = (operator.index(v) for v in chunks)
    except TypeError:
        raise TypeError(
            f"chunks must be a pair of integers (start, stop), got {chunks!r}"
        ) from None
    if not 0 <= start < stop <= total_chunks:
        raise ValueError(
            f"chunks must satisfy 0 <= start < stop <= {total_chunks} (chunks in n), "
            f"got ({start}, {stop})"
        )
    return start, stop


def sample(
    transform: Transform,
    n: int,
    *,
    seed: int | np.random.SeedSequence | None = 0,
    mu: float = 0.0,
    sigma: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the first ``n`` draws ``(x, y)`` of the stream :func:`histogram` uses.

    Binning ``y`` gives exactly the counts of ``histogram(transform, n, ...,
    seed=seed)``: the same numbers in the same order.

    Parameters
    ----------
    transform : Transform
        The map T.
    n : int
        Number of draws (memory is O(n): keep it modest).
    seed : int, optional
        Stream seed.
    mu, sigma : float
        Mean and standard deviation of X.

    Returns
    -------
    x, y : ndarray of float64, shape (n,)
        The normal draws and their images ``y = T(x)``.

    Examples
    --------
    >>> import mcflow
    >>> x, y = mcflow.sample(mcflow.transforms.Exp(), 5, seed=0)
    >>> bool((abs(y - __import__("numpy").exp(x)) <= 1e-15 * y).all())
    True
    """
    transform = check_transform(transform)
    n = check_n(n)
    mu, sigma = check_normal(mu, sigma)
    if n <= _SERIAL_SAMPLE:
        # The generator functions the histogram kernel already compiled, called per chunk
        # from here: ~2 ms for 1 M draws, where the parallel kernel's first compile is ~1 s.
        x = mu + sigma * standard_normals(n, seed)
    else:
        x = np.empty(n)
        with one_launch_at_a_time():
            _kernels.normals_chunks(seed_key(seed), 0, -(-n // CHUNK_SIZE), n, mu, sigma, x,
                                    numba.get_num_threads())
    with np.errstate(all="ignore"):
        y = transform.forward_array(x)
    return x, y
