"""Built-in transforms, each with forward, inverse, log|det J| and support.

Every built-in is a *program* (op codes plus parameters, see
:mod:`mcflow._ops`), so the engine's compiled kernel is shared by all of them
and cached on disk: a new parameter value or a new :class:`Chain` costs no
compile.  Their ``forward``/``inverse``/``log_abs_det_jacobian`` attributes
are ``@njit`` scalar functions like a user's, built on first access.

Examples
--------
>>> from mcflow import transforms
>>> t = transforms.Chain(transforms.Affine(1.0, 2.0), transforms.Exp())
>>> round(t.forward(0.0), 12) == round(__import__("math").exp(1.0), 12)
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mcflow import _kernels, _ops
from mcflow._checks import check_finite
from mcflow._numba import jit, threads_for
from mcflow.transform import Transform

__all__ = [
    "BUILTINS",
    "Affine",
    "Chain",
    "Cube",
    "Exp",
    "NormalCDF",
    "Power",
    "Sigmoid",
    "Sinh",
    "SinhArcsinh",
    "Softplus",
    "Tanh",
]


def _bind(function: Callable[..., float], ops: np.ndarray, params: np.ndarray) -> Any:
    """Return an ``@njit`` scalar function x -> function(ops, params, x)."""

    @jit(cache=False)  # a closure over arrays: nothing stable to cache on
    def bound(x):
        return function(ops, params, x)

    return bound


class ProgramTransform(Transform):
    """A transform defined by a program of built-in ops (base of the built-ins).

    Parameters
    ----------
    ops : sequence of int
        Op codes from :mod:`mcflow._ops`, applied first to last.
    params : array_like, shape (len(ops), 2)
        Each op's two parameters (unused ones are 0).
    name : str
        Shown in reports.
    """

    def __init__(self, ops: Any, params: Any, name: str) -> None:
        self._ops = np.ascontiguousarray(ops, dtype=np.int64)
        self._params = np.ascontiguousarray(params, dtype=np.float64).reshape(-1, 2)
        self._ops.setflags(write=False)
        self._params.setflags(write=False)
        self.name = name
        self.vectorized = False
        self.concurrent = False
        self.inverse_branches = ()
        self.support = self._program_support()

    # Scalar @njit views, built (and compiled) only when someone asks.
    @functools.cached_property
    def forward(self) -> Any:  # type: ignore[override]
        """``T`` as an ``@njit`` scalar function."""
        return _bind(_ops.program_forward_scalar, self._ops, self._params)

    @functools.cached_property
    def inverse(self) -> Any:  # type: ignore[override]
        """``T^-1`` as an ``@njit`` scalar function."""
        return _bind(_ops.program_inverse_scalar, self._ops, self._params)

    @functools.cached_property
    def log_abs_det_jacobian(self) -> Any:  # type: ignore[override]
        """``log|dT/dx|`` at x as an ``@njit`` scalar function."""
        return _bind(_ops.program_log_abs_det_scalar, self._ops, self._params)

    @functools.cached_property
    def inverse_log_abs_det_jacobian(self) -> Any:  # type: ignore[override]
        """``log|dT^-1/dy|`` at y as an ``@njit`` scalar function."""
        return _bind(_ops.program_inverse_log_abs_det_scalar, self._ops, self._params)

    @property
    def program(self) -> tuple[np.ndarray, np.ndarray]:
        """The (ops, params) arrays the kernels run."""
        return self._ops, self._params

    @property
    def kernel_argument(self) -> Any:
        """The program tuple: one cached kernel serves every built-in (two, with the basic tier)."""
        return _kernels.program_argument(self._ops, self._params)

    @property
    def has_density(self) -> bool:
        """Built-ins always know their inverse and log-Jacobian."""
        return True

    @property
    def has_inverse(self) -> bool:
        """Built-ins are monotone bijections onto their support."""
        return True

    def forward_array(self, x: np.ndarray) -> np.ndarray:
        """Apply T elementwise."""
        return self._map(_kernels.program_forward, x)

    def inverse_array(self, y: np.ndarray) -> np.ndarray:
        """Apply T^-1 elementwise."""
        return self._map(_kernels.program_inverse, y)

    def log_abs_det_array(self, x: np.ndarray) -> np.ndarray:
        """``log|dT/dx|`` at each x."""
        return self._map(_kernels.program_log_abs_det, x)

    def inverse_log_abs_det_array(self, y: np.ndarray) -> np.ndarray:
        """``log|dT^-1/dy|`` at each y, from the ops' own inverse formulas."""
        return self._map(_kernels.program_inverse_log_abs_det, y)

    def _map(self, kernel: Callable[..., np.ndarray], values: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(values, dtype=np.float64)
        with threads_for(values.size):
            return kernel(self._ops, self._params, values.ravel()).reshape(values.shape)

    def _program_support(self) -> tuple[float, float]:
        # Every op is monotone on its domain, so intervals map end to end.
        lo, hi = -math.inf, math.inf
        for step in range(self._ops.size):
            if self._ops[step] == _ops.POWER:
                lo = max(lo, 0.0)
            op = self._ops[step : step + 1]
            params = self._params[step : step + 1]
            with threads_for(2):
                ends = _kernels.program_forward(op, params, np.array([lo, hi]))
            lo, hi = sorted(float(end) for end in ends)
        return lo, hi

    def __getstate__(self) -> dict[str, Any]:
        # Ship the program only: the lazily built @njit views are rebuilt (and
        # compiled) where they are used, e.g. on a Dask worker.
        lazy = {"forward", "inverse", "log_abs_det_jacobian", "inverse_log_abs_det_jacobian"}
        return {k: v for k, v in self.__dict__.items() if k not in lazy}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ProgramTransform)
            and np.array_equal(self._ops, other._ops)
            and np.array_equal(self._params, other._params)
        )

    def __hash__(self) -> int:
        return hash((self._ops.tobytes(), self._params.tobytes()))

    def __repr__(self) -> str:
        return self.name


class Exp(ProgramTransform):
    """``y = exp(x)``, the seed's example: X ~ N(mu, sigma) gives a lognormal Y.

    ``log|dT/dx| = x``; support (0, inf).

    See Also
    --------
    scipy.stats.lognorm : the same density, ``lognorm(s=sigma, scale=exp(mu))``.
    """

    def __init__(self) -> None:
        super().__init__([_ops.EXP], [[0.0, 0.0]], "exp")


class Affine(ProgramTransform):
    """``y = shift + scale * x`` (scale may be negative, not zero).

    ``log|dT/dx| = log|scale|``; support the whole line.

    See Also
    --------
    scipy.stats.norm : the same density, ``norm(shift + scale*mu, |scale|*sigma)``.
    """

    def __init__(self, shift: float = 0.0, scale: float = 1.0) -> None:
        shift = check_finite(shift, "shift", "Affine")
        scale = check_finite(scale, "scale", "Affine")
        if scale == 0.0:
            raise ValueError("Affine: scale must be non-zero (the map is not invertible), got 0.0")
        name = f"affine(shift={shift:g}, scale={scale:g})"
        super().__init__([_ops.AFFINE], [[shift, scale]], name)


class Sigmoid(ProgramTransform):
    """``y = 1 / (1 + exp(-x))``; support (0, 1).

    ``log|dT/dx| = -softplus(-x) - softplus(x)``; the density of Y is the
    logit-normal.
    """

    def __init__(self) -> None:
        super().__init__([_ops.SIGMOID], [[0.0, 0.0]], "sigmoid")


class Tanh(ProgramTransform):
    """``y = tanh(x)``; support (-1, 1); ``log|dT/dx| = 2 (log 2 - x - softplus(-2x))``."""

    def __init__(self) -> None:
        super().__init__([_ops.TANH], [[0.0, 0.0]], "tanh")


class Softplus(ProgramTransform):
    """``y = log(1 + exp(x))``; support (0, inf); ``log|dT/dx| = -softplus(-x)``."""

    def __init__(self) -> None:
        super().__init__([_ops.SOFTPLUS], [[0.0, 0.0]], "softplus")


class SinhArcsinh(ProgramTransform):
    """``y = sinh((asinh(x) + skew) * tailweight)`` (Jones & Pewsey; TFP's bijector).

    ``log|dT/dx| = log(tailweight) + log cosh(u) - log sqrt(1 + x^2)`` with
    ``u = (asinh(x) + skew) * tailweight``; support the whole line.

    Parameters
    ----------
    skew : float, default 0
        Finite; positive values skew Y to the right.
    tailweight : float, default 1
        Finite and > 0; values above 1 give heavier tails.

    See Also
    --------
    scipy.stats.johnsonsu : ``Chain(Sinh(), SinhArcsinh(s, t))`` of N(0, 1) is
        ``johnsonsu(a=-s, b=1/t)``.
    """

    def __init__(self, skew: float = 0.0, tailweight: float = 1.0) -> None:
        skew = check_finite(skew, "skew", "SinhArcsinh")
        tailweight = check_finite(tailweight, "tailweight", "SinhArcsinh")
        if tailweight <= 0.0:
            raise ValueError(f"SinhArcsinh: tailweight must be > 0, got {tailweight}")
        super().__init__(
            [_ops.SINH_ARCSINH], [[skew, tailweight]],
            f"sinh_arcsinh(skew={skew:g}, tailweight={tailweight:g})",
        )


class Power(ProgramTransform):
    """``y = x**p`` on the positive half-line; support (0, inf).

    Defined for x >= 0 only: a negative x maps to NaN and is counted in the
    histogram's ``nan`` counter, so the density of Y integrates to
    P(X > 0).  Choose ``mu``/``sigma`` that keep X positive, or expect that mass
    in ``nan``.  ``log|dT/dx| = log|p| + (p - 1) log x``.

    Parameters
    ----------
    p : float
        Finite and non-zero (negative powers are decreasing maps).
    """

    def __init__(self, p: float) -> None:
        p = check_finite(p, "p", "Power")
        if p == 0.0:
            raise ValueError("Power: p must be non-zero (x**0 is constant, not invertible)")
        super().__init__([_ops.POWER], [[p, 0.0]], f"power(p={p:g})")


class NormalCDF(ProgramTransform):
    """``y = Phi(x)``, the standard normal CDF; support (0, 1).

    With X ~ N(0, 1), Y is uniform on (0, 1).  The inverse is Wichura's
    AS241 (about 1e-16 relative).

    See Also
    --------
    scipy.stats.uniform : the density of Y when mu = 0 and sigma = 1.
    """

    def __init__(self) -> None:
        super().__init__([_ops.NORMAL_CDF], [[0.0, 0.0]], "normal_cdf")


class Cube(ProgramTransform):
    """``y = x**3``; support the whole line.

    The density of Y has an integrable singularity at 0 (``|y|^(-2/3)``).
    """

    def __init__(self) -> None:
        super().__init__([_ops.CUBE], [[0.0, 0.0]], "cube")


class Sinh(ProgramTransform):
    """``y = sinh(x)``; support the whole line; ``log|dT/dx| = log cosh(x)``.

    See Also
    --------
    scipy.stats.johnsonsu : the density of Y is ``johnsonsu(a=-mu/sigma, b=1/sigma)``.
    """

    def __init__(self) -> None:
        super().__init__([_ops.SINH], [[0.0, 0.0]], "sinh")


def Chain(*steps: Transform) -> Transform:  # noqa: N802 - reads as a type, like the others
    """Compose transforms: ``Chain(t1, t2)`` applies ``t1`` first, then ``t2``.

    ``log|dT/dx|`` of the chain is the sum of each step's term at that step's
    input.  Built-ins chain into one program (no compile); any user transform
    in the chain makes a composed ``@njit`` transform (or a vectorized one if
    any step is vectorized).

    Parameters
    ----------
    *steps : Transform
        At least one.

    Returns
    -------
    Transform
    """
    if not steps:
        raise ValueError("Chain needs at least one transform")
    for index, step in enumerate(steps):
        if not isinstance(step, Transform):
            raise TypeError(
                f"Chain: step {index} must be a mcflow.Transform, got {type(step).__name__}"
            )
    name = "chain(" + ", ".join(step.name for step in steps) + ")"
    if all(isinstance(step, ProgramTransform) for step in steps):
        programs = [step.program for step in steps if isinstance(step, ProgramTransform)]
        ops = np.concatenate([program[0] for program in programs])
        params = np.concatenate([program[1] for program in programs])
        return ProgramTransform(ops, params, name)
    if any(step.vectorized for step in steps):
        return _vectorized_chain(steps, name)
    return _jitted_chain(steps, name)


def _vectorized_chain(steps: tuple[Transform, ...], name: str) -> Transform:
    def forward(x: np.ndarray) -> np.ndarray:
        for step in steps:
            x = step.forward_array(x)
        return x

    def inverse(y: np.ndarray) -> np.ndarray:
        for step in reversed(steps):
            y = step.inverse_array(y)
        return y

    def log_abs_det_jacobian(x: np.ndarray) -> np.ndarray:
        total = np.zeros_like(x)
        for step in steps:
            total = total + step.log_abs_det_array(x)
            x = step.forward_array(x)
        return total

    invertible = all(step.has_density for step in steps)
    return Transform(
        forward,
        inverse if invertible else None,
        log_abs_det_jacobian if invertible else None,
        name=name,
        vectorized=True,
        # Compiled steps run under the GIL: only a chain of GIL-releasing steps is concurrent.
        concurrent=all(step.vectorized and step.concurrent for step in steps),
    )


def _compose(first: Any, second: Any) -> Any:
    @jit(cache=False)
    def composed(x):
        return second(first(x))

    return composed


def _add_log_dets(first_forward: Any, first_log_det: Any, second_log_det: Any) -> Any:
    @jit(cache=False)
    def log_det(x):
        return first_log_det(x) + second_log_det(first_forward(x))

    return log_det


def _jitted_chain(steps: tuple[Transform, ...], name: str) -> Transform:
    forward = steps[0].forward
    for step in steps[1:]:
        forward = _compose(forward, step.forward)
    inverse = log_det = None
    if all(step.inverse is not None for step in steps):
        inverse = steps[-1].inverse
        for step in reversed(steps[:-1]):
            inverse = _compose(inverse, step.inverse)
    if all(step.log_abs_det_jacobian is not None for step in steps):
        log_det = steps[0].log_abs_det_jacobian
        applied = steps[0].forward
        for step in steps[1:]:
            log_det = _add_log_dets(applied, log_det, step.log_abs_det_jacobian)
            applied = _compose(applied, step.forward)
    return Transform(forward, inverse, log_det, name=name)


#: Built-ins by the names the CLI and config files use.
BUILTINS: dict[str, Callable[..., ProgramTransform]] = {
    "exp": Exp,
    "affine": Affine,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "sinh_arcsinh": SinhArcsinh,
    "power": Power,
    "normal_cdf": NormalCDF,
    "cube": Cube,
    "sinh": Sinh,
}
