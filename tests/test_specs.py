"""Spec resolution: only the documented forms resolve, and nothing else is ever called."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import mcflow
from mcflow.specs import SpecError, parse_pdf, parse_transform

_USER_MODULE = textwrap.dedent("""
    import functools
    import pathlib
    import mcflow
    from mcflow import transforms
    from mcflow.specs import transform_factory

    CALLS = pathlib.Path(__file__).with_name("calls.txt")

    def _note(what):
        with CALLS.open("a") as stream:
            stream.write(what + "\\n")

    def make_unmarked():
        _note("make_unmarked")
        return transforms.Exp()

    @transform_factory
    def make_marked():
        _note("make_marked")
        return transforms.Chain(transforms.Affine(1.0, 2.0), transforms.Exp())

    @transform_factory
    def make_wrong():
        return 42

    @transform_factory
    def make_and_exit():
        raise SystemExit(0)

    class Shifted(mcflow.Transform):
        def __init__(self):
            super().__init__(transforms.Exp().forward, name="shifted")

    class NeedsArguments(mcflow.Transform):
        def __init__(self, scale):
            super().__init__(transforms.Exp().forward)

    def two_arguments(x, y):
        return x + y

    def pdf(y):
        _note("pdf")
        return y

    class Density:
        def __call__(self, y):
            _note("Density")
            return y

    density = Density()

    class Family:
        def pdf(self, y):
            return y

    family = Family()
    partial_pdf = functools.partial(Family.pdf, family)
""")


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_specs.py").write_text(_USER_MODULE)
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("user_specs", None)
    yield tmp_path / "calls.txt"
    sys.modules.pop("user_specs", None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sys:exit", "builtin_function_or_method from the Python standard library"),
        ("builtins:exit", "Quitter from the Python standard library"),
        ("os:abort", "builtin_function_or_method from the Python standard library"),
        ("os:_exit", "builtin_function_or_method from the Python standard library"),
        ("shutil:rmtree", "function from the Python standard library"),
        ("os:sep", "str from the Python standard library"),
    ],
)
def test_builtins_and_stdlib_objects_are_refused_not_called(spec, message):
    with pytest.raises(SpecError, match=message):
        parse_transform(spec)


def test_an_unmarked_zero_argument_function_is_refused_and_not_called(user_module):
    with pytest.raises(SpecError, match="function whose arguments are not exactly one"):
        parse_transform("user_specs:make_unmarked")
    with pytest.raises(SpecError, match="function whose arguments are not exactly one"):
        parse_transform("user_specs:two_arguments")
    assert not user_module.exists()  # nothing in the module was called


def test_documented_forms_resolve(user_module):
    marked = parse_transform("user_specs:make_marked")
    assert marked.name == "chain(affine(shift=1, scale=2), exp)"
    assert user_module.read_text() == "make_marked\n"
    assert parse_transform("user_specs:Shifted").name == "shifted"
    assert parse_transform("mcflow.transforms:Exp").forward(0.0) == 1.0
    assert isinstance(parse_transform("user_specs:Shifted"), mcflow.Transform)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("user_specs:make_wrong", "the factory returned a int, not a mcflow.Transform"),
        ("user_specs:make_and_exit", "calling the transform factory raised SystemExit: 0"),
        ("user_specs:NeedsArguments", "could not be built without arguments"),
    ],
)
def test_factories_that_misbehave_are_spec_errors(user_module, spec, message):
    with pytest.raises(SpecError, match=message):
        parse_transform(spec)


def test_a_module_that_exits_or_raises_on_import_is_a_spec_error(tmp_path, monkeypatch):
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('no GPU')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="importing module 'exits_on_import' raised SystemExit"):
        parse_transform("exits_on_import:flow")
    with pytest.raises(SpecError, match="raised RuntimeError: no GPU"):
        parse_pdf("raises_on_import:pdf")


def test_pdf_specs_resolve_functions_and_callables_without_calling_them(user_module):
    assert parse_pdf("user_specs:pdf").__name__ == "pdf"
    assert type(parse_pdf("user_specs:density")).__name__ == "Density"
    assert parse_pdf("user_specs:family.pdf").__name__ == "pdf"  # a bound method
    assert parse_pdf("user_specs:partial_pdf").func.__name__ == "pdf"
    assert not user_module.exists()  # resolved, not called
    for spec, message in (("user_specs:Density", "is a class, not a function"),
                          ("math:exp", "from the Python standard library"),
                          ("builtins:exit", "from the Python standard library"),
                          ("user_specs:CALLS", "is a PosixPath, not a function")):
        with pytest.raises(SpecError, match=message):
            parse_pdf(spec)


@pytest.mark.parametrize("spec", ["sys:exit", "builtins:exit", "os:abort"])
def test_python_m_mcflow_check_refuses_exit_and_abort_with_exit_2(tmp_path, spec):
    # A subprocess: before the fix, os:abort killed the process and sys:exit passed the gate.
    config = tmp_path / "cases.toml"
    config.write_text(f'[tool.mcflow]\nn = 1e4\n[[tool.mcflow.cases]]\ntransform = "{spec}"\n')
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get(
        "NUMBA_CACHE_DIR", os.path.join(os.getcwd(), ".numba_cache"))}
    done = subprocess.run([sys.executable, "-m", "mcflow", "check", str(config)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"transform {spec!r} is a" in done.stderr
    assert "Traceback" not in done.stderr
