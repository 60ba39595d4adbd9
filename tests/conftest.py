"""Shared fixtures; the header line records what produced a test run."""

from __future__ import annotations

import numba
import numpy as np
import scipy

import mcflow


def pytest_report_header(config):
    return (
        f"mcflow {mcflow.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, numba threads {numba.get_num_threads()} "
        f"(NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS})"
    )
