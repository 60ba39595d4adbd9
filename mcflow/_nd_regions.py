r"""The d-dimensional end-to-end check: the mass of regions, by the samples and by the claim.

For a few regions B_k (balls and a shell in the pilot's whitened coordinates),

    P(Y in B_k)   estimated by the fraction of the n samples of T in B_k,
    Q(B_k) = integral of q over B_k, by importance sampling from the proposal,

must agree.  Both estimates are means of *bounded* variables (an indicator; and
``1_B q / r`` with q continuous and r a Student t on a compact B), so their
standard errors are honest at every n, whatever the flow's tails: unlike
ratios ``r/q`` over the whole space, nothing here can be heavy-tailed.  Each
region gives ``z_k = (P_k - Q_k) / sqrt(P_k (1 - P_k) / n + s_k^2 / N)``; the
layer fails when ``min_k p_k <= alpha / K`` (Bonferroni).  A region whose
importance weights are too uneven (ESS < 1000: q far from the Gaussian
proposal there) is left out, since its estimate and its error are not yet
reliable; with none left the layer is inconclusive.  It needs no
Jacobian and tests the sampling path against the density where the bulk of
the mass lies; tails are the pointwise layer's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from mcflow._user_code import hide_mcflow_frames
from mcflow.result import LayerResult

__all__ = ["Regions", "fit_regions", "regions_layer"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Pilot mass inside the central ball (and each offset ball's radius); the shell
#: reaches out to the 90% radius.
_INNER_MASS, _OUTER_MASS = 0.3, 0.9
#: Effective importance-sampling size below which a region's claimed mass is not trusted.
_MIN_ESS = 1000.0
#: Offset balls: +-1 pilot standard deviation along the leading principal axes.
_AXES, _OFFSET = 4, 1.0


@dataclass(frozen=True)
class Regions:
    """Balls and a shell in whitened coordinates ``z = W (y - centre)``."""

    centre: np.ndarray
    whitening: np.ndarray
    centres: np.ndarray  # (K_balls, d) in whitened coordinates
    radius: float
    outer: float

    @property
    def count(self) -> int:
        """Number of regions: the balls and the shell."""
        return self.centres.shape[0] + 1

    def members(self, y: np.ndarray) -> np.ndarray:
        """``(m, K)`` booleans: row i in region k (non-finite rows in none)."""
        z = (y - self.centre) @ self.whitening.T
        distance = (z * z).sum(axis=1)
        # |z - c|^2 = |z|^2 - 2 z.c + |c|^2: one (m, d) x (d, K) product, no (m, K, d) array
        squared = distance[:, None] - 2.0 * (z @ self.centres.T) \
            + (self.centres * self.centres).sum(axis=1)[None]
        balls = squared <= self.radius**2
        shell = (distance > self.radius**2) & (distance <= self.outer**2)
        inside = np.column_stack([balls, shell])
        return inside & np.all(np.isfinite(y), axis=1)[:, None]


def fit_regions(pilot: np.ndarray) -> Regions:
    """Place the regions on a pilot of T's samples (its own stream)."""
    finite = pilot[np.all(np.isfinite(pilot), axis=1)]
    centre = finite.mean(axis=0)
    covariance = np.cov(finite, rowvar=False).reshape(pilot.shape[1], pilot.shape[1])
    values, vectors = np.linalg.eigh(covariance + 1e-12 * np.trace(covariance)
                                     * np.eye(covariance.shape[0]))
    order = np.argsort(values)[::-1]
    whitening = (vectors[:, order] / np.sqrt(values[order])).T  # rows: principal axes
    z = (finite - centre) @ whitening.T
    distance = np.sqrt((z * z).sum(axis=1))
    radius, outer = (float(np.quantile(distance, q)) for q in (_INNER_MASS, _OUTER_MASS))
    offsets = [np.zeros(pilot.shape[1])]
    for axis in range(min(_AXES, pilot.shape[1])):
        for sign in (1.0, -1.0):
            offset = np.zeros(pilot.shape[1])
            offset[axis] = sign * _OFFSET
            offsets.append(offset)
    return Regions(centre, whitening, np.array(offsets), radius, outer)


def regions_layer(sample_counts: np.ndarray, samples: int, claimed_sums: np.ndarray,
                  claimed_squares: np.ndarray, draws: int, alpha: float, invalid: int
                  ) -> LayerResult:
    """Compare the sample fraction and the claimed mass of every region."""
    if invalid:
        return LayerResult("mc_vs_claimed", "fail",
                           f"log q is not finite (-inf, NaN or +inf) at {invalid} of {samples} "
                           "samples of T, or T is not finite there: q puts no valid density "
                           "where T takes values "
                           "(a wrong support)", {"invalid": invalid})
    # A region whose importance weights are too uneven (effective sample size below
    # _MIN_ESS) has an unreliable claimed mass and standard error: left out.
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.where(claimed_squares > 0, claimed_sums**2 / claimed_squares, 0.0)
    usable = ess >= _MIN_ESS
    if not np.any(usable):
        return LayerResult("mc_vs_claimed", "skipped",
                           f"the claimed mass of no region can be estimated reliably (largest "
                           f"importance-sampling ESS {ess.max():.0f} < {_MIN_ESS:g}): q is too far "
                           "from a Gaussian for this proposal", {"ess": ess.tolist()})
    index = np.flatnonzero(usable)
    sample_counts, claimed_sums, claimed_squares = (
        sample_counts[index], claimed_sums[index], claimed_squares[index])
    observed = sample_counts / samples
    claimed = claimed_sums / draws
    spread = np.maximum(claimed_squares / draws - claimed**2, 0.0)
    error = np.sqrt(observed * (1 - observed) / samples + spread / draws)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(error > 0, (observed - claimed) / error,
                     np.where(observed == claimed, 0.0, np.inf))
    pvalues = 2.0 * ndtr(-np.abs(z))
    combined = float(min(1.0, pvalues.min() * z.size))
    worst = int(np.argmax(np.abs(z)))
    region = int(index[worst])
    name = "the shell" if region == usable.size - 1 else f"ball {region}"
    statistics = {"pvalue": combined, "regions": int(z.size), "worst_region": region,
                  "left_out": int(usable.size - index.size), "ess": ess.tolist(),
                  "worst_z": float(z[worst]), "sample_fractions": observed.tolist(),
                  "claimed_masses": claimed.tolist(), "standard_errors": error.tolist()}
    text = (f"{name}: {observed[worst]:.5f} of the samples vs claimed mass "
            f"{claimed[worst]:.5f} +- {error[worst]:.1e} (z = {z[worst]:+.1f})")
    left_out = (f"; {usable.size - index.size} regions left out (importance-sampling ESS < "
                f"{_MIN_ESS:g})" if index.size < usable.size else "")
    if combined <= alpha:
        return LayerResult("mc_vs_claimed", "fail",
                           f"the samples disagree with q in {name}: {text}; p = {combined:.3g} "
                           f"<= {alpha:.3g} over {z.size} regions{left_out}", statistics)
    return LayerResult("mc_vs_claimed", "pass",
                       f"the mass of all {z.size} regions agrees (p = {combined:.3g}; largest "
                       f"gap in {text}){left_out}", statistics)
