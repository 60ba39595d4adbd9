"""The engine: accounting, sample/histogram agreement, reproducibility, bad input."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import mcflow
from mcflow import _binning, _kernels, transforms
from mcflow._rng import CHUNK_SIZE

# Not a multiple of the chunk size, so the last chunk is partial.
N_SMALL = 3 * CHUNK_SIZE + 12_345


@numba.njit(error_model="numpy")
def spiky(x):
    """Finite, NaN, +inf and -inf outputs on known parts of the line."""
    if x < -2.0:
        return np.nan
    if x > 2.5:
        return np.inf
    if x < -1.5:
        return -np.inf
    return x * x


def _bin_with_engine_lookup(values, edges):
    binning = _binning.make_binning(edges, None)
    return _kernels.bin_values(values, binning.edges, binning.cell_scale, binning.cell_bins,
                               binning.lookup, 1).sum(axis=0)


def _row(h):
    return np.concatenate([h.counts, [h.underflow, h.overflow, h.neginf, h.posinf, h.nan]])


def test_public_contract_example():
    h = mcflow.histogram(transforms.Exp(), 10**5, bins=200, range=(0.0, 20.0), seed=0,
                         mu=0.0, sigma=1.0)
    assert h.counts.dtype == np.int64
    assert h.counts.shape == (200,)
    assert h.edges.dtype == np.float64
    assert h.edges.shape == (201,)
    assert int(h.counts.sum()) + h.underflow + h.overflow + h.neginf + h.posinf + h.nan == h.n
    assert h.n == 10**5
    x, y = mcflow.sample(transforms.Exp(), 1000, seed=0)
    p = mcflow.density(transforms.Exp(), y)
    assert x.shape == y.shape == p.shape == (1000,)


@pytest.mark.parametrize("transform", [transforms.Exp(), mcflow.Transform(spiky),
                                       mcflow.Transform(np.exp, vectorized=True),
                                       transforms.Chain(transforms.SinhArcsinh(0.3, 1.4),
                                                        transforms.Sinh())],
                         ids=["program", "njit", "vectorized", "vectorized-block-ops"])
def test_histogram_equals_binning_the_samples(transform):
    edges = np.linspace(-1.0, 4.0, 51)
    h = mcflow.histogram(transform, N_SMALL, bins=edges, seed=11, mu=0.3, sigma=1.2)
    _x, y = mcflow.sample(transform, N_SMALL, seed=11, mu=0.3, sigma=1.2)
    assert np.array_equal(_row(h), _bin_with_engine_lookup(y, edges))
    # And with NumPy's own binning inside the range (no value sits exactly on hi).
    inside, _ = np.histogram(y[np.isfinite(y) & (y < 4.0)], bins=edges)
    assert np.array_equal(h.counts, inside)


def test_every_sample_is_counted_in_exactly_one_place():
    h = mcflow.histogram(mcflow.Transform(spiky), N_SMALL, bins=10, range=(0.0, 4.0), seed=3)
    x, _ = mcflow.sample(mcflow.Transform(spiky), N_SMALL, seed=3)
    assert h.nan == np.count_nonzero(x < -2.0)
    assert h.posinf == np.count_nonzero(x > 2.5)
    assert h.neginf == np.count_nonzero((x >= -2.0) & (x < -1.5))
    squares = x[(x >= -1.5) & (x <= 2.5)] ** 2
    assert h.overflow == np.count_nonzero(squares >= 4.0)
    assert h.underflow == 0
    assert h.in_range + h.underflow + h.overflow + h.nonfinite == h.n == N_SMALL
    assert h.nan > 0
    assert h.posinf > 0
    assert h.neginf > 0


_THREADS_N = 9 * CHUNK_SIZE + 77  # ten chunks, the last one partial
_THREADS_KWARGS = {"bins": 64, "range": (-4.0, 6.0), "seed": 5}

_THREADS_CHILD = """
import hashlib, numpy as np, mcflow
from mcflow import transforms
for threads in (1, 2):
    h = mcflow.histogram(transforms.SinhArcsinh(0.5, 1.3), {n}, threads=threads, **{kwargs})
    row = np.concatenate([h.counts, [h.underflow, h.overflow, h.neginf, h.posinf, h.nan]])
    print(h.threads, hashlib.sha256(row.astype('<i8').tobytes()).hexdigest())
"""


def test_counts_do_not_depend_on_the_thread_count():
    # NUMBA_NUM_THREADS defaults to the cores this process may use, so with one
    # core visible an in-process run would compare 1 thread with 1.  A fresh
    # process with NUMBA_NUM_THREADS=2 always splits the chunks between two
    # workers, whatever the machine.
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    code = _THREADS_CHILD.format(n=_THREADS_N, kwargs=_THREADS_KWARGS)
    lines = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    (threads_one, digest_one), (threads_two, digest_two) = (line.split() for line in lines[:2])
    assert (threads_one, threads_two) == ("1", "2")
    assert digest_one == digest_two
    here = mcflow.histogram(transforms.SinhArcsinh(0.5, 1.3), _THREADS_N, threads=1,
                            **_THREADS_KWARGS)
    assert hashlib.sha256(_row(here).astype("<i8").tobytes()).hexdigest() == digest_one


def test_counts_do_not_depend_on_how_the_chunk_range_is_split():
    args = (transforms.SinhArcsinh(0.5, 1.3), _THREADS_N)
    whole = mcflow.histogram(*args, threads=1, **_THREADS_KWARGS)
    parts = [mcflow.histogram(*args, chunks=c, **_THREADS_KWARGS)
             for c in [(0, 1), (1, 7), (7, 10)]]
    merged = parts[0] + parts[1] + parts[2]
    assert np.array_equal(_row(merged), _row(whole))
    assert merged.n == whole.n


_CHILD = """
import hashlib, numpy as np, mcflow
from mcflow import transforms
h = mcflow.histogram(transforms.Exp(), {n}, bins=200, range=(0.0, 20.0), seed=42)
row = np.concatenate([h.counts, [h.underflow, h.overflow, h.neginf, h.posinf, h.nan]])
print(hashlib.sha256(row.astype('<i8').tobytes()).hexdigest(), h.threads)
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_counts_bitwise_identical_across_processes_with_different_thread_counts(threads):
    n = 20 * CHUNK_SIZE + 3
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", _CHILD.format(n=n)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    h = mcflow.histogram(transforms.Exp(), n, bins=200, range=(0.0, 20.0), seed=42)
    digest = hashlib.sha256(_row(h).astype("<i8").tobytes()).hexdigest()
    assert out == [digest, str(threads)]


def test_same_seed_same_counts_other_seed_other_counts():
    kwargs = {"bins": 50, "range": (0.0, 5.0)}
    a = mcflow.histogram(transforms.Exp(), 10**5, seed=1, **kwargs)
    b = mcflow.histogram(transforms.Exp(), 10**5, seed=1, **kwargs)
    c = mcflow.histogram(transforms.Exp(), 10**5, seed=2, **kwargs)
    assert np.array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, c.counts)


def test_prefix_property_first_draws_are_shared():
    # sample(n) is a prefix of sample(m > n): chunk streams do not depend on n.
    x_small, _ = mcflow.sample(transforms.Exp(), 1000, seed=9)
    x_big, _ = mcflow.sample(transforms.Exp(), CHUNK_SIZE + 5, seed=9)
    assert np.array_equal(x_small, x_big[:1000])


def test_small_samples_drawn_on_the_calling_thread_are_the_parallel_kernels_bits():
    # sample() draws up to 16 chunks without the parallel kernel (its compile is
    # most of a first run's figure sample); the two paths must give the same bits.
    from mcflow import engine

    n = engine._SERIAL_SAMPLE
    x_serial, y_serial = mcflow.sample(transforms.Exp(), n, seed=5, mu=0.3, sigma=1.7)
    x_parallel, y_parallel = mcflow.sample(transforms.Exp(), n + 1, seed=5, mu=0.3, sigma=1.7)
    assert x_serial.tobytes() == x_parallel[:n].tobytes()
    assert y_serial.tobytes() == y_parallel[:n].tobytes()


def test_counts_are_statistically_right_for_the_seed_case():
    # Exp of N(0,1) in 20 uniform bins on (0, 5): chi-square with 21 cells
    # (bins + overflow; underflow is impossible) has 20 dof; its 1 - 1e-4
    # quantile is 52.4, so a correct engine fails with probability 1e-4.
    from scipy import stats

    n = 400_000
    h = mcflow.histogram(transforms.Exp(), n, bins=20, range=(0.0, 5.0), seed=123)
    cdf = stats.lognorm.cdf(h.edges, 1.0)
    expected = n * np.append(np.diff(cdf), 1.0 - cdf[-1])
    observed = np.append(h.counts, h.overflow)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.ppf(1 - 1e-4, df=20)
    assert h.underflow == 0
    assert h.nonfinite == 0


def test_progress_reports_every_batch_and_reaches_n():
    seen = []
    n = 5 * 64 * CHUNK_SIZE + 1  # several batches whatever the thread count
    mcflow.histogram(transforms.Exp(), n, bins=10, range=(0.0, 5.0), threads=1,
                     progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 2
    assert seen[-1] == (n, n)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))


def test_histogram_properties():
    h = mcflow.histogram(transforms.Exp(), 10**5, bins=10, range=(0.0, 5.0), seed=0)
    assert h.density() @ h.widths == pytest.approx(h.in_range / h.n, rel=1e-12)
    assert np.allclose(h.centers, 0.25 + 0.5 * np.arange(10))
    assert h.to_dict()["n"] == 10**5
    assert sum(h.to_dict()["counts"]) == h.in_range
    assert "exp" in repr(h)
    assert h.samples_per_second > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, r"n must be a positive integer, got 0"),
        ({"n": -5}, ValueError, r"n must be a positive integer, got -5"),
        ({"n": 2.5}, ValueError, r"n must be a positive integer, got 2.5"),
        ({"n": "10"}, TypeError, r"n must be a positive integer, got str"),
        ({"n": True}, TypeError, r"n must be a positive integer"),
        ({"n": 2**63}, ValueError, r"n must be at most 2\*\*62"),
        ({"sigma": 0.0}, ValueError, r"sigma must be > 0, got 0.0"),
        ({"sigma": -1}, ValueError, r"sigma must be > 0"),
        ({"mu": math.nan}, ValueError, r"mu must be finite, got nan"),
        ({"sigma": math.inf}, ValueError, r"sigma must be finite"),
        ({"bins": 0}, ValueError, r"bins must be >= 1, got 0"),
        ({"range": (3.0, 1.0)}, ValueError, r"range must satisfy lo < hi"),
        ({"range": (0.0, math.inf)}, ValueError, r"range must have finite ends"),
        ({"threads": 0}, ValueError, r"threads must be between 1"),
        ({"chunks": (2, 1)}, ValueError, r"chunks must satisfy"),
        ({"seed": -1}, ValueError, r"seed must be a non-negative integer"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match):
    arguments = {"n": 1000, "bins": 10, "range": (0.0, 1.0), **kwargs}
    with pytest.raises(error, match=match):
        mcflow.histogram(transforms.Exp(), **arguments)


def test_float_n_like_1e5_is_accepted():
    assert mcflow.histogram(transforms.Exp(), 1e5, bins=5, range=(0, 1)).n == 100_000


def test_transform_argument_is_checked():
    with pytest.raises(TypeError, match=r"transform must be a mcflow\.Transform"):
        mcflow.histogram(np.exp, 100, bins=5, range=(0, 1))


def test_histograms_of_different_runs_do_not_add():
    a = mcflow.histogram(transforms.Exp(), 1000, bins=5, range=(0, 1), seed=1)
    b = mcflow.histogram(transforms.Exp(), 1000, bins=5, range=(0, 1), seed=2)
    with pytest.raises(ValueError, match="seed is 1 and 2"):
        a + b


_PEAK_MEMORY_CHILD = """
import resource, mcflow
from mcflow import transforms
mcflow.histogram(transforms.Exp(), 1000, 200, (0.0, 20.0))  # compile/load first
h = mcflow.histogram(transforms.Exp(), {n}, 200, (0.0, 20.0))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, h.n)
"""


def test_peak_memory_does_not_grow_with_n():
    # 1e6 and 2e8 samples (1.6 GB if materialized as float64): the peak RSS of
    # the two processes must agree within 10 MB.
    peaks = []
    for n in (10**6, 2 * 10**8):
        out = subprocess.run([sys.executable, "-c", _PEAK_MEMORY_CHILD.format(n=n)],
                             check=True, capture_output=True, text=True).stdout.split()
        assert int(out[1]) == n
        peaks.append(int(out[0]) / 1024)  # ru_maxrss is in KiB on Linux
    assert abs(peaks[1] - peaks[0]) < 10, peaks


def test_overlapping_chunk_ranges_do_not_add():
    kwargs = {"bins": 5, "range": (0, 1), "seed": 1}
    first = mcflow.histogram(transforms.Exp(), 3 * CHUNK_SIZE, chunks=(0, 2), **kwargs)
    again = mcflow.histogram(transforms.Exp(), 3 * CHUNK_SIZE, chunks=(1, 3), **kwargs)
    with pytest.raises(ValueError, match=r"overlapping chunk ranges \[0, 2\) and \[1, 3\)"):
        first + again
    unseeded = mcflow.histogram(transforms.Exp(), 1000, bins=5, range=(0, 1), seed=None)
    with pytest.raises(ValueError, match="without an integer seed"):
        unseeded + unseeded


def test_edges_wider_than_float64_are_refused_clearly():
    with pytest.raises(ValueError, match="wider than the largest float64"):
        mcflow.histogram(transforms.Sinh(), 1000, bins=[-1e308, 0.0, 1e308])


_CONCURRENT = """
import sys
from concurrent.futures import ThreadPoolExecutor
import mcflow
from mcflow import transforms

def run(seed):
    h = mcflow.histogram(transforms.Exp(), n=2 * 10**6, bins=50, range=(0.0, 10.0), seed=seed)
    x, y = mcflow.sample(transforms.Tanh(), n=10**5, seed=seed)
    return int(h.n), h.counts.tobytes(), float(y.sum())

with ThreadPoolExecutor(4) as pool:
    together = list(pool.map(run, [1, 2, 1, 2]))
assert together[0] == together[2] and together[1] == together[3], "not reproducible"
print("ok", together[0][0])
"""


def test_parallel_kernels_from_many_threads_on_the_workqueue_layer(tmp_path):
    # numba's workqueue layer (no OpenMP/TBB) aborts on concurrent launches: mcflow takes
    # turns there, as Dask's threaded workers or a user's thread pool need
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "MCFLOW_CACHE_DIR": ""}
    completed = subprocess.run([sys.executable, "-c", _CONCURRENT], env=env,
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "ok 2000000"
