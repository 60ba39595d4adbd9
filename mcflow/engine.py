"""Public engine: :func:`histogram` and :func:`sample` of Y = T(X), X ~ N(mu, sigma).

The sample range ``[0, n)`` is cut into fixed chunks of
:data:`~mcflow._rng.CHUNK_SIZE` draws, each with its own stream keyed by
``(seed, chunk)``.  The Python driver hands the compiled kernel a batch of
chunks at a time (so a long run can report progress and be interrupted), the
kernel splits the batch over threads, and integer counts are summed.  The
counts therefore do not depend on the number of threads, the batch size or
how the chunk range is split between calls or machines.
"""

from __future__ import annotations

import builtins
import math
import operator
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from mcflow import _kernels
from mcflow._binning import COUNTER_NAMES, Binning, make_binning
from mcflow._rng import CHUNK_SIZE, STREAM_VERSION, seed_key
from mcflow.transform import Transform

__all__ = ["Histogram", "histogram", "sample"]

#: Chunks per worker per kernel call: ~2 M samples, a few ms, so progress
#: updates and Ctrl-C are prompt while the call overhead stays below 0.1%.
_CHUNKS_PER_WORKER_PER_CALL = 32
#: Chunks per call on the vectorized path: the user's function sees 1 M values.
_VECTORIZED_CHUNKS_PER_CALL = 16
_MAX_N = 2**62

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class Histogram:
    """Counts of Y = T(X) in fixed bins, with every sample accounted for.

    ``counts.sum() + underflow + overflow + neginf + posinf + nan == n`` always.

    Attributes
    ----------
    counts : ndarray of int64, shape (bins,)
        Bin ``i`` counts ``edges[i] <= y < edges[i + 1]``.
    edges : ndarray of float64, shape (bins + 1,)
    underflow, overflow : int
        Finite values below ``edges[0]``, and at or above ``edges[-1]``.
    neginf, posinf, nan : int
        Non-finite values of T(X), each in its own counter.
    n : int
        Samples drawn.
    seed : int or None
        The stream's seed (None if drawn from fresh entropy).
    mu, sigma : float
        Parameters of X.
    transform : str
        The transform's name.
    seconds : float
        Wall time of the run.
    threads : int
        Threads used.
    stream : str
        Version of the random streams.
    chunks : (int, int)
        The chunk range ``[start, stop)`` these counts cover.
    """

    counts: np.ndarray
    edges: np.ndarray
    underflow: int
    overflow: int
    neginf: int
    posinf: int
    nan: int
    n: int
    seed: int | None = None
    mu: float = 0.0
    sigma: float = 1.0
    transform: str = ""
    seconds: float = 0.0
    threads: int = 1
    stream: str = field(default=STREAM_VERSION)
    chunks: tuple[int, int] = (0, 0)

    @property
    def bins(self) -> int:
        """Number of regular bins."""
        return self.counts.size

    @property
    def in_range(self) -> int:
        """Samples inside ``[edges[0], edges[-1])``."""
        return int(self.counts.sum())

    @property
    def nonfinite(self) -> int:
        """Samples whose T(X) was NaN or infinite."""
        return self.neginf + self.posinf + self.nan

    @property
    def widths(self) -> np.ndarray:
        """Bin widths."""
        return np.diff(self.edges)

    @property
    def centers(self) -> np.ndarray:
        """Bin midpoints."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    def density(self) -> np.ndarray:
        """Empirical density of Y per bin: ``counts / (n * width)``."""
        return self.counts / (self.n * self.widths)

    @property
    def samples_per_second(self) -> float:
        """Throughput of the run."""
        return self.n / self.seconds if self.seconds > 0 else math.inf

    def counters(self) -> dict[str, int]:
        """Return the five out-of-bin counters by name."""
        return {name: int(getattr(self, name)) for name in COUNTER_NAMES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable view (lists of ints and floats)."""
        return {
            "counts": self.counts.tolist(),
            "edges": self.edges.tolist(),
            **self.counters(),
            "n": int(self.n),
            "seed": self.seed,
            "mu": self.mu,
            "sigma": self.sigma,
            "transform": self.transform,
            "seconds": self.seconds,
            "threads": self.threads,
            "stream": self.stream,
        }

    def __add__(self, other: Histogram) -> Histogram:
        """Merge two histograms of the same bins (e.g. disjoint chunk ranges)."""
        if not isinstance(other, Histogram):
            return NotImplemented
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot add histograms with different edges")
        if self.seed is None or other.seed is None:
            raise ValueError("cannot add histograms drawn without an integer seed: "
                             "nothing shows they come from the same streams")
        for name in ("seed", "mu", "sigma", "transform", "stream"):
            if getattr(self, name) != getattr(other, name):
                raise ValueError(
                    f"cannot add histograms of different runs: {name} is "
                    f"{getattr(self, name)!r} and {getattr(other, name)!r}"
                )
        (a, b), (c, d) = self.chunks, other.chunks
        if a < d and c < b:
            raise ValueError(f"cannot add histograms of overlapping chunk ranges [{a}, {b}) and "
                             f"[{c}, {d}): those samples would be counted twice")
        return Histogram(
            counts=self.counts + other.counts,
            edges=self.edges,
            **{name: getattr(self, name) + getattr(other, name) for name in COUNTER_NAMES},
            n=self.n + other.n,
            seed=self.seed,
            mu=self.mu,
            sigma=self.sigma,
            transform=self.transform,
            seconds=self.seconds + other.seconds,
            threads=max(self.threads, other.threads),
            # The hull of both ranges: conservative if they leave a gap between them.
            chunks=(min(a, c), max(b, d)),
        )

    def __repr__(self) -> str:
        return (
            f"Histogram(transform={self.transform!r}, n={self.n}, bins={self.bins}, "
            f"range=({self.edges[0]:g}, {self.edges[-1]:g}), in_range={self.in_range}, "
            + ", ".join(f"{k}={v}" for k, v in self.counters().items())
            + ")"
        )


def check_n(n: Any) -> int:
    """Validate a sample count: a positive integer (``1e8`` as a float is accepted)."""
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"n must be a positive integer, got {n!r}")
    if isinstance(n, (float, np.floating)):
        if not (math.isfinite(n) and float(n).is_integer()):
            raise ValueError(f"n must be a positive integer, got {n!r}")
        n = int(n)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be a positive integer, got {type(n).__name__} {n!r}") from None
    if n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    if n > _MAX_N:
        raise ValueError(f"n must be at most 2**62, got {n}")
    return n


def check_normal(mu: Any, sigma: Any) -> tuple[float, float]:
    """Validate the base normal's parameters."""
    values = []
    for parameter, value in (("mu", mu), ("sigma", sigma)):
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{parameter} must be a real number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{parameter} must be a real number, got {type(value).__name__} {value!r}"
            ) from None
        if not math.isfinite(number):
            raise ValueError(f"{parameter} must be finite, got {number}")
        values.append(number)
    if values[1] <= 0.0:
        raise ValueError(f"sigma must be > 0, got {values[1]}")
    return values[0], values[1]


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
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"threads must be between 1 and {numba.config.NUMBA_NUM_THREADS} "
            f"(NUMBA_NUM_THREADS), got {threads}"
        )
    return int(threads)


@contextmanager
def _numba_threads(threads: int) -> Iterator[None]:
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


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
    if seed is None:  # one fresh entropy draw for the whole run, shared by every task
        seed = np.random.SeedSequence()
    key = seed_key(seed)
    total_chunks = -(-n // CHUNK_SIZE)
    first, last = _check_chunks(chunks, total_chunks)
    drawn_total = _samples_in(first, last, n)

    row = np.zeros(binning.bins + 5, dtype=np.int64)
    started = time.perf_counter()
    if client is not None:
        from mcflow.distributed import count_on_cluster

        row, info = count_on_cluster(client, transform, seed, n, first, last, mu, sigma,
                                     binning, progress=progress)
        row = _checked(row, drawn_total, transform)  # every task's cells, added up
        threads = info["workers"]
    else:
        with _numba_threads(threads):
            for batch_start, batch_stop in _batches(first, last, transform, threads):
                row += _count_batch(transform, key, batch_start, batch_stop, n, mu, sigma,
                                    binning, threads)
                if progress is not None:
                    progress(_samples_in(first, batch_stop, n), drawn_total)
    seconds = time.perf_counter() - started
    bins_count = binning.bins
    counters = {name: int(row[bins_count + i]) for i, name in enumerate(COUNTER_NAMES)}
    return Histogram(
        counts=row[:bins_count].copy(),
        edges=binning.edges,
        **counters,
        n=drawn_total,
        seed=seed if isinstance(seed, (int, np.integer)) else None,
        mu=mu,
        sigma=sigma,
        transform=transform.name,
        seconds=seconds,
        threads=threads,
        chunks=(first, last),
    )


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


def _samples_in(first_chunk: int, stop_chunk: int, n: int) -> int:
    return min(stop_chunk * CHUNK_SIZE, n) - first_chunk * CHUNK_SIZE


def _batches(
    first: int, last: int, transform: Transform, threads: int
) -> Iterator[tuple[int, int]]:
    step = (
        _VECTORIZED_CHUNKS_PER_CALL if transform.vectorized
        else _CHUNKS_PER_WORKER_PER_CALL * threads
    )
    for start in builtins.range(first, last, step):
        yield start, min(start + step, last)


def _count_batch(transform: Transform, key: np.uint64, start: int, stop: int, n: int,
                 mu: float, sigma: float, binning: Binning, threads: int) -> np.ndarray:
    """Count chunks ``[start, stop)``, checking that the cells add up to the samples drawn."""
    drawn = _samples_in(start, stop, n)
    if transform.vectorized:
        x = np.empty(drawn)
        _kernels.normals_chunks(key, start, stop, n, mu, sigma, x, threads)
        y = transform.forward_array(x)
        rows = _kernels.bin_values(y, binning.edges, binning.cell_scale, binning.cell_bins,
                                   binning.lookup, threads)
        return _checked(rows.sum(axis=0), drawn, transform)
    argument = transform.kernel_argument
    kernel = (
        _kernels.histogram_chunks if isinstance(argument, tuple)
        else _kernels.histogram_chunks_uncached
    )
    try:
        rows = kernel(argument, key, start, stop, n, mu, sigma, binning.edges,
                      binning.cell_scale, binning.cell_bins, binning.lookup, threads)
    except Exception:  # numba may turn a user's exception into SystemError: find it again
        _reraise_from_forward(transform, key, start, stop, n, mu, sigma, threads)
        raise
    counts = rows.sum(axis=0)
    if int(counts.sum()) != drawn:
        _reraise_from_forward(transform, key, start, stop, n, mu, sigma, threads)
    return _checked(counts, drawn, transform)


def _reraise_from_forward(transform: Transform, key: np.uint64, start: int, stop: int, n: int,
                          mu: float, sigma: float, threads: int) -> None:
    """Redraw a failed batch's x and apply T serially: a user's exception surfaces as itself."""
    x = np.empty(_samples_in(start, stop, n))
    _kernels.normals_chunks(key, start, stop, n, mu, sigma, x, threads)
    with np.errstate(all="ignore"):
        transform.forward_array(x)


def _checked(counts: np.ndarray, drawn: int, transform: Transform) -> np.ndarray:
    """Raise if the cells do not add up to the batch: a sample must never be lost."""
    total = int(counts.sum())
    if total != drawn:
        raise RuntimeError(
            f"the kernel counted {total} of {drawn} samples of transform {transform.name!r} "
            "(the forward map failed inside the compiled kernel without raising); nothing "
            "was counted for this run")
    return counts


def sample(
    transform: Transform,
    n: int,
    *,
    seed: int | None = 0,
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
    key = seed_key(seed)
    x = np.empty(n)
    _kernels.normals_chunks(key, 0, -(-n // CHUNK_SIZE), n, mu, sigma, x,
                            numba.get_num_threads())
    with np.errstate(all="ignore"):
        y = transform.forward_array(x)
    return x, y
