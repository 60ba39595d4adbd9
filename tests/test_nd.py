"""d-dimensional validation (``mcflow.nd``) on reference numpy flows and their planted bugs.

The flows and bugs are in ``tests/nd_flows.py``: affine coupling, MADE, ActNorm, LU,
a rational-quadratic spline, a chain of them, and exp on one coordinate; bugs are
the Jacobian errors that shipped in flow libraries (a coupling's missing scale, a
log-det not multiplied by d, a wrong sign in one autoregressive coordinate, a spline
wrong only beyond its tail bound, a density 5% off in a region, mass off T's image).
At n = 1e5 every bug fails, at d = 2, 5 and 20; every correct flow passes (with
its inverse and log-det the importance sampling draws from the flow itself).
Without them the Student t proposal is used, and correct flows far from Gaussian
(the spline and the chain at d = 20, exp-first) may be ``inconclusive``: their
importance weights are too uneven to trust, and the result says so.
"""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest
from nd_flows import flows
from scipy import stats

from mcflow import nd

N = 10**5
#: alpha per case: with 21 correct cases, P(any correct one fails) <= 21 x 1e-3 = 2%
#: (the calibration tests below check the false-failure rate itself at 0.05).
ALPHA = 1e-3
#: Correct flows whose statistical layers may be inconclusive (never fail) with the
#: Student t proposal (no inverse or log-det given).
MAY_BE_INCONCLUSIVE = {"spline d=20", "chain d=20", "made d=20", "exp-first d=2",
                       "exp-first d=5", "exp-first d=20"}
#: Which layers may catch each bug (the deterministic pointwise layer for every
#: log-det error; mass off T's image, which no sample point sees, only the two
#: layers that integrate q).
POINTWISE = {"pointwise"}
CAUGHT_BY = {"coupling-missing-scale": POINTWISE, "actnorm-scalar-not-times-d": POINTWISE,
             "region-5pct": POINTWISE, "made-sign": POINTWISE, "spline-tail": POINTWISE,
             "mass-outside-image": {"normalisation", "mc_vs_claimed"}}


def _case(flow, with_extras=True):
    return nd.Case(flow.forward, flow.log_prob, dim=flow.dim, name=flow.name,
                   inverse=flow.inverse if with_extras else None,
                   log_abs_det_jacobian=flow.log_abs_det_jacobian if with_extras else None)


def _all(dims=(2, 5, 20)):
    return [pytest.param(flow, id=flow.name) for d in dims for flow in flows(d)]


@pytest.mark.parametrize("flow", _all())
def test_correct_flows_pass_and_bugs_fail(flow):
    result = nd.validate(_case(flow), n=N, seed=1, alpha=ALPHA)
    if flow.correct:
        assert result.verdict == "pass", result.summary()
    else:
        assert result.verdict == "fail", result.summary()
        assert CAUGHT_BY[flow.name.split()[0]] & set(result.failed_layers), result.summary()


@pytest.mark.parametrize("flow", [pytest.param(f, id=f.name) for f in flows(5)])
def test_without_inverse_or_log_det(flow):
    # forward and log_prob only: the finite-difference Jacobian does the work
    result = nd.validate(_case(flow, with_extras=False), n=N, seed=2, alpha=ALPHA)
    if flow.correct:
        allowed = {"pass", "inconclusive"} if flow.name in MAY_BE_INCONCLUSIVE else {"pass"}
        assert result.verdict in allowed, result.summary()
    else:
        assert result.verdict == "fail", result.summary()


def test_pointwise_failure_says_where_the_bug_is():
    coupling = next(f for f in flows(5) if f.name.startswith("coupling-missing-scale"))
    layer = next(layer for layer in nd.validate(_case(coupling), n=N, seed=0).layers
                 if layer.name == "pointwise")
    # both the density and the log-det carry the error: the log-det is named
    assert "log-det" in layer.message


def test_same_seed_same_result_on_one_or_two_threads():
    chain = next(f for f in flows(5) if f.name == "chain d=5")
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nd.validate(_case(chain), n=3 * 2**16 + 11, seed=4).to_dict()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = nd.validate(_case(chain), n=3 * 2**16 + 11, seed=4).to_dict()
    finally:
        numba.set_num_threads(previous)
    one.pop("seconds")
    two.pop("seconds")
    assert one == two


def test_bad_input_gets_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        nd.Case(lambda x: x, lambda y: y[:, 0], dim=0)
    with pytest.raises(ValueError, match="scale must be finite and > 0"):
        nd.Case(lambda x: x, lambda y: y[:, 0], dim=2, scale=[1.0, -1.0])
    with pytest.raises(TypeError, match="forward of 'bad' returned shape"):
        nd.validate(nd.Case(lambda x: x[:, :1], lambda y: y[:, 0], dim=2, name="bad"), n=N)
    with pytest.raises(ValueError, match="n must be at least"):
        nd.validate(_case(flows(2)[0]), n=100)
    result = nd.validate(_case(flows(2)[0]), n=N, seed=0, alpha=ALPHA)
    folder = result.report(tmp_path / "nd")
    document = json.loads((folder / "result.json").read_text())  # a one-case document
    assert [document["verdict"]] == [case["verdict"] for case in document["cases"]] == ["pass"]
    assert "PASS" in (folder / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coupling d=2", "made d=5"])
def test_calibration_failure_rate_at_most_alpha(name):
    # 500 seeds of a correct flow at alpha = 0.05: failures are Binomial(500, <= 0.05);
    # more than its 1 - 1e-3 quantile fails a calibrated validator with probability < 1e-3.
    flow = next(f for f in flows(int(name[-1])) if f.name == name)
    failures = sum(nd.validate(_case(flow), n=10**4, seed=seed, alpha=0.05).verdict == "fail"
                   for seed in range(500))
    assert failures <= stats.binom.ppf(1 - 1e-3, 500, 0.05)


def test_a_zuko_flow_passes_and_its_forgotten_ladj_fails():
    torch = pytest.importorskip("torch")
    zuko = pytest.importorskip("zuko")
    torch.manual_seed(0)
    flow = zuko.flows.NSF(features=3, context=0, bins=8, transforms=2).double()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    dist = flow()

    def forward(x):  # zuko's sampling path: transform.inv of base draws
        with torch.no_grad():
            return dist.transform.inv(torch.from_numpy(x)).numpy()

    def log_prob(y):
        with torch.no_grad():
            return dist.log_prob(torch.from_numpy(y)).numpy()

    def forgotten(y):
        with torch.no_grad():
            return dist.base.log_prob(dist.transform(torch.from_numpy(y))).numpy()

    good = nd.validate(nd.Case(forward, log_prob, dim=3, name="zuko NSF"), n=N, seed=0,
                       alpha=ALPHA)
    # a perturbed spline flow is far from Gaussian: the importance-sampling layers may
    # say they cannot decide, never that the correct density is wrong
    assert good.verdict in ("pass", "inconclusive"), good.summary()
    assert good.layers[1].status == "pass", good.summary()
    bad = nd.validate(nd.Case(forward, forgotten, dim=3, name="zuko NSF no ladj"), n=N,
                      seed=0, alpha=ALPHA)
    assert bad.verdict == "fail" and "pointwise" in bad.failed_layers, bad.summary()
    assert np.isfinite(good.layers[1].statistics["max_abs_residual"])


def test_readme_example_prints_what_it_says(tmp_path, monkeypatch):
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Multi-dimensional flows", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # our own README
    assert namespace["r"].verdict == "pass", namespace["r"].summary()
    assert (tmp_path / "out" / "result.json").exists()
