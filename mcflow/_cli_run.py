"""The context a command of ``mcflow`` runs in: SIGTERM as Ctrl-C, a progress bar, Dask."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcflow._cli_options import UsageError

__all__ = ["Terminated", "dask_client", "progress_bar", "show_progress", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so every ``finally`` cleans up as for Ctrl-C."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut cleanup
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def show_progress(quiet: bool) -> bool:
    """Whether to draw a progress bar: on a terminal, never in CI or with ``--quiet``."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield ``update(done, total)`` drawing a tqdm bar on stderr, or None when not ``enabled``.

    Parameters
    ----------
    enabled : bool
        From :func:`show_progress`.
    label : str
        Shown before the bar.

    Yields
    ------
    callable or None
    """
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=None, unit="sample", unit_scale=True, desc=label, delay=1.0,
               file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # update() applies tqdm's delay and rate limits

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def dask_client(args: argparse.Namespace) -> Iterator[Any]:
    """Yield the ``--dask`` client (None without it); close it, and a local cluster, after.

    Parameters
    ----------
    args : argparse.Namespace
        With ``dask``, ``dask_workers`` and ``dask_timeout``.

    Yields
    ------
    distributed.Client or None
    """
    if args.dask_workers is not None and args.dask != "local":
        raise UsageError("--dask-workers only applies to --dask local")
    if not args.dask:
        yield None
        return
    from mcflow.distributed import connect

    client = connect(args.dask, workers=args.dask_workers, timeout=args.dask_timeout)
    try:
        yield client
    finally:
        cluster = client.cluster if args.dask == "local" else None
        client.close()
        if cluster is not None:
            cluster.close()
