"""Every op code in every program function, against independent NumPy/SciPy formulas.

The parametrization iterates over the op-code table (``_ops.OP_NAMES``), so an
op added there without a branch in one of the five program functions gets the
functions' NaN fallback and fails here, and an op added without a reference
formula below fails ``test_every_op_has_a_reference``.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import special, stats

from mcflow import _ops

EPS = np.finfo(np.float64).eps  # 1 ulp of 1.0, 2**-52

# Tolerance, in ulp of S = max(|reference|, 1): both sides are chains of at
# most four float64 steps, each within 2 ulp of its exact result (IEEE
# arithmetic 0.5 ulp; glibc's exp, log, log1p, expm1, sinh, cosh, tanh, asinh,
# atanh and erfc at most 2 ulp; mcflow's branch-free exp/log/sinh/asinh at most
# 4 ulp, tests/test_transforms.py, counted as two steps).  The points below
# keep every intermediate within [-S, S] and amplify no step's error by more
# than 2 (condition numbers at most 2, no cancellation between terms of
# different sign larger than S), so each side is within 4 x 2 x 2 = 16 ulp of S
# and their difference within 32.  A wrong term, sign or parameter order is
# off by at least 1e-3 relative, over 1e12 ulp.  Measured worst: 2.5 ulp.
TOLERANCE_ULPS = 32

# Parameters (a, b) of each op; ops without parameters ignore them.
PARAMETERS = {"affine": (1.5, -2.0), "sinh_arcsinh": (0.5, 1.5), "power": (2.5, 0.0)}

# Points x where each op's forward map and log|dT/dx| are checked; the
# inverse functions are checked at y = T(x).  Chosen inside the op's domain,
# away from cancellations (a + b x = 0 for affine, asinh(x) = -a for
# sinh_arcsinh) so that the tolerance above applies.
POINTS = {
    "exp": (-3.0, -0.4, 0.7, 2.5),
    "affine": (-1.2, 0.3, 2.0),
    "sigmoid": (-2.5, -0.3, 0.8, 3.0),
    "tanh": (-1.5, -0.2, 0.4, 1.1),
    "softplus": (-2.0, -0.5, 0.6, 3.0),
    "sinh_arcsinh": (-1.5, -0.1, 0.4, 0.8),
    "power": (0.3, 1.7, 4.0),
    "normal_cdf": (-2.0, -0.5, 0.3, 1.5),
    "cube": (-1.7, -0.4, 0.6, 2.2),
    "sinh": (-2.0, -0.6, 0.3, 1.4),
}


def _forward(name, a, b, x):
    return {
        "exp": lambda: np.exp(x),
        "affine": lambda: a + b * x,
        "sigmoid": lambda: special.expit(x),
        "tanh": lambda: np.tanh(x),
        "softplus": lambda: np.logaddexp(0.0, x),
        "sinh_arcsinh": lambda: np.sinh(b * (np.arcsinh(x) + a)),
        "power": lambda: np.power(x, a),
        "normal_cdf": lambda: special.ndtr(x),
        "cube": lambda: np.power(x, 3),
        "sinh": lambda: np.sinh(x),
    }[name]()


def _inverse(name, a, b, y):
    return {
        "exp": lambda: np.log(y),
        "affine": lambda: (y - a) / b,
        "sigmoid": lambda: special.logit(y),
        "tanh": lambda: np.arctanh(y),
        "softplus": lambda: np.log(np.expm1(y)),
        "sinh_arcsinh": lambda: np.sinh(np.arcsinh(y) / b - a),
        "power": lambda: np.power(y, 1.0 / a),
        "normal_cdf": lambda: special.ndtri(y),
        "cube": lambda: np.cbrt(y),
        "sinh": lambda: np.arcsinh(y),
    }[name]()


def _log_abs_det(name, a, b, x):
    """log|T'(x)| from T' written out: no shared code with mcflow's formulas."""
    return {
        "exp": lambda: x,
        "affine": lambda: np.log(abs(b)),
        "sigmoid": lambda: special.log_expit(x) + special.log_expit(-x),
        "tanh": lambda: -2.0 * np.log(np.cosh(x)),
        "softplus": lambda: special.log_expit(x),
        "sinh_arcsinh": lambda: (np.log(b) + np.log(np.cosh(b * (np.arcsinh(x) + a)))
                                 - 0.5 * np.log1p(x * x)),
        "power": lambda: np.log(a) + (a - 1.0) * np.log(x),
        "normal_cdf": lambda: stats.norm.logpdf(x),
        "cube": lambda: np.log(3.0 * x * x),
        "sinh": lambda: np.log(np.cosh(x)),
    }[name]()


def _inverse_log_abs_det(name, a, b, y):
    """log|(T^-1)'(y)| from the derivative of the inverse, not as -log|T'(T^-1(y))|."""
    return {
        "exp": lambda: -np.log(y),
        "affine": lambda: -np.log(abs(b)),
        "sigmoid": lambda: -np.log(y * (1.0 - y)),
        "tanh": lambda: -np.log1p(-y * y),
        "softplus": lambda: y - np.log(np.expm1(y)),
        "sinh_arcsinh": lambda: (np.log(np.cosh(np.arcsinh(y) / b - a)) - np.log(b)
                                 - 0.5 * np.log1p(y * y)),
        "power": lambda: np.log(1.0 / a) + (1.0 / a - 1.0) * np.log(y),
        "normal_cdf": lambda: -stats.norm.logpdf(special.ndtri(y)),
        "cube": lambda: -np.log(3.0 * np.cbrt(y) ** 2),
        "sinh": lambda: -0.5 * np.log1p(y * y),
    }[name]()


@numba.njit(error_model="numpy")  # the engine's error model: x / 0 gives inf, not an exception
def _forward_block(ops, params, values):
    out = values.copy()
    _ops.program_forward_block(ops, params, out, out.size)
    return out


def _scalar(function):
    def apply(ops, params, values):
        return np.array([function(ops, params, v) for v in values])

    return apply


# Each program function with the point set it is checked at and its reference.
FUNCTIONS = {
    "forward_scalar": (_scalar(_ops.program_forward_scalar), "x", _forward),
    "forward_block": (_forward_block, "x", _forward),
    "inverse": (_scalar(_ops.program_inverse_scalar), "y", _inverse),
    "log_abs_det": (_scalar(_ops.program_log_abs_det_scalar), "x", _log_abs_det),
    "inverse_log_abs_det": (_scalar(_ops.program_inverse_log_abs_det_scalar), "y",
                            _inverse_log_abs_det),
}


def _program(*names):
    ops = np.array([_ops.OP_NAMES.index(name) for name in names], dtype=np.int64)
    params = np.array([PARAMETERS.get(name, (0.0, 0.0)) for name in names], dtype=np.float64)
    return ops, params


def _assert_within_tolerance(got, want):
    scale = np.maximum(np.abs(want), 1.0)
    ulps = np.abs(got - want) / (EPS * scale)
    assert np.all(ulps <= TOLERANCE_ULPS), f"{ulps.max():.1f} ulp: got {got}, want {want}"


def test_op_codes_are_the_positions_in_the_name_table():
    for code, name in enumerate(_ops.OP_NAMES):
        assert getattr(_ops, name.upper()) == code
    assert len(set(_ops.OP_NAMES)) == len(_ops.OP_NAMES)


def test_every_op_has_a_reference_and_points():
    assert set(POINTS) == set(_ops.OP_NAMES)
    for name in _ops.OP_NAMES:
        x = np.array(POINTS[name])
        a, b = PARAMETERS.get(name, (0.0, 0.0))
        for reference in (_forward, _log_abs_det):
            assert np.all(np.isfinite(reference(name, a, b, x)))
        y = _forward(name, a, b, x)
        for reference in (_inverse, _inverse_log_abs_det):
            assert np.all(np.isfinite(reference(name, a, b, y)))


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("name", _ops.OP_NAMES)
def test_every_op_in_every_program_function_matches_its_reference(name, function):
    apply, argument, reference = FUNCTIONS[function]
    a, b = PARAMETERS.get(name, (0.0, 0.0))
    x = np.array(POINTS[name])
    points = x if argument == "x" else _forward(name, a, b, x)
    ops, params = _program(name)
    _assert_within_tolerance(apply(ops, params, points), reference(name, a, b, points))


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_an_unknown_op_code_gives_nan_everywhere(function):
    # The fallback that makes a missing branch visible in the test above.
    apply, _argument, _reference = FUNCTIONS[function]
    ops = np.array([len(_ops.OP_NAMES)], dtype=np.int64)
    assert np.all(np.isnan(apply(ops, np.zeros((1, 2)), np.array([0.5, 2.0]))))


@pytest.mark.parametrize("name", _ops.OP_NAMES)
def test_forward_block_equals_forward_scalar_bitwise(name):
    # histogram() bins the block path and sample() returns the scalar path:
    # they must give the same float64 bits, tails and non-finite inputs too.
    rng = np.random.default_rng(_ops.OP_NAMES.index(name))
    values = np.concatenate([rng.standard_normal(5000) * 3.0, rng.standard_normal(500) * 300.0,
                             [0.0, -0.0, 5e-324, 1e-300, 700.0, 710.0, -746.0, 40.0, -40.0,
                              np.inf, -np.inf, np.nan]])
    ops, params = _program(name)
    block = _forward_block(ops, params, values)
    scalar = _scalar(_ops.program_forward_scalar)(ops, params, values)
    assert block.tobytes() == scalar.tobytes()


def test_a_program_composes_its_steps_in_order():
    # Chain rule: log|T'| adds each step's term at that step's input, and the
    # inverse undoes the steps last to first, each term at that step's output.
    names = ("sinh_arcsinh", "affine", "softplus")
    ops, params = _program(*names)
    steps = [(name, *PARAMETERS.get(name, (0.0, 0.0))) for name in names]
    inputs = [np.array([-1.2, -0.1, 0.4, 0.8])]
    for name, a, b in steps:
        inputs.append(_forward(name, a, b, inputs[-1]))
    outputs = [inputs[-1]]
    for name, a, b in reversed(steps):
        outputs.insert(0, _inverse(name, a, b, outputs[0]))
    x, y = inputs[0], inputs[-1]
    log_abs_det = sum(_log_abs_det(name, a, b, t)
                      for (name, a, b), t in zip(steps, inputs[:-1], strict=True))
    inverse_log_abs_det = sum(_inverse_log_abs_det(name, a, b, t)
                              for (name, a, b), t in zip(steps, outputs[1:], strict=True))
    _assert_within_tolerance(FUNCTIONS["forward_scalar"][0](ops, params, x), y)
    _assert_within_tolerance(_forward_block(ops, params, x), y)
    _assert_within_tolerance(FUNCTIONS["inverse"][0](ops, params, y), outputs[0])
    _assert_within_tolerance(FUNCTIONS["log_abs_det"][0](ops, params, x), log_abs_det)
    _assert_within_tolerance(FUNCTIONS["inverse_log_abs_det"][0](ops, params, y),
                             inverse_log_abs_det)


@numba.njit(error_model="numpy")
def _basic_forward_block(ops, params, values):
    out = values.copy()
    _ops.basic_forward_block(ops, params, out, out.size)
    return out


def _basic_tier(function):
    # A program marked basic, as the kernels pass it: only the basic ops' formulas.
    def apply(ops, params, values):
        return np.array([function((ops, params, None), v) for v in values])

    return apply


# Each basic-tier interpreter beside the full one it stands in for.
BASIC_TIER = {
    "forward_block": (_basic_forward_block, _forward_block, "x"),
    "inverse": (_basic_tier(_ops.inverse_at), _scalar(_ops.program_inverse_scalar), "y"),
    "log_abs_det": (_basic_tier(_ops.log_abs_det_at),
                    _scalar(_ops.program_log_abs_det_scalar), "x"),
    "inverse_log_abs_det": (_basic_tier(_ops.inverse_log_abs_det_at),
                            _scalar(_ops.program_inverse_log_abs_det_scalar), "y"),
}


@pytest.mark.parametrize("function", list(BASIC_TIER))
@pytest.mark.parametrize("name", _ops.OP_NAMES)
def test_the_basic_tier_gives_the_full_tiers_bits_and_nan_outside_it(name, function):
    # A basic program runs through interpreters of its own (the cold-start tier):
    # bitwise the full ones' values for its ops, NaN for any other op.
    basic, full, argument = BASIC_TIER[function]
    x = np.concatenate([np.random.default_rng(7).standard_normal(300) * 4.0,
                        [0.0, -0.0, 710.0, -746.0, np.inf, -np.inf, np.nan]])
    ops, params = _program(name, "affine")
    values = x if argument == "x" else _forward_block(ops, params, x)
    got = basic(ops, params, values)
    if _ops.OP_NAMES.index(name) in _ops.BASIC_OPS:
        assert got.tobytes() == full(ops, params, values).tobytes()
    else:
        assert np.all(np.isnan(got))


KERNELS = {"program_forward": "forward_scalar", "program_inverse": "inverse",
           "program_log_abs_det": "log_abs_det",
           "program_inverse_log_abs_det": "inverse_log_abs_det"}


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("name", ["exp", "cube", "sigmoid", "normal_cdf"])
def test_the_kernels_route_each_program_to_its_tier(name, kernel):
    # Basic programs carry a marker that selects the basic tier; either way a
    # kernel gives the full scalar interpreter's bits.
    from mcflow import _kernels

    ops, params = _program(name, "affine")
    is_basic = _ops.OP_NAMES.index(name) in _ops.BASIC_OPS
    assert len(_kernels.program_argument(ops, params)) == (3 if is_basic else 2)
    x = np.concatenate([np.random.default_rng(3).standard_normal(3000) * 3.0, [np.nan]])
    values = x if FUNCTIONS[KERNELS[kernel]][1] == "x" else _forward_block(ops, params, x)
    got = getattr(_kernels, kernel)(ops, params, values)
    assert got.tobytes() == FUNCTIONS[KERNELS[kernel]][0](ops, params, values).tobytes()
