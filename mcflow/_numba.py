"""Numba policy for every kernel in mcflow, in one place.

Kernels are plain loops; this module decides how they are compiled:

* ``cache=True`` so a new process loads machine code from disk instead of
  recompiling (set ``NUMBA_CACHE_DIR`` to choose where).
* ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead
  of raising, so a transform's non-finite outputs reach the counters.
* No fast-math.  The blanket ``fastmath=True`` adds ``nnan``/``ninf``, which
  lets LLVM delete the very ``y != y`` tests the non-finite accounting relies
  on; even the "safe" flags (``contract`` to FMA, ``arcp``) make the same
  expression round differently in two kernels, and then ``sample()`` and
  ``histogram()`` of one seed could put a value on different sides of an edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

__all__ = ["FASTMATH_FLAGS", "jit", "parallel_jit"]

#: LLVM fast-math flags in force (none: see the module docstring).
FASTMATH_FLAGS: frozenset[str] = frozenset()

F = TypeVar("F", bound=Callable[..., Any])

_COMMON: dict[str, Any] = {
    "nopython": True,
    "nogil": True,
    "cache": True,
    "error_model": "numpy",
    "fastmath": False,
}


def jit(func: F | None = None, **overrides: Any) -> Any:
    """Compile a serial kernel or helper with mcflow's policy.

    Parameters
    ----------
    func : callable, optional
        The function to compile. When omitted, returns a decorator.
    **overrides
        Options passed on to :func:`numba.jit`, overriding the policy
        (``cache=False`` for closures, ``inline="always"`` for tiny helpers).
    """
    options = {**_COMMON, **overrides}
    if func is None:
        return lambda f: numba.jit(**options)(f)
    return numba.jit(**options)(func)


def parallel_jit(func: F | None = None, **overrides: Any) -> Any:
    """Compile a ``prange`` kernel with mcflow's policy (``parallel=True``).

    Parameters
    ----------
    func : callable, optional
        The function to compile. When omitted, returns a decorator.
    **overrides
        Options passed on to :func:`numba.jit`.
    """
    return jit(func, parallel=True, **overrides)
