"""Counter-keyed random streams and a 256-layer ziggurat for normal deviates.

Reproducibility is by construction: the stream of chunk ``c`` is a pure
function of ``(seed, c)``.  Its xoshiro256** state is four consecutive
outputs of SplitMix64 taken at position ``4 c`` of a SplitMix64 sequence
started at the seed's key, which is the seeding Vigna recommends for
xoshiro.  Since SplitMix64's mixer is a bijection and the positions are
distinct, no two chunks share a starting state.  Which thread runs a chunk
therefore never changes the numbers it draws.

Normals come from the Marsaglia-Tsang ziggurat with 256 layers fed by 64-bit
words: 8 bits pick the layer, 1 bit the sign and the top 53 bits the
abscissa, so the three are independent.  About 98.8% of draws cost one
xoshiro step, one table lookup, one compare and one multiply.
"""

from __future__ import annotations

import math

import numpy as np

from mcflow._numba import jit

__all__ = [
    "CHUNK_SIZE",
    "STREAM_VERSION",
    "ZIGGURAT_R",
    "fill_standard_normals",
    "seed_chunk_state",
    "seed_key",
    "standard_normals",
]

#: Samples per chunk; part of the stream's definition, independent of the
#: thread count, so never change it without bumping :data:`STREAM_VERSION`.
CHUNK_SIZE = 1 << 16
#: Identifies the (chunk keying, generator, ziggurat) triple in results.
STREAM_VERSION = "xoshiro256ss-splitmix64-ziggurat256-chunk65536-v1"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_53 = 9007199254740992.0
_INV_TWO_POW_53 = 1.0 / _TWO_POW_53

#: Right edge of the ziggurat's base strip for 256 layers (Marsaglia & Tsang).
ZIGGURAT_R = 3.6541528853610087963519472518


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
    """Build the 256-layer tables: acceptance bounds, widths and heights."""
    layers = 256
    r = ZIGGURAT_R

    def f(x: float) -> float:
        return math.exp(-0.5 * x * x)

    area = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    x = np.zeros(layers)  # x[0] = 0 is the apex; x[255] = r borders the base
    x[layers - 1] = r
    for i in range(layers - 2, 0, -1):
        x[i] = math.sqrt(-2.0 * math.log(area / x[i + 1] + f(x[i + 1])))
    base_width = area / f(r)  # base strip as one rectangle, tail folded in

    accept = np.zeros(layers, dtype=np.uint64)
    width = np.zeros(layers)
    height = np.zeros(layers)
    accept[0] = np.uint64(math.floor(r / base_width * _TWO_POW_53))
    width[0] = base_width * _INV_TWO_POW_53
    height[0] = 1.0  # f(x[0]) = f(0): the ceiling of the apex layer's wedge
    for i in range(1, layers):
        accept[i] = np.uint64(math.floor(x[i - 1] / x[i] * _TWO_POW_53))
        width[i] = x[i] * _INV_TWO_POW_53
        height[i] = f(x[i])
    return accept, width, height


ZIGGURAT_ACCEPT, ZIGGURAT_WIDTH, ZIGGURAT_HEIGHT = _ziggurat_tables()


@jit(inline="always")
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit
def seed_chunk_state(key, chunk, state):
    """Write chunk ``chunk``'s xoshiro256** state into ``state`` (uint64[4])."""
    z = key + np.uint64(4) * np.uint64(chunk) * _GOLDEN
    for j in range(4):
        z += _GOLDEN
        state[j] = _mix64(z)
    if state[0] == 0 and state[1] == 0 and state[2] == 0 and state[3] == 0:
        state[0] = np.uint64(1)  # xoshiro's one forbidden state


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
def _open_unit(word):
    """Map a 64-bit word to (0, 1], safe to take the log of."""
    return (float(np.int64(word >> np.uint64(11))) + 1.0) * _INV_TWO_POW_53


@jit
def fill_standard_normals(state, out, start, stop):
    """Fill ``out[start:stop]`` with N(0, 1) draws, advancing ``state``.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        xoshiro256** state, updated in place.
    out : ndarray of float64
        Destination.
    start, stop : int
        Slice of ``out`` to fill.
    """
    accept = ZIGGURAT_ACCEPT
    width = ZIGGURAT_WIDTH
    height = ZIGGURAT_HEIGHT
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    inv_r = 1.0 / ZIGGURAT_R
    for i in range(start, stop):
        while True:
            word, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
            layer = np.intp(word & np.uint64(0xFF))
            # Branch-free sign: a data-dependent branch would mispredict half the time.
            sign = 1.0 - 2.0 * float(np.int64((word >> np.uint64(8)) & np.uint64(1)))
            abscissa = word >> np.uint64(11)
            x = float(np.int64(abscissa)) * width[layer]  # < 2**53: exact, cheap signed convert
            if abscissa < accept[layer]:
                break
            if layer == 0:
                # Tail beyond r by Marsaglia's exponential rejection.
                while True:
                    word, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                    excess = -math.log(_open_unit(word)) * inv_r
                    word, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                    if -2.0 * math.log(_open_unit(word)) > excess * excess:
                        break
                x = ZIGGURAT_R + excess
                break
            # Wedge: accept if a uniform height in the layer lies under the pdf.
            word, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
            uniform = float(np.int64(word >> np.uint64(11))) * _INV_TWO_POW_53
            level = height[layer] + uniform * (height[layer - 1] - height[layer])
            if level < math.exp(-0.5 * x * x):
                break
        out[i] = sign * x
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3


def standard_normals(n: int, seed: int | np.random.SeedSequence | None = 0) -> np.ndarray:
    """Return the first ``n`` standard normals of ``seed``'s stream.

    The same numbers the engine draws before applying ``mu``, ``sigma`` and a
    transform, in stream order.  Mainly for testing the generator.

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
    out = np.empty(n)
    state = np.empty(4, dtype=np.uint64)
    for chunk, start in enumerate(range(0, n, CHUNK_SIZE)):
        seed_chunk_state(key, chunk, state)
        fill_standard_normals(state, out, start, min(start + CHUNK_SIZE, n))
    return out
