"""The :class:`Case` type: one claimed density of Y = T(X), X ~ N(mu, sigma), ready to validate.

A case bundles what :func:`mcflow.validate` needs (the transform, the claimed
pdf, optionally a claimed CDF, the base normal's mu and sigma) with what the
claim can resolve: ``pdf_rtol``, the relative accuracy of the claimed density
as its code computes it (float64 code: None, mcflow's float64 allowance;
float32 code: the measured float32 rounding).  The adapters
(:func:`mcflow.from_torch`, :func:`mcflow.from_jax`) build cases from
library distributions; a case can also be written by hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcflow._checks import check_normal
from mcflow.transform import Transform

__all__ = ["Case"]

Claim = Callable[[Any], Any]


@dataclass(frozen=True)
class Case:
    """A transform, the density claimed for its output, and the base normal.

    Parameters
    ----------
    transform : Transform
        T (its inverse, when known, enables the exact layers).
    pdf : callable, optional
        The claimed p_Y, vectorized.  None: derived from ``transform`` (Eq. 5).
    mu, sigma : float
        X ~ N(mu, sigma).
    name : str, optional
        Shown in reports; defaults to the transform's name.
    cdf : callable, optional
        A claimed CDF F_Y, vectorized: its differences over the bins are tested
        against the histogram too.
    pdf_rtol : float, optional
        Relative accuracy of the claimed pdf as computed (None: float64 code).
    dtype : str
        ``"float64"`` or ``"float32"``: the precision the claim is computed in.
    library : str
        Where the case comes from (``"torch"``, ``"zuko"``, ... or ``""``).
    identity : str
        What distinguishes this case from others with the same name (the
        adapters use a hash of the library's parameters); it enters the
        default seed, so different flows draw independent samples.
    notes : tuple of str
        What the adapter could not take from the library (no inverse, no CDF,
        ...), shown in the result's warnings.

    Examples
    --------
    >>> import numpy as np
    >>> from mcflow import transforms
    >>> case = Case(transforms.Exp(), lambda y: np.exp(-0.5 * np.log(y) ** 2)
    ...             / (y * np.sqrt(2 * np.pi)), name="lognormal")
    >>> case.name, case.mu, case.sigma
    ('lognormal', 0.0, 1.0)
    """

    transform: Transform
    pdf: Claim | None = None
    mu: float = 0.0
    sigma: float = 1.0
    name: str = ""
    cdf: Claim | None = None
    pdf_rtol: float | None = None
    dtype: str = "float64"
    library: str = ""
    identity: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.transform, Transform):
            raise TypeError(f"transform must be a mcflow.Transform, got "
                            f"{type(self.transform).__name__}")
        for what in ("pdf", "cdf"):
            value = getattr(self, what)
            if value is not None and not callable(value):
                raise TypeError(f"{what} must be a callable (vectorized, y: ndarray -> ndarray) or "
                                f"None, got {value!r}")
        mu, sigma = check_normal(self.mu, self.sigma)
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)
        if not self.name:
            object.__setattr__(self, "name", self.transform.name)
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if self.pdf_rtol is not None and not (
                isinstance(self.pdf_rtol, (int, float)) and math.isfinite(self.pdf_rtol)
                and 0.0 <= self.pdf_rtol < 1.0):
            raise ValueError(f"pdf_rtol must be a number in [0, 1) or None, got "
                             f"{self.pdf_rtol!r}")
        object.__setattr__(self, "notes", tuple(self.notes))

    def with_support(self, support: tuple[float, float]) -> Case:
        """Return a copy whose transform has the support ``support = (lo, hi)``."""
        return dataclasses.replace(self, transform=self.transform.with_support(support))

    def __repr__(self) -> str:
        source = f", library={self.library!r}" if self.library else ""
        return (f"Case({self.name!r}, mu={self.mu:g}, sigma={self.sigma:g}, "
                f"dtype={self.dtype!r}{source})")
