"""A claimed CDF F_Y as a claim of its own: cell masses from its differences, and its layers.

Some shipped bugs live in the CDF alone, with a correct density beside it:
torch's ``PowerTransform`` once declared ``sign = +1`` for every exponent, so
``TransformedDistribution.cdf`` of ``Y = X^p`` with ``p < 0`` returned
``1 - F`` (pytorch #96494).  The cells ``[underflow, bins..., overflow]``
take the masses

    F(e_0),  F(e_{i+1}) - F(e_i),  1 - F(e_B)

(no quadrature), and two layers test them:

* **cdf_vs_exact** (sample-free, needs T's inverse): the L1 distance to the
  exact masses, failing above the numerical floor
  ``SAFETY (B + 2) 2 eps + r + rho``: differences of B + 1 values each off
  by up to 2 ulps (rounding plus the library's evaluation; eps of the
  claim's precision, float64 or float32), the inverse's round-trip mass r
  and the claim's relative evaluation accuracy rho;
* **mc_vs_cdf**: the histogram against those masses (the min-p test of KS,
  L1, G and AD), with its own share of alpha.

A CDF that is NaN at an edge, leaves [0, 1] beyond rounding or decreases is a
defect of the claim, named in the layer's message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcflow._user_code import as_float_array, hide_mcflow_frames
from mcflow.layers import SAFETY, mc_layer
from mcflow.null_distribution import NullDistribution
from mcflow.nulls import group, null_for
from mcflow.result import LayerResult

__all__ = ["CdfMasses", "cdf_cell_masses", "cdf_layers"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class CdfMasses:
    """Cell masses of ``[underflow, bins..., overflow]`` from a claimed CDF."""

    masses: np.ndarray
    floor: float
    #: What is wrong with the claimed values, or None.
    defect: str | None


def cdf_cell_masses(cdf: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
                    roundtrip_error: float, evaluation_rtol: float,
                    eps: float = _EPS,
                    support: tuple[float, float] = (-np.inf, np.inf)) -> CdfMasses:
    r"""Return the cell masses a claimed CDF gives, the floor they are trusted to, any defect.

    Parameters
    ----------
    cdf : callable
        Vectorized claimed ``F_Y``.
    edges : ndarray
        Bin edges ``e_0 < ... < e_B``.
    roundtrip_error : float
        Mass an inexact inverse moves at the edges (0 without one).
    evaluation_rtol : float
        Relative accuracy granted to the claim's code.
    eps : float
        Machine epsilon of the precision the claim is computed in.
    support : (float, float)
        Y's support: the CDF is 0 at and below its lower end and 1 at and above
        its upper end, and is only evaluated strictly inside (libraries return
        NaN outside their support).

    Returns
    -------
    CdfMasses
        ``masses = diff([0, F(e_0), ..., F(e_B), 1])`` and the floor
        :math:`\mathrm{SAFETY}\,(B + 2)\,2\epsilon + r + \rho`.
    """
    lo, hi = support
    inside = (edges > lo) & (edges < hi)
    values = np.where(edges <= lo, 0.0, 1.0)
    with np.errstate(all="ignore"):
        values[inside] = as_float_array(cdf(edges[inside].copy()), (int(inside.sum()),), "cdf")
    floor = SAFETY * (edges.size + 1) * 2 * eps + roundtrip_error + evaluation_rtol
    rounding = 8 * eps
    defect = None
    bad = np.flatnonzero(~np.isfinite(values) | (values < -rounding) | (values > 1 + rounding))
    steps = np.diff(values)
    if bad.size:
        i = int(bad[0])
        defect = (f"the claimed CDF is {float(values[i])!r} at y = {edges[i]:.6g} ({bad.size} of "
                  f"{edges.size} edges NaN, infinite or outside [0, 1])")
    elif np.any(steps < -rounding):
        i = int(np.flatnonzero(steps < -rounding)[0])
        defect = (f"the claimed CDF decreases from {values[i]:.6g} at y = {edges[i]:.6g} to "
                  f"{values[i + 1]:.6g} at y = {edges[i + 1]:.6g}: a decreasing step taken as "
                  "increasing (a wrong transform sign, as in pytorch #96494)?")
    clipped = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    masses = np.clip(np.diff(np.concatenate([[0.0], clipped, [1.0]])), 0.0, None)
    return CdfMasses(masses, float(floor), defect)


def cdf_layers(claim: CdfMasses, cells: np.ndarray, exact: np.ndarray | None,
               starts: np.ndarray | None, edges: np.ndarray, n: int, replicates: int,
               alpha_per_test: float, tolerance: float | None) -> list[LayerResult]:
    """Run the sample-free CDF check (with exact masses) and the histogram against the CDF.

    ``cells`` are the tested (possibly grouped) observed cells, the last one
    non-finite; ``exact`` the exact masses of ``[underflow, bins..., overflow]``.
    """
    probabilities = group(np.concatenate([claim.masses, [0.0]]), starts)
    probabilities = probabilities / probabilities.sum()
    layers = []
    if exact is not None:
        l1 = float(np.abs(claim.masses - exact).sum())
        threshold = claim.floor if tolerance is None else max(tolerance, claim.floor)
        if claim.defect is not None:
            layers.append(LayerResult("cdf_vs_exact", "fail", claim.defect, {"l1": l1}))
        else:
            status = "fail" if l1 > threshold else "pass"
            layers.append(LayerResult(
                "cdf_vs_exact", status,
                f"claimed CDF differences vs exact bin masses: L1 = {l1:.3e} "
                f"({'above' if status == 'fail' else 'within'} the numerical floor "
                f"{threshold:.1e})", {"l1": l1, "threshold": threshold}))
    null: NullDistribution = null_for(n, probabilities, replicates)
    layer = mc_layer("mc_vs_cdf", cells, probabilities, null, alpha_per_test, "claimed CDF",
                     edges)
    if claim.defect is not None:
        layer = LayerResult("mc_vs_cdf", "fail", claim.defect, layer.statistics)
    layers.append(layer)
    return layers
