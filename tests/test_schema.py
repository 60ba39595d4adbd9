"""One JSON document (mcflow.validation/2) from every output, checked against its JSON Schema.

The outputs are real: ``mcflow validate --json`` and ``--report`` (1-D and
d-dimensional), ``mcflow check --json`` and ``--report`` over a config with a
1-D case, a d-dimensional one, one that raises and one ``--fail-fast`` never
starts.  Small n: the statistics do not matter here, only the shape.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

import mcflow
from mcflow import transforms
from mcflow._document import SCHEMA_FILE, json_schema, result_case
from mcflow.check import run_check
from mcflow.cli import main
from mcflow.config import load_config
from mcflow.reporting import write_report

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

_MODULE = textwrap.dedent("""
    import math
    import numpy as np
    from mcflow import nd

    A = np.array([[2.0, 0.0], [0.5, 1.0]])

    def log_q(y):
        x = np.linalg.solve(A, y.T).T
        return -0.5 * (x * x).sum(axis=1) - math.log(2 * math.pi) - math.log(2.0)

    flow = nd.Case(lambda x: x @ A.T, log_q, dim=2, name="linear")

    def raises(y):
        raise RuntimeError("claimed pdf exploded")
""")

#: A 1-D case, a d-dimensional one, one that raises (and stops --fail-fast), one not run;
#: "left out" is not selected by -k.
_CONFIG = textwrap.dedent("""
    [tool.mcflow]
    n = 1e4
    [[tool.mcflow.cases]]
    name = "exp"
    transform = "exp"
    [[tool.mcflow.cases]]
    name = "flow 2d"
    transform = "schema_claims:flow"
    [[tool.mcflow.cases]]
    name = "boom"
    transform = "exp"
    pdf = "schema_claims:raises"
    [[tool.mcflow.cases]]
    name = "after boom"
    transform = "tanh"
    [[tool.mcflow.cases]]
    name = "left out"
    transform = "sinh"
""")


def _cli(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(argv))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict]:
    """Every output document, by a short label."""
    folder = tmp_path_factory.mktemp("schema")
    (folder / "schema_claims.py").write_text(_MODULE)
    (folder / "cases.toml").write_text(_CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.syspath_prepend(str(folder))
        assert _cli("validate", "exp", "--n", "1e4", "--json", "v.json", "--report", "v") == 0
        assert _cli("validate", "schema_claims:flow", "--n", "1e4", "--seed", "3", "--json",
                    "nd.json", "--report", "nd") == 0
        assert _cli("check", "cases.toml", "--fail-fast", "-k", "not left", "--json", "c.json",
                    "--report", "c") == 2
    files = {"validate --json": "v.json", "validate --report": "v/result.json",
             "validate nd --json": "nd.json", "validate nd --report": "nd/result.json",
             "check --json": "c.json", "check --report": "c/result.json"}
    return {label: json.loads((folder / name).read_text()) for label, name in files.items()}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)  # a well-formed draft 2020-12 schema
    return jsonschema.Draft202012Validator(schema)


def _case_validator() -> jsonschema.Draft202012Validator:
    """Validate one case (``$defs/case``) with the published definitions."""
    schema = json_schema()
    return jsonschema.Draft202012Validator({"$schema": schema["$schema"],
                                            "$defs": schema["$defs"], "$ref": "#/$defs/case"})


LABELS = ("validate --json", "validate --report", "validate nd --json", "validate nd --report",
          "check --json", "check --report")


@pytest.mark.parametrize("label", LABELS)
def test_every_output_is_a_valid_document(outputs, validator, label):
    validator.validate(outputs[label])
    assert outputs[label]["schema"] == "mcflow.validation/2"


def test_the_check_document_holds_every_kind_of_case(outputs):
    document = outputs["check --json"]
    assert [(c["name"], c["kind"], c["verdict"]) for c in document["cases"]] == [
        ("exp", "1d", "pass"), ("flow 2d", "nd", "pass"), ("boom", "error", "error"),
        ("after boom", "not_run", "not_run")]
    assert document["verdict"] == "error" and document["alpha"] == pytest.approx(0.01)
    assert document["selected_by"] == "not left" and document["cases_in_config"] == 5
    assert document["cases"][1]["flow"] == "linear"  # the flow's own name, kept
    assert document["cases"][2]["error"] == {"type": "RuntimeError",
                                             "message": "claimed pdf exploded"}
    assert document["cases"][3]["reason"] == "--fail-fast stopped after 'boom'"
    assert all("schema" not in case and "mcflow_version" not in case
               for case in document["cases"])


def test_json_and_the_report_write_the_same_document(outputs):
    for command in ("validate", "validate nd", "check"):
        assert outputs[f"{command} --json"] == outputs[f"{command} --report"], command
    assert outputs["check --report"]["title"] == "mcflow check: cases.toml"
    one = outputs["validate --json"]
    assert [(c["name"], c["kind"]) for c in one["cases"]] == [("exp", "1d")]
    assert one["alpha"] == 0.01 and one["cases_in_config"] == 1 and one["selected_by"] is None
    assert one["seconds"] == one["cases"][0]["seconds"]["total"]


def test_every_output_names_the_version_and_the_same_environment_keys(outputs):
    keys = {frozenset(document["environment"]) for document in outputs.values()}
    assert len(keys) == 1
    for document in outputs.values():
        assert document["mcflow_version"] == mcflow.__version__
        assert document["environment"]["mcflow"] == mcflow.__version__


def test_a_lone_to_dict_is_a_case_with_its_schema(outputs):
    r = mcflow.validate(transforms.Exp(), n=10**4, seed=1)
    lone = r.to_dict()
    assert lone["schema"] == "mcflow.validation/2" and lone["mcflow_version"] == mcflow.__version__
    assert lone["kind"] == "1d" and lone["name"] == "exp"
    case = result_case("renamed", r)
    assert case["name"] == "renamed" and set(lone) - set(case) == {"schema", "mcflow_version"}
    _case_validator().validate(case)
    with pytest.raises(jsonschema.ValidationError):  # the lone form is not a case of a document
        _case_validator().validate(lone)
    nd_case = outputs["check --json"]["cases"][1]
    _case_validator().validate(nd_case)


def test_the_python_api_documents_are_valid(tmp_path, monkeypatch, validator):
    (tmp_path / "cases.toml").write_text('[tool.mcflow]\nn = 1e4\n[[tool.mcflow.cases]]\n'
                                         'name = "a"\ntransform = "exp"\n')
    document = run_check(load_config(tmp_path / "cases.toml")).to_dict()
    validator.validate(document)
    r = mcflow.validate(transforms.Exp(), n=10**4, seed=2)
    index = write_report([r], tmp_path / "report", names=["ok"],
                         errors={"broken": "RuntimeError: claimed pdf exploded",
                                 "odd": "no type here"},
                         not_run={"later": "not started"})
    written = json.loads((index.parent / "result.json").read_text())
    validator.validate(written)
    assert [c["kind"] for c in written["cases"]] == ["1d", "error", "error", "not_run"]
    assert written["cases"][1]["error"] == {"type": "RuntimeError",
                                            "message": "claimed pdf exploded"}
    assert written["cases"][2]["error"] == {"type": None, "message": "no type here"}
    assert written["alpha"] == pytest.approx(0.01) and written["title"]


def test_the_schema_ships_as_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mcflow"]
    assert any(Path("schema", SCHEMA_FILE).match(pattern) for pattern in patterns)
    assert (ROOT / "mcflow" / "schema" / SCHEMA_FILE).is_file()
    assert json_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# A broken output must fail: one change of each kind of constraint.

def _errors(validator, document) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


def _set(document: dict, path: tuple, value=None, *, delete: bool = False) -> dict:
    broken = copy.deepcopy(document)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


@pytest.mark.parametrize(("path", "value", "delete"), [
    (("environment",), None, True),                         # a required key missing
    (("cases", 0, "detection_limit"), None, True),           # ... in a case
    (("environment", "cpu"), None, True),                    # ... in the environment
    (("verdict",), "passed", False),                         # an enum: the verdict
    (("cases", 0, "kind"), "2d", False),                     # ... the kind
    (("cases", 0, "layers", 0, "status"), "ok", False),      # ... a layer's status
    (("cases", 0, "statistics", "l1"), "NaN", False),        # non-finite: only nan, inf, -inf
    (("cases", 0, "n"), 1.5, False),                         # a type
    (("schema",), "mcflow.validation/1", False),             # the version
    (("schema_version",), "mcflow.validation/2", False),     # an extra key at the top level
    (("cases", 0, "detection_lim"), 0.1, False),             # ... in a case (a renamed field)
    (("cases", 0, "statistics", "l2"), 0.1, False),          # ... in its statistics
    (("environment", "gpu"), "none", False),                 # ... in the environment
])
def test_a_broken_document_fails(outputs, validator, path, value, delete):
    document = outputs["check --json"]
    assert _errors(validator, document) == []
    assert _errors(validator, _set(document, path, value, delete=delete)) != []


def test_a_renamed_field_of_an_nd_case_or_an_error_case_fails(outputs, validator):
    document = outputs["check --json"]
    nd_case = document["cases"][1]
    renamed = {("dimension" if key == "dim" else key): value for key, value in nd_case.items()}
    assert _errors(validator, _set(document, ("cases", 1), renamed)) != []
    assert _errors(validator, _set(document, ("cases", 2, "error", "kind"), "x")) != []
    assert _errors(validator, _set(document, ("cases", 3, "verdict"), "pass")) != []


def test_non_finite_numbers_are_strings_the_schema_allows(outputs, validator):
    document = outputs["validate --json"]
    for value in ("nan", "inf", "-inf", 0.5):
        assert _errors(validator, _set(document, ("cases", 0, "normalization"), value)) == []
