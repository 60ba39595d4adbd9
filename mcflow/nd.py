"""Validate the density of a d-dimensional flow by brute force: ``nd.Case`` and ``nd.validate``.

For Y = T(X), X ~ N(mean, diag(scale^2)) in R^d, and a claimed log-density
log q, four layers (:mod:`mcflow._nd_layers`) each report on their own:
``structure`` and ``pointwise`` (deterministic: the change-of-variables
residual ``log q(T x) + log|det J_T(x)| - log p_X(x)`` must vanish against a
finite-difference Jacobian), ``normalisation`` (importance sampling of the
integral of q) and ``mc_vs_claimed`` (the fraction of all n samples in a few
regions against q's mass there, :mod:`mcflow._nd_regions`).  The statistical
layers share ``alpha`` (Bonferroni).  Memory is fixed: samples stream in blocks
of 65,536 rows, and sums are reduced in block order, so a seed gives bitwise the
same result on any number of threads.

Examples
--------
>>> import numpy as np
>>> from mcflow import nd
>>> A = np.array([[2.0, 0.0], [0.5, 1.0]])
>>> def log_q(y):
...     x = np.linalg.solve(A, y.T).T
...     return -0.5 * (x * x).sum(axis=1) - np.log(2 * np.pi) - np.log(2.0)
>>> r = nd.validate(nd.Case(lambda x: x @ A.T, log_q, dim=2), n=10**4, seed=0)
>>> r.verdict
'pass'
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcflow import _nd_layers as layers
from mcflow._checks import check_alpha, check_n
from mcflow._nd_regions import Regions, fit_regions, regions_layer
from mcflow._nd_stream import blocks, rows
from mcflow._seeds import case_seed
from mcflow.result import LayerResult

__all__ = ["Case", "NdResult", "validate"]

Array = Callable[[np.ndarray], Any]
#: Monte Carlo rows the pointwise layer checks besides the design points.
POINTWISE_POINTS = 2048
#: Pilot rows (their own stream) that place the test densities and the proposal.
_PILOT = 2**15
#: Proposal draws: n, but at least 2^18 (region masses need an ESS of 1000) and at
#: most 2^22 (each costs one log q).
_MIN_PROPOSAL, _MAX_PROPOSAL = 2**18, 2**22
#: Fewest samples of T.
_MIN_N = 4096
#: Degrees of freedom of the Student t proposal.
_NU = 5


@dataclass(frozen=True, eq=False)  # its mean and scale are arrays: compared by identity
class Case:
    """A d-dimensional flow and the density claimed for its output.

    Parameters
    ----------
    forward : callable
        ``(m, d) -> (m, d)``: T applied to base draws (the sampling path).
    log_prob : callable
        ``(m, d) -> (m,)``: the claimed ``log q(y)``.
    dim : int
        d.
    inverse, log_abs_det_jacobian : callable, optional
        ``T^-1`` (round trip checked) and ``log|det dT/dx|`` at x as the code
        computes it (checked against finite differences; splits a pointwise
        failure into a log-det error or a density-path error).
    mean, scale : float or array_like of d
        The base normal N(mean, diag(scale^2)).
    name : str, optional
    library : str, optional
        Where the flow comes from (set by the adapters, shown in reports).
    notes : tuple of str
        What an adapter could not use or had to change; copied into the result.
    """

    forward: Array
    log_prob: Array
    dim: int
    inverse: Array | None = None
    log_abs_det_jacobian: Array | None = None
    mean: Any = 0.0
    scale: Any = 1.0
    name: str | None = None
    library: str | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, (int, np.integer)) \
                or self.dim < 1:
            raise ValueError(f"dim must be a positive integer, got {self.dim!r}")
        for what in ("forward", "log_prob", "inverse", "log_abs_det_jacobian"):
            value = getattr(self, what)
            if value is not None and not callable(value):
                raise TypeError(f"{what} must be a callable on (m, d) arrays, got {value!r}")
        for what in ("mean", "scale"):
            values = np.broadcast_to(np.asarray(getattr(self, what), dtype=np.float64),
                                     (int(self.dim),)).copy()
            if not np.all(np.isfinite(values)) or (what == "scale" and np.any(values <= 0)):
                raise ValueError(f"{what} must be finite{' and > 0' if what == 'scale' else ''}"
                                 f" for each of the {self.dim} coordinates, got {values}")
            object.__setattr__(self, what, values)
        object.__setattr__(self, "dim", int(self.dim))
        object.__setattr__(self, "notes", tuple(str(note) for note in self.notes))
        if self.name is None:
            object.__setattr__(self, "name", getattr(self.forward, "__name__", "flow"))


@dataclass(frozen=True)
class NdResult:
    """Outcome of :func:`validate`: the verdict and every layer."""

    verdict: str
    name: str
    dim: int
    n: int
    seed: int
    alpha: float
    layers: tuple[LayerResult, ...]
    counters: dict[str, int]
    seconds: dict[str, float]
    worst_x: np.ndarray | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def failed_layers(self) -> tuple[str, ...]:
        """Names of the layers that failed."""
        return tuple(layer.name for layer in self.layers if layer.status == "fail")

    def summary(self) -> str:
        """Return a few lines for a terminal or an assertion message."""
        lines = [f"{self.verdict.upper()}: {self.name} (d = {self.dim}), n = {self.n:,}, "
                 f"seed = {self.seed}, alpha = {self.alpha:g}"]
        lines += [f"  [{layer.name}] {layer.status}: {layer.message}" for layer in self.layers]
        lines += [f"  note: {note}" for note in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable view (schema ``mcflow.nd/1``)."""
        return json.loads(json.dumps({
            "schema": "mcflow.nd/1", "verdict": self.verdict, "name": self.name,
            "dim": self.dim, "n": self.n, "seed": self.seed, "alpha": self.alpha,
            "failed_layers": list(self.failed_layers),
            "layers": [layer.to_dict() for layer in self.layers],
            "counters": self.counters, "seconds": self.seconds,
            "worst_x": None if self.worst_x is None else self.worst_x.tolist(),
            "warnings": list(self.warnings),
        }, default=float))

    def report(self, directory: str | Path) -> Path:
        """Write ``result.json`` and ``summary.md`` into ``directory`` (atomically); return it."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "result.json", json.dumps(self.to_dict(), indent=2))
        _write(folder / "summary.md", f"# {self.name}: {self.verdict.upper()}\n\n```\n"
               f"{self.summary()}\n```\n")
        return folder


def _write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


def _calls(case: Case) -> tuple[Array, Array]:
    def forward(x: np.ndarray) -> np.ndarray:
        out = np.asarray(case.forward(x.copy()), dtype=np.float64)
        if out.shape != x.shape:
            raise TypeError(f"forward of {case.name!r} returned shape {out.shape} for input "
                            f"shape {x.shape}")
        return out

    def log_prob(y: np.ndarray) -> np.ndarray:
        out = np.asarray(case.log_prob(y.copy()), dtype=np.float64)
        if out.size != y.shape[0]:
            raise TypeError(f"log_prob of {case.name!r} returned shape {out.shape} for "
                            f"{y.shape[0]} rows")
        return out.reshape(-1)

    return forward, log_prob


def validate(case: Case, n: int = 10**7, alpha: float = 0.01, seed: int | None = None
             ) -> NdResult:
    """Check a d-dimensional claimed density against brute force, in four layers.

    Parameters
    ----------
    case : Case
        The flow and its claim.
    n : int, default 1e7
        Monte Carlo samples of T (and ``n`` proposal draws, within [2^18, 2^22]).
    alpha : float, default 0.01
        Probability that a correct density fails, split over the two statistical layers.
    seed : int, optional
        None: derived from the case's name and dimension (reproducible).

    Returns
    -------
    NdResult
    """
    if not isinstance(case, Case):
        raise TypeError(f"case must be an nd.Case, got {type(case).__name__}")
    n, alpha = check_n(n), check_alpha(alpha)
    if n < _MIN_N:
        raise ValueError(f"n must be at least {_MIN_N} (the region fractions' binomial errors "
                         f"need a few samples per region), got {n}")
    seed = case_seed("nd", case.name, case.dim) if seed is None else int(seed)
    started, seconds = time.perf_counter(), {}
    forward, log_prob = _calls(case)
    d, mean, scale = case.dim, case.mean, case.scale
    design = layers.design_points(d, mean, scale)
    first = mean + scale * rows(seed, "samples", 0, min(n, POINTWISE_POINTS), d)
    found = [layers.structure_layer(forward, log_prob, case.inverse,
                                     case.log_abs_det_jacobian, design)]
    pointwise = layers.pointwise_layer(forward, log_prob, case.log_abs_det_jacobian,
                                       np.concatenate([first, design]), mean, scale)
    found.append(pointwise.layer)
    seconds["deterministic"] = time.perf_counter() - started
    pilot_x = mean + scale * rows(seed, "pilot", 0, _PILOT, d)
    with np.errstate(all="ignore"):
        pilot_y = forward(pilot_x)
    regions = fit_regions(pilot_y)
    proposal = _Proposal.fit(pilot_y)
    normalisation, claimed = _proposal_pass(log_prob, proposal, regions, seed,
                                            min(max(n, _MIN_PROPOSAL), _MAX_PROPOSAL), alpha / 2)
    found.append(normalisation)
    seconds["proposal"] = time.perf_counter() - started - sum(seconds.values())
    end_to_end, counters = _sample_pass(forward, log_prob, regions, claimed, seed, n, mean,
                                        scale, alpha / 2)
    found.append(end_to_end)
    seconds["sampling"] = time.perf_counter() - started - sum(seconds.values())
    seconds["total"] = time.perf_counter() - started
    verdict = ("fail" if any(layer.status == "fail" for layer in found) else
               "inconclusive" if any(layer.status == "skipped" for layer in found) else "pass")
    return NdResult(verdict, str(case.name), d, n, seed, alpha, tuple(found), counters, seconds,
                    pointwise.worst_x, case.notes)


@dataclass(frozen=True)
class _Proposal:
    r"""Multivariate Student t (``nu = 5``) with the pilot's mean and covariance as scale.

    Its power-law tails are heavier than those of any flow of a normal base
    with sub-exponential tails (lognormal ones included), so the weights q/r
    stay bounded far out, where a Gaussian proposal would give infinite variance.
    """

    centre: np.ndarray
    cholesky: np.ndarray

    @classmethod
    def fit(cls, pilot: np.ndarray) -> _Proposal:
        finite = pilot[np.all(np.isfinite(pilot), axis=1)]
        covariance = np.cov(finite, rowvar=False).reshape(pilot.shape[1], pilot.shape[1])
        covariance += 1e-12 * np.trace(covariance) * np.eye(covariance.shape[0])
        return cls(finite.mean(axis=0), np.linalg.cholesky(covariance))

    def draw(self, normals: np.ndarray) -> np.ndarray:
        """Rows of ``d + nu`` standard normals -> draws (a normal over sqrt(chi^2_nu / nu))."""
        d = self.centre.size
        chi2 = (normals[:, d:] ** 2).sum(axis=1)
        return self.centre + (normals[:, :d] @ self.cholesky.T) / np.sqrt(chi2 / _NU)[:, None]

    def log_pdf(self, u: np.ndarray) -> np.ndarray:
        d = u.shape[1]
        z = np.linalg.solve(self.cholesky, (u - self.centre).T).T
        return (math.lgamma((_NU + d) / 2) - math.lgamma(_NU / 2)
                - 0.5 * d * math.log(_NU * math.pi) - np.log(np.diag(self.cholesky)).sum()
                - 0.5 * (_NU + d) * np.log1p((z * z).sum(axis=1) / _NU))


def _proposal_pass(log_prob: Array, proposal: _Proposal, regions: Regions, seed: int,
                   count: int, alpha: float) -> tuple[LayerResult, tuple[np.ndarray, ...]]:
    """Estimate the integral of q, and its mass in each region, by importance sampling."""
    d = proposal.centre.size
    log_q, log_r = [], []
    sums, squares = np.zeros(regions.count), np.zeros(regions.count)
    for first, stop in blocks(count):
        u = proposal.draw(rows(seed, "proposal", first, stop, d + _NU))
        with np.errstate(all="ignore"):
            block_q = log_prob(u)
            block_r = proposal.log_pdf(u)
            weights = np.exp(np.where(np.isnan(block_q), -np.inf, block_q) - block_r)
        log_q.append(block_q)
        log_r.append(block_r)
        inside = regions.members(u) * weights[:, None]
        sums += inside.sum(axis=0)
        squares += (inside * inside).sum(axis=0)
    layer = layers.normalisation_layer(np.concatenate(log_q), np.concatenate(log_r), alpha)
    return layer, (sums, squares, np.array([count]))


def _sample_pass(forward: Array, log_prob: Array, regions: Regions,
                 claimed: tuple[np.ndarray, ...], seed: int, n: int, mean: np.ndarray,
                 scale: np.ndarray, alpha: float) -> tuple[LayerResult, dict[str, int]]:
    """All n samples of T: counters, and the number in each region."""
    counts = np.zeros(regions.count, dtype=np.int64)
    counters = {"samples": n, "nonfinite_y": 0, "invalid_log_q": 0}
    for first, stop in blocks(n):
        x = mean + scale * rows(seed, "samples", first, stop, mean.size)
        with np.errstate(all="ignore"):
            y = forward(x)
            finite = np.all(np.isfinite(y), axis=1)
            lq = log_prob(y[finite])
        counters["nonfinite_y"] += int((~finite).sum())
        counters["invalid_log_q"] += int(np.count_nonzero(~(lq > -np.inf)))
        counts += regions.members(y).sum(axis=0)
    sums, squares, draws = claimed
    invalid = counters["invalid_log_q"] + counters["nonfinite_y"]
    return regions_layer(counts, n, sums, squares, int(draws[0]), alpha, invalid), counters
