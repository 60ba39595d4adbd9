"""Calling users' functions: compile policy, output conversion, faithful errors.

Three rules, so that nothing a user's code does is lost:

* A plain Python scalar function is compiled under mcflow's numba policy
  (``error_model="numpy"``): ``1 / 0`` gives inf, which the counters see,
  instead of an exception that a parallel kernel may drop.  A user's own
  dispatcher compiled with numba's default Python error model is used as it
  is, with a warning.
* What a vectorized function returns is converted as libraries give it
  (read-only arrays, float32, shape ``(m, 1)``, lists, objects with
  ``__array__`` such as CPU torch tensors) into a new writable float64 array,
  or rejected by one ``TypeError`` naming the function.
* An exception a user's function raises inside a compiled kernel is found
  again by calling the function serially, and re-raised as itself with a note
  naming the function and the value that raised it.

Modules between a test and a user's function set ``__tracebackhide__ =
hide_mcflow_frames``: in pytest their frames are hidden when the user's code
raised, so the failure shows the test's line and the user's.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from mcflow._numba import jit

__all__ = ["as_float_array", "compile_scalar", "hide_mcflow_frames", "raise_first_failure",
           "serial_map"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def hide_mcflow_frames(excinfo: Any) -> bool:
    """Tell pytest (as ``__tracebackhide__``) to hide a frame of mcflow's.

    Parameters
    ----------
    excinfo : _pytest._code.ExceptionInfo or None
        The failure pytest is showing.

    Returns
    -------
    bool
        True when the innermost frame is not mcflow's: a user's function (or a
        library it called) raised through mcflow, which only carried the call.
        False when mcflow raised (its frames say where and why), and always
        with ``MCFLOW_DEBUG=1`` (set it, too, when a library's Python code
        raised on something mcflow passed it: its frames are hidden then).
    """
    if excinfo is None or os.environ.get("MCFLOW_DEBUG"):
        return False
    tb = excinfo.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    return not os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE)


__tracebackhide__ = hide_mcflow_frames


def compile_scalar(function: Callable[..., Any], parameter: str) -> CPUDispatcher:
    """Return ``function`` as a dispatcher compiled for float64 -> float64.

    Parameters
    ----------
    function : callable
        A plain Python function (compiled here with ``error_model="numpy"``)
        or a numba ``@njit`` dispatcher (used as it is).
    parameter : str
        The argument's name, for messages.
    """
    if not callable(function):
        raise TypeError(f"{parameter} must be callable, got {type(function).__name__}")
    if isinstance(function, CPUDispatcher):
        dispatcher = function
        if dispatcher.targetoptions.get("error_model", "python") == "python":
            warnings.warn(
                f"{parameter} {getattr(function, '__name__', function)!r} is compiled with "
                "numba's Python error model: a division by zero raises inside the kernel "
                "instead of giving inf/nan. Compile it with "
                "@numba.njit(error_model='numpy') to have such values counted.",
                UserWarning, stacklevel=4)
    else:
        dispatcher = jit(function, cache=False)
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


def as_float_array(result: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Convert a user function's output to a new writable float64 array of ``shape``.

    Accepted: anything :func:`numpy.asarray` converts to real numbers
    (float32, int, read-only, lists, CPU tensors) whose size matches, in
    ``shape`` or with extra length-1 axes (an event axis ``(m, 1)``).

    Parameters
    ----------
    result : object
        What the function returned.
    shape : tuple of int
        The input's shape.
    what : str
        The function's description for messages (``"pdf"``, ``"forward of
        transform 'flow'"``).
    """
    try:
        values = np.array(result, dtype=np.float64, copy=True)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"{what} returned a {type(result).__name__} that is not convertible to a float64 "
            f"array ({error}); return a NumPy array (torch: .detach().cpu().numpy())"
        ) from None
    if values.shape != shape:
        squeezed = tuple(size for size in values.shape if size != 1)
        wanted = tuple(size for size in shape if size != 1)
        if values.size != int(np.prod(shape)) or squeezed != wanted:
            raise TypeError(
                f"{what} returned shape {values.shape} for input shape {shape}; it must map "
                "elementwise (shape (m,) or (m, 1) for m inputs)"
            )
        values = values.reshape(shape)
    return values


@jit(cache=False)  # specialised on a user's dispatcher: nothing stable to cache
def serial_map(function, values):
    """Apply ``function`` to each value in order (serial: exceptions propagate)."""
    out = np.empty_like(values)
    for i in range(values.size):
        out[i] = function(values[i])
    return out


def raise_first_failure(function: Any, values: np.ndarray, what: str) -> None:
    """Re-raise the exception ``function`` raises on ``values`` as itself.

    Bisection with :func:`serial_map` finds the first value that raises (the
    exception of a parallel kernel is not reliable: numba may lose it or
    replace it by a ``SystemError``); calling the dispatcher on that value from
    Python gives the user's own exception object, which is raised with a note
    naming ``what`` and the value.  Returns normally if nothing raises.
    """
    values = np.ascontiguousarray(values, dtype=np.float64).ravel()
    try:
        serial_map(function, values)
        return
    except Exception:  # the user's exception, whatever its type: locate it below
        pass
    lo, hi = 0, values.size  # invariant: values[lo:hi] contains a raising value
    while hi - lo > 1:
        middle = (lo + hi) // 2
        try:
            serial_map(function, values[lo:middle])
        except Exception:  # same reason
            hi = middle
        else:
            lo = middle
    value = float(values[lo])
    try:
        function(value)
    except Exception as error:  # raised as itself, with the place it happened
        note = f"mcflow: raised by {what} at x = {value!r}"
        if hasattr(error, "add_note"):
            error.add_note(note)
        raise
    raise RuntimeError(f"{what} raised inside a compiled kernel at x = {value!r}, but not when "
                       "called on that value alone")
