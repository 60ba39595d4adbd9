"""Dask LocalCluster throughput against the local engine (run: python bench/dask_throughput.py).

Two single-threaded worker processes versus the local 2-thread engine, Y = exp(X),
200 bins, n = 1e9, best of 2 per task size; then the per-task overhead.
"""

from __future__ import annotations

import time

import mcflow
from mcflow import transforms
from mcflow._binning import make_binning
from mcflow._rng import CHUNK_SIZE
from mcflow.distributed import connect, count_on_cluster


def best(work, repeat=2):
    fastest = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def main() -> None:
    client = connect("local", workers=2)
    exp = transforms.Exp()
    binning = make_binning(200, (0.0, 20.0))
    n = 10**9
    chunks = -(-n // CHUNK_SIZE)
    count_on_cluster(client, exp, 0, 10**7, 0, 153, 0.0, 1.0, binning)  # warm the workers
    mcflow.histogram(exp, 10**7, 200, (0.0, 20.0))
    local = best(lambda: mcflow.histogram(exp, n, 200, (0.0, 20.0), threads=2))
    print(f"local engine, 2 threads: {n / local / 1e6:.0f} M samples/s")
    for task_chunks in (128, 256, 512, 1024):
        seconds = best(lambda tc=task_chunks: count_on_cluster(
            client, exp, 0, n, 0, chunks, 0.0, 1.0, binning, task_chunks=tc))
        print(f"dask, {task_chunks} chunks per task ({-(-chunks // task_chunks)} tasks): "
              f"{n / seconds / 1e6:.0f} M samples/s = {local / seconds:.2f} of local")
    small = 400 * CHUNK_SIZE
    many = best(lambda: count_on_cluster(client, exp, 0, small, 0, 400, 0.0, 1.0, binning,
                                         task_chunks=1), 1)
    few = best(lambda: count_on_cluster(client, exp, 0, small, 0, 400, 0.0, 1.0, binning,
                                        task_chunks=200), 1)
    print(f"overhead per task: {(many - few) / 398 * 1e3:.1f} ms")
    client.close()
    client.cluster.close()


if __name__ == "__main__":
    main()
