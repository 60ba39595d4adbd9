"""``--n auto``: the number of samples that resolves a tolerance, found by a pilot.

The L1 test's detection limit d(n) (95% power at the test's level) scales as
``1 / sqrt(n)`` at fixed cells, so a pilot at ``n0`` gives
``n = n0 (d(n0) / tolerance)^2`` (:func:`mcflow.sensitivity.required_n`).  The
bins refine their tails as n grows, so the run at that n states its own
detection limit; when it still cannot resolve the tolerance, one more step is
taken with its own estimate.  Never beyond ``max_n``: then the verdict is
"inconclusive" and says which n would do.

The choice of n depends only on the simulated null of the claimed cell
probabilities, never on the observed counts, and only the last run's verdict
is reported, so the test keeps its level ``alpha``: looking at the pilot's
data would not (two looks fail a correct density up to twice as often).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_MAX_N", "PILOT_N", "validate_auto_n"]

#: Samples of the pilot run: a null and bins like the final run's, in a fraction of a second.
PILOT_N = 10**5
#: Default ``--max-n``: about 5 s of sampling on 2 cores for the built-ins.
DEFAULT_MAX_N = 10**9
#: Runs at most: the pilot, the n it asks for, one correction for the refined bins.
_MAX_RUNS = 3
#: Asked-for n times this: the detection limit is a tail quantile of a simulated null
#: (about 50 replicates beyond it), known to a few percent, and the bins refine with n;
#: without a margin the run at the estimate misses it by a hair half the time.
_MARGIN = 1.05


def validate_auto_n(run: Callable[[int], Any], max_n: int, pilot_n: int = PILOT_N,
                    report: Callable[[str], None] | None = None) -> Any:
    """Run ``run(n)`` at the n that resolves its tolerance, within ``max_n``.

    Parameters
    ----------
    run : callable
        ``run(n) -> ValidationResult``, validating with a ``tolerance`` (so
        that ``required_n`` is set).
    max_n : int
        The most samples to draw in one run.
    pilot_n : int, default PILOT_N
        Samples of the pilot (``min(pilot_n, max_n)``).
    report : callable, optional
        Called with a line per step ("n = 1e5 resolves L1 >= ...; running n = ...").

    Returns
    -------
    ValidationResult
        The last run's (its verdict alone is the test's).
    """
    n = min(pilot_n, max_n)
    result = run(n)
    for _ in range(_MAX_RUNS - 1):
        wanted = result.required_n
        if wanted is None:
            raise ValueError("--n auto needs --tolerance: the n it chooses is the one that "
                             "resolves the tolerance")
        if wanted <= n or n >= max_n:
            break
        following = min(int(wanted * _MARGIN), max_n)
        if report is not None:
            capped = f" (--max-n {max_n:.3g}; about {wanted:,} would resolve it)" \
                if following < wanted else ""
            report(f"n = {n:,} detects L1 >= {result.detection_limit:.2e}, above the tolerance "
                   f"{result.tolerance:.2e}; running n = {following:,}{capped}")
        n = following
        result = run(n)
    return result
