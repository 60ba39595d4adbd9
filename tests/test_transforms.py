"""Built-in transforms and the Transform type: maps, Jacobians, densities, errors."""

from __future__ import annotations

import math

import mpmath
import numba
import numpy as np
import pytest
from scipy import integrate, special, stats

import mcflow
from mcflow import _ops
from mcflow import transforms as T  # noqa: N812 - reads like the maths

# name -> (transform, (mu, sigma) of X used for its density checks)
CASES = {
    "exp": (T.Exp(), (0.0, 1.0)),
    "affine": (T.Affine(1.5, -2.0), (0.3, 0.7)),
    "sigmoid": (T.Sigmoid(), (0.5, 1.5)),
    "tanh": (T.Tanh(), (0.0, 1.0)),
    "softplus": (T.Softplus(), (0.0, 2.0)),
    "sinh_arcsinh": (T.SinhArcsinh(0.5, 1.5), (0.0, 1.0)),
    "power": (T.Power(0.5), (4.0, 1.0)),
    "normal_cdf": (T.NormalCDF(), (0.0, 1.0)),
    "cube": (T.Cube(), (0.0, 1.0)),
    "sinh": (T.Sinh(), (0.2, 0.8)),
    "chain": (T.Chain(T.Affine(0.0, 0.5), T.Exp(), T.Softplus()), (0.0, 1.0)),
}

# Independent references of the forward maps, in 80-bit long double (about
# 1e-19 relative), so float64 results can be held to a few ulp.
LD = np.longdouble
REFERENCE_FORWARD = {
    "exp": lambda x: np.exp(x),
    "affine": lambda x: LD(1.5) - LD(2.0) * x,
    "sigmoid": lambda x: LD(1) / (LD(1) + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(LD(0), x),
    "sinh_arcsinh": lambda x: np.sinh((np.arcsinh(x) + LD(0.5)) * LD(1.5)),
    "power": lambda x: np.where(x >= 0, np.abs(x) ** LD(0.5), np.nan),
    "normal_cdf": lambda x: _mpmath_normal_cdf(x),
    "cube": lambda x: x * x * x,
    "sinh": np.sinh,
    "chain": lambda x: np.logaddexp(LD(0), np.exp(LD(0.5) * x)),
}


def _mpmath_normal_cdf(x):
    with mpmath.workdps(30):
        return np.array([LD(str(mpmath.ncdf(mpmath.mpf(float(v))))) for v in x])


def _unavoidable_error(name, transform, x):
    """Error no float64 evaluation can avoid: the map's conditioning.

    The input itself is only known to 1 ulp, which moves T(x) by
    |T'(x)| ulp(x) (this dominates Phi's far tail, where T'(x) x / T(x) ~ x^2).
    A composite also rounds its intermediate t (a few ulp of the terms summed
    into it), which moves the result by |dT/dt| times that.
    """
    slope = np.exp(transform.log_abs_det_array(x))
    bound = 2 * slope * np.spacing(np.abs(x))
    if name == "sinh_arcsinh":
        t = (np.arcsinh(x) + 0.5) * 1.5
        bound += np.cosh(t) * 1.5 * 2 * np.spacing(np.maximum(np.abs(np.arcsinh(x)), 0.5))
    if name == "chain":
        u = np.exp(0.5 * x)
        bound += special.expit(u) * 2 * np.spacing(u)
    return bound


def _points(name, count=2001):
    x = np.linspace(-6, 6, count)
    return x[x > 0] if name == "power" else x


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_reference_to_a_few_ulp(name):
    transform, _ = CASES[name]
    x = _points(name)
    got = transform.forward_array(x)
    with np.errstate(invalid="ignore"):
        want = REFERENCE_FORWARD[name](x.astype(LD))
    error = np.abs(got.astype(LD) - want).astype(float)
    allowed = 4 * np.spacing(np.abs(want.astype(float))) + _unavoidable_error(name, transform, x)
    assert np.all(error <= allowed), (name, float(np.max(error / allowed)))


@pytest.mark.parametrize("name", CASES)
def test_inverse_round_trip(name):
    transform, _ = CASES[name]
    x = _points(name, 401)
    y = transform.forward_array(x)
    # Only where T is numerically invertible in float64 (y not saturated).
    lo, hi = transform.support
    usable = (y > lo) & (y < hi) & (np.abs(y) < 1e300)
    if name in {"sigmoid", "tanh", "normal_cdf"}:
        usable &= np.abs(x) < 5.0  # beyond, y rounds to its bound
    back = transform.inverse_array(y[usable])
    assert np.allclose(back, x[usable], rtol=1e-9, atol=1e-9), name


@pytest.mark.parametrize("name", CASES)
def test_log_det_matches_finite_differences(name):
    # Central differences have error O(h^2 f'''); with h = 1e-5 relative the
    # agreement of log|dT/dx| is ~1e-8; 1e-6 leaves room for rounding (1e-11/h).
    transform, _ = CASES[name]
    x = _points(name, 301)
    x = x[np.abs(x) < 4.0]
    if name == "cube":
        x = x[np.abs(x) > 0.05]
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    derivative = (transform.forward_array(x + h) - transform.forward_array(x - h)) / (2 * h)
    assert np.allclose(transform.log_abs_det_array(x), np.log(np.abs(derivative)),
                       rtol=0, atol=1e-6), name


@pytest.mark.parametrize("name", CASES)
def test_eq4_and_eq5_agree(name):
    transform, (mu, sigma) = CASES[name]
    lo, hi = transform.support
    x = np.linspace(mu - 6 * sigma, mu + 6 * sigma, 3001)
    y = transform.forward_array(x)
    y = y[(y > lo) & (y < hi) & np.isfinite(y)]
    if name == "cube":
        y = y[np.abs(y) > 1e-12]
    eq5 = mcflow.density(transform, y, mu, sigma, method="inverse")
    eq4 = mcflow.density(transform, y, mu, sigma, method="forward")
    assert np.all(eq5 > 0)
    assert np.allclose(eq5, eq4, rtol=1e-12, atol=0), name


@pytest.mark.parametrize("name", CASES)
def test_density_integrates_to_the_mass_of_the_domain(name):
    transform, (mu, sigma) = CASES[name]
    lo, hi = transform.support

    def pdf(y):
        return float(mcflow.density(transform, np.array([y]), mu, sigma)[0])

    # Split at the image of mu so quad sees the bulk; singular points as breaks.
    centre = float(transform.forward_array(np.array([mu]))[0])
    pieces = [(lo, centre), (centre, hi)]
    total = sum(integrate.quad(pdf, a, b, limit=200, epsabs=1e-12)[0] for a, b in pieces)
    expected = stats.norm.sf(0.0, mu, sigma) if name == "power" else 1.0
    assert total == pytest.approx(expected, abs=1e-8), name


def test_exp_density_is_scipy_lognorm():
    y = np.geomspace(1e-6, 1e4, 400)
    for mu, sigma in [(0.0, 1.0), (-1.0, 0.3), (2.0, 2.0)]:
        # Compared in log space: the far tails reach 1e-256, where both sides'
        # relative error is that of the log (~1e-16 of 590) times 590.
        want = stats.lognorm.logpdf(y, s=sigma, scale=math.exp(mu))
        got = mcflow.log_density(T.Exp(), y, mu, sigma)
        assert np.allclose(got, want, rtol=1e-13, atol=1e-13)


def test_affine_density_is_scipy_norm():
    y = np.linspace(-20, 20, 401)
    got = mcflow.density(T.Affine(1.5, -2.0), y, 0.3, 0.7)
    assert np.allclose(got, stats.norm.pdf(y, 1.5 - 2.0 * 0.3, 1.4), rtol=1e-12, atol=0)


def test_sinh_arcsinh_density_via_johnsonsu():
    # sinh(asinh(sinh X) + s) t) = sinh((X + s) t): Johnson SU with a=-s, b=1/t.
    y = np.linspace(-30, 30, 601)
    for skew, tail in [(0.5, 1.5), (-1.0, 0.7)]:
        chain = T.Chain(T.Sinh(), T.SinhArcsinh(skew, tail))
        want = stats.johnsonsu.pdf(y, -skew, 1.0 / tail)
        assert np.allclose(mcflow.density(chain, y), want, rtol=1e-10, atol=0)


def test_sinh_density_is_johnsonsu():
    y = np.linspace(-30, 30, 601)
    want = stats.johnsonsu.pdf(y, -0.2 / 0.8, 1.0 / 0.8)
    assert np.allclose(mcflow.density(T.Sinh(), y, 0.2, 0.8), want, rtol=1e-10, atol=0)


def test_normal_cdf_gives_uniform():
    y = np.linspace(1e-9, 1 - 1e-9, 999)
    assert np.allclose(mcflow.density(T.NormalCDF(), y), 1.0, rtol=1e-9, atol=0)


def test_density_is_zero_outside_support_and_nan_for_nan():
    got = mcflow.density(T.Exp(), np.array([-1.0, 0.0, np.nan, 1.0]))
    assert got[0] == 0.0
    assert got[1] == 0.0
    assert np.isnan(got[2])
    assert got[3] > 0


def test_density_is_stable_in_the_far_tail():
    # log p_Y at y = exp(30) (30 sigma): finite log density, no NaN.
    log_p = mcflow.log_density(T.Exp(), np.array([math.exp(30.0)]))
    assert log_p[0] == pytest.approx(stats.lognorm.logpdf(math.exp(30.0), 1.0), rel=1e-13)


def test_support_and_names():
    assert T.Exp().support == (0.0, math.inf)
    assert T.Sigmoid().support == (0.0, 1.0)
    assert T.Tanh().support == (-1.0, 1.0)
    assert T.Power(-2.0).support == (0.0, math.inf)
    assert T.Affine(0, -1).support == (-math.inf, math.inf)
    assert T.Chain(T.Exp(), T.Affine(1.0, -1.0)).support == (-math.inf, 1.0)
    assert T.Chain(T.Exp(), T.Exp()).name == "chain(exp, exp)"


def test_builtin_scalar_functions_are_njit():
    t = T.Affine(1.0, 2.0)
    assert t.forward(3.0) == 7.0
    assert t.inverse(7.0) == 3.0
    assert t.log_abs_det_jacobian(0.0) == pytest.approx(math.log(2.0))


@numba.njit(error_model="numpy")
def _user_exp(x):
    return math.exp(x)


@numba.njit(error_model="numpy")
def _user_log(y):
    return math.log(y)


@numba.njit(error_model="numpy")
def _user_ldj(x):
    return x


def test_user_transform_density_matches_builtin():
    user = mcflow.Transform(_user_exp, _user_log, _user_ldj, name="my_exp")
    y = np.geomspace(1e-3, 1e3, 50)
    assert np.array_equal(mcflow.density(user, y), mcflow.density(T.Exp(), y, method="forward"))
    assert user.support == (0.0, math.inf)


def test_mixed_and_vectorized_chains_agree_with_the_program_chain():
    user = mcflow.Transform(_user_exp, _user_log, _user_ldj)
    vec = mcflow.Transform(np.exp, np.log, lambda x: x, vectorized=True)
    program = T.Chain(T.Affine(0.5, 2.0), T.Exp())
    x = np.linspace(-3, 3, 101)
    y = program.forward_array(x)
    for chain in (T.Chain(T.Affine(0.5, 2.0), user), T.Chain(T.Affine(0.5, 2.0), vec)):
        assert np.allclose(chain.forward_array(x), y, rtol=1e-15)
        assert np.allclose(mcflow.density(chain, y), mcflow.density(program, y), rtol=1e-12)


def test_plain_python_function_is_compiled():
    t = mcflow.Transform(lambda x: 2.0 * x)
    assert t.forward(2.0) == 4.0


def test_non_compilable_forward_points_to_vectorized():
    def uses_scipy(x):
        return special.erf(x)  # a SciPy ufunc: numba cannot compile it

    with pytest.raises(TypeError, match=r"forward 'uses_scipy' is not numba-compilable.*"
                                        r"vectorized=True"):
        mcflow.Transform(uses_scipy)


def test_density_without_inverse_is_a_clear_error():
    t = mcflow.Transform(_user_exp)
    with pytest.raises(ValueError, match="has no inverse and log_abs_det_jacobian"):
        mcflow.density(t, np.array([1.0]))


def test_vectorized_forward_must_map_elementwise():
    t = mcflow.Transform(lambda x: x[:-1], vectorized=True, support=(-1.0, 1.0))
    with pytest.raises(TypeError, match=r"returned shape \(9,\) for input shape \(10,\)"):
        t.forward_array(np.zeros(10))


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: T.Affine(0.0, 0.0), ValueError, "Affine: scale must be non-zero"),
        (lambda: T.Affine(math.inf, 1.0), ValueError, "Affine: shift must be finite, got inf"),
        (lambda: T.Affine("a", 1.0), TypeError, "Affine: shift must be a real number"),
        (lambda: T.SinhArcsinh(0.0, 0.0), ValueError, "tailweight must be > 0, got 0.0"),
        (lambda: T.SinhArcsinh(math.nan, 1.0), ValueError, "skew must be finite"),
        (lambda: T.Power(0.0), ValueError, "Power: p must be non-zero"),
        (lambda: T.Chain(), ValueError, "Chain needs at least one transform"),
        (lambda: T.Chain(T.Exp(), np.exp), TypeError, "Chain: step 1 must be a mcflow.Transform"),
        (lambda: mcflow.Transform(3.0), TypeError, "forward must be callable"),
        (lambda: mcflow.Transform(_user_exp, vectorized="yes"), TypeError, "vectorized must be"),
        (lambda: mcflow.Transform(_user_exp, support=(1.0, 0.0)), ValueError, "support must"),
        (lambda: mcflow.density(T.Exp(), 1.0, sigma=0.0), ValueError, "sigma must be > 0"),
        (lambda: mcflow.density(T.Exp(), 1.0, method="eq6"), ValueError, "method must be"),
    ],
)
def test_bad_parameters_are_rejected(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


def test_exp_polynomial_is_within_its_derived_bound():
    """The economized coefficients, as float64, against exp on |r| <= 0.3466 in long double.

    Bound, relative to exp(r) >= 0.707: economization 4.4e-18 (the comment at
    ``_EXP_POLYNOMIAL``); each float64 coefficient's rounding, sum over k >= 2 of
    |c_k| h^k 2^-53 = (e^h - 1 - h) 2^-53 = 7.5e-18 absolute (c0 = c1 = 1 exactly), 1.06e-17
    relative; this long-double Horner evaluation, 12 steps of 2^-64 on values up to 1.41,
    1.3e-18: 1.63e-17 in all, so 1.7e-17 (1.56e-17 measured).  The Taylor coefficients
    cut at degree 11 instead miss by 9e-15 (h^12 / 12! / 0.707).
    """
    from mcflow import _maths

    coefficients = _maths._EXP_POLYNOMIAL
    assert len(coefficients) == 12 and coefficients[:2] == (1.0, 1.0)
    r = np.linspace(-0.3466, 0.3466, 200_001).astype(LD)
    value = np.zeros_like(r)
    for c in reversed(coefficients):
        value = value * r + LD(c)
    assert np.max(np.abs(value / np.exp(r) - 1)) <= 1.7e-17


def test_fast_exp_is_within_1_2_ulp_everywhere():
    # The engine's exp: checked against 80-bit exp over the whole float64 range
    # of interest, including subnormal results and both overflow edges.
    from mcflow._kernels import program_forward

    x = np.concatenate([np.linspace(-750, -700, 50_001), np.linspace(-40, 40, 400_001),
                        np.linspace(700, 712, 12_001), [-0.0, 0.0, 1e-300, -1e-300]])
    got = program_forward(T.Exp().program[0], T.Exp().program[1], x)
    want = np.exp(x.astype(LD))
    finite = want < LD(np.finfo(float).max)
    ulp = np.spacing(want[finite].astype(float))
    assert np.all(np.abs(got[finite].astype(LD) - want[finite]) <= 1.2 * ulp)
    assert np.all(np.isinf(got[~finite]))
    special_values = program_forward(T.Exp().program[0], T.Exp().program[1],
                                     np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(special_values[0])
    assert special_values[1] == np.inf
    assert special_values[2] == 0.0


@numba.njit(error_model="numpy")
def _apply_fast(kind, x):
    out = np.empty_like(x)
    for i in range(x.size):
        if kind == 0:
            out[i] = _ops.fast_log(x[i])
        elif kind == 1:
            out[i] = _ops.fast_sinh(x[i])
        elif kind == 2:
            out[i] = _ops.fast_asinh(x[i])
        else:
            out[i] = _ops.fast_tanh(x[i])
    return out


@pytest.mark.parametrize(("kind", "reference"),
                         [(0, np.log), (1, np.sinh), (2, np.arcsinh), (3, np.tanh)],
                         ids=["log", "sinh", "asinh", "tanh"])
def test_fast_log_sinh_asinh_tanh_within_4_ulp(kind, reference):
    # The engine's own vectorizable log, sinh, asinh and tanh against 80-bit
    # references over the whole float64 range, subnormals and overflow included
    # (tanh: both sides of its switch of form at |x| = 1, and where it rounds to 1).
    rng = np.random.default_rng(kind)
    if kind == 0:
        x = np.concatenate([np.exp(rng.uniform(-745, 709, 100_000)), rng.uniform(0.5, 2, 50_000),
                            [5e-324, 1e-310, 1.0, 2.0, np.sqrt(0.5), np.sqrt(2.0)]])
    else:
        signs = rng.choice([-1.0, 1.0], 100_000)
        x = np.concatenate([rng.uniform(-3, 3, 100_000), rng.uniform(-710, 710, 50_000),
                            np.exp(rng.uniform(-700, 700, 100_000)) * signs, [0.0, 1e-320]])
        if kind == 1:
            x = x[np.abs(x) < 711]
        if kind == 3:
            x = np.concatenate([x, rng.uniform(0.9, 1.1, 50_000), rng.uniform(18.5, 19.5, 10_000),
                                [np.nextafter(1.0, 0.0), -1.0, 1.0, -0.0, 5e-324, 1e308]])
    got = _apply_fast(kind, x)
    want = reference(x.astype(LD))
    finite = np.isfinite(want.astype(float))
    ulp = np.spacing(np.abs(want[finite].astype(float)))
    ulp = np.where(ulp > 0, ulp, np.spacing(0.0))
    assert np.all(np.abs(got[finite].astype(LD) - want[finite]) <= 4 * ulp)
    assert np.all(np.isinf(got[~finite]) | np.isnan(want[~finite].astype(float)))
