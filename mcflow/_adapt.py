"""What the torch and JAX adapters share: the pieces of a library distribution as a Case.

An adapter turns a 1-D library distribution into NumPy callables (the
sampling path applied to given base draws, the inverse and log-Jacobians when
the library has them, ``exp(log_prob)``, the CDF when it has one) and the base
normal's mu and sigma; :func:`assemble` makes the :class:`Case`, probing each
optional piece once so that a piece the library does not implement is left
out with a note instead of failing mid-run.  :func:`probe_rows` does the same
for the pieces of a d-dimensional case (``mcflow._nd_torch``, ``mcflow._nd_jax``).
"""

from __future__ import annotations

import hashlib
import importlib
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

from mcflow._user_code import hide_mcflow_frames
from mcflow.case import Case
from mcflow.transform import Transform

__all__ = ["PROMOTED_RTOL", "Pieces", "assemble", "bounds_of", "check_dtype", "fingerprint",
           "float32_rtol", "probe_points", "probe_rows", "promoted_note",
           "promoted_rows_note", "require"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

Array = Callable[[np.ndarray], Any]
#: Points of the base normal the adapters probe the library at (its quantiles).
_PROBES = 4096
#: Half an ulp of float32: the least relative error a float32 result carries.
_FLOAT32_ROUNDING = 2.0**-24
#: Exceptions a library raises for a method it does not implement or cannot evaluate.
_UNSUPPORTED = (NotImplementedError, AttributeError, TypeError, ValueError, RuntimeError)


def require(module: str, extra: str) -> Any:
    """Import ``module`` or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{module} is needed for this adapter and could not be imported "
                          f"({error}); install it, e.g. pip install 'mcflow[{extra}]'") from None


def check_dtype(dtype: Any) -> str:
    """Validate the adapters' ``dtype`` argument: ``"float64"`` or ``"float32"``."""
    text = getattr(dtype, "__name__", None) or str(dtype)
    text = text.removeprefix("torch.").removeprefix("jnp.")
    if text not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return text


def bounds_of(constraint: Any) -> tuple[float, float] | None:
    """Return the interval of a torch/numpyro support constraint, or None if it is not one.

    Independent wrappers are unwrapped; ``real`` is the whole line; interval,
    greater-than and less-than constraints give their (scalar) bounds.
    """
    while hasattr(constraint, "base_constraint"):
        constraint = constraint.base_constraint
    name = type(constraint).__name__.lstrip("_").lower()
    if name == "real":
        return -math.inf, math.inf
    lo = getattr(constraint, "lower_bound", -math.inf)
    hi = getattr(constraint, "upper_bound", math.inf)
    if lo is -math.inf and hi is math.inf:
        return None  # not a constraint mcflow can read (simplex, integer, ...)
    try:
        lo, hi = float(np.asarray(lo).reshape(())), float(np.asarray(hi).reshape(()))
    except (TypeError, ValueError):
        return None  # bounds that differ per element: not one interval
    return (lo, hi) if lo < hi else None


def probe_points(mu: float, sigma: float) -> np.ndarray:
    """Return base draws at ``_PROBES`` normal quantiles: where samples land."""
    return mu + sigma * ndtri((np.arange(_PROBES) + 0.5) / _PROBES)


def fingerprint(parts: Iterable[Any]) -> str:
    """Return a short hash of a library object's classes and parameter values."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()[:16]


def float32_rtol(pdf32: np.ndarray, pdf64: np.ndarray) -> float:
    r"""Mean relative error of a float32 claim against its float64 twin at the same points.

    .. math:: \rho = \max\big(2^{-24},\ \operatorname{mean}_{p_{64} > 0}
              |p_{32}/p_{64} - 1|\big)

    At points drawn from Y, ``rho`` bounds the L1 distance between the two
    claims' cell masses (:math:`\sum_i |\int_i (p_{32} - p_{64})| \le
    E_Y |p_{32}/p_{64} - 1|`).
    """
    usable = np.isfinite(pdf32) & np.isfinite(pdf64) & (pdf64 > 0)
    if not np.any(usable):
        return _FLOAT32_ROUNDING
    relative = np.abs(pdf32[usable] / pdf64[usable] - 1.0)
    return float(max(_FLOAT32_ROUNDING, relative.mean()))


def nominal_float32_rtol(log_prob: np.ndarray) -> float:
    """Return a float32 log-density's rounding as a pdf error, ``2^-24 (1 + mean|log p|)``."""
    finite = log_prob[np.isfinite(log_prob)]
    return _FLOAT32_ROUNDING * (1.0 + (float(np.abs(finite).mean()) if finite.size else 0.0))


@dataclass
class Pieces:
    """A library distribution as NumPy callables on flat float64 arrays."""

    library: str
    name: str
    forward: Array
    pdf: Array
    mu: float
    sigma: float
    identity: str
    dtype: str
    inverse: Array | None = None
    #: ``log|dT/dx|`` at x
    forward_ladj: Array | None = None
    #: ``log|dT^-1/dy|`` at y
    inverse_ladj: Array | None = None
    cdf: Array | None = None
    support: tuple[float, float] | None = None
    concurrent: bool = True
    pdf_rtol: float | None = None
    notes: tuple[str, ...] = ()


def _works(function: Array | None, values: np.ndarray, size: int | None = None
           ) -> tuple[bool, str]:
    """Call an optional piece once; say whether the library implements it.

    The output must have ``size`` values (default: as many as ``values``).
    """
    if function is None:
        return False, "not provided"
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(function(values.copy()), dtype=np.float64)
    except _UNSUPPORTED as error:
        return False, f"{type(error).__name__}: {str(error).strip()[:120] or 'no message'}"
    return out.size == (values.size if size is None else size), "wrong shape"


def assemble(pieces: Pieces, *, use_cdf: bool, concurrent: bool) -> Case:
    """Probe the optional pieces once and build the :class:`Case`."""
    x = probe_points(pieces.mu, pieces.sigma)
    notes = list(pieces.notes)
    y = np.asarray(pieces.forward(x.copy()), dtype=np.float64).reshape(-1)
    inside = y[np.isfinite(y)]
    support = pieces.support
    if support is not None and inside.size and (inside.min() < support[0]
                                                or inside.max() > support[1]):
        outside = inside[(inside < support[0]) | (inside > support[1])]
        message = (f"{pieces.library} declares the support ({support[0]:g}, {support[1]:g}) "
                   f"but its sampling path gives y = {outside[0]:.6g} outside it (a wrong "
                   "constraint in the library; with validate_args=True its log_prob would "
                   "reject such samples): the declared support is not used")
        warnings.warn(message, UserWarning, stacklevel=3)
        notes.append(message)
        support = None
    inverse, ladj, iladj = pieces.inverse, pieces.forward_ladj, pieces.inverse_ladj
    inverse_works, why = _works(inverse, inside)
    if inverse is not None and not inverse_works:
        notes.append(f"the library's inverse fails ({why}): no exact layer")
        inverse = ladj = iladj = None
    if ladj is not None and not _works(ladj, x)[0]:
        ladj = None
    if iladj is not None and not _works(iladj, inside)[0]:
        iladj = None
    if inverse is None and pieces.inverse is None:
        notes.append(f"{pieces.library} gives no inverse for this distribution: forward-only "
                     "(no exact layer)")
    cdf = None
    if use_cdf:
        works, why = _works(pieces.cdf, inside)
        if works:
            cdf = pieces.cdf
        elif pieces.cdf is not None:
            notes.append(f"the library's CDF is not usable here ({why}): not tested")
    transform = Transform(pieces.forward, inverse, ladj, vectorized=True,
                          inverse_log_abs_det_jacobian=iladj, support=support,
                          name=pieces.name, concurrent=concurrent and pieces.concurrent)
    return Case(transform, pieces.pdf, pieces.mu, pieces.sigma, name=pieces.name, cdf=cdf,
                pdf_rtol=pieces.pdf_rtol, dtype=pieces.dtype, library=pieces.library,
                identity=pieces.identity, notes=tuple(notes))


#: Relative accuracy granted to a claim whose parameters were float32 before promotion:
#: constants a library derived from them in float32 (``log(scale)`` stored at
#: construction) keep float32 rounding, 2^-24 each; a few such constants: 4x.
PROMOTED_RTOL = 4 * _FLOAT32_ROUNDING


def probe_rows(library: str, name: str, forward: Array, log_prob: Array, inverse: Array | None,
               log_det: Array | None, x: np.ndarray) -> tuple[Array | None, Array | None,
                                                            list[str]]:
    """Probe a d-dimensional case's pieces once at base draws ``x`` (rows); keep those that work.

    Returns the inverse and ``log|det dT/dx|`` that the library implements
    (None where it does not) and a note for each piece left out.  A
    ``log_prob`` that cannot be evaluated at the library's own samples is a
    TypeError: there is no claim to test.
    """
    with np.errstate(all="ignore"):
        y = np.asarray(forward(x.copy()), dtype=np.float64)
    inside = y[np.all(np.isfinite(y), axis=1)]
    usable, why = _works(log_prob, inside, inside.shape[0])
    if not usable:
        raise TypeError(f"{name}: the library cannot evaluate log_prob at its own samples "
                        f"({why}); a transform with no inverse (numpyro's "
                        "BlockNeuralAutoregressiveTransform) has a log_prob only for cached "
                        "samples: write mcflow.nd.Case(forward, log_prob, dim) by hand")
    notes = []
    if inverse is None:
        notes.append(f"{library} gives no inverse for this distribution: no round-trip check")
    else:
        usable, why = _works(inverse, inside)
        if not usable:
            notes.append(f"the library's inverse fails ({why}): no round-trip check")
            inverse = None
    usable, why = _works(log_det, x, x.shape[0])
    if not usable:
        notes.append(f"no log-det from the library ({why}): the pointwise layer uses the "
                     "finite-difference Jacobian alone, and cannot say whether a failure is in "
                     "the log-det or in the density path")
        log_det = None
    return inverse, log_det, notes


def promoted_note(pieces: Pieces, how: str) -> None:
    """Record that float32 parameters were promoted, and grant their rounding."""
    pieces.pdf_rtol = max(pieces.pdf_rtol or 0.0, PROMOTED_RTOL)
    pieces.notes = (*pieces.notes, (
        f"the distribution's parameters were float32: promoted to float64, but constants the "
        f"library derived from them in float32 keep float32 rounding, so the sample-free "
        f"layers allow {PROMOTED_RTOL:.1e} relative (build it in float64, {how}, for "
        "mcflow's float64 floor)"))


def promoted_rows_note(how: str) -> str:
    """Return the note of a d-dimensional case whose float32 parameters were promoted."""
    return ("the distribution's parameters were float32: promoted to float64; constants the "
            "library derived from them in float32 keep float32 rounding (~1e-7 relative), "
            f"which the pointwise layer's float64 tolerance would flag: build it in float64, "
            f"{how}, if that layer fails by that much")


def warn_float32(library: str, why: str) -> None:
    """Warn that a float64 case could not be had, so the claim is tested in float32."""
    warnings.warn(f"{library}: the distribution could not be promoted to float64 ({why}); its "
                  "claim is tested as computed, in float32, and the result states the float32 "
                  "resolution", UserWarning, stacklevel=3)
