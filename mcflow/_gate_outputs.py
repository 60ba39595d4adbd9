"""The command line's outputs: JSON, JUnit XML, a Markdown job summary, the report.

The JUnit file and the summary of ``mcflow check`` are rendered from a
:class:`~mcflow.check.CheckOutcome` alone (nothing re-runs).  Every output is
written atomically after the run, in the order of
:data:`mcflow._cli_options.OUTPUT_OPTIONS`, and recorded once complete, so that
the line printed on Ctrl-C says exactly which were written.

In the JUnit file a gate that cannot see is not a pass: an inconclusive case is
a ``<failure type="inconclusive">``, a case that could not run an ``<error>``,
and one ``--fail-fast`` never started is ``<skipped>``.
"""

from __future__ import annotations

import argparse
import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcflow._cli_options import requested_outputs
from mcflow._document import document_json
from mcflow._files import write_text_atomically

if TYPE_CHECKING:
    from mcflow.check import CheckOutcome

__all__ = ["interrupt_message", "junit_xml", "markdown_summary", "write_junit_xml",
           "write_markdown_summary", "write_outputs"]

#: The classname of every ``<testcase>``.
CLASSNAME = "mcflow.check"
#: Characters XML 1.0 cannot hold, even escaped (user messages may carry them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def _first_line(text: str) -> str:
    return _clean(text.strip().splitlines()[0] if text.strip() else text)


def junit_xml(outcome: CheckOutcome, suite: str = "mcflow check") -> str:
    """Return the JUnit XML document of ``outcome``: one ``<testcase>`` per case.

    Parameters
    ----------
    outcome : CheckOutcome
        From :func:`mcflow.check.run_check`.
    suite : str
        The ``<testsuite>`` name.

    Returns
    -------
    str
        ``fail`` gives ``<failure type="fail">`` with the case's summary,
        ``inconclusive`` ``<failure type="inconclusive">``, a case that could
        not run ``<error>``, one not run ``<skipped>``.
    """
    by_name = outcome.by_name
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    cases = []
    for name in outcome.case_names:
        case = ET.Element("testcase", classname=CLASSNAME, name=_clean(name),
                          time=f"{outcome.times.get(name, 0.0):.3f}")
        result = by_name.get(name)
        if name in outcome.errors:
            error = outcome.errors[name]
            child = ET.SubElement(case, "error", message=_clean(error.line()), type=error.type)
            child.text = _clean(error.traceback or error.line())
            counts["errors"] += 1
        elif result is None:
            ET.SubElement(case, "skipped", message=_clean(f"not run: {outcome.not_run_reason}"))
            counts["skipped"] += 1
        elif result.verdict != "pass":
            summary = result.summary()
            child = ET.SubElement(case, "failure", message=_first_line(summary),
                                  type=result.verdict)
            child.text = _clean(summary)
            counts["failures"] += 1
        cases.append(case)
    attributes = {"name": suite, "tests": str(len(cases)),
                  **{key: str(value) for key, value in counts.items()},
                  "time": f"{outcome.seconds:.3f}"}
    root = ET.Element("testsuites", attributes)
    testsuite = ET.SubElement(root, "testsuite", {
        **attributes, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": _clean(socket.gethostname())})
    properties = ET.SubElement(testsuite, "properties")
    count = len(outcome.case_names)
    for key, value in (("verdict", outcome.verdict), ("alpha", f"{outcome.alpha:g}"),
                       ("alpha_per_case", f"{outcome.alpha / count:.6g}"),
                       ("selected_by", outcome.selection or "")):
        ET.SubElement(properties, "property", name=key, value=_clean(value))
    testsuite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _cell(text: str) -> str:
    """Write ``text`` as a Markdown table cell: pipes escaped, on one line."""
    return " ".join(text.replace("|", "\\|").split())


def markdown_summary(outcome: CheckOutcome, title: str,
                     comparison: Mapping[str, Any] | None = None) -> str:
    """Return a Markdown job summary: the table, the verdict, each non-passing case's summary.

    Parameters
    ----------
    outcome : CheckOutcome
        From :func:`mcflow.check.run_check`.
    title : str
        The heading (the verdict is appended).
    comparison : mapping, optional
        ``--compare``'s (the document's ``comparison``): its table follows the verdict.

    Returns
    -------
    str
    """
    header, *rows = outcome.rows()
    lines = [f"## {title}: {outcome.verdict.upper()}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        name, verdict, *cells = row
        lines.append(f"| {_cell(name)} | **{verdict}** | "
                     + " | ".join(_cell(cell) for cell in cells) + " |")
    lines += ["", f"**{outcome.verdict_line()}**", ""]
    if comparison is not None:
        from mcflow._compare import comparison_markdown

        lines.append(comparison_markdown(comparison))
    for name, text in outcome.problems():
        lines += [f"### {_cell(name)}", "", "```", text.replace("```", "'''"), "```", ""]
    return "\n".join(lines)


def write_junit_xml(outcome: CheckOutcome, path: str | Path) -> Path:
    """Write :func:`junit_xml` to ``path`` atomically; return the path."""
    return write_text_atomically(path, junit_xml(outcome))


def write_markdown_summary(outcome: CheckOutcome, path: str | Path, title: str,
                           comparison: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`markdown_summary` to ``path`` atomically; return the path."""
    return write_text_atomically(path, markdown_summary(outcome, title, comparison))


def write_outputs(args: argparse.Namespace, payload: dict[str, Any],
                  write_report: Callable[[Path], Path], outcome: CheckOutcome | None = None
                  ) -> None:
    """Write --json, --junit-xml, --summary, then --report; record each in ``args.written``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``validate`` or ``check`` arguments, with a ``written`` list.
    payload : dict
        The JSON document (``mcflow.validation/2``; its ``comparison``, if any,
        goes into ``--summary`` too).
    write_report : callable
        ``write_report(folder) -> index path``.
    outcome : CheckOutcome, optional
        ``mcflow check``'s: for the JUnit file and the summary.
    """
    def done(option: str) -> None:
        args.written.append(f"--{option.replace('_', '-')} {getattr(args, option)}")

    if args.json:
        write_text_atomically(args.json, document_json(payload))
        done("json")
    if outcome is not None and args.junit_xml:
        write_junit_xml(outcome, args.junit_xml)
        done("junit_xml")
    if outcome is not None and args.summary:
        write_markdown_summary(outcome, args.summary, f"mcflow check: {args.source}",
                               payload.get("comparison"))
        done("summary")
    if args.report:
        index = write_report(args.report)
        done("report")
        if not args.quiet:
            print(f"report: {index}")


def interrupt_message(args: argparse.Namespace | None, terminated: bool) -> str:
    """One line: which signal, which outputs were written and which were not.

    Parameters
    ----------
    args : argparse.Namespace or None
        The parsed arguments (None: interrupted while parsing them).
    terminated : bool
        SIGTERM rather than SIGINT.

    Returns
    -------
    str
    """
    cause = "terminated by SIGTERM" if terminated else "interrupted (SIGINT)"
    requested = requested_outputs(args) if args is not None else []
    written = list(getattr(args, "written", []))
    missing = [item for item in requested if item not in written]
    parts = [f"wrote {' and '.join(written)}" if written else "nothing was written"]
    if missing:
        parts.append(f"{' and '.join(missing)} not written (any earlier file there is "
                     "unchanged)")
    return f"mcflow: {cause}; {'; '.join(parts)}"
