"""The validator: its verdicts on right and wrong densities, calibration, errors.

Power tests state the n at which a bug is caught; calibration tests check that
a correct density fails no more often than alpha says.  Every threshold is
derived from the statistics stated next to it.
"""

from __future__ import annotations

import json
import math

import numba
import numpy as np
import pytest
from scipy import stats

import mcflow
from mcflow import transforms
from mcflow.layers import EVALUATION_RTOL
from mcflow.registry import CASES as REGISTRY
from mcflow.validation import SCHEMA_VERSION, validate


def lognormal_pdf(y):
    return stats.lognorm.pdf(y, 1.0)


def missing_jacobian_pdf(y):
    """The seed's p_Y without the |1/y| factor: p_X(log y)."""
    with np.errstate(divide="ignore"):
        return stats.norm.pdf(np.log(y))


def test_seed_case_passes_every_layer():
    r = validate(transforms.Exp(), n=10**6)
    assert r.verdict == "pass" and r.passed
    assert [layer.status for layer in r.layers] == ["pass", "pass", "pass"]
    # Within the validator's own error bound (quadrature estimates, inverse round trip).
    assert r.normalization == pytest.approx(1.0, abs=r.layers[0].statistics["numerical_floor"])
    assert r.histogram.n == 10**6
    assert r.expected.shape == r.histogram.counts.shape
    assert r.expected.sum() + r.expected_underflow + r.expected_overflow == pytest.approx(1.0)
    assert 0 < r.detection_limit < 0.05
    assert r.sigma_detection is not None and 0 < r.sigma_detection < 0.05


def test_missing_jacobian_fails_in_the_exact_layer_before_sampling_matters():
    # The integral of p_X(log y) over y > 0 is E[e^X] = e^(1/2) = 1.6487.
    r = validate(transforms.Exp(), missing_jacobian_pdf, n=10**4)
    assert r.verdict == "fail"
    exact = r.layers[0]
    assert exact.name == "exact" and exact.status == "fail"
    assert "p_Y integrates to 1.64872 over the support, expected 1" in exact.message
    assert r.normalization == pytest.approx(math.exp(0.5), rel=1e-9)


def test_one_percent_sigma_error_fails_at_1e7():
    def slightly_wide(y):
        return stats.lognorm.pdf(y, 1.01)

    r = validate(transforms.Exp(), slightly_wide, n=10**7)
    assert r.verdict == "fail"
    assert "mc_vs_claimed" in r.failed_layers
    assert r.layers[1].status == "pass"  # the sampler itself agrees with the exact masses
    # The stated sensitivity in sigma is below the 1% error that was caught.
    assert r.sigma_detection < 0.01


def test_wrong_skew_sign_fails():
    truth = transforms.SinhArcsinh(0.5, 1.5)
    mirrored = transforms.SinhArcsinh(-0.5, 1.5)
    r = validate(truth, lambda y: mcflow.density(mirrored, y), n=10**6)
    assert r.verdict == "fail"
    assert {"exact", "mc_vs_claimed"} <= set(r.failed_layers)


def _forward_only_exp():
    return mcflow.Transform(np.exp, vectorized=True, name="exp-forward-only")


def test_tail_error_on_the_top_tenth_percent_fails_at_1e7():
    # Right in the bulk, 10% too high on the top 0.1% of mass, renormalized:
    # an L1 error of 2e-4 concentrated in the tail.  With only a forward map
    # (no exact layer), the end-to-end G test catches it at n = 1e7.
    cut = stats.lognorm.ppf(0.999, 1.0)
    bulk_scale = (1 - 1.1 * 0.001) / 0.999

    def tail_heavy(y):
        return np.where(y > cut, 1.1, bulk_scale) * stats.lognorm.pdf(y, 1.0)

    r = validate(_forward_only_exp(), tail_heavy, n=10**7)
    assert r.verdict == "fail"
    assert r.failed_layers == ("mc_vs_claimed",)
    assert r.g_pvalue <= r.alpha_per_test


# The registry's cases (the example config's), plus a mixed chain of built-ins.
CORRECT_CASES = [(case.name, case.transform(), case.mu, case.sigma) for case in REGISTRY] + [
    ("chain", transforms.Chain(transforms.Affine(0.0, 0.5), transforms.Exp(),
                               transforms.Softplus()), 0.0, 1.0),
]


@pytest.mark.parametrize(("name", "transform", "mu", "sigma"), CORRECT_CASES,
                         ids=[c[0] for c in CORRECT_CASES])
def test_correct_density_of_every_builtin_passes_at_the_default_seed(name, transform, mu, sigma):
    r = validate(transform, n=2 * 10**6, mu=mu, sigma=sigma)
    assert r.verdict == "pass", r.summary()
    floor = r.layers[0].statistics["numerical_floor"]
    assert r.normalization == pytest.approx(r.expected_normalization, abs=floor)


def test_defective_density_of_power_counts_nan_samples():
    # Power is defined on x >= 0 only: with mu = 0 half the samples are NaN and
    # the density integrates to 1/2.  That is correct, and reported.
    r = validate(transforms.Power(0.5), n=10**6)
    assert r.verdict == "pass", r.summary()
    floor = r.layers[0].statistics["numerical_floor"]
    assert r.normalization == pytest.approx(0.5, abs=floor)
    assert r.expected_nonfinite == pytest.approx(0.5, abs=floor)
    # NaN count ~ Binomial(1e6, 1/2): 5 standard deviations (sd = 500).
    assert r.histogram.nan == pytest.approx(5 * 10**5, abs=5 * math.sqrt(2.5e5))


@numba.njit(error_model="numpy")
def _square(x):
    return x * x


def test_non_injective_forward_with_a_singular_pdf_works():
    # Y = X^2 is chi-square(1), whose density is infinite at 0 (integrable).
    r = validate(mcflow.Transform(_square), lambda y: stats.chi2.pdf(y, 1), n=10**6)
    assert r.verdict == "pass", r.summary()
    assert r.layers[0].status == "skipped"
    # Forward-only: the claim's mass over the sampled region, to 10x the quadrature error
    # plus the evaluation allowance, plus the 2 x 1e-12 of X's mass outside the domain.
    bound = 10 * r.quadrature_error + EVALUATION_RTOL + 2e-12
    assert r.normalization == pytest.approx(1.0, abs=bound)


def test_cube_density_with_its_singularity_passes():
    r = validate(transforms.Cube(), n=10**6)
    assert r.verdict == "pass", r.summary()


def test_samples_outside_the_claimed_support_fail():
    # Claim a half-normal (zero mass below 0) for Y = X: the impossible
    # observations make G infinite.
    r = validate(_forward_only_identity(), lambda y: 2 * stats.norm.pdf(y) * (y > 0), n=10**4)
    assert r.verdict == "fail"
    assert math.isinf(r.g_statistic)
    assert "zero mass" in r.layers[-1].message


def _forward_only_identity():
    return mcflow.Transform(lambda x: x + 0.0, name="identity")


def test_tolerance_too_fine_for_n_is_inconclusive_and_says_how_many():
    # Fixed bins, so the cells do not change with n.  The null L1 quantiles scale as
    # n^-1/2 up to their Monte Carlo error (~3% at 2000+ replicates): 1.2 x required_n
    # must resolve the tolerance, half of it must not.
    options = {"bins": 40, "range": (0.0, 8.0), "tolerance": 1e-2}
    r = validate(transforms.Exp(), n=10**4, **options)
    assert r.verdict == "inconclusive"
    assert r.required_n > 10**4
    assert validate(transforms.Exp(), n=int(1.2 * r.required_n), **options).verdict == "pass"
    assert validate(transforms.Exp(), n=r.required_n // 2, **options).verdict == "inconclusive"


def _lognormal_pdf(y):
    with np.errstate(all="ignore"):
        return np.where(y > 0, np.exp(-0.5 * np.log(y) ** 2) / (y * math.sqrt(2 * math.pi)), 0.0)


def _square_branches():
    return [(np.sqrt, (0.0, math.inf)), (lambda y: -np.sqrt(y), (0.0, math.inf))]


def _square_pdf(y, mu=0.5):
    with np.errstate(all="ignore"):
        r = np.sqrt(np.maximum(y, 0.0))
        return np.where(y > 0, (stats.norm.pdf(r - mu) + stats.norm.pdf(-r - mu)) / (2 * r), 0.0)


CALIBRATION_MODES = {
    "with inverse": lambda: (transforms.Exp(), None, 0.0),
    "forward-only": lambda: (mcflow.Transform(np.exp, vectorized=True, name="exp-fwd"),
                             _lognormal_pdf, 0.0),
    "non-injective": lambda: (mcflow.Transform(np.square, vectorized=True, name="square",
                                               inverse_branches=_square_branches()),
                              _square_pdf, 0.5),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(CALIBRATION_MODES))
def test_calibration_p_values_uniform_and_failure_rate_at_most_alpha(mode):
    # 500 independent seeds of a correct case per mode.  Under the null each Monte Carlo
    # p-value -- each statistic's and the min-p combination the verdict uses -- is
    # (super-)uniform: a one-sided KS test of the 500 values against U(0, 1) rejects a
    # calibrated one with probability 1e-3.  The gate's failures are Binomial(500, <= alpha):
    # more than its 1 - 1e-3 quantile fails a calibrated gate with probability < 1e-3.
    transform, pdf, mu = CALIBRATION_MODES[mode]()
    alpha = 0.05
    seeds = range(1000, 1500)
    pvalues = {"ks": [], "l1": [], "g": [], "ad": [], "combined": []}
    failures = 0
    for seed in seeds:
        r = validate(transform, pdf, n=20_000, seed=seed, alpha=alpha, mu=mu)
        for name in ("ks", "l1", "g", "ad"):
            pvalues[name].append(getattr(r, f"{name}_pvalue"))
        pvalues["combined"].append(r.combined_pvalue)
        failures += r.verdict == "fail"
    for name, values in pvalues.items():
        # Monte Carlo p-values are super-uniform: test only that they are not
        # too small (one-sided: the empirical CDF must not exceed the uniform).
        assert stats.kstest(values, "uniform", alternative="greater").pvalue > 1e-3, name
    assert failures <= stats.binom.ppf(1 - 1e-3, len(seeds), alpha)


def test_non_injective_square_with_branches_gets_the_exact_layers():
    square = mcflow.Transform(np.square, vectorized=True, name="square",
                              inverse_branches=_square_branches())
    r = validate(square, lambda y: _square_pdf(y, 3.0), n=10**4, mu=3.0)
    assert [(layer.name, layer.status) for layer in r.layers] == [
        ("exact", "pass"), ("mc_vs_exact", "pass"), ("mc_vs_claimed", "pass")], r.summary()


def test_forgotten_branch_fails_sample_free_at_n_1e4():
    # The x^2 density with mu = 3 and its negative branch forgotten, renormalized: the
    # missing branch holds Phi(-3) = 1.3e-3 of the mass, invisible to 1e4 samples (the
    # detection limit is L1 ~ 0.2) but 1e5 x the exact layer's float64 floor (2e-8).
    def forgotten(y):
        with np.errstate(all="ignore"):
            r = np.sqrt(np.maximum(y, 0.0))
            return np.where(y > 0, stats.norm.pdf(r - 3.0) / (2 * r) / stats.norm.cdf(3.0), 0)

    square = mcflow.Transform(np.square, vectorized=True, name="square",
                              inverse_branches=_square_branches())
    r = validate(square, forgotten, n=10**4, mu=3.0, seed=0)
    assert r.failed_layers == ("exact",), r.summary()


def test_inverse_branches_are_checked():
    with pytest.raises(ValueError, match="not both"):
        mcflow.Transform(np.square, np.sqrt, vectorized=True,
                         inverse_branches=_square_branches())
    with pytest.raises(TypeError, match=r"inverse_branches\[0\] must be a pair"):
        mcflow.Transform(np.square, vectorized=True, inverse_branches=[(np.sqrt,)])
    with pytest.raises(ValueError, match="lo < hi"):
        mcflow.Transform(np.square, vectorized=True, inverse_branches=[(np.sqrt, (1, 0))])


def test_result_to_dict_is_versioned_json():
    r = validate(transforms.Exp(), n=10**5)
    payload = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert payload["schema"] == SCHEMA_VERSION
    assert payload["verdict"] == "pass"
    assert [layer["name"] for layer in payload["layers"]] == ["exact", "mc_vs_exact",
                                                              "mc_vs_claimed"]
    assert sum(payload["histogram"]["counts"]) == r.histogram.in_range
    assert set(payload["statistics"]) == {"ks_statistic", "ks_pvalue", "ks_asymptotic_pvalue",
                                          "l1", "l1_pvalue", "g_statistic", "g_pvalue",
                                          "ad_statistic", "ad_pvalue", "combined_pvalue",
                                          "combined_pvalue_floor"}


def test_user_bins_override_the_default():
    r = validate(transforms.Exp(), n=10**5, bins=50, range=(0.0, 10.0))
    assert r.histogram.bins == 50
    assert r.histogram.edges[-1] == 10.0
    assert not r.default_bins


def test_vectorized_transform_with_inverse_gets_the_exact_layers():
    t = mcflow.Transform(np.exp, np.log, lambda x: x, vectorized=True)
    r = validate(t, n=10**5)
    assert [layer.status for layer in r.layers] == ["pass", "pass", "pass"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, r"alpha must be in \(0, 1\), got 0.0"),
        ({"alpha": 1.5}, ValueError, "alpha must be in"),
        ({"tolerance": -1.0}, ValueError, "tolerance must be a positive"),
        ({"pdf": 3.0}, TypeError, "pdf must be a callable"),
        ({"range": (0, 1)}, ValueError, "range needs an integer bins"),
        ({"n": 0}, ValueError, "n must be a positive integer"),
        ({"sigma": -1.0}, ValueError, "sigma must be > 0"),
    ],
)
def test_bad_input_is_rejected(kwargs, error, match):
    arguments = {"n": 1000, **kwargs}
    pdf = arguments.pop("pdf", None)
    with pytest.raises(error, match=match):
        validate(transforms.Exp(), pdf, **arguments)


def test_forward_only_transform_needs_a_pdf():
    with pytest.raises(ValueError, match="has no inverse and log_abs_det_jacobian"):
        validate(_forward_only_exp(), n=1000)


@pytest.mark.parametrize(("transform", "sigma", "bins"), [
    (transforms.Tanh(), 5.0, {}),
    (transforms.Tanh(), 10.0, {}),
    (transforms.Sigmoid(), 20.0, {}),
    # User bins ending exactly at the support's ends: values rounded onto 1.0
    # are counted by the kernel as overflow, and the exact masses follow.
    (transforms.Tanh(), 10.0, {"bins": 50, "range": (-1.0, 1.0)}),
    (transforms.Sigmoid(), 20.0, {"bins": 50, "range": (0.0, 1.0)}),
], ids=["tanh-sigma5", "tanh-sigma10", "sigmoid-sigma20", "tanh-user-bins", "sigmoid-user-bins"])
def test_saturating_transforms_pass_with_their_correct_density(transform, sigma, bins):
    # tanh(x) is exactly 1.0 in float64 for x > 19.06: 6% of N(0, 10) lands on
    # the support's end.  The band float64 cannot resolve next to the end is
    # taken from the exact masses, so every layer runs, and passes.
    r = validate(transform, n=10**7 if not bins else 10**5, sigma=sigma, **bins)
    assert r.verdict == "pass", r.summary()
    assert [layer.status for layer in r.layers] == ["pass", "pass", "pass"]


def test_forward_only_overflow_to_inf_is_expected_non_finite_mass():
    # Without an inverse nothing knows the mass beyond the largest float: +inf
    # samples stay non-finite and must match the claimed density's deficit.
    def forward(x):
        with np.errstate(over="ignore"):
            return np.exp(np.exp(x))

    def pdf(y):
        inside = y > 1.0
        safe = np.where(inside, y, np.e)
        return np.where(inside, stats.norm.pdf(np.log(np.log(safe)), 0.0, 2.0)
                        / (safe * np.log(safe)), 0.0)

    t = mcflow.Transform(forward, vectorized=True, support=(1.0, np.inf))
    r = validate(t, pdf, n=10**5, sigma=2.0)
    assert r.histogram.posinf > 0
    assert r.verdict == "pass", r.summary()


def test_overflow_to_inf_counts_as_the_far_tail():
    # exp(exp(x)) is +inf for x > 6.56 (5e-4 of N(0, 2)): a sample of the
    # unbounded right tail, not an impossible outcome.
    r = validate(transforms.Chain(transforms.Exp(), transforms.Exp()), n=10**5, sigma=2.0)
    assert r.histogram.posinf > 0
    assert r.verdict == "pass", r.summary()


def test_user_bins_reaching_past_the_support():
    r = validate(transforms.Exp(), n=10**5, bins=50, range=(-1.0, 10.0))
    assert r.verdict == "pass", r.summary()
    assert r.exact[:4].sum() == 0.0  # bins below 0 hold no exact mass


def test_impossible_observations_lead_the_worst_bins():
    r = validate(_forward_only_identity(), lambda y: 2 * stats.norm.pdf(y) * (y > 0), n=10**4)
    assert math.isinf(r.worst_bins[0].residual)
    assert r.worst_bins[0].observed > 0 and r.worst_bins[0].expected == 0.0


@pytest.mark.parametrize("pdf", [lambda y: -np.ones_like(y), lambda y: np.full_like(y, np.nan)],
                         ids=["negative", "nan"])
def test_a_claim_that_is_no_density_fails_with_a_verdict(pdf):
    result = validate(transforms.Exp(), pdf, n=10**4, seed=0)
    assert result.verdict == "fail"
    assert "(NaN or negative)" in " ".join(result.messages)


def test_alpha_below_the_null_resolution_is_inconclusive_not_a_pass():
    # 1e5 replicates resolve p-values down to ~4 / 1e5; at alpha = 3e-5 no Monte Carlo
    # layer can fail, so even a density off by a whole unit must not "pass"
    shifted = mcflow.Transform(lambda x: x + 1, vectorized=True, name="shift")
    r = validate(shifted, stats.norm.pdf, n=20_000, alpha=3e-5)
    assert r.verdict == "inconclusive", r.summary()


def test_branch_round_trip_only_uses_each_branch_on_its_interval():
    # bins reaching below 0 must not inflate the exact floor of |x| (it stays 2e-8-sized)
    absolute = mcflow.Transform(np.abs, vectorized=True, name="abs", inverse_branches=[
        (lambda y: y, (0.0, math.inf)), (lambda y: -y, (0.0, math.inf))])

    def too_heavy(y):
        return np.where(y > 0, 2.002 * stats.norm.pdf(y), 0.0)

    r = validate(absolute, too_heavy, n=10**5, bins=50, range=(-1.0, 4.0))
    assert "exact" in r.failed_layers, r.summary()


def test_claimed_cdf_is_not_evaluated_outside_the_support():
    def cdf(y):
        with np.errstate(all="ignore"):
            return stats.norm.cdf(np.log(y))  # NaN below 0, as libraries give it

    r = validate(transforms.Exp(), cdf=cdf, n=10**5, bins=50, range=(-1.0, 5.0))
    assert r.verdict == "pass", r.summary()
