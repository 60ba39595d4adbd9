"""Programs: the built-in transforms and their chains as plain data, and their interpreters.

A built-in transform (or a chain of them) is a *program*: an int64 array of
op codes and a float64 ``(steps, 2)`` array of parameters.  Programs are
plain data, so one cached kernel serves every built-in and every chain, and a
new parameter value never triggers a compile.

The modules below this one:

* :mod:`mcflow._ops_table`: op codes and each op's four formulas (forward,
  inverse, ``log|dT/dx|``, ``log|dT^-1/dy|``);
* :mod:`mcflow._maths`: branch-free exp/log/sinh/asinh/log1p that vectorize;
* :mod:`mcflow._ops_normal`: the normal CDF and its inverse.

Their names used elsewhere are re-exported here, so ``mcflow._ops`` stays the
one import for the transforms and the kernels.
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

from mcflow import _maths
from mcflow._numba import jit
from mcflow._ops_normal import ndtri, normal_cdf
from mcflow._ops_table import (
    AFFINE,
    CUBE,
    EXP,
    NORMAL_CDF,
    OP_NAMES,
    POWER,
    SIGMOID,
    SINH,
    SINH_ARCSINH,
    SOFTPLUS,
    TANH,
    basic_op_forward,
    basic_op_inverse,
    basic_op_inverse_log_abs_det,
    basic_op_log_abs_det,
    op_forward,
    op_inverse,
    op_inverse_log_abs_det,
    op_log_abs_det,
)

__all__ = [
    "AFFINE",
    "BASIC_OPS",
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
    "basic_forward_block",
    "fast_asinh",
    "fast_exp",
    "fast_log",
    "fast_sinh",
    "inverse_at",
    "inverse_log_abs_det_at",
    "is_basic_program",
    "log_abs_det_at",
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

# The branch-free functions under their earlier names, for existing callers
# (the ulp tests in tests/test_transforms.py); new code uses mcflow._maths.
fast_exp = _maths.exp
fast_log = _maths.log
fast_sinh = _maths.sinh
fast_tanh = _maths.tanh
fast_asinh = _maths.asinh


@jit
def _exp_block(values, count):
    for i in range(count):
        values[i] = _maths.exp(values[i])


@jit
def _sinh_arcsinh_block(values, count, a, b):
    for i in range(count):
        values[i] = _maths.sinh((_maths.asinh(values[i]) + a) * b)


@jit
def _sinh_block(values, count):
    for i in range(count):
        values[i] = _maths.sinh(values[i])


@jit
def _tanh_block(values, count):
    for i in range(count):
        values[i] = _maths.tanh(values[i])


@jit
def _sigmoid_block(values, count):
    for i in range(count):
        values[i] = _maths.sigmoid(values[i])


@jit
def _softplus_block(values, count):
    for i in range(count):
        values[i] = _maths.softplus(values[i])


@jit
def _libm_block(op, a, values, count):
    """Apply an op without a vector form to ``values[:count]``, as :func:`op_forward` does."""
    if op == POWER:
        for i in range(count):
            x = values[i]
            values[i] = x**a if x >= 0.0 else np.nan
    elif op == NORMAL_CDF:
        for i in range(count):
            values[i] = normal_cdf(values[i])
    else:
        for i in range(count):
            values[i] = np.nan


#: Ops of the basic tier: a program made only of these runs through
#: :func:`basic_forward_block`, so the seed's exp case never compiles the
#: sinh/softplus/sigmoid/libm loops (~6 s of a first run's ~10 s of compile).
BASIC_OPS = (EXP, AFFINE, CUBE)


def is_basic_program(ops: np.ndarray) -> bool:
    """Whether every op of a program is in :data:`BASIC_OPS`."""
    return all(int(op) in BASIC_OPS for op in ops)


@jit
def _basic_step(op, a, b, values, count):
    """One step of a basic-tier op on ``values[:count]``; NaN for any other op."""
    if op == EXP:
        _exp_block(values, count)
    elif op == AFFINE:
        for i in range(count):
            values[i] = a + b * values[i]
    elif op == CUBE:
        for i in range(count):
            v = values[i]
            values[i] = v * v * v
    else:
        for i in range(count):
            values[i] = np.nan


@jit
def basic_forward_block(ops, params, values, count):
    """:func:`program_forward_block` for programs of :data:`BASIC_OPS` only.

    The same loops for those ops (bitwise the same values); any other op
    gives NaN, so a program routed here by mistake shows up in the counts.
    """
    for step in range(ops.size):
        _basic_step(ops[step], params[step, 0], params[step, 1], values, count)


@jit
def program_forward_block(ops, params, values, count):
    """Apply a program's forward map in place to ``values[:count]``.

    One loop per step, so each loop body is a single op that LLVM can
    vectorize where the op allows (affine, cube and the branch-free
    functions) rather than a per-sample switch.  Each branch computes what
    :func:`op_forward` computes, so a block gives bitwise the values of
    :func:`program_forward_scalar` (``sample()`` and ``histogram()`` agree).
    The vectorized loops are functions of their own: one call per block of
    512 values, and compiled apart, which roughly halved the first compile.
    """
    for step in range(ops.size):
        op = ops[step]
        a = params[step, 0]
        b = params[step, 1]
        if op in (EXP, AFFINE, CUBE):
            _basic_step(op, a, b, values, count)
        elif op == SINH_ARCSINH:
            _sinh_arcsinh_block(values, count, a, b)
        elif op == SINH:
            _sinh_block(values, count)
        elif op == TANH:
            _tanh_block(values, count)
        elif op == SIGMOID:
            _sigmoid_block(values, count)
        elif op == SOFTPLUS:
            _softplus_block(values, count)
        else:
            # libm-bound ops (power, normal CDF): no vector form to gain, and their
            # own loops rather than op_forward's switch, which a run need not compile.
            _libm_block(op, a, values, count)


@jit
def program_forward_scalar(ops, params, x):
    """Forward map of a program at one ``x``: steps applied first to last."""
    for step in range(ops.size):
        x = op_forward(ops[step], params[step, 0], params[step, 1], x)
    return x


def _by_tier(basic, full):
    """Make a numba-only ``formula(program, op, a, b, x)``: the basic or the full op formula.

    Chosen by the program's type (a basic program carries a ``None`` third
    element), so a basic program's interpreter compiles only the basic ops.
    """

    def formula(program, op, a, b, x):  # pragma: no cover - numba only
        raise NotImplementedError("only callable from numba code")

    @overload(formula, jit_options={"cache": True})
    def _formula_impl(program, op, a, b, x):
        chosen = basic if len(program) == 3 else full

        def impl(program, op, a, b, x):
            return chosen(op, a, b, x)

        return impl

    return formula


_forward_formula = _by_tier(basic_op_forward, op_forward)
_inverse_formula = _by_tier(basic_op_inverse, op_inverse)
_log_abs_det_formula = _by_tier(basic_op_log_abs_det, op_log_abs_det)
_inverse_log_abs_det_formula = _by_tier(basic_op_inverse_log_abs_det, op_inverse_log_abs_det)


@jit
def inverse_at(program, y):
    """Inverse map of a program ``(ops, params[, None])`` at ``y``: steps undone last to first."""
    ops = program[0]
    params = program[1]
    for step in range(ops.size - 1, -1, -1):
        y = _inverse_formula(program, ops[step], params[step, 0], params[step, 1], y)
    return y


@jit
def log_abs_det_at(program, x):
    """``log|dT/dx|`` of a program at ``x``: per-step terms add (chain rule)."""
    ops = program[0]
    params = program[1]
    total = 0.0
    for step in range(ops.size):
        a = params[step, 0]
        b = params[step, 1]
        total += _log_abs_det_formula(program, ops[step], a, b, x)
        x = _forward_formula(program, ops[step], a, b, x)
    return total


@jit
def inverse_log_abs_det_at(program, y):
    """``log|dT^-1/dy|`` of a program at ``y``, accumulated from the last step."""
    ops = program[0]
    params = program[1]
    total = 0.0
    for step in range(ops.size - 1, -1, -1):
        a = params[step, 0]
        b = params[step, 1]
        total += _inverse_log_abs_det_formula(program, ops[step], a, b, y)
        y = _inverse_formula(program, ops[step], a, b, y)
    return total


@jit
def program_inverse_scalar(ops, params, y):
    """Inverse map of a program at one ``y`` (:func:`inverse_at` of the full tier)."""
    return inverse_at((ops, params), y)


@jit
def program_log_abs_det_scalar(ops, params, x):
    """``log|dT/dx|`` of a program at ``x`` (:func:`log_abs_det_at` of the full tier)."""
    return log_abs_det_at((ops, params), x)


@jit
def program_inverse_log_abs_det_scalar(ops, params, y):
    """``log|dT^-1/dy|`` of a program at ``y`` (the full tier)."""
    return inverse_log_abs_det_at((ops, params), y)
