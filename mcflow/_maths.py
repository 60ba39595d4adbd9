"""Elementary functions for the transform kernels, written so LLVM can vectorize them.

libm's ``exp``, ``log``, ``sinh``, ``tanh`` and ``asinh`` are opaque calls with
branches and tables, so a block loop over them runs one value at a time.  The
versions here are branch-free polynomials with an exact power-of-two scaling
built from IEEE bits; a block loop over them vectorizes, at several times
libm's throughput and within 1.2 ulp (exp) or 4 ulp (log, sinh, tanh, asinh) of the
true value (both bounds tested in ``tests/test_transforms.py``).

:func:`softplus_libm` and :func:`log_cosh` use libm instead: they serve the
log-determinants, which are evaluated one value at a time anyway.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from mcflow._numba import jit

__all__ = [
    "LN2",
    "asinh",
    "exp",
    "log",
    "log1p",
    "log_cosh",
    "sigmoid",
    "sinh",
    "softplus",
    "softplus_libm",
    "tanh",
]

LN2 = math.log(2.0)
# ln 2 split for Cody-Waite reduction: the high part has its low 32 bits zero, so
# k * _LN2_HIGH is exact for every |k| < 2**20.
_LN2_HIGH = 6.93147180369123816490e-01
_LN2_LOW = 1.90821492927058770002e-10

# exp by Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, a degree-11
# polynomial (below) and an exact scaling by 2**k built from its IEEE bits,
# split as 2**k1 * 2**k2 so subnormal results and overflow come out right.
_LOG2E = 1.4426950408889634


def _chebyshev_monomials(degree: int) -> list[int]:
    """Monomial coefficients of the Chebyshev polynomial T_degree (T_{n+1} = 2t T_n - T_{n-1})."""
    previous, current = [1], [0, 1]
    if degree == 0:
        return previous
    for _ in range(degree - 1):
        following = [0] + [2 * c for c in current]
        for i, c in enumerate(previous):
            following[i] -= c
        previous, current = current, following
    return current


def _economized_exp(degree: int, half_width: Fraction, taylor_degree: int) -> tuple[float, ...]:
    r"""Coefficients of a degree-``degree`` polynomial for exp(r), |r| <= ``half_width``.

    The Taylor polynomial to ``taylor_degree`` is written in t = r / h and its top
    terms removed by Chebyshev economization: subtracting :math:`b_n T_n(t) / 2^{n-1}`
    cancels :math:`t^n` and moves the polynomial by at most :math:`|b_n| / 2^{n-1}`
    on |t| <= 1.  In exact rational arithmetic, then rounded to float64.
    """
    terms = [Fraction(1, math.factorial(k)) * half_width**k for k in range(taylor_degree + 1)]
    for n in range(taylor_degree, degree, -1):
        scale = terms[n] / 2 ** (n - 1)
        for k, c in enumerate(_chebyshev_monomials(n)):
            terms[k] -= scale * c
    return tuple(float(terms[k] / half_width**k) for k in range(degree + 1))


# Taylor to r^15 (tail below 1e-20) economized to r^11 on |r| <= 0.3466 > ln2/2: the
# dropped terms move exp(r) >= 0.707 by < 4.4e-18 relative (0.04 ulp), with two fused
# multiply-adds fewer than the degree-13 Taylor polynomial it replaced (its block loop
# 1.03 -> 0.96 ns per value, measured; 0.92 ulp at most over 6e6 values against long double).
_EXP_POLYNOMIAL = _economized_exp(11, Fraction(3466, 10000), 15)

# log by fdlibm's reduction x = 2**k m, m in [sqrt(1/2), sqrt 2), f = m - 1,
# s = f / (2 + f): log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))), with R the
# exact atanh series to s^24 (truncation below 1e-21 relative).
_LOG_SERIES = tuple(2.0 / (2 * k + 1) for k in range(1, 13))
_SMALLEST_NORMAL = 2.2250738585072014e-308
_SQRT2 = math.sqrt(2.0)

_SINH_TAYLOR = tuple(1.0 / math.factorial(2 * k + 1) for k in range(11))


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (LLVM bitcast; vectorizes)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_float64(typingctx, value):
    """Reinterpret a float64's bits as an int64 (LLVM bitcast; vectorizes)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """Return ``a * b + c`` rounded once (LLVM's fma: one instruction where the CPU has FMA).

    Explicit, so it is the same operation in a scalar call and in a vectorized
    loop (fast-math contraction, which would decide that per loop, stays off).
    """
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, arguments):
        double = ir.DoubleType()
        fma = builder.module.declare_intrinsic(
            "llvm.fma", [double], ir.FunctionType(double, [double, double, double]))
        return builder.call(fma, arguments)

    return types.float64(types.float64, types.float64, types.float64), codegen


@jit(inline="always")
def _power_of_two(k):
    """2.0**k for an integer k in [-1022, 1023], from its exponent bits."""
    return _float64_from_bits((k + np.int64(1023)) << np.int64(52))


@jit(inline="always")
def exp(x):
    """``exp(x)`` to 1.2 ulp, branch-free; exp(-inf) = 0, exp(inf) = inf, NaN stays NaN."""
    k = math.floor(x * _LOG2E + 0.5)
    k = k if k > -1100.0 else -1100.0  # also maps NaN to a safe index
    k = k if k < 1100.0 else 1100.0
    r = (x - k * _LN2_HIGH) - k * _LN2_LOW
    c = _EXP_POLYNOMIAL
    p = c[11]
    p = _fma(p, r, c[10])
    p = _fma(p, r, c[9])
    p = _fma(p, r, c[8])
    p = _fma(p, r, c[7])
    p = _fma(p, r, c[6])
    p = _fma(p, r, c[5])
    p = _fma(p, r, c[4])
    p = _fma(p, r, c[3])
    p = _fma(p, r, c[2])
    p = _fma(p, r, c[1])
    p = _fma(p, r, c[0])
    whole = np.int64(k)
    half = whole >> np.int64(1)
    value = p * _power_of_two(half) * _power_of_two(whole - half)
    # Written as "not (x <= t)" so that NaN, which fails every comparison,
    # keeps the NaN the polynomial produced.
    value = value if not (x <= -746.0) else 0.0  # exp underflows to 0 (-inf too)
    return value if not (x >= 710.0) else np.inf  # exp overflows (inf too)


@jit(inline="always")
def log(x):
    """``log(x)`` to 4 ulp, branch-free; log(0) = -inf, log(inf) = inf, log(x < 0) = NaN."""
    subnormal = x < _SMALLEST_NORMAL
    scaled = x * 18014398509481984.0 if subnormal else x  # 2**54 lifts subnormals
    bits = _bits_of_float64(scaled)
    exponent = ((bits >> np.int64(52)) & np.int64(0x7FF)) - np.int64(1023)
    exponent = exponent - np.int64(54) if subnormal else exponent
    mantissa = _float64_from_bits((bits & np.int64(0x000FFFFFFFFFFFFF))
                                  | np.int64(0x3FF0000000000000))
    big = mantissa > _SQRT2
    mantissa = mantissa * 0.5 if big else mantissa
    k = float(exponent + np.int64(1) if big else exponent)
    f = mantissa - 1.0
    s = f / (2.0 + f)
    z = s * s
    c = _LOG_SERIES
    r = c[11]
    r = _fma(r, z, c[10])
    r = _fma(r, z, c[9])
    r = _fma(r, z, c[8])
    r = _fma(r, z, c[7])
    r = _fma(r, z, c[6])
    r = _fma(r, z, c[5])
    r = _fma(r, z, c[4])
    r = _fma(r, z, c[3])
    r = _fma(r, z, c[2])
    r = _fma(r, z, c[1])
    r = _fma(r, z, c[0])
    r = r * z
    half_square = 0.5 * f * f
    value = k * _LN2_HIGH - ((half_square - (s * (half_square + r) + k * _LN2_LOW)) - f)
    value = value if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return value if x != np.inf else x  # log(inf) = inf; NaN already NaN


@jit(inline="always")
def log1p(u):
    """``log(1 + u)`` for u > -1, accurate for tiny u (rounding of 1 + u corrected)."""
    v = 1.0 + u
    return log(v) - ((v - 1.0) - u) / v


@jit(inline="always")
def _sinh_series(a):
    """``sinh(a)`` for ``0 <= a < 1`` from its odd Taylor series (under 2 ulp)."""
    z = a * a
    c = _SINH_TAYLOR
    p = c[10]
    p = _fma(p, z, c[9])
    p = _fma(p, z, c[8])
    p = _fma(p, z, c[7])
    p = _fma(p, z, c[6])
    p = _fma(p, z, c[5])
    p = _fma(p, z, c[4])
    p = _fma(p, z, c[3])
    p = _fma(p, z, c[2])
    p = _fma(p, z, c[1])
    p = _fma(p, z, c[0])
    return a * p


@jit(inline="always")
def sinh(x):
    """``sinh(x)`` to 4 ulp: odd Taylor series below 1, (e - 1/e)/2 above."""
    # Branch-free: all three forms are computed and one is selected.
    a = abs(x)
    small = _sinh_series(a)
    e = exp(a)
    moderate = 0.5 * (e - 1.0 / e)
    # Beyond 20, 1/e is below half an ulp; exp(a/2)^2 / 2 stays finite up to
    # sinh's own overflow (exp(a) alone overflows from a = 709.78).
    root = exp(0.5 * a)
    large = (0.5 * root) * root
    value = small if a < 1.0 else (moderate if a < 20.0 else large)
    return value if x >= 0.0 else -value  # NaN: -NaN


@jit(inline="always")
def tanh(x):
    """``tanh(x)`` to 4 ulp, branch-free: ``s / sqrt(1 + s^2)`` with ``s = sinh|x|`` below 1.

    From 1 on, ``1 - 2 / (exp(2|x|) + 1)``: there the subtracted term is below
    0.24, so its rounding costs under half an ulp of the result, and exp's
    overflow gives exactly 1.  Below 1 that form would cancel (tanh x ~ x).
    """
    a = abs(x)
    s = _sinh_series(a)
    small = s / math.sqrt(1.0 + s * s)
    large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0)
    return math.copysign(small if a < 1.0 else large, x)  # NaN: the large form's NaN


@jit(inline="always")
def asinh(x):
    """``asinh(x)`` to 4 ulp: log1p(a + a^2 / (1 + sqrt(1 + a^2))), log(2a) when huge."""
    a = abs(x)
    moderate = log1p(a + a * a / (1.0 + math.sqrt(1.0 + a * a)))
    huge = log(a) + LN2
    value = moderate if a < 268435456.0 else huge  # 2**28: a^2 + 1 == a^2 beyond
    return value if x >= 0.0 else -value


@jit(inline="always")
def sigmoid(x):
    """``1 / (1 + exp(-x))`` branch-free, never forming exp of a positive argument."""
    e = exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)


@jit(inline="always")
def softplus(x):
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))`` branch-free."""
    return max(x, 0.0) + log1p(exp(-abs(x)))


@jit(inline="always")
def softplus_libm(x):
    """``log(1 + exp(x))`` as :func:`softplus`, from libm's ``log1p`` and ``exp``."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@jit(inline="always")
def log_cosh(u):
    """``log(cosh(u)) = |u| + log1p(exp(-2|u|)) - log 2``, finite where cosh overflows."""
    a = abs(u)
    return a + math.log1p(math.exp(-2.0 * a)) - LN2
