"""`mcflow check` as a CI gate: -k, --seed/--n, --fail-fast, --junit-xml and --summary."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

import mcflow.check
from mcflow.cli import main

_MODULE = textwrap.dedent("""
    import math
    import numpy as np
    from scipy import stats
    from mcflow import nd

    def too_wide(y):
        return stats.lognorm.pdf(y, 1.2)

    def raises(y):
        raise RuntimeError("claimed pdf exploded")

    A = np.array([[2.0, 0.0], [0.5, 1.0]])

    def log_q(y):
        x = np.linalg.solve(A, y.T).T
        return -0.5 * (x * x).sum(axis=1) - math.log(2 * math.pi) - math.log(2.0)

    flow = nd.Case(lambda x: x @ A.T, log_q, dim=2, name="linear")
""")

#: One case of each outcome, a d-dimensional one included.
_GATE = textwrap.dedent("""
    [tool.mcflow]
    alpha = 0.01
    n = 2e4
    [[tool.mcflow.cases]]
    name = "seed exp"
    transform = "exp"
    [[tool.mcflow.cases]]
    name = "wrong | exp"
    transform = "exp"
    pdf = "gate_claims:too_wide"
    [[tool.mcflow.cases]]
    name = "tight sigmoid"
    transform = "sigmoid"
    tolerance = 1e-4
    [[tool.mcflow.cases]]
    name = "boom"
    transform = "exp"
    pdf = "gate_claims:raises"
    [[tool.mcflow.cases]]
    name = "flow 2d"
    transform = "gate_claims:flow"
""")


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """Run the five-case gate once, with every output; keep the files and the streams."""
    folder = tmp_path_factory.mktemp("gate")
    (folder / "gate_claims.py").write_text(_MODULE)
    (folder / "gate.toml").write_text(_GATE)
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.syspath_prepend(str(folder))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", "gate.toml", "--junit-xml", "out/junit.xml", "--summary",
                         "out/summary.md", "--json", "out/check.json"])
    return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "folder": folder,
            "json": json.loads((folder / "out" / "check.json").read_text())}


def test_the_gate_exits_2_when_a_case_could_not_run(gate):
    assert gate["code"] == 2
    assert [(c["name"], c["verdict"]) for c in gate["json"]["cases"]] == [
        ("seed exp", "pass"), ("wrong | exp", "fail"), ("tight sigmoid", "inconclusive"),
        ("boom", "error"), ("flow 2d", "pass")]
    assert "case 'boom' could not run: RuntimeError: claimed pdf exploded" in gate["err"]


def test_junit_xml_has_one_testcase_per_case_and_inconclusive_is_a_failure(gate):
    root = ET.parse(gate["folder"] / "out" / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    for element in (root, suite):
        assert {key: element.get(key) for key in ("tests", "failures", "errors", "skipped")} == {
            "tests": "5", "failures": "2", "errors": "1", "skipped": "0"}
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [
        "seed exp", "wrong | exp", "tight sigmoid", "boom", "flow 2d"]
    assert {case.get("classname") for case in cases} == {"mcflow.check"}
    times = [float(case.get("time")) for case in cases]
    assert all(t > 0 for t in times) and sum(times) <= float(suite.get("time")) + 1e-3
    by_name = {case.get("name"): case for case in cases}
    assert list(by_name["seed exp"]) == [] and list(by_name["flow 2d"]) == []
    (failure,) = list(by_name["wrong | exp"])
    assert failure.tag == "failure" and failure.get("type") == "fail"
    assert failure.get("message").startswith("FAIL: exp, n = 20,000")
    assert "[exact] the claimed p_Y puts the wrong mass" in failure.text
    (inconclusive,) = list(by_name["tight sigmoid"])
    assert inconclusive.tag == "failure" and inconclusive.get("type") == "inconclusive"
    assert inconclusive.text.startswith("INCONCLUSIVE: sigmoid")
    (error,) = list(by_name["boom"])
    assert error.tag == "error" and error.get("type") == "RuntimeError"
    assert error.get("message") == "RuntimeError: claimed pdf exploded"
    assert "Traceback" in error.text  # the traceback, for whoever reads the CI log
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["alpha"] == "0.01" and float(properties["alpha_per_case"]) == 0.002
    assert properties["verdict"] == "error"


def test_the_markdown_summary_has_the_table_the_verdict_and_the_problems(gate):
    text = (gate["folder"] / "out" / "summary.md").read_text()
    assert text.startswith("## mcflow check: gate.toml: ERROR\n")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 6  # the header and five cases
    assert rows[0].startswith("| case | verdict | n | combined p |")
    assert rows[2].startswith("| wrong \\| exp | **FAIL** | 2e+04 | < ")  # the pipe escaped
    assert rows[4] == "| boom | **ERROR** |" + " - |" * 9
    assert "| flow 2d | **PASS** | 2e+04 | d = 2 |" in rows[5]
    assert "**ERROR: 5 cases, alpha = 0.01 overall (0.002 per case)" in text
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == ["### wrong \\| exp", "### tight sigmoid", "### boom"]
    assert "```\nFAIL: exp, n = 20,000" in text
    assert "ERROR: RuntimeError: claimed pdf exploded" in text


def test_p_values_at_the_simulation_floor_read_as_bounds(gate):
    wrong = next(c for c in gate["json"]["cases"] if c["name"] == "wrong | exp")
    floor = 1.0 / (wrong["replicates"] + 1)
    assert wrong["statistics"]["ks_pvalue"] == pytest.approx(floor)  # at the floor
    bound = f"< {1.5 * floor:.1g}"
    row = next(line for line in gate["out"].splitlines() if line.startswith("wrong | exp"))
    assert f"  {bound}  " in row  # a p-value cell
    assert f"KS D = {wrong['statistics']['ks_statistic']:.3e} (p {bound})" in gate["out"]
    assert f"p = {floor:.3g}" not in gate["out"]
    combined_floor = wrong["statistics"]["combined_pvalue_floor"]
    assert wrong["statistics"]["combined_pvalue"] == pytest.approx(combined_floor)
    assert floor <= combined_floor <= 5 * floor
    assert f"combined p < {1.5 * combined_floor:.1g}" in gate["out"]
    markdown = (gate["folder"] / "out" / "summary.md").read_text()
    assert f"| < {1.5 * combined_floor:.1g} |" in markdown and f"| {bound} |" in markdown


def _cases(tmp_path, monkeypatch, names_and_pdfs, n="1e4"):
    (tmp_path / "gate_claims.py").write_text(_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    body = f"[tool.mcflow]\nn = {n}\n" + "".join(
        f'[[tool.mcflow.cases]]\nname = "{name}"\ntransform = "{transform}"\nseed = 1\n'
        + (f'pdf = "gate_claims:{pdf}"\n' if pdf else "")
        for name, transform, pdf in names_and_pdfs)
    (tmp_path / "cases.toml").write_text(body)
    return tmp_path / "cases.toml"


def _counting(monkeypatch):
    """Count the cases run_check starts."""
    started = []
    original = mcflow.check.validate

    def counted(transform, pdf=None, **options):
        started.append(options.get("n"))
        return original(transform, pdf, **options)

    monkeypatch.setattr(mcflow.check, "validate", counted)
    return started


def test_k_selects_cases_and_the_budget_is_split_over_those_selected(tmp_path, monkeypatch,
                                                                    capsys):
    config = _cases(tmp_path, monkeypatch, [("seed exp", "exp", None), ("tanh", "tanh", None),
                                            ("sigmoid", "sigmoid", None)])
    out_json = tmp_path / "r.json"
    code = main(["check", str(config), "-k", "exp or TANH", "--n", "2e4", "--seed", "7",
                 "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(out_json.read_text())
    assert [c["name"] for c in payload["cases"]] == ["seed exp", "tanh"]
    assert payload["alpha"] == pytest.approx(0.01)  # overall; each case's own alpha below
    assert (payload["selected_by"], payload["cases_in_config"]) == ("exp or TANH", 3)
    assert [(c["n"], c["seed"], c["alpha"]) for c in payload["cases"]] == [
        (20_000, 7, pytest.approx(0.005))] * 2  # --n and --seed replaced the config's
    assert ("PASS: 2 cases (selected by -k 'exp or TANH' from 3), alpha = 0.01 overall "
            "(0.005 per case, Bonferroni over the 2 selected)") in out


@pytest.mark.parametrize(("expression", "message"), [
    ("exp and", "-k 'exp and': expected a name or '(', found the end"),
    ("nosuch", "-k 'nosuch' selects none of the 2 cases of 'cases.toml' ('seed exp', 'tanh')"),
    ("not (exp or tanh)", "selects none of the 2 cases"),
])
def test_a_bad_or_empty_selection_is_a_usage_error_before_any_sampling(tmp_path, monkeypatch,
                                                                      capsys, expression,
                                                                      message):
    _cases(tmp_path, monkeypatch, [("seed exp", "exp", None), ("tanh", "tanh", None)])
    started = _counting(monkeypatch)
    assert main(["check", "cases.toml", "-k", expression, "--json", "r.json"]) == 2
    assert message in capsys.readouterr().err
    assert started == [] and not (tmp_path / "r.json").exists()


def test_fail_fast_stops_after_the_first_failure_and_reports_the_rest_as_not_run(
        tmp_path, monkeypatch, capsys):
    _cases(tmp_path, monkeypatch, [("first", "exp", None), ("wrong", "exp", "too_wide"),
                                   ("third", "tanh", None), ("fourth", "sigmoid", None)])
    started = _counting(monkeypatch)
    code = main(["check", "cases.toml", "--fail-fast", "--json", "r.json", "--junit-xml",
                 "j.xml", "--report", "report"])
    out = capsys.readouterr().out
    assert code == 1  # the failure's code: the cases not run do not make it an error
    assert len(started) == 2
    payload = json.loads((tmp_path / "r.json").read_text())
    assert [c["verdict"] for c in payload["cases"]] == ["pass", "fail", "not_run", "not_run"]
    assert payload["cases"][2]["reason"] == "--fail-fast stopped after 'wrong'"
    assert [c["kind"] for c in payload["cases"]].count("not_run") == 2
    assert [c["alpha"] for c in payload["cases"][:2]] == [pytest.approx(0.0025)] * 2
    assert "FAIL: 4 cases, alpha = 0.01 overall (0.0025 per case)" in out
    assert "; 2 not run (--fail-fast stopped after 'wrong')" in out
    assert [line.split()[:3] for line in out.splitlines() if line.startswith("third")] == [
        ["third", "NOT", "RUN"]]
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("1", "2", "0")
    skipped = [case.find("skipped") for case in suite.findall("testcase")]
    assert [s is not None for s in skipped] == [False, False, True, True]
    assert skipped[2].get("message") == "not run: --fail-fast stopped after 'wrong'"
    report = json.loads((tmp_path / "report" / "result.json").read_text())
    assert report["verdict"] == "fail"
    assert [c["verdict"] for c in report["cases"]] == ["pass", "fail", "not_run", "not_run"]
    assert "| third | **NOT RUN** |" in (tmp_path / "report" / "summary.md").read_text()


def test_fail_fast_after_a_case_that_could_not_run_exits_2(tmp_path, monkeypatch, capsys):
    _cases(tmp_path, monkeypatch, [("boom", "exp", "raises"), ("second", "exp", None)])
    started = _counting(monkeypatch)
    assert main(["check", "cases.toml", "--fail-fast", "--json", "r.json"]) == 2
    assert len(started) == 1
    assert [c["verdict"] for c in json.loads((tmp_path / "r.json").read_text())["cases"]] == [
        "error", "not_run"]
    assert "1 could not run; 1 not run (--fail-fast stopped after 'boom')" in \
        capsys.readouterr().out


def test_without_fail_fast_every_case_runs(tmp_path, monkeypatch, capsys):
    _cases(tmp_path, monkeypatch, [("wrong", "exp", "too_wide"), ("second", "exp", None)])
    started = _counting(monkeypatch)
    assert main(["check", "cases.toml", "-q"]) == 1
    assert len(started) == 2
    assert capsys.readouterr().out == ""


def test_outputs_that_collide_or_are_empty_are_refused_before_running(tmp_path, monkeypatch,
                                                                     capsys):
    _cases(tmp_path, monkeypatch, [("seed exp", "exp", None)])
    started = _counting(monkeypatch)
    assert main(["check", "cases.toml", "--json", "same", "--summary", "same"]) == 2
    assert "--json and --summary name the same path 'same'" in capsys.readouterr().err
    assert main(["check", "cases.toml", "--summary", ""]) == 2
    assert "argument --summary: empty path (an unset variable? $GITHUB_STEP_SUMMARY" in \
        capsys.readouterr().err
    (tmp_path / "a_dir").mkdir()
    assert main(["check", "cases.toml", "--junit-xml", "a_dir"]) == 2
    assert "--junit-xml 'a_dir' is a directory" in capsys.readouterr().err
    assert started == []
