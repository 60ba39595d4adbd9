r"""Importance-sampling proposals for the d-dimensional normalisation and region masses.

Two proposals r, both evaluated exactly where they are sampled:

* :class:`StudentT`: a multivariate Student t (``nu = 5``) with the pilot's
  mean and covariance as scale.  Its power-law tails are heavier than those of
  any flow of a normal base with sub-exponential tails, so q/r stays bounded
  far out; but in high d, or for a skewed q, most of the weight sits on a few
  draws (Pareto k-hat > 0.5) and the layers using it are inconclusive.
* :class:`FlowMixture`: ``(1 - eps) T#N(mean, (lam scale)^2) + eps t``, the
  flow itself pushed from a slightly wider base, with the t as a defensive
  component.  On the image of T a correct q gives the bounded weight
  ``q/r <= p_X / ((1 - eps) p_lam) <= lam^d / (1 - eps)`` at any d; off the
  image the t draws see whatever mass q puts there.  Its density at a t draw
  u needs ``x = T^-1(u)`` and ``log|det J_T(x)|``; u lies on the image when
  ``T(T^-1(u))`` gives u back.  So it needs the inverse and the log-det, and is
  used only once the structure layer has checked both against T.

The mixture is sampled with fixed proportions (every ``1/eps``-th row a t
draw), and the weight is q over the mixture density: the balance-heuristic
multiple importance sampling estimator, unbiased for ``integral q``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcflow._nd_stream import rows
from mcflow._user_code import hide_mcflow_frames

__all__ = ["T_DEGREES", "FlowMixture", "StudentT"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

Array = Callable[[np.ndarray], np.ndarray]
#: Degrees of freedom of the Student t.
T_DEGREES = 5
#: Every ``_T_EVERY``-th row of the mixture is a t draw: eps = 1/10.
_T_EVERY = 10
#: Round trip within which a t draw counts as on the image of T.
_ON_IMAGE_RTOL = 1e-7
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class StudentT:
    """Multivariate Student t with ``T_DEGREES`` degrees of freedom."""

    centre: np.ndarray
    cholesky: np.ndarray

    @classmethod
    def fit(cls, pilot: np.ndarray) -> StudentT:
        """Centre and scale on the finite rows of a pilot of T's samples."""
        finite = pilot[np.all(np.isfinite(pilot), axis=1)]
        covariance = np.cov(finite, rowvar=False).reshape(pilot.shape[1], pilot.shape[1])
        covariance += 1e-12 * np.trace(covariance) * np.eye(covariance.shape[0])
        return cls(finite.mean(axis=0), np.linalg.cholesky(covariance))

    @property
    def description(self) -> str:
        """Named in the layers' messages."""
        return f"a Student t (nu = {T_DEGREES}) fitted to a pilot"

    def draw(self, normals: np.ndarray) -> np.ndarray:
        """Rows of ``d + nu`` standard normals -> draws (a normal over sqrt(chi^2_nu / nu))."""
        d = self.centre.size
        chi2 = (normals[:, d:] ** 2).sum(axis=1)
        return self.centre + (normals[:, :d] @ self.cholesky.T) / np.sqrt(chi2 / T_DEGREES)[:, None]

    def log_pdf(self, u: np.ndarray) -> np.ndarray:
        """``log t(u)`` of each row."""
        d = u.shape[1]
        z = np.linalg.solve(self.cholesky, (u - self.centre).T).T
        return (math.lgamma((T_DEGREES + d) / 2) - math.lgamma(T_DEGREES / 2)
                - 0.5 * d * math.log(T_DEGREES * math.pi) - np.log(np.diag(self.cholesky)).sum()
                - 0.5 * (T_DEGREES + d) * np.log1p((z * z).sum(axis=1) / T_DEGREES))

    def block(self, seed: int, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``[first, stop)`` of the proposal stream and ``log r`` there."""
        u = self.draw(rows(seed, "proposal", first, stop, self.centre.size + T_DEGREES))
        with np.errstate(all="ignore"):
            return u, self.log_pdf(u)


def _base_log_pdf(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (x - mean) / scale
    return -0.5 * (z * z).sum(axis=1) - np.log(scale).sum() - 0.5 * x.shape[1] * _LOG_2PI


@dataclass(frozen=True)
class FlowMixture:
    """``(1 - eps) T#N(mean, (widening scale)^2) + eps t``, eps = 1/10."""

    forward: Array
    inverse: Array
    log_det: Array
    mean: np.ndarray
    scale: np.ndarray
    t: StudentT

    @property
    def widening(self) -> float:
        """``lam = 1 + 1/(2 sqrt d)``: the weights' second moment stays near e^(1/2) at any d."""
        return 1.0 + 0.5 / math.sqrt(self.mean.size)

    @property
    def description(self) -> str:
        """Named in the layers' messages."""
        return (f"T applied to N(mean, ({self.widening:.3g} scale)^2), 10% of draws from a "
                f"Student t (nu = {T_DEGREES})")

    def _log_push(self, x: np.ndarray) -> np.ndarray:
        out = _base_log_pdf(x, self.mean, self.widening * self.scale) \
            - np.asarray(self.log_det(x), dtype=np.float64).reshape(-1)
        return np.where(np.isnan(out), -np.inf, out)

    def block(self, seed: int, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``[first, stop)`` of the proposal stream and ``log r`` there."""
        d = self.mean.size
        normals = rows(seed, "proposal", first, stop, d + T_DEGREES)
        from_t = (np.arange(first, stop) % _T_EVERY) == _T_EVERY - 1
        u = np.empty((stop - first, d))
        log_push = np.empty(stop - first)
        with np.errstate(all="ignore"):
            x = self.mean + self.widening * self.scale * normals[~from_t, :d]
            u[~from_t] = np.asarray(self.forward(x), dtype=np.float64)
            log_push[~from_t] = self._log_push(x)
            drawn = self.t.draw(normals[from_t])
            u[from_t] = drawn
            back = np.asarray(self.inverse(drawn), dtype=np.float64)
            again = np.asarray(self.forward(back), dtype=np.float64)
            on_image = np.all(np.abs(again - drawn) <= _ON_IMAGE_RTOL * (1.0 + np.abs(drawn)),
                              axis=1)
            pushed = np.full(drawn.shape[0], -np.inf)
            if np.any(on_image):
                pushed[on_image] = self._log_push(back[on_image])
            log_push[from_t] = pushed
            log_r = np.logaddexp(math.log1p(-1.0 / _T_EVERY) + log_push,
                                 -math.log(_T_EVERY) + self.t.log_pdf(u))
        return u, np.where(np.all(np.isfinite(u), axis=1), log_r, np.nan)
