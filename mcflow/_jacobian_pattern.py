"""Name the Jacobian bug behind a failing exact layer, when its pattern is recognisable.

A claimed p_Y that gets the change of variables wrong differs from the exact
p_Y(y) = p_X(x) / |dT/dx| by a power of the Jacobian:

========================================  ====================  =====
claimed                                   claimed / exact       b
========================================  ====================  =====
c * p_X(x) / |dT/dx| (constant factor)    c                     0
p_X(x) (the Jacobian factor missing)      |dT/dx|               1
p_X(x) * |dT/dx| (log-det sign flipped)   |dT/dx|^2             2
p_X(x) / |dT/dx|^2 (applied twice)        |dT/dx|^-1            -1
========================================  ====================  =====

Over the bins, log(claimed mass / exact mass) = log c + b * g with
g = log(|Δy| / |Δx|), the bin's mean |dT/dx| (Δx between the pre-images of the
bin's edges).  A weighted least-squares fit gives b; the pattern is named only
when the fit explains the log-ratio (R² ≥ 0.95), b is within 0.15 of its
integer, c is 1 (|log c| ≤ 0.05) for b ≠ 0, and g varies enough across the
bins to tell b from c.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from mcflow.result import LayerResult

__all__ = ["explain_exact_layer", "jacobian_cause"]

#: |b - k| that still names the pattern k: a bin's mean |T'|^k differs from its
#: mean |T'| to the power k by O(width^2), far below this on the default bins.
_POWER_TOLERANCE = 0.15
_MIN_R2 = 0.95
#: |log c| allowed for a Jacobian power (c = 1 exactly, up to the bins' O(width^2) terms).
_MAX_INTERCEPT = 0.05
#: Weighted spread of g below which b cannot be told from log c.
_MIN_SPREAD = 0.05

_CAUSES = {
    1: "claimed / exact = |dT/dx| in every bin: p_X(T^-1(y)) without its Jacobian factor "
       "|dT^-1/dy|?",
    2: "claimed / exact = |dT/dx|^2 in every bin: p_X(x) * |dT/dx| where p_X(x) / |dT/dx| "
       "is meant, i.e. the log-det's sign flipped?",
    -1: "claimed / exact = 1 / |dT/dx| in every bin: the Jacobian factor applied twice?",
}


def jacobian_cause(claimed: np.ndarray, exact: np.ndarray, edges: np.ndarray,
                   inverse: Callable[[np.ndarray], np.ndarray]) -> str | None:
    """Return the likely Jacobian bug behind claimed cell masses, or None.

    Parameters
    ----------
    claimed, exact : ndarray
        Cell masses of [underflow, bins..., overflow] (``len(edges) + 1`` each).
    edges : ndarray
        The bins' edges in y.
    inverse : callable
        T^-1 on an array of y.

    Returns
    -------
    str or None
        A sentence naming the pattern (see the module docstring), or None when
        none is recognisable.
    """
    with np.errstate(all="ignore"):
        x_edges = np.asarray(inverse(np.asarray(edges, dtype=np.float64)), dtype=np.float64)
        dy, dx = np.abs(np.diff(edges)), np.abs(np.diff(x_edges))
        bins_claimed, bins_exact = claimed[1:-1], exact[1:-1]
        usable = (np.isfinite(dy) & np.isfinite(dx) & (dx > 0) & (dy > 0)
                  & (bins_claimed > 0) & (bins_exact > 0))
        if usable.sum() < 8:
            return None
        g = np.log(dy[usable] / dx[usable])
        log_ratio = np.log(bins_claimed[usable] / bins_exact[usable])
    weights = bins_exact[usable] / bins_exact[usable].sum()
    g_mean, r_mean = weights @ g, weights @ log_ratio
    g_var = weights @ (g - g_mean) ** 2
    r_var = weights @ (log_ratio - r_mean) ** 2
    if not (np.isfinite(g_var) and np.isfinite(r_var)):
        return None
    # g nearly constant (an affine step): b cannot be told from c, only a factor is seen
    slope = 0.0 if np.sqrt(g_var) < _MIN_SPREAD or r_var == 0.0 else \
        float(weights @ ((g - g_mean) * (log_ratio - r_mean)) / g_var)
    power = round(slope)
    if abs(slope - power) > _POWER_TOLERANCE:
        return None
    if power == 0:  # a constant factor: the same log-ratio in every bin, to 10% of itself
        return _constant(r_mean) if np.sqrt(r_var) < 0.1 * abs(r_mean) else None
    r2 = slope**2 * g_var / r_var
    intercept = float(r_mean - slope * g_mean)
    # A Jacobian bug has c = 1: a claim that is some other density times |T'|^k (for exp,
    # N(1, 1) pushed forward is the missing-Jacobian claim times e^-1/2) is not named.
    if r2 < _MIN_R2 or power not in _CAUSES or abs(intercept) > _MAX_INTERCEPT:
        return None
    return f"{_CAUSES[power]} (fitted power {slope:.2f}, R² = {r2:.3f})"


def _constant(log_factor: float) -> str:
    return (f"claimed / exact = {np.exp(log_factor):.4g} in every bin: a constant factor "
            "(a normalising constant missing or doubled, or an extra Jacobian of a "
            "constant-scale step?)")


def explain_exact_layer(layers: list[LayerResult], claimed: np.ndarray, exact: np.ndarray,
                        edges: np.ndarray, inverse: Callable[[np.ndarray], np.ndarray]
                        ) -> list[LayerResult]:
    """Return ``layers`` with a failing exact layer's message naming its likely cause."""
    explained = []
    for layer in layers:
        if layer.name == "exact" and layer.status == "fail":
            cause = jacobian_cause(claimed, exact, edges, inverse)
            if cause is not None:
                base = layer.message.removesuffix(": a missing or extra Jacobian factor?")
                layer = dataclasses.replace(layer, message=f"{base}; likely cause: {cause}",
                                            statistics={**layer.statistics,
                                                        "likely_cause": cause})
        explained.append(layer)
    return explained
