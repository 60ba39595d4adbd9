"""Validation reports: ``index.html`` (self-contained), ``summary.md``, ``result.json``, PNGs.

Everything is rendered into a temporary folder next to the target first and
moved into place file by file with atomic renames, ``index.html`` last, so an
interrupted run leaves no half-written report (an older complete one stays).
A run killed outright (SIGKILL) leaves its ``.mcflow-report-PID-*`` staging
folder; the next report into the same place removes it.
"""

from __future__ import annotations

import base64
import contextlib
import html
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mcflow._document import (
    build_document,
    document_json,
    environment,
    error_case,
    not_run_case,
    result_case,
)
from mcflow._files import write_text_atomically
from mcflow._nd_figures import report_parts
from mcflow.result import ValidationResult

__all__ = ["environment", "write_report", "write_text_atomically"]

#: Names of the figures a report writes (only these are ever deleted as stale).
_REPORT_FIGURE = re.compile(r"^(\d{2}-.+-fig\d-[a-z]+|overview)\.png$")
_STAGING_PREFIX = ".mcflow-report-"
#: A staging folder without a writer's pid (or on Windows) is stale after this long.
_STALE_STAGING_SECONDS = 3600.0


def _slug(text: str, index: int) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return f"{index:02d}-{cleaned[:40] or 'case'}"


def _case_figures(result: ValidationResult, folder: Path, slug: str) -> dict[str, str]:
    from mcflow import figures

    paths = {}
    if result.figure_sample is not None:
        x, y = result.figure_sample
        paths["samples"] = figures.save_figure(
            figures.samples_figure(x, y, result.transform), folder / f"{slug}-fig1-samples.png")
    paths["densities"] = figures.save_figure(
        figures.validation_densities_figure(result), folder / f"{slug}-fig2-densities.png")
    paths["residuals"] = figures.save_figure(
        figures.residuals_figure(result), folder / f"{slug}-fig3-residuals.png")
    paths["cdf"] = figures.save_figure(
        figures.cdf_difference_figure(result), folder / f"{slug}-fig4-cdf.png")
    return {key: path.name for key, path in paths.items()}


_FIGURE_CAPTIONS = {
    "samples": "Fig. 1 (as in the seed): histograms of a sample of X and of Y = T(X).",
    "densities": "Fig. 2 (as in the seed): analytic p_X, and p_Y: the Monte Carlo density of Y "
                 "and the claimed one averaged over each bin (like with like), with the "
                 "pointwise curve; right: every bin, log density on the claimed normal score "
                 "(the tails); below: Monte Carlo / claimed - 1 with the +-2 sigma band.",
    "residuals": "Standardized residuals (c - nP) / sqrt(nP(1 - P)) of every bin at its "
                 "claimed normal score, with +-3 bands (values beyond the axis drawn at its edge "
                 "with their value); the worst cells are marked; right: the cells below and "
                 "above the bins and the non-finite values.",
    "cdf": "Empirical minus claimed CDF at the bin edges; the KS location is marked and the "
           "band is the simultaneous acceptance region of the KS test at its alpha.",
    "overview": "All cases: the L1 distance of each case's Monte Carlo cells from the claimed "
                "ones (an effect size) against the smallest L1 its n detects with 95% power.",
}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


def _image(folder: Path, name: str, alt: str) -> str:
    data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(_FIGURE_CAPTIONS.get(alt, alt))}</figcaption></figure>")


_NUMBER = re.compile(r"[<>]?\s*[-+]?[\d.,]+(e[-+]?\d+)?(\s*(s|%|M samples/s))?")


def _cell(text: str) -> str:
    """Return a table cell; a number stays on one line (never "7.183e-" / "05")."""
    css = ' class="num"' if _NUMBER.fullmatch(text) else ""
    return f"<td{css}>{html.escape(text)}</td>"


def _summary_table(rows: Sequence[tuple[str, str, str, str, str]]) -> str:
    """Return the report's first table: every case, linked to its section."""
    body = "".join(
        f'<tr><td><a href="#{_anchor(name)}">{html.escape(name)}</a></td>'
        f'<td><span class="badge {verdict}">{verdict.upper().replace("_", " ")}</span></td>'
        f'{_cell(n)}{_cell(statistic)}<td>{html.escape(failing)}</td></tr>'
        for name, verdict, n, statistic, failing in rows)
    return ("<table><tr><th>case</th><th>verdict</th><th>n</th><th>combined p / d</th>"
            f"<th>failing layers</th></tr>{body}</table>")


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    parts = ["<table>"]
    if header:
        parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(_cell(_fmt(c)) for c in row) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def _anchor(name: str) -> str:
    """Return an HTML id for a case: letters, digits and hyphens only."""
    return "case-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unnamed")


def _case_html(name: str, result: ValidationResult, folder: Path, figure_names: dict[str, str]
               ) -> str:
    h = result.histogram
    verdict = result.verdict
    layers = _table([(layer.name, layer.status.upper(), layer.message) for layer in result.layers],
                    ("layer", "status", "finding"))
    p = result.pvalue_texts(label="")  # "< 1e-05" at the null's floor
    statistics = _table([
        ("KS D (Monte Carlo p)", result.ks_statistic, p["ks"]),
        ("KS asymptotic Kolmogorov p (conservative on a grid)", result.ks_statistic,
         result.ks_asymptotic_pvalue),
        ("L1 = sum |c/n - P|", result.l1, p["l1"]),
        ("G (likelihood ratio)", result.g_statistic, p["g"]),
        ("AD (Anderson-Darling on the cells)", result.ad_statistic, p["ad"]),
        ("combined: min-p of KS, L1, G, AD (the verdict's test)", "", p["combined"]),
    ], ("statistic (MC vs claimed p_Y)", "value", "p-value"))
    sensitivity = _table([
        ("alpha (overall) / per test", f"{result.alpha:g} / {result.alpha_per_test:.3g}"),
        ("smallest L1 detected with 95% power", result.detection_limit),
        ("smallest relative error in sigma detected", result.sigma_detection),
        ("tolerance requested", result.tolerance),
        ("n needed for the tolerance", result.required_n),
        ("p_Y integral over the support", result.normalization),
        ("expected integral", result.expected_normalization),
        ("quadrature error (sum over cells)", result.quadrature_error),
        ("null replicates", result.replicates),
    ])
    accounting = _table([
        ("n", h.n), ("in range", h.in_range), ("underflow", h.underflow),
        ("overflow", h.overflow), ("-inf", h.neginf), ("+inf", h.posinf), ("NaN", h.nan),
    ], ("samples", "count"))
    kind = "default equal-probability" if result.default_bins else "user"
    sampling = result.seconds["sampling"]
    setup = _table([
        ("transform", result.transform), ("X", f"N({result.mu:g}, {result.sigma:g})"),
        ("seed", result.seed),
        ("bins", f"{h.bins} ({kind}) on [{h.edges[0]:.4g}, {h.edges[-1]:.4g})"),
        ("threads", h.threads),
        ("sampling", f"{sampling:.2f} s, {h.n / max(sampling, 1e-9) / 1e6:.1f} M samples/s"),
        ("quadrature + null",
         f"{result.seconds['quadrature']:.2f} s + {result.seconds['null']:.2f} s"),
        *([("numba compile (first run on this machine)",
            f"{result.seconds['compile']:.2f} s")] if result.seconds.get("compile") else []),
        ("total", f"{result.seconds['total']:.2f} s"),
    ])
    worst = _table([(f"[{b.lo:.4g}, {b.hi:.4g})", b.observed, b.expected,
                     b.residual) for b in result.worst_bins],
                   ("cell", "observed", "expected", "z"))
    images = "".join(_image(folder, figure_names[key], key)
                     for key in ("samples", "densities", "residuals", "cdf") if key in figure_names)
    return f"""
<section id="{_anchor(name)}">
<h2>{html.escape(name)} <span class="badge {verdict}">{verdict.upper()}</span></h2>
<p class="lead">{html.escape(_headline(result))}</p>
<h3>Layers</h3>{layers}
<div class="grid"><div><h3>Statistics</h3>{statistics}<h3>Sensitivity</h3>{sensitivity}</div>
<div><h3>Run</h3>{setup}<h3>Accounting</h3>{accounting}<h3>Worst cells</h3>{worst}</div></div>
<h3>Figures</h3>{images}
</section>"""


def _headline(result: ValidationResult) -> str:
    """One sentence under the verdict: what was found and how sharp the check was."""
    sharpness = (f"with n = {result.n:,} this check detects an L1 error of "
                 f"{result.detection_limit:.2g} or more (95% power)")
    if result.verdict == "pass":
        ran = [layer.name for layer in result.layers if layer.status == "pass"]
        return f"The claimed p_Y agrees in every layer that ran ({', '.join(ran)}); {sharpness}."
    if result.verdict == "inconclusive":
        return (f"No disagreement found, but {sharpness}, coarser than the tolerance "
                f"{result.tolerance:g}; about n = {result.required_n:,} would resolve it.")
    failing = [f"{layer.name}: {layer.message}" for layer in result.layers
               if layer.status == "fail"]
    return "Failed in " + "; ".join(failing) + "."


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;font-size:.9em;margin:.3em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}
.badge{font-size:.75em;padding:2px 10px;border-radius:10px;color:white;vertical-align:middle}
.pass{background:#2e7d32}.fail{background:#c62828}.inconclusive{background:#ef6c00}
.error{background:#6a1b9a}.not_run{background:#757575}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.lead{font-size:1.05em}footer{margin-top:3em;font-size:.8em;color:#666}
"""


def _summary_markdown(title: str, names: Sequence[str], results: Sequence[ValidationResult],
                      env: dict[str, Any], overall: str, error_rows: Sequence[str]) -> str:
    lines = [f"## {title}: {overall.upper()}", "",
             "| case | verdict | n | combined p | L1 | KS p | L1 p | G p | AD p | detects L1 | "
             "failing layer |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in zip(names, results, strict=True):
        p = r.pvalue_texts(label="")
        lines.append(
            f"| {name} | **{r.verdict.upper()}** | {r.n:.3g} | {p['combined']} | {r.l1:.2e} | "
            f"{p['ks']} | {p['l1']} | {p['g']} | {p['ad']} | {r.detection_limit:.2e} | "
            f"{', '.join(r.failed_layers) or '-'} |")
    lines += [*error_rows, "",
              f"mcflow {env['mcflow']}, numba {env['numba']}, numpy {env['numpy']}, "
              f"{env['threads']} threads on {env['cpu']}.", ""]
    for name, r in zip(names, results, strict=True):
        if r.verdict != "pass":
            lines += [f"### {name}", "", "```", r.summary(), "```", ""]
    return "\n".join(lines)


def _overall(results: Sequence[ValidationResult], errors: Mapping[str, str] | None = None,
             more: set[str] | None = None) -> str:
    verdicts = {r.verdict for r in results} | ({"error"} if errors else set()) | (more or set())
    for verdict in ("error", "fail", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "pass"


def _writer_alive(pid: int) -> bool:
    """Whether process ``pid`` (a staging folder's writer) still runs, on POSIX."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0 only checks; never on Windows, where it terminates
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove_stale_staging(*folders: Path) -> None:
    """Delete staging folders left by killed runs: their pid is gone, or they are old."""
    for folder in folders:
        try:
            candidates = [p for p in folder.glob(_STAGING_PREFIX + "*") if p.is_dir()]
        except OSError:
            continue
        for path in candidates:
            pid = path.name[len(_STAGING_PREFIX):].partition("-")[0]
            if pid.isdigit() and os.name == "posix":
                stale = not _writer_alive(int(pid))
            else:
                try:
                    stale = time.time() - path.stat().st_mtime > _STALE_STAGING_SECONDS
                except OSError:
                    continue
            if stale:
                shutil.rmtree(path, ignore_errors=True)


def _error_parts(errors: Mapping[str, str], verdict: str = "error") -> tuple[str, list[str]]:
    """HTML sections and Markdown rows of cases without a result.

    ``verdict`` is ``"error"`` (could not run: name to its error) or
    ``"not_run"`` (not started, e.g. after ``--fail-fast``: name to the reason).
    """
    label, lead = {"error": ("ERROR", "Could not run"), "not_run": ("NOT RUN", "Not run")}[verdict]
    sections = "".join(
        f'\n<section id="{_anchor(name)}"><h2>{html.escape(name)} <span class="badge '
        f'{verdict}">{label}</span></h2><p class="lead">{lead}: {html.escape(text)}</p>'
        "</section>" for name, text in errors.items())
    rows = [f"| {name} | **{label}** |{' - |' * 8} {text} |" for name, text in errors.items()]
    return sections, rows


def write_report(
    results: Sequence[ValidationResult],
    directory: str | Path,
    *,
    names: Sequence[str] | None = None,
    title: str = "mcflow validation report",
    errors: Mapping[str, str] | None = None,
    nd_results: Mapping[str, Any] | None = None,
    not_run: Mapping[str, str] | None = None,
    document: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report of one or more validation results into ``directory``.

    Parameters
    ----------
    results : sequence of ValidationResult
        One per case.
    directory : str or Path
        Created if needed; existing report files in it are replaced.
    names : sequence of str, optional
        Case names (default: the transforms' names).
    title : str
        Page title.
    errors : mapping of str to str, optional
        Cases that could not run: name to a one-line error, shown as ERROR.
    nd_results : mapping of str to mcflow.nd.NdResult, optional
        d-dimensional cases by name, each with its figure and layers.
    not_run : mapping of str to str, optional
        Cases never started (``mcflow check --fail-fast``): name to the reason,
        shown as NOT RUN; they do not change the verdict.
    document : mapping, optional
        The JSON document of the run (``mcflow.validation/2``) to write as
        ``result.json``, e.g. ``CheckOutcome.to_dict()``: the same file as
        ``--json``, environment included.  Default: built from the cases here.

    Returns
    -------
    Path
        The written ``index.html``.
    """
    from mcflow import figures

    errors = dict(errors or {})
    nd_results, not_run = dict(nd_results or {}), dict(not_run or {})
    if not results and not errors and not nd_results:
        raise ValueError("results must hold at least one ValidationResult")
    names = list(names) if names is not None else [r.transform for r in results]
    if len(names) != len(results):
        raise ValueError(f"names has {len(names)} entries for {len(results)} results")
    target = Path(directory)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target, target.resolve().parent)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=target))
    try:
        env = dict(document["environment"]) if document is not None else environment()
        sections = []
        for index, (name, result) in enumerate(zip(names, results, strict=True)):
            figure_names = _case_figures(result, staging, _slug(name, index))
            sections.append(_case_html(name, result, staging, figure_names))
        overview = ""
        if len(results) > 1:
            figures.save_figure(figures.overview_figure(names, results),
                                staging / "overview.png")
            overview = _image(staging, "overview.png", "overview")
        nd_sections, nd_rows, nd_cases, nd_verdicts = report_parts(nd_results, staging,
                                                                   len(results), _anchor)
        overall = _overall(results, errors, nd_verdicts)
        error_sections, error_rows = _error_parts(errors)
        skipped_sections, skipped_rows = _error_parts(not_run, "not_run")
        error_sections = nd_sections + error_sections + skipped_sections
        error_rows = nd_rows + error_rows + skipped_rows
        summary_rows: list[tuple[str, str, str, str, str]] = [
            (name, r.verdict, f"{r.n:.3g}", f"{r.combined_pvalue:.3g}",
             ", ".join(r.failed_layers) or "-") for name, r in zip(names, results, strict=True)]
        summary_rows += [(name, r.verdict, f"{r.n:.3g}", f"d = {r.dim}",
                          ", ".join(r.failed_layers) or "-") for name, r in nd_results.items()]
        summary_rows += [(name, "error", "-", "-", "could not run") for name in errors]
        summary_rows += [(name, "not_run", "-", "-", "not run") for name in not_run]
        index_html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)} <span class="badge {overall}">{overall.upper()}</span></h1>
<p>{len(results) + len(nd_results) + len(errors) + len(not_run)} case(s). The change of variables
under test:
p<sub>Y</sub>(y) = p<sub>X</sub>(T<sup>-1</sup>(y)) |dT<sup>-1</sup>/dy|, X ~ N(mu, sigma).</p>
{_summary_table(summary_rows)}
{overview}{''.join(sections)}{error_sections}
<h2>Environment</h2>{_table(list(env.items()), ("produced by", ""))}
</body></html>
"""
        (staging / "summary.md").write_text(
            _summary_markdown(title, names, results, env, overall, error_rows))
        if document is None:
            document = build_document(
                [*(result_case(name, r) for name, r in zip(names, results, strict=True)),
                 *nd_cases, *(error_case(name, text) for name, text in errors.items()),
                 *(not_run_case(name, reason) for name, reason in not_run.items())],
                title=title, env=env)
        (staging / "result.json").write_text(document_json(document))
        (staging / "index.html").write_text(index_html)
        # Publish: every file by an atomic rename, index.html last; then remove
        # figures of an earlier report that this one does not have.
        published = {path.name for path in staging.iterdir()}
        for path in sorted(staging.iterdir(), key=lambda p: p.name == "index.html"):
            os.replace(path, target / path.name)
        for stale in target.glob("*.png"):
            if stale.name not in published and _REPORT_FIGURE.match(stale.name):
                stale.unlink()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:  # interrupted before index.html: leave no empty folder behind either
            with contextlib.suppress(OSError):
                target.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return target / "index.html"
