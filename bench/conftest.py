"""Benchmark fixture: sizes come from MCFLOW_BENCH_N / MCFLOW_BENCH_N_LARGE (1e8 / 1e9)."""

from __future__ import annotations

import pytest


@pytest.fixture
def run(benchmark):
    """Benchmark ``work`` (warmed, best of 3 rounds) and record threads and samples/s."""

    def measure(work, *, n, threads, rounds=3):
        benchmark.extra_info.update({"n": n, "threads": threads})
        result = benchmark.pedantic(work, rounds=rounds, warmup_rounds=1, iterations=1)
        stats = getattr(benchmark, "stats", None)
        if stats is not None:
            benchmark.extra_info["samples_per_second"] = n / stats.stats.min
        return result

    return measure
