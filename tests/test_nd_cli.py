"""d-dimensional cases on the command line and in `mcflow check`, with their reports."""

from __future__ import annotations

import json
import textwrap

import pytest

from mcflow.cli import main

_FLOWS = textwrap.dedent("""
    import math
    import numpy as np
    from mcflow import nd
    from mcflow.specs import transform_factory

    A = np.array([[2.0, 0.0], [0.5, 1.0]])

    def forward(x):
        return x @ A.T

    def log_q(y):
        x = np.linalg.solve(A, y.T).T
        return -0.5 * (x * x).sum(axis=1) - math.log(2 * math.pi) - math.log(2.0)

    def log_q_wrong(y):  # a log-det factor of 1.1 too many
        return log_q(y) + math.log(1.1)

    good = nd.Case(forward, log_q, dim=2, name="linear")
    bad = nd.Case(forward, log_q_wrong, dim=2, name="linear-wrong")

    @transform_factory
    def made_by_a_factory():
        return nd.Case(forward, log_q, dim=2, name="from-factory")
""")


@pytest.fixture
def flows_module(tmp_path, monkeypatch):
    (tmp_path / "nd_cli_flows.py").write_text(_FLOWS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_validate_runs_a_d_dimensional_case_with_json_and_report(flows_module, capsys):
    out, report = flows_module / "r.json", flows_module / "report"
    assert main(["validate", "nd_cli_flows:good", "--n", "1e5", "--seed", "3", "--json",
                 str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "PASS: linear (d = 2)" in printed and "[histogram] pass" in printed
    document = json.loads(out.read_text())
    assert document["schema"] == "mcflow.validation/2" and document["verdict"] == "pass"
    (case,) = document["cases"]
    assert case["kind"] == "nd" and case["seed"] == 3 and case["n"] == 10**5
    assert (report / "figure.png").stat().st_size > 10_000
    assert main(["validate", "nd_cli_flows:made_by_a_factory", "--n", "1e5", "-q"]) == 0


def test_a_wrong_d_dimensional_density_fails_with_exit_code_1(flows_module, capsys):
    assert main(["validate", "nd_cli_flows:bad", "--n", "1e5"]) == 1
    assert "FAIL: linear-wrong (d = 2)" in capsys.readouterr().out


def test_one_dimensional_options_are_refused_for_a_flow(flows_module, capsys):
    assert main(["validate", "nd_cli_flows:good", "--mu", "1"]) == 2
    assert "--mu: 1-D options, but nd_cli_flows:good is a 2-dimensional flow" in \
        capsys.readouterr().err


def test_check_mixes_one_and_d_dimensional_cases(flows_module, capsys):
    (flows_module / "cases.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        n = 1e5
        [[tool.mcflow.cases]]
        name = "exp"
        transform = "exp"
        [[tool.mcflow.cases]]
        name = "flow"
        transform = "nd_cli_flows:good"
        [[tool.mcflow.cases]]
        name = "flow-wrong"
        transform = "nd_cli_flows:bad"
    """))
    report = flows_module / "report"
    assert main(["check", "cases.toml", "--report", str(report)]) == 1
    table = capsys.readouterr().out
    assert "d = 2" in table and "FAIL: 3 cases" in table
    page = (report / "index.html").read_text()
    assert page.count("(d = 2)") >= 2 and "data:image/png;base64," in page
    cases = json.loads((report / "result.json").read_text())["cases"]
    assert [case["verdict"] for case in cases] == ["pass", "pass", "fail"]


def test_check_refuses_1d_options_on_a_flow_before_running(flows_module, capsys):
    (flows_module / "cases.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        [[tool.mcflow.cases]]
        name = "flow"
        transform = "nd_cli_flows:good"
        bins = 10
        range = [0, 1]
    """))
    assert main(["check", "cases.toml"]) == 2
    assert "bins, range: 1-D options" in capsys.readouterr().err
