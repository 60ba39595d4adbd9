"""The figure and the report folder of a d-dimensional validation (:class:`mcflow.nd.NdResult`).

One figure, three or four panels, each showing an effect size rather than a p-value:

1. a sample of Y (its first two coordinates), with the worst point of the
   pointwise layer, pushed through T, marked when that layer failed;
2. each region's sample fraction minus its claimed mass, with 2-sigma bars
   (the mc_vs_claimed layer);
3. the integral of q with its 2-sigma bar against 1 (normalisation);
4. for d <= 3, the sorted standardized residuals of the histogram's cells.
"""

from __future__ import annotations

import base64
import html
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from mcflow._document import document_json, one_case_document, result_case
from mcflow._files import write_text_atomically
from mcflow.figures import save_figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: An ``mcflow.nd.NdResult`` (which imports this module: not imported here).
NdResult = Any

__all__ = ["nd_figure", "write_nd_report"]

_STYLE: dict[RcKeyType, Any] = {"font.size": 9, "axes.titlesize": 9.5, "axes.grid": True,
                          "grid.alpha": 0.3}
_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "skipped": "#ef6c00"}


def _layer(result: NdResult, name: str) -> Any:
    return next((layer for layer in result.layers if layer.name == name), None)


def _sample_panel(axes: Any, result: NdResult) -> None:
    y = result.figure_sample
    if y is None or y.size == 0:
        axes.set_axis_off()
        return
    finite = y[np.all(np.isfinite(y), axis=1)]
    if y.shape[1] == 1:
        axes.hist(finite[:, 0], bins=60, color="#4c72b0", alpha=0.8)
        axes.set_xlabel("y")
    else:
        axes.scatter(finite[:, 0], finite[:, 1], s=2, alpha=0.35, color="#4c72b0",
                     rasterized=True)
        axes.set_xlabel("y[0]")
        axes.set_ylabel("y[1]")
    if result.worst_y is not None and y.shape[1] >= 2:
        axes.plot(*result.worst_y[:2], marker="x", color=_COLOURS["fail"], markersize=10,
                  mew=2, label="worst pointwise residual")
        axes.legend(loc="best", fontsize=8)
    axes.set_title(f"{finite.shape[0]:,} samples of Y = T(X) (d = {result.dim})")


def _regions_panel(axes: Any, result: NdResult) -> None:
    layer = _layer(result, "mc_vs_claimed")
    stats = {} if layer is None else layer.statistics
    if "sample_fractions" not in stats:
        axes.text(0.5, 0.5, "region masses not compared\n" + ("" if layer is None else
                  layer.status), ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    gap = np.subtract(stats["sample_fractions"], stats["claimed_masses"])
    error = 2.0 * np.asarray(stats["standard_errors"])
    index = np.arange(gap.size)
    colour = [_COLOURS["fail"] if abs(g) > e * 1.5 else "#4c72b0"
              for g, e in zip(gap, error, strict=True)]
    axes.bar(index, gap, color=colour, alpha=0.8)
    axes.errorbar(index, gap, yerr=error, fmt="none", ecolor="#333", capsize=3, lw=1)
    axes.axhline(0.0, color="#333", lw=0.8)
    axes.set_xticks(index, [*(f"ball {i}" for i in range(gap.size - 1)), "shell"],
                    rotation=60, fontsize=7)
    axes.set_ylabel("sample fraction - claimed mass")
    axes.set_title(f"mc_vs_claimed ({layer.status}): region masses, 2-sigma bars")


def _normalisation_panel(axes: Any, result: NdResult) -> None:
    layer = _layer(result, "normalisation")
    if layer is None or "z" not in layer.statistics:
        axes.set_axis_off()
        return
    z, se = layer.statistics["z"], layer.statistics["standard_error"]
    axes.errorbar([z], [0], xerr=[2 * se], fmt="o", color=_COLOURS[layer.status], capsize=6,
                  ms=8)
    axes.axvline(1.0, color="#333", lw=1)
    half = 1.2 * max(abs(z - 1.0) + 2 * se, 3 * se, 1e-3)
    axes.set_xlim(1.0 - half, 1.0 + half)
    axes.set_yticks([])
    axes.set_xlabel("integral of q (importance sampling), 2-sigma bar")
    axes.set_title(f"normalisation ({layer.status}): {z:.4f} +- {se:.1e}")
    axes.text(0.02, 0.04, f"ESS {layer.statistics['ess']:,.0f}, Pareto k "
              f"{layer.statistics['pareto_k']:.2f}", transform=axes.transAxes, fontsize=8)


def _histogram_panel(axes: Any, result: NdResult) -> None:
    layer = _layer(result, "histogram")
    residuals = np.sort(np.asarray(layer.statistics.get("standardized_residuals", [])))
    if residuals.size:
        axes.plot(np.arange(residuals.size), np.clip(residuals, -8, 8), ".", ms=3,
                  color=_COLOURS[layer.status] if layer.status == "fail" else "#4c72b0")
        axes.axhspan(-3, 3, color="#2e7d32", alpha=0.08)
        axes.set_xlabel("cell, sorted by residual (clipped at +-8; band +-3)")
        axes.set_ylabel("(count - n Q) / sqrt(n Q)")
    else:
        axes.text(0.5, 0.5, "\n".join(textwrap.wrap(layer.message, 45)), ha="center",
                  va="center", transform=axes.transAxes, fontsize=8)
        axes.set_xticks([])
        axes.set_yticks([])
    axes.set_title(f"histogram ({layer.status}): {result.dim}-d cells")


def nd_figure(result: NdResult) -> Figure:
    """Return the three-panel figure of a d-dimensional result (no pyplot)."""
    with rc_context(_STYLE):
        histogram = _layer(result, "histogram") is not None
        figure = Figure(figsize=(17.5 if histogram else 13.5, 4.3), layout="constrained")
        panels = figure.subplots(1, 4 if histogram else 3,
                                 width_ratios=[1.2, 1.2, 0.9, 1.0][:4 if histogram else 3])
        _sample_panel(panels[0], result)
        _regions_panel(panels[1], result)
        _normalisation_panel(panels[2], result)
        if histogram:
            _histogram_panel(panels[3], result)
        figure.suptitle(f"{result.name}: {result.verdict.upper()} (n = {result.n:,}, "
                        f"alpha = {result.alpha:g}, seed = {result.seed})",
                        color=_COLOURS.get(result.verdict, "#333"))
    return figure


def write_nd_report(result: NdResult, directory: str | Path,
                    document: Mapping[str, Any] | None = None) -> Path:
    """Write ``result.json``, ``summary.md`` and ``figure.png`` into ``directory``; return it.

    ``result.json`` is ``document`` (the run's ``mcflow.validation/2`` document,
    as ``--json`` writes it), by default the one-case document of ``result``.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(nd_figure(result), folder / "figure.png")
    if document is None:
        document = one_case_document(result)
    write_text_atomically(folder / "result.json", document_json(document))
    write_text_atomically(folder / "summary.md",
                          f"# {result.name}: {result.verdict.upper()}\n\n![figure](figure.png)\n"
                          f"\n```\n{result.summary()}\n```\n")
    return folder


def report_parts(results: Mapping[str, Any], staging: Path, first_index: int,
                 anchor: Callable[[str], str]) -> tuple[str, list[str], list[dict[str, Any]],
                                                       set[str]]:
    """HTML sections, Markdown rows, JSON cases and verdicts of d-dimensional results.

    For :func:`mcflow.reporting.write_report`: each case's figure is written
    into ``staging`` as ``NN-name-fig1-nd.png``.
    """
    sections, rows, cases = [], [], []
    for index, (name, result) in enumerate(results.items(), start=first_index):
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]
        figure = save_figure(nd_figure(result),
                             staging / f"{index:02d}-{slug or 'case'}-fig1-nd.png")
        sections.append(
            f'\n<section id="{anchor(name)}"><h2>{html.escape(name)} <span class="badge '
            f'{result.verdict}">{result.verdict.upper()}</span></h2>'
            f"<p class=\"lead\">d = {result.dim}, n = {result.n:,}</p>"
            f"<pre>{html.escape(result.summary())}</pre>"
            f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
            f'{base64.b64encode(figure.read_bytes()).decode("ascii")}"></figure></section>')
        rows.append(f"| {name} | **{result.verdict.upper()}** | {result.n:.3g} | d = {result.dim}"
                    f" | - | - | - | - | - | - | {', '.join(result.failed_layers) or '-'} |")
        cases.append(result_case(name, result))
    return "".join(sections), rows, cases, {r.verdict for r in results.values()}
