"""The d-dimensional histogram (d <= 3), the flow proposal, Dask and the pytest helper."""

from __future__ import annotations

import numpy as np
import pytest
from nd_flows import flows
from scipy import stats

from mcflow import nd
from mcflow._nd_histogram import claimed_cells, fit_grid, histogram_layer
from mcflow._nd_regions import fit_regions
from mcflow._nd_stream import rows
from mcflow.testing import assert_flow_density

N = 10**5
ALPHA = 1e-3


def _flow(name):
    return next(f for f in flows(int(name.split("=")[-1])) if f.name == name)


def _case(flow, extras=True):
    return nd.Case(flow.forward, flow.log_prob, dim=flow.dim, name=flow.name,
                   inverse=flow.inverse if extras else None,
                   log_abs_det_jacobian=flow.log_abs_det_jacobian if extras else None)


def _layer(result, name):
    return next(layer for layer in result.layers if layer.name == name)


def _grid_counts(flow, shift, n, seed):
    """Grid, claimed masses and the counts of n samples of T(x) + shift."""
    pilot = flow.forward(rows(seed, "pilot", 0, 2**15, flow.dim))
    regions = fit_regions(pilot)
    grid = fit_grid(pilot, regions.centre, regions.whitening)
    masses, errors, nans = claimed_cells(flow.log_prob, grid, n)
    x = np.random.default_rng(seed).standard_normal((n, flow.dim))
    counts = np.bincount(grid.cell_of(flow.forward(x) + shift), minlength=grid.cells)
    return counts, masses, errors, nans


def test_histogram_layer_runs_up_to_d3_and_its_cells_are_integrated_exactly():
    lu = nd.validate(_case(_flow("lu d=3")), n=N, seed=3, alpha=ALPHA)
    layer = _layer(lu, "histogram")
    assert layer.status == "pass", lu.summary()
    assert layer.statistics["cells"] == 6**3 + 1
    # a linear map of a normal: the grid's mass is known in closed form only through
    # the outside cell; the quadrature's own bound must be far below one count's noise
    assert layer.statistics["quadrature_error"] < 0.1 * np.sqrt(1.0 / N)
    assert "histogram" not in {layer.name for layer in nd.validate(
        _case(_flow("lu d=5")), n=N, seed=3, alpha=ALPHA).layers}


def test_histogram_catches_samples_shifted_by_a_tenth_of_a_sigma():
    # y + 0.1 against the claim of y: an L1 shift of ~0.08 in mass, far above the
    # null's ~sqrt(cells / n) ~ 0.04 at n = 1e5; the unshifted counts must pass.
    flow = _flow("coupling d=2")
    shifted = histogram_layer(*_grid_counts(flow, 0.1, N, 5), 0.01)
    same = histogram_layer(*_grid_counts(flow, 0.0, N, 5), 0.01)
    assert shifted.status == "fail", shifted.message
    assert same.status == "pass", same.message
    assert shifted.statistics["combined_pvalue"] < 1e-3 < same.statistics["combined_pvalue"]


def test_histogram_names_a_density_that_integrates_to_more_than_one():
    result = nd.validate(_case(_flow("actnorm-scalar-not-times-d d=3")), n=N, seed=0)
    layer = _layer(result, "histogram")
    assert layer.status == "fail" and "integrates to more than 1" in layer.message


@pytest.mark.parametrize("name", ["exp-first d=2", "spline d=20", "chain d=20"])
def test_the_flow_proposal_makes_far_from_gaussian_flows_conclusive(name):
    flow = _flow(name)
    with_flow = nd.validate(_case(flow), n=N, seed=6, alpha=ALPHA)
    normalisation = _layer(with_flow, "normalisation")
    assert with_flow.verdict == "pass", with_flow.summary()
    assert "T applied to" in normalisation.message
    # with T's own pushforward, correct weights are bounded by lam^d / (1 - eps)
    assert normalisation.statistics["pareto_k"] <= 0.5
    assert normalisation.statistics["ess"] >= 0.25 * normalisation.statistics["proposal_samples"]


def test_the_flow_proposal_still_sees_mass_off_the_image():
    result = nd.validate(_case(_flow("mass-outside-image d=5")), n=N, seed=0, alpha=ALPHA)
    layer = _layer(result, "normalisation")
    assert layer.status == "fail" and "T applied to" in layer.message
    # q integrates to 2: the estimate must be within a few standard errors of it
    assert abs(layer.statistics["z"] - 2.0) < 5 * layer.statistics["standard_error"]


def test_dask_gives_bitwise_the_same_result():
    distributed = pytest.importorskip("distributed")
    flow = _flow("chain d=3")
    local = nd.validate(_case(flow), n=5 * 2**16 + 3, seed=8).to_dict()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        remote = nd.validate(_case(flow), n=5 * 2**16 + 3, seed=8, client=client).to_dict()
    local.pop("seconds")
    remote.pop("seconds")
    assert local == remote


def test_assert_flow_density_passes_a_right_flow_and_explains_a_wrong_one():
    result = assert_flow_density(_case(_flow("made d=5")), n=N, seed=1)
    assert result.verdict == "pass"
    with pytest.raises(AssertionError) as failure:
        assert_flow_density(_case(_flow("made-sign d=5")), n=N, seed=1)
    message = str(failure.value)
    test_id = ("tests/test_nd_layers.py::"
               "test_assert_flow_density_passes_a_right_flow_and_explains_a_wrong_one")
    for needle in ("does not match (fail; failing layers: structure, pointwise",
                   "[pointwise] fail", f"reproduce with: pytest {test_id} --mcflow-seed 1"):
        assert needle in message


@pytest.mark.slow
def test_histogram_calibration_at_d2():
    # 300 seeds of a correct flow at alpha = 0.05 over three statistical layers:
    # failures ~ Binomial(300, <= 0.05); beyond its 1 - 1e-3 quantile is miscalibration.
    flow = _flow("lu d=2")
    failures = sum(nd.validate(_case(flow), n=2**14, seed=seed, alpha=0.05).verdict == "fail"
                   for seed in range(300))
    assert failures <= stats.binom.ppf(1 - 1e-3, 300, 0.05)


def test_impossible_and_nan_densities_at_samples_are_counted_apart():
    flow = _flow("coupling d=2")

    def log_prob(y):  # -inf on one half-plane, NaN on a thin slab, right elsewhere
        out = flow.log_prob(y)
        out[y[:, 0] > 2.0] = -np.inf
        out[(y[:, 1] > 0.0) & (y[:, 1] < 0.01)] = np.nan
        return out

    result = nd.validate(nd.Case(flow.forward, log_prob, dim=2, name="holes"), n=N, seed=0)
    counters = result.counters
    assert counters["zero_density"] > 0 and counters["nan_log_q"] > 0
    assert counters["invalid_log_q"] == counters["zero_density"] + counters["nan_log_q"]
    assert "mc_vs_claimed" in result.failed_layers


@pytest.mark.parametrize(("name", "cause"), [
    ("actnorm-scalar-not-times-d d=5", "off by a constant factor"),
    ("spline-tail d=5", "an error confined to a region"),
])
def test_the_pointwise_layer_names_the_likely_cause(name, cause):
    layer = _layer(nd.validate(_case(_flow(name)), n=N, seed=0), "pointwise")
    assert layer.status == "fail" and cause in layer.message, layer.message
    if "constant" in cause:  # log det = log a instead of d log a (a = 1.05, d = 5): q x 1.05^4
        assert f"{1.05 ** 4:.4g}" in layer.message
