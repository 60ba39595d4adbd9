"""The package surface: version, public names, the README's Python example."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import mcflow

README = Path(__file__).resolve().parents[1] / "README.md"


def test_version_comes_from_the_package_metadata():
    assert mcflow.__version__ == version("mcflow")


def test_public_names_exist():
    for name in mcflow.__all__:
        assert hasattr(mcflow, name), name
    assert callable(mcflow.validate) and callable(mcflow.report)


def test_readme_python_example_runs():
    block = re.search(r"## In Python\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    assert namespace["r"].verdict == "pass"
    h = namespace["h"]
    assert int(h.counts.sum()) + h.underflow + h.overflow + h.nonfinite == h.n
