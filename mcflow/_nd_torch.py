"""``from_torch`` for a d-dimensional flow: the pieces of an :class:`mcflow.nd.Case`.

:func:`mcflow.from_torch` copies the distribution (CPU, float64, as for a 1-D
one) and, for event shape ``(d,)`` with d >= 2 and batch shape ``()``, calls
:func:`torch_case` with the copy and its replayed sampling path.  The base must
be a diagonal normal: ``Independent(Normal, 1)`` (zuko's ``DiagNormal``), a
``Normal`` of batch shape ``(d,)`` that the transforms reinterpret, a
``MultivariateNormal`` with a diagonal covariance, or nflows' ``StandardNormal``
/ ``DiagonalNormal``.  What is taken from the library:

* **forward**: its own sampling path, replayed on mcflow's base draws
  ``x = mean + scale z`` (the base is swapped for a stub that returns them):
  ``TransformedDistribution.sample`` (torch, pyro), ``NormalizingFlow.rsample``
  (zuko), ``Flow.sample`` (nflows);
* **log_prob**: its ``log_prob``;
* **inverse** and **log_abs_det_jacobian** (``log|det dT/dx|`` at x, as the
  library computes it for its samples): the ``ComposeTransform`` of the
  transforms' ``inv`` and ``log_abs_det_jacobian``; zuko's ``transform`` (y ->
  z) and ``transform.inv.call_and_ladj``; nflows' ``transform(y)`` and
  ``transform.inverse(x)``.  Each is probed once; one that fails is left out
  with a note.

The copy's modules are put in eval mode (batch norm and dropout as at
inference).  Calls run under ``no_grad`` on blocks of at most 2^16 rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mcflow._adapt import probe_rows, promoted_rows_note
from mcflow._nd_case import Case, design_points
from mcflow._user_code import hide_mcflow_frames

__all__ = ["torch_case"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Rows per call of the library.
_ROWS = 2**16
#: Base draws the optional pieces are probed at (the bulk design points).
_PROBES = 256
_BASES = ("torch Normal, Independent(Normal, 1), MultivariateNormal with a diagonal covariance "
          "or zuko DiagNormal (nflows: StandardNormal or DiagonalNormal)")

Function = Callable[[Any], Any]
#: mean, scale, and the inverse and log-det where the library has them.
Pieces = tuple[np.ndarray, np.ndarray, Function | None, Function | None]


def torch_case(torch: Any, kind: str, model: Any, sample: Function, *, dim: int, library: str,
               narrowed: bool, precision: str, name: str | None) -> Case:
    """Make the :class:`mcflow.nd.Case` of a d-dimensional torch flow (a float64 CPU copy).

    Parameters
    ----------
    torch : module
    kind : {"transformed", "zuko", "nflows"}
        What ``model`` is (``mcflow._torch_adapter`` recognised it).
    model : distribution
        The copy: a ``TransformedDistribution``, a zuko ``NormalizingFlow`` or an
        nflows ``Flow``, event shape ``(dim,)``, validation off.
    sample : callable
        The library's sampling path on given base draws (a tensor of shape (m, dim)).
    dim : int
        d >= 2.
    library : str
        ``"torch"``, ``"pyro"``, ``"zuko"`` or ``"nflows"``.
    narrowed : bool
        Whether the original had float32 tensors (promoted: a note says so).
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
    _eval(torch, model)
    if kind == "zuko":
        label, pieces = _zuko(torch, model, dim)
    elif kind == "nflows":
        label, pieces = _nflows(torch, model, dim)
    else:
        label, pieces = _transformed(torch, model, dim, library)
    mean, scale, *optional = pieces
    forward, log_prob = _Rows(torch, sample, dim), _Rows(torch, model.log_prob, dim)
    wrapped = [None if f is None else _Rows(torch, f, dim) for f in optional]
    x = design_points(dim, mean, scale)[:_PROBES]
    try:
        inverse, log_det, notes = probe_rows(library, label, forward, log_prob, wrapped[0],
                                             wrapped[1], x)
    except TypeError as error:
        if "dtype" not in str(error):
            raise
        raise TypeError(f"{error} (part of the library computes in torch's default dtype: "
                        "call torch.set_default_dtype(torch.float64) first)") from None
    if narrowed:
        notes.insert(0, promoted_rows_note("torch.set_default_dtype(torch.float64)"))
    with torch.no_grad():
        computed = model.log_prob(torch.from_numpy(forward(x[:8]))).dtype
    if computed != torch.float64:
        message = (f"{library}: its log_prob returns {computed} on float64 input; the "
                   "d-dimensional layers have float64 tolerances, so its rounding alone can "
                   "fail the pointwise layer")
        warnings.warn(message, UserWarning, stacklevel=3)
        notes.append(message)
    return Case(forward, log_prob, dim=dim, inverse=inverse, log_abs_det_jacobian=log_det,
                mean=mean, scale=scale, name=label if name is None else name, library=library,
                notes=tuple(notes))


def _transformed(torch: Any, model: Any, dim: int, library: str) -> tuple[str, Pieces]:
    base, transforms = model, list[Any]()
    while isinstance(base, torch.distributions.TransformedDistribution):  # nested: flattened
        transforms = list(base.transforms) + transforms
        base = base.base_dist
    mean, scale = _diagonal_normal(torch, base, dim)
    compose = torch.distributions.transforms.ComposeTransform(transforms)
    bijective = all(getattr(t, "bijective", False) for t in transforms)

    def inverse(y: Any) -> Any:
        return compose.inv(y)

    def log_det(x: Any) -> Any:
        return _per_row(compose.log_abs_det_jacobian(x, compose(x)), x)

    names = ", ".join(type(t).__name__ for t in transforms) or "identity"
    return (f"{library} {type(model).__name__}[{names}]",
            (mean, scale, inverse if bijective else None, log_det if bijective else None))


def _zuko(torch: Any, flow: Any, dim: int) -> tuple[str, Pieces]:
    mean, scale = _diagonal_normal(torch, flow.base, dim)
    transform = flow.transform  # data -> noise; sampling runs transform.inv

    def log_det(x: Any) -> Any:
        return _per_row(transform.inv.call_and_ladj(x)[1], x)

    return f"zuko {type(flow).__name__}", (mean, scale, transform, log_det)


def _nflows(torch: Any, flow: Any, dim: int) -> tuple[str, Pieces]:
    base = flow._distribution
    shape = tuple(getattr(base, "_shape", ()))
    if shape != (dim,):
        raise ValueError(f"the nflows base has shape {shape}, the flow's event shape is ({dim},)")
    kind = type(base).__name__
    if kind == "StandardNormal":
        mean, scale = np.zeros(dim), np.ones(dim)
    elif kind == "DiagonalNormal":
        mean, scale = _numpy(base.mean_), _numpy(base.log_std_.exp())
    else:
        raise TypeError(f"the nflows base is {kind}: mcflow draws X ~ N(mean, diag(scale^2)), "
                        "so it must be StandardNormal or DiagonalNormal")
    transform = flow._transform  # data -> noise; sampling runs transform.inverse

    def inverse(y: Any) -> Any:
        return transform(y)[0]

    def log_det(x: Any) -> Any:
        return _per_row(transform.inverse(x)[1], x)

    return (f"nflows {type(flow).__name__}[{type(transform).__name__}]",
            (mean, scale, inverse, log_det))


def _diagonal_normal(torch: Any, base: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` of a diagonal normal base of ``dim`` coordinates, else a clear error."""
    distributions = torch.distributions
    shape = tuple(base.batch_shape) + tuple(base.event_shape)
    inner = base.base_dist if isinstance(base, distributions.Independent) else base
    normal = isinstance(inner, distributions.Normal)
    if (normal or isinstance(base, distributions.MultivariateNormal)) and shape != (dim,):
        raise ValueError(f"the base distribution has batch shape {tuple(base.batch_shape)} "
                         f"and event shape {tuple(base.event_shape)}: a flow of event shape "
                         f"({dim},) needs a base of event shape ({dim},)")
    if normal:
        return (_numpy(inner.loc.expand(inner.batch_shape)),
                _numpy(inner.scale.expand(inner.batch_shape)))
    if isinstance(base, distributions.MultivariateNormal):
        tril = base.scale_tril
        if bool((tril.tril(-1) != 0).any()):
            raise ValueError("the base MultivariateNormal has a non-diagonal covariance: mcflow "
                             "draws X ~ N(mean, diag(scale^2)), so put the correlation in the "
                             "flow (e.g. a LowerCholeskyAffine transform) over a diagonal base")
        return _numpy(base.loc), _numpy(tril.diagonal())
    raise TypeError(f"the base distribution is {type(base).__name__}: mcflow draws "
                    f"X ~ N(mean, diag(scale^2)), so the base must be {_BASES}")


def _numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float64).reshape(-1)


def _per_row(log_det: Any, x: Any) -> Any:
    """Sum a log-det over the event: one value per row (elementwise transforms give (m, d))."""
    return log_det.reshape(x.shape[0], -1).sum(-1)


def _eval(torch: Any, model: Any) -> None:
    """Put the copy's modules (an nflows flow, torch/pyro transform modules) in eval mode."""
    if isinstance(model, torch.nn.Module):
        model.eval()
    while isinstance(model, torch.distributions.TransformedDistribution):
        for transform in model.transforms:
            if isinstance(transform, torch.nn.Module):
                transform.eval()
        model = model.base_dist


class _Rows:
    """NumPy ``(m, d)`` in, float64 NumPy out, around a torch function of an (m, d) tensor."""

    def __init__(self, torch: Any, function: Function, dim: int) -> None:
        self.torch, self.function, self.dim = torch, function, dim

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(values, dtype=np.float64).reshape(-1, self.dim)
        m = x.shape[0]
        if m == 0:  # one row of zeros, none kept: the output's trailing shape
            return self(np.zeros((1, self.dim)))[:0]
        parts = []
        with self.torch.no_grad():
            for start in range(0, m, _ROWS):
                block = self.torch.from_numpy(np.array(x[start:start + _ROWS]))
                parts.append(self.function(block).detach().cpu().numpy())
        return np.concatenate(parts).astype(np.float64, copy=False)
