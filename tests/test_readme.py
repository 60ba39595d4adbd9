"""The README's command-line, test-suite, Dask and report sections: their code runs as written.

Every ```python block of those sections runs (with the small n it shows), every
``mcflow ...`` line of their ```sh and ```yaml blocks parses with the real
parser, the API names they cite exist, and their TOML example loads.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from mcflow._cli_options import build_parser, protect_negative_numbers
from mcflow.config import load_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SECTIONS = ("Command line and CI gate", "Scaling out with Dask", "Reports")


def _section(title: str) -> str:
    """The section's text up to the next ``## `` heading (its ``###`` subsections included)."""
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(language: str) -> list[tuple[str, str]]:
    return [(title, block) for title in SECTIONS
            for block in re.findall(rf"```{language}\n(.*?)```", _section(title), re.S)]


def _command_lines() -> list[str]:
    lines = [line.strip() for _, block in _blocks("sh") for line in block.splitlines()
             if line.strip().startswith("mcflow ")]
    lines += [line.split("run:", 1)[1].strip() for _, block in _blocks("yaml")
              for line in block.splitlines() if re.match(r"\s*run: mcflow ", line)]
    return lines


def test_the_sections_hold_the_blocks_these_tests_check():
    assert [title for title, _ in _blocks("python")] == [
        "Command line and CI gate", "Scaling out with Dask"]  # "In a test suite", and Dask
    assert len(_command_lines()) >= 14
    assert any("--junit-xml" in line and '"$GITHUB_STEP_SUMMARY"' in line and "--report" in line
               for line in _command_lines())  # the GitHub Actions step


@pytest.mark.parametrize("line", _command_lines())
def test_every_mcflow_command_line_parses(line):
    argv = shlex.split(line, comments=True)
    assert argv[0] == "mcflow"
    args = build_parser().parse_args(protect_negative_numbers(argv[1:]))  # SystemExit if not
    assert args.command in {"validate", "check", "list", "bench"}


def test_the_test_suite_example_runs_and_its_test_passes():
    (_, block), = [(t, b) for t, b in _blocks("python") if "assert_density_matches" in b]
    namespace: dict = {}
    exec(compile(block, "README.md (In a test suite)", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0]()  # raises AssertionError if the claimed density did not pass


def test_the_test_suite_example_fails_for_a_wrong_density():
    (_, block), = [(t, b) for t, b in _blocks("python") if "assert_density_matches" in b]
    namespace: dict = {}
    exec(compile(block, "README.md (In a test suite)", "exec"), namespace)
    from scipy import stats

    namespace["my_pdf"] = lambda y: stats.lognorm.pdf(y, 1.2)  # the test reads this global
    with pytest.raises(AssertionError, match="FAIL: exp"):
        namespace["test_my_flow_density"]()


def test_the_dask_example_runs_on_a_local_cluster():
    pytest.importorskip("distributed")
    (_, block), = [(t, b) for t, b in _blocks("python") if "LocalCluster" in b]
    namespace: dict = {}
    exec(compile(block, "README.md (Scaling out with Dask)", "exec"), namespace)
    h, r = namespace["h"], namespace["r"]
    assert r.verdict == "pass" and r.n == namespace["n"] == 10**7
    assert int(h.counts.sum()) + h.underflow + h.overflow + h.nonfinite == h.n == 10**7


def test_the_api_names_the_sections_cite_exist():
    text = "".join(_section(title) for title in SECTIONS)
    cited = set(re.findall(r"`(mcflow(?:\.\w+)+)\(", text))
    assert {"mcflow.report", "mcflow.reporting.write_report"} <= cited
    for dotted in sorted(cited):
        parts = dotted.split(".")
        target = importlib.import_module(parts[0])
        for index, part in enumerate(parts[1:], start=1):
            try:
                target = getattr(target, part)
            except AttributeError:
                target = importlib.import_module(".".join(parts[:index + 1]))
        assert callable(target), dotted


def test_the_toml_example_loads(tmp_path):
    (block,) = [b for _, b in _blocks("toml") if "[tool.mcflow]" in b]
    (tmp_path / "pyproject.toml").write_text(block)
    config = load_config(tmp_path / "pyproject.toml")
    assert [(c.name, c.transform, c.pdf, c.support) for c in config.cases] == [
        ("my flow", "mypkg.flows:flow", "mypkg.flows:claimed_pdf", (-1.0, 1.0))]
    assert config.alpha == 0.01 and config.cases[0].options == {"n": 10**7, "seed": "auto"}


def test_the_benchmark_repeat_count_agrees_with_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    (made,) = re.findall(r"mcflow bench --n 1e8 --repeat (\d+)", makefile)
    performance = README.split("\n## Performance\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"`mcflow bench --n 1e8 --repeat (\d+)`", performance) == [made]
    assert re.findall(r"best of (\d+)", performance) == [made]
