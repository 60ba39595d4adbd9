"""Goodness-of-fit statistics on binned counts, calibrated by simulating the null.

The counts cover an *ordered* partition of the real line into cells (in
practice ``[underflow, bin_0, ..., bin_{k-1}, overflow]``) and the claim under
test gives each cell a probability.  Three statistics measure the distance
between the empirical cell frequencies ``c_i / n`` and the claim ``p_i``:

* ``ks``: the largest gap between the two cumulative distributions at the
  cell boundaries (Kolmogorov–Smirnov on a grid);
* ``l1``: ``sum_i |c_i / n - p_i|``, twice the total-variation distance, the
  one with a direct meaning ("how much probability is in the wrong place");
* ``g``: the likelihood-ratio statistic ``2 sum_i c_i log(c_i / (n p_i))``.

Their null distributions are not taken from asymptotic formulas (which fail
for sparse cells, and for ``ks`` on a grid): :func:`simulate_null` draws count
vectors from ``Multinomial(n, p)`` itself, which costs O(cells) per replicate
whatever ``n`` is, and the p-value is the Monte Carlo one, valid at every
``n``.  :func:`detection_limit` and :func:`required_n` turn the same simulation
into "which deviation would this run have seen" and "how many samples would
it take to see a given one".
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import kstwobign

from mcflow.engine import check_n

__all__ = [
    "STATISTIC_NAMES",
    "NullDistribution",
    "StatisticName",
    "default_replicates",
    "detection_limit",
    "g_statistic",
    "kolmogorov_pvalue",
    "ks_statistic",
    "l1_statistic",
    "required_n",
    "simulate_null",
    "standardized_residuals",
    "worst_cells",
]

StatisticName = Literal["ks", "l1", "g"]
STATISTIC_NAMES: tuple[str, ...] = ("ks", "l1", "g")

#: How far ``sum(probabilities)`` may be from 1 (quadrature and rounding
#: leave ~1e-12; anything near 1e-9 is a modelling error, not rounding).
_SUM_TOLERANCE = 1e-9
#: Replicate statistics within this relative distance of the observed one
#: count as ties (as ``>=``): the observed and simulated values of one count
#: vector may round differently, and a missed tie would make p-values too
#: small.  Treating near-ties as ties can only make p-values larger.
_TIE_RTOL = 1e-9
#: Bytes of working memory per simulation batch (counts plus temporaries).
_BATCH_BYTES = 64 * 2**20
#: int64 counts and about seven float64 temporaries per cell and replicate.
_BYTES_PER_CELL = 8 * 8
_MIN_REPLICATES = 2000
_MAX_REPLICATES = 100_000
#: Replicates beyond the p-value threshold needed to resolve it: with
#: 50 / alpha replicates about 50 of them lie beyond the alpha quantile, so a
#: p-value near alpha has a Monte Carlo relative standard error near 1/sqrt(50).
_REPLICATES_PER_ALPHA = 50


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _check_probabilities(probabilities: Any) -> np.ndarray:
    """Return the cell probabilities as float64, normalized to sum to 1."""
    values = np.asarray(probabilities, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"probabilities must be a non-empty 1-d array, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"probabilities must be finite, got {values[bad]} at index {bad}")
    if np.any(values < 0.0):
        bad = int(np.flatnonzero(values < 0.0)[0])
        raise ValueError(f"probabilities must be >= 0, got {values[bad]!r} at index {bad}")
    total = math.fsum(values)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(
            f"probabilities must sum to 1 (within {_SUM_TOLERANCE:g}), got sum {total!r}"
        )
    return values / total


def _check_counts(counts: Any, cells: int) -> np.ndarray:
    """Return ``counts`` as a 1-d int64 array of ``cells`` entries with n > 0."""
    values = np.asarray(counts)
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"counts must be an integer array, got dtype {values.dtype}")
    if values.shape != (cells,):
        raise ValueError(
            f"counts must have shape (cells,) with cells = len(probabilities) = {cells}, "
            f"got shape {values.shape}"
        )
    values = values.astype(np.int64, copy=False)
    if np.any(values < 0):
        bad = int(np.flatnonzero(values < 0)[0])
        raise ValueError(f"counts must be >= 0, got {values[bad]} at index {bad}")
    if values.sum() <= 0:
        raise ValueError("counts must hold at least one observation, got n = 0")
    return values


def _check_open_unit(parameter: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{parameter} must be a real number in (0, 1), got {type(value).__name__} {value!r}"
        ) from None
    if not 0.0 < number < 1.0:
        raise ValueError(f"{parameter} must be in (0, 1), got {number!r}")
    return number


def _check_name(name: Any) -> str:
    if name not in STATISTIC_NAMES:
        raise ValueError(f"name must be one of {STATISTIC_NAMES}, got {name!r}")
    return str(name)


# --------------------------------------------------------------------------
# Statistics, vectorized over replicate rows
# --------------------------------------------------------------------------


def _ks_rows(counts: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1)
    # Integer cumulative sums are exact; the last boundary (+inf) is left out
    # because both cumulative distributions are 1 there.
    cumulative_counts = np.cumsum(counts[:, :-1], axis=1)
    cumulative_probabilities = np.cumsum(probabilities[:-1])
    gaps = np.abs(cumulative_counts / totals[:, None] - cumulative_probabilities)
    if gaps.shape[1] == 0:
        return np.zeros(counts.shape[0])
    return gaps.max(axis=1)


def _l1_rows(counts: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1)
    return np.abs(counts / totals[:, None] - probabilities).sum(axis=1)


def _g_rows(counts: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1).astype(np.float64)
    expected = totals[:, None] * probabilities
    excess = counts - expected
    # Each term c log(c/e) - (c - e) is >= 0 and of size (c - e)^2 / 2e; the
    # added terms sum to zero, but keeping them inside the sum avoids adding
    # up large terms of both signs when n is huge.  log1p keeps the digits of
    # a ratio c/e close to 1; far from 1 the two logs avoid overflowing c/e
    # for a tiny e.  Cells with c = 0 contribute e; c > 0 where e = 0 is
    # impossible under the claim and gives +inf.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.where(
            np.abs(excess) < 0.5 * expected,
            np.log1p(excess / expected),
            np.log(counts) - np.log(expected),
        )
        terms = counts * log_ratio - excess
    terms = np.where(counts == 0, expected, terms)
    terms = np.where((expected == 0.0) & (counts > 0), np.inf, terms)
    return 2.0 * terms.sum(axis=1)


_ROW_STATISTICS = {"ks": _ks_rows, "l1": _l1_rows, "g": _g_rows}


def _observed(name: str, counts: Any, probabilities: Any) -> float:
    cell_probabilities = _check_probabilities(probabilities)
    rows = _check_counts(counts, cell_probabilities.size)[None, :]
    # Same code path as the simulated replicates, so equal count vectors give
    # bit-identical statistics and ties are seen as ties.
    return float(_ROW_STATISTICS[name](rows, cell_probabilities)[0])


def ks_statistic(counts: Any, probabilities: Any) -> float:
    r"""Kolmogorov–Smirnov distance between the binned empirical and claimed CDFs.

    .. math:: D = \max_j \left| C_j / n - F_j \right|,\quad
              C_j = \sum_{i \le j} c_i,\quad F_j = \sum_{i \le j} p_i,

    over the boundaries between consecutive cells.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts over an ordered partition of the line.
    probabilities : array_like of float, shape (cells,)
        Claimed probability of each cell (>= 0, summing to 1 within 1e-9;
        normalized here).

    Returns
    -------
    float
        ``D`` in [0, 1].
    """
    return _observed("ks", counts, probabilities)


def l1_statistic(counts: Any, probabilities: Any) -> float:
    r"""L1 distance between the empirical cell frequencies and the claim.

    .. math:: L_1 = \sum_i \left| c_i / n - p_i \right|,

    twice the total-variation distance: ``L1 / 2`` is the probability mass
    that sits in the wrong cells.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    float
        ``L1`` in [0, 2].
    """
    return _observed("l1", counts, probabilities)


def g_statistic(counts: Any, probabilities: Any) -> float:
    r"""Likelihood-ratio (G) statistic of the counts against the claim.

    .. math:: G = 2 \sum_i c_i \log\frac{c_i}{n p_i},

    with ``0 log 0 = 0``.  It is evaluated as the equal sum
    ``2 sum_i [c_i log(c_i / e_i) - (c_i - e_i)]``, ``e_i = n p_i``, whose
    terms are all >= 0, so it keeps its digits at ``n = 1e12``.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    float
        ``G >= 0``; ``+inf`` if a cell with ``p_i == 0`` has ``c_i > 0`` (an
        observation the claim calls impossible, e.g. outside its support).
    """
    return _observed("g", counts, probabilities)


def kolmogorov_pvalue(d: float, n: int) -> float:
    r"""Asymptotic Kolmogorov p-value of a KS distance from ``n`` observations.

    .. math:: p = \Pr\left(K > \sqrt{n}\, d\right),

    where ``K`` follows the Kolmogorov distribution
    (:data:`scipy.stats.kstwobign`).

    This is the p-value for a *continuous* CDF.  Evaluated on the binned
    statistic it is conservative (too large): the maximum over a grid of bin
    edges can only be smaller than the maximum over the whole line, so the
    binned ``D`` is stochastically smaller than the continuous one.  Use
    :meth:`NullDistribution.pvalue` for a calibrated p-value.

    Parameters
    ----------
    d : float
        KS distance in [0, 1].
    n : int
        Number of observations.

    Returns
    -------
    float
        The asymptotic p-value in [0, 1].
    """
    distance = float(d)
    if not 0.0 <= distance <= 1.0:
        raise ValueError(f"d must be in [0, 1], got {d!r}")
    samples = check_n(n)
    return float(kstwobign.sf(math.sqrt(samples) * distance))


# --------------------------------------------------------------------------
# Null distribution by simulation
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NullDistribution:
    """Simulated null distribution of the three statistics at fixed ``n`` and cells.

    Built by :func:`simulate_null`.

    Attributes
    ----------
    n : int
        Observations per simulated experiment.
    replicates : int
        Number of simulated experiments ``R``.
    probabilities : ndarray of float64, shape (cells,)
        The (normalized) null cell probabilities.
    ks, l1, g : ndarray of float64, shape (replicates,)
        Sorted simulated values of each statistic.
    seed : int
        Entropy of the :class:`numpy.random.SeedSequence` that drove the
        simulation; ``simulate_null(n, probabilities, seed=seed)`` repeats it.
    """

    n: int
    replicates: int
    probabilities: np.ndarray
    ks: np.ndarray
    l1: np.ndarray
    g: np.ndarray
    seed: int

    def statistic(self, name: StatisticName) -> np.ndarray:
        """Sorted simulated values of the statistic called ``name``.

        Parameters
        ----------
        name : {"ks", "l1", "g"}
            Which statistic.

        Returns
        -------
        ndarray of float64, shape (replicates,)
        """
        return getattr(self, _check_name(name))

    def pvalue(self, name: StatisticName, observed: float) -> float:
        r"""Monte Carlo p-value of an observed statistic.

        .. math:: p = \frac{1 + \#\{r : T_r \ge T_{obs}\}}{R + 1}.

        Under the null the observed and the ``R`` simulated statistics are
        exchangeable, so ``P(p <= u) <= u`` for every ``u``: the test is exact
        (conservative when the statistic has ties) at every ``n``.  Simulated
        values within a relative 1e-9 of ``observed`` count as ties, so rounding
        can never make the p-value too small.  The smallest attainable value
        is ``1 / (R + 1)``.

        Parameters
        ----------
        name : {"ks", "l1", "g"}
            Which statistic.
        observed : float
            Its value on the data (``+inf`` allowed, e.g. ``G`` with an
            impossible observation).

        Returns
        -------
        float
            The p-value in ``[1 / (R + 1), 1]``.
        """
        simulated = self.statistic(name)
        value = float(observed)
        if math.isnan(value):
            raise ValueError(f"observed must be a number, got {observed!r}")
        threshold = value - _TIE_RTOL * abs(value) if math.isfinite(value) else value
        at_least = simulated.size - int(np.searchsorted(simulated, threshold, side="left"))
        return (1.0 + at_least) / (self.replicates + 1.0)

    def quantile(self, name: StatisticName, q: float) -> float:
        """Empirical ``q``-quantile of the simulated statistic.

        Parameters
        ----------
        name : {"ks", "l1", "g"}
            Which statistic.
        q : float
            Probability in [0, 1].

        Returns
        -------
        float
            :func:`numpy.quantile` of the simulated values (linear interpolation).
        """
        simulated = self.statistic(name)
        level = float(q)
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        return float(np.quantile(simulated, level))

    def __repr__(self) -> str:
        return (
            f"NullDistribution(n={self.n}, replicates={self.replicates}, "
            f"cells={self.probabilities.size}, seed={self.seed})"
        )


def _batch_rows(cells: int) -> int:
    return max(1, _BATCH_BYTES // (_BYTES_PER_CELL * cells))


def simulate_null(
    n: int,
    probabilities: Any,
    *,
    replicates: int = 10_000,
    seed: int | None = None,
) -> NullDistribution:
    """Simulate the statistics under the claim: counts ~ Multinomial(n, probabilities).

    Count vectors are drawn with ``numpy.random.default_rng(seed).multinomial``
    in batches of bounded memory (about 64 MB); each replicate costs O(cells)
    whatever ``n`` is (int64 throughout, so ``n = 1e12`` is fine).

    Parameters
    ----------
    n : int
        Observations per experiment (the ``n`` of the data to be tested).
    probabilities : array_like of float, shape (cells,)
        Null cell probabilities (>= 0, summing to 1 within 1e-9; normalized
        here).
    replicates : int, default 10000
        Number of simulated experiments ``R``; see :func:`default_replicates`.
    seed : int or None
        Seed for :func:`numpy.random.default_rng`; ``None`` draws fresh entropy,
        recorded in the result's ``seed``.

    Returns
    -------
    NullDistribution
        Sorted simulated ``ks``, ``l1`` and ``g`` values.
    """
    samples = check_n(n)
    cell_probabilities = _check_probabilities(probabilities)
    count = _check_replicates(replicates)
    seed_sequence = np.random.SeedSequence(_check_seed(seed))
    rng = np.random.default_rng(seed_sequence)
    simulated: dict[str, list[np.ndarray]] = {name: [] for name in STATISTIC_NAMES}
    rows_per_batch = _batch_rows(cell_probabilities.size)
    for start in range(0, count, rows_per_batch):
        rows = min(rows_per_batch, count - start)
        counts = rng.multinomial(samples, cell_probabilities, size=rows).astype(
            np.int64, copy=False
        )
        for name, rows_statistic in _ROW_STATISTICS.items():
            simulated[name].append(rows_statistic(counts, cell_probabilities))
    sorted_values = {name: np.sort(np.concatenate(parts)) for name, parts in simulated.items()}
    # Frozen in content as well as in attributes.
    for values in (*sorted_values.values(), cell_probabilities):
        values.setflags(write=False)
    return NullDistribution(
        n=samples,
        replicates=count,
        probabilities=cell_probabilities,
        seed=int(seed_sequence.entropy),
        **sorted_values,
    )


def _check_replicates(replicates: Any) -> int:
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


def _check_seed(seed: Any) -> int | None:
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


def default_replicates(alpha_per_test: float) -> int:
    r"""Choose a number of null replicates that resolves p-values near a threshold.

    .. math:: R = \min(100000, \max(2000, \lceil 50 / \alpha \rceil)).

    With ``R >= 50 / alpha`` about 50 simulated values lie beyond the
    ``1 - alpha`` quantile, so a p-value near ``alpha`` carries a Monte Carlo
    relative standard error of about ``1 / sqrt(50) = 14 %``, and the smallest
    attainable p-value ``1 / (R + 1)`` is far below ``alpha``.  2000 is the
    floor for stable quantiles (:func:`detection_limit`); the cap bounds the
    cost (for ``alpha < 5e-4`` the resolution near ``alpha`` degrades
    gracefully, and the p-value stays valid).

    Parameters
    ----------
    alpha_per_test : float
        Significance level of each test, in (0, 1) (after any Bonferroni split).

    Returns
    -------
    int
        Replicates to pass to :func:`simulate_null`.
    """
    alpha = _check_open_unit("alpha_per_test", alpha_per_test)
    wanted = math.ceil(_REPLICATES_PER_ALPHA / alpha)
    return int(min(_MAX_REPLICATES, max(_MIN_REPLICATES, wanted)))


# --------------------------------------------------------------------------
# Sensitivity
# --------------------------------------------------------------------------


def detection_limit(null: NullDistribution, alpha: float, power: float = 0.95) -> float:
    r"""Smallest true L1 deviation the L1 test detects with probability >= ``power``.

    .. math:: d_{min} = q_{1-\alpha}(L_1^{null}) + q_{power}(L_1^{null}).

    If the data really come from ``Q`` with ``||Q - P||_1 = d``, the triangle
    inequality gives ``L1_obs = ||emp - P||_1 >= d - ||emp - Q||_1``, and
    ``||emp - Q||_1`` is distributed (approximately, for ``Q`` near ``P``) like
    the null L1.  So once ``d >= d_min`` the observed L1 exceeds the test's
    critical value ``q_{1-alpha}`` with probability at least ``power``.  The
    bound is conservative (an upper bound on the true detection limit): the
    triangle inequality is rarely tight, and the real power at ``d_min`` is
    usually far above ``power``.

    Parameters
    ----------
    null : NullDistribution
        Simulated null at the run's ``n`` and cells.
    alpha : float
        Level of the L1 test, in (0, 1).
    power : float, default 0.95
        Required detection probability, in (0, 1).

    Returns
    -------
    float
        ``d_min`` (in units of L1, i.e. twice the misplaced probability).
    """
    if not isinstance(null, NullDistribution):
        raise TypeError(f"null must be a NullDistribution, got {type(null).__name__}")
    level = _check_open_unit("alpha", alpha)
    detection_probability = _check_open_unit("power", power)
    return null.quantile("l1", 1.0 - level) + null.quantile("l1", detection_probability)


def required_n(
    n: int,
    null: NullDistribution,
    alpha: float,
    tolerance: float,
    power: float = 0.95,
) -> int:
    r"""Estimate the n at which the L1 test detects a deviation of size ``tolerance``.

    .. math:: n_{req} = \left\lceil n \left(\frac{d_{min}(n)}{tolerance}\right)^2
              \right\rceil,

    using that at fixed cells the null L1 quantiles, hence
    :func:`detection_limit`, scale as ``1 / sqrt(n)``.

    Parameters
    ----------
    n : int
        Observations the ``null`` was simulated for.
    null : NullDistribution
        Simulated null at ``n``.
    alpha : float
        Level of the L1 test, in (0, 1).
    tolerance : float
        L1 deviation to be detected, > 0.
    power : float, default 0.95
        Required detection probability, in (0, 1).

    Returns
    -------
    int
        The ``n`` at which ``detection_limit`` would equal ``tolerance``.
    """
    samples = check_n(n)
    if not isinstance(null, NullDistribution):
        raise TypeError(f"null must be a NullDistribution, got {type(null).__name__}")
    if samples != null.n:
        raise ValueError(f"n must be the n the null was simulated for ({null.n}), got {samples}")
    try:
        wanted = float(tolerance)
    except (TypeError, ValueError):
        raise TypeError(
            f"tolerance must be a positive number, got {type(tolerance).__name__} {tolerance!r}"
        ) from None
    if not (wanted > 0.0 and math.isfinite(wanted)):
        raise ValueError(f"tolerance must be a positive finite number, got {tolerance!r}")
    limit = detection_limit(null, alpha, power)
    return math.ceil(samples * (limit / wanted) ** 2)


# --------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------


def standardized_residuals(counts: Any, probabilities: Any) -> np.ndarray:
    r"""Per-cell residuals in units of their binomial standard deviation.

    .. math:: r_i = \frac{c_i - n p_i}{\sqrt{n p_i (1 - p_i)}}.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities (normalized here).

    Returns
    -------
    ndarray of float64, shape (cells,)
        ``r_i``; NaN where ``p_i`` is 0 or 1 (no variance to scale by).
    """
    cell_probabilities = _check_probabilities(probabilities)
    cell_counts = _check_counts(counts, cell_probabilities.size)
    samples = float(cell_counts.sum())
    expected = samples * cell_probabilities
    variance = expected * (1.0 - cell_probabilities)
    residuals = np.full(cell_probabilities.size, np.nan)
    defined = variance > 0.0
    residuals[defined] = (cell_counts[defined] - expected[defined]) / np.sqrt(variance[defined])
    return residuals


def worst_cells(counts: Any, probabilities: Any, k: int = 5) -> list[tuple[int, float]]:
    """List the ``k`` cells with the largest standardized residuals in absolute value.

    Parameters
    ----------
    counts : array_like of int, shape (cells,)
        Observed counts.
    probabilities : array_like of float, shape (cells,)
        Claimed cell probabilities.
    k : int, default 5
        How many cells to return (fewer if fewer have a defined residual).

    Returns
    -------
    list of (int, float)
        ``(index, residual)`` sorted by ``|residual|`` descending; cells whose
        residual is NaN (``p_i`` 0 or 1) are skipped.
    """
    if isinstance(k, (bool, np.bool_)):
        raise TypeError(f"k must be a non-negative integer, got {k!r}")
    try:
        wanted = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be a non-negative integer, got {type(k).__name__} {k!r}") from None
    if wanted < 0:
        raise ValueError(f"k must be a non-negative integer, got {wanted}")
    residuals = standardized_residuals(counts, probabilities)
    defined = np.flatnonzero(~np.isnan(residuals))
    # Stable sort: among equal |residual| the lower index comes first.
    order = defined[np.argsort(-np.abs(residuals[defined]), kind="stable")]
    return [(int(index), float(residuals[index])) for index in order[:wanted]]
