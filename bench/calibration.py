"""Calibration figure: p-values of correct densities over 500 seeds, in each mode.

For each mode (with T's inverse, forward-only, non-injective with inverse branches),
a correct density is validated at n = 2e4 on 500 seeds (alpha = 0.05, as in
``tests/test_validate.py``).  The figure plots the empirical CDF of the combined
(min-p) p-value the verdict uses, and of each statistic's, against the uniform, with
the two-sided 99% Kolmogorov band; the legend gives each mode's failure rate.

Run ``python bench/calibration.py --png reports/power/calibration.png``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

import mcflow

SEEDS = range(1000, 1500)
N = 20_000
ALPHA = 0.05


def _lognormal_pdf(y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(y > 0, np.exp(-0.5 * np.log(y) ** 2) / (y * math.sqrt(2 * math.pi)), 0.0)


def _square_pdf(y: np.ndarray, mu: float = 0.5) -> np.ndarray:
    with np.errstate(all="ignore"):
        r = np.sqrt(np.maximum(y, 0.0))
        return np.where(y > 0, (stats.norm.pdf(r - mu) + stats.norm.pdf(-r - mu)) / (2 * r), 0.0)


def modes() -> dict[str, tuple[mcflow.Transform, object, float]]:
    """The three modes' correct cases: transform, pdf (None: derived), mu."""
    square = mcflow.Transform(np.square, vectorized=True, name="square", inverse_branches=[
        (np.sqrt, (0.0, math.inf)), (lambda y: -np.sqrt(y), (0.0, math.inf))])
    return {
        "with inverse (exp)": (mcflow.transforms.Exp(), None, 0.0),
        "forward-only (exp)": (mcflow.Transform(np.exp, vectorized=True, name="exp-fwd"),
                               _lognormal_pdf, 0.0),
        "non-injective (x^2, branches)": (square, _square_pdf, 0.5),
    }


def pvalues() -> dict[str, dict[str, np.ndarray]]:
    """Combined and per-statistic p-values, and failures, for every mode."""
    out = {}
    for mode, (transform, pdf, mu) in modes().items():
        values: dict[str, list[float]] = {"combined": [], "ks": [], "l1": [], "g": [], "ad": []}
        failures = 0
        for seed in SEEDS:
            r = mcflow.validate(transform, pdf, n=N, seed=seed, alpha=ALPHA, mu=mu)
            values["combined"].append(r.combined_pvalue)
            for name in ("ks", "l1", "g", "ad"):
                values[name].append(getattr(r, f"{name}_pvalue"))
            failures += r.verdict == "fail"
        out[mode] = {key: np.array(v) for key, v in values.items()}
        out[mode]["failures"] = np.array([failures])
    return out


def figure(results: dict[str, dict[str, np.ndarray]]) -> Figure:
    """One panel per mode: ECDFs against the diagonal and the 99% band."""
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, len(results), sharey=True)
    band = stats.kstwo.isf(0.01, len(SEEDS))
    grid = np.linspace(0, 1, 201)
    for axis, (mode, values) in zip(axes, results.items(), strict=True):
        axis.fill_between(grid, grid - band, grid + band, color="0.85", label="99% KS band")
        axis.plot(grid, grid, color="0.4", lw=0.8)
        for name, style in (("ks", ":"), ("l1", ":"), ("g", ":"), ("ad", ":"),
                            ("combined", "-")):
            ordered = np.sort(values[name])
            axis.step(ordered, np.arange(1, ordered.size + 1) / ordered.size, where="post",
                      ls=style, lw=2.0 if name == "combined" else 1.0,
                      label=name if name != "combined" else "combined (verdict)")
        rate = int(values["failures"][0]) / len(SEEDS)
        axis.set(title=f"{mode}\nfailures {rate:.1%} at alpha = {ALPHA}", xlabel="p-value",
                 xlim=(0, 1), ylim=(0, 1))
    axes[0].set_ylabel(f"fraction of {len(SEEDS)} seeds with p <= x")
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Calibration: correct densities, n = {N:,}, {len(SEEDS)} seeds")
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, default=Path("reports/power/calibration.png"))
    args = parser.parse_args()
    results = pvalues()
    for mode, values in results.items():
        print(mode, "failures", int(values["failures"][0]), "of", len(SEEDS),
              "KS of combined vs U(0,1):",
              f"{stats.kstest(values['combined'], 'uniform').pvalue:.3g}")
    args.png.parent.mkdir(parents=True, exist_ok=True)
    figure(results).savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
