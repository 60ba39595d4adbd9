"""Correct densities with the traits real libraries' code has, each beside a buggy twin.

Each entry: a transform, the claimed density the way a library computes it
(NaN outside the support, garbage at float64 extremes, a numerical inverse
smooth only to ~1e-7, read-only / float32 / (m, 1) outputs), and a twin with
a bug that shipped somewhere (missing or mis-signed Jacobian, wrong branch).
The correct one must pass, the twin must fail (``tests/test_robustness.py``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from scipy import special

import mcflow

SQRT_2PI = math.sqrt(2.0 * math.pi)


def normal_pdf(x: np.ndarray, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    z = (x - mu) / sigma
    return np.exp(-0.5 * z * z) / (sigma * SQRT_2PI)


@dataclass(frozen=True)
class Case:
    name: str
    transform: Callable[[], mcflow.Transform]
    pdf: Callable[[np.ndarray], Any] | None
    wrong_pdf: Callable[[np.ndarray], Any]
    options: dict[str, Any] = field(default_factory=dict)


# -- softsign: bounded, NaN at +-inf, the README's own example ----------------------------


@numba.njit(error_model="numpy")
def softsign(x):
    return x / (1.0 + abs(x))


@numba.njit  # the Python error model on purpose: it divides by zero at the support's ends
def softsign_inverse(y):
    return y / (1.0 - abs(y))


@numba.njit(error_model="numpy")
def softsign_log_det(x):
    return -2.0 * math.log1p(abs(x))


def softsign_pdf(y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        x = y / (1.0 - np.abs(y))
        return normal_pdf(x) / (1.0 - np.abs(y)) ** 2  # NaN/garbage outside (-1, 1)


def softsign_pdf_missing_jacobian(y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return normal_pdf(y / (1.0 - np.abs(y)))


def _softsign() -> mcflow.Transform:
    with warnings.catch_warnings():  # the Python error model of the inverse is the point here
        warnings.simplefilter("ignore", UserWarning)
        return mcflow.Transform(softsign, softsign_inverse, softsign_log_det, name="softsign")


# -- exp with a library's float64 garbage where no sample lands ---------------------------


def lognormal_pdf_with_garbage(y: np.ndarray) -> np.ndarray:
    """Correct where mass is, NaN below 1e-300 and +inf above 1e300 (log-det underflow)."""
    with np.errstate(all="ignore"):
        values = normal_pdf(np.log(y)) / y
    values = np.where(y < 1e-300, np.nan, values)
    return np.where(y > 1e300, np.inf, values)


def lognormal_missing_jacobian_with_garbage(y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        values = normal_pdf(np.log(y))
    values = np.where(y < 1e-300, np.nan, values)
    return np.where(y > 1e300, np.inf, values)


# -- ELU: a kink, forward-only ------------------------------------------------------------


@numba.njit(error_model="numpy")
def elu(x):
    return x if x > 0.0 else math.expm1(x)


def elu_pdf(y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        below = normal_pdf(np.log1p(y)) / (1.0 + y)
    return np.where(y > 0.0, normal_pdf(y), np.where(y > -1.0, below, 0.0))


def elu_pdf_wrong_branch(y: np.ndarray) -> np.ndarray:
    """The negative branch without its Jacobian 1 / (1 + y)."""
    with np.errstate(all="ignore"):
        below = normal_pdf(np.log1p(y))
    return np.where(y > 0.0, normal_pdf(y), np.where(y > -1.0, below, 0.0))


# -- a numerical inverse smooth only to ~1e-7 (zuko's SOS/Bernstein, flowjax's BNAF) --------


def _bisection_noise(y: np.ndarray) -> np.ndarray:
    """Deterministic relative noise of 1e-7, rough at every scale (a bisection's stopping error)."""
    return 1e-7 * (2.0 * np.modf(np.abs(np.sin(y * 12_345.678)) * 43_758.5453)[0] - 1.0)


def sinh_arcsinh_pdf_bisected(y: np.ndarray) -> np.ndarray:
    x = np.sinh(np.arcsinh(y) / 1.5 - 0.5)
    jacobian = np.cosh(np.arcsinh(y) / 1.5 - 0.5) / (1.5 * np.sqrt(1.0 + y * y))
    return normal_pdf(x) * jacobian * (1.0 + _bisection_noise(y))


def sinh_arcsinh_pdf_bisected_wrong_skew(y: np.ndarray) -> np.ndarray:
    x = np.sinh(np.arcsinh(y) / 1.5 + 0.5)
    jacobian = np.cosh(np.arcsinh(y) / 1.5 + 0.5) / (1.5 * np.sqrt(1.0 + y * y))
    return normal_pdf(x) * jacobian * (1.0 + _bisection_noise(y))


# -- outputs as JAX and torch give them --------------------------------------------------------


def _read_only(values: np.ndarray) -> np.ndarray:
    values = np.array(values)
    values.setflags(write=False)
    return values


def _sigmoid_as_jax() -> mcflow.Transform:
    """Vectorized callables returning read-only arrays (np.asarray of a JAX array)."""
    return mcflow.Transform(
        lambda x: _read_only(special.expit(x)),
        lambda y: _read_only(special.logit(y)),
        lambda x: _read_only(-np.logaddexp(0.0, x) - np.logaddexp(0.0, -x)),
        vectorized=True, name="sigmoid (read-only outputs)")


def sigmoid_pdf_float32_column(y: np.ndarray) -> np.ndarray:
    """float32 values with an event axis, shape (m, 1), as a torch log_prob of (m, 1) gives."""
    with np.errstate(all="ignore"):
        x = special.logit(y)
        values = normal_pdf(x) / (y * (1.0 - y))
    return np.nan_to_num(values, nan=0.0).astype(np.float32).reshape(-1, 1).tolist()


def sigmoid_pdf_missing_jacobian(y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.nan_to_num(normal_pdf(special.logit(y)), nan=0.0)


CORPUS: tuple[Case, ...] = (
    Case("softsign (NaN at +-inf, inverse divides by 0 at the ends)", _softsign, softsign_pdf,
         softsign_pdf_missing_jacobian),
    Case("exp, pdf NaN below 1e-300 and inf above 1e300", mcflow.transforms.Exp,
         lognormal_pdf_with_garbage, lognormal_missing_jacobian_with_garbage),
    Case("ELU kink, forward-only", lambda: mcflow.Transform(elu, name="elu"), elu_pdf,
         elu_pdf_wrong_branch),
    Case("sinh-arcsinh pdf smooth to 1e-7, forward-only",
         lambda: mcflow.Transform(lambda x: math.sinh(1.5 * (math.asinh(x) + 0.5)),
                                  name="sinh_arcsinh"),
         sinh_arcsinh_pdf_bisected, sinh_arcsinh_pdf_bisected_wrong_skew),
    Case("sigmoid, read-only outputs, float32 (m, 1) list pdf", _sigmoid_as_jax,
         sigmoid_pdf_float32_column, sigmoid_pdf_missing_jacobian),
)
