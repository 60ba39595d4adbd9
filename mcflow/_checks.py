"""Argument checks shared by every layer: plain numbers in, a clear error out.

Each names the parameter, the bad value and what it must be.  Only NumPy is
imported here, so the statistics layer can check an integer without loading
the engine (and numba).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

__all__ = ["MAX_N", "check_alpha", "check_finite", "check_n", "check_normal", "check_open_unit",
           "check_replicates", "check_seed", "check_tolerance"]

MAX_N = 2**62


def check_n(n: Any) -> int:
    """Validate a sample count: a positive integer (``1e8`` as a float is accepted)."""
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"n must be a positive integer, got {n!r}")
    if isinstance(n, (float, np.floating)):
        if not (math.isfinite(n) and float(n).is_integer()):
            raise ValueError(f"n must be a positive integer, got {n!r}")
        n = int(n)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be a positive integer, got {type(n).__name__} {n!r}") from None
    if n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    if n > MAX_N:
        raise ValueError(f"n must be at most 2**62, got {n}")
    return n


def check_finite(value: Any, parameter: str, owner: str = "") -> float:
    """Validate a finite real number; ``owner`` prefixes the message (``"Affine: "``)."""
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{prefix}{parameter} must be a real number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{prefix}{parameter} must be a real number, got "
                        f"{type(value).__name__} {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{prefix}{parameter} must be finite, got {number}")
    return number


def check_normal(mu: Any, sigma: Any) -> tuple[float, float]:
    """Validate the base normal's parameters."""
    values = [check_finite(mu, "mu"), check_finite(sigma, "sigma")]
    if values[1] <= 0.0:
        raise ValueError(f"sigma must be > 0, got {values[1]}")
    return values[0], values[1]


def check_open_unit(parameter: str, value: Any) -> float:
    """Validate a probability strictly between 0 and 1."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{parameter} must be a real number in (0, 1), got {type(value).__name__} {value!r}"
        ) from None
    if not 0.0 < number < 1.0:
        raise ValueError(f"{parameter} must be in (0, 1), got {number!r}")
    return number


def check_replicates(replicates: Any) -> int:
    """Validate a positive replicate count."""
    if isinstance(replicates, (bool, np.bool_)):
        raise TypeError(f"replicates must be a positive integer, got {replicates!r}")
    try:
        count = operator.index(replicates)
    except TypeError:
        raise TypeError(
            f"replicates must be a positive integer, got {type(replicates).__name__} "
            f"{replicates!r}"
        ) from None
    if count < 1:
        raise ValueError(f"replicates must be a positive integer, got {count}")
    return count


def check_seed(seed: Any) -> int | None:
    """Validate a non-negative integer seed, or None."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed must be a non-negative integer or None, got {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(
            f"seed must be a non-negative integer or None, got {type(seed).__name__} {seed!r}"
        ) from None
    if value < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {value}")
    return value


def check_alpha(alpha: Any) -> float:
    """Validate a significance level in (0, 1)."""
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}")
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {value}")
    return value


def check_tolerance(tolerance: Any) -> float | None:
    """Validate a positive finite L1 tolerance, or None."""
    if tolerance is None:
        return None
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        raise TypeError(f"tolerance must be a positive number or None, got {tolerance!r}") from None
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"tolerance must be a positive finite L1 distance, got {value}")
    return value
