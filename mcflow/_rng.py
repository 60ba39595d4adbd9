"""Counter-keyed random streams and a 1024-layer ziggurat for normal deviates.

Reproducibility is by construction: the stream of chunk ``c`` is a pure
function of ``(seed, c)``.  A chunk runs :data:`LANES` + 1 xoshiro256**
generators; generator ``g`` starts from four consecutive outputs of SplitMix64
taken at position ``4 (c (LANES + 1) + g)`` of a SplitMix64 sequence started at
the seed's key, which is the seeding Vigna recommends for xoshiro.  Since
SplitMix64's mixer is a bijection and the positions are distinct, no two
generators of any chunk share a starting state.  Which thread runs a chunk
therefore never changes the numbers it draws.

A chunk is a sequence of blocks of :data:`BLOCK` normals.  Value ``j L + l`` of
a block (``L = LANES``) is made from the ``j``-th word lane ``l`` gives in that
block: the lanes are independent, so one loop steps all of them at once in
SIMD registers.  Each word feeds the Marsaglia-Tsang ziggurat with 1024
layers: 10 bits pick the layer, 1 bit the sign and the top 52 bits the
abscissa, so the three are independent.  99.57% of draws are accepted there
and then (a multiply and a compare, vectorized); the others are finished in
block order by generator ``LANES`` (the fallback), which runs the wedge or tail
test and, when that rejects, draws a fresh normal by the scalar ziggurat.  The
fallback's draws are the exact conditional law, so every value is N(0, 1).
"""

from __future__ import annotations

import math

import numpy as np

from mcflow._maths import _float64_from_bits
from mcflow._numba import jit

__all__ = [
    "BLOCK",
    "CHUNK_SIZE",
    "LANES",
    "SCRATCH_FLAGS",
    "SCRATCH_WORDS",
    "STATE_WORDS",
    "STREAM_VERSION",
    "ZIGGURAT_HEIGHT",
    "ZIGGURAT_LAYERS",
    "ZIGGURAT_R",
    "ZIGGURAT_RATIO",
    "ZIGGURAT_WIDTH",
    "block_scratch",
    "fill_block",
    "fill_standard_normals",
    "seed_chunk_state",
    "seed_key",
    "standard_normals",
]

#: Samples per chunk; part of the stream's definition, independent of the
#: thread count, so never change it without bumping :data:`STREAM_VERSION`.
CHUNK_SIZE = 1 << 16
#: Normals per block, the unit a chunk is drawn in (part of the stream, too).
BLOCK = 512
#: Interleaved xoshiro256** generators per chunk feeding the vectorized path.
LANES = 16
#: Generator state of a chunk: four words per lane, then the fallback's four.
STATE_WORDS = 4 * (LANES + 1)
#: Identifies the (chunk keying, generator, ziggurat) triple in results.
STREAM_VERSION = "xoshiro256ss-16lane-splitmix64-ziggurat1024-block512-chunk65536-v2"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LAYER_BITS = 10
ZIGGURAT_LAYERS = 1 << _LAYER_BITS
_LAYER_MASK = np.int64(ZIGGURAT_LAYERS - 1)
_SIGN_BIT = np.int64(ZIGGURAT_LAYERS)
_SIGN_SHIFT = np.int64(63 - _LAYER_BITS)  # the sign bit moved to float64's sign
_ONE_BITS = np.int64(0x3FF0000000000000)  # 1.0
_MANTISSA = np.int64((1 << 52) - 1)

#: Right edge of the ziggurat's base strip for 1024 layers: the root of the
#: apex layer's area equation, found by bisection with 40 digits (mpmath).
ZIGGURAT_R = 4.0388498461095045227144234053


def seed_key(seed: int | np.random.SeedSequence | None) -> np.uint64:
    """Turn a user seed into the 64-bit key that all chunk streams derive from.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        Non-negative integer (any size) or a SeedSequence.  ``None`` draws
        fresh OS entropy, so the run is not reproducible.

    Returns
    -------
    numpy.uint64
        The key; equal seeds give equal keys.
    """
    if isinstance(seed, np.random.SeedSequence):
        sequence = seed
    elif seed is None:
        sequence = np.random.SeedSequence()
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be a non-negative integer or numpy.random.SeedSequence, "
            f"got {type(seed).__name__} {seed!r}"
        )
    elif seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    else:
        sequence = np.random.SeedSequence(int(seed))
    return np.uint64(sequence.generate_state(1, dtype=np.uint64)[0])


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the layer tables: widths, fast-acceptance ratios and heights.

    Layer ``i >= 1`` is the rectangle ``[0, x_i) x [f(x_i), f(x_{i-1}))`` and
    layer 0 the base strip ``[0, r) x [0, f(r))`` with the tail folded in as
    one rectangle of the same area ``v``.  A draw ``u x_i`` (``u`` uniform in
    [0, 1)) lies under the density when ``u < x_{i-1} / x_i``.
    """
    layers = ZIGGURAT_LAYERS
    r = ZIGGURAT_R

    def f(x: float) -> float:
        return math.exp(-0.5 * x * x)

    area = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    x = np.zeros(layers)  # x[0] = 0 is the apex; x[-1] = r borders the base
    x[layers - 1] = r
    for i in range(layers - 2, 0, -1):
        x[i] = math.sqrt(-2.0 * math.log(area / x[i + 1] + f(x[i + 1])))
    width = x.copy()
    width[0] = area / f(r)  # base strip as one rectangle, tail folded in
    ratio = np.empty(layers)
    ratio[0] = r / width[0]
    ratio[1:] = x[:-1] / x[1:]
    height = np.array([1.0] + [f(edge) for edge in x[1:]])  # f(x_0) = f(0) = 1
    return width, ratio, height


ZIGGURAT_WIDTH, ZIGGURAT_RATIO, ZIGGURAT_HEIGHT = _ziggurat_tables()


@jit(inline="always")
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit
def seed_chunk_state(key, chunk, state):
    """Write chunk ``chunk``'s generator states into ``state`` (uint64[STATE_WORDS]).

    ``state[k L + l]`` is word ``k`` of lane ``l`` (``L = LANES``), so each
    word of all lanes is contiguous; the fallback's four words come last.
    """
    generators = LANES + 1
    for generator in range(generators):
        z = key + np.uint64(4) * np.uint64(chunk * generators + generator) * _GOLDEN
        if generator < LANES:
            for k in range(4):
                z += _GOLDEN
                state[k * LANES + generator] = _mix64(z)
        else:
            for k in range(4):
                z += _GOLDEN
                state[4 * LANES + k] = _mix64(z)
    for generator in range(generators):
        # xoshiro's one forbidden state (probability 2**-256 per generator).
        first = generator if generator < LANES else 4 * LANES
        stride = LANES if generator < LANES else 1
        if (state[first] == 0 and state[first + stride] == 0
                and state[first + 2 * stride] == 0 and state[first + 3 * stride] == 0):
            state[first] = np.uint64(1)


@jit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@jit(inline="always")
def _next(s0, s1, s2, s3):
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@jit(inline="always")
def _unit(word):
    """Return the top 52 bits of a word as a uniform in [0, 1) (exact: 1.x minus 1)."""
    return _float64_from_bits(np.int64(word >> np.uint64(12)) | _ONE_BITS) - 1.0


@jit(inline="always")
def _lane_words(state, words):
    """Step every lane BLOCK / LANES times: words[j LANES + l] from lane l."""
    s0 = state[0:LANES]
    s1 = state[LANES:2 * LANES]
    s2 = state[2 * LANES:3 * LANES]
    s3 = state[3 * LANES:4 * LANES]
    for step in range(BLOCK // LANES):
        base = step * LANES
        # Independent lanes in one inner loop: LLVM keeps them in SIMD registers.
        for lane in range(LANES):
            word, a, b, c, d = _next(s0[lane], s1[lane], s2[lane], s3[lane])
            words[base + lane] = word
            s0[lane] = a
            s1[lane] = b
            s2[lane] = c
            s3[lane] = d


@jit(inline="always")
def _fast_draws(words, out, rejected, width, ratio):
    """Draw the ziggurat's common case for every word of a block, branch-free (vectorizes)."""
    for i in range(BLOCK):
        word = np.int64(words[i])
        layer = word & _LAYER_MASK
        uniform = _float64_from_bits(((word >> np.int64(12)) & _MANTISSA) | _ONE_BITS) - 1.0
        sign = _float64_from_bits(_ONE_BITS | ((word & _SIGN_BIT) << _SIGN_SHIFT))
        out[i] = sign * (uniform * width[layer])
        rejected[i] = np.uint8(uniform >= ratio[layer])


@jit
def _finish_draw(state, word, width, ratio, height):
    """Return the normal that ``word`` starts when its fast test failed (fallback generator).

    Wedge or tail test on the word's own layer and abscissa; when it rejects,
    the scalar ziggurat draws afresh, so the result is the exact law.
    """
    fallback = 4 * LANES
    s0 = state[fallback]
    s1 = state[fallback + 1]
    s2 = state[fallback + 2]
    s3 = state[fallback + 3]
    r = ZIGGURAT_R
    inv_r = 1.0 / ZIGGURAT_R
    word = np.int64(word)
    while True:
        layer = word & _LAYER_MASK
        uniform = _float64_from_bits(((word >> np.int64(12)) & _MANTISSA) | _ONE_BITS) - 1.0
        sign = _float64_from_bits(_ONE_BITS | ((word & _SIGN_BIT) << _SIGN_SHIFT))
        x = uniform * width[layer]
        if uniform < ratio[layer]:
            break
        if layer == 0:
            # Tail beyond r by Marsaglia's exponential rejection (1 - u lies in (0, 1]).
            while True:
                draw, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                excess = -math.log(1.0 - _unit(draw)) * inv_r
                draw, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                if -2.0 * math.log(1.0 - _unit(draw)) > excess * excess:
                    break
            x = r + excess
            break
        # Wedge: accept if a uniform height in the layer lies under the pdf.
        draw, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        level = height[layer] + _unit(draw) * (height[layer - 1] - height[layer])
        if level < math.exp(-0.5 * x * x):
            break
        draw, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        word = np.int64(draw)
    state[fallback] = s0
    state[fallback + 1] = s1
    state[fallback + 2] = s2
    state[fallback + 3] = s3
    return sign * x


#: Entries of :func:`fill_block`'s work arrays (words, flags, positions): BLOCK plus a
#: spare cache line, so two threads' work spaces never share a line.
SCRATCH_WORDS = BLOCK + 8
SCRATCH_FLAGS = BLOCK + 64


def block_scratch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return new work space for :func:`fill_block`: (words, rejected flags, positions)."""
    return (np.empty(SCRATCH_WORDS, dtype=np.uint64), np.empty(SCRATCH_FLAGS, dtype=np.uint8),
            np.empty(SCRATCH_WORDS, dtype=np.int64))


@jit
def fill_block(state, scratch, out):
    """Write the next block of BLOCK standard normals into ``out[:BLOCK]``.

    Parameters
    ----------
    state : ndarray of uint64, shape (STATE_WORDS,)
        A chunk's generators (:func:`seed_chunk_state`), advanced in place.
    scratch : tuple of three arrays, each of BLOCK or more entries
        Work space (:func:`block_scratch`): the block's words (uint64), a flag
        per draw (uint8) and the rejected positions (int64).  Three arrays, not
        views of one: LLVM then keeps the loops vectorized (measured: a single
        byte array viewed three ways drew 1.7x slower, 8-byte flags 1.2x).
    out : ndarray of float64, shape (>= BLOCK,)
        Destination.
    """
    words, rejected, positions = scratch
    # The tables named as globals, not bound to locals first: numba then
    # freezes them as constants and the fast loop runs 1.6x faster (measured).
    _lane_words(state, words)
    _fast_draws(words, out, rejected, ZIGGURAT_WIDTH, ZIGGURAT_RATIO)
    # Branch-free compaction of the rejected positions, then finish them in order.
    count = 0
    for i in range(BLOCK):
        positions[count] = i
        count += np.intp(rejected[i])
    for k in range(count):
        i = positions[k]
        out[i] = _finish_draw(state, words[i], ZIGGURAT_WIDTH, ZIGGURAT_RATIO, ZIGGURAT_HEIGHT)


@jit
def fill_standard_normals(state, scratch, out, start, stop):
    """Fill ``out[start:stop]`` with a chunk's normals, block after block from its start.

    ``start`` must be where the chunk's first block goes; a short last block
    is drawn whole into scratch space and copied, so value ``k`` of a chunk
    never depends on how many are asked for.

    Parameters
    ----------
    state : ndarray of uint64, shape (STATE_WORDS,)
        The chunk's generators, freshly seeded (:func:`seed_chunk_state`).
    scratch : tuple of three arrays
        Work space for :func:`fill_block` (:func:`block_scratch`).
    out : ndarray of float64
        Destination.
    start, stop : int
        Slice of ``out`` to fill.
    """
    full_stop = start + (stop - start) // BLOCK * BLOCK
    for offset in range(start, full_stop, BLOCK):
        fill_block(state, scratch, out[offset:offset + BLOCK])
    if full_stop < stop:
        last = np.empty(BLOCK)
        fill_block(state, scratch, last)
        # A loop, not a slice assignment: that one compiles numba's shape-mismatch
        # error formatting, 4 s of a cold start (measured).
        for i in range(stop - full_stop):
            out[full_stop + i] = last[i]


def standard_normals(n: int, seed: int | np.random.SeedSequence | None = 0) -> np.ndarray:
    """Return the first ``n`` standard normals of ``seed``'s stream.

    The same numbers the engine draws before applying ``mu``, ``sigma`` and a
    transform, in stream order.  Block by block from Python through the
    kernels' own :func:`fill_block`, so a first run compiles nothing more for
    it (the report's figure sample comes from here).

    Parameters
    ----------
    n : int
        How many draws.
    seed : int, SeedSequence or None
        Stream seed, as :func:`seed_key` takes it.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    key = seed_key(seed)
    out = np.empty(-(-n // BLOCK) * BLOCK)  # whole blocks, cut to n at the end
    state = np.empty(STATE_WORDS, dtype=np.uint64)
    scratch = block_scratch()
    for chunk, start in enumerate(range(0, n, CHUNK_SIZE)):
        seed_chunk_state(key, np.int64(chunk), state)
        for offset in range(start, min(start + CHUNK_SIZE, n), BLOCK):
            fill_block(state, scratch, out[offset:offset + BLOCK])
    return out[:n]
