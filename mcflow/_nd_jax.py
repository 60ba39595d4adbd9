"""``from_jax`` for a d-dimensional flow: the pieces of an :class:`mcflow.nd.Case`.

:func:`mcflow.from_jax` promotes a copy of the distribution to float64 (as for
a 1-D one) and, for event shape ``(d,)`` with d >= 2 and batch shape ``()``,
calls :func:`jax_case` with the copy and its sampling path.  The base must be a
diagonal normal: numpyro ``Normal(...).to_event(1)`` (or a ``Normal`` of batch
shape ``(d,)`` that the transforms reinterpret) or a ``MultivariateNormal`` with
a diagonal covariance; distrax ``MultivariateNormalDiag`` or
``Independent(Normal)`` (another distrax multivariate normal if its covariance
is diagonal); flowjax ``StandardNormal((d,))`` or ``Normal``.  What is taken
from the library:

* **forward**: its own sampling path on mcflow's base draws ``x = mean + scale
  z``: numpyro's ``TransformedDistribution.sample`` and distrax's
  ``Transformed.sample`` with the base swapped for a stub that returns the
  draws; flowjax's ``bijection.transform`` per sample, as its ``_sample`` does;
* **log_prob**: its ``log_prob``;
* **inverse** and **log_abs_det_jacobian** (``log|det dT/dx|`` at x): numpyro's
  ``ComposeTransform`` of the transforms (``inv``, ``log_abs_det_jacobian``
  summed over the event); distrax's ``bijector.inverse`` and
  ``forward_log_det_jacobian``; flowjax's ``bijection.inverse`` and
  ``transform_and_log_det`` per sample.  Each is probed once; one the library
  does not implement is left out with a note.  A ``log_prob`` that cannot be
  evaluated at the samples (numpyro's ``BlockNeuralAutoregressiveTransform`` has
  no inverse) is a TypeError.

Every call runs under ``jax.enable_x64(True)``; functions are jitted once per
block size, blocks (at most 2^16 rows) padded to powers of two.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mcflow._adapt import probe_rows, promoted_rows_note
from mcflow._nd_case import Case, design_points
from mcflow._user_code import hide_mcflow_frames

__all__ = ["jax_case"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Rows per call of the library, and the smallest padded call.
_ROWS, _MIN_BUCKET = 2**16, 1024
#: Base draws the optional pieces are probed at (the bulk design points).
_PROBES = 256
_SUPPORTED = ("a numpyro TransformedDistribution, a distrax Transformed or a flowjax "
              "Transformed, over a diagonal normal base")

Function = Callable[[Any], Any]
Pieces = tuple[np.ndarray, np.ndarray, Function | None, Function | None]


def jax_case(jax: Any, library: str, model: Any, sample: Function, *, dim: int,
             narrowed: bool, precision: str, name: str | None) -> Case:
    """Make the :class:`mcflow.nd.Case` of a d-dimensional JAX flow (a float64 copy).

    Parameters
    ----------
    jax : module
    library : {"numpyro", "distrax", "flowjax"}
    model : distribution
        The copy, its floating leaves in float64, event shape ``(dim,)``.
    sample : callable
        The library's sampling path on given base draws (an array of shape (m, dim)).
    dim : int
        d >= 2.
    narrowed : bool
        Whether the original had float32 leaves (promoted: a note says so).
    precision : {"float64", "float32"}
        Only float64: the d-dimensional layers have float64 tolerances.
    name : str, optional
        Shown in reports (default: library and class names).

    Returns
    -------
    mcflow.nd.Case
    """
    if precision != "float64":
        raise ValueError("dtype='float32' is for 1-D distributions: mcflow.nd tests a "
                         "d-dimensional flow in float64 (its pointwise tolerance is float64's)")
    with jax.enable_x64(True):
        if library == "numpyro":
            label, pieces = _numpyro(jax, model, dim)
        elif library == "distrax":
            label, pieces = _distrax(jax, model, dim)
        else:
            label, pieces = _flowjax(jax, model, dim)
    mean, scale, *optional = pieces
    forward, log_prob = _Rows(jax, sample, dim), _Rows(jax, lambda y: model.log_prob(y), dim)
    wrapped = [None if f is None else _Rows(jax, f, dim) for f in optional]
    x = design_points(dim, mean, scale)[:_PROBES]
    inverse, log_det, notes = probe_rows(library, label, forward, log_prob, wrapped[0],
                                         wrapped[1], x)
    if narrowed:
        notes.insert(0, promoted_rows_note("jax.config.update('jax_enable_x64', True) first"))
    computed = log_prob.output_dtype()
    if computed != "float64":
        message = (f"{library}: its log_prob returns {computed} under jax_enable_x64; the "
                   "d-dimensional layers have float64 tolerances, so its rounding alone can "
                   "fail the pointwise layer")
        warnings.warn(message, UserWarning, stacklevel=3)
        notes.append(message)
    return Case(forward, log_prob, dim=dim, inverse=inverse, log_abs_det_jacobian=log_det,
                mean=mean, scale=scale, name=label if name is None else name, library=library,
                notes=tuple(notes))


def _numpyro(jax: Any, dist: Any, dim: int) -> tuple[str, Pieces]:
    import numpyro.distributions as distributions

    if not isinstance(dist, distributions.TransformedDistribution):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got numpyro {type(dist).__name__}")
    base = dist.base_dist  # numpyro flattens nested TransformedDistributions
    inner = base.base_dist if isinstance(base, distributions.Independent) else base
    _check_shape(base, tuple(base.batch_shape) + tuple(base.event_shape), dim)
    if isinstance(inner, distributions.Normal):
        mean, scale = _vector(inner.loc, dim), _vector(inner.scale, dim)
    elif isinstance(base, distributions.MultivariateNormal):
        mean, scale = _vector(base.loc, dim), _diagonal(base.scale_tril, "MultivariateNormal")
    else:
        raise TypeError(_base_message(base, "numpyro Normal(...).to_event(1) or a "
                                            "MultivariateNormal with a diagonal covariance"))
    compose = distributions.transforms.ComposeTransform(list(dist.transforms))

    def inverse(y: Any) -> Any:
        return compose.inv(y)

    def log_det(x: Any) -> Any:
        return _per_row(compose.log_abs_det_jacobian(x, compose(x)), x)

    names = ", ".join(type(t).__name__ for t in dist.transforms)
    return f"numpyro {type(dist).__name__}[{names}]", (mean, scale, inverse, log_det)


def _distrax(jax: Any, dist: Any, dim: int) -> tuple[str, Pieces]:
    import distrax

    if not isinstance(dist, distrax.Transformed):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got distrax {type(dist).__name__}")
    base = dist.distribution
    _check_shape(base, tuple(base.batch_shape) + tuple(base.event_shape), dim)
    if isinstance(base, distrax.MultivariateNormalDiag):
        mean, scale = _vector(base.loc, dim), _vector(base.scale_diag, dim)
    elif isinstance(base, distrax.Independent) and isinstance(base.distribution, distrax.Normal):
        mean, scale = _vector(base.distribution.loc, dim), _vector(base.distribution.scale, dim)
    elif isinstance(base, distrax.MultivariateNormalFromBijector):
        covariance = np.asarray(base.covariance(), dtype=np.float64)
        mean, scale = _vector(base.loc, dim), np.sqrt(_diagonal(covariance, type(base).__name__))
    else:
        raise TypeError(_base_message(base, "distrax MultivariateNormalDiag or "
                                            "Independent(Normal)"))
    bijector = dist.bijector

    def log_det(x: Any) -> Any:
        return _per_row(bijector.forward_log_det_jacobian(x), x)

    return (f"distrax {type(dist).__name__}[{type(bijector).__name__}]",
            (mean, scale, bijector.inverse, log_det))


def _flowjax(jax: Any, dist: Any, dim: int) -> tuple[str, Pieces]:
    from flowjax.distributions import AbstractTransformed, Normal, StandardNormal

    if not isinstance(dist, AbstractTransformed):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got flowjax {type(dist).__name__}")
    if dist.cond_shape is not None:
        raise TypeError("this flowjax distribution is conditional: mcflow validates "
                        "unconditional ones (bind the condition first)")
    base = dist.base_dist
    _check_shape(base, tuple(base.shape), dim)
    if isinstance(base, Normal):
        mean, scale = _vector(base.loc, dim), _vector(base.scale, dim)
    elif isinstance(base, StandardNormal):
        mean, scale = np.zeros(dim), np.ones(dim)
    else:
        raise TypeError(_base_message(base, "flowjax Normal or StandardNormal"))
    bijection = dist.bijection
    with_log_det = jax.vmap(bijection.transform_and_log_det)

    def log_det(x: Any) -> Any:
        return with_log_det(x)[1]

    return (f"flowjax {type(dist).__name__}[{type(bijection).__name__}]",
            (mean, scale, jax.vmap(bijection.inverse), log_det))


def _check_shape(base: Any, shape: tuple[int, ...], dim: int) -> None:
    if shape != (dim,):
        raise ValueError(f"the base distribution {type(base).__name__} has shape {shape} (batch "
                         f"and event together): a flow of event shape ({dim},) needs a base of "
                         f"event shape ({dim},)")


def _base_message(base: Any, supported: str) -> str:
    return (f"the base distribution is {type(base).__name__}: mcflow draws "
            f"X ~ N(mean, diag(scale^2)), so the base must be {supported}")


def _vector(value: Any, dim: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (dim,)).copy()


def _diagonal(matrix: Any, what: str) -> np.ndarray:
    """Return the diagonal of a covariance (or of its Cholesky factor), or a ValueError."""
    array = np.asarray(matrix, dtype=np.float64)
    if np.any(array[~np.eye(array.shape[-1], dtype=bool)] != 0):
        raise ValueError(f"the base {what} has a non-diagonal covariance: mcflow draws "
                         "X ~ N(mean, diag(scale^2)), so put the correlation in the flow (e.g. "
                         "a LowerCholeskyAffine transform) over a diagonal base")
    return np.diagonal(array).copy()


def _per_row(log_det: Any, x: Any) -> Any:
    """Sum a log-det over the event: one value per row (elementwise transforms give (m, d))."""
    return log_det.reshape(x.shape[0], -1).sum(-1)


class _Rows:
    """NumPy ``(m, d)`` in, float64 NumPy out, around a jitted JAX function of (rows, d)."""

    def __init__(self, jax: Any, function: Function, dim: int) -> None:
        self.jax, self.dim = jax, dim
        with jax.enable_x64(True):
            self.compiled = jax.jit(function)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(values, dtype=np.float64).reshape(-1, self.dim)
        parts = []
        for start in range(0, max(x.shape[0], 1), _ROWS):  # an empty input: one padded call
            block = x[start:start + _ROWS]
            size = block.shape[0]
            padded = max(_MIN_BUCKET, 1 << max(size - 1, 0).bit_length())
            full = np.empty((padded, self.dim))
            full[:size] = block
            full[size:] = block[0] if size else 0.0
            with self.jax.enable_x64(True):
                parts.append(np.asarray(self.compiled(full))[:size])
        return np.concatenate(parts).astype(np.float64, copy=False)

    def output_dtype(self) -> str:
        """Return the dtype the library computes in on float64 input."""
        with self.jax.enable_x64(True):
            block = self.jax.ShapeDtypeStruct((_MIN_BUCKET, self.dim), "float64")
            return str(self.jax.eval_shape(self.compiled, block).dtype)
