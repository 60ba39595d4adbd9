"""``nd.Case``: a d-dimensional flow and the density claimed for its output.

Kept below the validation layer so that the library adapters, which build
cases, need not import :mod:`mcflow.nd`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import ndtri

from mcflow._user_code import hide_mcflow_frames

__all__ = ["Case", "design_points"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

Array = Callable[[np.ndarray], Any]


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


def design_points(dim: int, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scrambled Sobol points at 1x and 2x sigma, and per-axis points at +-3, 5, 8 sigma."""
    sobol = stats.qmc.Sobol(dim, scramble=True, seed=0).random(256)
    bulk = ndtri(np.clip(sobol, 1e-12, 1 - 1e-12))
    tails = np.zeros((6 * dim, dim))
    for axis in range(dim):
        for index, value in enumerate((3.0, -3.0, 5.0, -5.0, 8.0, -8.0)):
            tails[6 * axis + index, axis] = value
    return mean + scale * np.concatenate([bulk, 2.0 * bulk, tails])
