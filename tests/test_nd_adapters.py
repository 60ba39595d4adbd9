"""``from_torch`` / ``from_jax`` on d-dimensional flows: an ``nd.Case`` in one line.

Every case is ``nd.validate(mcflow.from_torch(dist), n=N, seed=0)`` (or from_jax)
on the library's own objects, at d = 4 (above the histogram layer's d <= 3, whose
adaptive quadrature costs up to 2^23 evaluations of log q).  Correct flows must
pass; planted Jacobian bugs (a log_prob off by log 1.1, a log-det that forgets a
coordinate or has the wrong sign) must fail, in the deterministic pointwise
layer: its residual ``log q(T x) + log|det J| - log p_X(x)`` is then 0.095 or
more, against a tolerance of ~1e-9 relative, at any n.  With a fixed seed a
correct case gives the same verdict every run (alpha = 0.01 bounds how often a
seed could have failed it).  Each library's tests skip when it is not installed.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import mcflow
from mcflow import nd

# the libraries' own deprecation noise; mcflow's UserWarnings stay errors
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::FutureWarning")

#: the smallest n mcflow.nd takes is 4096; 2^14 gives each region ~1,600 samples
N = 2**14
D = 4
#: a non-standard diagonal base
MEAN = np.array([0.3, -0.5, 1.0, 0.0])
SCALE = np.array([0.5, 1.0, 1.5, 2.0])


def _passes(case: nd.Case) -> nd.NdResult:
    assert isinstance(case, nd.Case) and case.dim == D
    result = nd.validate(case, n=N, seed=0)
    assert result.verdict == "pass", result.summary()
    return result


def _fails(case: nd.Case, layer: str = "pointwise") -> nd.NdResult:
    result = nd.validate(case, n=N, seed=0)
    assert result.verdict == "fail", result.summary()
    assert layer in result.failed_layers, result.summary()
    return result


def test_import_mcflow_imports_neither_torch_nor_jax():
    code = ("import sys, mcflow, mcflow._nd_torch, mcflow._nd_jax; "
            "print(sorted({'torch', 'jax'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_pieces_the_library_lacks_become_notes():
    from mcflow._adapt import probe_rows

    def missing(values):
        raise NotImplementedError("no inverse here")

    x = np.random.default_rng(0).standard_normal((64, 2))
    inverse, log_det, notes = probe_rows("lib", "flow", lambda v: 2.0 * v,
                                         lambda y: -(y * y).sum(axis=1), missing, None, x)
    assert inverse is None and log_det is None
    assert notes == ["the library's inverse fails (NotImplementedError: no inverse here): no "
                     "round-trip check",
                     "no log-det from the library (not provided): the pointwise layer uses the "
                     "finite-difference Jacobian alone, and cannot say whether a failure is in "
                     "the log-det or in the density path"]
    with pytest.raises(TypeError, match="cannot evaluate log_prob"):
        probe_rows("lib", "flow", lambda v: 2.0 * v, missing, None, None, x)


# -- torch.distributions -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    # one intra-op thread: on a loaded machine torch's spinning thread pool was 10x slower
    # on these small flows (the result does not depend on it)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def _tensor(torch, values):
    return torch.tensor(values, dtype=torch.float64)


def _mvn_chain(torch):
    """Affine (event_dim 1) then exp, over a MultivariateNormal with a diagonal covariance."""
    t = torch.distributions.transforms
    base = torch.distributions.MultivariateNormal(_tensor(torch, MEAN),
                                                  torch.diag(_tensor(torch, SCALE**2)))
    affine = t.AffineTransform(_tensor(torch, [0.5, -1.0, 0.0, 2.0]),
                               _tensor(torch, [1.5, -0.7, 0.4, 1.0]), event_dim=1)
    return torch.distributions.TransformedDistribution(base, [affine, t.ExpTransform()])


def test_torch_multivariate_normal_base_passes_with_its_mean_and_scale(torch):
    case = mcflow.from_torch(_mvn_chain(torch))
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    assert case.library == "torch" and case.notes == ()
    assert case.name == "torch TransformedDistribution[AffineTransform, ExpTransform]"
    assert case.inverse is not None and case.log_abs_det_jacobian is not None
    x = MEAN + SCALE * np.random.default_rng(1).standard_normal((5, D))
    # forward is the library's sampling path on the given draws
    np.testing.assert_allclose(case.forward(x),
                               np.exp(np.array([0.5, -1.0, 0.0, 2.0])
                                      + np.array([1.5, -0.7, 0.4, 1.0]) * x), rtol=1e-14)
    _passes(case)


def test_torch_log_prob_off_by_a_constant_fails(torch):
    dist = _mvn_chain(torch)

    class TenPercentOff(type(dist)):
        def log_prob(self, value):
            return super().log_prob(value) + math.log(1.1)

    result = _fails(mcflow.from_torch(TenPercentOff(dist.base_dist, dist.transforms)))
    assert "normalisation" in result.failed_layers, result.summary()


def test_torch_rejects_a_correlated_base_a_batch_and_float32(torch):
    t = torch.distributions.transforms
    correlated = torch.distributions.MultivariateNormal(
        torch.zeros(2), torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
    with pytest.raises(ValueError, match="non-diagonal covariance"):
        mcflow.from_torch(torch.distributions.TransformedDistribution(
            correlated, [t.ExpTransform()]))
    batch = torch.distributions.Independent(torch.distributions.Normal(
        torch.zeros(2, 3), torch.ones(2, 3)), 1)
    with pytest.raises(ValueError, match=r"batch shape \(2,\) and event shape \(3,\)"):
        mcflow.from_torch(torch.distributions.TransformedDistribution(batch, [t.ExpTransform()]))
    matrix = torch.distributions.Independent(torch.distributions.Normal(
        torch.zeros(2, 3), torch.ones(2, 3)), 2)
    with pytest.raises(ValueError, match=r"event shape \(2, 3\)"):
        mcflow.from_torch(torch.distributions.TransformedDistribution(matrix, [t.ExpTransform()]))
    with pytest.raises(ValueError, match="float64"):
        mcflow.from_torch(_mvn_chain(torch), dtype="float32")
    with pytest.raises(TypeError, match="base distribution is Independent"):
        mcflow.from_torch(torch.distributions.TransformedDistribution(
            torch.distributions.Independent(torch.distributions.Uniform(
                torch.zeros(3), torch.ones(3)), 1), [t.ExpTransform()]))


def test_one_dimensional_torch_distributions_still_give_a_case(torch):
    t = torch.distributions.transforms
    assert isinstance(mcflow.from_torch(torch.distributions.LogNormal(0.0, 1.0)), mcflow.Case)
    column = torch.distributions.TransformedDistribution(
        torch.distributions.Independent(torch.distributions.Normal(
            torch.zeros(1), torch.ones(1)), 1), [t.ExpTransform()])
    assert isinstance(mcflow.from_torch(column), mcflow.Case)


# -- pyro --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pyro(torch):
    return pytest.importorskip("pyro")


def _pyro_flow(pyro, torch, coupling=None):
    """An affine coupling, a permutation and a spline coupling, over a batch (4,) Normal."""
    pt = pyro.distributions.transforms
    torch.manual_seed(1)
    affine = (coupling or pt.AffineCoupling)(
        D // 2, pyro.nn.DenseNN(D // 2, [16], param_dims=[D - D // 2, D - D // 2]))
    spline = pt.spline_coupling(D, count_bins=4, bound=4.0)
    for module in (affine, spline):
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.add_(0.2 * torch.randn_like(parameter))
    permute = pt.Permute(torch.tensor([2, 0, 3, 1]))
    base = pyro.distributions.Normal(_tensor(torch, MEAN), _tensor(torch, SCALE))
    return pyro.distributions.TransformedDistribution(base, [affine, permute, spline])


def test_pyro_affine_and_spline_couplings_pass(pyro, torch):
    case = mcflow.from_torch(_pyro_flow(pyro, torch))
    assert case.library == "pyro"
    assert case.name == "pyro TransformedDistribution[AffineCoupling, Permute, SplineCoupling]"
    assert case.inverse is not None and case.log_abs_det_jacobian is not None
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    _passes(case)


def test_pyro_log_det_that_forgets_a_coordinate_fails(pyro, torch):
    class Forgetful(pyro.distributions.transforms.AffineCoupling):
        def log_abs_det_jacobian(self, x, y):
            _, log_scale = self.nn(x[..., :self.split_dim])
            return log_scale[..., 1:].sum(-1)  # right: all of them

    result = _fails(mcflow.from_torch(_pyro_flow(pyro, torch, Forgetful)))
    assert "structure" in result.failed_layers, result.summary()  # the log-det vs differences


def test_pyro_autoregressive_inverse_in_float32_gets_a_clear_error(pyro, torch):
    # pyro's AffineAutoregressive inverts with torch.zeros in the default dtype
    made = pyro.distributions.transforms.AffineAutoregressive(pyro.nn.AutoRegressiveNN(D, [8]))
    base = pyro.distributions.Normal(torch.zeros(D), torch.ones(D))
    with pytest.raises(TypeError, match="set_default_dtype"):
        mcflow.from_torch(pyro.distributions.TransformedDistribution(base, [made]))


# -- zuko --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zuko(torch):
    return pytest.importorskip("zuko")


def _perturbed(torch, module, seed, scale):
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return module


def test_zuko_maf_coupling_passes(zuko, torch):
    torch.manual_seed(0)
    # passes=2: a coupling (T^-1 in two passes, not d)
    flow = _perturbed(torch, zuko.flows.MAF(features=D, context=0, transforms=2, passes=2,
                                            hidden_features=(16, 16)), 0, 0.1)
    case = mcflow.from_torch(flow)  # the lazy flow, called without context
    assert case.library == "zuko" and case.name == "zuko NormalizingFlow"
    assert case.inverse is not None and case.log_abs_det_jacobian is not None
    assert case.notes == ()  # the lazy flow is built after promotion: nothing float32 left
    _passes(case)


def test_zuko_affine_with_a_flipped_log_det_fails(zuko, torch):
    zt = zuko.transforms

    class AffineFlippedLadj(zt.MonotonicAffineTransform):
        def log_abs_det_jacobian(self, x, y):
            return -self.log_scale.expand(x.shape)  # right: +log_scale

    affine = zuko.flows.UnconditionalTransform(
        AffineFlippedLadj, _tensor(torch, [0.5, 0.0, -1.0, 0.2]),
        _tensor(torch, [0.3, -0.4, 0.1, 0.6]), buffer=True)
    torch.manual_seed(2)
    maf = _perturbed(torch, zuko.flows.MAF(features=D, transforms=1, hidden_features=(16,)),
                     2, 0.1)
    flow = zuko.flows.Flow([affine, *maf.transform.transforms], maf.base)
    _fails(mcflow.from_torch(flow))


# -- nflows ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nflows(torch):
    return pytest.importorskip("nflows")


def _nflows_flow(torch, extra=None, dtype=None):
    """An affine coupling, a permutation and a rational-quadratic spline coupling."""
    from nflows.distributions.normal import DiagonalNormal
    from nflows.flows.base import Flow
    from nflows.nn.nets import ResidualNet
    from nflows.transforms import (
        AffineCouplingTransform,
        CompositeTransform,
        PiecewiseRationalQuadraticCouplingTransform,
        ReversePermutation,
    )

    def net(features_in, features_out):
        return ResidualNet(features_in, features_out, hidden_features=16, num_blocks=1)

    torch.manual_seed(3)
    mask = torch.tensor([1, 0, 1, 0])
    layers = [AffineCouplingTransform(mask, net), ReversePermutation(features=D),
              PiecewiseRationalQuadraticCouplingTransform(mask, net, num_bins=4,
                                                          tails="linear", tail_bound=4.0)]
    base = DiagonalNormal([D])
    flow = _perturbed(torch, Flow(CompositeTransform(layers + list(extra or [])), base), 3, 0.1)
    flow.to(dtype or torch.float64)
    with torch.no_grad():
        base.mean_.copy_(torch.from_numpy(MEAN))
        base.log_std_.copy_(torch.from_numpy(np.log(SCALE)))
    return flow


def test_nflows_couplings_over_a_diagonal_normal_pass(nflows, torch):
    case = mcflow.from_torch(_nflows_flow(torch))
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    assert case.name == "nflows Flow[CompositeTransform]" and case.notes == ()
    _passes(case)


def test_nflows_float32_flow_is_promoted_with_a_note(nflows, torch):
    flow = _nflows_flow(torch, dtype=torch.float32)
    case = mcflow.from_torch(flow)
    assert len(case.notes) == 1 and "promoted to float64" in case.notes[0]
    assert next(flow.parameters()).dtype == torch.float32  # the user's flow is left alone
    y = case.forward(np.tile(MEAN, (3, 1)))
    assert y.dtype == np.float64 and case.log_prob(y).dtype == np.float64


def test_nflows_affine_with_a_log_det_sign_bug_fails(nflows, torch):
    from nflows.transforms import PointwiseAffineTransform

    class AffineSignBug(PointwiseAffineTransform):
        def forward(self, inputs, context=None):
            outputs, logabsdet = super().forward(inputs, context)
            return outputs, -logabsdet

        def inverse(self, inputs, context=None):
            outputs, logabsdet = super().inverse(inputs, context)
            return outputs, -logabsdet

    bug = AffineSignBug(_tensor(torch, [0.0, 1.0, -1.0, 0.5]),
                        _tensor(torch, [2.0, 0.5, 1.5, 3.0]))
    _fails(mcflow.from_torch(_nflows_flow(torch, [bug])))


# -- numpyro -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numpyro():
    return pytest.importorskip("numpyro")


def _numpyro_flow(numpyro, affine=None, base=None):
    """An inverse autoregressive layer, a lower-Cholesky affine map, a softplus and another
    affine map, in float64."""
    import jax
    import jax.numpy as jnp
    from numpyro.nn import AutoregressiveNN
    dist, nt = numpyro.distributions, numpyro.distributions.transforms
    affine = affine or nt.LowerCholeskyAffine
    with jax.enable_x64(True):
        init, made = AutoregressiveNN(D, [16], permutation=jnp.array([1, 3, 0, 2]))
        _, params = init(jax.random.PRNGKey(0), (D,))
        params = jax.tree_util.tree_map(lambda p: 0.3 * p, params)
        iaf = dist.flows.InverseAutoregressiveTransform(lambda x: made(params, x))
        tril = jnp.array([[1.0, 0, 0, 0], [0.5, 0.8, 0, 0], [-0.3, 0.4, 1.2, 0],
                          [0.2, -0.1, 0.3, 0.7]])
        base = base or dist.Normal(jnp.array(MEAN), jnp.array(SCALE)).to_event(1)
        return dist.TransformedDistribution(base, [
            iaf, affine(jnp.array([0.5, 0.0, -1.0, 0.3]), tril), nt.SoftplusTransform(),
            nt.LowerCholeskyAffine(jnp.zeros(D), tril)])


def test_numpyro_autoregressive_affine_softplus_chain_passes(numpyro):
    case = mcflow.from_jax(_numpyro_flow(numpyro))
    assert case.library == "numpyro" and case.notes == ()
    assert case.name == ("numpyro TransformedDistribution[InverseAutoregressiveTransform, "
                         "LowerCholeskyAffine, SoftplusTransform, LowerCholeskyAffine]")
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    assert case.inverse is not None and case.log_abs_det_jacobian is not None
    _passes(case)


def test_numpyro_affine_log_det_that_forgets_a_coordinate_fails(numpyro):
    import jax.numpy as jnp

    class Forgetful(numpyro.distributions.transforms.LowerCholeskyAffine):
        def log_abs_det_jacobian(self, x, y, intermediates=None):
            diagonal = jnp.log(jnp.abs(jnp.diagonal(self.scale_tril)))
            return jnp.broadcast_to(diagonal[:-1].sum(), x.shape[:-1])  # right: all of it

    result = _fails(mcflow.from_jax(_numpyro_flow(numpyro, Forgetful)))
    assert "structure" in result.failed_layers, result.summary()


def test_numpyro_diagonal_mvn_base_is_read_and_correlated_one_rejected(numpyro):
    import jax
    import jax.numpy as jnp
    dist = numpyro.distributions
    with jax.enable_x64(True):
        diagonal = dist.MultivariateNormal(jnp.array(MEAN), jnp.diag(jnp.array(SCALE**2)))
        correlated = dist.MultivariateNormal(jnp.zeros(2), jnp.array([[1.0, 0.3], [0.3, 1.0]]))
    case = mcflow.from_jax(_numpyro_flow(numpyro, base=diagonal))
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    exp = numpyro.distributions.transforms.ExpTransform()
    with pytest.raises(ValueError, match="non-diagonal covariance"):
        mcflow.from_jax(dist.TransformedDistribution(correlated, [exp]))


def test_numpyro_batch_shape_and_no_inverse_get_clear_errors(numpyro):
    import jax
    import jax.numpy as jnp
    dist = numpyro.distributions
    exp = dist.transforms.ExpTransform()
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        mcflow.from_jax(dist.TransformedDistribution(
            dist.Normal(jnp.zeros((2, 3)), 1.0).to_event(1), [exp]))
    from numpyro.nn import BlockNeuralAutoregressiveNN
    init, network = BlockNeuralAutoregressiveNN(D)
    params = init(jax.random.PRNGKey(0), (D,))[1]
    bnaf = dist.flows.BlockNeuralAutoregressiveTransform(lambda x: network(params, x))
    with pytest.raises(TypeError, match="cannot evaluate log_prob"):  # it has no inverse
        mcflow.from_jax(dist.TransformedDistribution(
            dist.Normal(jnp.zeros(D), 1.0).to_event(1), [bnaf]))


def test_one_dimensional_jax_distributions_still_give_a_case(numpyro):
    exp = numpyro.distributions.transforms.ExpTransform()
    case = mcflow.from_jax(numpyro.distributions.TransformedDistribution(
        numpyro.distributions.Normal(0.0, 1.0), [exp]))
    assert isinstance(case, mcflow.Case)


# -- distrax -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def distrax():
    return pytest.importorskip("distrax")


def _distrax_flow(distrax, bijector=None):
    """Two masked affine couplings around a per-coordinate affine map, in float64."""
    import jax
    import jax.numpy as jnp
    weights = 0.7 * np.random.default_rng(4).standard_normal((D, D))
    mask = np.arange(D) < D // 2

    def conditioner(x):
        return jnp.tanh(x @ weights)

    def affine(params):
        return distrax.ScalarAffine(shift=params, log_scale=0.5 * params)

    with jax.enable_x64(True):
        middle = bijector or distrax.Block(distrax.ScalarAffine(
            shift=jnp.array([0.0, 0.3, 0.6, 0.9]), scale=jnp.array([0.5, 1.0, 1.5, 2.0])), 1)
        chain = distrax.Chain([distrax.MaskedCoupling(mask, conditioner, affine), middle,
                               distrax.MaskedCoupling(~mask, conditioner, affine)])
        base = distrax.MultivariateNormalDiag(jnp.array(MEAN), jnp.array(SCALE))
        return distrax.Transformed(base, chain)


def test_distrax_coupling_flow_passes(distrax):
    case = mcflow.from_jax(_distrax_flow(distrax))
    assert case.library == "distrax" and case.name == "distrax Transformed[Chain]"
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    assert case.notes == ()
    _passes(case)


def test_distrax_affine_with_a_wrong_sign_log_det_fails(distrax):
    import jax.numpy as jnp
    shift, scale = np.array([0.0, 0.3, 0.6, 0.9]), np.array([0.5, 1.0, 1.5, 2.0])
    wrong = distrax.Lambda(
        forward=lambda x: shift + scale * x, inverse=lambda y: (y - shift) / scale,
        forward_log_det_jacobian=lambda x: -jnp.log(scale).sum() * jnp.ones(x.shape[:-1]),
        inverse_log_det_jacobian=lambda y: jnp.log(scale).sum() * jnp.ones(y.shape[:-1]),
        event_ndims_in=1)  # right: +log(scale) forward
    _fails(mcflow.from_jax(_distrax_flow(distrax, wrong)))


def test_distrax_independent_normal_base_is_read_and_a_correlated_one_rejected(distrax):
    import jax
    import jax.numpy as jnp
    with jax.enable_x64(True):
        block = distrax.Block(distrax.ScalarAffine(shift=1.0, scale=2.0), 1)
        independent = distrax.Independent(distrax.Normal(jnp.array(MEAN), jnp.array(SCALE)), 1)
        correlated = distrax.MultivariateNormalTri(jnp.zeros(2), jnp.array([[1.0, 0.0],
                                                                             [0.5, 1.0]]))
    case = mcflow.from_jax(distrax.Transformed(independent, block))
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-15)
    with pytest.raises(ValueError, match="non-diagonal covariance"):
        mcflow.from_jax(distrax.Transformed(correlated, block))


# -- flowjax -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flowjax():
    return pytest.importorskip("flowjax")


def _flowjax_maf(extra=None):
    """A masked autoregressive flow (its bijection perturbed) over a diagonal Normal."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from flowjax.bijections import Chain
    from flowjax.distributions import Normal, Transformed
    from flowjax.flows import masked_autoregressive_flow
    with jax.enable_x64(True):
        flow = masked_autoregressive_flow(jax.random.PRNGKey(5), flow_layers=2, nn_width=16,
                                          base_dist=Normal(jnp.array(MEAN), jnp.array(SCALE)))
        params, static = eqx.partition(flow.bijection, eqx.is_inexact_array)
        leaves, tree = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(jax.random.PRNGKey(6), len(leaves))
        leaves = [leaf + 0.1 * jax.random.normal(key, leaf.shape, leaf.dtype)
                  for leaf, key in zip(leaves, keys, strict=True)]
        bijection = eqx.combine(jax.tree_util.tree_unflatten(tree, leaves), static)
        if extra is not None:
            bijection = Chain([bijection, extra])
        return Transformed(flow.base_dist, bijection)


def test_flowjax_masked_autoregressive_flow_passes(flowjax):
    case = mcflow.from_jax(_flowjax_maf())
    assert case.library == "flowjax" and case.name == "flowjax Transformed[Invert]"
    # flowjax's Normal keeps its scale through a softplus: its inverse rounds
    np.testing.assert_allclose(case.mean, MEAN, rtol=1e-15)
    np.testing.assert_allclose(case.scale, SCALE, rtol=1e-14)
    assert case.inverse is not None and case.log_abs_det_jacobian is not None
    assert case.notes == ()
    _passes(case)


def test_flowjax_affine_log_det_that_forgets_a_coordinate_fails(flowjax):
    import jax
    import jax.numpy as jnp
    from flowjax.bijections import Affine

    class Forgetful(Affine):
        def transform_and_log_det(self, x, condition=None):
            y, log_det = super().transform_and_log_det(x, condition)
            return y, log_det - jnp.log(jnp.abs(self.scale[-1]))  # right: every coordinate

        def inverse_and_log_det(self, y, condition=None):
            x, log_det = super().inverse_and_log_det(y, condition)
            return x, log_det + jnp.log(jnp.abs(self.scale[-1]))

    with jax.enable_x64(True):
        bug = Forgetful(jnp.array([0.5, 0.0, -1.0, 0.3]), jnp.array([1.5, 0.7, 0.4, 3.0]))
    result = _fails(mcflow.from_jax(_flowjax_maf(bug)))
    assert "structure" in result.failed_layers, result.summary()
