"""`mcflow check`: a case that raises is recorded, the others still run, the gate says error."""

from __future__ import annotations

import json
import textwrap

import pytest

import mcflow
import mcflow.check
from mcflow import transforms
from mcflow._seeds import case_seed
from mcflow.check import CheckOutcome, run_check
from mcflow.cli import main
from mcflow.config import ConfigError, load_config

_CLAIMS = textwrap.dedent("""
    import sys
    from scipy import stats

    def raises(y):
        raise RuntimeError("claimed pdf exploded")

    def exits(y):
        sys.exit(0)

    def too_wide(y):
        return stats.lognorm.pdf(y, 1.2)
""")


def _config(tmp_path, monkeypatch, cases):
    (tmp_path / "check_cases_claims.py").write_text(_CLAIMS)
    monkeypatch.chdir(tmp_path)
    body = "[tool.mcflow]\nn = 1e5\n" + "".join(
        f'[[tool.mcflow.cases]]\nname = "{name}"\ntransform = "exp"\n'
        + (f'pdf = "check_cases_claims:{pdf}"\n' if pdf else "")
        for name, pdf in cases)
    path = tmp_path / "cases.toml"
    path.write_text(body)
    return path


def test_a_raising_case_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    path = _config(tmp_path, monkeypatch, [("first", None), ("boom", "raises"),
                                           ("exit", "exits"), ("last", None)])
    outcome = run_check(load_config(path))
    assert outcome.names == ("first", "last")
    assert [r.verdict for r in outcome.results] == ["pass", "pass"]
    assert set(outcome.errors) == {"boom", "exit"}
    assert outcome.errors["boom"].type == "RuntimeError"
    assert outcome.errors["boom"].message == "claimed pdf exploded"
    assert outcome.errors["exit"].type == "SystemExit"
    assert outcome.verdict == "error"
    assert outcome.case_names == ("first", "boom", "exit", "last")
    table = outcome.table()
    assert "ERROR: 4 cases, alpha = 0.01 overall (0.0025 per case)" in table
    assert "2 could not run" in table
    assert "boom:\nERROR: RuntimeError: claimed pdf exploded" in table
    payload = outcome.to_dict()
    assert payload["verdict"] == "error" and payload["schema"] == "mcflow.validation/2"
    assert [c["kind"] for c in payload["cases"]] == ["1d", "error", "error", "1d"]
    assert [(c["name"], c["verdict"]) for c in payload["cases"]] == [
        ("first", "pass"), ("boom", "error"), ("exit", "error"), ("last", "pass")]
    assert payload["cases"][1]["error"] == {"type": "RuntimeError",
                                            "message": "claimed pdf exploded"}


def test_cli_error_beats_fail_and_keeps_the_finished_cases(tmp_path, monkeypatch, capsys):
    path = _config(tmp_path, monkeypatch, [("ok", None), ("wrong", "too_wide"),
                                           ("boom", "raises")])
    out_json, report = tmp_path / "out.json", tmp_path / "report"
    code = main(["check", str(path), "--json", str(out_json), "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 2  # not 1: a gate must not say fail (or pass) for a case it could not run
    assert "mcflow: error: case 'boom' could not run: RuntimeError: claimed pdf exploded" \
        in captured.err
    assert "ERROR: 3 cases" in captured.out
    cases = json.loads(out_json.read_text())["cases"]
    assert [(c["name"], c["verdict"]) for c in cases] == [
        ("ok", "pass"), ("wrong", "fail"), ("boom", "error")]
    page = (report / "index.html").read_text()
    assert '<section id="case-ok">' in page and '<section id="case-wrong">' in page
    assert "Could not run: RuntimeError: claimed pdf exploded" in page
    report_json = json.loads((report / "result.json").read_text())
    assert report_json["verdict"] == "error"
    assert [c["verdict"] for c in report_json["cases"]] == ["pass", "fail", "error"]
    assert "| boom | **ERROR** |" in (report / "summary.md").read_text()


def test_a_spec_typo_fails_before_any_case_samples(tmp_path, monkeypatch, capsys):
    path = _config(tmp_path, monkeypatch, [("ok", None), ("typo", "no_such_pdf")])
    calls = []
    monkeypatch.setattr(mcflow.check, "validate", lambda *a, **k: calls.append(a))
    with pytest.raises(ConfigError, match="case 'typo': pdf 'check_cases_claims:no_such_pdf'"):
        run_check(load_config(path))
    assert main(["check", str(path)]) == 2
    assert "has no 'no_such_pdf'" in capsys.readouterr().err
    assert calls == []


def test_the_outcome_stays_backwards_compatible(tmp_path, monkeypatch):
    path = _config(tmp_path, monkeypatch, [("a", None)])
    outcome = run_check(load_config(path))
    rebuilt = CheckOutcome(names=outcome.names, results=outcome.results, alpha=outcome.alpha,
                           seconds=outcome.seconds)  # the old four fields still suffice
    assert rebuilt.verdict == "pass" and rebuilt.errors == {}
    assert rebuilt.to_dict()["cases"][0]["name"] == "a"
    assert "PASS: 1 cases" in rebuilt.table()


def test_cases_without_a_seed_get_their_own_auto_seed(tmp_path, monkeypatch):
    # Depends on validate(seed="auto") deriving the seed from the case identity.
    (tmp_path / "cases.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        n = 1e4
        [[tool.mcflow.cases]]
        name = "a"
        transform = "exp"
        [[tool.mcflow.cases]]
        name = "b"
        transform = "exp"
        seed = "auto"
        mu = 0.5
        [[tool.mcflow.cases]]
        name = "c"
        transform = "exp"
        seed = 7
    """))
    outcome = run_check(load_config(tmp_path / "cases.toml"))
    seeds = [r.seed for r in outcome.results]
    assert seeds[0] == mcflow.validate(transforms.Exp(), n=10**4).seed  # the API's default
    assert seeds[0] == case_seed("exp", "derived", 0.0, 1.0)
    assert seeds[1] not in (seeds[0], 0) and seeds[2] == 7
    assert all(type(seed) is int for seed in seeds)  # the integer actually used


@pytest.mark.parametrize(
    ("default", "message"),
    [
        ("n = 'x'", "[tool.mcflow]: n must be a number such as 1e7, got 'x'"),
        ("n = 0", "[tool.mcflow]: n must be a positive integer"),
        ("alpha = 2", "[tool.mcflow] alpha must be a number in (0, 1), got 2"),
        ("bins = 10", "[tool.mcflow]: an integer bins needs range = [lo, hi]"),
        ("bins = [1, 0]", "[tool.mcflow]: bins edges must be strictly increasing"),
        ("bins = 10\nrange = [1, 0]", "[tool.mcflow]: range must satisfy lo < hi"),
        ("sigma = -1.0", "[tool.mcflow]: sigma must be > 0"),
        ("tolerance = -1e-3", "[tool.mcflow]: tolerance must be a positive finite L1 distance"),
        ("seed = -1", "[tool.mcflow]: seed must be a non-negative integer"),
    ],
)
def test_a_malformed_default_is_an_error_even_when_every_case_overrides_it(
        tmp_path, monkeypatch, capsys, default, message):
    calls = []
    monkeypatch.setattr(mcflow.check, "validate", lambda *a, **k: calls.append(a))
    path = tmp_path / "cases.toml"  # every case sets every key: the defaults are never used
    path.write_text(f"[tool.mcflow]\n{default}\n[[tool.mcflow.cases]]\ntransform = 'exp'\n"
                    "n = 1e4\nbins = 5\nrange = [0, 1]\nsigma = 1.0\ntolerance = 1e-3\n"
                    "seed = 1\n")
    with pytest.raises(ConfigError, match=r"cases\.toml"):
        load_config(path)
    assert main(["check", str(path)]) == 2
    assert f"{str(path)!r}: {message}" in capsys.readouterr().err
    assert calls == []


def test_a_cases_own_edges_replace_the_default_bins_and_range(tmp_path):
    (tmp_path / "cases.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        bins = 10
        range = [0, 20]
        [[tool.mcflow.cases]]
        name = "default bins"
        transform = "exp"
        [[tool.mcflow.cases]]
        name = "own edges"
        transform = "exp"
        bins = [0, 1, 2, 50]
        [[tool.mcflow.cases]]
        name = "own count"
        transform = "exp"
        bins = 4
    """))
    cases = load_config(tmp_path / "cases.toml").cases
    assert [(c.options["bins"], c.options.get("range")) for c in cases] == [
        (10, (0, 20)), ([0, 1, 2, 50], None), (4, (0, 20))]


def test_select_and_override_return_new_configs(tmp_path):
    (tmp_path / "cases.toml").write_text(textwrap.dedent("""
        [tool.mcflow]
        n = 1e5
        [[tool.mcflow.cases]]
        name = "seed exp"
        transform = "exp"
        seed = 3
        [[tool.mcflow.cases]]
        name = "tanh"
        transform = "tanh"
    """))
    config = load_config(tmp_path / "cases.toml")
    chosen = config.select("TANH").override(n=2000, seed="auto")
    assert [c.name for c in chosen.cases] == ["tanh"]
    assert (chosen.selection, chosen.available, chosen.alpha) == ("TANH", 2, config.alpha)
    assert chosen.cases[0].options == {"n": 2000, "seed": "auto"}
    assert config.cases[0].options == {"n": 100_000, "seed": 3}  # unchanged
    assert config.select("") is config and config.override() is config
    with pytest.raises(ConfigError, match="-k 'sinh' selects none of the 2 cases"):
        config.select("sinh")
