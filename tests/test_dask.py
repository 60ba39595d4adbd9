"""Dask: bitwise-identical counts on a real LocalCluster, killed workers, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numba
import numpy as np
import pytest

import mcflow
from mcflow import transforms
from mcflow._binning import make_binning
from mcflow._rng import CHUNK_SIZE
from mcflow.cli import main

distributed = pytest.importorskip("distributed")

from mcflow.distributed import ClusterError, connect, count_on_cluster  # noqa: E402


def _row(h):
    return np.concatenate([h.counts, [h.underflow, h.overflow, h.neginf, h.posinf, h.nan]])


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_counts_identical_to_the_local_run(client):
    n = 37 * CHUNK_SIZE + 1234
    kwargs = {"bins": 64, "range": (-3.0, 8.0), "seed": 11, "mu": 0.2, "sigma": 1.1}
    local = mcflow.histogram(transforms.SinhArcsinh(0.4, 1.2), n, **kwargs)
    remote = mcflow.histogram(transforms.SinhArcsinh(0.4, 1.2), n, client=client, **kwargs)
    assert np.array_equal(_row(local), _row(remote))
    assert remote.n == n


@pytest.mark.parametrize("task_chunks", [1, 3, 7, 64])
def test_any_task_size_gives_the_same_counts(client, task_chunks):
    n = 20 * CHUNK_SIZE + 17
    binning = make_binning(50, (0.0, 10.0))
    local = mcflow.histogram(transforms.Exp(), n, 50, (0.0, 10.0), seed=4)
    row, info = count_on_cluster(client, transforms.Exp(), 4, n, 0, 21, 0.0, 1.0, binning,
                                 task_chunks=task_chunks)
    assert np.array_equal(row, _row(local))
    assert info["tasks"] == -(-21 // task_chunks)


@numba.njit(error_model="numpy")
def _module_level_square(x):
    return x * x


def test_user_njit_and_vectorized_transforms_reach_the_workers(client):
    n = 5 * CHUNK_SIZE
    for transform in (mcflow.Transform(_module_level_square),
                      mcflow.Transform(np.exp, vectorized=True, support=(0.0, np.inf))):
        local = mcflow.histogram(transform, n, 30, (0.0, 9.0), seed=2)
        remote = mcflow.histogram(transform, n, 30, (0.0, 9.0), seed=2, client=client)
        assert np.array_equal(_row(local), _row(remote))


def test_unpicklable_transform_is_refused_before_any_task(client):
    lock = threading.Lock()

    def forward(x):
        with lock:
            return np.exp(x)

    transform = mcflow.Transform(forward, vectorized=True, support=(0.0, np.inf))
    with pytest.raises(TypeError, match="cannot be sent to Dask workers"):
        mcflow.histogram(transform, 10**5, 10, (0.0, 5.0), client=client)
    assert not client.processing() or all(not tasks for tasks in client.processing().values())


def _dead(pid):
    """Gone, or a zombie its nanny has not reaped yet."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line for line in status)
    except FileNotFoundError:
        return True


def test_a_killed_worker_loses_and_duplicates_nothing(client):
    # Kill one worker process while tasks run: its nanny restarts it, Dask
    # reruns its tasks, and the counts still equal the local run exactly.
    n = 4000 * CHUNK_SIZE  # 16 tasks of about 0.1 s
    kwargs = {"bins": 100, "range": (0.0, 20.0), "seed": 21}
    local = mcflow.histogram(transforms.Exp(), n, **kwargs)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    outcome = {}
    first_task_done = threading.Event()

    def run():
        outcome["h"] = mcflow.histogram(transforms.Exp(), n, client=client,
                                        progress=lambda done, total: first_task_done.set(),
                                        **kwargs)

    worker = threading.Thread(target=run)
    worker.start()
    assert first_task_done.wait(timeout=60)
    assert worker.is_alive()  # the kill lands mid-run
    os.kill(victim, signal.SIGKILL)
    worker.join(timeout=120)
    assert not worker.is_alive()
    remote = outcome["h"]
    assert np.array_equal(_row(remote), _row(local))
    assert int(_row(remote).sum()) == n
    assert _dead(victim)
    client.wait_for_workers(2, timeout=60)


def test_unreachable_scheduler_fails_fast_with_a_message():
    started = time.perf_counter()
    with pytest.raises(OSError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:9'"):
        connect("tcp://127.0.0.1:9", timeout=2.0)
    assert time.perf_counter() - started < 30


def test_cli_dask_local_matches_local_counts(tmp_path, capsys):
    local_json = tmp_path / "local.json"
    dask_json = tmp_path / "dask.json"
    assert main(["validate", "exp", "--n", "3e5", "--quiet", "--json", str(local_json)]) == 0
    assert main(["validate", "exp", "--n", "3e5", "--quiet", "--dask", "local",
                 "--dask-workers", "2", "--json", str(dask_json)]) == 0
    import json

    local = json.loads(local_json.read_text())["cases"][0]["histogram"]
    remote = json.loads(dask_json.read_text())["cases"][0]["histogram"]
    assert local["counts"] == remote["counts"]


def test_cli_unreachable_scheduler_exit_2(capsys):
    code = main(["validate", "exp", "--n", "1e4", "--dask", "tcp://127.0.0.1:9",
                 "--dask-timeout", "2"])
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_importing_mcflow_does_not_import_dask():
    code = ("import sys, mcflow, mcflow.validation; "
            "print('distributed' in sys.modules, 'dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.fixture(scope="module")
def broken_cluster():
    """One worker process on which ``import mcflow`` fails (as on a worker without mcflow)."""
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
        preload=["import sys; sys.modules['mcflow'] = None"])
    client = distributed.Client(cluster)
    yield cluster, client
    client.close()
    cluster.close()


def test_workers_that_cannot_import_mcflow_fail_fast_naming_the_problem(broken_cluster):
    # Before: the worker could not even decode the task and the run waited forever.
    _, client = broken_cluster
    started = time.perf_counter()
    with pytest.raises(ClusterError, match=r"cannot load transform 'exp' \(ModuleNotFoundError: "
                                           r".*'mcflow.*install mcflow"):
        mcflow.histogram(transforms.Exp(), 10**5, 10, (0.0, 5.0), client=client)
    assert time.perf_counter() - started < 15


def test_cli_on_workers_without_mcflow_exits_2_within_the_timeout(broken_cluster, capsys):
    cluster, _ = broken_cluster
    started = time.perf_counter()
    code = main(["validate", "exp", "--n", "1e5", "--quiet", "--dask", cluster.scheduler_address,
                 "--dask-timeout", "5"])
    assert code == 2
    assert time.perf_counter() - started < 15
    err = capsys.readouterr().err
    assert "cannot load transform 'exp' (ModuleNotFoundError" in err


def test_check_stops_asking_a_broken_cluster_but_keeps_every_case(broken_cluster, tmp_path):
    from mcflow.check import run_check
    from mcflow.config import load_config

    config = tmp_path / "cases.toml"
    config.write_text("[tool.mcflow]\nn = 1e5\n[[tool.mcflow.cases]]\nname = 'a'\n"
                      "transform = 'exp'\n[[tool.mcflow.cases]]\nname = 'b'\n"
                      "transform = 'tanh'\n")
    _, client = broken_cluster
    outcome = run_check(load_config(config), client=client)
    assert outcome.verdict == "error" and outcome.results == ()
    assert outcome.errors["a"].type == "ClusterError"
    assert "cannot load transform 'exp'" in outcome.errors["a"].message
    assert outcome.errors["b"].message.startswith("not run: Dask worker")


def test_workers_that_do_not_answer_fail_after_the_timeout(broken_cluster):
    # Last on this cluster. Its only worker thread is busy, so the probe cannot
    # start, and the timeout says so (the sleep is short: teardown waits for it).
    _, client = broken_cluster
    busy = client.submit(time.sleep, 5, pure=False)
    time.sleep(0.5)  # let the sleep start on the worker first
    try:
        started = time.perf_counter()
        with pytest.raises(ClusterError, match=r"did not load transform 'exp' within 1 s"):
            count_on_cluster(client, transforms.Exp(), 0, 10**5, 0, 1, 0.0, 1.0,
                             make_binning(10, (0.0, 5.0)), timeout=1.0)
        assert time.perf_counter() - started < 10
    finally:
        client.cancel(busy)
