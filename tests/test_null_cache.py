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
    nulls._RECENT.clear()
    yield tmp_path / "nulls"
    nulls._cached.cache_clear()
    nulls._RECENT.clear()


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


def test_claims_equal_but_for_rounding_share_one_null(cache):
    wobbled = _CELLS * (1.0 + 1e-15 * np.array([1, -1, 2, 0, -2]))
    first, second = nulls.null_for(10**6, _CELLS, 2000), nulls.null_for(10**6, wobbled, 2000)
    assert second is first
    # the bound is sqrt(2 * 2e-8 / n) = 2e-7 at n = 1e6: 1e-8 shares, 1e-6 does not (the
    # wobbles keep the sum at 1)
    assert nulls.null_for(10**6, _CELLS * (1 + 1e-8 * np.array([1, -1, 1, -1, 1 / 3])), 2000) \
        is first
    assert nulls.null_for(10**6, _CELLS * (1 + 1e-6 * np.array([1, -1, 1, -1, 1 / 3])), 2000) \
        is not first
    assert nulls.null_for(10**7, _CELLS, 2000) is not first  # another n: another null
