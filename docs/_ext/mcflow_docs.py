"""Local Sphinx extension: the pages that are generated from mcflow's own code.

- ``.. mcflow-cli-help:: [SUBCOMMAND]`` inserts ``mcflow [SUBCOMMAND] --help`` as the real
  argparse parser (:func:`mcflow._cli_options.build_parser`) prints it, so the CLI reference
  is the parser's own text and changes with it.
- ``.. mcflow-builtins::`` inserts the table ``mcflow list`` prints
  (:func:`mcflow.specs.describe_builtins`).
- ``.. mcflow-config-keys::`` inserts the ``[tool.mcflow]`` key table: each key's meaning from
  :data:`mcflow.config.CASE_KEYS`, where it may appear from ``mcflow.config``, and its type
  and default from the table below, which must name exactly the keys the loader knows (a key
  added to the loader without documentation here fails the build).
- ``.. mcflow-result:: PATH`` inserts a committed report's verdict, layers and p-values, read
  from its ``result.json``.
- A ``missing-reference`` handler resolves a docstring's short reference (``:func:`p_text```)
  in the namespace of the module that holds the docstring, as Python would.
- ``.. mcflow-example::`` shows Python code, runs it when the site is built and shows what it
  printed.
- ``.. mcflow-markdown-table:: PATH`` inserts a pipe table of a committed Markdown file
  (``reports/power/README.md``...), numbers as its generator wrote them.
- The ``mathml`` HTML math renderer: ``.. math::`` and ``:math:`` are converted to MathML at
  build time by docutils' own LaTeX converter.  Browsers render MathML natively, so formulas
  read the same offline, with no MathJax from a CDN; a formula docutils cannot convert is a
  build warning (an error under ``-W``), never raw LaTeX on the page.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.utils.math import latex2mathml
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: Width of the generated ``--help`` text: argparse wraps at the terminal's width.
HELP_COLUMNS = 86

#: Type and default of every config key, as the loader (mcflow/config.py) and validate() take
#: them.  ``None`` as a default: read it from ``mcflow.validate``'s signature.
CONFIG_KEY_DOCS: dict[str, tuple[str, str | None]] = {
    "name": ("string", "the transform spec"),
    "transform": ("string: a built-in spec (``exp``, ``sinh_arcsinh:skew=0.5``), "
                  "``MODULE:OBJECT``, ``torch:MODULE:OBJECT`` or ``jax:MODULE:OBJECT``",
                  "required"),
    "pdf": ("string ``MODULE:FUNC``", "the density derived from the transform (Eq. 5)"),
    "n": ("number (``1e7``, ``10000000``) or a string such as ``\"1_000_000\"``", None),
    "bins": ("integer (needs ``range``) or a list of edges",
             "equal-probability bins with refined tails"),
    "range": ("``[lo, hi]``, two numbers (only with an integer ``bins``)", "none"),
    "seed": ("non-negative integer below 2\\ :sup:`63`, or ``\"auto\"``", None),
    "tolerance": ("number > 0", "none: the Monte Carlo resolution of this n"),
    "mu": ("number", "0 (or the distribution's base)"),
    "sigma": ("number > 0", "1 (or the distribution's base)"),
    "support": ("``[lo, hi]``, numbers or ``inf`` / ``\"-inf\"``", "inferred from T"),
}


@contextmanager
def _columns(width: int) -> Any:
    """Fix the width argparse wraps at (it reads ``$COLUMNS``), whatever the terminal."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_help(subcommand: str | None) -> str:
    """Return ``mcflow [SUBCOMMAND] --help`` as the parser prints it."""
    import argparse

    from mcflow._cli_options import build_parser

    with _columns(HELP_COLUMNS):
        parser = build_parser()
        if subcommand is None:
            return parser.format_help()
        for action in parser._actions:  # argparse keeps the subparsers here, nowhere public
            if isinstance(action, argparse._SubParsersAction):
                if subcommand in action.choices:
                    return action.choices[subcommand].format_help()
                raise ValueError(f"mcflow has no subcommand {subcommand!r}; it has "
                                 f"{', '.join(action.choices)}")
    raise ValueError("the mcflow parser has no subcommands")


def _literal(text: str, language: str = "text") -> nodes.literal_block:
    block = nodes.literal_block(text, text)
    block["language"] = language
    return block


class CliHelp(SphinxDirective):
    """``.. mcflow-cli-help:: [SUBCOMMAND]``: the parser's help text, as a literal block."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Return the help text of the subcommand named (or of ``mcflow`` itself)."""
        self.env.note_dependency(_source_of("mcflow._cli_options"))
        subcommand = self.arguments[0] if self.arguments else None
        try:
            text = cli_help(subcommand)
        except ValueError as error:
            raise self.error(str(error)) from None
        command = "mcflow" + (f" {subcommand}" if subcommand else "")
        return [_literal(f"$ {command} --help\n{text.rstrip()}", "console")]


class Builtins(SphinxDirective):
    """``.. mcflow-builtins::``: the built-in transforms, as ``mcflow list`` prints them."""

    def run(self) -> list[nodes.Node]:
        """Return the table of built-ins: spec with default parameters, and summary."""
        from mcflow.specs import describe_builtins

        self.env.note_dependency(_source_of("mcflow.transforms"))
        rows = [(f"{name}:{parameters.replace(', ', ',')}" if parameters else name, summary)
                for name, parameters, summary in describe_builtins()]
        return [_table(["spec (with its default parameters)", "transform"],
                       [[_code(spec), _text(summary)] for spec, summary in rows],
                       widths=[40, 60])]


class ConfigKeys(SphinxDirective):
    """``.. mcflow-config-keys::``: every ``[tool.mcflow]`` key with its type and default."""

    def run(self) -> list[nodes.Node]:
        """Return the table of keys, or an error if the documented keys are out of date."""
        import mcflow
        from mcflow import config

        self.env.note_dependency(_source_of("mcflow.config"))
        keys = dict(config.CASE_KEYS)
        if set(keys) != set(CONFIG_KEY_DOCS):
            missing = sorted(set(keys) - set(CONFIG_KEY_DOCS))
            stale = sorted(set(CONFIG_KEY_DOCS) - set(keys))
            raise self.error(f"docs/_ext/mcflow_docs.py CONFIG_KEY_DOCS is out of date: "
                             f"undocumented keys {missing}, keys the loader no longer knows "
                             f"{stale}")
        defaults = inspect.signature(mcflow.validate).parameters
        table_keys = config._DEFAULT_KEYS
        rows = []
        for key, meaning in keys.items():
            kind, default = CONFIG_KEY_DOCS[key]
            if default is None:
                default = _shown(defaults[key].default)
            where = "table and case" if key in table_keys else "case only"
            rows.append([_code(key), self._parsed(meaning), self._parsed(kind),
                         self._parsed(default), _text(where)])
        rows.insert(0, [_code("alpha"), _text("one false-failure budget shared by all cases, "
                                              "split over them (Bonferroni)"),
                        _text("number in (0, 1)"), self._parsed(_shown(defaults["alpha"].default)),
                        _text("table only")])
        return [_table(["key", "meaning", "type", "default", "where"], rows,
                       widths=[11, 28, 30, 19, 12])]

    def _parsed(self, text: str) -> nodes.Node:
        """Inline reStructuredText (``code``, :sup:) of one cell."""
        paragraph = nodes.paragraph()
        parsed, _messages = self.state.inline_text(text, self.lineno)
        paragraph.extend(parsed)
        return paragraph


class ResultLayers(SphinxDirective):
    """``.. mcflow-result:: PATH``: a committed report's verdict, layers and p-values.

    Read from its ``result.json`` (schema ``mcflow.validation/N``) at build time, so the page
    quotes the report as it was last regenerated, never numbers copied by hand.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Return, for each case of the report, a line of facts and the table of layers."""
        import json

        relative, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise self.error(f"cannot read {self.arguments[0]}: {error}") from None
        if not str(document.get("schema", "")).startswith("mcflow.validation/"):
            raise self.error(f"{self.arguments[0]} is not a mcflow.validation report")
        output: list[nodes.Node] = []
        try:
            for case in document["cases"]:
                if case.get("kind", "1d") == "1d":
                    output.extend(self._case(case, document))
        except (KeyError, TypeError) as error:
            raise self.error(f"{self.arguments[0]}: a case lacks {error}") from None
        if not output:
            raise self.error(f"{self.arguments[0]} holds no 1-D result")
        return output

    @staticmethod
    def _case(case: dict[str, Any], document: dict[str, Any]) -> list[nodes.Node]:
        stats = case["statistics"]
        facts = (f"{case['name']}: {case['verdict'].upper()} at n = {case['n']:.0e}, "
                 f"seed = {case['seed']}, alpha = {case.get('alpha', document.get('alpha'))} "
                 f"({case['alpha_per_test']} per Monte Carlo layer); combined p = "
                 f"{stats['combined_pvalue']:.3g} (KS p = {stats['ks_pvalue']:.3g}, "
                 f"L1 p = {stats['l1_pvalue']:.3g}, G p = {stats['g_pvalue']:.3g}, "
                 f"AD p = {stats['ad_pvalue']:.3g}); detection limit L1 = "
                 f"{case['detection_limit']:.3g}; {case['replicates']} null replicates; "
                 f"{case['seconds']['total']:.1f} s in all.")
        return [_text(facts.replace("e+0", "e")),
                _table(["layer", "status", "message"],
                       [[_code(layer["name"]), _text(layer["status"]), _text(layer["message"])]
                        for layer in case["layers"]],
                       widths=[18, 10, 72])]


class Example(SphinxDirective):
    """``.. mcflow-example::``: Python code shown, run when the site is built, and its output.

    The code runs in a fresh namespace, in a temporary working directory (nothing it writes
    lands in the checkout), and what it prints is shown below it: the page shows what this
    version of mcflow prints, never a transcript pasted by hand.  An exception fails the build.
    """

    has_content = True

    def run(self) -> list[nodes.Node]:
        """Return the code block and the block of what it printed."""
        import contextlib
        import io
        import tempfile
        import traceback

        code = "\n".join(self.content)
        printed = io.StringIO()
        previous = Path.cwd()
        with tempfile.TemporaryDirectory(prefix="mcflow-docs-") as folder:
            os.chdir(folder)
            try:
                with contextlib.redirect_stdout(printed):
                    exec(compile(code, f"<{self.env.docname}: mcflow-example>", "exec"), {})
            except Exception:
                raise self.error(f"the example raised:\n{traceback.format_exc()}") from None
            finally:
                os.chdir(previous)
        output = _literal(printed.getvalue().rstrip() or "(nothing printed)")
        output["classes"].append("example-output")
        return [_literal(code, "python"), output]


class MarkdownTable(SphinxDirective):
    """``.. mcflow-markdown-table:: PATH``: a pipe table of a committed Markdown file.

    ``:table: K`` picks the K-th table of the file (1, the first, by default).  The table's
    title is the last heading above it in the file with the text that follows the heading (or,
    without a heading, the line just above the table).  The numbers on the page are the
    file's, as its generator last wrote them: nothing is copied by hand.
    """

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"table": directives.positive_int}

    def run(self) -> list[nodes.Node]:
        """Return the table chosen, titled as in the file."""
        relative, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise self.error(f"cannot read {self.arguments[0]}: {error}") from None
        tables: list[tuple[str, list[list[str]]]] = []
        text: list[str] = []  # the lines since the previous table
        rows: list[list[str]] = []
        for line in [*lines, ""]:
            if line.lstrip().startswith("|"):
                cells = [cell.strip().replace("\\|", "|")
                         for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
                if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                    rows.append(cells)
                continue
            if rows:
                tables.append((_caption(text), rows))
                rows, text = [], []
            if line.strip():
                text.append(line.strip())
        wanted = self.options.get("table", 1)
        if len(tables) < wanted:
            raise self.error(f"{self.arguments[0]} has {len(tables)} tables, not {wanted}")
        title, (header, *body) = tables[wanted - 1]
        if any(len(row) != len(header) for row in body):
            raise self.error(f"table {wanted} of {self.arguments[0]} has ragged rows")
        table = _table(header, [[self._parsed(cell) for cell in row] for row in body],
                       widths=[1] * len(header), parse=self._parsed)
        caption = nodes.title("", "", *self._parsed(title).children)
        table.insert(0, caption)
        table["classes"].append("from-markdown")
        return [table]

    def _parsed(self, text: str) -> nodes.Node:
        paragraph = nodes.paragraph()
        parsed, _messages = self.state.inline_text(text, self.lineno)
        paragraph.extend(parsed)
        return paragraph


def _caption(lines: list[str]) -> str:
    """Return a table's title: the last heading above it, and the text between the two."""
    headings = [index for index, line in enumerate(lines) if line.startswith("#")]
    start = headings[-1] if headings else max(len(lines) - 1, 0)
    title = [line.lstrip("#").strip() for line in lines[start:]]
    if len(title) > 1:
        title[0] = title[0].rstrip(".:") + "."
    return " ".join(title)


def _shown(value: Any) -> str:
    """Write a default of ``validate()`` as a config would (``1e7``, ``"auto"``)."""
    if isinstance(value, str):
        return f'``"{value}"``'
    if isinstance(value, int) and value >= 10**4 and str(value).rstrip("0") == "1":
        return f"1e{len(str(value)) - 1}"  # 10**7 -> 1e7
    return f"``{value!r}``"


def _source_of(module_name: str) -> str:
    return inspect.getsourcefile(importlib.import_module(module_name)) or module_name


def _code(text: str) -> nodes.Node:
    return nodes.paragraph("", "", nodes.literal(text, text))


def _text(text: str) -> nodes.Node:
    return nodes.paragraph(text, text)


def _table(header: list[str], rows: list[list[nodes.Node]], widths: list[int],
           parse: Any = None) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += nodes.row("", *(nodes.entry("", (parse or _text)(title)) for title in header))
    body = nodes.tbody()
    group += body
    for cells in rows:
        body += nodes.row("", *(nodes.entry("", cell) for cell in cells))
    return table


# -- MathML -----------------------------------------------------------------------------------

def tex2mathml(latex: str, block: bool) -> str:
    """Convert a formula with docutils (``as_block`` since 0.21; ``inline`` before it)."""
    if "as_block" in inspect.signature(latex2mathml.tex2mathml).parameters:
        return latex2mathml.tex2mathml(latex, as_block=block)
    return latex2mathml.tex2mathml(latex, inline=not block)  # pragma: no cover - docutils < 0.21


def _mathml(self: Any, node: nodes.Element, block: bool) -> None:
    latex = node.astext()
    try:
        markup = tex2mathml(latex, block)
    except (ValueError, SyntaxError) as error:  # MathError (a ValueError); before 0.21, these
        logger.warning("formula %r cannot be converted to MathML: %s", latex, error,
                       location=node)
        markup = f"<code>{self.encode(latex)}</code>"
    if block:
        self.body.append(f'<div class="math-block">{markup}</div>\n')
    else:
        self.body.append(markup)
    raise nodes.SkipNode


def visit_inline_math(self: Any, node: nodes.Element) -> None:
    """Write ``:math:`...``` as inline MathML."""
    _mathml(self, node, block=False)


def visit_block_math(self: Any, node: nodes.Element) -> None:
    """Write ``.. math::`` as display MathML (one ``<math>`` per equation)."""
    if node.get("label"):
        self.body.append(f'<span class="eqno">({node["number"]})</span>')
    _mathml(self, node, block=True)


# -- references as Python reads them ---------------------------------------------------------

_DOCSTRING_OF = re.compile(r"docstring of ([\w.]+)")


def _module_of(dotted: str) -> Any:
    """Return the module of a docstring's object: the longest importable prefix of ``dotted``."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
    raise ImportError(dotted)


def _canonical_name(value: Any) -> str | None:
    if inspect.ismodule(value):
        return value.__name__
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname and "<" not in qualname else None


def resolve_as_python(app: Sphinx, env: Any, node: nodes.Element,
                      contnode: nodes.Element) -> nodes.Element | None:
    """Resolve a docstring's ``:func:`name``` as Python resolves ``name`` in that module.

    mcflow documents its public objects under the names users import (``mcflow.validate``,
    not ``mcflow.validation.validate``), so Sphinx looks a docstring's short references up
    from ``mcflow``.  Their author wrote them in the module that holds the docstring: here
    ``name`` is looked up in that module's namespace (a name it defines or imports) and the
    reference goes to wherever that object is documented.  A name that is not in that module,
    or an object the site does not document, stays unresolved: a warning, an error under -W.
    """
    if node.get("refdomain") != "py":
        return None
    origin = _DOCSTRING_OF.search(str(node.source or ""))
    if origin is None:
        return None
    target = node["reftarget"]
    try:
        value = _module_of(origin.group(1))
        for attribute in target.split("."):
            value = getattr(value, attribute)
    except (AttributeError, ImportError):
        return None
    canonical = _canonical_name(value)
    if canonical is None or canonical == target:
        return None
    retry = node.deepcopy()
    retry["reftarget"] = canonical
    retry["py:module"] = None
    retry["py:class"] = None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical,
                               retry, contnode)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives and the MathML renderer."""
    app.add_directive("mcflow-cli-help", CliHelp)
    app.add_directive("mcflow-builtins", Builtins)
    app.add_directive("mcflow-config-keys", ConfigKeys)
    app.add_directive("mcflow-result", ResultLayers)
    app.add_directive("mcflow-markdown-table", MarkdownTable)
    app.add_directive("mcflow-example", Example)
    app.connect("missing-reference", resolve_as_python)
    app.add_html_math_renderer("mathml", (visit_inline_math, None), (visit_block_math, None))
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
