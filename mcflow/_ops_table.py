"""Op codes of the built-in transforms and each op's four formulas.

For each op there are four independent formulas: the forward map ``T``, its
inverse, ``log|dT/dx|`` at ``x`` and ``log|dT^-1/dy|`` at ``y``.  The last two
are written separately (not one as minus the other) so that the seed's
Eq. (4) and Eq. (5) are two genuinely different computations that can check
each other.  Formulas are arranged to stay accurate in the tails (log1p,
expm1, softplus, ``log cosh`` without overflow).

The basic ops (exp, affine, cube) have their formulas in ``basic_op_*``
functions that the full switches call: a program of basic ops only then
compiles none of the other ops' formulas (the first run's compile time).

Every function returns NaN for an op code it does not know, so an op added to
:data:`OP_NAMES` without its branches shows up as NaN (``tests/test_ops.py``
checks every code in every function).
"""

from __future__ import annotations

import math

import numpy as np

from mcflow import _maths
from mcflow._numba import jit
from mcflow._ops_normal import ndtri, normal_cdf

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
    "basic_op_forward",
    "basic_op_inverse",
    "basic_op_inverse_log_abs_det",
    "basic_op_log_abs_det",
    "op_forward",
    "op_inverse",
    "op_inverse_log_abs_det",
    "op_log_abs_det",
]

EXP, AFFINE, SIGMOID, TANH, SOFTPLUS, SINH_ARCSINH, POWER, NORMAL_CDF, CUBE, SINH = range(10)
#: Name of each op, indexed by its code.
OP_NAMES = (
    "exp", "affine", "sigmoid", "tanh", "softplus",
    "sinh_arcsinh", "power", "normal_cdf", "cube", "sinh",
)

# The scalar formulas call the maths functions instead of inlining them (as the vectorized
# block loops of mcflow._ops must): the same IEEE operations, so bitwise the same values,
# while numba-level inlining of every op into each switch cost most of the first compile.
_exp, _sigmoid, _softplus, _sinh, _tanh, _asinh, _softplus_libm, _log_cosh, _normal_cdf = (
    jit(function.py_func) for function in (
        _maths.exp, _maths.sigmoid, _maths.softplus, _maths.sinh, _maths.tanh, _maths.asinh,
        _maths.softplus_libm, _maths.log_cosh, normal_cdf))

_LOG2 = _maths.LN2
_LOG3 = math.log(3.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@jit
def basic_op_forward(op, a, b, x):
    """:func:`op_forward` of the basic ops (exp, affine, cube); NaN for any other."""
    if op == EXP:
        return _exp(x)
    if op == AFFINE:
        return a + b * x
    if op == CUBE:
        return x * x * x
    return np.nan


@jit
def op_forward(op, a, b, x):
    """``T(x)`` of op ``op`` with parameters ``(a, b)``."""
    if op in (EXP, AFFINE, CUBE):
        return basic_op_forward(op, a, b, x)
    if op == SIGMOID:
        return _sigmoid(x)
    if op == TANH:
        return _tanh(x)
    if op == SOFTPLUS:
        return _softplus(x)
    if op == SINH_ARCSINH:
        return _sinh((_asinh(x) + a) * b)
    if op == POWER:
        return x**a if x >= 0.0 else np.nan
    if op == NORMAL_CDF:
        return _normal_cdf(x)
    if op == SINH:
        return _sinh(x)
    return np.nan


@jit
def basic_op_inverse(op, a, b, y):
    """:func:`op_inverse` of the basic ops (exp, affine, cube); NaN for any other."""
    if op == EXP:
        return math.log(y) if y >= 0.0 else np.nan
    if op == AFFINE:
        return (y - a) / b
    if op == CUBE:
        return np.cbrt(y)
    return np.nan


@jit
def op_inverse(op, a, b, y):
    """``T^-1(y)``; NaN outside the op's image."""
    if op in (EXP, AFFINE, CUBE):
        return basic_op_inverse(op, a, b, y)
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
    if op == SINH:
        return math.asinh(y)
    return np.nan


@jit
def basic_op_log_abs_det(op, a, b, x):
    """:func:`op_log_abs_det` of the basic ops; NaN for any other."""
    if op == EXP:
        return x
    if op == AFFINE:
        return math.log(abs(b))
    if op == CUBE:
        return _LOG3 + 2.0 * math.log(abs(x))
    return np.nan


@jit
def op_log_abs_det(op, a, b, x):
    """``log|dT/dx|`` at ``x``."""
    if op in (EXP, AFFINE, CUBE):
        return basic_op_log_abs_det(op, a, b, x)
    if op == SIGMOID:
        return -_softplus_libm(-x) - _softplus_libm(x)
    if op == TANH:
        return 2.0 * (_LOG2 - x - _softplus_libm(-2.0 * x))
    if op == SOFTPLUS:
        return -_softplus_libm(-x)
    if op == SINH_ARCSINH:
        u = (math.asinh(x) + a) * b
        return math.log(b) + _log_cosh(u) - math.log(math.hypot(1.0, x))
    if op == POWER:
        return math.log(abs(a)) + (a - 1.0) * math.log(x) if x >= 0.0 else np.nan
    if op == NORMAL_CDF:
        return -0.5 * x * x - _HALF_LOG_2PI
    if op == SINH:
        return _log_cosh(x)
    return np.nan


@jit
def basic_op_inverse_log_abs_det(op, a, b, y):
    """:func:`op_inverse_log_abs_det` of the basic ops; NaN for any other."""
    if op == EXP:
        return -math.log(y) if y >= 0.0 else np.nan
    if op == AFFINE:
        return -math.log(abs(b))
    if op == CUBE:
        return -_LOG3 - (2.0 / 3.0) * math.log(abs(y))
    return np.nan


@jit
def op_inverse_log_abs_det(op, a, b, y):
    """``log|dT^-1/dy|`` at ``y``, from its own formula (the seed's Eq. 5)."""
    if op in (EXP, AFFINE, CUBE):
        return basic_op_inverse_log_abs_det(op, a, b, y)
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
    if op == SINH:
        return -math.log(math.hypot(1.0, y))
    return np.nan
