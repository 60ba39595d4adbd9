"""One registry of the built-in cases, read by the tests, the benchmarks and the example config.

Each case names a transform by its CLI/config spec, the base normal, a seed
of its own, an independent oracle for p_Y (SciPy's distributions or a closed
form written from the change of variables by hand, never mcflow's own
density code), and a wrong density beside it (the classic bug: p_X(T^-1(y))
without its Jacobian factor) that a validation must fail.
``[tool.mcflow]`` in ``pyproject.toml`` is :func:`config_toml` of these cases
(a test checks they agree).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcflow import transforms
from mcflow.transform import Transform

__all__ = ["CASES", "RegistryCase", "case", "config_toml"]

Density = Callable[[np.ndarray], np.ndarray]


def _normal(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    z = (x - mu) / sigma
    return np.exp(-0.5 * z * z) / (sigma * math.sqrt(2.0 * math.pi))


@dataclass(frozen=True)
class RegistryCase:
    """A built-in case: spec, base normal, seed, oracle and wrong density."""

    name: str
    spec: str
    mu: float
    sigma: float
    seed: int
    #: Independent p_Y(y) at this case's mu and sigma.
    oracle: Callable[[np.ndarray, float, float], np.ndarray]
    #: Builds the transform ``spec`` names (a test checks the CLI's parser agrees).
    build: Callable[[], Transform]

    def transform(self) -> Transform:
        """Build the transform."""
        return self.build()

    def pdf(self, y: np.ndarray) -> np.ndarray:
        """Return the oracle p_Y at ``y``, 0 outside the support (vectorized)."""
        with np.errstate(all="ignore"):
            values = self.oracle(np.asarray(y, dtype=np.float64), self.mu, self.sigma)
        return np.where(np.isfinite(values), values, 0.0)

    def wrong_pdf(self, y: np.ndarray) -> np.ndarray:
        """Return p_X(T^-1(y)) without its Jacobian factor: a density that must fail."""
        transform = self.transform()
        y = np.asarray(y, dtype=np.float64)
        lo, hi = transform.support
        inside = (y > lo) & (y < hi)
        values = np.zeros(y.shape)
        with np.errstate(all="ignore"):
            values[inside] = _normal(transform.inverse_array(y[inside]), self.mu, self.sigma)
        return np.where(np.isfinite(values), values, 0.0)


def _lognormal(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    from scipy import stats

    return stats.lognorm.pdf(y, s=sigma, scale=math.exp(mu))


def _affine(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    from scipy import stats

    return stats.norm.pdf(y, 1.0 - 3.0 * mu, 3.0 * sigma)


def _logit_normal(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.where((y > 0) & (y < 1), _normal(np.log(y / (1 - y)), mu, sigma) / (y * (1 - y)),
                    0.0)


def _tanh(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.where(np.abs(y) < 1, _normal(np.arctanh(y), mu, sigma) / (1 - y * y), 0.0)


def _softplus(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    # y = log(1 + e^x): x = log(e^y - 1), dx/dy = 1 / (1 - e^-y)
    return np.where(y > 0, _normal(np.log(np.expm1(y)), mu, sigma) / -np.expm1(-y), 0.0)


def _sinh_arcsinh(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    # y = sinh((asinh(x) + 0.5) * 1.5): x = sinh(asinh(y) / 1.5 - 0.5)
    u = np.arcsinh(y) / 1.5 - 0.5
    return _normal(np.sinh(u), mu, sigma) * np.cosh(u) / (1.5 * np.sqrt(1 + y * y))


def _power(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    # y = x^2.5 for x > 0 (NaN below): x = y^0.4, dx/dy = 0.4 y^-0.6
    return np.where(y > 0, _normal(y**0.4, mu, sigma) * 0.4 * y**-0.6, 0.0)


def _normal_cdf(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    from scipy import special

    x = special.ndtri(y)
    return np.where((y > 0) & (y < 1), _normal(x, mu, sigma) / _normal(x, 0.0, 1.0), 0.0)


def _cube(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    x = np.cbrt(y)
    return _normal(x, mu, sigma) / (3.0 * x * x)


def _sinh(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return _normal(np.arcsinh(y), mu, sigma) / np.sqrt(1 + y * y)


CASES: tuple[RegistryCase, ...] = (
    RegistryCase("seed exp", "exp", 0.0, 1.0, 0, _lognormal, transforms.Exp),
    RegistryCase("affine", "affine:shift=1,scale=-3", 0.5, 2.0, 1, _affine,
                 lambda: transforms.Affine(shift=1.0, scale=-3.0)),
    RegistryCase("sigmoid", "sigmoid", 0.0, 1.5, 2, _logit_normal, transforms.Sigmoid),
    RegistryCase("tanh", "tanh", 0.0, 1.0, 3, _tanh, transforms.Tanh),
    RegistryCase("softplus", "softplus", 0.0, 1.0, 4, _softplus, transforms.Softplus),
    RegistryCase("sinh-arcsinh", "sinh_arcsinh:skew=0.5,tailweight=1.5", 0.0, 1.0, 5,
                 _sinh_arcsinh, lambda: transforms.SinhArcsinh(skew=0.5, tailweight=1.5)),
    RegistryCase("power", "power:p=2.5", 3.0, 1.0, 6, _power, lambda: transforms.Power(p=2.5)),
    RegistryCase("normal-cdf", "normal_cdf", 0.0, 1.0, 7, _normal_cdf, transforms.NormalCDF),
    RegistryCase("cube (singular at 0)", "cube", 0.0, 1.0, 8, _cube, transforms.Cube),
    RegistryCase("sinh", "sinh", 0.0, 1.0, 9, _sinh, transforms.Sinh),
)


def case(name: str) -> RegistryCase:
    """Return the registry case called ``name``."""
    for entry in CASES:
        if entry.name == name:
            return entry
    raise KeyError(f"no registry case {name!r}; known: {', '.join(c.name for c in CASES)}")


def config_toml(alpha: float = 0.01, n: float = 1e7) -> str:
    """Return the ``[tool.mcflow]`` table of every registry case, as committed in pyproject."""
    exponent = math.floor(math.log10(n))
    written = f"{n / 10**exponent:g}e{exponent}"
    lines = ["[tool.mcflow]", f"alpha = {alpha!r}", f"n = {written}", ""]
    for entry in CASES:
        lines += ["[[tool.mcflow.cases]]", f'name = "{entry.name}"',
                  f'transform = "{entry.spec}"', f"seed = {entry.seed}"]
        if entry.mu != 0.0:
            lines.append(f"mu = {entry.mu!r}")
        if entry.sigma != 1.0:
            lines.append(f"sigma = {entry.sigma!r}")
        lines.append("")
    return "\n".join(lines)
