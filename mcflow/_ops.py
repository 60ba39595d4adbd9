"""Scalar maths of the built-in transforms, as numba functions keyed by op code.

A built-in transform (or a chain of them) is a *program*: an int64 array of
op codes and a float64 ``(steps, 2)`` array of parameters.  Programs are
plain data, so one cached kernel serves every built-in and every chain, and a
new parameter value never triggers a compile.

For each op there are four independent formulas: the forward map ``T``, its
inverse, ``log|dT/dx|`` at ``x`` and ``log|dT^-1/dy|`` at ``y``.  The last two
are written separately (not one as minus the other) so that the seed's
Eq. (4) and Eq. (5) are two genuinely different computations that can check
each other.  Formulas are arranged to stay accurate in the tails (log1p,
expm1, softplus, ``log cosh`` without overflow).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from mcflow._numba import jit

__all__ = [
    "AFFINE",
    "CUBE",
    "EXP",
    "NORMAL_CDF",
    "OP_NAMES",
    "POWER",
    "SIGMOID",
    "SINH",
    "SINH_ARCSINH",
    "SOFTPLUS",
    "TANH",
    "fast_exp",
    "ndtri",
    "op_forward",
    "op_inverse",
    "op_inverse_log_abs_det",
    "op_log_abs_det",
    "program_forward_block",
    "program_forward_scalar",
    "program_inverse_log_abs_det_scalar",
    "program_inverse_scalar",
    "program_log_abs_det_scalar",
]

EXP, AFFINE, SIGMOID, TANH, SOFTPLUS, SINH_ARCSINH, POWER, NORMAL_CDF, CUBE, SINH = range(10)
OP_NAMES = (
    "exp", "affine", "sigmoid", "tanh", "softplus",
    "sinh_arcsinh", "power", "normal_cdf", "cube", "sinh",
)

_LOG2 = math.log(2.0)
_LN2 = _LOG2
_LOG3 = math.log(3.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
# sqrt(1/2) as an unevaluated sum hi + lo, and hi split in two 26-bit halves,
# for an error-free product x * sqrt(1/2) (Dekker) in the normal CDF.
_SQRT_HALF_LO = float.fromhex("-0x1.bdd3413b26456p-55")  # sqrt(1/2) - _SQRT_HALF
_SPLITTER = 134217729.0  # 2**27 + 1
_SQRT_HALF_HIGH = _SPLITTER * _SQRT_HALF - (_SPLITTER * _SQRT_HALF - _SQRT_HALF)
_SQRT_HALF_LOW = _SQRT_HALF - _SQRT_HALF_HIGH
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# exp by Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, a degree-13
# Taylor polynomial (truncation < 5e-18 relative) and an exact scaling by
# 2**k built from its IEEE bits, split as 2**k1 * 2**k2 so subnormal results
# and overflow come out right.  Branch-free with no table, so LLVM vectorizes
# block loops over it: several times libm's throughput, within 1.2 ulp of the
# true value (tested).
_LOG2E = 1.4426950408889634
_LN2_HIGH = 6.93147180369123816490e-01  # low 32 bits zero: k * _LN2_HIGH is exact
_LN2_LOW = 1.90821492927058770002e-10
_EXP_TAYLOR = tuple(1.0 / math.factorial(i) for i in range(14))


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (LLVM bitcast; vectorizes)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@jit(inline="always")
def _power_of_two(k):
    """2.0**k for an integer k in [-1022, 1023], from its exponent bits."""
    return _float64_from_bits((k + np.int64(1023)) << np.int64(52))


@jit(inline="always")
def fast_exp(x):
    """``exp(x)`` to ~1 ulp, branch-free; exp(-inf) = 0, exp(inf) = inf, NaN stays NaN."""
    k = math.floor(x * _LOG2E + 0.5)
    k = k if k > -1100.0 else -1100.0  # also maps NaN to a safe index
    k = k if k < 1100.0 else 1100.0
    r = (x - k * _LN2_HIGH) - k * _LN2_LOW
    c = _EXP_TAYLOR
    p = c[13]
    p = p * r + c[12]
    p = p * r + c[11]
    p = p * r + c[10]
    p = p * r + c[9]
    p = p * r + c[8]
    p = p * r + c[7]
    p = p * r + c[6]
    p = p * r + c[5]
    p = p * r + c[4]
    p = p * r + c[3]
    p = p * r + c[2]
    p = p * r + c[1]
    p = p * r + c[0]
    whole = np.int64(k)
    half = whole >> np.int64(1)
    value = p * _power_of_two(half) * _power_of_two(whole - half)
    # Written as "not (x <= t)" so that NaN, which fails every comparison,
    # keeps the NaN the polynomial produced.
    value = value if not (x <= -746.0) else 0.0  # exp underflows to 0 (-inf too)
    return value if not (x >= 710.0) else np.inf  # exp overflows (inf too)


@intrinsic
def _bits_of_float64(typingctx, value):
    """Reinterpret a float64's bits as an int64 (LLVM bitcast; vectorizes)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.IntType(64))

    return types.int64(types.float64), codegen


# log by fdlibm's reduction x = 2**k m, m in [sqrt(1/2), sqrt 2), f = m - 1,
# s = f / (2 + f): log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))), with R the
# exact atanh series to s^24 (truncation below 1e-21 relative).  Branch-free.
_LOG_SERIES = tuple(2.0 / (2 * k + 1) for k in range(1, 13))
_SMALLEST_NORMAL = 2.2250738585072014e-308
_SQRT2 = math.sqrt(2.0)


@jit(inline="always")
def fast_log(x):
    """``log(x)`` to ~1 ulp, branch-free; log(0) = -inf, log(inf) = inf, log(x < 0) = NaN."""
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
    r = r * z + c[10]
    r = r * z + c[9]
    r = r * z + c[8]
    r = r * z + c[7]
    r = r * z + c[6]
    r = r * z + c[5]
    r = r * z + c[4]
    r = r * z + c[3]
    r = r * z + c[2]
    r = r * z + c[1]
    r = r * z + c[0]
    r = r * z
    half_square = 0.5 * f * f
    value = k * _LN2_HIGH - ((half_square - (s * (half_square + r) + k * _LN2_LOW)) - f)
    value = value if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return value if x != np.inf else x  # log(inf) = inf; NaN already NaN


@jit(inline="always")
def fast_log1p(u):
    """``log(1 + u)`` for u > -1, accurate for tiny u (rounding of 1 + u corrected)."""
    v = 1.0 + u
    return fast_log(v) - ((v - 1.0) - u) / v


_SINH_TAYLOR = tuple(1.0 / math.factorial(2 * k + 1) for k in range(11))


@jit(inline="always")
def fast_sinh(x):
    """``sinh(x)`` to a few ulp: odd Taylor series below 1, (e - 1/e)/2 above."""
    # Branch-free: all three forms are computed and one is selected.
    a = abs(x)
    z = a * a
    c = _SINH_TAYLOR
    p = c[10]
    p = p * z + c[9]
    p = p * z + c[8]
    p = p * z + c[7]
    p = p * z + c[6]
    p = p * z + c[5]
    p = p * z + c[4]
    p = p * z + c[3]
    p = p * z + c[2]
    p = p * z + c[1]
    p = p * z + c[0]
    small = a * p
    e = fast_exp(a)
    moderate = 0.5 * (e - 1.0 / e)
    # Beyond 20, 1/e is below half an ulp; exp(a/2)^2 / 2 stays finite up to
    # sinh's own overflow (exp(a) alone overflows from a = 709.78).
    root = fast_exp(0.5 * a)
    large = (0.5 * root) * root
    value = small if a < 1.0 else (moderate if a < 20.0 else large)
    return value if x >= 0.0 else -value  # NaN: -NaN


@jit(inline="always")
def fast_asinh(x):
    """``asinh(x)`` to a few ulp: log1p(a + a^2 / (1 + sqrt(1 + a^2))), log(2a) when huge."""
    a = abs(x)
    moderate = fast_log1p(a + a * a / (1.0 + math.sqrt(1.0 + a * a)))
    huge = fast_log(a) + _LN2
    value = moderate if a < 268435456.0 else huge  # 2**28: a^2 + 1 == a^2 beyond
    return value if x >= 0.0 else -value


@jit(inline="always")
def fast_sigmoid(x):
    """``1 / (1 + exp(-x))`` branch-free, never forming exp of a positive argument."""
    e = fast_exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)


@jit(inline="always")
def fast_softplus(x):
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))`` branch-free."""
    return max(x, 0.0) + fast_log1p(fast_exp(-abs(x)))


@jit(inline="always")
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@jit(inline="always")
def _log_cosh(u):
    a = abs(u)
    return a + math.log1p(math.exp(-2.0 * a)) - _LOG2


@jit(inline="always")
def _normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 to a few ulp even in the far left tail.

    Rounding z = -x / sqrt 2 costs a relative error 2 z^2 eps in erfc(z) (over
    60 ulp at x = -8), so z is carried as hi + lo (Dekker's exact product) and
    erfc is corrected to first order: erfc(hi + lo) = erfc(hi) - 2/sqrt(pi)
    exp(-hi^2) lo.
    """
    if not abs(x) < 38.0:  # Phi is 0 or 1 in float64 there (and NaN stays NaN)
        return 0.5 * math.erfc(-x * _SQRT_HALF)
    product = x * _SQRT_HALF
    x_high = _SPLITTER * x - (_SPLITTER * x - x)
    x_low = x - x_high
    product_error = (((x_high * _SQRT_HALF_HIGH - product) + x_high * _SQRT_HALF_LOW)
                     + x_low * _SQRT_HALF_HIGH) + x_low * _SQRT_HALF_LOW
    z_high = -product
    z_low = -(product_error + x * _SQRT_HALF_LO)
    return 0.5 * (math.erfc(z_high) - _TWO_OVER_SQRT_PI * math.exp(-z_high * z_high) * z_low)


@jit
def ndtri(p):
    """Inverse of the standard normal CDF (Wichura's AS241, ~1e-16 relative).

    Returns -inf at 0, inf at 1 and NaN outside [0, 1].
    """
    if not (p >= 0.0 and p <= 1.0):
        return np.nan
    if p == 0.0:
        return -np.inf
    if p == 1.0:
        return np.inf
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                    + 67265.770927008700853) * r + 45921.953931549871457) * r
                  + 13731.693765509461125) * r + 1971.5909503065514427) * r
                + 133.14166789178437745) * r + 3.387132872796366608)
        den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r
                    + 39307.89580009271061) * r + 21213.794301586595867) * r
                  + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1.0)
        return q * num / den
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
        den = (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r
                    + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                  + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
        den = (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r
                    + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                  + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0)
    value = num / den
    return -value if q < 0.0 else value


@jit(inline="always")
def op_forward(op, a, b, x):
    """``T(x)`` of op ``op`` with parameters ``(a, b)``."""
    if op == EXP:
        return fast_exp(x)
    if op == AFFINE:
        return a + b * x
    if op == SIGMOID:
        return fast_sigmoid(x)
    if op == TANH:
        return math.tanh(x)
    if op == SOFTPLUS:
        return fast_softplus(x)
    if op == SINH_ARCSINH:
        return fast_sinh((fast_asinh(x) + a) * b)
    if op == POWER:
        return x**a if x >= 0.0 else np.nan
    if op == NORMAL_CDF:
        return _normal_cdf(x)
    if op == CUBE:
        return x * x * x
    if op == SINH:
        return fast_sinh(x)
    return np.nan


@jit(inline="always")
def op_inverse(op, a, b, y):
    """``T^-1(y)``; NaN outside the op's image."""
    if op == EXP:
        return math.log(y) if y >= 0.0 else np.nan
    if op == AFFINE:
        return (y - a) / b
    if op == SIGMOID:
        if not (y >= 0.0 and y <= 1.0):
            return np.nan
        return math.log(y) - math.log1p(-y)
    if op == TANH:
        return math.atanh(y) if abs(y) <= 1.0 else np.nan
    if op == SOFTPLUS:
        if not y >= 0.0:
            return np.nan
        return y + math.log(-math.expm1(-y))
    if op == SINH_ARCSINH:
        return math.sinh(math.asinh(y) / b - a)
    if op == POWER:
        return y ** (1.0 / a) if y >= 0.0 else np.nan
    if op == NORMAL_CDF:
        return ndtri(y)
    if op == CUBE:
        return np.cbrt(y)
    if op == SINH:
        return math.asinh(y)
    return np.nan


@jit(inline="always")
def op_log_abs_det(op, a, b, x):
    """``log|dT/dx|`` at ``x``."""
    if op == EXP:
        return x
    if op == AFFINE:
        return math.log(abs(b))
    if op == SIGMOID:
        return -_softplus(-x) - _softplus(x)
    if op == TANH:
        return 2.0 * (_LOG2 - x - _softplus(-2.0 * x))
    if op == SOFTPLUS:
        return -_softplus(-x)
    if op == SINH_ARCSINH:
        u = (math.asinh(x) + a) * b
        return math.log(b) + _log_cosh(u) - math.log(math.hypot(1.0, x))
    if op == POWER:
        return math.log(abs(a)) + (a - 1.0) * math.log(x) if x >= 0.0 else np.nan
    if op == NORMAL_CDF:
        return -0.5 * x * x - _HALF_LOG_2PI
    if op == CUBE:
        return _LOG3 + 2.0 * math.log(abs(x))
    if op == SINH:
        return _log_cosh(x)
    return np.nan


@jit(inline="always")
def op_inverse_log_abs_det(op, a, b, y):
    """``log|dT^-1/dy|`` at ``y``, from its own formula (the seed's Eq. 5)."""
    if op == EXP:
        return -math.log(y) if y >= 0.0 else np.nan
    if op == AFFINE:
        return -math.log(abs(b))
    if op == SIGMOID:
        return -math.log(y) - math.log1p(-y) if (y >= 0.0 and y <= 1.0) else np.nan
    if op == TANH:
        return -(math.log1p(-y) + math.log1p(y)) if abs(y) <= 1.0 else np.nan
    if op == SOFTPLUS:
        return -math.log(-math.expm1(-y)) if y >= 0.0 else np.nan
    if op == SINH_ARCSINH:
        u = math.asinh(y) / b - a
        return _log_cosh(u) - math.log(b) - math.log(math.hypot(1.0, y))
    if op == POWER:
        if not y >= 0.0:
            return np.nan
        return -math.log(abs(a)) + (1.0 / a - 1.0) * math.log(y)
    if op == NORMAL_CDF:
        x = ndtri(y)
        return 0.5 * x * x + _HALF_LOG_2PI
    if op == CUBE:
        return -_LOG3 - (2.0 / 3.0) * math.log(abs(y))
    if op == SINH:
        return -math.log(math.hypot(1.0, y))
    return np.nan


@jit(inline="always")
def program_forward_block(ops, params, values, count):
    """Apply a program's forward map in place to ``values[:count]``.

    One loop per step, so each loop body is a single op that LLVM can
    vectorize where the op allows (affine, cube) rather than a per-sample
    switch.
    """
    for step in range(ops.size):
        op = ops[step]
        a = params[step, 0]
        b = params[step, 1]
        if op == EXP:
            for i in range(count):
                values[i] = fast_exp(values[i])
        elif op == AFFINE:
            for i in range(count):
                values[i] = a + b * values[i]
        elif op == CUBE:
            for i in range(count):
                v = values[i]
                values[i] = v * v * v
        elif op == SINH_ARCSINH:
            for i in range(count):
                values[i] = fast_sinh((fast_asinh(values[i]) + a) * b)
        elif op == SINH:
            for i in range(count):
                values[i] = fast_sinh(values[i])
        elif op == SIGMOID:
            for i in range(count):
                values[i] = fast_sigmoid(values[i])
        elif op == SOFTPLUS:
            for i in range(count):
                values[i] = fast_softplus(values[i])
        else:
            for i in range(count):
                values[i] = op_forward(op, a, b, values[i])


@jit
def program_forward_scalar(ops, params, x):
    """Forward map of a program at one ``x``: steps applied first to last."""
    for step in range(ops.size):
        x = op_forward(ops[step], params[step, 0], params[step, 1], x)
    return x


@jit
def program_inverse_scalar(ops, params, y):
    """Inverse map of a program at one ``y``: steps undone last to first."""
    for step in range(ops.size - 1, -1, -1):
        y = op_inverse(ops[step], params[step, 0], params[step, 1], y)
    return y


@jit
def program_log_abs_det_scalar(ops, params, x):
    """``log|dT/dx|`` of a program at ``x``: per-step terms add (chain rule)."""
    total = 0.0
    for step in range(ops.size):
        a = params[step, 0]
        b = params[step, 1]
        total += op_log_abs_det(ops[step], a, b, x)
        x = op_forward(ops[step], a, b, x)
    return total


@jit
def program_inverse_log_abs_det_scalar(ops, params, y):
    """``log|dT^-1/dy|`` of a program at ``y``, accumulated from the last step."""
    total = 0.0
    for step in range(ops.size - 1, -1, -1):
        a = params[step, 0]
        b = params[step, 1]
        total += op_inverse_log_abs_det(ops[step], a, b, y)
        y = op_inverse(ops[step], a, b, y)
    return total
