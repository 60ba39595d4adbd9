"""Reference d-dimensional normalizing flows in plain NumPy, with planted density bugs.

Every case pushes the standard normal base ``X ~ N(0, I_d)`` through a fixed, invertible
map ``Y = T(X)`` and ships a *claimed* log-density ``log q(y)`` for ``Y``.  For the correct
cases the claim is exact::

    log q(y) = log N(x; 0, I_d) - log|det dT/dx (x)|,   x = T^-1(y),

evaluated through the inverse.  The buggy cases keep ``forward`` and ``inverse`` exactly
right and only get the log-determinant (and hence the claimed density) wrong, the way
bugs ship in real flow libraries.  They are the targets of a brute-force density
validator: it must pass the correct cases and flag the buggy ones.

All maps are vectorized over rows (``(m, d) -> (m, d)``), run in float64, are bounded in
their log-scales (no overflow for ``|x|`` up to ~8 and well beyond), and are
deterministic (weights come from ``np.random.default_rng`` with a fixed seed per
dimension and layer).  No function here warns (the test suite turns warnings into
errors): a claimed density off the image of ``T`` is ``-inf``, computed without
``log(0)``.

Correct flows (``correct=True``)
--------------------------------
coupling
    One affine coupling layer (RealNVP).  With ``k = d // 2`` the first ``k`` coordinates
    ``x_a`` pass unchanged, the rest become ``y_b = x_b * exp(s(x_a)) + t(x_a)`` with
    ``s = 0.5 * tanh(x_a @ Ws + bs)`` and ``t = x_a @ Wt + bt``;
    ``log|det J| = sum(s)``.
made
    One-pass autoregressive affine layer (MADE style):
    ``y_i = x_i * exp(s_i(x_<i)) + t_i(x_<i)`` with ``s = 0.4 * tanh(x @ (M * Ws) + bs)``
    and ``t = x @ (M * Wt) + bt``.  The mask is ``M[j, i] = 1`` for ``j < i`` (input
    ``j``, output ``i``), so the output-by-input weight matrix ``(M * Ws).T`` is strictly
    lower triangular: ``s_i`` and ``t_i`` see only ``x_<i``.  ``log|det J| = sum(s)``.
    The inverse runs coordinate by coordinate, ``x_i = (y_i - t_i) * exp(-s_i)``.
actnorm
    Per-dimension scale and shift ``y = x * a + b`` with ``a`` in ``[0.5, 2]``;
    ``log|det J| = sum(log a)``.
lu
    ``y = x @ W.T + c`` with ``W = P L U`` (a permutation, a unit lower triangular ``L``
    and an upper triangular ``U`` with nonzero, mixed-sign diagonal);
    ``log|det J| = sum(log|diag U|)``.  The inverse solves with ``W``.
spline
    Elementwise monotone rational-quadratic spline (Durkan et al. 2019, "Neural spline
    flows") on ``[-B, B]``, ``B = 3``, ``K = 8`` bins with fixed random widths, heights and
    interior knot derivatives per dimension; the boundary derivatives are 1, so it joins
    the identity tails outside ``[-B, B]`` with a continuous slope.  The inverse solves
    the bin's quadratic in its stable form; ``log|det J|`` sums the exact log-derivatives.
chain
    ``actnorm -> coupling -> spline -> lu`` (the layers above, in that order); the
    log-determinants add and ``log_prob`` runs through the inverse chain.
exp-first
    ``T(x) = (exp(x_0), x_1, ..., x_{d-1})``, so ``y_0 > 0``; ``log|det J| = x_0`` and
    the claimed density is ``-inf`` for ``y_0 <= 0``.

Planted bugs (``correct=False``)
--------------------------------
coupling-missing-scale
    The coupling layer whose log-determinant leaves out ``s`` of the first transformed
    coordinate (``sum(s[:, 1:])``), in ``log_abs_det_jacobian`` and ``log_prob``.
actnorm-scalar-not-times-d
    A scalar scale ``a = 1.05`` broadcast over all coordinates (``y = a * x + b``) whose
    log-determinant is ``log a`` instead of ``d * log a`` (tensorflow/probability #238).
region-5pct
    The chain with ``log_prob`` raised by ``log(1.05)`` where ``y[:, 0] > 1``: the density
    is 5% too high in one region only.  ``log_abs_det_jacobian`` is the correct one, so
    the bug shows only in ``log_prob``.
made-sign
    The MADE layer with the wrong sign on the last coordinate's log-scale (it adds
    ``-s_{d-1}`` instead of ``+s_{d-1}``), in ``log_abs_det_jacobian`` and ``log_prob``.
spline-tail
    The spline whose log-determinant is off by ``log(1.5)`` where ``|x_0| > B`` (in the
    identity tail of coordinate 0), in ``log_abs_det_jacobian`` and ``log_prob``.
mass-outside-image
    The ``exp-first`` map with a ``log_prob`` that is right for ``y_0 > 0`` but also puts
    the mirrored value ``q(y) = q(-y_0, y_1, ...)`` at ``y_0 < 0``, so ``q`` integrates to
    2.  It is exact at every point ``T`` can reach (every sample) and wrong only off the
    image of ``T``; ``log_abs_det_jacobian`` is right (``= x_0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["FlowCase", "flows", "std_normal_log_prob"]

_LOG_2PI = math.log(2.0 * math.pi)

#: Half-width of the spline's interval; identity tails outside ``[-B, B]``.
SPLINE_BOUND = 3.0
#: Number of spline bins.
SPLINE_BINS = 8

_Fwd = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
_Inv = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FlowCase:
    """One flow ``Y = T(X)``, ``X ~ N(0, I_dim)``, with its claimed density.

    Attributes
    ----------
    name : str
        Label with the dimension, e.g. ``"coupling d=5"``.
    dim : int
        Dimension ``d``.
    forward : callable
        ``(m, d) -> (m, d)``: ``T(x)``, row by row.
    log_prob : callable
        ``(m, d) -> (m,)``: the claimed ``log q(y)`` (``-inf`` off the support).
    inverse : callable or None
        ``(m, d) -> (m, d)``: ``T^-1(y)`` (NaN where ``y`` is off the image of ``T``).
    log_abs_det_jacobian : callable or None
        ``(m, d) -> (m,)``: ``log|det dT/dx|`` at ``x``, as the (possibly buggy) code
        computes it.
    correct : bool
        Whether ``log_prob`` is the exact density of ``T(X)``.
    bug : str
        ``""`` for correct cases, else a short description of the planted bug.
    """

    name: str
    dim: int
    forward: Callable[[np.ndarray], np.ndarray]
    log_prob: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray] | None
    log_abs_det_jacobian: Callable[[np.ndarray], np.ndarray] | None
    correct: bool
    bug: str


def std_normal_log_prob(x: np.ndarray) -> np.ndarray:
    """Log-density of the standard normal ``N(0, I_d)``, row by row.

    Parameters
    ----------
    x : numpy.ndarray
        Points, shape ``(m, d)``.

    Returns
    -------
    numpy.ndarray
        ``log N(x; 0, I_d)``, shape ``(m,)``.
    """
    x = np.asarray(x, dtype=np.float64)
    return -0.5 * np.sum(x * x, axis=1) - 0.5 * x.shape[1] * _LOG_2PI


def _rng(dim: int, layer: int) -> np.random.Generator:
    """Fixed generator for one layer of one dimension."""
    return np.random.default_rng([20240607, dim, layer])


# ---------------------------------------------------------------------------------------
# Layers: each is a pair (fwd, inv) with fwd(x) -> (y, log|det J|(x)) and inv(y) -> x.
# ---------------------------------------------------------------------------------------


def _coupling(dim: int) -> tuple[_Fwd, _Inv, _Fwd]:
    """Affine coupling layer; returns (fwd, inv, fwd with the first scale dropped)."""
    rng = _rng(dim, 1)
    k = dim // 2
    nb = dim - k
    Ws = rng.normal(0.0, 1.5 / math.sqrt(k), (k, nb))
    bs = rng.normal(0.0, 0.5, nb)
    Wt = rng.normal(0.0, 1.0 / math.sqrt(k), (k, nb))
    bt = rng.normal(0.0, 0.5, nb)

    def params(xa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 0.5 * np.tanh(xa @ Ws + bs), xa @ Wt + bt

    def fwd_s(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xa = x[:, :k]
        s, t = params(xa)
        y = np.concatenate([xa, x[:, k:] * np.exp(s) + t], axis=1)
        return y, s

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, s = fwd_s(x)
        return y, np.sum(s, axis=1)

    def fwd_missing(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, s = fwd_s(x)
        return y, np.sum(s[:, 1:], axis=1)

    def inv(y: np.ndarray) -> np.ndarray:
        ya = y[:, :k]
        s, t = params(ya)
        return np.concatenate([ya, (y[:, k:] - t) * np.exp(-s)], axis=1)

    return fwd, inv, fwd_missing


def _made(dim: int) -> tuple[_Fwd, _Inv, _Fwd]:
    """MADE-style autoregressive affine layer; returns (fwd, inv, fwd with a sign bug)."""
    rng = _rng(dim, 2)
    M = np.triu(np.ones((dim, dim)), 1)  # M[j, i] = 1 for j < i: output i sees x_<i
    sc = 1.5 / math.sqrt(max(dim - 1, 1))
    Ws = M * rng.normal(0.0, sc, (dim, dim))
    bs = rng.normal(0.0, 0.5, dim)
    Wt = M * rng.normal(0.0, sc, (dim, dim))
    bt = rng.normal(0.0, 0.5, dim)

    def params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 0.4 * np.tanh(x @ Ws + bs), x @ Wt + bt

    def fwd_s(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, t = params(x)
        return x * np.exp(s) + t, s

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, s = fwd_s(x)
        return y, np.sum(s, axis=1)

    def fwd_sign(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, s = fwd_s(x)
        return y, np.sum(s[:, :-1], axis=1) - s[:, -1]

    def inv(y: np.ndarray) -> np.ndarray:
        x = np.zeros_like(y)
        for i in range(dim):  # s_i, t_i depend on x_<i only, which are already final
            s_i = 0.4 * np.tanh(x @ Ws[:, i] + bs[i])
            t_i = x @ Wt[:, i] + bt[i]
            x[:, i] = (y[:, i] - t_i) * np.exp(-s_i)
        return x

    return fwd, inv, fwd_sign


def _actnorm(dim: int) -> tuple[_Fwd, _Inv]:
    """Per-dimension scale and shift."""
    rng = _rng(dim, 3)
    a = np.exp(rng.uniform(math.log(0.5), math.log(2.0), dim))
    b = rng.normal(0.0, 0.7, dim)
    ld = float(np.sum(np.log(a)))

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x * a + b, np.full(x.shape[0], ld)

    def inv(y: np.ndarray) -> np.ndarray:
        return (y - b) / a

    return fwd, inv


def _actnorm_scalar(dim: int) -> tuple[_Fwd, _Inv]:
    """Scalar scale 1.05 broadcast over all dims, log-det ``log a`` (not ``d log a``)."""
    rng = _rng(dim, 4)
    a = 1.05
    b = rng.normal(0.0, 0.7, dim)
    ld_wrong = math.log(a)

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return a * x + b, np.full(x.shape[0], ld_wrong)

    def inv(y: np.ndarray) -> np.ndarray:
        return (y - b) / a

    return fwd, inv


def _lu(dim: int) -> tuple[_Fwd, _Inv]:
    """Linear layer ``y = x @ W.T + c`` with ``W = P L U``."""
    rng = _rng(dim, 5)
    P = np.eye(dim)[rng.permutation(dim)]
    L = np.tril(rng.normal(0.0, 0.4, (dim, dim)), -1) + np.eye(dim)
    diag = rng.choice([-1.0, 1.0], dim) * np.exp(rng.uniform(math.log(0.5), math.log(2.0), dim))
    U = np.triu(rng.normal(0.0, 0.4, (dim, dim)), 1) + np.diag(diag)
    W = P @ L @ U
    c = rng.normal(0.0, 0.5, dim)
    ld = float(np.sum(np.log(np.abs(diag))))

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x @ W.T + c, np.full(x.shape[0], ld)

    def inv(y: np.ndarray) -> np.ndarray:
        # W x = y - c  <=>  x = U^-1 L^-1 P^T (y - c), solved with the factors.
        z = (y - c) @ P  # rows of P^T (y - c)
        z = np.linalg.solve(L, z.T)
        return np.linalg.solve(U, z).T

    return fwd, inv


def _spline(dim: int, layer: int = 6) -> tuple[_Fwd, _Inv, _Fwd]:
    """Rational-quadratic spline per coordinate; returns (fwd, inv, fwd with a tail bug)."""
    rng = _rng(dim, layer)
    B, K = SPLINE_BOUND, SPLINE_BINS
    widths = rng.uniform(0.3, 1.7, (dim, K))
    widths /= widths.sum(axis=1, keepdims=True)
    heights = rng.uniform(0.3, 1.7, (dim, K))
    heights /= heights.sum(axis=1, keepdims=True)
    zeros = np.zeros((dim, 1))
    xk = -B + 2.0 * B * np.concatenate([zeros, np.cumsum(widths, axis=1)], axis=1)
    yk = -B + 2.0 * B * np.concatenate([zeros, np.cumsum(heights, axis=1)], axis=1)
    xk[:, 0], xk[:, -1], yk[:, 0], yk[:, -1] = -B, B, -B, B
    deriv = np.ones((dim, K + 1))  # boundary derivatives 1: continuous with the tails
    deriv[:, 1:-1] = np.exp(rng.uniform(-1.0, 1.0, (dim, K - 1)))
    wk = np.diff(xk, axis=1)
    hk = np.diff(yk, axis=1)
    sk = hk / wk

    def bin_params(i: int, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        d0, d1 = deriv[i, idx], deriv[i, idx + 1]
        return xk[i, idx], yk[i, idx], wk[i, idx], hk[i, idx], sk[i, idx], d0, d1

    def coord_fwd(i: int, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = xi.copy()
        ld = np.zeros_like(xi)
        inside = np.abs(xi) <= B
        u = xi[inside]
        idx = np.clip(np.searchsorted(xk[i], u, side="right") - 1, 0, K - 1)
        x0, y0, w, h, s, d0, d1 = bin_params(i, idx)
        z = np.clip((u - x0) / w, 0.0, 1.0)
        zz = z * (1.0 - z)
        den = s + (d1 + d0 - 2.0 * s) * zz
        y[inside] = y0 + h * (s * z * z + d0 * zz) / den
        num = d1 * z * z + 2.0 * s * zz + d0 * (1.0 - z) ** 2
        ld[inside] = 2.0 * np.log(s) + np.log(num) - 2.0 * np.log(den)
        return y, ld

    def coord_inv(i: int, yi: np.ndarray) -> np.ndarray:
        x = yi.copy()
        inside = np.abs(yi) <= B
        v = yi[inside]
        idx = np.clip(np.searchsorted(yk[i], v, side="right") - 1, 0, K - 1)
        x0, y0, w, h, s, d0, d1 = bin_params(i, idx)
        dy = v - y0
        g = d1 + d0 - 2.0 * s
        qa = h * (s - d0) + dy * g
        qb = h * d0 - dy * g
        qc = -s * dy
        disc = np.maximum(qb * qb - 4.0 * qa * qc, 0.0)
        z = np.clip(2.0 * qc / (-qb - np.sqrt(disc)), 0.0, 1.0)
        x[inside] = x0 + z * w
        return x

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.empty_like(x)
        ld = np.zeros(x.shape[0])
        for i in range(dim):
            y[:, i], ld_i = coord_fwd(i, x[:, i])
            ld += ld_i
        return y, ld

    def fwd_tail(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, ld = fwd(x)
        return y, ld + np.where(np.abs(x[:, 0]) > B, math.log(1.5), 0.0)

    def inv(y: np.ndarray) -> np.ndarray:
        x = np.empty_like(y)
        for i in range(dim):
            x[:, i] = coord_inv(i, y[:, i])
        return x

    return fwd, inv, fwd_tail


def _exp_first() -> tuple[_Fwd, _Inv]:
    """``(x_0, ...) -> (exp(x_0), ...)``."""

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = x.copy()
        y[:, 0] = np.exp(x[:, 0])
        return y, x[:, 0].copy()

    def inv(y: np.ndarray) -> np.ndarray:
        x = y.copy()
        y0 = y[:, 0]
        x[:, 0] = np.log(np.where(y0 > 0.0, y0, np.nan))  # log(nan) does not warn
        return x

    return fwd, inv


def _chain(*layers: tuple[_Fwd, _Inv]) -> tuple[_Fwd, _Inv]:
    """Compose layers, first applied first; the log-determinants add."""

    def fwd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ld = np.zeros(x.shape[0])
        for f, _ in layers:
            x, ld_i = f(x)
            ld = ld + ld_i
        return x, ld

    def inv(y: np.ndarray) -> np.ndarray:
        for _, g in reversed(layers):
            y = g(y)
        return y

    return fwd, inv


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------


def _checked(dim: int) -> Callable[[np.ndarray], np.ndarray]:
    def check(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != dim:
            raise ValueError(f"expected an (m, {dim}) array, got shape {a.shape}")
        return a

    return check


def _make(
    label: str,
    dim: int,
    fwd: _Fwd,
    inv: _Inv,
    *,
    bug: str = "",
    log_prob: Callable[[np.ndarray], np.ndarray] | None = None,
) -> FlowCase:
    """Wrap a (fwd, inv) pair into a FlowCase; log_prob defaults to the inverse route."""
    check = _checked(dim)

    def forward(x: np.ndarray) -> np.ndarray:
        return fwd(check(x))[0]

    def log_abs_det_jacobian(x: np.ndarray) -> np.ndarray:
        return fwd(check(x))[1]

    def inverse(y: np.ndarray) -> np.ndarray:
        return inv(check(y))

    def route(y: np.ndarray) -> np.ndarray:
        x = inv(check(y))
        ok = np.all(np.isfinite(x), axis=1)
        out = np.full(x.shape[0], -np.inf)
        if np.any(ok):
            xo = x[ok]
            out[ok] = std_normal_log_prob(xo) - fwd(xo)[1]
        return out

    return FlowCase(
        name=f"{label} d={dim}",
        dim=dim,
        forward=forward,
        log_prob=route if log_prob is None else log_prob,
        inverse=inverse,
        log_abs_det_jacobian=log_abs_det_jacobian,
        correct=not bug,
        bug=bug,
    )


def flows(dim: int) -> list[FlowCase]:
    """All reference flows of one dimension: the correct ones, then the planted bugs.

    Parameters
    ----------
    dim : int
        Dimension ``d >= 2`` (used with 2, 5 and 20).

    Returns
    -------
    list of FlowCase
        ``coupling``, ``made``, ``actnorm``, ``lu``, ``spline``, ``chain`` and
        ``exp-first`` (``correct=True``), then ``coupling-missing-scale``,
        ``actnorm-scalar-not-times-d``, ``region-5pct``, ``made-sign``, ``spline-tail``
        and ``mass-outside-image`` (``correct=False``); each named ``"<label> d=<dim>"``.
        The weights are fixed per ``dim``: two calls give the same maps.
    """
    if int(dim) != dim or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    dim = int(dim)
    check = _checked(dim)

    c_fwd, c_inv, c_fwd_missing = _coupling(dim)
    m_fwd, m_inv, m_fwd_sign = _made(dim)
    actnorm = _actnorm(dim)
    lu = _lu(dim)
    s_fwd, s_inv, s_fwd_tail = _spline(dim)
    chain = _chain(actnorm, (c_fwd, c_inv), (s_fwd, s_inv), lu)
    e_fwd, e_inv = _exp_first()

    chain_case = _make("chain", dim, *chain)
    log_105 = math.log(1.05)

    def region_log_prob(y: np.ndarray) -> np.ndarray:
        y = check(y)
        return chain_case.log_prob(y) + np.where(y[:, 0] > 1.0, log_105, 0.0)

    def mirrored_log_prob(y: np.ndarray) -> np.ndarray:
        y = check(y)
        y0 = y[:, 0]
        folded = y.copy()
        folded[:, 0] = np.abs(y0)
        out = np.full(y.shape[0], -np.inf)
        nz = y0 != 0.0
        x = e_inv(folded[nz])
        out[nz] = std_normal_log_prob(x) - x[:, 0]
        return out

    return [
        _make("coupling", dim, c_fwd, c_inv),
        _make("made", dim, m_fwd, m_inv),
        _make("actnorm", dim, *actnorm),
        _make("lu", dim, *lu),
        _make("spline", dim, s_fwd, s_inv),
        chain_case,
        _make("exp-first", dim, e_fwd, e_inv),
        _make(
            "coupling-missing-scale",
            dim,
            c_fwd_missing,
            c_inv,
            bug="coupling log-det omits s of the first transformed coordinate",
        ),
        _make(
            "actnorm-scalar-not-times-d",
            dim,
            *_actnorm_scalar(dim),
            bug="scalar scale 1.05 broadcast over d dims, log-det log(a) not d*log(a)",
        ),
        _make(
            "region-5pct",
            dim,
            *chain,
            bug="chain log_prob + log(1.05) where y[:, 0] > 1 (5% too dense there only)",
            log_prob=region_log_prob,
        ),
        _make(
            "made-sign",
            dim,
            m_fwd_sign,
            m_inv,
            bug="MADE log-det adds -s instead of +s for the last coordinate",
        ),
        _make(
            "spline-tail",
            dim,
            s_fwd_tail,
            s_inv,
            bug="spline log-det off by log(1.5) in the tails |x_0| > B of coordinate 0",
        ),
        _make(
            "mass-outside-image",
            dim,
            e_fwd,
            e_inv,
            bug="log_prob also mirrors the density to y_0 < 0, off T's image (integrates to 2)",
            log_prob=mirrored_log_prob,
        ),
    ]
