"""mcflow: brute-force Monte Carlo checks of transformed densities.

If X ~ N(mu, sigma) and Y = T(X), the change of variables says
``p_Y(y) = p_X(T^-1(y)) |dT^-1/dy|``.  mcflow draws billions of X in parallel
numba kernels, pushes them through T, histograms Y in fixed memory and
compares the result with the analytic p_Y.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcflow import transforms
from mcflow._jax_adapter import from_jax
from mcflow._torch_adapter import from_torch
from mcflow._version import __version__
from mcflow.case import Case
from mcflow.density import density, log_density
from mcflow.engine import Histogram, histogram, sample
from mcflow.transform import Transform
from mcflow.validation import ValidationResult, validate

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "Case",
    "Histogram",
    "Transform",
    "ValidationResult",
    "__version__",
    "density",
    "from_jax",
    "from_torch",
    "histogram",
    "log_density",
    "report",
    "sample",
    "transforms",
    "validate",
]


def report(results: ValidationResult | Sequence[ValidationResult], directory: str | Path,
           **options: Any) -> Path:
    """Write the HTML/Markdown/JSON report of one or more results into ``directory``.

    Parameters
    ----------
    results : ValidationResult or sequence of them
    directory : str or Path
    **options
        ``names=`` and ``title=`` of :func:`mcflow.reporting.write_report`.

    Returns
    -------
    Path
        The ``index.html`` written.
    """
    from mcflow.reporting import write_report  # matplotlib loads only when reporting

    if isinstance(results, ValidationResult):
        results = [results]
    return write_report(list(results), directory, **options)


def __dir__() -> list[str]:
    return __all__
