"""Base draws for d-dimensional validation: rows of N(mean, diag(scale^2)), block by block.

Row ``r`` of a run is made of values ``[r d, (r + 1) d)`` of the 1-D engine's
stream for the key ``seed_key(SeedSequence(seed, spawn_key=(stream,)))``: the
same ``(key, chunk)``-keyed xoshiro/ziggurat numbers the 1-D kernels use, so a
block's rows are bitwise the same whatever the thread count, and a block can
be redrawn on its own.  Blocks hold ``BLOCK_ROWS`` rows (a whole number of
chunks for any d), the unit in which the user's functions are called and in
which sums are reduced, always in block order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mcflow import _kernels
from mcflow._numba import numba_threads, one_launch_at_a_time
from mcflow._rng import CHUNK_SIZE, seed_key
from mcflow._user_code import hide_mcflow_frames

__all__ = ["BLOCK_ROWS", "STREAMS", "blocks", "rows"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Rows per block: CHUNK_SIZE rows are d whole chunks of the flat stream.
BLOCK_ROWS = CHUNK_SIZE
#: Independent streams of one seed (spawn keys): tested draws, proposal, pilot.
STREAMS = {"samples": 1, "proposal": 2, "pilot": 3}


def _key(seed: int, stream: str) -> np.uint64:
    return seed_key(np.random.SeedSequence(seed, spawn_key=(STREAMS[stream],)))


def rows(seed: int, stream: str, first: int, stop: int, dim: int) -> np.ndarray:
    """Return standard normal rows ``[first, stop)`` of ``stream``, shape ``(stop - first, dim)``.

    ``first`` must be a multiple of ``BLOCK_ROWS`` (a chunk boundary of the flat stream).
    """
    if first % BLOCK_ROWS:
        raise ValueError(f"first must be a multiple of {BLOCK_ROWS}, got {first}")
    values = (stop - first) * dim
    out = np.empty(values)
    chunk = first * dim // CHUNK_SIZE
    # One thread: a block is a few milliseconds of draws, and an idle OpenMP team
    # spinning after it slows the user's flow and NumPy's BLAS on the same cores.
    with numba_threads(1), one_launch_at_a_time():
        _kernels.normals_chunks(_key(seed, stream), chunk,
                                chunk + -(-values // CHUNK_SIZE), first * dim + values,
                                0.0, 1.0, out, 1)
    return out.reshape(stop - first, dim)


def blocks(n: int) -> Iterator[tuple[int, int]]:
    """Row ranges ``[first, stop)`` of the blocks of a run of ``n`` rows, in order."""
    for first in range(0, n, BLOCK_ROWS):
        yield first, min(first + BLOCK_ROWS, n)
