"""Run the engine on a Dask cluster: the same counts as a local run, bit for bit.

The chunk range ``[0, ceil(n / CHUNK_SIZE))`` is cut into contiguous tasks;
each task runs the very kernel :func:`mcflow.histogram` runs, on its chunks,
and returns integer counts that the client adds.  Chunk c's stream depends
only on (seed, c), so the sum is identical whatever the number of workers or
tasks, and a task that Dask reruns after a worker dies recomputes exactly the
counts it would have returned: nothing is counted twice or lost.

Before the first counting task, every worker is asked to unpickle the
transform (a task of the standard library's ``pickle.loads``, so it needs
nothing from mcflow to start): a worker that cannot import mcflow or the
transform's module fails that probe with its own ImportError, and one that
does not answer fails after the timeout, instead of the run waiting forever.

Dask is an optional dependency (``pip install mcflow[dask]``); this module
imports it only when a client is used, and ``import mcflow`` never does.
"""

from __future__ import annotations

import pickle
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from mcflow._binning import Binning
from mcflow._rng import CHUNK_SIZE
from mcflow._user_code import hide_mcflow_frames

__all__ = ["DEFAULT_TASK_CHUNKS", "DEFAULT_WORKER_TIMEOUT", "ClusterError", "connect",
           "count_on_cluster"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Chunks per task: 2**8 chunks = 16.8 M samples, about 0.1 s of one core for
#: exp, so the ~5 ms a task costs Dask stays under 5% and a lost worker
#: loses little work.
DEFAULT_TASK_CHUNKS = 256
_TASKS_PER_WORKER_MIN = 4
#: Seconds to wait for workers to appear and to answer the probe, for a client
#: that did not come from :func:`connect` (which records its own ``timeout``).
DEFAULT_WORKER_TIMEOUT = 60.0
_CLIENT_TIMEOUTS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


class ClusterError(OSError):
    """The Dask cluster cannot run mcflow's tasks (unreachable, no workers, broken workers)."""


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "running on Dask needs dask.distributed: pip install 'mcflow[dask]'"
        ) from None
    return distributed


def connect(address: str, *, workers: int | None = None, timeout: float = 10.0) -> Any:
    """Return a ``distributed.Client`` for ``address``, or a new local cluster.

    Parameters
    ----------
    address : str
        A scheduler address (``tcp://host:8786``), or ``"local"`` to start a
        ``LocalCluster`` of single-threaded worker processes.
    workers : int, optional
        Workers of the local cluster (default: one per core).
    timeout : float
        Seconds to wait for the scheduler, and later for the workers to appear
        and to answer :func:`count_on_cluster`'s probe, before a
        :class:`ClusterError` (no hang).

    Returns
    -------
    distributed.Client
    """
    distributed = _require_distributed()
    if address == "local":
        import os

        cluster = distributed.LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
            dashboard_address=":0")
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as error:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({error})"
            ) from None
    _CLIENT_TIMEOUTS[client] = float(timeout)
    return client


def _check_picklable(transform: Any) -> None:
    from distributed.protocol.pickle import dumps

    try:
        dumps(transform)
    except Exception as error:  # pickle raises many types; all mean "cannot ship"
        raise TypeError(
            f"transform {getattr(transform, 'name', transform)!r} cannot be sent to Dask "
            f"workers ({type(error).__name__}: {error}). Define its functions at module level "
            "(importable on the workers), or use a built-in from mcflow.transforms"
        ) from None


def _probe_workers(client: Any, transform: Any, timeout: float) -> None:
    """Have every worker unpickle ``transform``; raise ClusterError naming what went wrong."""
    from distributed import wait
    from distributed.protocol.pickle import dumps

    payload = dumps(transform)
    addresses = sorted(client.scheduler_info().get("workers", {}))
    run = uuid.uuid4().hex
    # pickle.loads is the standard library's: the task itself starts on a worker
    # without mcflow, and the ImportError comes back as the task's exception.
    probes = {address: client.submit(pickle.loads, payload, key=f"mcflow-probe-{run}-{i}",
                                     workers=[address], allow_other_workers=False, pure=False)
              for i, address in enumerate(addresses)}
    name = getattr(transform, "name", transform)
    try:
        try:
            wait(list(probes.values()), timeout=timeout)
        except TimeoutError:
            silent = [a for a, future in probes.items() if future.status == "pending"]
            raise ClusterError(
                f"Dask worker(s) {', '.join(silent)} did not load transform {name!r} within "
                f"{timeout:g} s (--dask-timeout); the workers may be busy, or failing to start "
                "the task: check that mcflow is installed there (see the worker logs)"
            ) from None
        for address, future in probes.items():
            if future.status == "error":
                error = future.exception()
                raise ClusterError(
                    f"Dask worker {address} cannot load transform {name!r} "
                    f"({type(error).__name__}: {error}); install mcflow, and the module that "
                    "defines the transform, in the workers' environment"
                )
    finally:
        client.cancel(list(probes.values()))


def _count_task(transform: Any, seed: Any, n: int, start: int, stop: int, mu: float,
                sigma: float, edges: np.ndarray) -> np.ndarray:
    """Run on a worker: the counts row of chunks [start, stop)."""
    import distributed
    import numba

    from mcflow._binning import make_binning
    from mcflow._chunks import count_chunks
    from mcflow._rng import seed_key

    try:
        threads = max(1, int(distributed.get_worker().state.nthreads))
    except (ValueError, AttributeError):  # not on a worker (tests calling it directly)
        threads = 1
    threads = min(threads, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    return count_chunks(transform, seed_key(seed), start, stop, n, mu, sigma,
                        make_binning(edges, None), threads)


def _task_chunks(task_chunks: int | None, first: int, last: int, workers: int) -> int:
    """Chunks per task: the default, or fewer so each worker gets at least a few tasks."""
    if task_chunks is None:
        spread = -(-(last - first) // (_TASKS_PER_WORKER_MIN * workers))
        return max(1, min(DEFAULT_TASK_CHUNKS, spread))
    if task_chunks < 1:
        raise ValueError(f"task_chunks must be >= 1, got {task_chunks}")
    return task_chunks


def count_on_cluster(
    client: Any,
    transform: Any,
    seed: Any,
    n: int,
    first: int,
    last: int,
    mu: float,
    sigma: float,
    binning: Binning,
    *,
    task_chunks: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Count chunks ``[first, last)`` on a Dask cluster; returns the summed row and run info.

    Parameters
    ----------
    client : distributed.Client
    transform : Transform
    seed : int or None
    n : int
        Total samples (defines the last chunk's length).
    first, last : int
        Chunk range.
    mu, sigma : float
    binning : Binning
    task_chunks : int, optional
        Chunks per task (default :data:`DEFAULT_TASK_CHUNKS`, smaller when that
        would leave fewer than 4 tasks per worker).
    progress : callable, optional
        ``progress(samples_done, samples_total)`` as tasks finish.
    timeout : float, optional
        Seconds to wait for workers and for their probe (default: the
        ``timeout`` given to :func:`connect`, else :data:`DEFAULT_WORKER_TIMEOUT`).

    Returns
    -------
    counts : ndarray of int64, shape (bins + 5,)
    info : dict
        ``tasks``, ``task_chunks``, ``workers``, ``seconds``.

    Raises
    ------
    ClusterError
        No workers within ``timeout``, or a worker that cannot load the
        transform (mcflow or its module missing) or does not answer.
    """
    distributed = _require_distributed()
    _check_picklable(transform)
    if timeout is None:
        timeout = _CLIENT_TIMEOUTS.get(client, DEFAULT_WORKER_TIMEOUT)
    if not client.scheduler_info().get("workers"):
        try:  # a cluster still scaling up gets the timeout; an empty one a clear error
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(f"the Dask cluster has no workers (waited {timeout:g} s)") from None
    _probe_workers(client, transform, timeout)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    task_chunks = _task_chunks(task_chunks, first, last, workers)
    ranges = [(start, min(start + task_chunks, last))
              for start in range(first, last, task_chunks)]
    started = time.perf_counter()
    run = uuid.uuid4().hex
    # The transform travels inside every task rather than scattered once: data
    # scattered to a worker that dies is lost for good, a task spec is not.
    futures = [
        client.submit(_count_task, transform, seed, n, start, stop, mu, sigma,
                      binning.edges, key=f"mcflow-count-{run}-{start}", pure=False, retries=3)
        for start, stop in ranges
    ]
    sizes = {future.key: min(stop * CHUNK_SIZE, n) - start * CHUNK_SIZE
             for future, (start, stop) in zip(futures, ranges, strict=True)}
    total_samples = sum(sizes.values())
    row = np.zeros(binning.bins + 5, dtype=np.int64)
    done = 0
    try:
        for future in distributed.as_completed(futures):
            row += future.result()
            done += sizes[future.key]
            if progress is not None:
                progress(done, total_samples)
    except BaseException:
        client.cancel(futures)
        raise
    info = {"tasks": len(ranges), "task_chunks": task_chunks, "workers": workers,
            "seconds": time.perf_counter() - started}
    return row, info
