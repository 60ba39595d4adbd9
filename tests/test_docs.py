"""The documentation site builds with warnings as errors, and shows what it promises.

Sphinx and numpydoc are test dependencies (``pip install mcflow[test]``): a missing one fails
this test rather than skipping it, so the README's test command always builds the site, and a
docstring numpydoc cannot parse, a broken cross-reference, a figure that moved or a CLI option
the pages lost fails the suite.
"""

from __future__ import annotations

import argparse
import html as html_text
import os
import re
import subprocess
import sys
from pathlib import Path

import mcflow
from mcflow._cli_options import build_parser
from mcflow.config import CASE_KEYS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SEED_FIGURES = ("00-exp-fig1-samples.png", "00-exp-fig2-densities.png",
                "00-exp-fig3-residuals.png", "00-exp-fig4-cdf.png")


def _tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def _option_strings(subcommand: str) -> list[str]:
    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    return [option for action in commands.choices[subcommand]._actions
            for option in action.option_strings]


def _plain(page: str) -> str:
    """A page's text, without its markup (highlighted code is split into many spans)."""
    return html_text.unescape(re.sub(r"<[^>]+>", "", page))


def _images(page: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)


def test_docs_build_with_warnings_as_errors(tmp_path):
    before = _tree(DOCS)
    html = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-b", "html",
               "-d", str(tmp_path / "doctrees"), str(DOCS), str(html)]
    # No bytecode from conf.py and docs/_ext in the checkout: the build writes only tmp_path.
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=600, check=False)
    output = f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"the docs build failed:\n{output}"
    assert "WARNING" not in done.stderr, output
    assert _tree(DOCS) == before, "the docs build wrote into the repository tree"

    pages = {path.stem: path.read_text(encoding="utf-8") for path in html.glob("*.html")}
    assert {"index", "tutorial", "flows", "statistics", "cli", "config", "api"} <= set(pages)
    text = {name: _plain(page) for name, page in pages.items()}

    # The CLI reference is the parser's own help: every option of every subcommand is there.
    for subcommand in ("validate", "check", "list", "bench"):
        assert f"$ mcflow {subcommand} --help\nusage: mcflow {subcommand}" in text["cli"]
        for option in _option_strings(subcommand):
            assert option in text["cli"], (subcommand, option)
    assert "--junit-xml FILE" in text["cli"]
    assert "sinh_arcsinh:skew=0,tailweight=1" in text["cli"]  # the built-ins' table

    # Every public name of mcflow is documented on the API page, with its docstring.
    for name in mcflow.__all__:
        anchor = "module-mcflow.transforms" if name == "transforms" else f"mcflow.{name}"
        assert f'id="{anchor}"' in pages["api"], name
    for name in ("mcflow.nd.validate", "mcflow.nd.Case", "mcflow.testing.assert_flow_density",
                 "mcflow.testing.assert_density_matches", "mcflow.transforms.Exp"):
        assert f'id="{name}"' in pages["api"], name
    assert "Check a claimed density p_Y of Y = T(X)" in text["api"]

    # The tutorial shows the committed figures of the seed's report, copied into the build.
    tutorial_images = _images(pages["tutorial"])
    for figure in SEED_FIGURES:
        assert any(src.endswith(figure) for src in tutorial_images), (figure, tutorial_images)
    for page in pages.values():
        for src in _images(page):
            assert (html / src).is_file(), src
    assert "mcflow validate exp --n 1e8 --seed 0 --report build/seed-exp" in text["tutorial"]
    # Its example ran during the build: the seed's density passes, without |1/y| it fails.
    assert "PASS: exp, n = 1,000,000, seed = 0" in text["tutorial"]
    assert "FAIL: exp, n = 1,000,000, seed = 0" in text["tutorial"]
    assert "[exact] p_Y integrates to 1.64872 over the support, expected 1" in text["tutorial"]

    # Formulas are MathML, rendered by the browser offline; nothing loads MathJax.
    assert "<math" in pages["statistics"] and "<mfrac>" in pages["statistics"]
    assert not any("mathjax" in page.lower() for page in pages.values())
    # The calibration figures and the power table come from reports/.
    statistics_images = _images(pages["statistics"])
    assert sum(src.split("/")[-1].startswith("calibration") for src in statistics_images) == 2
    assert "x^2, mu = 3: negative branch forgotten" in text["statistics"]

    # The config reference lists every key the loader knows.
    for key in (*CASE_KEYS, "alpha"):
        assert f'<span class="pre">{key}</span>' in pages["config"], key
