"""``from_torch``: torch.distributions, pyro, zuko and nflows distributions as mcflow cases.

What is taken from the library, for a 1-D distribution over a normal base (event
shape ``(d,)``, d >= 2: an :class:`mcflow.nd.Case`, built by :mod:`mcflow._nd_torch`
from the same copy and the same replayed sampling path):

* **forward**: the library's own sampling path, replayed on mcflow's base
  draws (the base distribution is swapped for one that returns them, and the
  library's ``sample`` runs as it is): ``TransformedDistribution.sample``
  (torch, pyro), ``NormalizingFlow.rsample`` (zuko: ``transform.inv(z)``),
  ``Flow.sample`` (nflows: ``transform.inverse(noise)``).  A disagreement
  between ``sample()`` and ``log_prob()`` is what gets tested.
* **pdf**: ``exp(log_prob)``; **inverse** and log-Jacobians when the library
  has them (so the exact layers run); **cdf** when the library implements one;
  **support** from the distribution's constraint.

The distribution is copied once, its tensors moved to the CPU and promoted to
float64 (``dtype="float32"`` keeps float32); calls run under ``no_grad`` with
validation off, on blocks of 2^20 values; torch's own threads use every core
(calling it from worker threads as well was measured slower).
"""

from __future__ import annotations

import copy
import math
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from mcflow._adapt import (
    Pieces,
    assemble,
    bounds_of,
    check_dtype,
    fingerprint,
    float32_rtol,
    nominal_float32_rtol,
    probe_points,
    promoted_note,
    require,
    warn_float32,
)
from mcflow._user_code import hide_mcflow_frames
from mcflow.case import Case

if TYPE_CHECKING:
    from mcflow._nd_case import Case as NdCase

__all__ = ["from_torch"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_SUPPORTED = ("torch.distributions.TransformedDistribution over a Normal base (pyro's too), "
              "a zuko flow or NormalizingFlow, an nflows Flow")


def from_torch(dist: Any, *, dtype: str = "float64", cdf: bool = True, name: str | None = None,
               concurrent: bool = False) -> Case | NdCase:
    """Make a :class:`~mcflow.Case` of a torch distribution: one line to validate it.

    Parameters
    ----------
    dist : distribution
        A ``torch.distributions.TransformedDistribution`` (or a subclass: pyro's,
        ``LogNormal``...) whose base is ``Normal`` or ``Independent(Normal, 1)``
        (nested ones are flattened), a zuko flow (``zuko.flows.NSF(1)``, called
        without context) or ``NormalizingFlow``, or an nflows ``Flow`` over
        ``StandardNormal([1])`` / ``DiagonalNormal``.  Event shape ``()`` or
        ``(1,)``, batch shape ``()``; or event shape ``(d,)``, d >= 2, over a
        diagonal normal base (a ``MultivariateNormal`` base must have a
        diagonal covariance): a d-dimensional case.
    dtype : {"float64", "float32"}
        float64 (default): a copy of the distribution is promoted to float64
        (a warning says so if the library still computes in float32).
        float32 (1-D only): the claim is tested as the library computes it in
        float32, and the result states the float32 resolution, measured
        against the float64 copy.
    cdf : bool, default True
        Test the library's ``cdf`` too, when it implements one (1-D).
    name : str, optional
        Shown in reports (default: library and class names).
    concurrent : bool, default False
        Call the library from several threads at once (1-D).  Off by default:
        torch already runs each call on all cores, and worker threads on top
        were measured 1.7-2.4x slower (``bench/adapter_throughput.py``).

    Returns
    -------
    Case or nd.Case
        A 1-D distribution: a :class:`~mcflow.Case`, that ``mcflow.validate(case)``
        runs; ``case.notes`` lists what the library did not provide (no
        inverse, no CDF).  Event shape ``(d,)``, d >= 2: an
        :class:`mcflow.nd.Case` (``forward``, ``log_prob``, ``inverse`` and
        ``log_abs_det_jacobian`` from the library, ``mean`` and ``scale`` from
        its base, ``notes``), that ``mcflow.nd.validate(case)`` runs.

    Notes
    -----
    The density is ``p_Y(y) = exp(log_prob(y))``; the forward map is the
    library's sampling path applied to X ~ N(mu, sigma) (d-dimensional:
    N(mean, diag(scale^2))), with the base's parameters read off the base
    distribution (:mod:`mcflow._nd_torch`).
    """
    precision = check_dtype(dtype)
    if _is_jax_object(dist):  # a misuse to name even where torch is not installed
        raise TypeError(f"from_torch takes {_SUPPORTED}; got {type(dist).__name__} "
                        "(a JAX object: use mcflow.from_jax)")
    torch = require("torch", "torch")
    kind, model = _recognise(torch, dist)
    promoted, narrowed = _copy_to(torch, kind, model, torch.float64)
    narrowed = narrowed and kind != "zuko-lazy"  # built after promotion: nothing float32 left
    dim = _dimension(torch, kind, promoted)
    if dim:  # event shape (d,), d >= 2: a d-dimensional case
        from mcflow._nd_torch import torch_case

        kind = "zuko" if kind == "zuko-lazy" else kind
        _no_validation(promoted)
        return torch_case(torch, kind, promoted, _Replay(torch, promoted, _BASE[kind]).sample,
                          dim=dim, library=_library_of(promoted), narrowed=narrowed,
                          precision=precision, name=name)
    tested = promoted if precision == "float64" else \
        _copy_to(torch, kind, model, torch.float32)[0]
    kind = "zuko" if kind == "zuko-lazy" else kind
    pieces = _pieces(torch, kind, tested, precision)
    if precision == "float64" and narrowed:
        promoted_note(pieces, "torch.set_default_dtype(torch.float64)")
    try:
        in_float32 = precision == "float64" and _computes_in_float32(pieces)
    except NotImplementedError:
        raise TypeError(f"{pieces.name}: the library implements no log_prob for it (a "
                        "transform that is not bijective?); validate its forward map with "
                        "mcflow.Transform(..., inverse_branches=...) and pass pdf=") from None
    if in_float32:
        warn_float32(pieces.library, "its log_prob returns float32")
        pieces.dtype = "float32"
        pieces.pdf_rtol = nominal_float32_rtol(np.log(pieces.pdf(
            pieces.forward(probe_points(pieces.mu, pieces.sigma)))))
    elif precision == "float32":
        reference = _pieces(torch, kind, promoted, "float64")
        y = reference.forward(probe_points(reference.mu, reference.sigma))
        pieces.pdf_rtol = float32_rtol(pieces.pdf(y), reference.pdf(y))
    if name is not None:
        pieces.name = name
    return assemble(pieces, use_cdf=cdf, concurrent=concurrent)


# -- recognising the distribution ------------------------------------------------------------


_LIBRARIES = ("pyro", "zuko", "nflows", "torch")


def _library_of(obj: Any) -> str:
    """Return the library a (possibly user-subclassed) object comes from."""
    for cls in type(obj).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in _LIBRARIES:
            return root
    return "torch"


def _is_jax_object(obj: Any) -> bool:
    """Whether an object's class (or a base of it) comes from a JAX library."""
    return any(cls.__module__.split(".", 1)[0] in ("numpyro", "distrax", "flowjax", "jax")
               for cls in type(obj).__mro__)


def _recognise(torch: Any, dist: Any) -> tuple[str, Any]:
    """``(kind, object)``: ``"transformed"``, ``"zuko"``, ``"zuko-lazy"`` or ``"nflows"``."""
    zuko = sys.modules.get("zuko")
    if zuko is not None:
        if isinstance(dist, zuko.lazy.LazyDistribution):
            return "zuko-lazy", dist
        if isinstance(dist, zuko.distributions.NormalizingFlow):
            return "zuko", dist
    flows = sys.modules.get("nflows.flows.base")
    if flows is not None and isinstance(dist, flows.Flow):
        return "nflows", dist
    if isinstance(dist, torch.distributions.TransformedDistribution):
        return "transformed", dist
    if isinstance(dist, torch.distributions.Distribution):
        raise TypeError(f"from_torch needs a transformed normal ({_SUPPORTED}); "
                        f"{type(dist).__name__} is not one")
    raise TypeError(f"from_torch takes {_SUPPORTED}; got {type(dist).__name__}")


# -- one float64 (or float32) CPU copy -------------------------------------------------------


def _copy_to(torch: Any, kind: str, model: Any, dtype: Any) -> tuple[Any, bool]:
    """Return a deep copy of ``model``, every floating tensor on the CPU in ``dtype``.

    Also returns whether a tensor was of a narrower floating type.  Tensors
    computed from parameters (zuko's built distributions hold some) cannot
    be deep-copied: they are copied detached.  A zuko flow is copied as the
    module and then called, so its distribution is built in ``dtype``.
    """
    tensors = [t for t in _reachable(torch, model) if isinstance(t, torch.Tensor)]
    narrowed = any(t.is_floating_point() and t.dtype != torch.float64 for t in tensors)
    memo = {id(tensor): tensor.detach().clone() for tensor in tensors
            if tensor.grad_fn is not None}
    with torch.no_grad():
        clone = copy.deepcopy(model, memo)
        _convert(torch, clone, dtype, set())
        if kind == "zuko-lazy":
            try:
                clone = clone()
            except TypeError as error:
                raise TypeError(f"the zuko flow {type(model).__name__} needs a context "
                                f"({error}): pass flow(context) instead") from None
    return clone, narrowed


def _convert(torch: Any, value: Any, dtype: Any, seen: set[int]) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device="cpu", dtype=dtype) if value.is_floating_point() else value
    if id(value) in seen or isinstance(value, (type, str, bytes, int, float, bool)) \
            or (callable(value) and not hasattr(value, "__dict__")):
        return value
    seen.add(id(value))
    if isinstance(value, torch.nn.Module):
        value.to(device="cpu", dtype=dtype)
    if isinstance(value, list):
        value[:] = [_convert(torch, item, dtype, seen) for item in value]
    elif isinstance(value, dict):
        for key, item in list(value.items()):
            value[key] = _convert(torch, item, dtype, seen)
    elif type(value) is tuple:
        return tuple(_convert(torch, item, dtype, seen) for item in value)
    elif hasattr(value, "__dict__") and type(value).__module__.split(".")[0] not in (
            "builtins", "types", "functools", "numpy", "sys"):
        attributes = vars(value)
        for key, item in list(attributes.items()):
            if key in ("_parameters", "_buffers"):  # converted in place by Module.to
                continue
            if isinstance(item, weakref.ref):  # a cached inverse of the original: rebuilt
                attributes[key] = None
                continue
            converted = _convert(torch, item, dtype, seen)
            if converted is not item:
                attributes[key] = converted
    return value


def _reachable(torch: Any, value: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Tensors, numbers, strings and class names reachable from ``value``, depth first."""
    seen = set() if seen is None else seen
    if isinstance(value, (torch.Tensor, int, float, str)):
        yield value
        return
    if id(value) in seen or isinstance(value, (type, bytes, bool, weakref.ref)) \
            or (type(value).__module__ in ("builtins", "types", "functools") \
            and not isinstance(value, (list, tuple, dict))):
        return
    seen.add(id(value))
    if isinstance(value, (list, tuple)):
        children = list(value)
    elif isinstance(value, dict):
        children = list(value.values())
    elif hasattr(value, "__dict__"):
        yield type(value).__qualname__
        # caches (a transform's last x and y, a cached inverse) are not parameters
        children = [item for key, item in vars(value).items()
                    if not key.startswith(("_cached", "_inv"))]
    else:
        children = []
    for child in children:
        yield from _reachable(torch, child, seen)


def _fingerprint(torch: Any, model: Any) -> str:
    return fingerprint(item.detach().cpu().numpy().tobytes() if isinstance(item, torch.Tensor)
                       else item for item in _reachable(torch, model))


# -- the pieces ------------------------------------------------------------------------------


#: Where each kind of model keeps its base distribution.
_BASE = {"transformed": "base_dist", "zuko": "base", "nflows": "_distribution"}


def _dimension(torch: Any, kind: str, model: Any) -> int:
    """Return d for event shape ``(d,)``, d >= 2, batch shape ``()``; else 0 (the 1-D path)."""
    if kind == "nflows":
        batch, event = (), tuple(getattr(model._distribution, "_shape", ()))
    elif isinstance(model, torch.distributions.Distribution):
        batch, event = tuple(model.batch_shape), tuple(model.event_shape)
    else:
        return 0
    return event[0] if batch == () and len(event) == 1 and event[0] >= 2 else 0


def _shape_of(dist: Any) -> tuple[int, ...]:
    """Batch and event shape together: () or (1,) for a 1-D distribution, else a ValueError."""
    shape = tuple(dist.batch_shape) + tuple(dist.event_shape)
    if shape not in ((), (1,)):
        raise ValueError(_shape_message(tuple(dist.batch_shape), tuple(dist.event_shape)))
    return shape


def _normal_of(torch: Any, base: Any) -> tuple[float, float, tuple[int, ...]]:
    """``(mu, sigma, shape)`` of a normal base, or a TypeError naming what is supported."""
    inner = base
    if isinstance(base, torch.distributions.Independent):
        inner = base.base_dist
    if isinstance(inner, torch.distributions.Normal):
        shape = _shape_of(base)
        return float(inner.loc.reshape(())), float(inner.scale.reshape(())), shape
    raise TypeError(f"the base distribution is {type(base).__name__}: mcflow draws "
                    "X ~ N(mu, sigma), so the base must be torch Normal, Independent(Normal, 1) "
                    "or zuko DiagNormal (nflows: StandardNormal or DiagonalNormal)")


def _shape_message(batch: tuple[int, ...], event: tuple[int, ...]) -> str:
    return (f"from_torch takes a distribution of event shape (), (1,) or (d,) and batch shape "
            f"(); got batch shape {batch} and event shape {event}. For a batch, validate one "
            "element at a time (a Normal of batch shape (d,) under elementwise transforms is "
            "a batch: Independent(base, 1) makes it one distribution of event shape (d,)); for "
            "other event shapes, flatten the event (a ReshapeTransform) or write "
            "mcflow.nd.Case(forward, log_prob, dim) by hand")


def _flatten(torch: Any, dist: Any) -> tuple[Any, list[Any]]:
    """Return the innermost base and every transform, first applied first (flattened)."""
    transforms: list[Any] = []
    while isinstance(dist, torch.distributions.TransformedDistribution):
        transforms = list(dist.transforms) + transforms
        dist = dist.base_dist
    return dist, transforms


def _no_validation(dist: Any) -> None:
    while dist is not None:
        if hasattr(dist, "_validate_args"):
            dist._validate_args = False
        dist = getattr(dist, "base_dist", None) or getattr(dist, "base", None)


class _Call:
    """NumPy in, NumPy out, around a torch function of one tensor (no autograd)."""

    def __init__(self, torch: Any, function: Callable[[Any], Any], dtype: Any,
                 shape: tuple[int, ...]) -> None:
        self.torch, self.function, self.dtype, self.shape = torch, function, dtype, shape

    def tensor(self, values: np.ndarray) -> Any:
        flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        return self.torch.from_numpy(flat).to(self.dtype).reshape((-1, *self.shape))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            out = self.function(self.tensor(values))
        return out.detach().numpy().reshape(np.shape(values))


def _pieces(torch: Any, kind: str, model: Any, precision: str) -> Pieces:
    tdtype = torch.float64 if precision == "float64" else torch.float32
    library = _library_of(model)
    _no_validation(model)
    identity = _fingerprint(torch, model)
    if kind == "zuko":
        return _zuko_pieces(torch, model, tdtype, precision, identity)
    if kind == "nflows":
        return _nflows_pieces(torch, model, tdtype, precision, identity)
    base, transforms = _flatten(torch, model)
    mu, sigma, base_shape = _normal_of(torch, base)
    shape = _shape_of(model)
    replay = _Replay(torch, model, "base_dist")

    def call(function: Callable[[Any], Any], on_x: bool = False) -> _Call:
        return _Call(torch, function, tdtype, base_shape if on_x else shape)

    compose = torch.distributions.transforms.ComposeTransform(transforms)
    bijective = all(getattr(t, "bijective", False) for t in transforms)

    def inverse(y: Any) -> Any:
        return compose.inv(y)

    def forward_ladj(x: Any) -> Any:
        return compose.log_abs_det_jacobian(x, compose(x))

    names = ", ".join(type(t).__name__ for t in transforms) or "identity"
    return Pieces(
        library=library, name=f"{library} {type(model).__name__}[{names}]",
        forward=call(replay.sample, on_x=True), pdf=call(lambda y: model.log_prob(y).exp()),
        mu=mu, sigma=sigma, identity=identity, dtype=precision,
        inverse=call(inverse) if bijective else None,
        forward_ladj=call(forward_ladj, on_x=True) if bijective else None,
        cdf=call(model.cdf), support=_support(model),
        notes=() if bijective else (f"{names}: not all bijective, so no inverse",))


def _support(model: Any) -> tuple[float, float] | None:
    """Return the declared support if it bounds Y (``real`` says nothing mcflow cannot infer)."""
    try:
        bounds = bounds_of(model.support)
    except NotImplementedError:
        return None
    return None if bounds == (-math.inf, math.inf) else bounds


class _Replay:
    """The library's sampling path on given base draws: the base is swapped for a stub."""

    def __init__(self, torch: Any, model: Any, attribute: str) -> None:
        self.torch, self.model, self.attribute = torch, model, attribute
        self.base = getattr(model, attribute)

    def sample(self, x: Any) -> Any:
        stub = _Stub(self.base, x)
        if isinstance(self.model, self.torch.nn.Module):
            clone = copy.copy(self.model)
            clone._modules = dict(self.model._modules)
            clone._modules[self.attribute] = _ModuleStub(self.torch, stub)
            return clone.sample(x.shape[0])
        return self._replayed(self.model, stub).sample((x.shape[0],))

    def _replayed(self, model: Any, stub: _Stub) -> Any:
        """Return a copy of ``model`` whose innermost base returns the draws (nested: copied)."""
        clone = copy.copy(model)
        inner = getattr(model, self.attribute)
        if isinstance(inner, self.torch.distributions.TransformedDistribution):
            setattr(clone, self.attribute, self._replayed(inner, stub))
        else:
            stub.base = inner
            setattr(clone, self.attribute, stub)
        return clone


class _Stub:
    """Stands in for a base distribution: ``sample`` returns the given draws."""

    has_rsample = True

    def __init__(self, base: Any, x: Any) -> None:
        self.base, self.x = base, x

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        return self.x

    rsample = sample

    def __getattr__(self, name: str) -> Any:  # event_shape, batch_shape, ... of the base
        return getattr(self.base, name)


def _ModuleStub(torch: Any, stub: _Stub) -> Any:  # noqa: N802 (a class factory)
    class ModuleStub(torch.nn.Module):
        def sample(self, *args: Any, **kwargs: Any) -> Any:
            return stub.x

    return ModuleStub()


def _zuko_pieces(torch: Any, flow: Any, tdtype: Any, precision: str, identity: str) -> Pieces:
    mu, sigma, _ = _normal_of(torch, flow.base)
    shape = _shape_of(flow)
    transform = flow.transform
    replay = _Replay(torch, flow, "base")

    def call(function: Callable[[Any], Any]) -> _Call:
        return _Call(torch, function, tdtype, shape)

    return Pieces(
        library="zuko", name=f"zuko {type(flow).__name__}", forward=call(replay.sample),
        pdf=call(lambda y: flow.log_prob(y).exp()), mu=mu, sigma=sigma, identity=identity,
        dtype=precision, inverse=call(transform),
        inverse_ladj=call(lambda y: transform.call_and_ladj(y)[1]), support=None,
        notes=("zuko flows have no CDF",))


def _nflows_pieces(torch: Any, flow: Any, tdtype: Any, precision: str, identity: str) -> Pieces:
    base = flow._distribution
    shape = tuple(getattr(base, "_shape", ()))
    if shape != (1,):
        raise ValueError(_shape_message((), shape))
    kind = type(base).__name__
    if kind == "StandardNormal":
        mu, sigma = 0.0, 1.0
    elif kind == "DiagonalNormal":
        mu, sigma = float(base.mean_.reshape(())), float(base.log_std_.exp().reshape(()))
    else:
        raise TypeError(f"the nflows base is {kind}: mcflow draws X ~ N(mu, sigma), so it must "
                        "be StandardNormal or DiagonalNormal")
    transform = flow._transform
    replay = _Replay(torch, flow, "_distribution")

    def call(function: Callable[[Any], Any]) -> _Call:
        return _Call(torch, function, tdtype, (1,))

    return Pieces(
        library="nflows", name=f"nflows {type(flow).__name__}[{type(transform).__name__}]",
        forward=call(replay.sample), pdf=call(lambda y: flow.log_prob(y).exp()), mu=mu,
        sigma=sigma, identity=identity, dtype=precision,
        inverse=call(lambda y: transform(y)[0]),
        inverse_ladj=call(lambda y: transform(y)[1]), support=None,
        notes=("nflows flows have no CDF",))


def _computes_in_float32(pieces: Pieces) -> bool:
    """Whether the library's log_prob stays in float32 on float64 input."""
    call = pieces.pdf
    assert isinstance(call, _Call)
    y = np.asarray(pieces.forward(probe_points(pieces.mu, pieces.sigma)[:8]), dtype=np.float64)
    with call.torch.no_grad():
        return bool(call.function(call.tensor(y)).dtype != call.torch.float64)
