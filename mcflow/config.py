"""The ``[tool.mcflow]`` table: a project's list of density cases for ``mcflow check``.

Example (in ``pyproject.toml``, or the same keys at the top of a standalone
TOML file passed to ``mcflow check FILE``)::

    [tool.mcflow]
    alpha = 0.01        # one false-failure budget shared by all cases
    n = 1e7             # defaults for every case
    seed = 0

    [[tool.mcflow.cases]]
    name = "seed exp"
    transform = "exp"

    [[tool.mcflow.cases]]
    name = "my flow"
    transform = "mypkg.flows:flow"     # MODULE:OBJECT naming a mcflow.Transform
    pdf = "mypkg.flows:log_normal_pdf" # optional MODULE:FUNC
    n = 1e8
    mu = 0.5
    sigma = 2.0
    tolerance = 1e-3
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["CASE_KEYS", "Case", "CheckConfig", "ConfigError", "load_config"]

#: Keys a case (or the table's defaults) may set, with their meaning.
CASE_KEYS = {
    "name": "label in the table and report",
    "transform": "built-in spec or MODULE:OBJECT",
    "pdf": "MODULE:FUNC claimed density (optional)",
    "n": "samples",
    "bins": "number of bins (needs range) or a list of edges",
    "range": "[lo, hi] for an integer bins",
    "seed": "stream seed",
    "tolerance": "L1 deviation that matters",
    "mu": "mean of X",
    "sigma": "standard deviation of X",
}
_DEFAULT_KEYS = set(CASE_KEYS) - {"name", "transform", "pdf"}


class ConfigError(ValueError):
    """A configuration file that cannot be used (the CLI's exit code 2)."""


@dataclass(frozen=True)
class Case:
    """One validation case: a name, a transform spec and validate() options."""

    name: str
    transform: str
    pdf: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckConfig:
    """All cases and the shared alpha budget."""

    cases: tuple[Case, ...]
    alpha: float
    source: Path


def load_config(path: str | Path | None = None) -> CheckConfig:
    """Read the cases from ``pyproject.toml`` (default) or a given TOML file.

    Parameters
    ----------
    path : str or Path, optional
        A ``pyproject.toml`` (cases under ``[tool.mcflow]``) or a standalone
        TOML file (cases at the top level or under ``[tool.mcflow]``).

    Returns
    -------
    CheckConfig
    """
    source = Path(path) if path is not None else Path("pyproject.toml")
    if not source.is_file():
        raise ConfigError(f"config file {str(source)!r} does not exist")
    try:
        document = tomllib.loads(source.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(source)!r} is not valid TOML: {error}") from None
    table = document.get("tool", {}).get("mcflow")
    if table is None:
        if source.name == "pyproject.toml" or "cases" not in document:
            raise ConfigError(f"{str(source)!r} has no [tool.mcflow] table with cases")
        table = document
    alpha = table.get("alpha", 0.01)
    defaults = {key: table[key] for key in _DEFAULT_KEYS if key in table}
    unknown = sorted(set(table) - _DEFAULT_KEYS - {"alpha", "cases"})
    if unknown:
        raise ConfigError(
            f"{str(source)!r}: unknown key {unknown[0]!r} in [tool.mcflow]; "
            f"known: alpha, cases, {', '.join(sorted(_DEFAULT_KEYS))}"
        )
    raw_cases = table.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise ConfigError(
            f"{str(source)!r}: [tool.mcflow] needs at least one [[tool.mcflow.cases]]"
        )
    cases = []
    names = set()
    for index, raw in enumerate(raw_cases):
        if not isinstance(raw, dict):
            raise ConfigError(f"{str(source)!r}: case {index} must be a table")
        unknown = sorted(set(raw) - set(CASE_KEYS))
        if unknown:
            raise ConfigError(
                f"{str(source)!r}: case {index}: unknown key {unknown[0]!r}; "
                f"known: {', '.join(CASE_KEYS)}"
            )
        if "transform" not in raw:
            raise ConfigError(f"{str(source)!r}: case {index} has no 'transform'")
        name = str(raw.get("name", raw["transform"]))
        if name in names:
            raise ConfigError(f"{str(source)!r}: case name {name!r} is used twice")
        names.add(name)
        options = {**defaults, **{k: v for k, v in raw.items() if k in _DEFAULT_KEYS}}
        if "range" in options:
            options["range"] = tuple(options["range"])
        cases.append(Case(name=name, transform=str(raw["transform"]), pdf=raw.get("pdf"),
                          options=options))
    return CheckConfig(cases=tuple(cases), alpha=alpha, source=source)
