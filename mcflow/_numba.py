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

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numba

__all__ = ["FASTMATH_FLAGS", "SERIAL_BELOW", "jit", "numba_threads", "one_launch_at_a_time",
           "parallel_jit", "threads_for"]

_LAUNCHES = threading.Lock()

#: Elements below which an elementwise parallel kernel runs on the calling thread: ~20 ns
#: each, so 65,536 take ~1 ms on one thread, while waking an idle OpenMP team was
#: measured at 0.1 ms (idle machine) to 8 ms (cores busy) per call, and quadrature
#: makes dozens of such calls.
SERIAL_BELOW = 65_536

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


@contextmanager
def threads_for(size: int) -> Iterator[None]:
    """Run the parallel kernels called inside on one thread when ``size`` is small.

    Parameters
    ----------
    size : int
        Elements the kernels will process; below :data:`SERIAL_BELOW` the
        calling thread's numba thread count is 1 for the block (numba's count
        is per calling thread, so other Python threads are unaffected).  The
        results do not depend on it: elementwise kernels compute each element
        alike on any thread.
    """
    with numba_threads(numba.get_num_threads() if size >= SERIAL_BELOW else 1), \
            one_launch_at_a_time():
        yield


@contextmanager
def numba_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` numba threads (this calling thread's), then restore them."""
    previous = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@contextmanager
def one_launch_at_a_time() -> Iterator[None]:
    """Serialize parallel kernel launches when numba runs on its workqueue layer.

    workqueue (numba's fallback without OpenMP or TBB, e.g. a pip install on
    macOS) aborts the process when two Python threads launch parallel kernels
    at once, as Dask's threaded workers or a user's thread pool do.  Wrap each
    launch (never a block that calls back into Python, which could launch
    from another thread and wait on this one); the other layers run freely.
    """
    try:
        exclusive = numba.threading_layer() == "workqueue"
    except ValueError:  # not chosen until the first launch, which may pick workqueue
        exclusive = True
    if not exclusive:
        yield
        return
    with _LAUNCHES:
        yield
