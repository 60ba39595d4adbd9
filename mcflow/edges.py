"""Default binning for validation: equal-probability bins with refined tails.

Jacobian bugs live in the tails, so lumping the tails into one overflow bin
would hide them.  The default edges put ``bulk_bins`` bins of equal mass in
the bulk and add tail bins whose masses shrink geometrically (by 3x) down to
about 25 expected samples, so the under- and overflow cells hold only that.

For a transform with an inverse (so a monotone bijection onto its support),
the edges are exact: ``T(mu + sigma * Phi^-1(q))`` at the chosen levels q.
Otherwise they are the quantiles of a pilot sample drawn from a stream
independent of the one being tested.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from mcflow._user_code import hide_mcflow_frames
from mcflow.engine import sample
from mcflow.transform import Transform

__all__ = ["MIN_BIN_ULPS", "equal_probability_edges", "quantile_levels"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_MIN_EXPECTED_PER_TAIL_BIN = 25.0
_MIN_EXPECTED_PER_BULK_BIN = 50.0
_TAIL_RATIO = 3.0
_PILOT_SIZE = 400_000
#: Spawn key that separates the pilot stream from the tested one.
_PILOT_SPAWN_KEY = (0x70696C6F74,)


#: Narrowest bin, in ulps: float64 rounding of T(x) moves a value by half an
#: ulp, which biases a bin's count by up to 1 / (this many) relative.
MIN_BIN_ULPS = 2.0**20


def _drop_unresolvable(edges: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Merge bins too narrow for float64 (T saturating: sigmoid near 1 at large sigma)."""
    kept: list[float] = []
    for edge in edges:
        near_end = (np.isfinite(hi) and hi - edge < MIN_BIN_ULPS * np.spacing(abs(hi))) or (
            np.isfinite(lo) and edge - lo < MIN_BIN_ULPS * np.spacing(abs(lo)))
        if near_end:
            continue
        if kept and edge - kept[-1] < MIN_BIN_ULPS * np.spacing(abs(edge)):
            continue
        kept.append(float(edge))
    return np.asarray(kept)


def quantile_levels(n: int, bulk_bins: int = 200) -> np.ndarray:
    """Cumulative probabilities of the edges: equal bulk bins, geometric tails.

    Parameters
    ----------
    n : int
        Sample size the bins are for (sets how far into the tails to go).
    bulk_bins : int
        Equal-mass bins in the bulk (reduced for small n so each bin expects
        at least 50 samples).

    Returns
    -------
    ndarray
        Increasing levels in (0, 1).
    """
    bulk = int(max(4, min(bulk_bins, n // _MIN_EXPECTED_PER_BULK_BIN)))
    step = 1.0 / bulk
    smallest = _MIN_EXPECTED_PER_TAIL_BIN / n
    tail = []
    level = step / _TAIL_RATIO
    while level >= smallest:
        tail.append(level)
        level /= _TAIL_RATIO
    lower_tail = np.array(tail[::-1])
    return np.concatenate([lower_tail, np.arange(1, bulk) * step, 1.0 - lower_tail[::-1]])


def equal_probability_edges(
    transform: Transform,
    n: int,
    *,
    mu: float = 0.0,
    sigma: float = 1.0,
    bulk_bins: int = 200,
    seed: int | None = 0,
) -> np.ndarray:
    """Bin edges of (about) equal probability under Y = T(X), tails refined.

    Parameters
    ----------
    transform : Transform
        T. With an inverse, the edges are exact images of normal quantiles;
        without, quantiles of a pilot sample from an independent stream.
    n : int
        Sample size the bins are for.
    mu, sigma : float
        Parameters of X.
    bulk_bins : int
        Equal-mass bins in the bulk.
    seed : int, optional
        Seed of the pilot (:func:`mcflow.validate` passes the case's own seed,
        whatever the run's, so all runs of a case share their cells and their
        null); the pilot stream is derived from it and is independent of the
        run drawn with the same seed.

    Returns
    -------
    ndarray of float64
        Strictly increasing finite edges (duplicates from a saturating T are
        merged).
    """
    levels = quantile_levels(n, bulk_bins)
    if transform.has_inverse:
        x = mu + sigma * special.ndtri(levels)
        with np.errstate(all="ignore"):
            edges = transform.forward_array(x)
    else:
        pilot_seed = np.random.SeedSequence(
            0 if seed is None else int(seed), spawn_key=_PILOT_SPAWN_KEY
        )
        _, pilot = sample(transform, _PILOT_SIZE, seed=pilot_seed, mu=mu, sigma=sigma)
        pilot = pilot[np.isfinite(pilot)]
        if pilot.size < 2:
            raise ValueError(
                f"transform {transform.name!r} gave fewer than 2 finite values in a pilot "
                f"sample of {_PILOT_SIZE}; pass bins and range explicitly"
            )
        usable = levels[(levels >= 50.0 / pilot.size) & (levels <= 1 - 50.0 / pilot.size)]
        edges = np.quantile(pilot, usable)
    # Only edges strictly inside the support: a T that saturates in float64
    # (tanh -> 1.0) would otherwise give an edge at the support's end, and the
    # values equal to it would land in a cell of zero claimed mass.
    lo, hi = transform.support
    # Edges beyond +-1e300 would make the binning's span overflow float64;
    # values out there land in the under/overflow cells.
    edges = np.unique(edges[(np.abs(edges) <= 1e300) & (edges > lo) & (edges < hi)])
    edges = _drop_unresolvable(edges, lo, hi)
    if edges.size < 2:
        raise ValueError(
            f"could not build default bins for transform {transform.name!r} (its values "
            "collapse to one point in float64); pass bins and range explicitly"
        )
    return edges
