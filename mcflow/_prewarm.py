"""Compile the null's kernels in a helper process while this one compiles the sampler's.

A validation's first run on a machine compiles the sampling kernels and then the
null's (:mod:`mcflow._multinomial`'s sampler and :mod:`mcflow._row_statistics`'
statistics: about 4 s of the ~12 s on the 2-core development VM).  Numba compiles
under one lock per process, so in one process those run one after the other.
:func:`start_null_compile` starts ``python -m mcflow._prewarm``, which compiles
the null's kernels into numba's disk cache (``NUMBA_CACHE_DIR``) on another core
meanwhile; :meth:`NullCompile.wait`, called before the null, waits for it, and
the kernels then load from the cache.  Compiling is all the helper does: the
numbers are this process's, bit for bit, whether or not it ran.

Nothing starts when the kernels are compiled in this process or cached on disk,
when only one CPU is available, when numba cannot cache, or with
``MCFLOW_PREWARM=0``; a helper that fails costs nothing but its time (this
process then compiles as it would have).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

__all__ = ["NullCompile", "start_null_compile"]

#: Set to "0" to compile everything in the validating process.
ENVIRONMENT_SWITCH = "MCFLOW_PREWARM"


class NullCompile:
    """A running helper process compiling the null's kernels."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def wait(self) -> float:
        """Wait for the helper to finish; return the seconds waited (compile time)."""
        started = time.perf_counter()
        self.process.wait()
        return time.perf_counter() - started


_RUNNING: NullCompile | None = None


def _kernels() -> tuple[Any, ...]:
    from mcflow._multinomial import _null_kernel
    from mcflow._row_statistics import _statistics_kernel

    return _null_kernel, _statistics_kernel


def _needs_compiling(kernel: Any) -> bool:
    """Whether a first call of ``kernel`` would compile: none in memory, none on disk."""
    if kernel.signatures:
        return False
    try:
        # numba's own check: an index stale for the current source is empty
        return not kernel._cache._cache_file._load_index()
    except (AttributeError, OSError, EOFError, ValueError):
        return False  # no disk cache (or an unreadable one): the helper could not help


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _helper_environment() -> dict[str, str]:
    """Return the environment for the helper: this one, this mcflow first on the path.

    With numba's cache folder, so the helper compiles this copy of mcflow into the cache this
    process reads, even when either was chosen in code (``sys.path``,
    ``numba.config.CACHE_DIR``) rather than in the environment.
    """
    import numba

    environment = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(
        [package_parent, *filter(None, [environment.get("PYTHONPATH")])])
    cache_folder = getattr(numba.config, "CACHE_DIR", "")
    if cache_folder:
        environment["NUMBA_CACHE_DIR"] = str(cache_folder)
    return environment


def start_null_compile() -> NullCompile | None:
    """Start compiling the null's kernels in a helper process, or return None if needless.

    Returns
    -------
    NullCompile or None
        The running helper (:meth:`NullCompile.wait` before simulating the null), or
        None when nothing needs compiling or a helper cannot help (see the module).
    """
    global _RUNNING
    if _RUNNING is not None:
        if _RUNNING.process.poll() is None:
            return _RUNNING  # an earlier validation's helper is still compiling
        _RUNNING = None
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0" or _available_cpus() < 2:
        return None
    if not any(_needs_compiling(kernel) for kernel in _kernels()):
        return None
    try:
        process = subprocess.Popen([sys.executable, "-m", "mcflow._prewarm"],
                                   env=_helper_environment(), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    _RUNNING = NullCompile(process)
    return _RUNNING


def _compile() -> None:
    """Call each kernel once on a tiny problem: the same argument types as a validation's."""
    import numpy as np

    from mcflow._multinomial import null_statistics
    from mcflow._row_statistics import row_statistics

    probabilities = np.array([0.5, 0.5])
    null_statistics(2, probabilities, 1, np.uint64(1))
    row_statistics(np.ones((1, 2), np.int64), probabilities)


if __name__ == "__main__":
    _compile()
