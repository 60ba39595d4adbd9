"""The case registry: oracles agree with mcflow, right passes, wrong fails, config in sync."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

import mcflow
from mcflow.registry import CASES, config_toml
from mcflow.specs import parse_transform

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

EPS = float(np.finfo(np.float64).eps)
IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_oracle_is_mcflow_density_to_float64_rounding(case):
    transform = case.transform()
    levels = np.linspace(1e-6, 1 - 1e-6, 2001)
    x = case.mu + case.sigma * special.ndtri(levels)
    y = transform.forward_array(x[x > 0] if case.spec.startswith("power") else x)
    lo, hi = transform.support
    y = y[(y > lo) & (y < hi)]
    # Each formula is a handful of float64 operations (<= 64 eps with exp of a log p of size
    # <= 30), plus the cancellation in forming (end - y) next to a finite support end.
    distance = np.minimum(np.abs(y - lo) if math.isfinite(lo) else np.inf,
                          np.abs(hi - y) if math.isfinite(hi) else np.inf)
    tolerance = 64 * EPS * (1 + 1 / np.minimum(distance, 1.0))
    got = mcflow.density(transform, y, case.mu, case.sigma)
    assert np.all(np.abs(got - case.pdf(y)) <= tolerance * got)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_oracle_passes_and_the_wrong_density_fails(case):
    options = {"mu": case.mu, "sigma": case.sigma, "seed": case.seed}
    right = mcflow.validate(case.transform(), case.pdf, n=10**5, **options)
    wrong = mcflow.validate(case.transform(), case.wrong_pdf, n=10**4, **options)
    assert right.verdict == "pass", right.summary()
    assert wrong.verdict == "fail", wrong.summary()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_spec_names_the_registry_transform(case):
    assert parse_transform(case.spec) == case.transform()


def test_example_config_is_the_registry():
    committed = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    assert committed["tool"]["mcflow"] == tomllib.loads(config_toml())["tool"]["mcflow"]
