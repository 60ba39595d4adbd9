"""A reference ``log|det J_T(x)|`` by central finite differences, with its error estimate.

The pointwise layer needs the Jacobian of the user's forward map computed
independently of the user's own log-det (a library that derives one from the
other would pass any check of one against the other).  Central differences at
steps ``h``, ``h/2`` and ``h/4`` per coordinate give three estimates of
``log|det J|``; the Richardson combination of the two finer ones (error
O(h^4)) is returned with the larger of the two successive differences, plus a
rounding bound ``d eps (1 + |T(x)|) / h_min``, as its error estimate.  Where the
map is smooth that is a safe bound (about 3/4 of the O(h^2) error of a coarser
estimate); where the steps straddle a knot of a spline (a jump in J's
derivative) the three disagree, and the point's tolerance widens with them
instead of flagging a correct flow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mcflow._user_code import hide_mcflow_frames

__all__ = ["STEP", "reference_log_det"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Relative step of the coarsest difference: rounding ~eps f / h stays below 1e-10
#: relative for flows of unit scale at h / 4, and truncation ~h^2 f''' below 1e-10.
STEP = 1e-5


_EPS = float(np.finfo(np.float64).eps)
#: Rows per call of the user's forward map.
_CALL_ROWS = 2**16


def _log_det(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    m, d = x.shape
    shifts = np.zeros((d, 1, d))
    shifts[np.arange(d), 0, np.arange(d)] = 1.0
    step = h[None, :, :] * shifts  # (d, m, d): coordinate j moved by h_j in slice j
    points = np.concatenate([(x[None] + step).reshape(-1, d), (x[None] - step).reshape(-1, d)])
    # calls of at most _CALL_ROWS rows: memory stays bounded whatever d and m are
    values = np.concatenate([np.asarray(forward(points[start:start + _CALL_ROWS]),
                                        dtype=np.float64)
                             for start in range(0, points.shape[0], _CALL_ROWS)])
    values = values.reshape(2, d, m, d)
    # jacobian[i, k, j] = dT_k / dx_j at point i
    jacobian = ((values[0] - values[1]) / (2.0 * h.T[:, :, None])).transpose(1, 2, 0)
    sign, log_det = np.linalg.slogdet(jacobian)
    # Rounding: each entry is off by ~eps (1 + |T(x)|) / h, so log|det| by about d times that.
    rounding = d * _EPS * (1.0 + np.abs(values).max(axis=(0, 1)).max(axis=1)) / h.min(axis=1)
    return np.where(sign != 0, log_det, -np.inf), rounding


def reference_log_det(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    r"""Return ``log|det J_T(x)|`` at each row of ``x`` and its error estimate.

    .. math:: \hat L = \frac{4 L_{h/4} - L_{h/2}}{3},\qquad
              \epsilon = \max(|L_{h/4} - L_{h/2}|, |L_{h/2} - L_h|),

    with ``L_h`` the log-determinant of the central-difference Jacobian at
    steps ``h_j = STEP max(1, |x_j|)``.

    Parameters
    ----------
    forward : callable
        ``(m, d) -> (m, d)``.
    x : ndarray, shape (m, d)
        Points.

    Returns
    -------
    log_det, error : ndarray, shape (m,)
        The estimate and its error estimate (inf where a Jacobian is singular).
    """
    h = STEP * np.maximum(1.0, np.abs(x))
    coarse, _ = _log_det(forward, x, h)
    middle, _ = _log_det(forward, x, 0.5 * h)
    fine, rounding = _log_det(forward, x, 0.25 * h)
    with np.errstate(invalid="ignore"):
        estimate = (4.0 * fine - middle) / 3.0
        error = np.maximum(np.abs(fine - middle), np.abs(middle - coarse)) + rounding
    return estimate, np.where(np.isfinite(error), error, np.inf)
