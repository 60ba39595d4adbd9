"""``mcflow check --compare BASELINE``: which cases changed verdict, which statistics moved.

The baseline is an ``mcflow.validation/2`` document (``mcflow check --json``,
``validate --json`` or a report's ``result.json``); cases are paired by name.
A verdict change is a *regression* (pass to anything else), *fixed* (anything
to pass) or *changed*; cases only in this run are *new*, only in the baseline
*removed*; a case not run on either side is *not compared*.

A statistic *moved* only when the change is larger than what either run can
tell apart from sampling noise, not by an arbitrary percentage:

- L1: ``|ΔL1|`` above the larger of the two runs' ``detection_limit``, the
  smallest L1 error each run detects (95% power at its n and alpha);
- KS D: ``|ΔD|`` above ``c(a) sqrt(1/n_old + 1/n_new)``, ``c(a) =
  sqrt(-ln(a/2)/2)`` at the smaller ``alpha_per_test`` ``a``: both D are
  distances to the one claimed CDF, so ``|ΔD|`` is at most the two empirical
  CDFs' distance, which this bounds with probability ``1 - a`` when nothing
  changed (the two-sample Kolmogorov bound);
- normalization (deterministic quadrature): ``|Δ|`` above the sum of the two
  runs' ``quadrature_error`` (and 1e-12 relative, for rounding);
- p-values (the combined one, each d-dimensional layer's): only crossing the
  threshold the run tests them at (``alpha_per_test``; alpha over the
  statistical layers for d dimensions), as p-values of a correct density are
  uniform and their difference means nothing; a layer's status: any change.

With the same n and seed (and unchanged code) every statistic is bitwise the
same; with another seed the runs are independent samples and the criteria
above still hold; the rows say when n or seed differ.  The comparison only
informs: the exit code stays this run's verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mcflow._document import SCHEMA_VERSION

__all__ = ["BaselineError", "compare_documents", "comparison_lines", "comparison_markdown",
           "load_baseline"]

#: The d-dimensional layers that share alpha (Bonferroni), as :func:`mcflow.nd.validate` splits it.
_ND_STATISTICAL = ("normalisation", "mc_vs_claimed", "histogram")
_CHANGES = ("regression", "fixed", "changed", "new", "removed", "not_compared", "unchanged")
Case = Mapping[str, Any]


class BaselineError(ValueError):
    """The ``--compare`` file cannot be read as a baseline (exit code 2, before any sampling)."""


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read the baseline document at ``path``, or raise :class:`BaselineError` saying why.

    Parameters
    ----------
    path : str or Path
        An ``mcflow.validation/2`` document.

    Returns
    -------
    dict
        The document; its cases each have a ``name`` and a ``verdict``.
    """
    shown = f"--compare {str(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{shown}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{shown}: cannot be read ({error})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(f"{shown}: not JSON ({error.msg}, line {error.lineno} column "
                            f"{error.colno})") from None
    supported = (f"--compare reads {SCHEMA_VERSION!r} documents (mcflow check --json, "
                 "validate --json, a report's result.json)")
    if not isinstance(document, dict) or "schema" not in document:
        raise BaselineError(f"{shown}: not an mcflow document (no \"schema\" key); {supported}")
    if document["schema"] != SCHEMA_VERSION:
        raise BaselineError(f"{shown}: schema {document['schema']!r} is not supported; "
                            f"{supported}: write the baseline again with this mcflow")
    cases = document.get("cases")
    if not isinstance(cases, list) or not all(
            isinstance(case, dict) and isinstance(case.get("name"), str)
            and isinstance(case.get("verdict"), str) for case in cases):
        raise BaselineError(f"{shown}: malformed {SCHEMA_VERSION} document: \"cases\" must be "
                            "a list of objects with a name and a verdict")
    return document


def _real(value: Any) -> float:
    """Read a document's number as a float (``"nan"``, ``"inf"`` and ``"-inf"`` included)."""
    return float(value) if value is not None else math.nan


def _json_real(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _beyond(old: Any, new: Any, threshold: float) -> bool:
    """Whether ``|new - old| > threshold``; NaN on one side only, or unequal infinities, too."""
    a, b = _real(old), _real(new)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        return a != b
    return abs(b - a) > threshold


def _move(statistic: str, old: Any, new: Any, threshold: float | None, criterion: str,
          layer: str | None = None) -> dict[str, Any]:
    numeric = criterion != "status_changed"
    return {"statistic": statistic, "layer": layer, "old": old, "new": new,
            "difference": _json_real(_real(new) - _real(old)) if numeric else None,
            "threshold": None if threshold is None else _json_real(threshold),
            "criterion": criterion}


def _crossed(old: Any, new: Any, threshold: float) -> bool:
    """Whether one p-value is at or below ``threshold`` and the other above it."""
    return (_real(old) <= threshold) != (_real(new) <= threshold)


def _one_d_moves(old: Case, new: Case) -> list[dict[str, Any]]:
    """Return the 1-D statistics that moved beyond their criteria (module docstring)."""
    moves = []
    a, b = old["statistics"], new["statistics"]
    limit = max(_real(old["detection_limit"]), _real(new["detection_limit"]))
    if _beyond(a["l1"], b["l1"], limit):
        moves.append(_move("l1", a["l1"], b["l1"], limit, "detection_limit"))
    alpha = min(_real(old["alpha_per_test"]), _real(new["alpha_per_test"]))
    ks = math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt(1 / old["n"] + 1 / new["n"])
    if _beyond(a["ks_statistic"], b["ks_statistic"], ks):
        moves.append(_move("ks_statistic", a["ks_statistic"], b["ks_statistic"], ks,
                           "ks_critical_value"))
    o, n = _real(old["normalization"]), _real(new["normalization"])
    tolerance = _real(old["quadrature_error"]) + _real(new["quadrature_error"])
    if math.isfinite(o) and math.isfinite(n):
        tolerance += 1e-12 * max(1.0, abs(o), abs(n))
    if _beyond(old["normalization"], new["normalization"], tolerance):
        moves.append(_move("normalization", old["normalization"], new["normalization"],
                           tolerance, "quadrature_error"))
    threshold = _real(new["alpha_per_test"])
    if _crossed(a["combined_pvalue"], b["combined_pvalue"], threshold):
        moves.append(_move("combined_pvalue", a["combined_pvalue"], b["combined_pvalue"],
                           threshold, "threshold_crossed"))
    return moves


def _nd_moves(old: Case, new: Case) -> list[dict[str, Any]]:
    """Return each d-dimensional layer whose status changed or whose p-value crossed alpha."""
    layers = [{layer["name"]: layer for layer in case["layers"]} for case in (old, new)]
    shares = sum(name in layers[1] for name in _ND_STATISTICAL) or 1
    threshold = _real(new["alpha"]) / shares
    moves = []
    for name in [*layers[0], *(name for name in layers[1] if name not in layers[0])]:
        before, after = layers[0].get(name), layers[1].get(name)
        status = [None if layer is None else layer["status"] for layer in (before, after)]
        p = [None if layer is None else layer["statistics"].get(
            "pvalue", layer["statistics"].get("combined_pvalue")) for layer in (before, after)]
        if status[0] != status[1]:
            moves.append(_move("status", status[0], status[1], None, "status_changed", name))
        if None not in p and _crossed(p[0], p[1], threshold):
            moves.append(_move("pvalue", p[0], p[1], threshold, "threshold_crossed", name))
    return moves


def _change(old: str | None, new: str | None) -> str:
    if old is None:
        return "new"
    if new is None:
        return "removed"
    if "not_run" in (old, new):
        return "not_compared"
    if old == new:
        return "unchanged"
    return "regression" if old == "pass" else "fixed" if new == "pass" else "changed"


def _compare_case(name: str, old: Case | None, new: Case | None) -> dict[str, Any]:
    verdicts = [None if case is None else case["verdict"] for case in (old, new)]
    moves: list[dict[str, Any]] = []
    notes = []
    if old is not None and new is not None:
        kinds = old.get("kind"), new.get("kind")
        if kinds[0] != kinds[1] and "error" not in kinds and "not_run" not in kinds:
            notes.append(f"kind was {kinds[0]}, now {kinds[1]}: only the verdicts compared")
        elif kinds[0] == kinds[1] and kinds[0] in ("1d", "nd"):
            if old["n"] != new["n"]:
                notes.append(f"n was {old['n']:.3g}, now {new['n']:.3g}: the criteria use both")
            if old["seed"] != new["seed"]:
                notes.append("seed differs: independent samples")
            if old["alpha"] != new["alpha"]:
                notes.append(f"alpha was {_real(old['alpha']):.3g}, now "
                             f"{_real(new['alpha']):.3g}")
            moves = _one_d_moves(old, new) if kinds[0] == "1d" else _nd_moves(old, new)
    return {"name": name, "change": _change(*verdicts), "old_verdict": verdicts[0],
            "new_verdict": verdicts[1], "moved": moves, "notes": notes}


def compare_documents(baseline: Mapping[str, Any], current: Mapping[str, Any],
                      label: str) -> dict[str, Any]:
    """Compare this run's document with the baseline's, case by case (by name).

    Parameters
    ----------
    baseline : mapping
        From :func:`load_baseline`.
    current : mapping
        This run's document.
    label : str
        The baseline's path, as given.

    Returns
    -------
    dict
        The document's optional ``comparison``: ``baseline``, its
        ``mcflow_version`` and creation time, one entry per case (this run's
        order, then the removed ones) and the ``counts`` of each change.
    """
    old = {case["name"]: case for case in baseline["cases"]}
    new = {case["name"]: case for case in current["cases"]}
    names = [*new, *(name for name in old if name not in new)]
    cases = [_compare_case(name, old.get(name), new.get(name)) for name in names]
    counts = {key: sum(case["change"] == key for case in cases) for key in _CHANGES}
    counts["moved"] = sum(bool(case["moved"]) for case in cases)
    env = baseline.get("environment")
    return {"baseline": label, "baseline_mcflow_version": baseline.get("mcflow_version"),
            "baseline_created": env.get("created") if isinstance(env, dict) else None,
            "cases": cases, "counts": counts}


def _number(value: Any) -> str:
    return value if isinstance(value, str) else "-" if value is None else f"{value:.3g}"


def _moved_text(move: Mapping[str, Any], arrow: str) -> str:
    label = {"l1": "L1", "ks_statistic": "KS D", "normalization": "normalization",
             "combined_pvalue": "combined p", "pvalue": "p"}.get(move["statistic"], "")
    where = f"{move['layer']} " if move["layer"] else ""
    change = f"{_number(move['old'])} {arrow} {_number(move['new'])}"
    if move["criterion"] == "status_changed":
        return f"{where}{change}"
    if move["criterion"] == "threshold_crossed":
        return f"{where}{label} {change} (crossed {_number(move['threshold'])})"
    why = {"detection_limit": "detection limit", "ks_critical_value": "KS bound",
           "quadrature_error": "quadrature error"}[move["criterion"]]
    return (f"{label} {change} (|diff| {_number(abs(_real(move['difference'])))} > {why} "
            f"{_number(move['threshold'])})")


def _rows(comparison: Mapping[str, Any], arrow: str) -> list[tuple[str, str, str, str, str]]:
    rows = [("case", "verdict", "change", "moved", "notes")]
    for case in comparison["cases"]:
        verdicts = f"{case['old_verdict'] or '(new)'} {arrow} {case['new_verdict'] or '(gone)'}"
        change = {"unchanged": "-", "regression": "REGRESSION"}.get(
            case["change"], case["change"].replace("_", " "))
        rows.append((case["name"], verdicts, change,
                     "; ".join(_moved_text(move, arrow) for move in case["moved"]) or "-",
                     "; ".join(case["notes"]) or "-"))
    return rows


def _verdict_line(comparison: Mapping[str, Any]) -> str:
    counts = comparison["counts"]
    named = {"regression": "regression", "fixed": "fixed", "changed": "other verdict change",
             "new": "new", "removed": "removed", "not_compared": "not compared"}
    plural = {key: "s" if key in ("regression", "changed") and counts[key] != 1 else ""
              for key in named}
    parts = [f"{counts[key]} {text}{plural[key]}" for key, text in named.items() if counts[key]]
    if counts["moved"]:
        parts.append(f"{counts['moved']} case{'s' if counts['moved'] != 1 else ''} with moved "
                     "statistics")
    if not parts or parts == [f"{counts['not_compared']} not compared"]:
        parts.insert(0, "no changes")
    return "compare: " + ", ".join(parts)


def comparison_lines(comparison: Mapping[str, Any], arrow: str = "→") -> list[str]:
    """Return the comparison as a plain-text table and a verdict line (``arrow`` between sides)."""
    rows = _rows(comparison, arrow)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return [f"{_baseline_line(comparison)}:", *lines, "", _verdict_line(comparison)]


def _baseline_line(comparison: Mapping[str, Any]) -> str:
    version, created = comparison["baseline_mcflow_version"], comparison["baseline_created"]
    written = ", ".join(part for part in (version and f"mcflow {version}", created) if part)
    return f"Compared with {comparison['baseline']}" + (f" ({written})" if written else "")


def comparison_markdown(comparison: Mapping[str, Any]) -> str:
    """Return the comparison as a Markdown section (for ``--summary``)."""
    header, *rows = _rows(comparison, "→")
    lines = [f"### {_baseline_line(comparison)}", "", f"**{_verdict_line(comparison)}**", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(" ".join(cell.replace("|", "\\|").split()) for cell in row)
              + " |" for row in rows]
    return "\n".join([*lines, ""])
