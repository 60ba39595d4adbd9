"""The :class:`Histogram` type: counts of Y in fixed bins, every sample accounted for."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcflow._binning import COUNTER_NAMES
from mcflow._rng import STREAM_VERSION

__all__ = ["Histogram"]


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
        return self.edges[:-1] + 0.5 * np.diff(self.edges)  # no overflow near the largest float

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


