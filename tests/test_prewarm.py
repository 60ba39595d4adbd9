"""The helper process that compiles the null's kernels on a first run (mcflow._prewarm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mcflow import _prewarm
from mcflow._multinomial import null_statistics
from mcflow._row_statistics import row_statistics


def test_nothing_starts_once_the_kernels_are_compiled_here(monkeypatch):
    monkeypatch.setattr(_prewarm, "_RUNNING", None)
    null_statistics(2, np.array([0.5, 0.5]), 1, np.uint64(1))
    row_statistics(np.ones((1, 2), np.int64), np.array([0.5, 0.5]))
    assert _prewarm.start_null_compile() is None


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setattr(_prewarm, "_RUNNING", None)
    monkeypatch.setenv(_prewarm.ENVIRONMENT_SWITCH, "0")
    monkeypatch.setattr(_prewarm, "_needs_compiling", lambda kernel: True)
    assert _prewarm.start_null_compile() is None


_FIRST_RUN = """
import json, numpy as np
from numba.core import event
compiled = []
class Listener(event.Listener):
    def on_start(self, e): pass
    def on_end(self, e): compiled.append(e.data["dispatcher"].py_func.__qualname__)
event.register("numba:compile", Listener())
from mcflow import _prewarm
helper = _prewarm.start_null_compile()
assert helper is not None, "a first run with empty caches must start the helper"
helper.wait()
assert helper.process.returncode == 0, helper.process.returncode
from mcflow._multinomial import null_statistics
table = null_statistics(1000, np.full(5, 0.2), 64, np.uint64(3))
print(json.dumps({"compiled": compiled, "sum": float(table.sum()),
                  "again": _prewarm.start_null_compile() is None}))
"""


@pytest.mark.slow
def test_a_first_run_loads_the_null_kernels_the_helper_compiled(tmp_path):
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
                   _prewarm.ENVIRONMENT_SWITCH: "1"}
    completed = subprocess.run([sys.executable, "-c", _FIRST_RUN], env=environment,
                               capture_output=True, text=True, check=True, timeout=600)
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    # the validating process compiled none of the null's kernels: it loaded them
    assert "_null_kernel" not in outcome["compiled"]
    assert "_draw_group" not in outcome["compiled"] and "full_tests" not in outcome["compiled"]
    assert outcome["again"]  # cached now: no second helper
    # and the numbers are those of a kernel compiled here
    expected = null_statistics(1000, np.full(5, 0.2), 64, np.uint64(3))
    assert outcome["sum"] == float(expected.sum())


def test_the_helper_imports_this_mcflow_and_uses_this_cache(monkeypatch, tmp_path):
    import numba

    import mcflow

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path), raising=False)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    environment = _prewarm._helper_environment()
    first, second = environment["PYTHONPATH"].split(os.pathsep)
    assert os.path.join(first, "mcflow") == os.path.dirname(os.path.abspath(mcflow.__file__))
    assert second == "/elsewhere"
    assert environment["NUMBA_CACHE_DIR"] == str(tmp_path)
