"""``mcflow`` command line: a thin layer over the Python API.

Exit codes: 0 pass, 1 fail, 2 usage or bad input, 3 inconclusive, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {"pass": 0, "fail": 1, "usage": 2, "inconclusive": 3, "interrupted": 130}


class _UsageError(Exception):
    """Bad input: reported as one line on stderr, exit code 2."""


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return value


def _sample_count(text: str) -> int:
    """Accept 10000000, 1e7 or 1_000_000."""
    from mcflow.engine import check_n

    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"n must be a positive integer like 1e7, got {text!r}"
        ) from None
    try:
        return check_n(value)
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the result as JSON")
    parser.add_argument("--report", metavar="DIR", type=Path,
                        help="write an HTML/Markdown/JSON report with figures into DIR")
    parser.add_argument("--threads", type=int, default=None, help="engine threads (default: all)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bar and no table, only the exit code and errors")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="sample on a Dask cluster: a scheduler address, or 'local' to "
                             "start a LocalCluster of worker processes (needs mcflow[dask])")
    parser.add_argument("--dask-workers", type=int, default=None, metavar="N",
                        help="workers of --dask local (default: one per core)")
    parser.add_argument("--dask-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="give up on an unreachable scheduler after this long (10)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcflow",
        description="Monte Carlo validation of transformed densities (change of variables).",
        epilog="Exit codes: 0 pass, 1 fail, 2 usage or bad input, 3 inconclusive.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="validate one transform's density",
        description="Validate the density of Y = T(X), X ~ N(mu, sigma).")
    validate.add_argument("spec", metavar="SPEC",
                          help="built-in (exp, sinh_arcsinh:skew=0.5) or MODULE:OBJECT")
    validate.add_argument("--pdf", metavar="MODULE:FUNC",
                          help="claimed density p_Y (default: derived from the transform)")
    validate.add_argument("--n", type=_sample_count, default=10**7, help="samples (default 1e7)")
    validate.add_argument("--bins", type=int, default=None,
                          help="uniform bins over --range (default: equal-probability bins)")
    validate.add_argument("--range", type=_positive_number, nargs=2, metavar=("LO", "HI"))
    validate.add_argument("--seed", type=int, default=0)
    validate.add_argument("--alpha", type=_positive_number, default=0.01,
                          help="false-failure probability (default 0.01)")
    validate.add_argument("--tolerance", type=_positive_number, default=None,
                          help="L1 deviation that matters (inconclusive if n cannot see it)")
    validate.add_argument("--mu", type=_positive_number, default=0.0)
    validate.add_argument("--sigma", type=_positive_number, default=1.0)
    _add_run_options(validate)

    check = commands.add_parser(
        "check", help="run every case of [tool.mcflow] (pyproject.toml or FILE)",
        description="Run the cases listed under [tool.mcflow]; one alpha budget for all.")
    check.add_argument("file", nargs="?", type=Path, default=None, metavar="FILE",
                       help="TOML file (default: ./pyproject.toml)")
    _add_run_options(check)

    commands.add_parser("list", help="list the built-in transforms")

    bench = commands.add_parser(
        "bench", help="measure throughput against NumPy baselines",
        description="Throughput of the engine and the baselines in one run (best of --repeat).")
    bench.add_argument("--n", type=_sample_count, default=10**8, help="samples per run (1e8)")
    bench.add_argument("--threads", type=_thread_list, default=None,
                       help="thread counts for the scaling table, e.g. 1,2 (default: 1..all)")
    bench.add_argument("--repeat", type=int, default=3, help="timed runs per workload (best kept)")
    bench.add_argument("--only", action="append", metavar="NAME",
                       help="only this workload (repeatable)")
    bench.add_argument("--json", metavar="FILE", type=Path, help="write the results JSON")
    bench.add_argument("--plot", metavar="FILE", type=Path, help="write the throughput plot PNG")
    bench.add_argument("--markdown", metavar="FILE", type=Path,
                       help="write the Markdown table generated from the results")
    bench.add_argument("--from-json", metavar="FILE", type=Path,
                       help="do not measure: regenerate --plot/--markdown from a results JSON")
    return parser


def _thread_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads must look like 1,2,4, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"threads must be positive integers, got {text!r}")
    return values


def _run_bench(args: argparse.Namespace) -> int:
    from mcflow import bench

    if args.from_json:
        data = json.loads(args.from_json.read_text())
    else:
        data = bench.run_suite(n=args.n, threads=args.threads, repeat=args.repeat,
                               only=args.only)
    bench.write_results(data, args.json, args.plot, args.markdown)
    print(bench.markdown_table(data))
    return 0


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=None, unit="sample", unit_scale=True, desc=label, delay=1.0,
               file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # update() applies tqdm's delay and rate limits

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def _dask_client(args: argparse.Namespace) -> Iterator[Any]:
    if args.dask_workers is not None and args.dask != "local":
        raise _UsageError("--dask-workers only applies to --dask local")
    if not args.dask:
        yield None
        return
    from mcflow.distributed import connect

    client = connect(args.dask, workers=args.dask_workers, timeout=args.dask_timeout)
    try:
        yield client
    finally:
        cluster = client.cluster if args.dask == "local" else None
        client.close()
        if cluster is not None:
            cluster.close()


def _write_json(path: Path, payload: Any) -> None:
    from mcflow.reporting import write_text_atomically

    write_text_atomically(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def _run_validate(args: argparse.Namespace) -> int:
    from mcflow.specs import parse_pdf, parse_transform
    from mcflow.validation import validate

    transform = parse_transform(args.spec)
    pdf = parse_pdf(args.pdf) if args.pdf else None
    if args.bins is not None and args.range is None:
        raise _UsageError("--bins needs --range LO HI")
    options = {"n": args.n, "seed": args.seed, "alpha": args.alpha,
               "tolerance": args.tolerance, "mu": args.mu, "sigma": args.sigma,
               "threads": args.threads}
    if args.bins is not None:
        options.update(bins=args.bins, range=tuple(args.range))
    elif args.range is not None:
        raise _UsageError("--range needs --bins")
    with _dask_client(args) as client, \
            _progress_bar(_show_progress(args.quiet), transform.name) as progress:
        result = validate(transform, pdf, progress=progress, client=client, **options)
    if not args.quiet:
        print(result.summary())
    if args.json:
        _write_json(args.json, result.to_dict())
    if args.report:
        from mcflow.reporting import write_report

        index = write_report([result], args.report)
        if not args.quiet:
            print(f"report: {index}")
    return EXIT_CODES[result.verdict]


def _run_check(args: argparse.Namespace) -> int:
    from mcflow.check import run_check
    from mcflow.config import load_config

    config = load_config(args.file)
    show = _show_progress(args.quiet)
    with _dask_client(args) as client, _progress_bar(show, "cases") as progress:
        outcome = run_check(config, threads=args.threads, progress=progress, client=client)
    if not args.quiet:
        print(outcome.table())
    if args.json:
        _write_json(args.json, outcome.to_dict())
    if args.report:
        from mcflow.reporting import write_report

        index = write_report(list(outcome.results), args.report, names=list(outcome.names),
                             title=f"mcflow check: {config.source}")
        if not args.quiet:
            print(f"report: {index}")
    return EXIT_CODES[outcome.verdict]


def _run_list() -> int:
    from mcflow.specs import describe_builtins

    rows = describe_builtins()
    width = max(len(name) for name, _, _ in rows)
    for name, parameters, summary in rows:
        signature = f"{name}:{parameters.replace(', ', ',')}" if parameters else name
        print(f"{signature:<{width + 24}} {summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mcflow`` command line; returns the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: 0 for --help, 2 for usage errors
        return int(exit_.code or 0)
    if args.version:
        from mcflow import __version__

        print(f"mcflow {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return EXIT_CODES["usage"]
    from mcflow.config import ConfigError
    from mcflow.specs import SpecError

    try:
        if args.command == "validate":
            return _run_validate(args)
        if args.command == "check":
            return _run_check(args)
        if args.command == "bench":
            return _run_bench(args)
        return _run_list()
    except KeyboardInterrupt:
        print("mcflow: interrupted; no partial report or JSON was written", file=sys.stderr)
        return EXIT_CODES["interrupted"]
    except (_UsageError, SpecError, ConfigError, ValueError, TypeError, OSError,
            ImportError) as error:
        if os.environ.get("MCFLOW_DEBUG"):
            raise
        print(f"mcflow: error: {error} (set MCFLOW_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_CODES["usage"]
    except Exception as error:  # a user's transform or pdf raising: never exit 1 ("fail")
        if os.environ.get("MCFLOW_DEBUG"):
            raise
        print(f"mcflow: error: {type(error).__name__}: {error} (raised while running; set "
              "MCFLOW_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_CODES["usage"]


if __name__ == "__main__":
    raise SystemExit(main())
