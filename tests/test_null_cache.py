"""Simulated nulls kept on disk: bitwise the same as simulating, and never trusted blindly."""

from __future__ import annotations

import numpy as np
import pytest

from mcflow import nulls, transforms
from mcflow.validation import validate

_CELLS = np.array([0.1, 0.2, 0.3, 0.25, 0.15])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MCFLOW_CACHE_DIR", str(tmp_path))
    nulls._cached.cache_clear()
    yield tmp_path / "nulls"
    nulls._cached.cache_clear()


def test_a_null_loaded_from_disk_is_the_simulated_one(cache):
    simulated = nulls.null_for(10**6, _CELLS, 2000)
    assert len(list(cache.glob("*.npy"))) == 1
    nulls._cached.cache_clear()
    loaded = nulls.null_for(10**6, _CELLS, 2000)
    assert loaded is not simulated
    assert np.array_equal(loaded.table, simulated.table)
    assert np.array_equal(loaded.probabilities, simulated.probabilities)
    assert loaded.pvalue("l1", 0.001) == simulated.pvalue("l1", 0.001)
    observed = {"ks": 0.001, "l1": 0.002, "g": 5.0, "ad": 2.0}
    assert loaded.min_pvalues is not None and simulated.min_pvalues is None
    assert loaded.combined_pvalue(observed) == simulated.combined_pvalue(observed)
    assert not loaded.table.flags.writeable


def test_the_key_holds_every_input(cache):
    for n, cells, replicates in [(10**6, _CELLS, 2000), (10**6 + 1, _CELLS, 2000),
                                 (10**6, _CELLS, 2001), (10**6, _CELLS[::-1], 2000)]:
        nulls.null_for(n, cells, replicates)
    assert len(list(cache.glob("*.npy"))) == 4


@pytest.mark.parametrize("damage", [b"", b"not a numpy file", None])
def test_a_damaged_or_foreign_file_is_simulated_again(cache, damage):
    simulated = nulls.null_for(10**5, _CELLS, 2000)
    (path,) = cache.glob("*.npy")
    if damage is None:  # a valid .npy of the wrong shape
        np.save(path, np.zeros((3, 4)))
    else:
        path.write_bytes(damage)
    nulls._cached.cache_clear()
    again = nulls.null_for(10**5, _CELLS, 2000)
    assert np.array_equal(again.table, simulated.table)
    assert np.load(path).shape == (2000, 5)  # rewritten whole


def test_an_empty_setting_disables_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MCFLOW_CACHE_DIR", "")
    assert nulls.cache_directory() is None
    monkeypatch.delenv("MCFLOW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert nulls.cache_directory() == tmp_path / "mcflow" / "nulls"


def test_an_unwritable_cache_costs_nothing_but_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("MCFLOW_CACHE_DIR", str(blocker))
    nulls._cached.cache_clear()
    try:
        assert nulls.null_for(10**5, _CELLS, 2000).replicates == 2000
    finally:
        nulls._cached.cache_clear()


def test_the_oldest_nulls_are_pruned(cache, monkeypatch):
    monkeypatch.setattr(nulls, "_MAX_CACHED", 2)
    for replicates in (2000, 2001, 2002):
        nulls.null_for(10**5, _CELLS, replicates)
    assert len(list(cache.glob("*.npy"))) == 2


def test_a_validation_gives_the_same_result_from_the_cache(cache):
    first = validate(transforms.Exp(), n=10**5, seed=4)
    nulls._cached.cache_clear()
    second = validate(transforms.Exp(), n=10**5, seed=4)
    assert second.combined_pvalue == first.combined_pvalue
    assert second.to_dict()["statistics"] == first.to_dict()["statistics"]
    assert len(list(cache.glob("*.npy"))) >= 1


def test_claims_equal_but_for_rounding_share_one_null_whatever_ran_before(cache):
    wobbled = _CELLS * (1.0 + 1e-15 * np.array([1, -1, 2, 0, -2]))
    alone = nulls.null_for(10**6, wobbled, 2000)
    nulls._cached.cache_clear()
    first, second = nulls.null_for(10**6, _CELLS, 2000), nulls.null_for(10**6, wobbled, 2000)
    assert second is first  # one null for both claims, in either order
    assert np.array_equal(alone.table, first.table)
    # a difference the rounding keeps (1e-4 relative at n = 1e6, step 2^-18): another null
    far = _CELLS * (1 + 1e-4 * np.array([1, -1, 1, -1, 1 / 3]))
    assert nulls.null_for(10**6, far, 2000) is not first


@pytest.mark.parametrize("n", [50, 10**4, 10**7, 10**12])
def test_the_rounding_is_below_what_n_resolves(n):
    rng = np.random.default_rng(n % 1000)
    claim = rng.dirichlet(np.ones(200))
    claim[7] = 0.0
    claim /= claim.sum()
    rounded = nulls.quantized(claim, n)
    inside = claim > 0
    relative = np.abs(rounded[inside] / claim[inside] - 1.0)
    # 2^-k <= sqrt(2 KL / n) per cell (KL = 2e-8), twice that after renormalizing
    assert relative.max() <= 2 * np.sqrt(2 * 2e-8 / n)
    assert rounded[7] == 0.0 and abs(rounded.sum() - 1.0) < 1e-15
    # KL to second order (the first-order terms cancel, and summing them in floats would
    # leave n * 1e-16 of rounding): n * sum (q - p)^2 / (2 p)
    kl = n * np.sum((rounded[inside] - claim[inside]) ** 2 / (2 * claim[inside]))
    assert kl <= 2 * 2e-8


def test_observed_statistics_use_the_nulls_probabilities():
    # an observed count vector equal to a replicate ties with it exactly: the p-value of
    # the largest replicate's L1 counts that replicate (at least 2 / (R + 1))
    from mcflow.layers import mc_layer

    claim = np.full(12, 1 / 12) * (1 + 1e-7 * np.arange(12) - 1e-7 * 5.5)
    null = nulls.null_for(300, claim, 2000)
    counts = np.random.default_rng(3).multinomial(300, null.probabilities, size=1)[0]
    layer = mc_layer("mc", counts, claim, null, 0.01, "claim", None)
    from mcflow.statistics import l1_statistic

    assert layer.statistics["l1"] == l1_statistic(counts, null.probabilities)
