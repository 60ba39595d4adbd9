"""pytest plugin: ``--mcflow-seed`` and ``--mcflow-vary-seed`` for mcflow checks.

Registered through the ``pytest11`` entry point, so it is active wherever
mcflow is installed; it only changes the seed of
:func:`mcflow.testing.assert_density_matches` when one of its options is given.
"""

from __future__ import annotations

from typing import Any

from mcflow import testing

__all__ = ["pytest_addoption", "pytest_configure", "pytest_report_header"]


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
    testing.set_seed_policy(seed=seed, vary=vary)


def pytest_report_header(config: Any) -> str | None:
    """Say when a seed policy is in force."""
    policy = testing.seed_policy()
    if policy["vary"]:
        return "mcflow: fresh seed per density check (--mcflow-vary-seed)"
    if policy["seed"] is not None:
        return f"mcflow: density checks use seed {policy['seed']} (--mcflow-seed)"
    return None
