"""Ctrl-C and SIGTERM: never swallowed, never a traceback, and an exact account of the outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import mcflow.cli
import mcflow.config
from mcflow._cli_run import Terminated
from mcflow.cli import main

_CONFIG = "[tool.mcflow]\nn = 1e4\n[[tool.mcflow.cases]]\nname = 'a'\ntransform = 'exp'\n"


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cases.toml").write_text(_CONFIG)
    return tmp_path / "cases.toml"


def test_ctrl_c_while_parsing_the_arguments_is_130_without_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr(mcflow.cli, "build_parser", _interrupt)
    assert main(["check"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "mcflow: interrupted (SIGINT); nothing was written\n"
    assert captured.out == ""


@pytest.mark.parametrize(("error", "code", "cause"), [
    (KeyboardInterrupt, 130, "interrupted (SIGINT)"),
    (Terminated, 143, "terminated by SIGTERM"),
])
def test_an_interrupt_while_loading_the_config_names_the_outputs_not_written(
        config, monkeypatch, capsys, error, code, cause):
    def stop(*args, **kwargs):
        raise error

    monkeypatch.setattr(mcflow.config, "load_config", stop)
    assert main(["check", str(config), "--json", "r.json", "--summary", "s.md"]) == code
    assert capsys.readouterr().err == (
        f"mcflow: {cause}; nothing was written; --json r.json and --summary s.md not written "
        "(any earlier file there is unchanged)\n")
    assert not (config.parent / "r.json").exists() and not (config.parent / "s.md").exists()


def test_an_interrupt_between_outputs_says_which_were_written(config, monkeypatch, capsys):
    import mcflow._gate_outputs

    monkeypatch.setattr(mcflow._gate_outputs, "write_markdown_summary", _interrupt)
    (config.parent / "s.md").write_text("an earlier summary\n")
    code = main(["check", str(config), "--json", "r.json", "--junit-xml", "j.xml", "--summary",
                 "s.md", "--report", "report", "-q"])
    assert code == 130
    assert capsys.readouterr().err == (
        "mcflow: interrupted (SIGINT); wrote --json r.json and --junit-xml j.xml; --summary "
        "s.md and --report report not written (any earlier file there is unchanged)\n")
    assert json.loads((config.parent / "r.json").read_text())["verdict"] == "pass"
    assert ET.parse(config.parent / "j.xml").getroot().find("testsuite").get("tests") == "1"
    assert (config.parent / "s.md").read_text() == "an earlier summary\n"
    assert not (config.parent / "report").exists()


def test_an_interrupt_in_user_code_is_never_swallowed_as_a_case_error(tmp_path, monkeypatch,
                                                                      capsys):
    (tmp_path / "interrupting_pdf.py").write_text(
        "def pdf(y):\n    raise KeyboardInterrupt\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "cases.toml").write_text(
        _CONFIG + "[[tool.mcflow.cases]]\nname = 'b'\ntransform = 'exp'\n"
                  "pdf = 'interrupting_pdf:pdf'\n")
    assert main(["check", "cases.toml", "--json", "r.json"]) == 130
    err = capsys.readouterr().err
    assert err.endswith("mcflow: interrupted (SIGINT); nothing was written; --json r.json not "
                        "written (any earlier file there is unchanged)\n")
    assert "could not run" not in err and not (tmp_path / "r.json").exists()


def test_bench_reports_its_own_outputs_on_an_interrupt(tmp_path, monkeypatch, capsys):
    from mcflow import _bench_output

    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "machine": {"cpu": "cpu", "cores": 2, "mcflow": "0", "numba": "0", "numpy": "0",
                    "python": "3", "date": "today"},
        "n": 1000, "measurements": [], "ratios": {}, "scaling": []}))
    monkeypatch.setattr(_bench_output, "plot", _interrupt)
    code = main(["bench", "--from-json", str(results), "--json", "again.json", "--plot",
                 "p.png", "--markdown", "t.md"])
    assert code == 130
    assert capsys.readouterr().err == (
        "mcflow: interrupted (SIGINT); wrote --json again.json; --plot p.png and --markdown "
        "t.md not written (any earlier file there is unchanged)\n")
    assert json.loads((tmp_path / "again.json").read_text())["n"] == 1000
    assert sorted(path.name for path in tmp_path.iterdir()) == ["again.json", "results.json"]


_DRIVER = textwrap.dedent("""
    import signal
    import sys
    import mcflow.validation as validation

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the parent ignores it

    # Compile (or load) the kernel first: a signal during an LLVM compile waits for it to end.
    import mcflow
    mcflow.histogram(mcflow.transforms.Exp(), 10, bins=2, range=(0.0, 1.0))

    original = validation.run_histogram

    def announced(*args, **kwargs):
        print("mcflow-test: sampling", file=sys.stderr, flush=True)
        return original(*args, **kwargs)

    validation.run_histogram = announced
    from mcflow.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_sigint_during_mcflow_check_exits_130_and_writes_nothing(tmp_path):
    (tmp_path / "driver.py").write_text(_DRIVER)
    (tmp_path / "cases.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        [[tool.mcflow.cases]]
        name = "quick"
        transform = "exp"
        n = 1e4
        [[tool.mcflow.cases]]
        name = "long"
        transform = "exp"
        n = 1e11
    """))
    outputs = {"--json": tmp_path / "out" / "r.json", "--junit-xml": tmp_path / "j.xml",
               "--summary": tmp_path / "s.md", "--report": tmp_path / "report"}
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get(
        "NUMBA_CACHE_DIR", os.path.join(os.getcwd(), ".numba_cache"))}
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), "check", "cases.toml",
         *[str(part) for pair in outputs.items() for part in pair]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    watchdog = threading.Timer(180, process.kill)  # never hang the suite
    watchdog.start()
    try:
        lines = iter(process.stderr.readline, "")
        sampling = (line for line in lines if line.strip() == "mcflow-test: sampling")
        assert next(sampling, None) is not None and next(sampling, None) is not None  # "long"
        time.sleep(0.5)  # well inside its ~500 s of sampling
        started = time.perf_counter()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        assert time.perf_counter() - started < 10
        err, out = process.stderr.read(), process.stdout.read()
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
        process.stderr.close()
        process.stdout.close()
    listed = " and ".join(f"{option} {path}" for option, path in outputs.items())
    assert err.strip().splitlines()[-1] == (
        f"mcflow: interrupted (SIGINT); nothing was written; {listed} not written (any "
        "earlier file there is unchanged)")
    assert "Traceback" not in err and out == ""  # no table of a run that did not finish
    assert not any(path.exists() for path in outputs.values())
    assert not (tmp_path / "out").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cases.toml", "driver.py"]
