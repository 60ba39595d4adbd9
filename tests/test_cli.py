"""The command line: exit codes, specs, config files, JSON, errors as messages."""

from __future__ import annotations

import json
import textwrap

import pytest

from mcflow.cli import main
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
    assert payload["verdict"] == "pass" and payload["n"] == 100_000


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
    assert '<section id="seed exp">' in page and '<section id="skewed">' in page
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
