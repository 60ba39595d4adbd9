"""Fused parallel kernels: draw normals, apply T, bin; and their helpers.

Every kernel works on a contiguous range of chunks ``[chunk_start,
chunk_stop)``.  Chunk ``c`` holds samples ``c * CHUNK_SIZE`` up to
``min((c + 1) * CHUNK_SIZE, n)`` and draws them from its own stream, so a
range can be split across threads, calls or machines in any way and the
integer counts still add up to the same totals.

Inside a chunk, samples are processed in blocks of :data:`BLOCK` values held
in a thread-private buffer (it stays in L1 cache): fill with normals, scale
by ``mu``/``sigma``, apply the transform to the whole block (so simple maps
vectorize), then bin.  Nothing of size ``n`` is ever allocated.

The transform argument is either a program (built-ins and chains of them:
plain arrays, so the compiled kernel is cached on disk and reused for every
parameter value) or a numba dispatcher (a user's ``@njit`` scalar function,
specialised and inlined; compiled once per process).  A program is
``(ops, params)``, or ``(ops, params, None)`` when every op is basic (see
:func:`program_argument`): the marker is part of the type, so the basic tier is
a kernel of its own that compiles only the basic ops' loops.
"""

from __future__ import annotations

import numpy as np
from numba import prange, types
from numba.extending import overload

from mcflow._bin_block import bin_block
from mcflow._numba import jit, parallel_jit
from mcflow._ops import (
    basic_forward_block,
    inverse_at,
    inverse_log_abs_det_at,
    is_basic_program,
    log_abs_det_at,
    program_forward_block,
)
from mcflow._rng import (
    BLOCK,
    CHUNK_SIZE,
    SCRATCH_FLAGS,
    SCRATCH_WORDS,
    STATE_WORDS,
    fill_block,
    fill_standard_normals,
    seed_chunk_state,
)

__all__ = [
    "BLOCK",
    "apply_transform",
    "bin_values",
    "histogram_chunks",
    "histogram_chunks_uncached",
    "normals_checksum",
    "normals_chunks",
    "program_argument",
    "program_forward",
    "program_inverse",
    "program_inverse_log_abs_det",
    "program_log_abs_det",
]

def program_argument(ops: np.ndarray, params: np.ndarray) -> tuple[np.ndarray | None, ...]:
    """Return a program's kernel argument: ``(ops, params)``, plus a ``None`` marker if basic.

    Parameters
    ----------
    ops : ndarray of int64
        Op codes, applied first to last.
    params : ndarray of float64, shape (len(ops), 2)
        Each op's parameters.
    """
    return (ops, params, None) if is_basic_program(ops) else (ops, params)


def apply_transform(transform, values, count):  # pragma: no cover - numba only
    """Apply ``transform`` in place to ``values[:count]`` (numba-only stub)."""
    raise NotImplementedError("apply_transform is only callable from numba code")


@overload(apply_transform, jit_options={"cache": True})  # type: ignore[typeddict-unknown-key]
def _apply_transform_impl(transform, values, count):
    if isinstance(transform, types.BaseTuple) and len(transform) == 3:

        def apply_basic_program(transform, values, count):
            basic_forward_block(transform[0], transform[1], values, count)

        return apply_basic_program
    if isinstance(transform, types.BaseTuple):

        def apply_program(transform, values, count):
            program_forward_block(transform[0], transform[1], values, count)

        return apply_program
    if isinstance(transform, types.Dispatcher):

        def apply_function(transform, values, count):
            for i in range(count):
                values[i] = transform(values[i])

        return apply_function
    return None


@jit(inline="always")
def _padded_row(bins):
    """Row length of a worker's counts: whole 64-byte lines plus one spare line.

    Without the padding the counters at the end of one worker's row share a
    cache line with the first bins of the next, and that line ping-pongs
    between cores (measured: 2 threads gave 1.35x instead of 1.8x).
    """
    return ((bins + 5 + 7) // 8) * 8 + 8


@jit(inline="always")
def _scratch(workers):
    """Each worker's block buffer, generator state and generator work space, a line apart.

    Separate small allocations can sit in one cache line; two threads writing
    to it on every block make the line bounce between cores.
    """
    buffers = np.empty((workers, BLOCK + 16))
    states = np.empty((workers, STATE_WORDS + 12), dtype=np.uint64)
    # fill_block's work space, as rows of 2-d arrays (one allocation each, made
    # here rather than per worker: a cold start then compiles no 1-d np.empty).
    words = np.empty((workers, SCRATCH_WORDS), dtype=np.uint64)
    flags = np.empty((workers, SCRATCH_FLAGS), dtype=np.uint8)
    positions = np.empty((workers, SCRATCH_WORDS), dtype=np.int64)
    # bin_block's work space: each value's cell of the count row.
    slots = np.empty((workers, BLOCK + 8), dtype=np.int64)
    return buffers, states, (words, flags, positions), slots


@jit(inline="always")
def _worker_chunks(worker, workers, chunk_start, chunk_stop):
    span = chunk_stop - chunk_start
    return chunk_start + span * worker // workers, chunk_start + span * (worker + 1) // workers


@parallel_jit
def histogram_chunks(transform, key, chunk_start, chunk_stop, n, mu, sigma,
                     edges, cell_scale, cell_bins, lookup, workers):
    """Count T(mu + sigma Z) over chunks ``[chunk_start, chunk_stop)``.

    Returns an int64 array ``(workers, bins + 5)``: each worker's counts of the
    regular bins then underflow, overflow, -inf, +inf, NaN.  The caller sums
    the rows (integer sums: the order does not matter).
    """
    bins = edges.size - 1
    lo = edges[0]
    hi = edges[bins]
    counts = np.zeros((workers, _padded_row(bins)), dtype=np.int64)
    buffers, states, (words, flags, positions), slots = _scratch(workers)
    for worker in prange(workers):
        first, last = _worker_chunks(worker, workers, chunk_start, chunk_stop)
        buffer = buffers[worker]
        cells = slots[worker]
        state = states[worker]
        scratch = (words[worker], flags[worker], positions[worker])
        row = counts[worker]
        for chunk in range(first, last):
            seed_chunk_state(key, chunk, state)
            stop = min(CHUNK_SIZE, n - chunk * CHUNK_SIZE)
            for offset in range(0, stop, BLOCK):
                count = min(BLOCK, stop - offset)
                fill_block(state, scratch, buffer)
                for i in range(count):
                    buffer[i] = mu + sigma * buffer[i]
                apply_transform(transform, buffer, count)
                bin_block(buffer, count, lo, hi, cell_scale, edges, cell_bins, lookup, row,
                          cells)
    return counts[:, : bins + 5]


@parallel_jit
def normals_chunks(key, chunk_start, chunk_stop, n, mu, sigma, out, workers):
    """Write ``mu + sigma Z`` of chunks ``[chunk_start, chunk_stop)`` into ``out``.

    ``out[0]`` receives the first sample of ``chunk_start``; the values are
    bitwise the ones :func:`histogram_chunks` transforms and bins.
    """
    base = chunk_start * CHUNK_SIZE
    _, states, (words, flags, positions), _ = _scratch(workers)
    for worker in prange(workers):
        first, last = _worker_chunks(worker, workers, chunk_start, chunk_stop)
        state = states[worker]
        scratch = (words[worker], flags[worker], positions[worker])
        for chunk in range(first, last):
            seed_chunk_state(key, chunk, state)
            begin = chunk * CHUNK_SIZE - base
            stop = begin + min(CHUNK_SIZE, n - chunk * CHUNK_SIZE)
            fill_standard_normals(state, scratch, out, begin, stop)
            for i in range(begin, stop):
                out[i] = mu + sigma * out[i]


@parallel_jit
def bin_values(values, edges, cell_scale, cell_bins, lookup, workers):
    """Count an array of values into ``(workers, bins + 5)`` rows, in parallel."""
    bins = edges.size - 1
    lo = edges[0]
    hi = edges[bins]
    counts = np.zeros((workers, _padded_row(bins)), dtype=np.int64)
    _, _, _, slots = _scratch(workers)
    for worker in prange(workers):
        first, last = _worker_chunks(worker, workers, 0, values.size)
        for begin in range(first, last, BLOCK):
            end = min(begin + BLOCK, last)
            bin_block(values[begin:end], end - begin, lo, hi, cell_scale, edges, cell_bins,
                      lookup, counts[worker], slots[worker])
    return counts[:, : bins + 5]


# What _program_map computes: one kernel for the three maps a validation uses, since
# each parallel kernel's own compile (the parfor and its wrapper) cost ~0.7 s of a
# first run.  log|dT/dx|, which a validation does not use, stays apart.
_FORWARD, _INVERSE, _INVERSE_LOG_ABS_DET = range(3)


def program_forward(ops: np.ndarray, params: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Forward map of a program, elementwise (new array).

    Block by block through the histogram's own loops (bitwise the scalar
    program's values): a run then compiles no second, scalar copy of every op,
    and a basic program none of the other ops' loops.
    """
    return _program_map(program_argument(ops, params), values, _FORWARD)


def program_inverse(ops: np.ndarray, params: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Inverse map of a program, elementwise (new array)."""
    return _program_map(program_argument(ops, params), values, _INVERSE)


def program_log_abs_det(ops: np.ndarray, params: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``log|dT/dx|`` of a program, elementwise (new array)."""
    return _program_log_abs_det(program_argument(ops, params), values)


def program_inverse_log_abs_det(ops: np.ndarray, params: np.ndarray,
                                values: np.ndarray) -> np.ndarray:
    """``log|dT^-1/dy|`` of a program, elementwise (new array)."""
    return _program_map(program_argument(ops, params), values, _INVERSE_LOG_ABS_DET)


@parallel_jit
def _program_map(program, values, kind):
    out = values.copy()
    blocks = (values.size + BLOCK - 1) // BLOCK
    for block in prange(blocks):
        start = block * BLOCK
        count = min(BLOCK, values.size - start)
        part = out[start:start + count]
        if kind == _FORWARD:
            apply_transform(program, part, count)
        elif kind == _INVERSE:
            for i in range(count):
                part[i] = inverse_at(program, part[i])
        else:
            for i in range(count):
                part[i] = inverse_log_abs_det_at(program, part[i])
    return out


@parallel_jit
def _program_log_abs_det(program, values):
    out = np.empty_like(values)
    for i in prange(values.size):
        out[i] = log_abs_det_at(program, values[i])
    return out


#: The same kernel without the disk cache, for user dispatchers: a dispatcher
#: type is keyed by a per-process id, so caching would only pile up files.
histogram_chunks_uncached = parallel_jit(histogram_chunks.py_func, cache=False)


@parallel_jit
def normals_checksum(key, chunk_start, chunk_stop, n, workers):
    """Draw the same normals as :func:`histogram_chunks` and only sum them.

    The engine's bare generation rate (what every sample costs at least),
    for benchmarks; the sum keeps the compiler from skipping the work.
    """
    totals = np.zeros(workers)
    buffers, states, (words, flags, positions), _ = _scratch(workers)
    for worker in prange(workers):
        first, last = _worker_chunks(worker, workers, chunk_start, chunk_stop)
        buffer = buffers[worker]
        state = states[worker]
        scratch = (words[worker], flags[worker], positions[worker])
        total = 0.0
        for chunk in range(first, last):
            seed_chunk_state(key, chunk, state)
            stop = min(CHUNK_SIZE, n - chunk * CHUNK_SIZE)
            for offset in range(0, stop, BLOCK):
                count = min(BLOCK, stop - offset)
                fill_block(state, scratch, buffer)
                for i in range(count):
                    total += buffer[i]
        totals[worker] = total
    return totals.sum()
