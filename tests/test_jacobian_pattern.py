"""The exact layer names the Jacobian bug behind a wrong claimed density (and only then).

Sample-free in substance: the exact layer compares quadrature of the claim with the exact
bin masses, so n only sets the bins (10^4 is plenty); the pattern is fitted on masses whose
errors are at the quadrature floor, and the thresholds are those of the module's docstring.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import mcflow
from mcflow import transforms
from mcflow._jacobian_pattern import jacobian_cause

# (transform, x = T^-1(y), |dT/dx| at x) for three shapes of Jacobian
_SHAPES = {
    "exp": (transforms.Exp(), np.log, np.exp),
    "tanh": (transforms.Tanh(), np.arctanh, lambda x: 1 - np.tanh(x) ** 2),
    "sinh": (transforms.Sinh(), np.arcsinh, np.cosh),
}

# each claim is p_X(x) * |dT/dx|^k: k = -1 is right, k = 0, 1, -2 are the bugs named


def _exact_layer(transform, pdf):
    result = mcflow.validate(transform, pdf, n=10**4, seed=1)
    return next(layer for layer in result.layers if layer.name == "exact")


@pytest.mark.parametrize("shape", sorted(_SHAPES))
@pytest.mark.parametrize(("power", "expected"), [(0, "|dT/dx| in every bin"),
                                                 (1, "|dT/dx|^2 in every bin"),
                                                 (-2, "1 / |dT/dx| in every bin")])
def test_a_jacobian_power_is_named(shape, power, expected):
    transform, inverse, derivative = _SHAPES[shape]

    def pdf(y):
        x = inverse(y)
        return norm.pdf(x) * derivative(x) ** power

    layer = _exact_layer(transform, pdf)
    assert layer.status == "fail"
    assert expected in layer.statistics["likely_cause"]
    assert "likely cause: claimed / exact" in layer.message


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_a_constant_factor_is_named_with_its_value(shape):
    transform, inverse, derivative = _SHAPES[shape]
    layer = _exact_layer(transform, lambda y: 1.1 * norm.pdf(inverse(y)) / derivative(inverse(y)))
    assert layer.status == "fail"
    assert "claimed / exact = 1.1 in every bin: a constant factor" in layer.statistics[
        "likely_cause"]


@pytest.mark.parametrize(("location", "scale"), [(1.0, 1.0), (0.3, 1.0), (0.0, 1.2)])
def test_another_density_is_not_called_a_jacobian_bug(location, scale):
    # N(1, 1) through exp is the missing-Jacobian claim times e^-1/2: a slope of 1 but c != 1
    layer = _exact_layer(transforms.Exp(),
                         lambda y: norm.pdf(np.log(y), location, scale) / y)
    assert layer.status == "fail"
    assert "likely_cause" not in layer.statistics
    assert "likely cause" not in layer.message


def test_the_right_density_passes_without_a_cause():
    layer = _exact_layer(transforms.Exp(), lambda y: norm.pdf(np.log(y)) / y)
    assert layer.status == "pass" and "likely_cause" not in layer.statistics


def test_an_affine_map_cannot_tell_a_power_from_a_constant():
    # |dT/dx| = 3 everywhere: p_X(x) (missing factor) is 3 * exact, a constant factor of 3
    edges = np.linspace(-4.0, 4.0, 41)
    exact = np.diff(norm.cdf(np.concatenate([[-np.inf], edges, [np.inf]]) / 3.0))
    cause = jacobian_cause(3.0 * exact, exact, edges, lambda y: y / 3.0)
    assert cause is not None and cause.startswith("claimed / exact = 3 in every bin")
