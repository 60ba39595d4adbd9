"""Calibration of ``mcflow.nd.validate``: false-failure rate of correct flows over many seeds.

Correct flows of ``tests/nd_flows.py`` (``coupling`` d = 2, ``chain`` d = 5, ``actnorm``
d = 20; ``--cases``) are validated at a small n (2^14, ``--n``) on ``--seeds`` seeds
(default 500, seeds 1000, 1001, ...) at each alpha of ``--alphas`` (0.01 and 0.05; one
run per seed and alpha).  For each case and alpha:

- the false-failure rate = failures / conclusive runs; "inconclusive" runs (a deciding
  layer skipped) are left out of the rate and counted;
- its Clopper–Pearson 95% interval and one-sided 95% upper bound;
- the check: the rate is at most alpha within its binomial error, i.e. the one-sided
  binomial test of ``rate <= alpha`` is not rejected at 5% (``P(Bin(N, alpha) >= k) >
  0.05`` for k failures of N; equivalently the one-sided 95% lower bound is <= alpha).
  With 6 such checks about one in four runs of a perfectly calibrated validator still
  sees one miss by chance; ``--confidence`` changes the level.

Per-layer p-values come from ``layer.statistics``: ``pvalue`` (normalisation,
mc_vs_claimed) or ``combined_pvalue`` (histogram), from the runs at the first alpha where
that layer was not skipped; the runs at the other alphas must give the same p-values
(counted, a mismatch is reported).  The deterministic layers (structure, pointwise)
store no p-value: the figure shows the pointwise layer's ``max_abs_residual`` instead.
``--plot FILE``: the empirical CDF of each layer's p-values against the uniform diagonal
with a 95% Kolmogorov band, one panel per case; the failure rate with its 95% interval
per case against alpha; the pointwise residuals.  Exit status 1 when a rate exceeds
alpha beyond its error (or when nothing was conclusive).

Run ``OPENBLAS_NUM_THREADS=1 python bench/nd_calibration.py --seeds 500
--markdown reports/nd/calibration.md --json reports/nd/calibration.json
--plot reports/nd/calibration.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from mcflow import nd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from nd_flows import FlowCase, flows  # noqa: E402

CASES = "coupling:2,chain:5,actnorm:20"
ALPHAS = "0.01,0.05"
N = 2**14
FIRST_SEED = 1000
#: Keys of a layer's p-value in ``layer.statistics``, in order of preference.
PVALUE_KEYS = ("pvalue", "combined_pvalue")


def flow(label: str, dim: int) -> FlowCase:
    """The flow ``label`` of ``tests/nd_flows.py`` in dimension ``dim``."""
    for case in flows(dim):
        if case.name == f"{label} d={dim}":
            if not case.correct:
                raise ValueError(f"{case.name} is a planted bug, not a correct flow")
            return case
    raise KeyError(f"no flow {label!r} in tests/nd_flows.py")


def nd_case(case: FlowCase) -> nd.Case:
    """The ``nd.Case`` of a reference flow, with its inverse and log-det."""
    return nd.Case(case.forward, case.log_prob, dim=case.dim, inverse=case.inverse,
                   log_abs_det_jacobian=case.log_abs_det_jacobian, name=case.name)


def layer_pvalue(statistics: dict[str, Any]) -> tuple[str | None, float | None]:
    """The p-value a layer stored, and under which key (None, None: it stored none)."""
    for key in PVALUE_KEYS:
        value = statistics.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return key, float(value)
    return None, None


def run_case(case: FlowCase, n: int, seeds: range, alphas: list[float]) -> dict[str, Any]:
    """Every seed at every alpha: verdicts, layer statuses and p-values."""
    checked = nd_case(case)
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seed in seeds:
        for alpha in alphas:
            result = nd.validate(checked, n=n, alpha=alpha, seed=seed)
            layers = {}
            for layer in result.layers:
                key, value = layer_pvalue(layer.statistics)
                layers[layer.name] = {"status": layer.status, "pvalue_key": key,
                                      "pvalue": value,
                                      "max_abs_residual": layer.statistics.get(
                                          "max_abs_residual")}
            runs.append({"seed": seed, "alpha": alpha, "verdict": result.verdict,
                         "layers": layers, "seconds": result.seconds["total"]})
    return {"case": case.name, "n": n, "runs": runs, "seconds": time.perf_counter() - started}


def rates(block: dict[str, Any], alphas: list[float], confidence: float) -> list[dict[str, Any]]:
    """Failure rate per alpha: counts, Clopper-Pearson bounds, the one-sided test."""
    out = []
    for alpha in alphas:
        runs = [run for run in block["runs"] if run["alpha"] == alpha]
        verdicts = Counter(run["verdict"] for run in runs)
        failures, conclusive = verdicts.get("fail", 0), len(runs) - verdicts.get("inconclusive", 0)
        failing_layers = Counter(name for run in runs for name, layer in run["layers"].items()
                                 if layer["status"] == "fail")
        skipped = Counter(name for run in runs for name, layer in run["layers"].items()
                          if layer["status"] == "skipped")
        tail = 1 - confidence
        if conclusive:
            rate = failures / conclusive
            low = stats.beta.ppf(tail / 2, failures, conclusive - failures + 1) if failures else 0.0
            high = stats.beta.ppf(1 - tail / 2, failures + 1, conclusive - failures) \
                if failures < conclusive else 1.0
            upper = stats.beta.ppf(confidence, failures + 1, conclusive - failures) \
                if failures < conclusive else 1.0
            excess = float(stats.binom.sf(failures - 1, conclusive, alpha))  # P(X >= k)
        else:
            rate = low = high = upper = math.nan
            excess = 0.0
        out.append({"case": block["case"], "alpha": alpha, "runs": len(runs),
                    "inconclusive": verdicts.get("inconclusive", 0), "conclusive": conclusive,
                    "failures": failures, "rate": rate, "interval": [float(low), float(high)],
                    "upper_bound": float(upper), "p_excess": excess,
                    "ok": bool(conclusive and excess > tail),
                    "failing_layers": dict(failing_layers), "skipped_layers": dict(skipped)})
    return out


def pvalues(block: dict[str, Any], alphas: list[float]) -> dict[str, Any]:
    """Per-layer p-values (first alpha; skipped runs left out) and cross-alpha mismatches."""
    by_layer: dict[str, dict[str, Any]] = {}
    reference = {run["seed"]: run for run in block["runs"] if run["alpha"] == alphas[0]}
    for run in reference.values():
        for name, layer in run["layers"].items():
            entry = by_layer.setdefault(name, {"key": None, "values": [], "skipped": 0,
                                               "residuals": [], "mismatches": 0})
            if layer["status"] == "skipped":
                entry["skipped"] += 1
            elif layer["pvalue"] is not None:
                entry["key"] = layer["pvalue_key"]
                entry["values"].append(layer["pvalue"])
            if layer["max_abs_residual"] is not None:
                entry["residuals"].append(float(layer["max_abs_residual"]))
    for run in block["runs"]:
        if run["alpha"] == alphas[0]:
            continue
        for name, layer in run["layers"].items():
            first = reference[run["seed"]]["layers"].get(name, {})
            if first.get("pvalue") != layer["pvalue"]:
                by_layer[name]["mismatches"] += 1
    return by_layer


def _band(count: int, level: float = 0.05) -> float:
    return float(stats.kstwo.isf(level, count)) if count else 0.0


def figure(blocks: list[dict[str, Any]], table: list[dict[str, Any]],
           layers: dict[str, dict[str, Any]], alphas: list[float], confidence: float) -> Figure:
    """ECDFs of the p-values per case, failure rates vs alpha, pointwise residuals."""
    names = [block["case"] for block in blocks]
    fig = Figure(figsize=(4.4 * max(len(names), 3), 9.0), layout="constrained")
    mosaic = [names + ["."] * (3 - len(names)) if len(names) < 3 else names,
              ["rate"] * (max(len(names), 3) - 1) + ["residual"]]
    axes = fig.subplot_mosaic(mosaic)
    grid = np.linspace(0.0, 1.0, 201)
    styles = {"normalisation": "tab:blue", "mc_vs_claimed": "tab:orange",
              "histogram": "tab:green"}
    for block in blocks:
        axis, per_layer = axes[block["case"]], layers[block["case"]]
        seeds = len({run["seed"] for run in block["runs"]})
        band = _band(seeds)
        zoom = axis.inset_axes((0.2, 0.56, 0.34, 0.34))
        for target in (axis, zoom):
            target.fill_between(grid, np.clip(grid - band, 0, 1), np.clip(grid + band, 0, 1),
                                color="0.88", label=f"95% KS band ({seeds} seeds)")
            target.plot(grid, grid, color="0.35", lw=0.8, label="uniform")
            for alpha in alphas:
                target.axvline(alpha, color="0.5", ls=":", lw=0.8)
        notes = []
        for name, entry in per_layer.items():
            if entry["skipped"]:
                notes.append(f"{name}: skipped in {entry['skipped']} of {seeds}")
            if not entry["values"]:
                continue
            ordered = np.sort(entry["values"])
            heights = np.arange(ordered.size + 1) / ordered.size
            for target in (axis, zoom):
                target.step(np.concatenate([[0.0], ordered]), heights, where="post", lw=1.6,
                            color=styles.get(name), label=f"{name} ({entry['key']}, "
                            f"{ordered.size} runs)")
        zoom_top = max(alphas) * 2.0
        zoom.set(xlim=(0, zoom_top), ylim=(0, zoom_top))
        zoom.tick_params(labelsize=7)
        zoom.text(0.04, 0.96, f"zoom: p <= {zoom_top:g}", ha="left", va="top", fontsize=7,
                  transform=zoom.transAxes)
        if notes:
            axis.text(0.98, 0.03, "\n".join(notes), ha="right", va="bottom", fontsize=8,
                      transform=axis.transAxes)
        axis.set(title=f"{block['case']}, n = {block['n']:,}\nlayer p-values (runs at alpha = "
                 f"{alphas[0]:g})", xlabel="p-value (dotted: the alphas)",
                 ylabel="fraction of runs with p <= x", xlim=(0, 1), ylim=(0, 1))
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncol=2)
    axis = axes["rate"]
    colours = ["tab:red", "tab:purple", "tab:brown", "tab:olive"]
    width = 0.12
    for index, alpha in enumerate(alphas):
        colour = colours[index % len(colours)]
        rows = [row for row in table if row["alpha"] == alpha]
        x = np.arange(len(rows)) + (index - (len(alphas) - 1) / 2) * width
        rate = np.array([row["rate"] for row in rows])
        low = np.array([row["interval"][0] for row in rows])
        high = np.array([row["interval"][1] for row in rows])
        axis.errorbar(x, rate, yerr=[rate - low, high - rate], fmt="o", color=colour, capsize=4,
                      label=f"alpha = {alpha:g}: rate, {confidence:.0%} Clopper-Pearson")
        axis.axhline(alpha, color=colour, ls="--", lw=1.0)
        for position, row in zip(x, rows, strict=True):
            axis.annotate(f"{row['failures']}/{row['conclusive']}"
                          + (f"\n({row['inconclusive']} inconcl.)" if row["inconclusive"] else "")
                          + ("" if row["ok"] else "\nMISS"),
                          (position, row["interval"][1]), textcoords="offset points",
                          xytext=(0, 4), ha="center", fontsize=8, color=colour)
    axis.set_xticks(np.arange(len(names)), names)
    top = max([*alphas, *(row["interval"][1] for row in table
                          if math.isfinite(row["interval"][1]))])
    axis.set(ylim=(0, 1.25 * top), ylabel="false-failure rate (conclusive runs)",
             title="Failure rate of correct flows vs alpha (dashed)")
    axis.legend(loc="upper left", fontsize=8)
    axis = axes["residual"]
    for block in blocks:
        residuals = np.array(layers[block["case"]].get("pointwise", {}).get("residuals", []))
        residuals = residuals[residuals > 0]
        if residuals.size:
            ordered = np.sort(np.log10(residuals))
            axis.step(ordered, np.arange(1, ordered.size + 1) / ordered.size, where="post",
                      label=block["case"])
    axis.set(title="pointwise layer (no p-value): max |rho| per run",
             xlabel="log10 max |rho| over the checked points", ylabel="fraction of runs",
             ylim=(0, 1))
    axis.legend(loc="lower right", fontsize=8)
    seeds = len({run["seed"] for run in blocks[0]["runs"]}) if blocks else 0
    fig.suptitle(f"mcflow.nd calibration: correct flows, {seeds} seeds per case and alpha")
    return fig


def markdown(table: list[dict[str, Any]], layers: dict[str, dict[str, Any]], n: int,
             seeds: range, confidence: float) -> str:
    """The rates table and what was used as each layer's p-value."""
    lines = [f"## False-failure rate of correct flows (n = {n:,}; seeds {seeds.start}.."
             f"{seeds.stop - 1})", "",
             f"Rate over conclusive runs; {confidence:.0%} Clopper-Pearson interval and "
             f"one-sided {confidence:.0%} upper bound; ok: P(Bin(N, alpha) >= failures) > "
             f"{1 - confidence:.2g}.", "",
             "| case | alpha | failures / conclusive | inconclusive | rate | interval | "
             "upper bound | P(>= failures) | failing layers | ok |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        failing = ", ".join(f"{name} {count}" for name, count in row["failing_layers"].items())
        lines.append(
            f"| {row['case']} | {row['alpha']:g} | {row['failures']} / {row['conclusive']} | "
            f"{row['inconclusive']}"
            + (" (skipped: " + ", ".join(f"{name} {count}" for name, count
                                         in row["skipped_layers"].items()) + ")"
               if row["skipped_layers"] else "")
            + f" | {row['rate']:.4f} | [{row['interval'][0]:.4f}, {row['interval'][1]:.4f}] | "
            f"{row['upper_bound']:.4f} | {row['p_excess']:.3g} | {failing or '—'} | "
            f"{'ok' if row['ok'] else 'MISS'} |")
    lines += ["", "P-values used (runs at the first alpha; skipped runs left out; "
              "KS test of uniformity, which a Bonferroni-combined p-value is expected to fail "
              "on the conservative side):", "",
              "| case | layer | key | runs | skipped | KS p (uniform) | mean p | "
              "mismatches across alphas |", "|---|---|---|---|---|---|---|---|"]
    for case, per_layer in layers.items():
        for name, entry in per_layer.items():
            values = np.array(entry["values"])
            if values.size:
                ks = f"{stats.kstest(values, 'uniform').pvalue:.3g}"
                mean = f"{values.mean():.3f}"
                key = entry["key"]
            else:
                ks = mean = "—"
                key = "none (max_abs_residual)" if entry["residuals"] else "none"
            lines.append(f"| {case} | {name} | {key} | {values.size} | {entry['skipped']} | {ks} | "
                         f"{mean} | {entry['mismatches']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED)
    parser.add_argument("--n", type=float, default=N)
    parser.add_argument("--alphas", default=ALPHAS)
    parser.add_argument("--cases", default=CASES, help="LABEL:DIM,... of correct flows")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--from-json", type=Path,
                        help="redo the tables and the figure from a previous --json (no runs)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    alphas = [float(value) for value in args.alphas.split(",")]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    n, started = int(args.n), time.perf_counter()
    blocks = []
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        blocks, alphas, n = saved["runs"], saved["alphas"], saved["n"]
        seeds = range(saved["seeds"][0], saved["seeds"][-1] + 1)
    for spec in [] if args.from_json is not None else args.cases.split(","):
        label, dim = spec.split(":")
        block = run_case(flow(label, int(dim)), n, seeds, alphas)
        blocks.append(block)
        verdicts = Counter((run["alpha"], run["verdict"]) for run in block["runs"])
        print(f"[{time.perf_counter() - started:7.1f} s] {block['case']}: "
              + ", ".join(f"alpha {alpha:g} {verdict} {count}"
                          for (alpha, verdict), count in sorted(verdicts.items()))
              + f" ({block['seconds'] / len(block['runs']):.2f} s per run)", flush=True)
    table = [row for block in blocks for row in rates(block, alphas, args.confidence)]
    layers = {block["case"]: pvalues(block, alphas) for block in blocks}
    text = markdown(table, layers, n, seeds, args.confidence)
    print(text)
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"n": n, "seeds": list(seeds), "alphas": alphas,
                                         "rates": table, "pvalues": layers, "runs": blocks},
                                        indent=1))
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        figure(blocks, table, layers, alphas, args.confidence).savefig(args.plot, dpi=110)
    misses = [f"{row['case']} at alpha {row['alpha']:g}" for row in table if not row["ok"]]
    mismatched = [f"{case} {name}" for case, per_layer in layers.items()
                  for name, entry in per_layer.items() if entry["mismatches"]]
    if mismatched:
        print(f"note: p-values differ across alphas for {', '.join(mismatched)}",
              file=sys.stderr)
    if misses:
        print(f"MISS: false-failure rate above alpha (or nothing conclusive): "
              f"{', '.join(misses)}", file=sys.stderr)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
