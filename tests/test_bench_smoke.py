"""The benchmark suite and `mcflow bench` still run and check their results (tiny n)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcflow.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_suite_runs_once_with_small_n():
    pytest.importorskip("pytest_benchmark")
    env = {**os.environ, "MCFLOW_BENCH_N": "300000", "MCFLOW_BENCH_N_LARGE": "400000"}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "--benchmark-disable",
         "-p", "no:cacheprovider"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert " passed" in completed.stdout


def test_mcflow_bench_writes_json_plot_and_markdown(tmp_path, capsys):
    code = main(["bench", "--n", "2e5", "--repeat", "1", "--threads", "1",
                 "--only", "engine exp uniform", "--only", "numpy pipeline",
                 "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "p.png"),
                 "--markdown", str(tmp_path / "r.md")])
    assert code == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert {m["name"] for m in data["measurements"]} == {"engine exp uniform", "numpy pipeline"}
    assert data["ratios"]["engine / numpy pipeline"] > 0
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "r.md").read_text() in capsys.readouterr().out
    regenerated = main(["bench", "--from-json", str(tmp_path / "r.json"),
                        "--markdown", str(tmp_path / "again.md")])
    assert regenerated == 0
    assert (tmp_path / "again.md").read_text() == (tmp_path / "r.md").read_text()
