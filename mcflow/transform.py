"""The :class:`Transform` type: a map T with, optionally, its inverse and log-Jacobian.

If X ~ N(mu, sigma) and Y = T(X) with T invertible, the change of variables
gives (the seed document's Eq. 4 and Eq. 5)::

    p_Y(y) = p_X(x) / |dT/dx (x)|          at x = T^-1(y)
           = p_X(T^-1(y)) |dT^-1/dy (y)|

A Transform carries what the engine needs to draw Y (``forward``) and what
:func:`mcflow.density` needs to evaluate p_Y (``inverse`` and
``log_abs_det_jacobian``, optionally ``inverse_log_abs_det_jacobian``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from mcflow import _kernels

__all__ = ["Transform"]


def _compile_scalar(function: Callable[..., Any], parameter: str) -> CPUDispatcher:
    """Return ``function`` as a numba dispatcher compiled for float64 -> float64."""
    if not callable(function):
        raise TypeError(f"{parameter} must be callable, got {type(function).__name__}")
    dispatcher = function if isinstance(function, CPUDispatcher) else numba.njit(function)
    try:
        dispatcher.compile((numba.float64,))
    except Exception as error:  # numba raises many types; all mean "cannot compile"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise TypeError(
            f"{parameter} {getattr(function, '__name__', function)!r} is not numba-compilable "
            f"as a scalar float64 -> float64 function ({type(error).__name__}: {first_line}). "
            "Decorate it with @numba.njit using only numba-supported code, or pass "
            "vectorized=True to call it on whole NumPy arrays instead."
        ) from None
    return dispatcher


def _check_vector_callable(function: Any, parameter: str) -> Callable[[np.ndarray], Any]:
    if not callable(function):
        raise TypeError(f"{parameter} must be callable, got {type(function).__name__}")
    return function


class Transform:
    """An invertible (or merely forward) map T for Y = T(X), X ~ N(mu, sigma).

    Parameters
    ----------
    forward : callable
        ``T``. A ``@numba.njit`` scalar function float64 -> float64 (a plain
        Python function is compiled with ``numba.njit``), or, with
        ``vectorized=True``, any callable taking and returning a float64
        ndarray (NumPy code, or a torch/JAX flow wrapped to NumPy).
    inverse : callable, optional
        ``T^-1``, same kind as ``forward``. Needed for :func:`mcflow.density`.
    log_abs_det_jacobian : callable, optional
        ``log|dT/dx|`` evaluated at ``x``, same kind as ``forward``.
    name : str, optional
        Shown in reports; defaults to the forward function's name.
    vectorized : bool, default False
        Whether the callables take whole arrays instead of scalars.
    inverse_log_abs_det_jacobian : callable, optional
        ``log|dT^-1/dy|`` at ``y``. When omitted it is ``-log_abs_det_jacobian(T^-1(y))``;
        when given, Eq. (5) of the seed and Eq. (4) are independent computations.
    support : (float, float), optional
        The interval of Y's values. Inferred as ``sorted(T(-inf), T(inf))`` for a
        monotone forward when omitted, else the whole line.

    Notes
    -----
    The engine never assumes the forward map is injective or finite: values
    that are NaN or infinite are counted in their own counters.

    Examples
    --------
    >>> import math, numba
    >>> @numba.njit
    ... def softsign(x):
    ...     return x / (1.0 + abs(x))
    >>> t = Transform(softsign, name="softsign")
    >>> t.forward(1.0)
    0.5
    """

    def __init__(
        self,
        forward: Callable[..., Any],
        inverse: Callable[..., Any] | None = None,
        log_abs_det_jacobian: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        vectorized: bool = False,
        inverse_log_abs_det_jacobian: Callable[..., Any] | None = None,
        support: tuple[float, float] | None = None,
    ) -> None:
        if not isinstance(vectorized, (bool, np.bool_)):
            raise TypeError(f"vectorized must be True or False, got {vectorized!r}")
        self.vectorized = bool(vectorized)
        prepare = _check_vector_callable if self.vectorized else _compile_scalar
        self.forward = prepare(forward, "forward")
        self.inverse = None if inverse is None else prepare(inverse, "inverse")
        self.log_abs_det_jacobian = (
            None if log_abs_det_jacobian is None
            else prepare(log_abs_det_jacobian, "log_abs_det_jacobian")
        )
        self.inverse_log_abs_det_jacobian = (
            None if inverse_log_abs_det_jacobian is None
            else prepare(inverse_log_abs_det_jacobian, "inverse_log_abs_det_jacobian")
        )
        if name is None:
            name = getattr(forward, "__name__", type(forward).__name__)
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name
        self.support = _check_support(support) if support is not None else self._infer_support()

    # -- what the engine and the density need, array in, array out --------------

    @property
    def kernel_argument(self) -> Any:
        """The object the fused kernel specialises on (a dispatcher or a program)."""
        if self.vectorized:
            raise TypeError("a vectorized transform has no kernel argument")
        return self.forward

    @property
    def has_inverse(self) -> bool:
        """Whether T^-1 is known (T is then taken to be a monotone bijection)."""
        return self.inverse is not None

    @property
    def has_density(self) -> bool:
        """Whether :func:`mcflow.density` can evaluate p_Y (inverse and log-det known)."""
        return self.inverse is not None and (
            self.log_abs_det_jacobian is not None
            or self.inverse_log_abs_det_jacobian is not None
        )

    def forward_array(self, x: np.ndarray) -> np.ndarray:
        """Apply T elementwise to a float64 array."""
        return self._call(self.forward, x, "forward")

    def inverse_array(self, y: np.ndarray) -> np.ndarray:
        """Apply T^-1 elementwise to a float64 array."""
        if self.inverse is None:
            raise ValueError(f"transform {self.name!r} has no inverse")
        return self._call(self.inverse, y, "inverse")

    def log_abs_det_array(self, x: np.ndarray) -> np.ndarray:
        """``log|dT/dx|`` at each x (from the inverse's log-det if only that is known)."""
        if self.log_abs_det_jacobian is not None:
            return self._call(self.log_abs_det_jacobian, x, "log_abs_det_jacobian")
        if self.inverse_log_abs_det_jacobian is not None:
            return -self.inverse_log_abs_det_array(self.forward_array(x))
        raise ValueError(f"transform {self.name!r} has no log_abs_det_jacobian")

    def inverse_log_abs_det_array(self, y: np.ndarray) -> np.ndarray:
        """``log|dT^-1/dy|`` at each y (``-log|dT/dx|`` at x = T^-1(y) if not given)."""
        if self.inverse_log_abs_det_jacobian is not None:
            return self._call(
                self.inverse_log_abs_det_jacobian, y, "inverse_log_abs_det_jacobian"
            )
        return -self.log_abs_det_array(self.inverse_array(y))

    def _call(self, function: Callable[..., Any], values: np.ndarray, what: str) -> np.ndarray:
        values = np.ascontiguousarray(values, dtype=np.float64)
        if not self.vectorized:
            return _kernels.map_function(function, values.ravel()).reshape(values.shape)
        result = np.asarray(function(values), dtype=np.float64)
        if result.shape != values.shape:
            raise ValueError(
                f"vectorized {what} of transform {self.name!r} returned shape {result.shape} "
                f"for input shape {values.shape}; it must map elementwise"
            )
        return result

    def _infer_support(self) -> tuple[float, float]:
        try:
            with np.errstate(all="ignore"):
                ends = self.forward_array(np.array([-np.inf, np.inf]))
        except Exception:  # a vectorized flow may refuse infinities: no inference then
            return -math.inf, math.inf
        if not np.any(np.isnan(ends)):
            lo, hi = sorted(float(v) for v in ends)
            if lo < hi:
                return lo, hi
        return -math.inf, math.inf

    def __repr__(self) -> str:
        kind = "vectorized" if self.vectorized else "njit"
        return f"Transform({self.name!r}, {kind})"


def _check_support(support: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in support)
    except (TypeError, ValueError):
        raise TypeError(f"support must be a pair (lo, hi), got {support!r}") from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"support must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi
