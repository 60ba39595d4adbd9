"""The package surface: version, public names, the README's Python example, a lazy start-up."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

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


#: What the command line's start-up and the pytest plugin must not load (most of a second).
_HEAVY = ("numba", "scipy", "mcflow.validation", "mcflow.engine", "mcflow.testing")


def _heavy_loaded_after(code: str) -> str:
    """Run ``code`` in a fresh interpreter; return the list of the ``_HEAVY`` it loaded."""
    probe = (f"{code}\nimport sys\n"
             f"print('LOADED', sorted(m for m in {_HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.rsplit("LOADED", 1)[1].strip()


@pytest.mark.parametrize("code", [
    "import mcflow",
    "import mcflow.cli; mcflow.cli.build_parser()",
    "import mcflow.cli; assert mcflow.cli.main(['--version']) == 0",
    "import mcflow.cli, contextlib, io\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    for argv in (['--help'], ['validate', '--help'], ['check', '--help'], "
    "['bench', '--help'], ['list', '--help']):\n"
    "        assert mcflow.cli.main(argv) == 0, argv",
    "import mcflow.cli, contextlib, io\n"
    "with contextlib.redirect_stderr(io.StringIO()):\n"
    "    assert mcflow.cli.main(['validate', 'exp', '--seed', 'x']) == 2",
    "import mcflow.__main__",
])
def test_cli_start_up_imports_neither_numba_nor_scipy(code):
    assert _heavy_loaded_after(code) == "[]"


def test_the_pytest_plugin_imports_neither_numba_nor_scipy_nor_the_engine():
    code = ("import mcflow.pytest_plugin as plugin\n"
            "class Config:\n"
            "    def getoption(self, name, default=None):\n"
            "        return default\n"
            "plugin.pytest_configure(Config())\n"
            "assert plugin.pytest_report_header(Config()) is None")
    assert _heavy_loaded_after(code) == "[]"


def test_the_lazy_package_keeps_its_names():
    assert dir(mcflow) == mcflow.__all__
    # importing the submodule mcflow.density must not hide the function of that name
    module = importlib.import_module("mcflow.density")
    assert mcflow.density is module.density and mcflow.log_density is module.log_density
    assert mcflow.validation.validate is mcflow.validate  # submodules load on first access
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = mcflow.no_such_name
