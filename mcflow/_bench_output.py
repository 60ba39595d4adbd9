"""What ``mcflow bench`` writes: the Markdown table, the plot and the results files.

Every workload is timed ``repeat`` times.  Rates are quoted for the best
repeat (the machine's capability) and the median (what a run on a shared,
noisy machine sees); the plot shows the median with a bar from the slowest to
the fastest repeat, so a reader sees how much one number can be trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.patches import Patch

__all__ = ["markdown_table", "plot", "write_results"]

_ENGINE_COLOUR = "#DD8452"
_BASELINE_COLOUR = "#4C72B0"


def _rates(row: dict[str, Any]) -> tuple[float, float, float]:
    """(slowest, median, best) samples/s of a measurement; older files carry only the best."""
    best = float(row["samples_per_second"])
    times = [float(t) for t in row.get("times") or ()]
    if not times:
        return best, float(row.get("median_samples_per_second", best)), best
    samples = best * min(times)  # n: best rate times best time
    return samples / max(times), samples / float(np.median(times)), best


def _repeats(rows: Sequence[dict[str, Any]]) -> str:
    counts = {len(row.get("times") or ()) for row in rows}
    return "?" if counts in ({0}, set()) else "/".join(str(c) for c in sorted(counts))


def markdown_table(data: dict[str, Any]) -> str:
    """Render results JSON (from :func:`mcflow.bench.run_suite`) as Markdown; never edit by hand.

    Rates are ``n / t`` for the best and the median of the repeats' wall times ``t``.
    """
    machine_info = data["machine"]
    lines = [
        f"# mcflow benchmarks, n = {data['n']:.0e}",
        "",
        f"{machine_info['cpu']}, {machine_info['cores']} cores; mcflow {machine_info['mcflow']}, "
        f"numba {machine_info['numba']}, numpy {machine_info['numpy']}, "
        f"Python {machine_info['python']}, {machine_info['date']}. "
        f"{_repeats(data['measurements'])} repeats per workload after a warm-up, timed in "
        "rounds (each workload once per round, so drift hits all alike); "
        "generated from the JSON next to this file by `mcflow bench`; do not edit.",
        "",
        "| workload | threads | M samples/s (best) | M samples/s (median) | ns/sample (best) |",
        "|---|---|---|---|---|",
    ]
    for m in data["measurements"]:
        _, median, best = _rates(m)
        lines.append(f"| {m['name']} | {m['threads']} | {best / 1e6:.1f} | {median / 1e6:.1f} | "
                     f"{m['ns_per_sample']:.2f} |")
    lines += ["", "| ratio (best repeats) | value |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in data["ratios"].items()]
    lines += ["", "| scaling | threads | M samples/s (best) | M samples/s (median) | speed-up | "
              "efficiency |", "|---|---|---|---|---|---|"]
    for s in data["scaling"]:
        _, median, best = _rates(s)
        lines.append(f"| {s['name']} | {s['threads']} | {best / 1e6:.1f} | {median / 1e6:.1f} | "
                     f"{s['speedup']:.2f} | {s['efficiency']:.0%} |")
    return "\n".join(lines) + "\n"


def plot(data: dict[str, Any], path: str | Path) -> Path:
    """Thread scaling and the workloads against the baselines, as one PNG.

    Markers are the median repeat; bars run from the slowest to the fastest
    repeat.  Both axes of rates start at 0, so ratios read off as lengths.
    """
    from mcflow.figures import new_figure, save_figure

    figure = new_figure((13, 4.6))
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.35))
    for name in sorted({s["name"] for s in data["scaling"]}):
        rows = sorted((s for s in data["scaling"] if s["name"] == name),
                      key=lambda s: s["threads"])
        slowest, median, best = (np.array(r) / 1e6 for r in zip(*map(_rates, rows),
                                                                 strict=True))
        left.errorbar([s["threads"] for s in rows], median,
                      yerr=[median - slowest, best - median], fmt="o-", capsize=4, label=name)
    left.set(xlabel="threads", ylabel="M samples/s",
             title=f"Engine thread scaling ({_repeats(data['scaling'])} repeats)")
    left.set_xticks(sorted({s["threads"] for s in data["scaling"]}))
    left.set_ylim(bottom=0)
    left.legend(frameon=False, loc="lower right")
    left.grid(alpha=0.3)

    measurements = sorted(data["measurements"], key=lambda m: _rates(m)[1])
    slowest, median, best = (np.array(r) / 1e6 for r in zip(*map(_rates, measurements),
                                                             strict=True)) \
        if measurements else (np.zeros(0),) * 3
    labels = [f"{m['name']} ({m['threads']} thr.)" for m in measurements]
    right.barh(labels, median, xerr=[median - slowest, best - median], capsize=3,
               color=[_ENGINE_COLOUR if m["name"].startswith("engine") else _BASELINE_COLOUR
                      for m in measurements])
    right.set_xlim(left=0)
    right.set(xlabel="M samples/s (median; bar: slowest to fastest repeat)",
              title=f"Y = exp(X), 200 bins, n = {data['n']:.0e}")
    right.legend(handles=[Patch(color=_ENGINE_COLOUR, label="mcflow engine"),
                          Patch(color=_BASELINE_COLOUR, label="NumPy-based baseline")],
                 frameon=False, loc="lower right")
    right.grid(alpha=0.3, axis="x")
    return save_figure(figure, path)


def write_results(data: dict[str, Any], json_path: str | Path | None = None,
                  plot_path: str | Path | None = None,
                  markdown_path: str | Path | None = None,
                  written: Callable[[str], None] | None = None) -> None:
    """Write results JSON, plot and Markdown table (each atomically).

    ``written(option)`` is called after each file is in place, with ``"json"``,
    ``"plot"`` or ``"markdown"`` (the command line reports them on Ctrl-C).
    """
    from mcflow._files import write_text_atomically

    for option, path, write in (
            ("json", json_path, lambda to: write_text_atomically(
                to, json.dumps(data, indent=2) + "\n")),
            ("plot", plot_path, lambda to: plot(data, to)),
            ("markdown", markdown_path, lambda to: write_text_atomically(
                to, markdown_table(data)))):
        if path:
            write(path)
            if written is not None:
                written(option)
