"""The standard normal CDF and its inverse, for the ``normal_cdf`` op.

Scalar libm-based code (``erfc`` and a rational approximation), accurate to a
few ulp in both tails, where the op's density checks look hardest.
"""

from __future__ import annotations

import math

import numpy as np

from mcflow._numba import jit

__all__ = ["ndtri", "normal_cdf"]

_SQRT_HALF = math.sqrt(0.5)
# sqrt(1/2) as an unevaluated sum hi + lo, and hi split in two 26-bit halves,
# for an error-free product x * sqrt(1/2) (Dekker) in the normal CDF.
_SQRT_HALF_LO = float.fromhex("-0x1.bdd3413b26456p-55")  # sqrt(1/2) - _SQRT_HALF
_SPLITTER = 134217729.0  # 2**27 + 1
_SQRT_HALF_HIGH = _SPLITTER * _SQRT_HALF - (_SPLITTER * _SQRT_HALF - _SQRT_HALF)
_SQRT_HALF_LOW = _SQRT_HALF - _SQRT_HALF_HIGH
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@jit(inline="always")
def normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 to a few ulp even in the far left tail.

    Rounding z = -x / sqrt 2 costs a relative error 2 z^2 eps in erfc(z) (over
    60 ulp at x = -8), so z is carried as hi + lo (Dekker's exact product) and
    erfc is corrected to first order: erfc(hi + lo) = erfc(hi) - 2/sqrt(pi)
    exp(-hi^2) lo.
    """
    if not abs(x) < 38.0:  # Phi is 0 or 1 in float64 there (and NaN stays NaN)
        return 0.5 * math.erfc(-x * _SQRT_HALF)
    product = x * _SQRT_HALF
    x_high = _SPLITTER * x - (_SPLITTER * x - x)
    x_low = x - x_high
    product_error = (((x_high * _SQRT_HALF_HIGH - product) + x_high * _SQRT_HALF_LOW)
                     + x_low * _SQRT_HALF_HIGH) + x_low * _SQRT_HALF_LOW
    z_high = -product
    z_low = -(product_error + x * _SQRT_HALF_LO)
    return 0.5 * (math.erfc(z_high) - _TWO_OVER_SQRT_PI * math.exp(-z_high * z_high) * z_low)


@jit
def ndtri(p):
    """Inverse of the standard normal CDF (Wichura's AS241, ~1e-16 relative).

    Returns -inf at 0, inf at 1 and NaN outside [0, 1].
    """
    if not (p >= 0.0 and p <= 1.0):
        return np.nan
    if p == 0.0:
        return -np.inf
    if p == 1.0:
        return np.inf
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                    + 67265.770927008700853) * r + 45921.953931549871457) * r
                  + 13731.693765509461125) * r + 1971.5909503065514427) * r
                + 133.14166789178437745) * r + 3.387132872796366608)
        den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r
                    + 39307.89580009271061) * r + 21213.794301586595867) * r
                  + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1.0)
        return q * num / den
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
        den = (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r
                    + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                  + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
        den = (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r
                    + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                  + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0)
    value = num / den
    return -value if q < 0.0 else value
