"""Densities claimed by real flow libraries: each correct one passes, its buggy twins fail.

Optional: every test imports its library with ``pytest.importorskip`` (torch,
pyro, zuko, nflows, numpyro, distrax, flowjax are not dependencies of mcflow),
so CI without them skips the lot.  The glue and the corpus are in
``tests/_library_cases.py``; ``python tests/_library_cases.py --list`` lists the
cases and ``python tests/_library_cases.py CASE --n 1e6`` runs one.

What the corpus exercises, on the code users bring:

- bounded supports whose forward map is exact at the ends (sigmoid, tanh) and
  support inference from the library's own forward at +-inf;
- claimed log_prob that is NaN or -inf outside the support, or raises there
  (nflows' Tanh/Sigmoid inverses), and kinks (ELU, LeakyReLU);
- numerical inverses by bisection (zuko SOSPF/BPF sampling, flowjax BNAF) that
  are exact only to ~1e-7;
- outputs as libraries give them: read-only (``np.asarray`` of a JAX array),
  float32, and ``(m, 1)`` from the forward map;
- forward-only mode (``/fwd``: no inverse, so no exact layer);
- buggy claims: log-det dropped or sign-flipped, wrong base sigma, wrong only
  beyond a spline's tail bound, and re-creations of shipped Jacobian bugs
  (softplus ``-softplus(x)``, tanh ``log(1 - y^2 + 1e-6)`` and clamped, log-det
  at y instead of x, ELU log-det ``x``, ``log(scale)`` for a negative scale), plus
  flowjax's default BNAF inverter, whose samples are off by one bisection step.

Heavy cases (numerical inverses) are marked slow.

Every validation runs at alpha = 1e-3, the smallest the calibrated layers resolve,
so that over the adapter suites' 83 validations of correct densities a new stream
fails any with probability at most 8% rather than 57% at 0.01 (see
``test_adapters``); the buggy twins must fail at that alpha too, the stronger claim.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import pytest
from _library_cases import SPECS, build

pytestmark = pytest.mark.filterwarnings("ignore")  # libraries' own deprecation noise

#: sample size in the default suite; each case takes a few seconds at this n
N = 10**6
#: the suite's false-alarm budget split over its correct cases (module docstring)
ALPHA = 1e-3
#: no run may take longer (numerical inverses once made the quadrature run for many minutes)
TIME_LIMIT_S = 300
#: a few cases again at n = 1e7 (slow)
LARGE_N_CASES = (
    "torch_exp", "torch_tanh_sigma3", "torch_sigmoid/fwd", "pyro_spline", "pyro_elu/fwd",
    "zuko_nsf", "nflows_rqs", "numpyro_exp_readonly", "distrax_tanh", "flowjax_rqs",
    "pyro_spline~tail", "nflows_rqs~tail", "zuko_nsf~tail", "torch_tanh_sigma3~logdet_eps",
)


def _params(names):
    return [pytest.param(name, id=name, marks=[pytest.mark.slow] if SPECS[name].heavy else [])
            for name in names]


class StalledError(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int, what: str):
    """Raise StalledError in the main thread after ``seconds`` (POSIX; no limit elsewhere)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise StalledError(f"{what}: no verdict after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(name: str, n: int) -> None:
    spec = SPECS[name]
    pytest.importorskip(spec.module)
    case = build(name)
    with _time_limit(TIME_LIMIT_S, f"{name} at n = {n:,}"):
        result = case.validate(n, seed=0, alpha=ALPHA)
    assert result.verdict == case.expected, (
        f"{name} ({case.library}, {'correct' if case.correct else 'buggy: ' + case.note}) "
        f"at n = {n:,}: expected {case.expected}, got {result.verdict}\n{result.summary()}")


@pytest.mark.parametrize("name", _params([s.name for s in SPECS.values() if s.correct]))
def test_correct_density_passes(name):
    _check(name, N)


@pytest.mark.parametrize("name", _params([s.name for s in SPECS.values() if not s.correct]))
def test_buggy_density_fails(name):
    _check(name, N)


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE_N_CASES)
def test_large_n(name):
    _check(name, 10**7)


def test_corpus_is_paired():
    """Every library has correct cases and buggy ones; names are unique and well formed."""
    libraries = {s.module for s in SPECS.values()}
    for library in libraries:
        kinds = {s.correct for s in SPECS.values() if s.module == library}
        assert kinds == {True, False}, library
    for spec in SPECS.values():
        assert ("~" in spec.name) != spec.correct, spec.name
    assert set(LARGE_N_CASES) <= set(SPECS)
