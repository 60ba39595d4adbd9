"""The pytest helper and plugin: messages that explain, seeds that reproduce."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

from mcflow import transforms
from mcflow._seeds import case_seed
from mcflow.testing import assert_density_matches, set_seed_policy

#: The default seed of the exp case (derived from the case, not a shared 0).
EXP_SEED = case_seed("exp", "derived", 0.0, 1.0)


def test_passing_check_returns_the_result():
    result = assert_density_matches(transforms.Exp(), n=10**5)
    assert result.passed


def test_failure_message_carries_statistics_layer_and_worst_bins():
    with pytest.raises(AssertionError) as failure:
        assert_density_matches(transforms.Exp(), lambda y: stats.lognorm.pdf(y, 1.1), n=10**5)
    message = str(failure.value)
    test_id = "tests/test_testing.py::test_failure_message_carries_statistics_layer_and_worst_bins"
    for needle in ("failing layers: exact, mc_vs_claimed", "KS D =", "L1 =", "G =",
                   "worst bins:", f"reproduce with: pytest {test_id} --mcflow-seed "):
        assert needle in message, needle


def test_failure_message_names_a_flipped_log_det(monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # outside pytest: no test id to rerun
    with pytest.raises(AssertionError) as failure:
        # p_X(x) * |dT/dx| for Y = exp(X): the log-det added where it is subtracted
        assert_density_matches(transforms.Exp(), lambda y: stats.norm.pdf(np.log(y)) * y,
                               n=10**4, seed=2)
    message = str(failure.value)
    assert "the log-det's sign flipped?" in message
    assert message.endswith("reproduce with: pytest --mcflow-seed 2")


def test_inconclusive_fails_unless_allowed():
    with pytest.raises(AssertionError, match="inconclusive"):
        assert_density_matches(transforms.Exp(), n=10**4, tolerance=1e-4)
    result = assert_density_matches(transforms.Exp(), n=10**4, tolerance=1e-4,
                                    allow_inconclusive=True)
    assert result.verdict == "inconclusive"


def test_seed_policy_overrides_the_seed():
    try:
        set_seed_policy(seed=123)
        assert assert_density_matches(transforms.Exp(), n=10**4, seed=5).seed == 123
        set_seed_policy(vary=True)
        seeds = {assert_density_matches(transforms.Exp(), n=10**4).seed for _ in range(3)}
        assert len(seeds) == 3
    finally:
        set_seed_policy()
    with pytest.raises(ValueError, match="exclusive"):
        set_seed_policy(seed=1, vary=True)


_USER_TEST = textwrap.dedent("""
    from mcflow import transforms
    from mcflow.testing import assert_density_matches

    def test_exp():
        r = assert_density_matches(transforms.Exp(), n=10**4)
        print("SEED", r.seed)
""")


@pytest.mark.parametrize(("option", "expected"), [([], f"SEED {EXP_SEED}"),
                                                  (["--mcflow-seed", "77"], "SEED 77")])
def test_plugin_options_in_a_user_project(tmp_path, option, expected):
    (tmp_path / "test_user.py").write_text(_USER_TEST)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", *option,
         str(tmp_path / "test_user.py")],
        capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ), check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert expected in completed.stdout


_RAISING_TEST = textwrap.dedent("""
    from mcflow import transforms
    from mcflow.testing import assert_density_matches

    def my_pdf(y):
        raise ValueError("a bug in the user's pdf")

    def test_user_pdf_raises():
        assert_density_matches(transforms.Exp(), my_pdf, n=10**4)

    def test_mcflow_refuses():
        assert_density_matches(transforms.Exp(), n=-1)
""")


@pytest.mark.parametrize("debug", [False, True])
def test_mcflow_frames_are_hidden_when_the_users_code_raised(tmp_path, debug):
    (tmp_path / "test_user.py").write_text(_RAISING_TEST)
    env = {key: value for key, value in os.environ.items() if key != "MCFLOW_DEBUG"}
    if debug:
        env["MCFLOW_DEBUG"] = "1"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    output = completed.stdout
    users, ours = output.split("test_mcflow_refuses", 1)[0], output.split("_ test_mcflow", 1)[1]
    assert "ValueError: a bug in the user's pdf" in users
    assert 'raise ValueError("a bug in the user\'s pdf")' in users
    # validate and quadrature only carried the call: hidden, unless MCFLOW_DEBUG asks
    assert ("mcflow/validation.py" in users) is debug
    assert ("mcflow/_gauss_kronrod.py" in users) is debug
    # mcflow's own refusal keeps its frames: they say where and why
    assert "n must be a positive integer, got -1" in ours and "mcflow/" in ours
