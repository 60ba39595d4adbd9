"""Helpers for using mcflow inside a project's own test suite.

>>> from mcflow.testing import assert_density_matches
>>> from mcflow import transforms
>>> result = assert_density_matches(transforms.Exp(), n=10**5)

With the pytest plugin (installed with mcflow), ``pytest --mcflow-seed S``
reruns every check with seed S (to reproduce a failure), and
``pytest --mcflow-vary-seed`` draws a fresh seed for each check (to measure
the real flake rate: it should fail in about ``alpha`` of the runs).
"""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Callable
from typing import Any

import numpy as np

from mcflow.transform import Transform
from mcflow.validation import ValidationResult, validate

__all__ = ["assert_density_matches", "assert_flow_density", "seed_policy", "set_seed_policy"]

_policy: dict[str, Any] = {"seed": None, "vary": False}


def set_seed_policy(*, seed: int | None = None, vary: bool = False) -> None:
    """Override the seed of every :func:`assert_density_matches` (used by the plugin).

    Parameters
    ----------
    seed : int, optional
        Use this seed for every check.
    vary : bool
        Draw a fresh random seed for every check (reported in failures).
    """
    if seed is not None and vary:
        raise ValueError(
            "seed and vary are exclusive: pass one of --mcflow-seed, --mcflow-vary-seed"
        )
    _policy["seed"] = seed
    _policy["vary"] = bool(vary)


def seed_policy() -> dict[str, Any]:
    """Return the current seed policy (``{"seed": int | None, "vary": bool}``)."""
    return dict(_policy)


def assert_density_matches(
    transform: Transform,
    pdf: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    allow_inconclusive: bool = False,
    **options: Any,
) -> ValidationResult:
    """Assert that ``pdf`` (default: the transform's own p_Y) matches brute force.

    Parameters
    ----------
    transform : Transform
        T, with X ~ N(mu, sigma).
    pdf : callable, optional
        Claimed density ``p_Y(y: ndarray) -> ndarray``.
    allow_inconclusive : bool, default False
        Whether an ``"inconclusive"`` verdict (n cannot resolve ``tolerance``)
        passes.  By default it fails: a gate that cannot see is not a pass.
    **options
        Passed to :func:`mcflow.validate` (``n``, ``bins``, ``range``,
        ``seed``, ``alpha``, ``tolerance``, ``mu``, ``sigma``, ``threads``).

    Returns
    -------
    ValidationResult
        When the check passes.

    Raises
    ------
    AssertionError
        With the statistics, the failing layer, the worst bins and the seed to
        reproduce it.
    """
    __tracebackhide__ = True  # pytest shows the assertion, not mcflow's frames
    _apply_policy(options)
    result = validate(transform, pdf, **options)
    if result.verdict == "pass" or (result.verdict == "inconclusive" and allow_inconclusive):
        return result
    raise AssertionError(
        f"mcflow: the density of {result.transform} does not match "
        f"({result.verdict}; failing layers: {', '.join(result.failed_layers) or 'none'})\n"
        f"{result.summary()}\n"
        f"{_reproduce_line(result.seed)}"
    )


def _reproduce_line(seed: int | None) -> str:
    """``pytest 'TEST_ID' --mcflow-seed S``: the test pytest is running, with the seed used."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    test_id = current.rsplit(" (", 1)[0]  # "path::name (call)" while a test runs
    target = f"{shlex.quote(test_id)} " if test_id else ""
    return f"reproduce with: pytest {target}--mcflow-seed {seed}"


def _apply_policy(options: dict[str, Any]) -> None:
    if _policy["vary"]:
        options["seed"] = secrets.randbits(32)
    elif _policy["seed"] is not None:
        options["seed"] = _policy["seed"]


def assert_flow_density(case: Any, *, n: int = 10**6, alpha: float = 0.01,
                        seed: int | None = None, allow_inconclusive: bool = False,
                        client: Any = None) -> Any:
    """Assert that a d-dimensional flow's claimed density matches brute force.

    Parameters
    ----------
    case : mcflow.nd.Case
        The flow and its claimed ``log_prob`` (``mcflow.from_torch`` /
        ``mcflow.from_jax`` return one for a flow of event shape ``(d,)``).
    n, alpha, seed, client
        Passed to :func:`mcflow.nd.validate`; the plugin's ``--mcflow-seed``
        and ``--mcflow-vary-seed`` override ``seed``.
    allow_inconclusive : bool, default False
        Whether an ``"inconclusive"`` verdict passes (by default it fails).

    Returns
    -------
    mcflow.nd.NdResult
        When the check passes.

    Raises
    ------
    AssertionError
        With every layer's message and the seed to reproduce it.
    """
    __tracebackhide__ = True  # pytest shows the assertion, not mcflow's frames
    from mcflow import nd

    options: dict[str, Any] = {"seed": seed}
    _apply_policy(options)
    result = nd.validate(case, n=n, alpha=alpha, seed=options["seed"], client=client)
    if result.verdict == "pass" or (result.verdict == "inconclusive" and allow_inconclusive):
        return result
    raise AssertionError(
        f"mcflow: the density of {result.name} (d = {result.dim}) does not match "
        f"({result.verdict}; failing layers: {', '.join(result.failed_layers) or 'none'})\n"
        f"{result.summary()}\n"
        f"{_reproduce_line(result.seed)}"
    )
