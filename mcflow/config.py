"""The ``[tool.mcflow]`` table: a project's list of density cases for ``mcflow check``.

Example (in ``pyproject.toml``, or the same keys at the top of a standalone
TOML file passed to ``mcflow check FILE``)::

    [tool.mcflow]
    alpha = 0.01        # one false-failure budget shared by all cases
    n = 1e7             # defaults for every case
    seed = "auto"       # the default: a seed derived from each case's identity

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
    support = [0, inf]                 # optional: the interval of Y's values

Resolving ``MODULE:OBJECT`` imports the module, which runs its code: a config
file is code, so run ``mcflow check`` only on configs you trust.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
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
    "seed": "stream seed: a non-negative integer or \"auto\" (from the case identity)",
    "tolerance": "L1 deviation that matters",
    "mu": "mean of X",
    "sigma": "standard deviation of X",
    "support": "[lo, hi] interval of Y's values (numbers, inf or \"-inf\")",
}
_DEFAULT_KEYS = set(CASE_KEYS) - {"name", "transform", "pdf", "support"}
_SEED_LIMIT = 2**63  # seeds round-trip through JSON, TOML and int64


class ConfigError(ValueError):
    """A configuration file that cannot be used (the CLI's exit code 2)."""


@dataclass(frozen=True)
class Case:
    """One validation case: a name, a transform spec, validate() options and a support."""

    name: str
    transform: str
    pdf: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    support: tuple[float, float] | None = None


@dataclass(frozen=True)
class CheckConfig:
    """All cases (or those selected) and the shared alpha budget, split over ``cases``."""

    cases: tuple[Case, ...]
    alpha: float
    source: Path
    #: The ``-k`` expression that chose ``cases`` (None: every case of the file).
    selection: str | None = None
    #: How many cases the file has (0: ``len(cases)``).
    available: int = 0

    def select(self, expression: str) -> CheckConfig:
        """Keep the cases whose names match ``expression`` (``-k`` syntax, as in pytest).

        Raises
        ------
        ConfigError
            When the expression selects no case (a gate that runs nothing must not pass).
        """
        from mcflow._keyword import compile_expression

        matches = compile_expression(expression)
        if not expression.strip():
            return self
        cases = tuple(case for case in self.cases if matches(case.name))
        if not cases:
            names = ", ".join(repr(case.name) for case in self.cases)
            raise ConfigError(f"-k {expression!r} selects none of the {len(self.cases)} cases "
                              f"of {str(self.source)!r} ({names})")
        return replace(self, cases=cases, selection=expression,
                       available=self.available or len(self.cases))

    def override(self, *, n: int | None = None, seed: int | str | None = None) -> CheckConfig:
        """Return the config with every case's ``n`` and/or ``seed`` replaced (None: kept)."""
        given = {key: value for key, value in (("n", n), ("seed", seed)) if value is not None}
        if not given:
            return self
        return replace(self, cases=tuple(replace(case, options={**case.options, **given})
                                         for case in self.cases))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _support_end(value: Any) -> float | None:
    """Return a support end as a float (numbers, or the strings inf, +inf, -inf), else None."""
    if _is_number(value):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf"):
        return float(value.strip())
    return None


def _parse_support(value: Any, where: str) -> tuple[float, float]:
    """Check a ``support = [lo, hi]`` value and return it as two floats."""
    ends = [_support_end(v) for v in value] if isinstance(value, list) else []
    lo, hi = (ends if len(ends) == 2 else [None, None])
    if lo is None or hi is None:
        raise ConfigError(f"{where}: support must be a list [lo, hi] of two numbers (inf and "
                          f"\"-inf\" allowed), got {value!r}")
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ConfigError(f"{where}: support must satisfy lo < hi, got {value!r}")
    return lo, hi


def _check_types(values: dict[str, Any], where: str) -> None:
    """Reject values of the wrong type with the key named (not a traceback later)."""
    for key, value in values.items():
        if key in ("name", "transform", "pdf"):
            good = isinstance(value, str) and bool(value.strip())
            expected = "a non-empty string"
        elif key == "n":
            good = _is_number(value) or isinstance(value, str)
            expected = "a number such as 1e7"
        elif key == "range":
            good = isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))
            expected = "a list [lo, hi] of two numbers"
        elif key == "bins":
            good = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, list) and all(map(_is_number, value)))
            expected = "an integer or a list of edges"
        elif key == "seed":
            good = (_is_integer(value) and 0 <= value < _SEED_LIMIT) or value == "auto"
            expected = 'a non-negative integer below 2**63 or "auto"'
        elif key == "support":
            continue  # parsed (and checked) by _parse_support
        else:  # mu, sigma, tolerance
            good = _is_number(value)
            expected = "a number"
        if not good:
            raise ConfigError(f"{where}: {key} must be {expected}, got {value!r}")


def _checked_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Refuse the values ``validate()`` would refuse, naming ``where``; return them parsed."""
    from mcflow._binning import make_binning
    from mcflow._checks import check_n, check_normal, check_tolerance

    options = dict(options)
    if "range" in options:
        options["range"] = tuple(options["range"])
    if isinstance(options.get("n"), str):
        try:
            options["n"] = float(options["n"].replace("_", ""))
        except ValueError:
            raise ConfigError(f"{where}: n must be a number such as 1e7, got "
                              f"{options['n']!r}") from None
    if _is_integer(options.get("bins")) != ("range" in options):
        raise ConfigError(f"{where}: an integer bins needs range = [lo, hi], and range needs "
                          "an integer bins")
    try:
        if "n" in options:
            options["n"] = check_n(options["n"])
        check_normal(options.get("mu", 0.0), options.get("sigma", 1.0))
        check_tolerance(options.get("tolerance"))
        if "bins" in options:
            make_binning(options["bins"], options.get("range"))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None
    return options


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
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"{str(source)!r}: [tool.mcflow] alpha must be a number in (0, 1), "
                          f"got {alpha!r}")
    unknown = sorted(set(table) - _DEFAULT_KEYS - {"alpha", "cases"})
    if unknown:
        raise ConfigError(
            f"{str(source)!r}: unknown key {unknown[0]!r} in [tool.mcflow]; "
            f"known: alpha, cases, {', '.join(sorted(_DEFAULT_KEYS))}"
        )
    defaults = {key: table[key] for key in _DEFAULT_KEYS if key in table}
    _check_types(defaults, f"{str(source)!r}: [tool.mcflow]")
    # Checked on their own, even where every case overrides them: a bad default is a typo.
    defaults = _checked_options(defaults, f"{str(source)!r}: [tool.mcflow]")
    raw_cases = table.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise ConfigError(
            f"{str(source)!r}: [tool.mcflow] needs at least one [[tool.mcflow.cases]]"
        )
    cases: list[Case] = []
    for index, raw in enumerate(raw_cases):
        case = _load_case(raw, index, defaults, str(source))
        if any(case.name == other.name for other in cases):
            raise ConfigError(f"{str(source)!r}: case name {case.name!r} is used twice")
        cases.append(case)
    return CheckConfig(cases=tuple(cases), alpha=alpha, source=source)


def _load_case(raw: Any, index: int, defaults: dict[str, Any], source: str) -> Case:
    """Check one ``[[tool.mcflow.cases]]`` table and merge in the defaults."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source!r}: case {index} must be a table")
    where = f"{source!r}: case {index}"
    if isinstance(raw.get("name"), str):
        where += f" ({raw['name']!r})"
    unknown = sorted(set(raw) - set(CASE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(CASE_KEYS)}")
    if "transform" not in raw:
        raise ConfigError(f"{source!r}: case {index} has no 'transform'")
    _check_types(raw, where)
    support = _parse_support(raw["support"], where) if "support" in raw else None
    own = {k: v for k, v in raw.items() if k in _DEFAULT_KEYS}
    inherited = dict(defaults)
    if "bins" in own and not _is_integer(own["bins"]) and "range" not in own:
        inherited.pop("range", None)  # a case's own edges replace the default bins and range
    options = _checked_options({**inherited, **own}, where)
    return Case(name=str(raw.get("name", raw["transform"])), transform=str(raw["transform"]),
                pdf=raw.get("pdf"), options=options, support=support)
