"""``mcflow.from_torch`` / ``mcflow.from_jax`` on the real libraries: one line per validation.

Every case is ``mcflow.validate(mcflow.from_torch(dist), n=N)`` (or from_jax),
with nothing but the library's own objects: correct distributions must pass,
planted bugs (library subclasses with a wrong log-det, a wrong CDF sign, a
log_prob that forgets the Jacobian, a spline wrong only beyond its tail bound)
must fail.  Each library's tests skip when it is not installed
(``make test-adapters`` installs them all).

Every validation here runs at alpha = 1e-3, the smallest the calibrated layers
resolve (up to three Monte Carlo layers share it, and 3.3e-4 per layer is above the
5e-5 floor of the null's 1e5 replicates; 1e-4 makes them inconclusive).  This file
and ``test_real_libraries`` hold 83 validations of correct densities (27 here,
46 + 10 at large n in the corpus), so a new stream, which re-draws every sample,
fails one of them with probability at most 83 * 1e-3 = 8%; at alpha = 0.01 per
case it was 1 - 0.99^83 = 57%, and on the stream change one did fail: a correct
nflows spline at combined p = 0.0017 (KS p = 5e-4), whose 20 other seeds gave
p-values spread over (0, 1).  At N = 1e6 and alpha = 1e-3 the detection limit is
L1 ~ 2.6e-2 (95% power); every planted bug moves L1 by more than 0.1 or fails a
sample-free layer, so the failures are certain, not lucky.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import mcflow

pytestmark = pytest.mark.filterwarnings("ignore")  # the libraries' own deprecation noise

N = 10**6
ALPHA = 1e-3  # see the module docstring


def _verdict(case: mcflow.Case, n: int = N) -> mcflow.ValidationResult:
    return mcflow.validate(case, n=n, alpha=ALPHA)


def _assert_passes(case: mcflow.Case) -> mcflow.ValidationResult:
    result = _verdict(case)
    assert result.verdict == "pass", result.summary()
    return result


def _assert_fails(case: mcflow.Case, layer: str | None = None) -> mcflow.ValidationResult:
    result = _verdict(case)
    assert result.verdict == "fail", result.summary()
    if layer is not None:
        assert layer in result.failed_layers, result.summary()
    return result


# -- torch.distributions -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _normal(torch, mu=0.0, sigma=1.0):
    return torch.distributions.Normal(torch.tensor(mu), torch.tensor(sigma))


def test_torch_lognormal_passes_with_every_layer(torch):
    case = mcflow.from_torch(torch.distributions.LogNormal(0.3, 0.7))
    assert (case.mu, case.sigma, case.library) == (pytest.approx(0.3), pytest.approx(0.7),
                                                   "torch")
    assert case.transform.support == (0.0, math.inf)
    result = _assert_passes(case)
    assert {layer.name for layer in result.layers if layer.status == "pass"} == {
        "exact", "mc_vs_exact", "mc_vs_claimed", "cdf_vs_exact", "mc_vs_cdf"}


def test_torch_chain_passes(torch):
    t = torch.distributions.transforms
    dist = torch.distributions.TransformedDistribution(
        _normal(torch, 0.3, 0.7), [t.AffineTransform(0.5, -0.8), t.ExpTransform(),
                                   t.PowerTransform(torch.tensor(-1.5))])
    _assert_passes(mcflow.from_torch(dist))


def test_torch_nested_transformed_distribution_passes(torch):
    t = torch.distributions.transforms
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.LogNormal(0.0, 0.5), [t.AffineTransform(1.0, -2.0)])
    case = mcflow.from_torch(dist)
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(case.transform.forward_array(x), 1.0 - 2.0 * np.exp(x))
    _assert_passes(case)


def test_torch_tanh_passes(torch):
    dist = torch.distributions.TransformedDistribution(
        _normal(torch, 0.0, 2.0), [torch.distributions.transforms.TanhTransform()])
    case = mcflow.from_torch(dist)
    assert case.transform.support == (-1.0, 1.0)
    _assert_passes(case)


def test_torch_softplus_logdet_bug_fails(torch):
    t = torch.distributions.transforms

    class SoftplusWrongLogDet(t.SoftplusTransform):
        def log_abs_det_jacobian(self, x, y):
            return -torch.nn.functional.softplus(x)  # right: -softplus(-x)

    dist = torch.distributions.TransformedDistribution(_normal(torch), [SoftplusWrongLogDet()])
    _assert_fails(mcflow.from_torch(dist), "exact")


def test_torch_power_cdf_sign_bug_fails_in_the_cdf_layers_only(torch):
    """pytorch #96494: PowerTransform.sign = +1 for a negative exponent: cdf is 1 - F."""
    t = torch.distributions.transforms

    class PowerWithConstantSign(t.PowerTransform):
        sign = +1

    dist = torch.distributions.TransformedDistribution(
        _normal(torch), [t.ExpTransform(), PowerWithConstantSign(torch.tensor(-1.0))])
    result = _assert_fails(mcflow.from_torch(dist))
    assert set(result.failed_layers) == {"cdf_vs_exact", "mc_vs_cdf"}, result.summary()
    # Without the CDF the same distribution's density is correct.
    assert _verdict(mcflow.from_torch(dist, cdf=False)).verdict == "pass"


def test_torch_float32_mode_states_its_resolution(torch):
    dist = torch.distributions.LogNormal(0.0, 1.0)
    case = mcflow.from_torch(dist, dtype="float32")
    assert case.dtype == "float32"
    # float32 log_prob of a lognormal: a few ulps of 2^-24 relative, measured vs float64
    assert 2.0**-24 <= case.pdf_rtol < 1e-5
    result = _assert_passes(case)
    assert any("float32" in w and f"{case.pdf_rtol:.1e}" in w for w in result.warnings)


def test_torch_float32_parameters_are_promoted(torch):
    dist = torch.distributions.LogNormal(torch.tensor(0.1, dtype=torch.float32),
                                         torch.tensor(0.9, dtype=torch.float32))
    case = mcflow.from_torch(dist)
    assert case.dtype == "float64"
    y = np.array([0.5, 1.0, 3.0])
    expected = np.exp(-0.5 * ((np.log(y) - np.float32(0.1)) / np.float32(0.9)) ** 2) / (
        y * np.float32(0.9) * math.sqrt(2 * math.pi))
    # float64 evaluation of the float32 parameters: agreement to float64 rounding
    np.testing.assert_allclose(case.pdf(y), expected, rtol=1e-13)
    assert dist.loc.dtype == torch.float32  # the user's object is left alone


def test_torch_rejects_what_it_cannot_validate(torch):
    with pytest.raises(TypeError, match="base distribution is Uniform"):
        mcflow.from_torch(torch.distributions.TransformedDistribution(
            torch.distributions.Uniform(0.0, 1.0), [torch.distributions.transforms.ExpTransform()]))
    with pytest.raises(ValueError, match="event shape"):  # a batch of two 1-D ones
        mcflow.from_torch(torch.distributions.TransformedDistribution(
            torch.distributions.Normal(torch.zeros(2), torch.ones(2)),
            [torch.distributions.transforms.ExpTransform()]))
    # event shape (2,) is a d-dimensional flow: an nd.Case
    assert mcflow.from_torch(torch.distributions.TransformedDistribution(
        torch.distributions.Independent(
            torch.distributions.Normal(torch.zeros(2), torch.ones(2)), 1),
        [torch.distributions.transforms.ExpTransform()])).dim == 2
    with pytest.raises(TypeError, match="not one"):
        mcflow.from_torch(torch.distributions.Gamma(2.0, 1.0))
    with pytest.raises(ValueError, match="dtype"):
        mcflow.from_torch(torch.distributions.LogNormal(0.0, 1.0), dtype="float16")


def test_torch_concurrent_calls_are_bitwise_reproducible(torch):
    assert not mcflow.from_torch(torch.distributions.LogNormal(0.0, 1.0)).transform.concurrent
    case = mcflow.from_torch(torch.distributions.LogNormal(0.0, 1.0), concurrent=True)
    assert case.transform.concurrent
    edges = np.linspace(0.0, 10.0, 101)
    n = 3 * 2**20 + 17  # several calls per batch, and a ragged end
    one = mcflow.histogram(case.transform, n, bins=edges, seed=5, threads=1)
    two = mcflow.histogram(case.transform, n, bins=edges, seed=5, threads=2)
    np.testing.assert_array_equal(one.counts, two.counts)
    assert (one.overflow, one.underflow) == (two.overflow, two.underflow)


# -- pyro ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pyro(torch):
    return pytest.importorskip("pyro")


def _pyro_dist(pyro, transforms, mu=0.0, sigma=1.0, shape=()):
    import torch
    pd = pyro.distributions
    base = pd.Normal(torch.full(shape, mu), torch.full(shape, sigma))
    return pd.TransformedDistribution(base, transforms)


def _pyro_spline(pyro, seed=1):
    import torch
    torch.manual_seed(seed)
    spline = pyro.distributions.transforms.Spline(1, count_bins=8, bound=3.0)
    with torch.no_grad():  # untrained, but far from the identity
        for parameter in spline.parameters():
            parameter.mul_(2.0)
    return spline


def test_pyro_spline_passes(pyro):
    _assert_passes(mcflow.from_torch(_pyro_dist(pyro, [_pyro_spline(pyro)], shape=(1,))))


def test_pyro_chain_of_affine_and_spline_passes(pyro):
    pt = pyro.distributions.transforms
    dist = _pyro_dist(pyro, [pt.AffineTransform(0.5, 2.0), _pyro_spline(pyro, 2)], shape=(1,))
    _assert_passes(mcflow.from_torch(dist))


def test_pyro_elu_passes_and_its_wrong_declared_support_is_reported(pyro):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case = mcflow.from_torch(_pyro_dist(pyro, [pyro.distributions.transforms.ELUTransform()]))
    assert any("declares the support (0, inf)" in str(w.message) for w in caught)
    result = _assert_passes(case)
    assert any("declares the support" in w for w in result.warnings)


def test_pyro_leaky_relu_passes(pyro):
    _assert_passes(mcflow.from_torch(
        _pyro_dist(pyro, [pyro.distributions.transforms.LeakyReLUTransform()], sigma=2.0)))


def test_pyro_elu_logdet_bug_fails(pyro):
    class ELUWrongLogDet(pyro.distributions.transforms.ELUTransform):
        def log_abs_det_jacobian(self, x, y):
            return x  # right: min(x, 0)

    _assert_fails(mcflow.from_torch(_pyro_dist(pyro, [ELUWrongLogDet()])), "exact")


def test_pyro_spline_without_logdet_fails(pyro):
    import torch
    spline = _pyro_spline(pyro)

    class Forgetful(type(spline)):
        def log_abs_det_jacobian(self, x, y):
            return torch.zeros_like(x)

    spline.__class__ = Forgetful
    _assert_fails(mcflow.from_torch(_pyro_dist(pyro, [spline], shape=(1,))), "exact")


# -- zuko --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zuko(torch):
    return pytest.importorskip("zuko")


def _perturbed(flow, seed, scale):
    import torch
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return flow


def test_zuko_nsf_spline_passes(zuko):
    import torch
    torch.manual_seed(0)
    flow = _perturbed(zuko.flows.NSF(features=1, context=0, bins=8, transforms=2), 0, 0.5)
    case = mcflow.from_torch(flow)  # the lazy flow: called without context
    assert case.library == "zuko" and case.transform.has_inverse
    _assert_passes(case)


def test_zuko_maf_passes(zuko):
    import torch
    torch.manual_seed(0)
    _assert_passes(mcflow.from_torch(zuko.flows.MAF(features=1, context=0, transforms=3)()))


def _zuko_chain(zuko, affine=None):
    """data -> noise: a signed power, then an affine map (both R -> R)."""
    import torch
    zt = zuko.transforms
    return zuko.flows.Flow(
        [zuko.flows.UnconditionalTransform(zt.SignedPowerTransform, torch.tensor([0.4]),
                                           buffer=True),
         zuko.flows.UnconditionalTransform(affine or zt.MonotonicAffineTransform,
                                           torch.tensor([0.5]), torch.tensor([0.7]),
                                           buffer=True)],
        zuko.flows.UnconditionalDistribution(zuko.distributions.DiagNormal, torch.zeros(1),
                                             torch.ones(1), buffer=True))


def test_zuko_chain_of_fixed_transforms_passes(zuko):
    _assert_passes(mcflow.from_torch(_zuko_chain(zuko)))


def test_zuko_log_prob_without_ladj_fails(zuko):
    import torch
    torch.manual_seed(0)
    dist = _perturbed(zuko.flows.NSF(features=1, context=0, bins=8, transforms=2), 0, 0.5)()

    class Forgetful(zuko.distributions.NormalizingFlow):
        def log_prob(self, x):
            return self.base.log_prob(self.transform(x))  # the ladj term forgotten

    _assert_fails(mcflow.from_torch(Forgetful(dist.transform, dist.base)))


def test_zuko_affine_with_flipped_ladj_fails(zuko):
    class AffineFlippedLadj(zuko.transforms.MonotonicAffineTransform):
        def log_abs_det_jacobian(self, x, y):
            return -self.log_scale.expand(x.shape)  # right: +log_scale

    _assert_fails(mcflow.from_torch(_zuko_chain(zuko, AffineFlippedLadj)), "exact")


# -- nflows ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nflows(torch):
    return pytest.importorskip("nflows")


def _nflows_spline(seed=0, scale=1.0):
    import torch
    from nflows.transforms import PiecewiseRationalQuadraticCDF
    torch.manual_seed(seed)
    spline = PiecewiseRationalQuadraticCDF(shape=[1], num_bins=8, tails="linear",
                                           tail_bound=3.0)
    with torch.no_grad():
        for parameter in spline.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return spline


def _flow(nflows, transform):
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow
    return Flow(transform, StandardNormal([1]))


def test_nflows_rqs_spline_passes(nflows):
    _assert_passes(mcflow.from_torch(_flow(nflows, _nflows_spline())))


def test_nflows_chain_passes(nflows):
    from nflows.transforms import CompositeTransform, PointwiseAffineTransform
    chain = CompositeTransform([PointwiseAffineTransform(0.5, 2.0), _nflows_spline(1),
                                PointwiseAffineTransform(-1.0, 0.5)])
    _assert_passes(mcflow.from_torch(_flow(nflows, chain)))


def test_nflows_diagonal_normal_base_passes(nflows):
    import torch
    from nflows.distributions.normal import DiagonalNormal
    from nflows.flows.base import Flow
    base = DiagonalNormal([1])
    with torch.no_grad():
        base.mean_.fill_(0.4)
        base.log_std_.fill_(math.log(1.5))
    case = mcflow.from_torch(Flow(_nflows_spline(2), base))
    assert (case.mu, case.sigma) == (pytest.approx(0.4), pytest.approx(1.5))
    _assert_passes(case)


def test_nflows_spline_wrong_beyond_its_tail_bound_fails(nflows):
    spline = _nflows_spline()

    class TailBug(type(spline)):
        """The linear tails claim 1.5x the density beyond |y| > 3 (outputs unchanged)."""

        def forward(self, inputs, context=None):
            outputs, logabsdet = super().forward(inputs, context)
            tail = (inputs.abs() > 3.0).reshape(logabsdet.shape)
            return outputs, logabsdet + tail * math.log(1.5)

    spline.__class__ = TailBug
    _assert_fails(mcflow.from_torch(_flow(nflows, spline)))


def test_nflows_affine_with_log_scale_sign_bug_fails(nflows):
    import torch
    from nflows.transforms import PointwiseAffineTransform

    class AffineSignBug(PointwiseAffineTransform):
        def forward(self, inputs, context=None):
            outputs, logabsdet = super().forward(inputs, context)
            return outputs, -logabsdet

    chain_bug = AffineSignBug(0.0, 2.0)
    _assert_fails(mcflow.from_torch(_flow(nflows, chain_bug)), "exact")
    assert torch is not None


# -- numpyro -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numpyro():
    return pytest.importorskip("numpyro")


def _numpyro_dist(numpyro, transforms, mu=0.0, sigma=1.0):
    nd = numpyro.distributions
    return nd.TransformedDistribution(nd.Normal(mu, sigma), transforms)


def test_numpyro_exp_passes_with_its_cdf(numpyro):
    exp = numpyro.distributions.transforms.ExpTransform()
    case = mcflow.from_jax(_numpyro_dist(numpyro, [exp]))
    assert case.cdf is not None and case.transform.support == (0.0, math.inf)
    result = _assert_passes(case)
    assert "cdf_vs_exact" in {layer.name for layer in result.layers if layer.status == "pass"}


def test_numpyro_chain_passes(numpyro):
    nt = numpyro.distributions.transforms
    _assert_passes(mcflow.from_jax(_numpyro_dist(
        numpyro, [nt.SoftplusTransform(), nt.AffineTransform(1.0, -2.0)], 0.5, 1.5)))


def test_numpyro_sigmoid_passes(numpyro):
    nt = numpyro.distributions.transforms
    _assert_passes(mcflow.from_jax(_numpyro_dist(numpyro, [nt.SigmoidTransform()], sigma=1.5)))


def test_numpyro_softplus_logdet_bug_fails(numpyro):
    import jax
    nt = numpyro.distributions.transforms

    class SoftplusWrongLogDet(nt.SoftplusTransform):
        def log_abs_det_jacobian(self, x, y, intermediates=None):
            return -jax.nn.softplus(x)

    _assert_fails(mcflow.from_jax(_numpyro_dist(numpyro, [SoftplusWrongLogDet()], 0.5, 1.5)),
                  "exact")


def test_numpyro_exp_with_flipped_logdet_fails(numpyro):
    nt = numpyro.distributions.transforms

    class ExpFlipped(nt.ExpTransform):
        def log_abs_det_jacobian(self, x, y, intermediates=None):
            return -x

    _assert_fails(mcflow.from_jax(_numpyro_dist(numpyro, [ExpFlipped()])), "exact")


def test_numpyro_float32_mode_and_user_setting_left_alone(numpyro):
    import jax
    before = jax.config.jax_enable_x64
    exp = numpyro.distributions.transforms.ExpTransform()
    case = mcflow.from_jax(_numpyro_dist(numpyro, [exp]), dtype="float32")
    assert case.dtype == "float32" and 2.0**-24 <= case.pdf_rtol < 1e-5
    _assert_passes(case)
    assert jax.config.jax_enable_x64 == before


# -- distrax -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def distrax():
    return pytest.importorskip("distrax")


def _distrax_dist(distrax, bijector, mu=0.0, sigma=1.0):
    return distrax.Transformed(distrax.Normal(mu, sigma), bijector)


def test_distrax_tanh_passes(distrax):
    _assert_passes(mcflow.from_jax(_distrax_dist(distrax, distrax.Tanh(), sigma=2.0)))


def test_distrax_chain_passes(distrax):
    chain = distrax.Chain([distrax.Sigmoid(), distrax.ScalarAffine(shift=1.0, scale=-2.5)])
    _assert_passes(mcflow.from_jax(_distrax_dist(distrax, chain, 0.2, 0.5)))


def test_distrax_rational_quadratic_spline_passes(distrax):
    import jax
    params = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (3 * 8 + 1,))
    spline = distrax.RationalQuadraticSpline(params, range_min=-3.0, range_max=3.0)
    _assert_passes(mcflow.from_jax(_distrax_dist(distrax, spline)))


def test_distrax_negative_scale_log_bug_fails(distrax):
    import jax.numpy as jnp
    shift, scale = 1.0, -2.5
    bijector = distrax.Lambda(
        forward=lambda x: shift + scale * x, inverse=lambda y: (y - shift) / scale,
        forward_log_det_jacobian=lambda x: jnp.full_like(x, jnp.log(scale)),  # NaN: no abs
        inverse_log_det_jacobian=lambda y: jnp.full_like(y, -jnp.log(scale)),
        event_ndims_in=0)
    _assert_fails(mcflow.from_jax(_distrax_dist(distrax, bijector, 0.2, 0.5)))


def test_distrax_tanh_clamped_logdet_fails(distrax):
    import jax.numpy as jnp
    bijector = distrax.Lambda(
        forward=jnp.tanh, inverse=jnp.arctanh,
        forward_log_det_jacobian=lambda x: jnp.log(jnp.maximum(1 - jnp.tanh(x) ** 2, 1e-4)),
        inverse_log_det_jacobian=lambda y: -jnp.log(jnp.maximum(1 - y**2, 1e-4)),
        event_ndims_in=0)
    _assert_fails(mcflow.from_jax(_distrax_dist(distrax, bijector, sigma=2.0)), "exact")


# -- flowjax -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flowjax():
    return pytest.importorskip("flowjax")


def _flowjax_dist(bijection, mu=0.0, sigma=1.0):
    import jax.numpy as jnp
    from flowjax.distributions import Normal, Transformed
    return Transformed(Normal(jnp.asarray(mu), jnp.asarray(sigma)), bijection)


def _flowjax_spline(seed=0):
    import equinox as eqx
    import jax
    from flowjax.bijections import RationalQuadraticSpline
    spline = RationalQuadraticSpline(knots=8, interval=3)
    params, static = eqx.partition(spline, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    leaves = [leaf + jax.random.normal(key, leaf.shape, leaf.dtype)
              for leaf, key in zip(leaves, keys, strict=True)]
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)


def test_flowjax_spline_passes(flowjax):
    _assert_passes(mcflow.from_jax(_flowjax_dist(_flowjax_spline())))


def test_flowjax_chain_passes(flowjax):
    from flowjax.bijections import Affine, Chain, Exp
    _assert_passes(mcflow.from_jax(_flowjax_dist(Chain([Exp(), Affine(1.0, 2.0)]), 0.3, 0.8)))


def test_flowjax_tanh_passes(flowjax):
    from flowjax.bijections import Tanh
    _assert_passes(mcflow.from_jax(_flowjax_dist(Tanh(), sigma=1.5)))


def test_flowjax_exp_with_flipped_logdet_fails(flowjax):
    from flowjax.bijections import Exp

    class ExpFlipped(Exp):
        def transform_and_log_det(self, x, condition=None):
            return super().transform_and_log_det(x, condition)[0], -x.sum()

        def inverse_and_log_det(self, y, condition=None):
            x = super().inverse_and_log_det(y, condition)[0]
            return x, x.sum()

    _assert_fails(mcflow.from_jax(_flowjax_dist(ExpFlipped())), "exact")


def test_flowjax_spline_with_dropped_logdet_fails(flowjax):
    import jax.numpy as jnp
    spline = _flowjax_spline()

    class Forgetful(type(spline)):
        def inverse_and_log_det(self, y, condition=None):
            return super().inverse_and_log_det(y, condition)[0], jnp.zeros(())

    forgetful = Forgetful.__new__(Forgetful)
    for field, value in vars(spline).items():
        object.__setattr__(forgetful, field, value)
    _assert_fails(mcflow.from_jax(_flowjax_dist(forgetful)), "exact")


def _object_of(module):
    return type("Flow", (), {"__module__": module})()


def test_each_adapter_names_the_other_for_its_objects_without_importing_either():
    # A torch object given to from_jax (or a JAX one to from_torch) is a misuse to
    # name, whether or not the other library is installed.
    with pytest.raises(TypeError, match=r"a torch object: use mcflow\.from_torch"):
        mcflow.from_jax(_object_of("zuko.flows"))
    with pytest.raises(TypeError, match=r"a JAX object: use mcflow\.from_jax"):
        mcflow.from_torch(_object_of("numpyro.distributions"))


def test_from_jax_points_torch_objects_to_from_torch(torch):
    with pytest.raises(TypeError, match="from_torch"):
        mcflow.from_jax(torch.distributions.LogNormal(0.0, 1.0))


def test_torch_identity_ignores_transform_caches(torch):
    # the auto seed must not depend on the last batch a cached transform saw
    t = torch.distributions.transforms
    dist = torch.distributions.TransformedDistribution(_normal(torch),
                                                       [t.ExpTransform(cache_size=1)])
    before = mcflow.from_torch(dist).identity
    dist.sample((5,))
    assert mcflow.from_torch(dist).identity == before


def test_torch_non_bijective_chain_gets_a_clear_error(torch):
    t = torch.distributions.transforms
    with pytest.raises(TypeError, match="implements no log_prob"):
        mcflow.from_torch(torch.distributions.TransformedDistribution(
            _normal(torch), [t.AbsTransform()]))
