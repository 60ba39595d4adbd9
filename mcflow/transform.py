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

import numpy as np

from mcflow._user_code import (
    as_float_array,
    compile_scalar,
    hide_mcflow_frames,
    raise_first_failure,
    serial_map,
)

__all__ = ["Transform"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_LARGEST = float(np.finfo(np.float64).max)


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
        Python function is compiled with mcflow's numba policy,
        ``error_model="numpy"``, so 1/0 gives inf), or, with
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
    inverse_branches : sequence of (callable, (float, float)), optional
        For a T that is not injective (``x**2``, ``abs``): its inverse on each
        monotone piece, with the interval of y that piece covers, e.g.
        ``[(np.sqrt, (0, inf)), (lambda y: -np.sqrt(y), (0, inf))]`` for
        ``x**2``.  The exact mass of a cell is then the sum over the branches
        of ``|Phi((b(hi) - mu)/sigma) - Phi((b(lo) - mu)/sigma)|`` over the
        cell cut to each branch's interval, and the exact layers run.  Same
        kind as ``forward``; not together with ``inverse``.
    concurrent : bool, default False
        Whether the vectorized callables may run in several threads at once
        (code that releases the GIL, like torch or JAX): the engine then calls
        ``forward`` on one batch per thread.  Each call sees the same batch of
        x whatever the thread count, so results stay bitwise reproducible.
    support : (float, float), optional
        The interval of Y's values. Inferred as ``sorted(T(-inf), T(inf))`` for a
        monotone forward when omitted (where T is NaN at infinity, from
        ``T(+-1e300)`` and ``T(+-max float)`` when they agree), else the whole
        line.  :meth:`with_support` returns a copy with another one.

    Notes
    -----
    The engine never assumes the forward map is injective or finite: values
    that are NaN or infinite are counted in their own counters.

    Examples
    --------
    >>> import math, numba
    >>> @numba.njit(error_model="numpy")
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
        concurrent: bool = False,
        inverse_branches: Any = None,
    ) -> None:
        for parameter, value in (("vectorized", vectorized), ("concurrent", concurrent)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{parameter} must be True or False, got {value!r}")
        if concurrent and not vectorized:
            raise ValueError("concurrent=True needs vectorized=True (compiled scalar functions "
                             "already run on every thread)")
        self.vectorized = bool(vectorized)
        self.concurrent = bool(concurrent)
        prepare = _check_vector_callable if self.vectorized else compile_scalar
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
        self.inverse_branches = _branches(inverse_branches, prepare)
        if self.inverse_branches and inverse is not None:
            raise ValueError("give either inverse (a bijection) or inverse_branches "
                             "(a map that is not injective), not both")
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
    def has_branches(self) -> bool:
        """Whether T's inverse is known branch by branch (T not injective)."""
        return bool(self.inverse_branches)

    @property
    def has_exact_masses(self) -> bool:
        """Whether exact cell masses can be computed (an inverse or inverse branches)."""
        return self.has_inverse or self.has_branches

    def branch_array(self, index: int, y: np.ndarray) -> np.ndarray:
        """Apply the inverse branch ``index`` elementwise to a float64 array."""
        return self._call(self.inverse_branches[index][0], y, f"inverse_branches[{index}]")

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
        description = f"{what} of transform {self.name!r}"
        if not self.vectorized:
            flat = values.ravel()
            try:
                result = serial_map(function, flat)
            except Exception:  # a user's exception: raised as itself, with its x
                raise_first_failure(function, flat, description)
                raise
            return result.reshape(values.shape)
        # A copy: a user's function may modify its argument in place.
        return as_float_array(function(values.copy()), values.shape, description)

    def with_support(self, support: tuple[float, float]) -> Transform:
        """Return a copy of this transform with the support ``support = (lo, hi)``.

        Parameters
        ----------
        support : (float, float)
            The interval of Y's values; ends may be infinite.
        """
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.support = _check_support(support)
        return copy

    def _infer_support(self) -> tuple[float, float]:
        """``sorted(T(-inf), T(inf))``, with limits from large finite x where T(inf) is NaN.

        Meaningful for a monotone T.  ``x / (1 + |x|)`` is NaN at infinity but
        1 at every large finite x: such limits are read off the values at
        ``x = +-1e300`` and ``+-max float`` when they agree.
        """
        probes = np.array([-math.inf, -_LARGEST, -1e300, 1e300, _LARGEST, math.inf])
        try:
            with np.errstate(all="ignore"):
                values = self.forward_array(probes)
        except Exception:  # a flow may refuse such inputs: no inference then
            return -math.inf, math.inf
        ends = []
        for at_inf, *finite in (values[[0, 1, 2]], values[[5, 4, 3]]):
            if not math.isnan(at_inf):
                ends.append(float(at_inf))
            elif finite[0] == finite[1]:  # saturated well before the largest float
                ends.append(float(finite[0]))
            else:
                return -math.inf, math.inf
        lo, hi = sorted(ends)
        return (lo, hi) if lo < hi else (-math.inf, math.inf)

    def __repr__(self) -> str:
        kind = "vectorized" if self.vectorized else "njit"
        return f"Transform({self.name!r}, {kind})"


def _branches(branches: Any, prepare: Callable[..., Any]
              ) -> tuple[tuple[Callable[..., Any], tuple[float, float]], ...]:
    if branches is None:
        return ()
    try:
        pairs = [tuple(branch) for branch in branches]
    except TypeError:
        raise TypeError("inverse_branches must be a sequence of (inverse, (lo, hi)) pairs, got "
                        f"{branches!r}") from None
    checked = []
    for index, pair in enumerate(pairs):
        if len(pair) != 2:
            raise TypeError(f"inverse_branches[{index}] must be a pair (inverse, (lo, hi)), "
                            f"got {pair!r}")
        function, image = pair
        checked.append((prepare(function, f"inverse_branches[{index}]"), _check_support(image)))
    return tuple(checked)


def _check_support(support: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in support)
    except (TypeError, ValueError):
        raise TypeError(f"support must be a pair (lo, hi), got {support!r}") from None
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"support must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi
