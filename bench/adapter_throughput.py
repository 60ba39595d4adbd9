"""Adapter throughput: mcflow driving a library's flow vs the library's own sample + log_prob loop.

For each library, on the same n and in the same run:

- ``library loop``: what a user writes by hand, ``y = dist.sample(m); lp = dist.log_prob(y)``
  in blocks of 2^20 (torch under ``no_grad``; JAX jitted, float64);
- ``mcflow sampling``: ``mcflow.histogram(case.transform, n)`` through the adapter (the
  library's sampling path on mcflow's base draws, binned in fixed memory);
- ``mcflow validate``: the whole ``mcflow.validate(case, n=n)``: edges, sampling, quadrature of
  the claim, the null, the verdict.

Ratios are library-loop seconds over mcflow seconds (above 1: mcflow is faster).  Run
``python bench/adapter_throughput.py --n 1e7 --markdown reports/adapters/README.md``; libraries
that are not installed are skipped.  pytest-benchmark is not used: each library is timed once
after a warm-up call (compilation, jit), on a quiet machine.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import mcflow

BLOCK = 2**20


def _torch_cases() -> dict[str, tuple[Any, Callable[[int], None]]]:
    import torch
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import AffineTransform, ExpTransform, TanhTransform

    torch.set_default_dtype(torch.float64)
    out = {}
    dist = TransformedDistribution(Normal(0.3, 0.7), [AffineTransform(0.5, -0.8), ExpTransform()])
    out["torch affine+exp"] = dist
    out["torch tanh"] = TransformedDistribution(Normal(0.0, 2.0), [TanhTransform()])
    try:
        import zuko
        torch.manual_seed(0)
        out["zuko NSF (2 x 8 bins)"] = zuko.flows.NSF(features=1, context=0, bins=8,
                                                      transforms=2).double()
    except ImportError:
        pass
    try:
        from nflows.distributions.normal import StandardNormal
        from nflows.flows.base import Flow
        from nflows.transforms import PiecewiseRationalQuadraticCDF
        spline = PiecewiseRationalQuadraticCDF(shape=[1], num_bins=8, tails="linear",
                                               tail_bound=3.0).double()
        out["nflows RQS"] = Flow(spline, StandardNormal([1])).double()
    except ImportError:
        pass

    def loop(dist: Any) -> Callable[[int], None]:
        model = dist() if callable(dist) and not hasattr(dist, "log_prob") else dist

        def run(n: int) -> None:
            with torch.no_grad():
                for start in range(0, n, BLOCK):
                    m = min(BLOCK, n - start)
                    y = model.sample((m,)) if not hasattr(model, "_transform") else \
                        model.sample(m)
                    model.log_prob(y)
        return run

    return {name: (dist, loop(dist)) for name, dist in out.items()}


def _jax_cases() -> dict[str, tuple[Any, Callable[[int], None]]]:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    out: dict[str, tuple[Any, Callable[[int], None]]] = {}
    try:
        import numpyro.distributions as nd
        from numpyro.distributions.transforms import AffineTransform, ExpTransform
        dist = nd.TransformedDistribution(nd.Normal(0.3, 0.7),
                                          [AffineTransform(0.5, -0.8), ExpTransform()])

        @jax.jit
        def numpyro_block(key: Any) -> Any:
            y = dist.sample(key, (BLOCK,))
            return dist.log_prob(y)

        out["numpyro affine+exp"] = (dist, _jax_loop(jax, numpyro_block))
    except ImportError:
        pass
    try:
        from flowjax.bijections import RationalQuadraticSpline
        from flowjax.distributions import Normal, Transformed
        flow = Transformed(Normal(jnp.zeros(())), RationalQuadraticSpline(knots=8, interval=3))

        @jax.jit
        def flowjax_block(key: Any) -> Any:
            y = flow.sample(key, (BLOCK,))
            return flow.log_prob(y)

        out["flowjax RQS"] = (flow, _jax_loop(jax, flowjax_block))
    except ImportError:
        pass
    return out


def _jax_loop(jax: Any, block: Callable[[Any], Any]) -> Callable[[int], None]:
    def run(n: int) -> None:
        key = jax.random.key(0)
        for _ in range(-(-n // BLOCK)):
            key, sub = jax.random.split(key)
            block(sub).block_until_ready()
    return run


def _seconds(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(n: int) -> list[dict[str, Any]]:
    """Time the library loop, mcflow's sampling and mcflow's validation for every library."""
    cases: dict[str, tuple[Any, Callable[[int], None]]] = {}
    for source in (_torch_cases, _jax_cases):
        try:
            cases.update(source())
        except ImportError:
            continue
    rows = []
    for name, (dist, loop) in cases.items():
        case = mcflow.from_jax(dist) if name.split()[0] in ("numpyro", "flowjax") \
            else mcflow.from_torch(dist)
        edges = np.linspace(*case.transform.support, 102)[1:-1] \
            if all(map(math.isfinite, case.transform.support)) else np.linspace(-5, 5, 101)
        loop(BLOCK)  # warm-up: jit, caches
        mcflow.histogram(case.transform, BLOCK, bins=edges, seed=1)
        library_s = _seconds(lambda loop=loop: loop(n))
        sampling_s = _seconds(lambda case=case, edges=edges: mcflow.histogram(
            case.transform, n, bins=edges, seed=0))
        result = mcflow.validate(case, n=n, seed=0)
        rows.append({"case": name, "n": n, "library_loop_s": library_s,
                     "mcflow_sampling_s": sampling_s,
                     "mcflow_validate_s": result.seconds["total"], "verdict": result.verdict,
                     "phases": result.seconds})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table: M samples/s of each and the ratios to the library loop."""
    lines = ["| case | n | library sample+log_prob | mcflow sampling | mcflow validate | "
             "ratio (sampling) | ratio (validate) | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        n = row["n"]
        rate = [n / row[key] / 1e6 for key in
                ("library_loop_s", "mcflow_sampling_s", "mcflow_validate_s")]
        lines.append(
            f"| {row['case']} | {n:.0e} | {rate[0]:.2f} M/s | {rate[1]:.2f} M/s | "
            f"{rate[2]:.2f} M/s | {row['library_loop_s'] / row['mcflow_sampling_s']:.2f} | "
            f"{row['library_loop_s'] / row['mcflow_validate_s']:.2f} | {row['verdict']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1e7")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = markdown(measure(int(float(args.n))))
    print(table)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
