"""mcflow: brute-force Monte Carlo checks of transformed densities.

If X ~ N(mu, sigma) and Y = T(X), the change of variables says
``p_Y(y) = p_X(T^-1(y)) |dT^-1/dy|``.  mcflow draws billions of X in parallel
numba kernels, pushes them through T, histograms Y in fixed memory and
compares the result with the analytic p_Y.

The package is lazy (PEP 562): ``import mcflow`` loads none of numba, scipy or
numpy, so the command line and the pytest plugin start quickly; each public
name imports its module on first access, and ``mcflow.<submodule>`` imports
that submodule.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from mcflow import transforms
    from mcflow._jax_adapter import from_jax
    from mcflow._torch_adapter import from_torch
    from mcflow._version import __version__
    from mcflow.case import Case
    from mcflow.density import density, log_density
    from mcflow.engine import Histogram, histogram, sample
    from mcflow.transform import Transform
    from mcflow.validation import ValidationResult, validate

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

#: Public name -> (module defining it, its name there; None: the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "Case": ("mcflow.case", "Case"),
    "Histogram": ("mcflow.engine", "Histogram"),
    "Transform": ("mcflow.transform", "Transform"),
    "ValidationResult": ("mcflow.validation", "ValidationResult"),
    "__version__": ("mcflow._version", "__version__"),
    "density": ("mcflow.density", "density"),
    "from_jax": ("mcflow._jax_adapter", "from_jax"),
    "from_torch": ("mcflow._torch_adapter", "from_torch"),
    "histogram": ("mcflow.engine", "histogram"),
    "log_density": ("mcflow.density", "log_density"),
    "sample": ("mcflow.engine", "sample"),
    "transforms": ("mcflow.transforms", None),
    "validate": ("mcflow.validation", "validate"),
}

#: Public names that are also the name of a submodule (``mcflow.density`` the function, in
#: ``mcflow/density.py``): importing the submodule must not replace the function.
_SHADOWED = frozenset(name for name, (module, attribute) in _LAZY.items()
                      if module == f"{__name__}.{name}" and attribute == name)


def __getattr__(name: str) -> Any:
    """Import a public name's module, or a submodule, on first access (PEP 562)."""
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value  # later accesses are plain attribute look-ups
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


class _Package(ModuleType):
    """The type of the ``mcflow`` module: it keeps shadowed public names bound to the function.

    The import system binds every imported submodule as an attribute of its package
    (``setattr(mcflow, "density", <module mcflow.density>)``); for the names of
    ``_SHADOWED`` the public function of that module is bound instead, as the eager
    ``from mcflow.density import density`` of earlier versions did.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, ModuleType) and \
                value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
    from mcflow.validation import ValidationResult

    if isinstance(results, ValidationResult):
        results = [results]
    return write_report(list(results), directory, **options)
