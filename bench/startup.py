"""Start-up time: what ``mcflow --version``, ``--help``, ``import mcflow`` and the plugin cost.

Each command runs as a fresh subprocess, round-robin (one of each per round, so a busy moment
of the machine hits every command alike), after one untimed warm-up round; the table gives the
median and the min wall time over ``--repeat`` rounds (at least 7), and each minus the
``python -c pass`` baseline (the interpreter, site and the editable install's finder).

The pytest plugin's cost is the difference between ``pytest`` on a trivial test file with the
plugin (the ``pytest11`` entry point, as installed) and the same run with ``-p no:mcflow``;
the file sits in a temporary folder with its own ``pytest.ini``, so this repository's
configuration and conftest do not take part.

Goals (issue 14): ``mcflow --version``, ``mcflow --help`` and ``mcflow SUBCOMMAND --help``
at most 0.3 s wall; the plugin adds at most 0.1 s to a pytest run that uses no mcflow helper.
``import mcflow`` is reported without a goal.  Run
``python bench/startup.py --markdown reports/bench/startup.md``; the exit code is 1 when a goal
is missed.  pytest-benchmark is not used: it times calls inside one process, and start-up is
what a fresh process pays.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

#: The goals of issue 14, in seconds of wall time.
CLI_GOAL_S = 0.3
PLUGIN_GOAL_S = 0.1
MIN_REPEAT = 7

_TRIVIAL_TEST = "def test_nothing():\n    assert True\n"


def _mcflow_command() -> list[str]:
    """The installed ``mcflow`` script next to this interpreter (else ``python -m mcflow``)."""
    script = Path(sys.executable).with_name("mcflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("mcflow")
    return [found] if found else [sys.executable, "-m", "mcflow"]


def commands(folder: Path) -> dict[str, list[str]]:
    """Name -> argv of every command timed (the pytest ones run in ``folder``)."""
    mcflow = _mcflow_command()
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import mcflow'": [sys.executable, "-c", "import mcflow"],
        "mcflow --version": [*mcflow, "--version"],
        "mcflow --help": [*mcflow, "--help"],
        "mcflow validate --help": [*mcflow, "validate", "--help"],
        "pytest -p no:mcflow": [*pytest, "-p", "no:mcflow"],
        "pytest (plugin)": pytest,
    }


def _run(argv: list[str], folder: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {completed.returncode}:\n"
                           f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return seconds


def _check_plugin_is_active(argv: list[str], folder: Path) -> None:
    """The plugin's option must be known without ``-p no:mcflow`` (else nothing is measured)."""
    probe = subprocess.run([*argv, "--mcflow-seed", "1"], cwd=folder, capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        raise RuntimeError("the mcflow pytest plugin is not active (is mcflow installed?):\n"
                           + probe.stderr[-2000:])


def measure(repeat: int) -> dict[str, Any]:
    """Time every command ``repeat`` times (round-robin after a warm-up round)."""
    with tempfile.TemporaryDirectory(prefix="mcflow-startup-") as name:
        folder = Path(name)
        (folder / "test_trivial.py").write_text(_TRIVIAL_TEST)
        (folder / "pytest.ini").write_text("[pytest]\n")
        argvs = commands(folder)
        _check_plugin_is_active(argvs["pytest (plugin)"], folder)
        for argv in argvs.values():  # warm-up: the page cache, .pyc files
            _run(argv, folder)
        times: dict[str, list[float]] = {label: [] for label in argvs}
        for _ in range(repeat):
            for label, argv in argvs.items():
                times[label].append(_run(argv, folder))
    return {"repeat": repeat, "times": times,
            "argv": {label: shlex.join([Path(argv[0]).name, *argv[1:]])
                     for label, argv in argvs.items()}}


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per command: median, min, both minus the baseline, goal and verdict."""
    times = data["times"]
    base_median = statistics.median(times["python -c pass"])
    base_min = min(times["python -c pass"])
    goals = {"mcflow --version": CLI_GOAL_S, "mcflow --help": CLI_GOAL_S,
             "mcflow validate --help": CLI_GOAL_S}
    out = []
    for label, seconds in times.items():
        median = statistics.median(seconds)
        goal = goals.get(label)
        out.append({"command": label, "median_s": median, "min_s": min(seconds),
                    "median_over_base_s": median - base_median,
                    "min_over_base_s": min(seconds) - base_min, "goal_s": goal,
                    "verdict": None if goal is None else ("PASS" if median <= goal else "MISS")})
    with_plugin, without = times["pytest (plugin)"], times["pytest -p no:mcflow"]
    added_median = statistics.median(with_plugin) - statistics.median(without)
    out.append({"command": "plugin's added cost (pytest (plugin) - pytest -p no:mcflow)",
                "median_s": added_median, "min_s": min(with_plugin) - min(without),
                "median_over_base_s": None, "min_over_base_s": None, "goal_s": PLUGIN_GOAL_S,
                "verdict": "PASS" if added_median <= PLUGIN_GOAL_S else "MISS"})
    return out


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def markdown(data: dict[str, Any]) -> str:
    """The report: the machine, the table, the goals and how to regenerate it."""
    table = rows(data)
    machine = (f"{platform.machine()}, {os.cpu_count()} cores; mcflow {version('mcflow')}, "
               f"Python {platform.python_version()}, {datetime.date.today().isoformat()}, "
               f"load average {os.getloadavg()[0]:.1f} at the end")
    lines = [
        "# mcflow start-up time",
        "",
        f"{machine}. Fresh subprocesses, round-robin, median and min of {data['repeat']} "
        "rounds after a warm-up round; \"- base\" subtracts `python -c pass`. Generated by "
        "`python bench/startup.py --markdown reports/bench/startup.md`; do not edit.",
        "",
        "| command | median s | min s | median - base s | min - base s | goal s | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        lines.append(
            f"| {row['command']} | {_seconds(row['median_s'])} | {_seconds(row['min_s'])} | "
            f"{_seconds(row['median_over_base_s'])} | {_seconds(row['min_over_base_s'])} | "
            f"{_seconds(row['goal_s'])} | {row['verdict'] or ''} |")
    missed = [row["command"] for row in table if row["verdict"] == "MISS"]
    lines += ["", f"Goals (issue 14): the CLI's `--version` and `--help` at most {CLI_GOAL_S} s "
              f"wall (median); the plugin adds at most {PLUGIN_GOAL_S} s (difference of the "
              "medians). " + (f"MISS: {', '.join(missed)}." if missed else "All PASS."),
              "", "Commands (pytest runs in a temporary folder holding `test_trivial.py` and "
              "an empty `pytest.ini`):", ""]
    lines += [f"- {label}: `{argv}`" for label, argv in data["argv"].items()]
    lines += ["", "`python` is the interpreter that ran this script (here: the project's "
              "virtualenv), `mcflow` the script installed next to it."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9,
                        help=f"timed rounds (at least {MIN_REPEAT}; default 9)")
    parser.add_argument("--markdown", type=Path, help="write the report here")
    args = parser.parse_args()
    if args.repeat < MIN_REPEAT:
        parser.error(f"--repeat must be at least {MIN_REPEAT}")
    data = measure(args.repeat)
    report = markdown(data)
    print(report, end="")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report)
    return 1 if any(row["verdict"] == "MISS" for row in rows(data)) else 0


if __name__ == "__main__":
    sys.exit(main())
