"""Cases, claimed CDFs, float32 claims and concurrent vectorized transforms (no library needed)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import ndtr

import mcflow
from mcflow import transforms
from mcflow.specs import SpecError, parse_transform

N = 10**5


def _lognormal_pdf(y):
    with np.errstate(all="ignore"):
        return np.where(y > 0, np.exp(-0.5 * np.log(y) ** 2) / (y * math.sqrt(2 * math.pi)), 0.0)


def _lognormal_cdf(y):
    with np.errstate(all="ignore"):
        return np.where(y > 0, ndtr(np.log(np.maximum(y, 1e-300))), 0.0)


def test_case_carries_its_claim_and_base():
    case = mcflow.Case(transforms.Exp(), _lognormal_pdf, name="lognormal")
    r = mcflow.validate(case, n=N)
    assert r.verdict == "pass" and r.transform == "lognormal"
    # arguments given to validate override the case's
    shifted = mcflow.validate(case, n=N, mu=0.5)
    assert shifted.verdict == "fail" and shifted.mu == 0.5


def test_case_rejects_bad_fields():
    with pytest.raises(TypeError, match=r"mcflow\.Transform"):
        mcflow.Case(np.exp)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        mcflow.Case(transforms.Exp(), sigma=0.0)
    with pytest.raises(ValueError, match="dtype"):
        mcflow.Case(transforms.Exp(), dtype="float16")
    with pytest.raises(TypeError, match="cdf must be a callable"):
        mcflow.Case(transforms.Exp(), cdf=1.0)


def test_a_correct_cdf_passes_its_layers():
    r = mcflow.validate(transforms.Exp(), cdf=_lognormal_cdf, n=N)
    assert r.verdict == "pass", r.summary()
    statuses = {layer.name: layer.status for layer in r.layers}
    assert statuses["cdf_vs_exact"] == statuses["mc_vs_cdf"] == "pass"
    # five layers, three of them Monte Carlo (each one combined test): alpha split by 3
    assert r.alpha_per_test == pytest.approx(r.alpha / 3)


def test_a_reflected_cdf_fails_while_the_pdf_passes():
    """The torch PowerTransform bug (pytorch #96494): 1 - F instead of F."""
    r = mcflow.validate(transforms.Exp(), cdf=lambda y: 1.0 - _lognormal_cdf(y), n=N)
    assert r.verdict == "fail"
    assert set(r.failed_layers) == {"cdf_vs_exact", "mc_vs_cdf"}
    layer = next(layer for layer in r.layers if layer.name == "cdf_vs_exact")
    assert "decreases" in layer.message


def test_a_cdf_off_by_float64_rounding_passes_and_one_off_by_1e6_fails():
    # 1e-6 relative on every value is 50x the numerical floor (2e-8), and unresolvable by
    # any sample at n = 1e5: the sample-free layer alone must catch it.
    tiny = mcflow.validate(transforms.Exp(), cdf=lambda y: _lognormal_cdf(y) * (1 + 1e-15),
                           n=N)
    assert tiny.verdict == "pass", tiny.summary()
    off = mcflow.validate(transforms.Exp(), cdf=lambda y: _lognormal_cdf(y) * (1 - 1e-6), n=N)
    assert off.failed_layers == ("cdf_vs_exact",), off.summary()


def test_forward_only_cdf_is_tested_against_the_histogram():
    forward_only = mcflow.Transform(np.exp, vectorized=True, name="exp-forward")
    good = mcflow.validate(forward_only, _lognormal_pdf, cdf=_lognormal_cdf, n=N)
    assert good.verdict == "pass", good.summary()
    bad = mcflow.validate(forward_only, _lognormal_pdf,
                          cdf=lambda y: _lognormal_cdf(y * 1.1), n=N)
    assert bad.failed_layers == ("mc_vs_cdf",), bad.summary()


def test_float32_claim_states_its_resolution():
    def pdf32(y):
        return _lognormal_pdf(y.astype(np.float32)).astype(np.float32)

    case = mcflow.Case(transforms.Exp(), pdf32, dtype="float32", pdf_rtol=1e-7)
    r = mcflow.validate(case, n=N)
    assert r.verdict == "pass", r.summary()
    assert any("float32" in w and "1.0e-07" in w for w in r.warnings)


def test_concurrent_vectorized_transform_is_bitwise_reproducible():
    t = mcflow.Transform(np.exp, np.log, vectorized=True, concurrent=True, name="np-exp")
    edges = np.linspace(0.0, 8.0, 65)
    n = 3 * 2**20 + 5
    one = mcflow.histogram(t, n, bins=edges, seed=3, threads=1)
    two = mcflow.histogram(t, n, bins=edges, seed=3, threads=2)
    np.testing.assert_array_equal(one.counts, two.counts)
    assert one.n == two.n == n


def test_concurrent_user_exception_surfaces_as_itself():
    def forward(x):
        if x.size and x.max() > 4.5:
            raise ArithmeticError("my flow overflowed")
        return x

    t = mcflow.Transform(forward, vectorized=True, concurrent=True)
    with pytest.raises(ArithmeticError, match="my flow overflowed"):
        mcflow.histogram(t, 2**22, bins=np.linspace(-5, 5, 11), seed=0, threads=2)


def test_concurrent_needs_vectorized():
    with pytest.raises(ValueError, match="concurrent=True needs vectorized=True"):
        mcflow.Transform(lambda x: x, concurrent=True)


def test_import_mcflow_imports_neither_torch_nor_jax():
    # the package is lazy: load the adapters and the engine, or the check would be vacuous
    code = ("import sys, mcflow; mcflow.from_torch, mcflow.from_jax, mcflow.validate; "
            "print('torch' in sys.modules, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_library_specs_report_what_they_cannot_resolve(tmp_path, monkeypatch):
    (tmp_path / "not_a_flow.py").write_text("thing = 3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for prefix in ("torch", "jax"):
        with pytest.raises((SpecError, ImportError)):
            parse_transform(f"{prefix}:not_a_flow:thing")
    with pytest.raises(SpecError, match="has no 'missing'"):
        parse_transform("torch:not_a_flow:missing")
