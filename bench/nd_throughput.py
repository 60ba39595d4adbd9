"""Throughput and memory of ``mcflow.nd.validate`` against the flow's own evaluation cost.

For each flow (``chain`` and ``coupling`` of ``tests/nd_flows.py``, plain NumPy) and each
d in 2, 5, 20, in the same run:

- ``own cost``: ``y = forward(x); log_prob(y)`` over the same n rows in the same
  65,536-row blocks as ``nd.validate`` (the base draws are made outside the timer): the
  least any brute-force check of the claimed density must pay;
- ``validate``: the whole ``nd.validate(case, n=n, seed=0)``, its samples/s, and its
  phase split from ``result.seconds`` (deterministic layers, proposal pass, sampling
  pass);
- ``ratio`` = own-cost seconds / validate seconds (1: validate costs no more than the
  bare evaluation; 0.5: it costs twice as much).

Memory: the peak of ``nd.validate`` (``chain``, d = 5) at n = 1e5, 1e6, 1e7, two ways:
the ``tracemalloc`` peak of the call (NumPy buffers and Python objects), and, each n in a
fresh child process after a warm-up call at n = 4096, the peak-RSS growth of the call over
the resident size just before it (``VmHWM`` reset through ``/proc/self/clear_refs``; Linux
only, else left out).  Memory must be flat in n: the script checks ``peak(largest n) <=
1.5 * peak(smallest n) + 4 MB`` for each measure and exits with status 1 on a miss (or if
a correct flow fails).  A warm-up call per case (n = 4096) compiles everything before any
timing; ``--repeat`` keeps the best of several timings (the machine may be shared).

On a small or shared machine set ``OPENBLAS_NUM_THREADS=1``: after each of numba's
OpenMP parallel regions (the base draws), a multi-threaded OpenBLAS call can stall for
up to ~2 s while both thread pools spin on the same cores, which slows both the flow's
matrix products and ``nd.validate``'s own several-fold.  The machine's threads and load
are written into the report.

Run ``OPENBLAS_NUM_THREADS=1 python bench/nd_throughput.py --n 1e6 --repeat 3
--markdown reports/nd/throughput.md --json reports/nd/throughput.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mcflow import nd
from mcflow._nd_stream import BLOCK_ROWS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from nd_flows import FlowCase, flows  # noqa: E402

MB = 2**20
#: Allowed growth of the peak from the smallest to the largest n: factor and slack.
GROWTH, SLACK_MB = 1.5, 4.0
WARMUP_N = 4096


def flow(label: str, dim: int) -> FlowCase:
    """The flow ``label`` (e.g. ``"chain"``) of ``tests/nd_flows.py`` in dimension ``dim``."""
    for case in flows(dim):
        if case.name == f"{label} d={dim}":
            return case
    raise KeyError(f"no flow {label!r} in tests/nd_flows.py")


def nd_case(case: FlowCase) -> nd.Case:
    """The ``nd.Case`` of a reference flow, with its inverse and log-det."""
    return nd.Case(case.forward, case.log_prob, dim=case.dim, inverse=case.inverse,
                   log_abs_det_jacobian=case.log_abs_det_jacobian, name=case.name)


def own_cost(case: FlowCase, n: int, seed: int = 0) -> float:
    """Seconds of ``log_prob(forward(x))`` over n rows in blocks of ``BLOCK_ROWS``."""
    rng = np.random.default_rng(seed)
    seconds = 0.0
    for first in range(0, n, BLOCK_ROWS):
        x = rng.standard_normal((min(BLOCK_ROWS, n - first), case.dim))
        started = time.perf_counter()
        case.log_prob(case.forward(x))
        seconds += time.perf_counter() - started
    return seconds


def throughput(labels: list[str], dims: list[int], n: int, repeat: int = 1
               ) -> list[dict[str, Any]]:
    """Own cost and ``nd.validate`` (best of ``repeat``) for every flow and dimension."""
    rows = []
    for label in labels:
        for dim in dims:
            case = flow(label, dim)
            checked = nd_case(case)
            nd.validate(checked, n=WARMUP_N, seed=1)  # compilation, caches
            own_cost(case, BLOCK_ROWS)
            own_s = min(own_cost(case, n) for _ in range(repeat))
            result = min((nd.validate(checked, n=n, seed=0) for _ in range(repeat)),
                         key=lambda r: r.seconds["total"])
            row = {"flow": label, "dim": dim, "n": n, "repeat": repeat, "own_cost_s": own_s,
                   "validate_s": result.seconds["total"],
                   "ratio": own_s / result.seconds["total"], "phases": dict(result.seconds),
                   "verdict": result.verdict, "failed_layers": list(result.failed_layers),
                   "skipped_layers": [layer.name for layer in result.layers
                                      if layer.status == "skipped"]}
            rows.append(row)
            print(f"{case.name}: own cost {n / own_s / 1e6:.2f} M/s, validate "
                  f"{n / row['validate_s'] / 1e6:.2f} M/s, ratio {row['ratio']:.2f}, "
                  f"{result.verdict}", flush=True)
    return rows


def _status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as stream:
        for line in stream:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0]) * 1024
    return values


def rss_child(label: str, dim: int, n: int) -> dict[str, float]:
    """In this (fresh) process: warm up, then the peak RSS growth of one ``nd.validate``."""
    checked = nd_case(flow(label, dim))
    nd.validate(checked, n=WARMUP_N, seed=1)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as stream:
        stream.write("5")  # resets VmHWM to the current RSS
    before = _status()["VmRSS"]
    nd.validate(checked, n=n, seed=0)
    after = _status()
    return {"rss_before_bytes": float(before), "rss_peak_bytes": float(after["VmHWM"]),
            "rss_growth_bytes": float(after["VmHWM"] - before)}


def rss_growth(label: str, dim: int, n: int) -> dict[str, float] | None:
    """:func:`rss_child` in a fresh interpreter; None where it cannot run (not Linux)."""
    if not Path("/proc/self/clear_refs").exists():
        return None
    completed = subprocess.run(
        [sys.executable, __file__, "--rss-child", f"{label},{dim},{n}"],
        capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        print(f"RSS child failed: {completed.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])


def traced_peak(work: Any) -> float:
    """The ``tracemalloc`` peak of ``work()`` (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        work()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def memory(label: str, dim: int, sizes: list[int]) -> list[dict[str, Any]]:
    """Peaks of ``nd.validate`` at each n (tracemalloc here; RSS in a child process)."""
    checked = nd_case(flow(label, dim))
    nd.validate(checked, n=WARMUP_N, seed=1)
    rows = []
    for n in sizes:
        gc.collect()
        started = time.perf_counter()
        traced = traced_peak(lambda n=n: nd.validate(checked, n=n, seed=0))
        traced_s = time.perf_counter() - started
        rss = rss_growth(label, dim, n)
        row = {"flow": label, "dim": dim, "n": n, "tracemalloc_peak_bytes": traced,
               "traced_call_s": traced_s, "rss_growth_bytes": None, **(rss or {})}
        rows.append(row)
        growth = row["rss_growth_bytes"]
        print(f"memory {label} d={dim} n={n:.0e}: tracemalloc peak {traced / MB:.1f} MB "
              f"({traced_s:.1f} s), RSS growth "
              f"{'n/a' if growth is None else f'{growth / MB:.1f} MB'}", flush=True)
    return rows


def memory_checks(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``peak(largest n) <= GROWTH * peak(smallest n) + SLACK_MB`` for each measure."""
    checks = {}
    if len(rows) < 2:
        return checks
    first, last = rows[0], rows[-1]
    for key, label in (("tracemalloc_peak_bytes", "tracemalloc peak"),
                       ("rss_growth_bytes", "peak RSS growth")):
        if first[key] is None or last[key] is None:
            continue
        limit = GROWTH * first[key] + SLACK_MB * MB
        checks[label] = {"small": first[key], "large": last[key], "limit": limit,
                         "ok": bool(last[key] <= limit)}
    return checks


def environment() -> dict[str, Any]:
    """Threads and load: BLAS threads competing with numba's spin badly on a small machine."""
    import numba

    return {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": numba.config.THREADING_LAYER,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def markdown(rows: list[dict[str, Any]], mem: list[dict[str, Any]],
             checks: dict[str, dict[str, Any]], env: dict[str, Any] | None = None) -> str:
    """Throughput table, phase split, memory table and the memory verdicts."""
    lines = ["## Throughput of `nd.validate` (numpy flows of `tests/nd_flows.py`, seed 0)", "",
             "own cost: `log_prob(forward(x))` over the same n rows in 65,536-row blocks "
             "(base draws not timed); ratio = own-cost seconds / validate seconds"
             + (f"; best of {rows[0]['repeat']}" if rows and rows[0]["repeat"] > 1 else "")
             + ".", ""]
    if env is not None:
        lines += ["Machine: " + ", ".join(f"{key} {value}" for key, value in env.items()), ""]
    lines += [
             "| flow | d | n | own cost | validate | ratio | deterministic | proposal | "
             "sampling | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        phases, total = row["phases"], row["phases"]["total"]
        split = [f"{phases[key]:.2f} s ({phases[key] / total:.0%})"
                 for key in ("deterministic", "proposal", "sampling")]
        verdict = row["verdict"] + (f" ({', '.join(row['skipped_layers'])} skipped)"
                                    if row["skipped_layers"] else "")
        lines.append(f"| {row['flow']} | {row['dim']} | {row['n']:.0e} | "
                     f"{row['n'] / row['own_cost_s'] / 1e6:.2f} M/s | "
                     f"{row['n'] / row['validate_s'] / 1e6:.2f} M/s | {row['ratio']:.2f} | "
                     + " | ".join(split) + f" | {verdict} |")
    if mem:
        lines += ["", f"## Memory of `nd.validate` ({mem[0]['flow']}, d = {mem[0]['dim']})", "",
                  "| n | tracemalloc peak | peak RSS growth (fresh process, after a warm-up "
                  "call) |", "|---|---|---|"]
        for row in mem:
            rss = row["rss_growth_bytes"]
            lines.append(f"| {row['n']:.0e} | {row['tracemalloc_peak_bytes'] / MB:.1f} MB | "
                         f"{'n/a' if rss is None else f'{rss / MB:.1f} MB'} |")
        lines.append("")
        for label, check in checks.items():
            lines.append(f"- {label}: {check['large'] / MB:.1f} MB at n = {mem[-1]['n']:.0e} "
                         f"vs limit {GROWTH:g} x {check['small'] / MB:.1f} MB + {SLACK_MB:g} MB "
                         f"= {check['limit'] / MB:.1f} MB: "
                         f"{'flat (ok)' if check['ok'] else 'GROWS WITH n (miss)'}")
    return "\n".join(lines) + "\n"


def _sizes(text: str) -> list[int]:
    return [int(float(value)) for value in text.split(",") if value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1e6", help="samples per throughput run (default 1e6)")
    parser.add_argument("--dims", default="2,5,20")
    parser.add_argument("--flows", default="chain,coupling")
    parser.add_argument("--memory-n", default="1e5,1e6,1e7",
                        help="n of the memory runs, smallest first ('' to skip them)")
    parser.add_argument("--memory-flow", default="chain")
    parser.add_argument("--memory-dim", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many timings")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)  # internal: LABEL,DIM,N
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.rss_child:
        label, dim, n = args.rss_child.split(",")
        print(json.dumps(rss_child(label, int(dim), int(n))))
        return 0
    started = time.perf_counter()
    rows = throughput(args.flows.split(","), _sizes(args.dims), int(float(args.n)),
                      args.repeat)
    mem = memory(args.memory_flow, args.memory_dim, sorted(_sizes(args.memory_n)))
    checks = memory_checks(mem)
    env = environment()
    table = markdown(rows, mem, checks, env)
    print(table)
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "throughput": rows,
                                         "memory": mem, "memory_checks": checks}, indent=2))
    failed = [f"{row['flow']} d={row['dim']}" for row in rows if row["verdict"] == "fail"]
    misses = [label for label, check in checks.items() if not check["ok"]]
    if failed:
        print(f"MISS: correct flows failed: {', '.join(failed)}", file=sys.stderr)
    if misses:
        print(f"MISS: memory grows with n ({', '.join(misses)})", file=sys.stderr)
    return 1 if failed or misses else 0


if __name__ == "__main__":
    sys.exit(main())
