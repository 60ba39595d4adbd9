"""The command line: exit codes, specs, config files, JSON, errors as messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mcflow.cli import EXIT_CODES, main
from mcflow.specs import SpecError, parse_transform


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_pass_exit_0_and_json(capsys, tmp_path):
    out_file = tmp_path / "r.json"
    code, out, _ = run(capsys, "validate", "exp", "--n", "1e5", "--json", str(out_file))
    assert code == 0
    assert out.startswith("PASS: exp, n = 100,000")
    payload = json.loads(out_file.read_text())
    assert payload["schema"] == "mcflow.validation/2"  # one document, one case
    assert payload["verdict"] == "pass" and payload["cases"][0]["n"] == 100_000


def test_validate_fail_exit_1_with_failing_layer(capsys, tmp_path, monkeypatch):
    (tmp_path / "claims.py").write_text(textwrap.dedent("""
        import numpy as np
        from scipy import stats
        def no_jacobian(y):
            with np.errstate(divide="ignore"):
                return stats.norm.pdf(np.log(y))
    """))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "validate", "exp", "--pdf", "claims:no_jacobian", "--n", "1e4")
    assert code == 1
    assert "FAIL" in out and "[exact] p_Y integrates to 1.64872" in out


def test_validate_inconclusive_exit_3(capsys):
    code, out, _ = run(capsys, "validate", "exp", "--n", "1e4", "--tolerance", "1e-4")
    assert code == 3
    assert "INCONCLUSIVE" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "nosuch"], "unknown transform 'nosuch'"),
        (["validate", "affine:scale=0"], "Affine: scale must be non-zero"),
        (["validate", "sinh_arcsinh:skw=1"], "has no parameter 'skw'"),
        (["validate", "exp", "--n", "-5"], "n must be a positive integer"),
        (["validate", "exp", "--alpha", "2"], "alpha must be in (0, 1)"),
        (["validate", "exp", "--bins", "10"], "--bins needs --range"),
        (["validate", "nomodule_xyz:T"], "cannot import module 'nomodule_xyz'"),
        (["check", "/nonexistent/mcflow.toml"], "does not exist"),
    ],
)
def test_bad_input_exit_2_with_a_message_not_a_traceback(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_list_names_every_builtin(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in ("exp", "affine:shift=0,scale=1", "sinh_arcsinh:skew=0,tailweight=1", "power:p",
                 "normal_cdf", "cube", "sigmoid", "tanh", "softplus"):
        assert name in out


def test_check_runs_every_case_with_one_budget(capsys, tmp_path):
    config = tmp_path / "cases.toml"
    config.write_text(textwrap.dedent("""
        [tool.mcflow]
        alpha = 0.02
        n = 1e5

        [[tool.mcflow.cases]]
        name = "seed exp"
        transform = "exp"

        [[tool.mcflow.cases]]
        name = "skewed"
        transform = "sinh_arcsinh:skew=0.5,tailweight=1.5"
        mu = 0.1
    """))
    out_json = tmp_path / "check.json"
    code, out, _ = run(capsys, "check", str(config), "--json", str(out_json), "--report",
                       str(tmp_path / "report"))
    assert code == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert '<section id="case-seed-exp">' in page and '<section id="case-skewed">' in page
    assert "seed exp" in out and "skewed" in out
    assert "alpha = 0.02 overall (0.01 per case)" in out
    payload = json.loads(out_json.read_text())
    assert [case["name"] for case in payload["cases"]] == ["seed exp", "skewed"]
    assert all(case["alpha"] == pytest.approx(0.01) for case in payload["cases"])


def test_check_with_one_failing_case_exits_1(capsys, tmp_path, monkeypatch):
    (tmp_path / "check_claims.py").write_text(textwrap.dedent("""
        from scipy import stats
        def too_wide(y):
            return stats.lognorm.pdf(y, 1.2)
    """))
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        n = 1e5
        [[tool.mcflow.cases]]
        transform = "exp"
        [[tool.mcflow.cases]]
        name = "wrong"
        transform = "exp"
        pdf = "check_claims:too_wide"
    """))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "FAIL: 2 cases" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.other]\n", "has no [tool.mcflow] table"),
        ("[tool.mcflow]\nn = 1e5\n", "needs at least one"),
        ("[tool.mcflow]\n[[tool.mcflow.cases]]\ntransform='exp'\nbinz=3\n", "unknown key 'binz'"),
        ("[tool.mcflow]\nsamples = 3\n[[tool.mcflow.cases]]\ntransform='exp'\n",
         "unknown key 'samples'"),
        ("[tool.mcflow]\n[[tool.mcflow.cases]]\nname='a'\n", "has no 'transform'"),
        ("[tool.mcflow\n", "not valid TOML"),
    ],
)
def test_bad_config_exit_2(capsys, tmp_path, body, message):
    config = tmp_path / "pyproject.toml"
    config.write_text(body)
    code, _, err = run(capsys, "check", str(config))
    assert code == 2
    assert message in err


def test_module_object_spec_loads_a_user_transform(tmp_path, monkeypatch):
    (tmp_path / "myflows.py").write_text(textwrap.dedent("""
        import mcflow
        from mcflow import transforms
        flow = transforms.Chain(transforms.Affine(1.0, 2.0), transforms.Exp())
    """))
    monkeypatch.chdir(tmp_path)
    t = parse_transform("myflows:flow")
    assert t.name == "chain(affine(shift=1, scale=2), exp)"
    with pytest.raises(SpecError, match="has no 'nothing'"):
        parse_transform("myflows:nothing")


def test_version_and_help(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("mcflow ")
    code, out, _ = run(capsys, "validate", "--help")
    assert code == 0 and "--tolerance" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.mcflow]\nalpha = 3.0\n[[tool.mcflow.cases]]\ntransform='exp'\n",
         "alpha must be a number in (0, 1), got 3.0"),
        ("[tool.mcflow]\nalpha = '0.01'\n[[tool.mcflow.cases]]\ntransform='exp'\n",
         "alpha must be a number in (0, 1)"),
        ("[tool.mcflow]\n[[tool.mcflow.cases]]\ntransform='exp'\npdf=5\n",
         "case 0: pdf must be a non-empty string, got 5"),
        ("[tool.mcflow]\n[[tool.mcflow.cases]]\ntransform='exp'\nrange=5\n",
         "case 0: range must be a list [lo, hi]"),
        ("[tool.mcflow]\nsigma='wide'\n[[tool.mcflow.cases]]\ntransform='exp'\n",
         "[tool.mcflow]: sigma must be a number"),
    ],
)
def test_config_values_of_the_wrong_type_exit_2_naming_the_key(capsys, tmp_path, body, message):
    config = tmp_path / "pyproject.toml"
    config.write_text(body)
    code, _, err = run(capsys, "check", str(config))
    assert code == 2
    assert message in err


def test_a_forward_function_spec_is_wrapped_and_a_repeated_key_refused(tmp_path, monkeypatch):
    (tmp_path / "forwards.py").write_text("def softsign(x):\n    return x / (1.0 + abs(x))\n")
    monkeypatch.chdir(tmp_path)
    t = parse_transform("forwards:softsign")
    assert t.forward(1.0) == 0.5
    with pytest.raises(SpecError, match="'p' is given twice"):
        parse_transform("power:p=2,p=3")


def test_an_exception_inside_a_user_pdf_exits_2_not_1(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken_pdf.py").write_text("def pdf(y):\n    raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "validate", "exp", "--pdf", "broken_pdf:pdf", "--n", "1e4")
    assert code == 2
    assert "RuntimeError: boom" in err


def test_dask_workers_without_a_local_cluster_is_a_usage_error(capsys):
    code, _, err = run(capsys, "validate", "exp", "--n", "1e4", "--dask-workers", "2")
    assert code == 2
    assert "--dask-workers only applies to --dask local" in err


def test_default_seed_is_the_case_seed_and_random_draws_a_printed_integer(capsys, tmp_path):
    # Depends on validate(seed="auto") (the default) deriving the seed from the case.
    import mcflow

    seeds = []
    for extra in ([], ["--seed", "auto"], ["--seed", "random"], ["--seed", "random"],
                  ["--seed", "12"]):
        out_file = tmp_path / "r.json"
        code, out, _ = run(capsys, "validate", "exp", "--n", "1e4", "--json", str(out_file),
                           *extra)
        # a random seed is a fresh draw: a correct density fails in alpha = 1% of them
        assert code in ((0, 1) if "random" in extra else (0,))
        seeds.append(json.loads(out_file.read_text())["cases"][0]["seed"])
        assert f"seed = {seeds[-1]}," in out  # the integer actually used is printed
    auto = mcflow.validate(mcflow.transforms.Exp(), n=10**4).seed
    assert seeds[0] == seeds[1] == auto != 0
    assert all(type(seed) is int for seed in seeds)
    assert seeds[2] != seeds[3] and seeds[4] == 12


@pytest.mark.parametrize("seed", ["-3", "abc", "1.5", str(2**63)])
def test_a_bad_seed_is_a_usage_error(capsys, seed):
    code, _, err = run(capsys, "validate", "exp", "--seed", seed)
    assert code == 2
    assert "seed must be a non-negative integer below 2**63, 'auto' or 'random'" in err


def _capture_support(monkeypatch, module):
    """Replace ``module.validate`` by a stub that records the transform's support."""
    import mcflow

    seen = []
    result = mcflow.validate(mcflow.transforms.Exp(), n=10**4)

    def stub(transform, pdf=None, **options):
        seen.append(transform.support)
        return result

    monkeypatch.setattr(module, "validate", stub)
    return seen


def test_cli_support_reaches_the_transform(capsys, monkeypatch):
    import mcflow.validation

    seen = _capture_support(monkeypatch, mcflow.validation)
    code, _, _ = run(capsys, "validate", "exp", "--n", "1e4", "--support", "-inf", "inf")
    assert code == 0
    assert seen == [(-float("inf"), float("inf"))]  # not exp's inferred (0, inf)
    code, _, err = run(capsys, "validate", "exp", "--support", "1", "0")
    assert code == 2 and "--support 1 0: support must satisfy lo < hi" in err
    code, _, err = run(capsys, "validate", "exp", "--support", "nan", "1")
    assert code == 2 and "support ends must be numbers or +-inf" in err


def test_config_support_reaches_the_transform(capsys, tmp_path, monkeypatch):
    import mcflow.check

    seen = _capture_support(monkeypatch, mcflow.check)
    config = tmp_path / "cases.toml"
    config.write_text(textwrap.dedent("""
        [tool.mcflow]
        n = 1e4
        [[tool.mcflow.cases]]
        name = "a"
        transform = "exp"
        support = [-1, inf]
        [[tool.mcflow.cases]]
        name = "b"
        transform = "exp"
        support = ["-inf", "inf"]
    """))
    code, _, _ = run(capsys, "check", str(config))
    assert code == 0
    assert seen == [(-1.0, float("inf")), (-float("inf"), float("inf"))]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[1]", "case 0 ('flow'): support must be a list [lo, hi] of two numbers"),
        ("'wide'", "case 0 ('flow'): support must be a list [lo, hi]"),
        ("['a', 1]", "case 0 ('flow'): support must be a list [lo, hi]"),
        ("[2, 1]", "case 0 ('flow'): support must satisfy lo < hi, got [2, 1]"),
        ("[nan, 1]", "case 0 ('flow'): support must satisfy lo < hi"),
    ],
)
def test_a_malformed_config_support_names_the_case_and_key(capsys, tmp_path, value, message):
    config = tmp_path / "cases.toml"
    config.write_text(f"[tool.mcflow]\n[[tool.mcflow.cases]]\nname = 'flow'\n"
                      f"transform = 'exp'\nsupport = {value}\n")
    code, _, err = run(capsys, "check", str(config))
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("seed = -1", "seed must be a non-negative integer below 2**63 or \"auto\", got -1"),
        ("seed = 'random'", "seed must be a non-negative integer below 2**63 or \"auto\""),
        ("bins = 10", "an integer bins needs range = [lo, hi]"),
        ("sigma = -1.0", "sigma"),
        ("n = 0", "n must be a positive integer"),
    ],
)
def test_config_values_validate_would_refuse_fail_before_sampling(capsys, tmp_path, body,
                                                                 message):
    config = tmp_path / "cases.toml"
    config.write_text(f"[tool.mcflow]\n[[tool.mcflow.cases]]\ntransform = 'exp'\n{body}\n")
    code, _, err = run(capsys, "check", str(config))
    assert code == 2
    assert message in err


def _output_path_cases(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    return [
        (["--json", str(tmp_path / "a_dir")], f"--json {str(tmp_path / 'a_dir')!r} is a "
                                              "directory"),
        (["--json", str(tmp_path / "a_file" / "r.json")],
         f"{str(tmp_path / 'a_file')!r} is a file, so the folder cannot be created"),
        (["--report", str(tmp_path / "a_file")], f"--report {str(tmp_path / 'a_file')!r} is a "
                                                 "file"),
        (["--report", str(tmp_path / "a_file" / "deeper" / "report")],
         f"--report {str(tmp_path / 'a_file' / 'deeper' / 'report')!r}: "),
    ]


def test_bad_output_paths_fail_at_once_without_sampling(capsys, tmp_path, monkeypatch):
    import time

    import mcflow.validation

    calls = []
    monkeypatch.setattr(mcflow.validation, "run_histogram", lambda *a, **k: calls.append(a))
    config = tmp_path / "cases.toml"
    config.write_text("[tool.mcflow]\n[[tool.mcflow.cases]]\ntransform = 'exp'\nn = 1e10\n")
    for options, message in _output_path_cases(tmp_path):
        for command in (["validate", "exp", "--n", "1e10"], ["check", str(config)]):
            started = time.perf_counter()
            code, _, err = run(capsys, *command, *options)
            assert time.perf_counter() - started < 1.0
            assert code == 2, (command, options)
            assert message in err, err
    assert calls == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write anywhere")
def test_an_unwritable_report_folder_fails_at_once(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run(capsys, "validate", "exp", "--report", str(locked / "report"))
    assert code == 2
    assert f"the folder {str(locked)!r} is not writable" in err


def test_sys_exit_in_a_user_pdf_is_exit_2_not_0(capsys, tmp_path, monkeypatch):
    (tmp_path / "exiting_pdf.py").write_text("import sys\ndef pdf(y):\n    sys.exit(0)\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "validate", "exp", "--pdf", "exiting_pdf:pdf", "--n", "1e4")
    assert code == 2
    assert "user code called sys.exit(0) while running; nothing was validated" in err


def test_sigterm_while_writing_the_report_cleans_up_and_exits_143(capsys, tmp_path,
                                                                 monkeypatch):
    from mcflow import figures

    def terminate(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, delivered to this process
        time.sleep(5)  # the handler raises here, long before this ends
        raise AssertionError("SIGTERM was not turned into an interrupt")

    monkeypatch.setattr(figures, "cdf_difference_figure", terminate)
    handler_before = signal.getsignal(signal.SIGTERM)
    out_json, report = tmp_path / "r.json", tmp_path / "report"
    code, _, err = run(capsys, "validate", "exp", "--n", "1e4", "--json", str(out_json),
                       "--report", str(report), "--quiet")
    assert code == 143
    assert err.strip() == (f"mcflow: terminated by SIGTERM; wrote --json {out_json}; --report "
                           f"{report} not written (any earlier file there is unchanged)")
    assert json.loads(out_json.read_text())["verdict"] == "pass"
    assert not report.exists()  # no staging folder, no empty folder
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the handler is restored


_DRIVER = """
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
from mcflow.cli import EXIT_CODES, main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("signum", "code", "cause"), [
    (signal.SIGTERM, 143, "terminated by SIGTERM"),
    (signal.SIGINT, 130, "interrupted (SIGINT)"),
])
def test_a_signal_while_sampling_writes_nothing(tmp_path, signum, code, cause):
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    out_json, report = tmp_path / "out" / "r.json", tmp_path / "report"
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get(
        "NUMBA_CACHE_DIR", os.path.join(os.getcwd(), ".numba_cache"))}
    process = subprocess.Popen(
        [sys.executable, str(driver), "validate", "exp", "--n", "1e11", "--json", str(out_json),
         "--report", str(report)], stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    watchdog = threading.Timer(120, process.kill)  # never hang the suite
    watchdog.start()
    try:
        lines = iter(process.stderr.readline, "")
        assert any(line.strip() == "mcflow-test: sampling" for line in lines)
        time.sleep(0.5)  # well inside the ~500 s of sampling
        started = time.perf_counter()
        process.send_signal(signum)
        assert process.wait(timeout=30) == code
        assert time.perf_counter() - started < 10
        err = process.stderr.read()
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
        process.stderr.close()
    assert err.strip().splitlines()[-1] == (
        f"mcflow: {cause}; nothing was written; --json {out_json} and --report {report} "
        "not written (any earlier file there is unchanged)")
    assert not out_json.exists() and not report.exists() and not out_json.parent.exists()
    assert not list(tmp_path.rglob(".mcflow-report-*"))


def test_python_m_mcflow_runs_the_cli(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get(
        "NUMBA_CACHE_DIR", os.path.join(os.getcwd(), ".numba_cache"))}
    done = subprocess.run([sys.executable, "-m", "mcflow", "--version"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    import mcflow

    assert done.returncode == 0
    assert done.stdout.strip() == f"mcflow {mcflow.__version__}"
    done = subprocess.run([sys.executable, "-m", "mcflow", "validate", "nosuch"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2 and "unknown transform 'nosuch'" in done.stderr


def test_n_auto_runs_the_n_that_resolves_the_tolerance(tmp_path, capsys):
    code = main(["validate", "exp", "--n", "auto", "--tolerance", "0.01", "--max-n", "1e8",
                 "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    case = json.loads((tmp_path / "r.json").read_text())["cases"][0]
    assert code == 0 and case["verdict"] == "pass"
    # the pilot of 1e5 cannot see 1e-2; the run it asked for can, within what it asked
    assert "n = 100,000 detects L1 >= " in captured.err and "running n = " in captured.err
    assert 10**5 < case["n"] <= 10**8
    assert case["detection_limit"] <= 0.01 < case["detection_limit"] * (case["n"] / 1e5) ** 0.5


def test_n_auto_within_max_n_is_inconclusive_and_says_which_n_would_do(tmp_path, capsys):
    code = main(["validate", "exp", "--n", "auto", "--tolerance", "1e-4", "--max-n", "1e6",
                 "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    case = json.loads((tmp_path / "r.json").read_text())["cases"][0]
    assert case["verdict"] == "inconclusive" and case["n"] == 10**6
    assert code == EXIT_CODES["inconclusive"] != 0
    assert "(--max-n 1e+06; about " in captured.err
    assert case["required_n"] > 10**6


@pytest.mark.parametrize(("argv", "message"), [
    (["--n", "auto"], "--n auto needs --tolerance T"),
    (["--n", "1e5", "--max-n", "1e6"], "--max-n applies to --n auto only"),
    (["--n", "automatic"], "n must be a positive integer like 1e7, got 'automatic'"),
])
def test_n_auto_usage_errors(capsys, argv, message):
    assert main(["validate", "exp", *argv]) == 2
    assert message in capsys.readouterr().err
