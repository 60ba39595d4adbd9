"""THE JSON document of a validation run: schema ``mcflow.validation/2``.

``mcflow validate --json``, ``mcflow check --json``, a report's ``result.json``
(1-D and d-dimensional, one case or many) and :meth:`CheckOutcome.to_dict
<mcflow.check.CheckOutcome.to_dict>` all write this one document, so that one
reader (and ``mcflow check --compare``) handles every output::

    {"schema": "mcflow.validation/2", "mcflow_version", "title" (optional),
     "verdict", "alpha", "environment", "seconds", "selected_by",
     "cases_in_config", "cases": [case, ...], "comparison" (optional)}

Each case has ``name``, ``kind`` (``"1d"``, ``"nd"``, ``"error"`` or
``"not_run"``), ``verdict`` and its kind's fields: a result's ``to_dict()``
without ``schema`` and ``mcflow_version``, which the document holds once.
The published JSON Schema (draft 2020-12) is
``mcflow/schema/validation-2.schema.json`` (:func:`json_schema`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from mcflow._version import __version__
from mcflow.result import SCHEMA_VERSION

__all__ = ["KINDS", "SCHEMA_FILE", "SCHEMA_VERSION", "VERDICT_ORDER", "build_document",
           "document_json", "environment", "error_case", "json_schema", "not_run_case",
           "one_case_document", "overall_verdict", "result_case"]

#: The published JSON Schema of the document, in the package's ``schema/`` folder.
SCHEMA_FILE = "validation-2.schema.json"
#: What a case is: a 1-D result, a d-dimensional one, one that raised, one never started.
KINDS = ("1d", "nd", "error", "not_run")
#: Verdicts from worst to best; a document's verdict is its worst case's (not run: no say).
VERDICT_ORDER = ("error", "fail", "inconclusive", "pass")
#: Keys of a lone result's ``to_dict()`` that a document holds once, at its top level.
_DOCUMENT_KEYS = ("schema", "mcflow_version")
#: ``"Type: message"``, as :meth:`mcflow.check.CaseError.line` writes an error.
_ERROR_LINE = re.compile(r"([A-Za-z_][\w.]*): (.*)", re.S)


def environment() -> dict[str, Any]:
    """Return the versions, threads and machine that produced a document.

    Every output carries the same keys (the schema requires them): ``mcflow``,
    ``numba``, ``numpy``, ``python``, ``threads``, ``threading_layer``,
    ``cpu``, ``cores``, ``platform``, ``created``.
    """
    import numba
    import numpy as np

    return {
        "mcflow": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": numba.get_num_threads(),
        "threading_layer": _threading_layer(numba),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _threading_layer(numba: Any) -> str:
    try:
        return str(numba.threading_layer())
    except ValueError:  # no parallel kernel has run in this process yet
        return "not initialised"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def result_case(name: str | None, result: Any) -> dict[str, Any]:
    """Return the case of a finished result under its case name.

    Parameters
    ----------
    name : str or None
        The case's name (a check config's); None keeps the result's own (the
        transform's, or the flow's).
    result : ValidationResult or NdResult
        Its ``to_dict()`` gives the kind's fields; a d-dimensional result
        keeps its flow's own name in ``flow``.

    Returns
    -------
    dict
        ``name`` first, then the result's fields without the document's keys.
    """
    fields = result.to_dict()
    return {"name": fields["name"] if name is None else name,
            **{key: value for key, value in fields.items()
               if key not in ("name", *_DOCUMENT_KEYS)}}


def error_case(name: str, message: str, type_: str | None = None) -> dict[str, Any]:
    """Return the case of one that could not run.

    Parameters
    ----------
    name : str
        The case's name.
    message : str
        What escaped from it.  Without ``type_``, a ``"Type: message"`` line
        (:meth:`mcflow.check.CaseError.line`) is split into the two.
    type_ : str, optional
        The exception's type name; null in the document when unknown.
    """
    if type_ is None and (match := _ERROR_LINE.fullmatch(message)):
        type_, message = match.group(1), match.group(2)
    return {"name": name, "kind": "error", "verdict": "error",
            "error": {"type": type_, "message": message}}


def not_run_case(name: str, reason: str) -> dict[str, Any]:
    """Return the case of one never started (``--fail-fast``), with the reason."""
    return {"name": name, "kind": "not_run", "verdict": "not_run", "reason": reason}


def overall_verdict(cases: Iterable[Mapping[str, Any]]) -> str:
    """Return the worst verdict of ``cases`` (a case not run does not count; none: pass)."""
    verdicts = {case["verdict"] for case in cases}
    return next((verdict for verdict in VERDICT_ORDER if verdict in verdicts), "pass")


def build_document(cases: Iterable[Mapping[str, Any]], *, alpha: float | None = None,
                   seconds: float | None = None, selected_by: str | None = None,
                   cases_in_config: int | None = None, title: str | None = None,
                   env: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the document of ``cases``, the one shape every output writes.

    Parameters
    ----------
    cases : iterable of dict
        From :func:`result_case`, :func:`error_case` and :func:`not_run_case`.
    alpha : float, optional
        The run's overall false-failure budget (default: the sum of the cases'
        own alphas, their Bonferroni union bound, at most 1; null when no case
        has one).
    seconds : float, optional
        Wall seconds of the run (default: the sum of the cases' totals).
    selected_by : str, optional
        The ``-k`` expression that chose the cases (null: all of them).
    cases_in_config : int, optional
        How many cases the config held (default: the number of ``cases``).
    title : str, optional
        A heading (reports have one); left out when None.
    env : mapping, optional
        From :func:`environment` (default: taken now).

    Returns
    -------
    dict
        Strict JSON data; validate it with :func:`json_schema`.
    """
    cases = [dict(case) for case in cases]
    ran = [case for case in cases if case["kind"] in ("1d", "nd")]
    if alpha is None and ran:
        alpha = min(1.0, sum(float(case["alpha"]) for case in ran))
    if seconds is None:
        seconds = sum(float(case["seconds"]["total"]) for case in ran)
    document: dict[str, Any] = {"schema": SCHEMA_VERSION, "mcflow_version": __version__}
    if title is not None:
        document["title"] = title
    document.update({
        "verdict": overall_verdict(cases), "alpha": alpha,
        "environment": dict(env) if env is not None else environment(),
        "seconds": float(seconds), "selected_by": selected_by,
        "cases_in_config": len(cases) if cases_in_config is None else int(cases_in_config),
        "cases": cases})
    return document


def one_case_document(result: Any, **options: Any) -> dict[str, Any]:
    """Return the document of one result (``mcflow validate``), named as its ``to_dict()``.

    ``options`` go to :func:`build_document`; ``alpha`` and ``seconds`` are the
    result's own.
    """
    return build_document([result_case(None, result)], alpha=result.alpha,
                          seconds=result.seconds["total"], **options)


def document_json(document: Mapping[str, Any]) -> str:
    """Return ``document`` as every output writes it: strict JSON, indented, one newline."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def json_schema() -> dict[str, Any]:
    """Return the published JSON Schema (draft 2020-12) of the document."""
    text = (resources.files("mcflow") / "schema" / SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
