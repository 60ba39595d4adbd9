"""Power table: the smallest n at which each bug class is caught in >= 80% of seeds.

For Y = exp(X), X ~ N(0, 1) (and Y = X^2 with mu = 3 for the forgotten branch), each
planted bug is validated with ``alpha = 0.01`` on ``--seeds`` seeds at every n of
the grid, in two modes: with T's inverse (or inverse branches), and forward-only
(a forward map and the claimed pdf: the mode of most real flows).  The peers get
the very same samples (``mcflow.sample`` draws the stream the histogram counts):
``scipy.stats.kstest`` against the claimed CDF, and the one-sample
Anderson–Darling statistic for a fully specified CDF against its asymptotic 1%
critical value 3.857 (Stephens 1974, case 0).  Peers hold the samples in memory,
so they stop at ``--peer-max-n``.

Run ``python bench/power.py --seeds 10 --markdown reports/power/README.md``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.special import ndtr, ndtri

import mcflow

ALPHA = 0.01
AD_CRITICAL_1PCT = 3.857
GRID = (10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6, 3 * 10**6, 10**7, 3 * 10**7)
Q999 = math.exp(ndtri(0.999))
Q25, Q50, Q75 = (math.exp(ndtri(q)) for q in (0.25, 0.5, 0.75))


def _lognormal_pdf(y: np.ndarray, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    with np.errstate(all="ignore"):
        z = (np.log(y) - mu) / sigma
        return np.where(y > 0, np.exp(-0.5 * z * z) / (sigma * y * math.sqrt(2 * math.pi)), 0.0)


def _lognormal_cdf(y: np.ndarray, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(y > 0, ndtr((np.log(np.maximum(y, 1e-300)) - mu) / sigma), 0.0)


def _shifted_pdf(y: np.ndarray, shift: float = 0.01) -> np.ndarray:
    return _lognormal_pdf(y - shift)


def _shifted_cdf(y: np.ndarray, shift: float = 0.01) -> np.ndarray:
    return _lognormal_cdf(y - shift)


def _tail_pdf(y: np.ndarray) -> np.ndarray:
    return _lognormal_pdf(y) * np.where(y > Q999, 1.1, 1.0) / (1 + 0.1 * 0.001)


def _tail_cdf(y: np.ndarray) -> np.ndarray:
    f = _lognormal_cdf(y)
    return np.where(y > Q999, 0.999 + 1.1 * (f - 0.999), f) / (1 + 0.1 * 0.001)


def _moved_pdf(y: np.ndarray) -> np.ndarray:
    """0.5% of the mass moved from the second quartile to the third."""
    factor = np.where((y > Q25) & (y <= Q50), 0.98, np.where((y > Q50) & (y <= Q75), 1.02, 1.0))
    return _lognormal_pdf(y) * factor


def _moved_cdf(y: np.ndarray) -> np.ndarray:
    f = _lognormal_cdf(y)
    second = 0.25 + 0.98 * (f - 0.25)
    third = 0.25 + 0.98 * 0.25 + 1.02 * (f - 0.5)
    return np.where(y <= Q25, f, np.where(y <= Q50, second, np.where(y <= Q75, third, f)))


def _forgotten_pdf(y: np.ndarray) -> np.ndarray:
    """x^2 with mu = 3, the negative branch forgotten and the rest renormalized."""
    with np.errstate(all="ignore"):
        r = np.sqrt(np.maximum(y, 0.0))
        return np.where(y > 0, stats.norm.pdf(r - 3.0) / (2 * r) / ndtr(3.0), 0.0)


def _forgotten_cdf(y: np.ndarray) -> np.ndarray:
    r = np.sqrt(np.maximum(y, 0.0))
    return np.where(y > 0, (ndtr(r - 3.0) - ndtr(-3.0)) / ndtr(3.0), 0.0)


@dataclass(frozen=True)
class Bug:
    """A planted bug: the claimed pdf and CDF, the transform with and without its inverse."""

    name: str
    pdf: Callable[[np.ndarray], np.ndarray]
    cdf: Callable[[np.ndarray], np.ndarray]
    exact: mcflow.Transform
    forward_only: mcflow.Transform
    mu: float = 0.0


def bugs() -> list[Bug]:
    """The bug classes of the power table."""
    exp_forward = mcflow.Transform(np.exp, vectorized=True, name="exp (forward only)")
    square = mcflow.Transform(np.square, vectorized=True, name="x^2", inverse_branches=[
        (np.sqrt, (0.0, math.inf)), (lambda y: -np.sqrt(y), (0.0, math.inf))])
    square_forward = mcflow.Transform(np.square, vectorized=True, name="x^2 (forward only)")
    exp = mcflow.transforms.Exp()
    return [
        Bug("sigma 1% too large", lambda y: _lognormal_pdf(y, 0, 1.01),
            lambda y: _lognormal_cdf(y, 0, 1.01), exp, exp_forward),
        Bug("location shifted by 0.01 sigma", lambda y: _lognormal_pdf(y, 0.01),
            lambda y: _lognormal_cdf(y, 0.01), exp, exp_forward),
        Bug("Y shifted by 0.01 (1% of its median)", _shifted_pdf, _shifted_cdf, exp,
            exp_forward),
        Bug("+10% on the top 0.1% of mass", _tail_pdf, _tail_cdf, exp, exp_forward),
        Bug("0.5% of mass moved (quartile 2 -> 3)", _moved_pdf, _moved_cdf, exp, exp_forward),
        Bug("x^2, mu = 3: negative branch forgotten", _forgotten_pdf, _forgotten_cdf, square,
            square_forward, mu=3.0),
    ]


def _anderson_darling(y: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    u = np.clip(np.sort(cdf(y)), 1e-300, 1 - 1e-16)
    n = u.size
    i = np.arange(1, n + 1)
    return float(-n - np.mean((2 * i - 1) * (np.log(u) + np.log1p(-u[::-1]))))


def detections(bug: Bug, transform: mcflow.Transform, n: int, seeds: range, peers: bool
               ) -> dict[str, int]:
    """How many seeds each method flags at n."""
    found = {"mcflow": 0, "kstest": 0, "anderson_darling": 0}
    for seed in seeds:
        result = mcflow.validate(transform, bug.pdf, n=n, seed=seed, alpha=ALPHA, mu=bug.mu)
        found["mcflow"] += result.verdict == "fail"
        if peers:
            _, y = mcflow.sample(transform, n, seed=seed, mu=bug.mu)
            found["kstest"] += stats.kstest(y, bug.cdf).pvalue <= ALPHA
            found["anderson_darling"] += _anderson_darling(y, bug.cdf) > AD_CRITICAL_1PCT
    return found


def power_table(seed_count: int, peer_max_n: int, grid: tuple[int, ...] = GRID
                ) -> list[dict[str, object]]:
    """For each bug and mode: the smallest n of the grid where each method reaches 80%."""
    rows = []
    needed = math.ceil(0.8 * seed_count)
    for bug in bugs():
        for mode, transform in (("exact", bug.exact), ("forward-only", bug.forward_only)):
            smallest: dict[str, int | None] = {"mcflow": None, "kstest": None,
                                               "anderson_darling": None}
            powers: dict[str, dict[int, float]] = {key: {} for key in smallest}
            started = time.perf_counter()
            for n in grid:
                peers = n <= peer_max_n and mode == "forward-only"  # same samples either way
                found = detections(bug, transform, n, range(seed_count), peers)
                for key, count in found.items():
                    if key != "mcflow" and not peers:
                        continue
                    powers[key][n] = count / seed_count
                    if smallest[key] is None and count >= needed:
                        smallest[key] = n
                if smallest["mcflow"] is not None and (
                        mode == "exact" or n >= peer_max_n
                        or all(v is not None for v in smallest.values())):
                    break
            rows.append({"bug": bug.name, "mode": mode, "smallest_n": smallest,
                         "power": powers, "seconds": time.perf_counter() - started})
    return rows


def markdown(rows: list[dict[str, object]], seed_count: int, peer_max_n: int) -> str:
    """The table, smallest n with >= 80% power per method ("> N": not reached by N)."""
    def cell(value: object, limit: int) -> str:
        text = f"{value if isinstance(value, int) else limit:.0e}".replace("e+0", "e")
        return text if isinstance(value, int) else f"> {text}"

    lines = [f"Smallest n with >= 80% power ({seed_count} seeds per n, alpha = {ALPHA}; grid "
             f"{', '.join(f'{n:.0e}' for n in GRID)}; peers on the same samples up to "
             f"{peer_max_n:.0e})", "",
             "| bug | mcflow, with inverse | mcflow, forward-only | scipy kstest | "
             "Anderson-Darling |", "|---|---|---|---|---|"]
    by_bug: dict[str, dict[str, dict[str, object]]] = {}
    for row in rows:
        by_bug.setdefault(str(row["bug"]), {})[str(row["mode"])] = row
    for bug, modes in by_bug.items():
        exact = modes["exact"]["smallest_n"]
        forward = modes["forward-only"]["smallest_n"]
        assert isinstance(exact, dict)
        assert isinstance(forward, dict)
        lines.append(f"| {bug} | {cell(exact['mcflow'], GRID[-1])} | "
                     f"{cell(forward['mcflow'], GRID[-1])} | "
                     f"{cell(forward['kstest'], peer_max_n)} | "
                     f"{cell(forward['anderson_darling'], peer_max_n)} |")
    lines += ["", "Forward-only power at each n (fraction of seeds failed; the peers on the same "
              "samples):", "", "| bug | method | " + " | ".join(f"{n:.0e}" for n in GRID) + " |",
              "|---|---|" + "---|" * len(GRID)]
    for bug, modes in by_bug.items():
        powers = modes["forward-only"]["power"]
        assert isinstance(powers, dict)
        for method in ("mcflow", "kstest", "anderson_darling"):
            values = [f"{powers[method][n]:.1f}" if n in powers[method] else "" for n in GRID]
            lines.append(f"| {bug} | {method} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--peer-max-n", type=float, default=3e6)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = power_table(args.seeds, int(args.peer_max_n))
    for row in rows:
        print(row)
    table = markdown(rows, args.seeds, int(args.peer_max_n))
    print(table)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
