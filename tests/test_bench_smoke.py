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


@pytest.mark.parametrize(("argv", "message"), [
    (["--only", "nosuch"], "only (--only) names no workload: 'nosuch'; the workloads here are "
                           "'engine exp uniform', "),
    (["--only", "numpy pipeline", "--only", "engine exp unifrom"],
     "names no workload: 'engine exp unifrom'"),
    (["--repeat", "0"], "argument --repeat: must be a positive integer, got '0'"),
    (["--repeat", "-1"], "argument --repeat: must be a positive integer, got '-1'"),
    (["--repeat", "two"], "argument --repeat: must be a positive integer, got 'two'"),
])
def test_bench_usage_errors_exit_2_before_measuring(capsys, monkeypatch, tmp_path, argv,
                                                    message):
    from mcflow import bench

    timed = []
    monkeypatch.setattr(bench, "measure_round_robin",
                        lambda *args, **kwargs: timed.append(args))
    code = main(["bench", "--n", "1e4", "--json", str(tmp_path / "r.json"), *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert timed == [] and captured.out == "" and not (tmp_path / "r.json").exists()


def test_run_suite_refuses_a_repeat_below_one():
    from mcflow import bench

    with pytest.raises(ValueError, match=r"repeat \(--repeat\) must be a positive integer, "
                                         "got 0"):
        bench.run_suite(n=10**4, repeat=0)


def test_bench_keeps_every_repeat_and_reports_best_and_median():
    from mcflow import bench

    ticks = iter([0.0, 1.0, 10.0, 14.0, 20.0, 22.0])  # repeats of 1 s, 4 s and 2 s
    measurement = bench.measure("w", lambda: None, n=100, threads=1, repeat=3,
                                clock=lambda: next(ticks))
    assert measurement.times == (1.0, 4.0, 2.0)
    assert measurement.seconds == 1.0 and measurement.median_seconds == 2.0
    data = bench.summarize([measurement], [], n=100)
    row = data["measurements"][0]
    assert row["samples_per_second"] == 100.0 and row["median_samples_per_second"] == 50.0
    table = bench.markdown_table(data)
    assert "| w | 1 | 0.0 | 0.0 | 10000000.00 |" in table
    assert "3 repeats per workload" in table


def test_round_robin_times_every_workload_once_per_round():
    # Rounds, not one workload after another: a slow minute hits every workload.
    from mcflow import bench

    calls = []
    ticks = iter(float(t) for t in range(100))
    jobs = [(name, lambda name=name: calls.append(name), threads)
            for name, threads in (("a", 2), ("b", 1))]
    measured = bench.measure_round_robin(jobs, n=10, repeat=3, clock=lambda: next(ticks))
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-ups, then three rounds
    assert [(m.name, m.threads, m.times) for m in measured] == [
        ("a", 2, (1.0, 1.0, 1.0)), ("b", 1, (1.0, 1.0, 1.0))]


def test_bench_markdown_reads_results_without_repeat_times():
    from mcflow import bench

    old = {"machine": {"cpu": "cpu", "cores": 2, "mcflow": "0", "numba": "0", "numpy": "0",
                       "python": "3", "date": "today"}, "n": 10**6, "ratios": {},
           "measurements": [{"name": "w", "threads": 2, "n": 10**6, "seconds": 0.5,
                             "samples_per_second": 2e6, "ns_per_sample": 500.0}],
           "scaling": []}
    assert "| w | 2 | 2.0 | 2.0 | 500.00 |" in bench.markdown_table(old)
