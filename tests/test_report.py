"""Reports: HTML, Markdown, JSON and PNG files, atomic writes, interrupted runs."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pytest
from scipy import stats

from mcflow import figures, transforms
from mcflow.cli import main
from mcflow.reporting import write_report, write_text_atomically
from mcflow.validation import SCHEMA_VERSION, validate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = []
        self.sections = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        if tag == "section":
            self.sections.append(attributes.get("id"))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def results():
    right = validate(transforms.Exp(), n=10**5)
    wrong = validate(transforms.Exp(), lambda y: stats.lognorm.pdf(y, 1.2), n=10**5)
    return right, wrong


def _assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert np.ptp(image) > 0  # not a blank canvas


def test_report_files_and_their_content(tmp_path, results):
    index = write_report(list(results), tmp_path / "report", names=["seed exp", "too wide"])
    folder = index.parent
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".png") == [
        "index.html", "result.json", "summary.md"]
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 2 * 4 + 1  # four figures per case and the overview
    for png in pngs:
        _assert_png(png)
    # 256-colour palette PNGs: the report embeds every figure, so each must stay small
    # (RGBA ones were 50-160 kB)
    assert max(png.stat().st_size for png in pngs) < 80_000

    parser = _Collector()
    parser.feed(index.read_text())
    text = " ".join(parser.text)
    # ids without spaces, and the summary table at the top links to each
    assert parser.sections == ["case-seed-exp", "case-too-wide"]
    assert '<a href="#case-seed-exp">seed exp</a>' in index.read_text()
    assert len(parser.images) == 9 and all(s.startswith("data:image/png;base64,") for s in
                                           parser.images)
    for needle in ("PASS", "FAIL", "mc_vs_claimed", "underflow", "NaN", "detected with 95% power",
                   "M samples/s", "numba"):
        assert needle in text, needle

    payload = json.loads((folder / "result.json").read_text())
    assert payload["schema"] == SCHEMA_VERSION
    assert payload["verdict"] == "fail"
    assert [c["name"] for c in payload["cases"]] == ["seed exp", "too wide"]
    assert {"numba", "numpy", "threads", "cpu"} <= set(payload["environment"])

    summary = (folder / "summary.md").read_text()
    assert "| seed exp | **PASS** |" in summary and "| too wide | **FAIL** |" in summary


def test_interrupted_report_leaves_the_previous_one_intact(tmp_path, results, monkeypatch):
    target = tmp_path / "report"
    write_report([results[0]], target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "cdf_difference_figure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report([results[1]], target)
    after = {p.name: p.read_bytes() for p in target.iterdir()}
    assert after == before  # no staging folder left, nothing half-replaced


def test_cli_report_and_interrupt_message(tmp_path, capsys, monkeypatch):
    code = main(["validate", "exp", "--n", "1e5", "--report", str(tmp_path / "r"), "--quiet"])
    assert code == 0
    assert (tmp_path / "r" / "index.html").is_file()

    import mcflow.validation

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mcflow.validation, "run_histogram", interrupted)
    code = main(["validate", "exp", "--n", "1e5", "--report", str(tmp_path / "s")])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_new_report_removes_figures_of_the_old_one(tmp_path, results):
    target = tmp_path / "report"
    write_report(list(results), target, names=["a", "b"])
    (target / "notes.png").write_bytes(b"user file")
    write_report([results[0]], target, names=["c"])
    figures_now = sorted(p.name for p in target.glob("*.png"))
    assert len([name for name in figures_now if name.startswith("00-c-")]) == 4
    assert all(name.startswith("00-c-") for name in figures_now if name != "notes.png")
    assert "notes.png" in figures_now  # never deletes files it did not write


def test_write_text_atomically_replaces_whole_files(tmp_path):
    path = tmp_path / "a" / "b.txt"
    write_text_atomically(path, "one")
    write_text_atomically(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]


def test_stale_staging_folders_of_killed_runs_are_removed(tmp_path, results):
    import os
    import subprocess
    import sys
    import time

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)  # a process that has exited: its staging folder is stale
    target = tmp_path / "report"
    target.mkdir()
    dead = target / f".mcflow-report-{dead_pid}-abc123"
    beside = tmp_path / f".mcflow-report-{dead_pid}-def456"  # in the report's parent
    legacy_old = target / ".mcflow-report-k2j3h4"  # older mcflow: no pid, two hours old
    legacy_new = target / ".mcflow-report-q9w8e7"  # no pid, fresh: may be a live writer
    alive = target / f".mcflow-report-{os.getpid()}-zzz999"
    for folder in (dead, beside, legacy_old, legacy_new, alive):
        folder.mkdir()
        (folder / "index.html").write_text("half")
    two_hours_ago = time.time() - 7200
    os.utime(legacy_old, (two_hours_ago, two_hours_ago))
    write_report([results[0]], target)
    left = sorted(p.name for p in tmp_path.rglob(".mcflow-report-*"))
    assert left == sorted([legacy_new.name, alive.name])
    assert (target / "index.html").read_text().startswith("<!DOCTYPE html>")


def test_a_report_shows_cases_that_could_not_run(tmp_path, results):
    index = write_report([results[0]], tmp_path / "report", names=["ok"],
                         errors={"broken": "RuntimeError: claimed pdf exploded"})
    parser = _Collector()
    parser.feed(index.read_text())
    assert parser.sections == ["case-ok", "case-broken"]
    assert "Could not run: RuntimeError: claimed pdf exploded" in " ".join(parser.text)
    payload = json.loads((index.parent / "result.json").read_text())
    assert payload["verdict"] == "error"
    assert payload["cases"][1] == {"name": "broken", "kind": "error", "verdict": "error",
                                   "error": {"type": "RuntimeError",
                                             "message": "claimed pdf exploded"}}
    only_errors = write_report([], tmp_path / "only", errors={"broken": "SystemExit: 0"})
    assert "ERROR" in only_errors.read_text()
    with pytest.raises(ValueError, match="at least one"):
        write_report([], tmp_path / "none")


@pytest.mark.parametrize(("pvalue", "floor", "label", "text"), [
    (1 / 100_001, 1 / 100_001, "p", "p < 1e-05"),
    (1 / 10_001, 1 / 10_001, "p", "p < 0.0001"),
    (5 / 40_001, 5 / 40_001, "combined p", "combined p < 0.0002"),
    (1 / 2001, 1 / 2001, "", "< 0.0007"),
    (2 / 100_001, 1 / 100_001, "p", "p = 2e-05"),  # one replicate beyond: a value, not a bound
    (0.0123, 1 / 100_001, "p", "p = 0.0123"),
    (0.0123, 1 / 100_001, "", "0.0123"),
    (0.5, float("nan"), "p", "p = 0.5"),  # no floor known
])
def test_p_text_writes_a_bound_at_the_floor_and_a_value_above_it(pvalue, floor, label, text):
    from mcflow.result import p_text

    assert p_text(pvalue, floor, label) == text
    if text.partition("< ")[2]:  # the bound is never below what was observed
        assert float(text.partition("< ")[2]) > pvalue


def test_p_values_at_the_floor_are_bounds_in_summary_html_and_markdown(tmp_path, results):
    _, wrong = results
    floor = wrong.pvalue_floor
    assert floor == 1 / (wrong.replicates + 1)
    at_floor = [key for key in ("ks", "l1", "g", "ad")
                if getattr(wrong, f"{key}_pvalue") == pytest.approx(floor)]
    assert at_floor  # a lognormal(1.2) claim against n = 1e5 saturates the null
    bound = f"< {1.5 * floor:.1g}"
    summary = wrong.summary()
    assert summary.count(f"(p {bound})") == len(at_floor)
    assert f"p = {floor:.3g}" not in summary
    assert wrong.combined_pvalue == pytest.approx(wrong.combined_pvalue_floor)
    assert f"combined p < {1.5 * wrong.combined_pvalue_floor:.1g}" in summary
    index = write_report([wrong], tmp_path / "report", names=["too wide"])
    page = index.read_text()
    assert page.count(f'<td class="num">&lt; {1.5 * floor:.1g}</td>') == len(at_floor)
    markdown = (index.parent / "summary.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| too wide |"))
    cells = [cell.strip() for cell in row.split("|")]
    assert cells.count(bound) == len(at_floor)
    assert cells[4] == f"< {1.5 * wrong.combined_pvalue_floor:.1g}"  # combined p
    payload = json.loads((index.parent / "result.json").read_text())
    statistics = payload["cases"][0]["statistics"]
    assert statistics["combined_pvalue_floor"] == pytest.approx(wrong.combined_pvalue_floor)
