"""Validate the density of a d-dimensional flow by brute force: ``nd.Case`` and ``nd.validate``.

For Y = T(X), X ~ N(mean, diag(scale^2)) in R^d, and a claimed log-density
log q, five layers (:mod:`mcflow._nd_layers`) each report on their own:
``structure`` and ``pointwise`` (deterministic: the change-of-variables
residual ``log q(T x) + log|det J_T(x)| - log p_X(x)`` must vanish against a
finite-difference Jacobian), ``normalisation`` (importance sampling of the
integral of q), ``mc_vs_claimed`` (the fraction of all n samples in a few
regions against q's mass there, :mod:`mcflow._nd_regions`) and, for d <= 3,
``histogram`` (the samples on a grid against q's cell masses by quadrature,
:mod:`mcflow._nd_histogram`).  The two or three statistical layers share
``alpha`` (Bonferroni).  Memory is fixed: samples stream in blocks
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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcflow import _nd_layers as layers
from mcflow._checks import check_alpha, check_n
from mcflow._nd_case import Case
from mcflow._nd_histogram import MAX_DIM, claimed_cells, fit_grid, histogram_layer
from mcflow._nd_passes import count_on_client, count_samples, proposal_pass
from mcflow._nd_proposal import FlowMixture, StudentT
from mcflow._nd_regions import fit_regions, regions_layer
from mcflow._nd_stream import rows
from mcflow._seeds import AUTO_SEED, case_seed
from mcflow._user_code import hide_mcflow_frames
from mcflow._version import __version__
from mcflow.result import SCHEMA_VERSION, LayerResult, _jsonable

__all__ = ["Case", "NdResult", "validate"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

Array = Callable[[np.ndarray], Any]
#: Monte Carlo rows the pointwise layer checks besides the design points.
POINTWISE_POINTS = 2048
#: Pilot rows (their own stream) that place the test densities and the proposal.
_PILOT = 2**15
#: Proposal draws: n, but at least 2^18 (region masses need an ESS of 1000) and at
#: most 2^22 (each costs one log q).
_MIN_PROPOSAL, _MAX_PROPOSAL = 2**18, 2**22
#: Samples of Y kept for the figure.
_FIGURE_ROWS = 4096
#: Fewest samples of T.
_MIN_N = 4096


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
    #: T at ``worst_x``, and a few thousand samples of Y (the pilot's), for the figure.
    worst_y: np.ndarray | None = field(default=None, repr=False)
    figure_sample: np.ndarray | None = field(default=None, repr=False)

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
        """Return this result as one ``"nd"`` case of the JSON document, identifiable on its own.

        The keys are those of an ``"nd"`` case of ``mcflow.validation/2`` (the
        README's JSON section; ``name`` and ``flow`` are the flow's name, a
        check renames ``name`` to the case's), plus ``schema`` and
        ``mcflow_version``, which a document holds once at its top level.
        Non-finite floats are the strings ``"nan"``, ``"inf"`` and ``"-inf"``.
        (Before ``mcflow.validation/2`` this was schema ``mcflow.nd/1``.)
        """
        return _jsonable({
            "schema": SCHEMA_VERSION, "mcflow_version": __version__, "name": self.name,
            "kind": "nd", "verdict": self.verdict, "flow": self.name,
            "dim": self.dim, "n": self.n, "seed": self.seed, "alpha": self.alpha,
            "failed_layers": list(self.failed_layers),
            "layers": [layer.to_dict() for layer in self.layers],
            "counters": self.counters, "seconds": self.seconds,
            "worst_x": self.worst_x, "warnings": list(self.warnings),
        })

    def report(self, directory: str | Path) -> Path:
        """Write ``result.json``, ``summary.md`` and ``figure.png`` into ``directory``; return it.

        Each file is written atomically.
        """
        from mcflow._nd_figures import write_nd_report

        return write_nd_report(self, directory)


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


def validate(case: Case, n: int = 10**7, alpha: float = 0.01, seed: int | str | None = None,
             client: Any = None, progress: Callable[[int, int], None] | None = None
             ) -> NdResult:
    """Check a d-dimensional claimed density against brute force, in five layers.

    Parameters
    ----------
    case : Case
        The flow and its claim.
    n : int, default 1e7
        Monte Carlo samples of T (and ``n`` proposal draws, within [2^18, 2^22]).
    alpha : float, default 0.01
        Probability that a correct density fails, split over the statistical layers
        (normalisation, mc_vs_claimed, and the histogram for d <= 3).
    seed : int, optional
        None (or ``"auto"``): derived from the case's name and dimension (reproducible).
    client : distributed.Client, optional
        Draw the n samples of T as Dask tasks (bitwise the same result: the
        tallies are integers); the functions must be picklable.
    progress : callable, optional
        ``progress(samples_done, n)`` as the samples of T are tallied.

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
    if seed is None or seed == AUTO_SEED:
        seed = case_seed("nd", case.name, case.dim)
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, 'auto' or None, got {seed!r}")
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
    student = StudentT.fit(pilot_y)
    proposal: StudentT | FlowMixture = student
    if case.inverse is not None and case.log_abs_det_jacobian is not None \
            and found[0].status == "pass":  # both checked against T at the design points
        proposal = FlowMixture(forward, case.inverse, case.log_abs_det_jacobian, mean, scale,
                               student)
    grid = fit_grid(pilot_y, regions.centre, regions.whitening) if d <= MAX_DIM else None
    alpha_per_layer = alpha / (2 if grid is None else 3)
    normalisation, claimed = proposal_pass(log_prob, proposal, regions, seed,
                                           min(max(n, _MIN_PROPOSAL), _MAX_PROPOSAL),
                                           alpha_per_layer)
    found.append(normalisation)
    cells = None if grid is None else claimed_cells(log_prob, grid, n)
    seconds["proposal"] = time.perf_counter() - started - sum(seconds.values())
    if client is None:
        counts = count_samples(forward, log_prob, regions, grid, seed, 0, n, mean, scale,
                               progress)
    else:
        counts, _ = count_on_client(client, forward, log_prob, regions, grid, seed, n, mean,
                                    scale, progress)
    counters = {"samples": n, "nonfinite_y": counts.nonfinite_y,
                "invalid_log_q": counts.invalid_log_q, "nan_log_q": counts.nan_log_q,
                "zero_density": counts.zero_density}
    sums, squares, draws = claimed
    found.append(regions_layer(counts.regions, n, sums, squares, int(draws[0]), alpha_per_layer,
                               counts.nonfinite_y + counts.invalid_log_q))
    if grid is not None and cells is not None and counts.grid is not None:
        found.append(histogram_layer(counts.grid, *cells, alpha_per_layer))
    seconds["sampling"] = time.perf_counter() - started - sum(seconds.values())
    seconds["total"] = time.perf_counter() - started
    # the histogram is supplementary: when its quadrature cannot keep up, the others decide
    verdict = ("fail" if any(layer.status == "fail" for layer in found) else
               "inconclusive" if any(layer.status == "skipped" and layer.name != "histogram"
                                     for layer in found) else "pass")
    worst_y = None
    if pointwise.worst_x is not None:
        with np.errstate(all="ignore"):
            worst_y = forward(pointwise.worst_x[None])[0]
    return NdResult(verdict, str(case.name), d, n, seed, alpha, tuple(found), counters, seconds,
                    pointwise.worst_x, case.notes, worst_y, pilot_y[:_FIGURE_ROWS])
