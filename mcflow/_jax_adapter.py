"""``from_jax``: numpyro, distrax and flowjax distributions as mcflow cases.

What is taken from the library, for a 1-D distribution over a normal base (event
shape ``(d,)``, d >= 2: an :class:`mcflow.nd.Case`, built by :mod:`mcflow._nd_jax`
from the same float64 copy and the same sampling path):

* **forward**: the library's sampling path on mcflow's base draws: numpyro's
  ``TransformedDistribution.sample`` and distrax's ``Transformed.sample`` run
  as they are with the base swapped for one that returns the draws; flowjax
  applies ``bijection.transform`` per sample, as its ``_sample`` does.
* **pdf**: ``exp(log_prob)``; **inverse** and log-Jacobians when the library
  has them; **cdf** when it implements one (numpyro); **support** from
  numpyro's constraint.

float64 by default: every call runs under ``jax.enable_x64(True)`` (the user's
global setting is left alone) on a copy whose floating leaves are promoted.
Functions are jitted once per input size, and sizes are padded to powers of
two so that a run compiles a handful of times, not once per batch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
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

__all__ = ["from_jax"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_SUPPORTED = ("a numpyro TransformedDistribution, a distrax Transformed or a flowjax "
              "Transformed, over a Normal base")
#: Smallest padded call: tiny probes share one compiled size.
_MIN_BUCKET = 1024


def from_jax(dist: Any, *, dtype: str = "float64", cdf: bool = True, name: str | None = None,
             concurrent: bool = False) -> Case | NdCase:
    """Make a :class:`~mcflow.Case` of a JAX distribution: one line to validate it.

    Parameters
    ----------
    dist : distribution
        A numpyro ``TransformedDistribution`` over ``Normal`` (or
        ``Independent(Normal)``), a distrax ``Transformed`` over ``Normal``, or
        a flowjax ``Transformed`` over ``Normal`` / ``StandardNormal`` (a
        flowjax flow such as ``masked_autoregressive_flow(key, base_dist=
        Normal(jnp.zeros(1)))``).  Shape ``()`` or ``(1,)``; or event shape
        ``(d,)``, d >= 2, batch shape ``()``, over a diagonal normal base
        (numpyro ``Normal(...).to_event(1)`` or a diagonal ``MultivariateNormal``,
        distrax ``MultivariateNormalDiag`` or ``Independent(Normal)``, flowjax
        ``StandardNormal((d,))`` or ``Normal``): a d-dimensional case.
    dtype : {"float64", "float32"}
        float64 (default): calls run with ``jax.enable_x64(True)`` on a copy
        with float64 leaves.  float32 (1-D only): the claim as JAX computes it
        in float32, with its measured float32 resolution stated in the result.
    cdf : bool, default True
        Test the library's ``cdf`` too, when it implements one (1-D).
    name : str, optional
        Shown in reports (default: library and class names).
    concurrent : bool, default False
        Call the library from several threads at once (1-D).  Off by default:
        XLA already runs each call on all cores, and worker threads on top
        were measured 3.6x slower (``bench/adapter_throughput.py``).

    Returns
    -------
    Case or nd.Case
        A 1-D distribution: a :class:`~mcflow.Case`, that ``mcflow.validate(case)``
        runs.  Event shape ``(d,)``, d >= 2: an :class:`mcflow.nd.Case`
        (``forward``, ``log_prob``, ``inverse`` and ``log_abs_det_jacobian``
        from the library, ``mean`` and ``scale`` from its base, ``notes``),
        that ``mcflow.nd.validate(case)`` runs (:mod:`mcflow._nd_jax`).
    """
    precision = check_dtype(dtype)
    library = type(dist).__module__.split(".", 1)[0]
    # Checked before jax is imported: a torch object is a misuse to name, not a missing jax.
    if library not in ("numpyro", "distrax", "flowjax"):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got {type(dist).__name__}"
                        + (" (a torch object: use mcflow.from_torch)" if library in
                           ("torch", "pyro", "zuko", "nflows") else ""))
    jax = require("jax", "jax")
    with jax.enable_x64(True):  # distrax builds arrays of its dtype to infer shapes
        dim = _dimension(library, dist)
    if dim:  # event shape (d,), d >= 2: a d-dimensional case
        from mcflow._nd_jax import jax_case

        model, narrowed = _promoted(jax, dist, "float64")
        return jax_case(jax, library, model, _sampler(jax, library, model), dim=dim,
                        narrowed=narrowed, precision=precision, name=name)
    pieces = _pieces(jax, library, dist, precision)
    if precision == "float32":
        reference = _pieces(jax, library, dist, "float64")
        y = reference.forward(probe_points(reference.mu, reference.sigma))
        pieces.pdf_rtol = float32_rtol(pieces.pdf(y), reference.pdf(y))
    elif pieces.dtype == "float32":
        warn_float32(library, "its log_prob returns float32 under jax_enable_x64")
        y = pieces.forward(probe_points(pieces.mu, pieces.sigma))
        pieces.pdf_rtol = nominal_float32_rtol(np.log(pieces.pdf(y)))
    if name is not None:
        pieces.name = name
    return assemble(pieces, use_cdf=cdf, concurrent=concurrent)


class _Jitted:
    """NumPy in, NumPy out, around a jitted JAX function of one flat array."""

    def __init__(self, jax: Any, function: Callable[[Any], Any], dtype: str,
                 shape: tuple[int, ...]) -> None:
        self.jax, self.dtype, self.shape = jax, dtype, shape
        with jax.enable_x64(dtype == "float64"):
            self.compiled = jax.jit(function)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        size = flat.size
        padded = max(_MIN_BUCKET, 1 << max(size - 1, 0).bit_length())
        block = np.full(padded, flat[0] if size else 0.0, dtype=self.dtype)
        block[:size] = flat
        with self.jax.enable_x64(self.dtype == "float64"):
            out = self.compiled(block.reshape((padded, *self.shape)))
            out = np.asarray(out).reshape(padded, -1)[:size, 0]
        return out.reshape(np.shape(values))

    def output_dtype(self) -> str:
        """Return the dtype the library computes in for this call's input dtype."""
        with self.jax.enable_x64(self.dtype == "float64"):
            block = self.jax.ShapeDtypeStruct((_MIN_BUCKET, *self.shape), self.dtype)
            return str(self.jax.eval_shape(self.compiled, block).dtype)


def _promoted(jax: Any, dist: Any, dtype: str) -> tuple[Any, bool]:
    """``dist`` with its floating leaves in ``dtype`` (a copy; the user's object is kept).

    Also returns whether a leaf was of a narrower floating type.
    """
    jnp = jax.numpy
    narrowed = False

    def convert(leaf: Any) -> Any:
        nonlocal narrowed
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating):
            narrowed = narrowed or leaf.dtype != jnp.float64
            return jnp.asarray(leaf, dtype=dtype)
        return leaf

    with jax.enable_x64(dtype == "float64"):
        try:
            return jax.tree_util.tree_map(convert, dist), narrowed
        except Exception:  # not a pytree all the way down: used as it is (checked after)
            return dist, False


def _leaves_fingerprint(jax: Any, dist: Any) -> str:
    try:
        leaves = jax.tree_util.tree_leaves(dist)
    except Exception:  # not a pytree: the class names alone
        leaves = []
    parts: list[Any] = [type(dist).__qualname__]
    for leaf in leaves:
        parts.append(np.asarray(leaf).tobytes() if hasattr(leaf, "dtype") else repr(leaf))
    return fingerprint(parts)


def _pieces(jax: Any, library: str, dist: Any, precision: str) -> Pieces:
    model, narrowed = _promoted(jax, dist, precision)
    identity = _leaves_fingerprint(jax, dist)
    if library == "numpyro":
        pieces = _numpyro(jax, model, precision)
    elif library == "distrax":
        pieces = _distrax(jax, model, precision)
    else:
        pieces = _flowjax(jax, model, precision)
    pieces.identity = identity
    if precision == "float64" and narrowed:
        promoted_note(pieces, "jax.config.update('jax_enable_x64', True) first")
    assert isinstance(pieces.pdf, _Jitted)
    if precision == "float64" and pieces.pdf.output_dtype() != "float64":
        pieces.dtype = "float32"
    return pieces


def _shape_message(shape: tuple[int, ...]) -> str:
    return (f"from_jax takes a distribution of shape () or (1,), or of event shape (d,) and "
            f"batch shape (); got shape {shape} (batch and event shapes together). For a "
            "batch, validate one element at a time (a base of batch shape (d,) under "
            "elementwise transforms is a batch: base.to_event(1) or Independent makes it one "
            "distribution of event shape (d,)); for other event shapes, flatten the event or "
            "write mcflow.nd.Case(forward, log_prob, dim) by hand")


def _dimension(library: str, dist: Any) -> int:
    """Return d for event shape ``(d,)``, d >= 2, batch shape ``()``; else 0 (the 1-D path)."""
    if library == "flowjax":
        batch, event = (), tuple(getattr(dist, "shape", ()))
    else:
        batch = tuple(getattr(dist, "batch_shape", ()))
        event = tuple(getattr(dist, "event_shape", ()))
    return event[0] if batch == () and len(event) == 1 and event[0] >= 2 else 0


def _sampler(jax: Any, library: str, dist: Any) -> Callable[[Any], Any]:
    """Return the library's sampling path on given base draws, as the 1-D pieces replay it."""
    if library == "flowjax":
        return lambda x: jax.vmap(dist.bijection.transform)(x)

    def forward(x: Any) -> Any:  # the base replayed: sample() returns the draws
        clone = copy.copy(dist)
        if library == "numpyro":
            clone.base_dist = _Stub(dist.base_dist, x)
            return clone.sample(None, (x.shape[0],))
        clone._distribution = _Stub(dist.distribution, x)
        return clone.sample(seed=0, sample_shape=(x.shape[0],))

    return forward


def _one_dimensional(shape: tuple[int, ...]) -> tuple[int, ...]:
    if shape not in ((), (1,)):
        raise ValueError(_shape_message(shape))
    return shape


def _base_message(base: Any, supported: str) -> str:
    return (f"the base distribution is {type(base).__name__}: mcflow draws X ~ N(mu, sigma), "
            f"so the base must be {supported}")


def _numpyro(jax: Any, dist: Any, precision: str) -> Pieces:
    import numpyro.distributions as nd

    if not isinstance(dist, nd.TransformedDistribution):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got numpyro {type(dist).__name__}")
    base = dist.base_dist
    inner = base.base_dist if isinstance(base, nd.Independent) else base
    if not isinstance(inner, nd.Normal):
        raise TypeError(_base_message(base, "numpyro Normal or Independent(Normal)"))
    shape = _one_dimensional(tuple(dist.batch_shape) + tuple(dist.event_shape))
    base_shape = _one_dimensional(tuple(base.batch_shape) + tuple(base.event_shape))
    compose = nd.transforms.ComposeTransform(list(dist.transforms))

    def forward(x: Any) -> Any:  # TransformedDistribution.sample with the base replayed
        clone = copy.copy(dist)
        clone.base_dist = _Stub(base, x)
        return clone.sample(None, (x.shape[0],))

    names = ", ".join(type(t).__name__ for t in dist.transforms)

    def jit(function: Callable[[Any], Any], on_x: bool = False) -> _Jitted:
        return _Jitted(jax, function, precision, base_shape if on_x else shape)

    support = bounds_of(dist.support)
    return Pieces(
        library="numpyro", name=f"numpyro {type(dist).__name__}[{names}]",
        forward=jit(forward, on_x=True), pdf=jit(lambda y: jax.numpy.exp(dist.log_prob(y))),
        mu=_scalar(inner.loc), sigma=_scalar(inner.scale), identity="", dtype=precision,
        inverse=jit(lambda y: compose.inv(y)),
        forward_ladj=jit(lambda x: compose.log_abs_det_jacobian(x, compose(x)), on_x=True),
        cdf=jit(lambda y: dist.cdf(y)),
        support=None if support == (-math.inf, math.inf) else support)


def _distrax(jax: Any, dist: Any, precision: str) -> Pieces:
    import distrax

    if not isinstance(dist, distrax.Transformed):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got distrax {type(dist).__name__}")
    base = dist.distribution
    if not isinstance(base, distrax.Normal):
        raise TypeError(_base_message(base, "distrax Normal"))
    shape = _one_dimensional(tuple(dist.batch_shape) + tuple(dist.event_shape))
    bijector = dist.bijector

    def forward(x: Any) -> Any:  # Transformed.sample with the base replayed
        clone = copy.copy(dist)
        clone._distribution = _Stub(base, x)
        return clone.sample(seed=0, sample_shape=(x.shape[0],))

    def jit(function: Callable[[Any], Any]) -> _Jitted:
        return _Jitted(jax, function, precision, shape)

    return Pieces(
        library="distrax", name=f"distrax {type(dist).__name__}[{type(bijector).__name__}]",
        forward=jit(forward), pdf=jit(lambda y: jax.numpy.exp(dist.log_prob(y))),
        mu=_scalar(base.loc), sigma=_scalar(base.scale), identity="", dtype=precision,
        inverse=jit(bijector.inverse), forward_ladj=jit(bijector.forward_log_det_jacobian),
        cdf=None, notes=("distrax Transformed has no CDF",))


def _flowjax(jax: Any, dist: Any, precision: str) -> Pieces:
    from flowjax.distributions import AbstractTransformed, Normal, StandardNormal

    if not isinstance(dist, AbstractTransformed):
        raise TypeError(f"from_jax takes {_SUPPORTED}; got flowjax {type(dist).__name__}")
    base = dist.base_dist
    if isinstance(base, Normal):
        mu, sigma = _scalar(base.loc), _scalar(base.scale)
    elif isinstance(base, StandardNormal):
        mu, sigma = 0.0, 1.0
    else:
        raise TypeError(_base_message(base, "flowjax Normal or StandardNormal"))
    shape = _one_dimensional(tuple(dist.shape))
    if dist.cond_shape is not None:
        raise TypeError("this flowjax distribution is conditional: mcflow validates "
                        "unconditional ones (bind the condition first)")
    bijection = dist.bijection

    def per_sample(method: Callable[[Any], Any], part: int | None = None
                   ) -> Callable[[Any], Any]:
        mapped = jax.vmap(method)
        return mapped if part is None else (lambda v: mapped(v)[part])

    def jit(function: Callable[[Any], Any]) -> _Jitted:
        return _Jitted(jax, function, precision, shape)

    return Pieces(
        library="flowjax", name=f"flowjax {type(dist).__name__}[{type(bijection).__name__}]",
        forward=jit(per_sample(bijection.transform)),
        pdf=jit(lambda y: jax.numpy.exp(dist.log_prob(y))), mu=mu, sigma=sigma, identity="",
        dtype=precision, inverse=jit(per_sample(bijection.inverse)),
        forward_ladj=jit(per_sample(bijection.transform_and_log_det, 1)), cdf=None,
        notes=("flowjax distributions have no CDF",))


def _scalar(value: Any) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.size != 1:
        raise ValueError(_shape_message(array.shape))
    return float(array.reshape(()))


class _Stub:
    """Stands in for a base distribution: ``sample`` returns the given draws."""

    def __init__(self, base: Any, x: Any) -> None:
        self.base, self.x = base, x

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        return self.x

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.x

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)
