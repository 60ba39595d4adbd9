"""Detection table of ``mcflow.nd.validate``: the smallest n at which each planted bug is caught.

For every planted bug of ``tests/nd_flows.py`` (``coupling-missing-scale``,
``actnorm-scalar-not-times-d``, ``region-5pct``, ``made-sign``, ``spline-tail``,
``mass-outside-image``) and each d in 2, 5, 20: ``nd.validate`` at ``alpha = 0.01`` on
seeds 0..4 at n = 1e4, 1e5, 1e6, 1e7 (up to ``--max-n``), smallest first; the bug is
caught at n when the verdict is "fail" on at least 4 of the 5 seeds, and n is not
increased further once it is.  The table gives that n and the layer(s) that failed most
often there (ties listed together); the JSON keeps every layer's failure count at every n
tried.  ``--caught-by LAYER`` counts a seed as caught only when that layer fails (the
power of one layer alone, e.g. ``mc_vs_claimed``; the n grid then goes on past the
deterministic layers' catches).

As a check, every correct flow (coupling, made, actnorm, lu, spline, chain, exp-first)
at each d is validated at the largest n on the same seeds: a failure of a deterministic
layer (structure, pointwise: they spend no alpha) is always a miss; failures of the
statistical layers are a miss only when more than the binomial 99.9% quantile of
Bin(runs, alpha) of all the correct runs fail.  "inconclusive" is reported as such (with
the skipped layers), neither a pass nor a miss.  The script exits with status 1 when a
bug is not caught by the largest n or the correct flows miss.  Progress goes to stdout,
one line per (case, d, n) cell, with the elapsed time.

Run ``OPENBLAS_NUM_THREADS=1 python bench/nd_detection.py --max-n 1e7
--markdown reports/nd/detection.md --json reports/nd/detection.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from scipy import stats

from mcflow import nd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from nd_flows import FlowCase, flows  # noqa: E402

ALPHA = 0.01
GRID = (10**4, 10**5, 10**6, 10**7)
DIMS = (2, 5, 20)
SEEDS = 5
NEEDED = 4
DETERMINISTIC = ("structure", "pointwise")
#: Tail probability beyond which the correct flows' statistical failures are a miss.
CORRECT_TAIL = 0.001


def label(case: FlowCase) -> str:
    """``"coupling d=5"`` -> ``"coupling"``."""
    return case.name.rsplit(" d=", 1)[0]


def nd_case(case: FlowCase) -> nd.Case:
    """The ``nd.Case`` of a reference flow, with its inverse and log-det."""
    return nd.Case(case.forward, case.log_prob, dim=case.dim, inverse=case.inverse,
                   log_abs_det_jacobian=case.log_abs_det_jacobian, name=case.name)


class Clock:
    """Elapsed seconds since the start, for the progress lines."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __str__(self) -> str:
        return f"[{time.perf_counter() - self.started:7.1f} s]"


def run_seeds(case: FlowCase, n: int, seeds: range, alpha: float) -> dict[str, Any]:
    """Verdicts and per-layer failures and skips of ``case`` at n over ``seeds``."""
    checked = nd_case(case)
    verdicts: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    per_seed = []
    started = time.perf_counter()
    for seed in seeds:
        result = nd.validate(checked, n=n, alpha=alpha, seed=seed)
        verdicts[result.verdict] += 1
        failed.update(result.failed_layers)
        skipped.update(layer.name for layer in result.layers if layer.status == "skipped")
        per_seed.append({"seed": seed, "verdict": result.verdict,
                         "failed_layers": list(result.failed_layers),
                         "seconds": result.seconds["total"]})
    return {"n": n, "verdicts": dict(verdicts), "failed_layers": dict(failed),
            "skipped_layers": dict(skipped), "seeds": per_seed,
            "seconds": time.perf_counter() - started}


def caught_count(cell: dict[str, Any], layer: str | None) -> int:
    """Seeds caught: verdict "fail", or ``layer`` failed when one is given."""
    if layer is None:
        return int(cell["verdicts"].get("fail", 0))
    return int(cell["failed_layers"].get(layer, 0))


def modal_layers(cell: dict[str, Any]) -> list[str]:
    """The layers that failed most often in a cell (all of them on a tie)."""
    failed = cell["failed_layers"]
    if not failed:
        return []
    most = max(failed.values())
    return [name for name, count in failed.items() if count == most]


def _cell_text(cell: dict[str, Any]) -> str:
    verdicts = ", ".join(f"{count} {verdict}"
                         for verdict, count in sorted(cell["verdicts"].items()))
    layers = ", ".join(f"{name} {count}" for name, count in cell["failed_layers"].items())
    skipped = ", ".join(f"{name} {count}" for name, count in cell["skipped_layers"].items())
    return (f"{verdicts}" + (f"; failed: {layers}" if layers else "")
            + (f"; skipped: {skipped}" if skipped else ""))


def detection(dims: list[int], grid: list[int], seeds: range, needed: int, alpha: float,
              layer: str | None, only: set[str] | None, clock: Clock) -> list[dict[str, Any]]:
    """For every bug and d: the cells tried, and the smallest n that caught it."""
    rows = []
    for dim in dims:
        for case in flows(dim):
            if case.correct or (only is not None and label(case) not in only):
                continue
            cells, caught = [], None
            for n in grid:
                cell = run_seeds(case, n, seeds, alpha)
                count = caught_count(cell, layer)
                cells.append(cell)
                print(f"{clock} bug {case.name} n={n:.0e}: caught {count}/{len(seeds)} "
                      f"({_cell_text(cell)}) in {cell['seconds']:.1f} s", flush=True)
                if count >= needed:
                    caught = n
                    break
            last = cells[-1]
            rows.append({"bug": label(case), "dim": dim, "description": case.bug,
                         "caught_at": caught, "caught": caught_count(last, layer),
                         "layers": modal_layers(last), "cells": cells})
    return rows


def correct_check(dims: list[int], n: int, seeds: range, alpha: float, clock: Clock
                  ) -> dict[str, Any]:
    """Every correct flow at n: verdict counts; deterministic and statistical failures."""
    rows = []
    for dim in dims:
        for case in flows(dim):
            if not case.correct:
                continue
            cell = run_seeds(case, n, seeds, alpha)
            deterministic = sum(cell["failed_layers"].get(name, 0) for name in DETERMINISTIC)
            statistical = sum(1 for seed in cell["seeds"] if seed["verdict"] == "fail"
                              and not set(seed["failed_layers"]) & set(DETERMINISTIC))
            rows.append({"flow": label(case), "dim": dim, "deterministic_failures":
                         deterministic, "statistical_failures": statistical, **cell})
            print(f"{clock} correct {case.name} n={n:.0e}: {_cell_text(cell)} in "
                  f"{cell['seconds']:.1f} s", flush=True)
    runs = len(rows) * len(seeds)
    allowed = int(stats.binom.isf(CORRECT_TAIL, runs, alpha)) if runs else 0
    failures = sum(row["statistical_failures"] for row in rows)
    deterministic = sum(row["deterministic_failures"] for row in rows)
    return {"n": n, "rows": rows, "runs": runs, "statistical_failures": failures,
            "allowed_statistical_failures": allowed, "deterministic_failures": deterministic,
            "inconclusive": sum(row["verdicts"].get("inconclusive", 0) for row in rows),
            "ok": deterministic == 0 and failures <= allowed}


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:.0e}".replace("e+0", "e")


def markdown(rows: list[dict[str, Any]], correct: dict[str, Any] | None, dims: list[int],
             grid: list[int], seeds: range, needed: int, alpha: float, layer: str | None
             ) -> str:
    """The bug x d table, and the correct flows' verdicts at the largest n."""
    what = "verdict fail" if layer is None else f"layer `{layer}` fails"
    lines = [f"## Detection: smallest n with {what} on >= {needed} of {len(seeds)} seeds "
             f"(seeds {seeds.start}..{seeds.stop - 1}, alpha = {alpha:g})", "",
             f"n grid {', '.join(_n(n) for n in grid)}; each cell: n, then the layer(s) that "
             "failed most often at that n (count of seeds); `> N`: not caught by the largest "
             "n.", "", "| bug | " + " | ".join(f"d = {dim}" for dim in dims) + " |",
             "|---|" + "---|" * len(dims)]
    by_bug: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_bug.setdefault(row["bug"], {})[row["dim"]] = row
    for bug, cells in by_bug.items():
        texts = []
        for dim in dims:
            row = cells.get(dim)
            if row is None:
                texts.append("")
                continue
            last = row["cells"][-1]
            count = max(last["failed_layers"].values(), default=0)
            layers = ", ".join(row["layers"]) or "none"
            head = _n(row["caught_at"]) if row["caught_at"] is not None else \
                f"> {_n(grid[-1])} ({row['caught']}/{len(seeds)})"
            texts.append(f"{head}: {layers} ({count}/{len(seeds)})")
        lines.append(f"| {bug} | " + " | ".join(texts) + " |")
    if correct is not None:
        lines += ["", f"## Correct flows at n = {_n(correct['n'])} (seeds {seeds.start}.."
                  f"{seeds.stop - 1})", "", "| flow | " + " | ".join(f"d = {dim}" for dim in dims)
                  + " |", "|---|" + "---|" * len(dims)]
        by_flow: dict[str, dict[int, dict[str, Any]]] = {}
        for row in correct["rows"]:
            by_flow.setdefault(row["flow"], {})[row["dim"]] = row
        for flow, cells in by_flow.items():
            texts = []
            for dim in dims:
                row = cells.get(dim)
                if row is None:
                    texts.append("")
                    continue
                text = ", ".join(f"{count} {verdict}" for verdict, count
                                 in sorted(row["verdicts"].items()))
                if row["failed_layers"]:
                    text += " (failed: " + ", ".join(
                        f"{name} {count}" for name, count in row["failed_layers"].items()) + ")"
                if row["skipped_layers"]:
                    text += " (skipped: " + ", ".join(
                        f"{name} {count}" for name, count in row["skipped_layers"].items()) + ")"
                texts.append(text)
            lines.append(f"| {flow} | " + " | ".join(texts) + " |")
        lines += ["", f"Correct runs: {correct['runs']}; deterministic-layer failures "
                  f"{correct['deterministic_failures']} (allowed 0); statistical failures "
                  f"{correct['statistical_failures']} (allowed "
                  f"{correct['allowed_statistical_failures']}: the {1 - CORRECT_TAIL:.1%} "
                  f"quantile of Bin({correct['runs']}, {alpha:g})); inconclusive "
                  f"{correct['inconclusive']}: {'ok' if correct['ok'] else 'MISS'}."]
    return "\n".join(lines) + "\n"


def _sizes(text: str) -> list[int]:
    return [int(float(value)) for value in text.split(",") if value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=float, default=1e7, help="largest n of the grid")
    parser.add_argument("--dims", default=",".join(map(str, DIMS)))
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds 0..SEEDS-1")
    parser.add_argument("--needed", type=int, default=NEEDED, help="caught on this many seeds")
    parser.add_argument("--alpha", type=float, default=ALPHA)
    parser.add_argument("--caught-by", help="count only this layer's failures as a catch")
    parser.add_argument("--bugs", help="comma-separated bug labels (default: all)")
    parser.add_argument("--skip-correct", action="store_true",
                        help="leave out the correct flows' check")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    grid = [n for n in GRID if n <= args.max_n]
    dims, seeds, clock = _sizes(args.dims), range(args.seeds), Clock()
    only = None if args.bugs is None else set(args.bugs.split(","))
    rows = detection(dims, grid, seeds, args.needed, args.alpha, args.caught_by, only, clock)
    correct = None if args.skip_correct else correct_check(dims, grid[-1], seeds, args.alpha,
                                                            clock)
    table = markdown(rows, correct, dims, grid, seeds, args.needed, args.alpha, args.caught_by)
    print(table)
    print(f"{clock} done")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "alpha": args.alpha, "grid": grid, "seeds": list(seeds), "needed": args.needed,
            "caught_by": args.caught_by, "bugs": rows, "correct": correct}, indent=2))
    missed = [f"{row['bug']} d={row['dim']}" for row in rows if row["caught_at"] is None]
    if missed:
        print(f"MISS: not caught by n = {grid[-1]:.0e}: {', '.join(missed)}", file=sys.stderr)
    if correct is not None and not correct["ok"]:
        print("MISS: correct flows failed (see the table)", file=sys.stderr)
    return 1 if missed or (correct is not None and not correct["ok"]) else 0


if __name__ == "__main__":
    sys.exit(main())
