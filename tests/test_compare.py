"""`mcflow check --compare BASELINE`: verdict changes and statistics that moved, from real runs."""

from __future__ import annotations

import copy
import json
import math
import textwrap

import jsonschema
import pytest

import mcflow.check
import mcflow.config
from mcflow._compare import compare_documents, comparison_lines
from mcflow._document import json_schema
from mcflow.cli import main

_CLAIMS = textwrap.dedent("""
    import numpy as np
    from scipy import stats

    def right(y):
        return stats.lognorm.pdf(y, 1.0)

    def lopsided(y):  # a factor 0.5 below the median, 1.5 above: still integrates to 1
        return stats.lognorm.pdf(y, 1.0) * np.where(y > 1.0, 1.5, 0.5)

    def scaled(y):  # off by a constant factor everywhere
        return 1.1 * stats.lognorm.pdf(y, 1.0)
""")


def _config(target_pdf: str, names: tuple[str, ...] = ("good", "target", "gone")) -> str:
    cases = {"good": ('"exp"', None, 1), "target": ('"exp"', target_pdf, 2),
             "gone": ('"tanh"', None, 3), "fresh": ('"sigmoid"', None, 4)}
    body = "[tool.mcflow]\nn = 1e5\n"
    for name in names:
        transform, pdf, seed = cases[name]
        body += (f'[[tool.mcflow.cases]]\nname = "{name}"\ntransform = {transform}\n'
                 f"seed = {seed}\n" + (f'pdf = "compare_claims:{pdf}"\n' if pdf else ""))
    return body


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with the claims, the configs and the baseline of a passing run."""
    path = tmp_path_factory.mktemp("compare")
    (path / "compare_claims.py").write_text(_CLAIMS)
    for name, pdf, names in (("base", "right", ("good", "target", "gone")),
                             ("bug", "lopsided", ("good", "target", "gone")),
                             ("scaled", "scaled", ("good", "target", "gone")),
                             ("later", "right", ("good", "fresh", "target"))):
        (path / f"{name}.toml").write_text(_config(pdf, names))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        patch.syspath_prepend(str(path))
        assert main(["check", "base.toml", "--json", "base.json", "-q"]) == 0
        assert main(["check", "bug.toml", "--json", "bug.json", "-q"]) == 1
    return path


@pytest.fixture
def inside(folder, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _by_name(document: dict) -> dict[str, dict]:
    return {case["name"]: case for case in document["comparison"]["cases"]}


def _row(out: str, name: str) -> str:
    (row,) = [line for line in out.splitlines() if line.startswith(f"{name} ") and "→" in line]
    return row


def test_a_planted_bug_is_a_regression_and_its_l1_moved(inside, capsys):
    code = main(["check", "bug.toml", "--compare", "base.json", "--json", "bug-vs-base.json",
                 "--summary", "summary.md"])
    out = capsys.readouterr().out
    assert code == 1  # the gate's verdict: --compare only informs
    row = _row(out, "target")
    assert "pass → fail" in row and "REGRESSION" in row and "L1 " in row
    assert "detection limit" in row
    assert "compare: 1 regression, 1 case with moved statistics" in out
    document = json.loads((inside / "bug-vs-base.json").read_text())
    jsonschema.validate(document, json_schema())  # the comparison is part of the document
    cases = _by_name(document)
    assert cases["target"]["change"] == "regression"
    (moved,) = [move for move in cases["target"]["moved"] if move["statistic"] == "l1"]
    assert moved["criterion"] == "detection_limit" and abs(moved["difference"]) > \
        moved["threshold"] == max(case["detection_limit"] for case in (
            document["cases"][1], json.loads((inside / "base.json").read_text())["cases"][1]))
    assert not any(move["statistic"] == "normalization" for move in cases["target"]["moved"])
    for name in ("good", "gone"):  # the same seed and n: bitwise the same, nothing moved
        assert (cases[name]["change"], cases[name]["moved"], cases[name]["notes"]) == (
            "unchanged", [], [])
    summary = (inside / "summary.md").read_text()
    assert "### Compared with base.json" in summary and "| target | pass → fail |" in summary


def test_a_constant_factor_moves_the_normalization_not_l1(inside, capsys):
    assert main(["check", "scaled.toml", "--compare", "base.json", "--json", "scaled.json"]) == 1
    target = _by_name(json.loads((inside / "scaled.json").read_text()))["target"]
    assert target["change"] == "regression"
    assert [move["statistic"] for move in target["moved"]] == ["normalization"]
    assert target["moved"][0]["difference"] == pytest.approx(0.1, rel=1e-6)
    assert "normalization 1 → 1.1" in _row(capsys.readouterr().out, "target")


def test_an_identical_rerun_has_no_changes(inside, capsys):
    assert main(["check", "base.toml", "--compare", "base.json", "--json", "again.json"]) == 0
    out = capsys.readouterr().out
    assert "compare: no changes" in out
    comparison = json.loads((inside / "again.json").read_text())["comparison"]
    assert all(case["change"] == "unchanged" and case["moved"] == [] and case["notes"] == []
               for case in comparison["cases"])
    assert comparison["counts"]["unchanged"] == 3 and comparison["counts"]["moved"] == 0
    assert comparison["baseline"] == "base.json"
    assert comparison["baseline_mcflow_version"] == mcflow.__version__


def test_removed_new_and_fixed_cases(inside, capsys):
    assert main(["check", "later.toml", "--compare", "base.json", "-q", "--json",
                 "later.json"]) == 0
    assert capsys.readouterr().out == ""  # --quiet: no table, no comparison printed
    cases = _by_name(json.loads((inside / "later.json").read_text()))
    assert list(cases) == ["good", "fresh", "target", "gone"]  # this run's order, then removed
    assert (cases["fresh"]["change"], cases["fresh"]["old_verdict"]) == ("new", None)
    assert (cases["gone"]["change"], cases["gone"]["new_verdict"]) == ("removed", None)
    assert main(["check", "base.toml", "--compare", "bug.json"]) == 0  # a fixed case: still 0
    out = capsys.readouterr().out
    assert "fail → pass" in _row(out, "target") and "fixed" in _row(out, "target")
    lines = comparison_lines(json.loads((inside / "later.json").read_text())["comparison"],
                             arrow="->")
    assert any(line.startswith("gone") and "pass -> (gone)" in line and "removed" in line
               for line in lines)
    assert any(line.startswith("fresh") and "(new) -> pass" in line for line in lines)


@pytest.mark.parametrize(("content", "message"), [
    (None, "--compare 'baseline.json': no such file"),
    ("{not json", "--compare 'baseline.json': not JSON (Expecting property name enclosed in "
                  "double quotes, line 1 column 2)"),
    ('{"schema": "mcflow.validation/1", "verdict": "pass", "cases": []}',
     "--compare 'baseline.json': schema 'mcflow.validation/1' is not supported; --compare "
     "reads 'mcflow.validation/2' documents"),
    ('{"schema": "mcflow.nd/1", "verdict": "pass"}', "schema 'mcflow.nd/1' is not supported"),
    ("[1, 2]", "--compare 'baseline.json': not an mcflow document (no \"schema\" key)"),
    ('{"schema": "mcflow.validation/2", "cases": [{"verdict": "pass"}]}',
     "malformed mcflow.validation/2 document"),
])
def test_a_bad_baseline_is_an_error_before_any_sampling(inside, monkeypatch, capsys, content,
                                                        message):
    calls = []
    monkeypatch.setattr(mcflow.check, "validate", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(mcflow.config, "load_config", lambda *a: calls.append(a))
    baseline = inside / "baseline.json"
    baseline.unlink(missing_ok=True)
    if content is not None:
        baseline.write_text(content)
    assert main(["check", "base.toml", "--compare", "baseline.json", "--json", "r.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcflow: error: ") and message in err
    assert calls == [] and not (inside / "r.json").exists()


def test_a_folder_as_baseline_is_an_error(inside, capsys):
    assert main(["check", "base.toml", "--compare", "."]) == 2
    assert "--compare '.': cannot be read" in capsys.readouterr().err


def test_the_criteria_on_edited_documents(folder):
    base = json.loads((folder / "base.json").read_text())
    case = base["cases"][0]
    limit = case["detection_limit"]

    def moved(**changes) -> dict:
        current = copy.deepcopy(base)
        for key, value in changes.items():
            target = current["cases"][0]
            *path, last = key.split("__")
            for part in path:
                target = target[part]
            target[last] = value
        return compare_documents(base, current, "base.json")["cases"][0]

    l1 = case["statistics"]["l1"]
    assert moved(statistics__l1=l1 + 0.9 * limit)["moved"] == []  # within the detection limit
    assert [m["statistic"] for m in moved(statistics__l1=l1 + 1.1 * limit)["moved"]] == ["l1"]
    assert [m["statistic"] for m in moved(statistics__l1="nan")["moved"]] == ["l1"]
    ks = case["statistics"]["ks_statistic"]
    bound = math.sqrt(-0.5 * math.log(case["alpha_per_test"] / 2)) * math.sqrt(2 / case["n"])
    assert moved(statistics__ks_statistic=ks + 0.9 * bound)["moved"] == []
    (move,) = moved(statistics__ks_statistic=ks + 1.1 * bound)["moved"]
    assert move["criterion"] == "ks_critical_value" and move["threshold"] == pytest.approx(bound)
    crossed = moved(statistics__combined_pvalue=1e-6, verdict="fail")
    assert crossed["change"] == "regression"
    assert [m["criterion"] for m in crossed["moved"]] == ["threshold_crossed"]
    assert moved(statistics__combined_pvalue=0.9)["moved"] == []  # p-values: only crossings
    notes = moved(seed=case["seed"] + 1, n=2 * case["n"])["notes"]
    assert notes == ["n was 1e+05, now 2e+05: the criteria use both",
                     "seed differs: independent samples"]


def test_a_d_dimensional_layer_that_changed_status(folder):
    def document(status: str, pvalue: float) -> dict:
        layers = [{"name": "structure", "status": "pass", "message": "", "statistics": {}},
                  {"name": "normalisation", "status": "pass", "message": "",
                   "statistics": {"pvalue": 0.4}},
                  {"name": "mc_vs_claimed", "status": status, "message": "",
                   "statistics": {"pvalue": pvalue}}]
        return {"cases": [{"name": "flow", "kind": "nd", "verdict": status, "n": 10**5,
                           "seed": 1, "alpha": 0.01, "layers": layers}]}

    (case,) = compare_documents(document("pass", 0.3), document("fail", 1e-6), "b")["cases"]
    assert case["change"] == "regression"
    assert [(m["statistic"], m["layer"], m["old"], m["new"]) for m in case["moved"]] == [
        ("status", "mc_vs_claimed", "pass", "fail"), ("pvalue", "mc_vs_claimed", 0.3, 1e-6)]
    assert case["moved"][1]["threshold"] == pytest.approx(0.005)  # alpha over 2 layers
    (same,) = compare_documents(document("pass", 0.3), document("pass", 0.02), "b")["cases"]
    assert (same["change"], same["moved"]) == ("unchanged", [])
