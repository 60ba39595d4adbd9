"""mcflow: brute-force Monte Carlo checks of transformed densities.

If X ~ N(mu, sigma) and Y = T(X), the change of variables says
``p_Y(y) = p_X(T^-1(y)) |dT^-1/dy|``.  mcflow draws billions of X in parallel
numba kernels, pushes them through T, histograms Y in fixed memory and
compares the result with the analytic p_Y.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from mcflow import transforms
from mcflow.density import density, log_density
from mcflow.engine import Histogram, histogram, sample
from mcflow.transform import Transform

try:
    __version__ = _version("mcflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Histogram",
    "Transform",
    "__version__",
    "density",
    "histogram",
    "log_density",
    "sample",
    "transforms",
]


def __dir__() -> list[str]:
    return __all__
