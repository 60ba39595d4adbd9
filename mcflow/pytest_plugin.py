"""pytest plugin: ``--mcflow-seed`` and ``--mcflow-vary-seed`` for mcflow checks.

Registered through the ``pytest11`` entry point, so it is active wherever
mcflow is installed; it only changes the seed of
:func:`mcflow.testing.assert_density_matches` when one of its options is given.

It is loaded by every pytest run on a machine with mcflow, so it imports nothing heavy:
:mod:`mcflow.testing` (numpy, numba, scipy) is imported only when an option is given, and a
session without options resets the seed policy only where a test already imported it.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["pytest_addoption", "pytest_configure", "pytest_report_header"]

_TESTING = "mcflow.testing"


def pytest_addoption(parser: Any) -> None:
    """Add the mcflow options."""
    group = parser.getgroup("mcflow", "mcflow density checks")
    group.addoption("--mcflow-seed", type=int, default=None, metavar="SEED",
                    help="run every assert_density_matches with this seed (reproduce a failure)")
    group.addoption("--mcflow-vary-seed", action="store_true", default=False,
                    help="draw a fresh seed for every assert_density_matches (measure the real "
                         "flake rate; failures print their seed)")


def pytest_configure(config: Any) -> None:
    """Apply the seed policy for this session."""
    seed = config.getoption("--mcflow-seed", default=None)
    vary = config.getoption("--mcflow-vary-seed", default=False)
    if seed is not None and seed < 0:
        raise ValueError(f"--mcflow-seed must be a non-negative integer, got {seed}")
    if seed is None and not vary and _TESTING not in sys.modules:
        return  # the default policy, which mcflow.testing starts with when it is imported
    from mcflow import testing

    testing.set_seed_policy(seed=seed, vary=vary)


def pytest_report_header(config: Any) -> str | None:
    """Say when a seed policy is in force."""
    testing = sys.modules.get(_TESTING)
    if testing is None:  # never imported: the default policy
        return None
    policy = testing.seed_policy()
    if policy["vary"]:
        return "mcflow: fresh seed per density check (--mcflow-vary-seed)"
    if policy["seed"] is not None:
        return f"mcflow: density checks use seed {policy['seed']} (--mcflow-seed)"
    return None
