"""Throughput of the engine against what a user would write instead.

The workloads here are shared by ``mcflow bench`` (a table without pytest)
and the pytest-benchmark suite in ``bench/``.  Every workload returns its
counts so the caller can check them: a fast wrong kernel must not score.

Baselines (all on Y = exp(X), 200 uniform bins on [0, 20)):

* ``numpy_pipeline``: ``default_rng().standard_normal`` -> ``np.exp`` ->
  ``np.histogram`` in chunks of 1e6 (what most people write first);
* ``numpy_normals``: NumPy's bare ``standard_normal`` fill, nothing else;
* ``numpy_boost_histogram``: NumPy sampling, boost-histogram threaded fill;
* ``numpy_fast_histogram``: NumPy sampling + ``fast_histogram`` in a thread
  pool, one generator per thread (the strongest pure-Python alternative).

The last two need the ``bench`` extra (``pip install mcflow[bench]``).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from mcflow import _kernels, registry, transforms
from mcflow._bench_output import markdown_table, plot, write_results
from mcflow._rng import CHUNK_SIZE, seed_key
from mcflow.edges import equal_probability_edges
from mcflow.engine import histogram
from mcflow.transform import Transform

__all__ = [
    "BENCH_BINS",
    "BENCH_RANGE",
    "Measurement",
    "engine_normals",
    "markdown_table",
    "measure",
    "numpy_boost_histogram",
    "numpy_fast_histogram",
    "numpy_normals",
    "numpy_pipeline",
    "plot",
    "run_suite",
    "three_step_chain",
    "vectorized_exp",
    "workloads",
    "write_results",
]

BENCH_BINS = 200
BENCH_RANGE = (0.0, 20.0)
_NUMPY_CHUNK = 1_000_000
#: Baselines that run on one thread whatever the machine has.
_SERIAL_WORKLOADS = frozenset({"numpy pipeline", "numpy standard_normal"})


def numpy_pipeline(n: int, seed: int = 0) -> np.ndarray:
    """Return counts of the hand-written NumPy pipeline (chunks of 1e6)."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(BENCH_BINS, dtype=np.int64)
    for start in range(0, n, _NUMPY_CHUNK):
        y = np.exp(rng.standard_normal(min(_NUMPY_CHUNK, n - start)))
        counts += np.histogram(y, bins=BENCH_BINS, range=BENCH_RANGE)[0]
    return counts


def numpy_normals(n: int, seed: int = 0) -> np.ndarray:
    """Draw n of NumPy's standard normals into a reused buffer of 1e6; return the last fill.

    Parameters
    ----------
    n : int
        Draws in all.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray of float64
        The last ``min(n, 1e6)``-sized fill, for the caller to check that
        they are N(0, 1) draws (checking costs nothing inside the timing).
    """
    rng = np.random.default_rng(seed)
    buffer = np.empty(_NUMPY_CHUNK)
    count = 0
    for start in range(0, n, _NUMPY_CHUNK):
        count = min(_NUMPY_CHUNK, n - start)
        rng.standard_normal(count, out=buffer[:count])
    return buffer[:count]


def _chunk_plan(n: int, threads: int) -> list[int]:
    sizes = [_NUMPY_CHUNK] * (n // _NUMPY_CHUNK)
    if n % _NUMPY_CHUNK:
        sizes.append(n % _NUMPY_CHUNK)
    return [sum(sizes[i::threads]) for i in range(threads)]


def numpy_fast_histogram(n: int, threads: int, seed: int = 0) -> np.ndarray:
    """Return counts of NumPy sampling + fast_histogram, one generator per thread."""
    from fast_histogram import histogram1d

    generators = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(threads)]

    def work(rng: np.random.Generator, share: int) -> np.ndarray:
        counts = np.zeros(BENCH_BINS)
        buffer = np.empty(_NUMPY_CHUNK)
        for start in range(0, share, _NUMPY_CHUNK):
            view = buffer[: min(_NUMPY_CHUNK, share - start)]
            rng.standard_normal(view.size, out=view)
            np.exp(view, out=view)
            counts += histogram1d(view, bins=BENCH_BINS, range=BENCH_RANGE)
        return counts

    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(work, generators, _chunk_plan(n, threads)))
    return np.sum(parts, axis=0).astype(np.int64)


def numpy_boost_histogram(n: int, threads: int, seed: int = 0) -> np.ndarray:
    """Return counts of NumPy sampling + boost-histogram's threaded fill."""
    import boost_histogram as bh

    rng = np.random.default_rng(seed)
    hist = bh.Histogram(bh.axis.Regular(BENCH_BINS, *BENCH_RANGE))
    buffer = np.empty(_NUMPY_CHUNK)
    for start in range(0, n, _NUMPY_CHUNK):
        view = buffer[: min(_NUMPY_CHUNK, n - start)]
        rng.standard_normal(view.size, out=view)
        np.exp(view, out=view)
        hist.fill(view, threads=threads)
    return hist.values().astype(np.int64)


def engine_normals(n: int, threads: int, seed: int = 0) -> float:
    """Time the engine's bare normal generation (same streams, no transform or binning)."""
    chunks = -(-n // CHUNK_SIZE)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return float(_kernels.normals_checksum(seed_key(seed), 0, chunks, n, threads))
    finally:
        numba.set_num_threads(previous)


def vectorized_exp() -> Transform:
    """Return a ``vectorized=True`` Python transform (NumPy's exp), as a flow wrapper would be."""
    return Transform(np.exp, np.log, lambda x: x, vectorized=True, name="numpy-exp")


def three_step_chain() -> Transform:
    """Return the chain benchmarked against Exp: affine, exp, affine.

    It measures what chaining costs on top of its ops (a chain's cost is the
    sum of its ops' costs); SinhArcsinh is benchmarked on its own.
    """
    return transforms.Chain(transforms.Affine(0.0, 0.5), transforms.Exp(),
                            transforms.Affine(1.0, 2.0))


def workloads(n: int, threads: int) -> dict[str, Callable[[], Any]]:
    """Name -> zero-argument callable of every measured workload."""
    # The benchmarked transforms are the registry's, as the tests and the example config use.
    exp = registry.case("seed exp").transform()
    chain = three_step_chain()
    equal = equal_probability_edges(exp, n)
    sinh_arcsinh = registry.case("sinh-arcsinh").transform()
    cases: dict[str, Callable[[], Any]] = {
        "engine exp uniform": lambda: histogram(exp, n, BENCH_BINS, BENCH_RANGE, threads=threads),
        "engine exp equal-probability": lambda: histogram(exp, n, equal, threads=threads),
        "engine sinh_arcsinh uniform": lambda: histogram(sinh_arcsinh, n, BENCH_BINS, (-20, 20),
                                                         threads=threads),
        "engine 3-step chain uniform": lambda: histogram(chain, n, BENCH_BINS, (0.0, 80.0),
                                                         threads=threads),
        "engine vectorized numpy exp": lambda: histogram(vectorized_exp(), n, BENCH_BINS,
                                                         BENCH_RANGE, threads=threads),
        "engine normals only": lambda: engine_normals(n, threads),
        "numpy pipeline": lambda: numpy_pipeline(n),
        "numpy standard_normal": lambda: numpy_normals(n),
    }
    try:
        import fast_histogram  # noqa: F401

        cases["numpy + fast-histogram pool"] = lambda: numpy_fast_histogram(n, threads)
    except ImportError:
        pass
    try:
        import boost_histogram  # noqa: F401

        cases["numpy + boost-histogram fill"] = lambda: numpy_boost_histogram(n, threads)
    except ImportError:
        pass
    return cases


@dataclass(frozen=True)
class Measurement:
    """Wall times of one workload: ``seconds`` is the best of ``times``."""

    name: str
    threads: int
    n: int
    seconds: float
    times: tuple[float, ...] = ()

    @property
    def median_seconds(self) -> float:
        """Median of the repeats (the spread a user sees on a shared machine)."""
        return float(np.median(self.times)) if self.times else self.seconds

    @property
    def samples_per_second(self) -> float:
        """Throughput."""
        return self.n / self.seconds

    @property
    def ns_per_sample(self) -> float:
        """Cost per sample."""
        return 1e9 * self.seconds / self.n


def measure(name: str, work: Callable[[], Any], n: int, threads: int, repeat: int,
            clock: Callable[[], float] = time.perf_counter) -> Measurement:
    """Time ``work`` ``repeat`` times after one warm-up call; keep every time."""
    return measure_round_robin([(name, work, threads)], n, repeat, clock)[0]


def measure_round_robin(jobs: Sequence[tuple[str, Callable[[], Any], int]], n: int,
                        repeat: int, clock: Callable[[], float] = time.perf_counter
                        ) -> list[Measurement]:
    """Time several workloads in rounds: each once per round, ``repeat`` rounds.

    On a shared machine the speed drifts over a minute; timed in rounds, every
    workload sees the same drift, so the ratios between them (what the goals are
    stated in) do not depend on which one happened to run in a slow minute.

    Parameters
    ----------
    jobs : sequence of (name, work, threads)
        The workloads, each warmed up once before the first round.
    n : int
        Samples per call of ``work``.
    repeat : int
        Rounds.
    clock : callable
        Seconds (a fake one in tests).
    """
    for _name, work, _threads in jobs:
        work()  # warm-up: compilation, page faults, thread pools
    times: list[list[float]] = [[] for _ in jobs]
    for _ in range(repeat):
        for index, (_name, work, _threads) in enumerate(jobs):
            started = clock()
            work()
            times[index].append(clock() - started)
    return [Measurement(name=name, threads=threads, n=n, seconds=min(taken), times=tuple(taken))
            for (name, _work, threads), taken in zip(jobs, times, strict=True)]


def machine() -> dict[str, Any]:
    """CPU model, core count and versions, for the results file."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from mcflow._version import __version__

    return {"cpu": cpu, "cores": os.cpu_count(), "mcflow": __version__,
            "numba": numba.__version__, "numpy": np.__version__,
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def run_suite(n: int = 10**8, threads: Sequence[int] | None = None, repeat: int = 3,
              only: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure every workload; all-thread runs plus the scaling of the engine.

    Parameters
    ----------
    n : int
        Samples per run.
    threads : sequence of int, optional
        Thread counts for the scaling table (default 1 .. all cores).
    repeat : int
        Timed repetitions per workload (every time is kept; rates use the best).
    only : sequence of str, optional
        Workload names to run (default: all).

    Returns
    -------
    dict
        JSON-serializable results: machine, measurements and derived ratios.
    """
    # numba.config fills its attributes from the environment at import: untyped.
    maximum: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat (--repeat) must be a positive integer, got {repeat!r}")
    counts = sorted(set(threads or range(1, maximum + 1)))
    cases = workloads(n, maximum)
    unknown = [name for name in only or () if name not in cases]
    if unknown:  # before any timing: a typo must not run the rest and exit 0
        raise ValueError(f"only (--only) names no workload: {unknown[0]!r}; the workloads "
                         f"here are {', '.join(map(repr, cases))}")
    jobs = [(name, work, 1 if name in _SERIAL_WORKLOADS else maximum)
            for name, work in cases.items() if not only or name in only]
    results = measure_round_robin(jobs, n, repeat)
    scaling_jobs = []
    for count in counts:
        engine = workloads(n, count)
        scaling_jobs += [(name, engine[name], count)
                         for name in ("engine exp uniform", "engine normals only")]
    scaling = measure_round_robin(scaling_jobs, n, repeat)
    return summarize(results, scaling, n)


def summarize(results: Sequence[Measurement], scaling: Sequence[Measurement], n: int
              ) -> dict[str, Any]:
    """Derive the ratios that the targets are stated in."""
    rate = {m.name: m.samples_per_second for m in results}
    one_thread = {m.name: m.samples_per_second for m in scaling if m.threads == 1}
    ratios: dict[str, float] = {}
    engine = rate.get("engine exp uniform")
    if engine:
        for baseline in ("numpy pipeline", "numpy + fast-histogram pool",
                         "numpy + boost-histogram fill", "numpy standard_normal"):
            if baseline in rate:
                ratios[f"engine / {baseline}"] = engine / rate[baseline]
        if "engine normals only" in rate:
            ratios["engine / engine normals only"] = engine / rate["engine normals only"]
        if "engine exp equal-probability" in rate:
            ratios["equal-probability time / uniform time"] = (
                engine / rate["engine exp equal-probability"])
        if "engine 3-step chain uniform" in rate:
            ratios["3-step chain time / exp time"] = engine / rate["engine 3-step chain uniform"]
    if "engine exp uniform" in one_thread and "numpy standard_normal" in rate:
        ratios["engine 1 thread / numpy standard_normal"] = (
            one_thread["engine exp uniform"] / rate["numpy standard_normal"])
    efficiency = []
    for m in scaling:
        base = one_thread.get(m.name)
        if base:
            efficiency.append({"name": m.name, "threads": m.threads,
                               "samples_per_second": m.samples_per_second,
                               "median_samples_per_second": m.n / m.median_seconds,
                               "times": list(m.times),
                               "speedup": m.samples_per_second / base,
                               "efficiency": m.samples_per_second / (base * m.threads)})
    return {"machine": machine(), "n": n,
            "measurements": [{**asdict(m), "samples_per_second": m.samples_per_second,
                              "median_samples_per_second": m.n / m.median_seconds,
                              "ns_per_sample": m.ns_per_sample} for m in results],
            "scaling": efficiency, "ratios": ratios}
