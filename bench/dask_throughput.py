"""Dask LocalCluster throughput against the local engine (run: python bench/dask_throughput.py).

Two single-threaded worker processes versus the local 2-thread engine, Y = exp(X),
200 bins, n = 1e9 (``MCFLOW_BENCH_N_LARGE``), best of 2 per task size; then the
per-task overhead.  Every Dask run must return bitwise the local engine's counts
for the same seed, so a fast run that loses or repeats a chunk cannot score.
"""

from __future__ import annotations

import os
import time

import numpy as np

import mcflow
from mcflow import registry
from mcflow._binning import make_binning
from mcflow._rng import CHUNK_SIZE
from mcflow.distributed import connect, count_on_cluster

SEED = 0


def best(work, repeat=2):
    """Return the fastest of ``repeat`` calls and the last call's result."""
    fastest = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest, result


def local_row(h):
    """A local histogram as the row a Dask run returns: bins, then the five counters."""
    return np.concatenate([h.counts, [h.underflow, h.overflow, h.neginf, h.posinf, h.nan]])


def check_same_counts(dask_result, local, what):
    row, _info = dask_result
    if not np.array_equal(row, local):
        raise AssertionError(f"{what}: Dask counts differ from the local engine's")


def main() -> None:
    client = connect("local", workers=2)
    exp = registry.case("seed exp").transform()
    binning = make_binning(200, (0.0, 20.0))
    n = int(float(os.environ.get("MCFLOW_BENCH_N_LARGE", "1e9")))
    chunks = -(-n // CHUNK_SIZE)
    count_on_cluster(client, exp, SEED, 10**7, 0, 153, 0.0, 1.0, binning)  # warm the workers
    mcflow.histogram(exp, 10**7, 200, (0.0, 20.0), seed=SEED)
    local, h = best(lambda: mcflow.histogram(exp, n, 200, (0.0, 20.0), seed=SEED, threads=2))
    expected = local_row(h)
    print(f"local engine, 2 threads: {n / local / 1e6:.0f} M samples/s")
    for task_chunks in (128, 256, 512, 1024):
        seconds, result = best(lambda tc=task_chunks: count_on_cluster(
            client, exp, SEED, n, 0, chunks, 0.0, 1.0, binning, task_chunks=tc))
        check_same_counts(result, expected, f"{task_chunks} chunks per task")
        print(f"dask, {task_chunks} chunks per task ({-(-chunks // task_chunks)} tasks): "
              f"{n / seconds / 1e6:.0f} M samples/s = {local / seconds:.2f} of local")
    small = 400 * CHUNK_SIZE
    small_expected = local_row(mcflow.histogram(exp, small, 200, (0.0, 20.0), seed=SEED))
    many, result = best(lambda: count_on_cluster(client, exp, SEED, small, 0, 400, 0.0, 1.0,
                                                 binning, task_chunks=1), 1)
    check_same_counts(result, small_expected, "400 tasks of one chunk")
    few, result = best(lambda: count_on_cluster(client, exp, SEED, small, 0, 400, 0.0, 1.0,
                                                binning, task_chunks=200), 1)
    check_same_counts(result, small_expected, "2 tasks of 200 chunks")
    print(f"overhead per task: {(many - few) / 398 * 1e3:.1f} ms")
    client.close()
    client.cluster.close()


if __name__ == "__main__":
    main()
