"""``mcflow`` command line: a thin layer over the Python API.

Exit codes: 0 pass, 1 fail, 2 usage, bad input or anything escaping from user
code (a case that could not run, ``sys.exit`` in a user's module), 3
inconclusive, 130 interrupted (SIGINT), 143 terminated (SIGTERM).  SIGTERM
takes the same clean path as Ctrl-C: no half-written report or JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from mcflow._cli_options import (
    UsageError,
    build_parser,
    check_output_paths,
    protect_negative_numbers,
)
from mcflow._cli_run import (
    Terminated,
    dask_client,
    progress_bar,
    show_progress,
    sigterm_as_interrupt,
)

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {"pass": 0, "fail": 1, "usage": 2, "error": 2, "inconclusive": 3,
              "interrupted": 130, "terminated": 143}
_DEBUG_HINT = "set MCFLOW_DEBUG=1 for a traceback"


def _run_bench(args: argparse.Namespace) -> int:
    from mcflow import bench

    check_output_paths(args)
    if args.from_json:
        data = json.loads(args.from_json.read_text())
    else:
        data = bench.run_suite(n=args.n, threads=args.threads, repeat=args.repeat,
                               only=args.only)
    bench.write_results(data, args.json, args.plot, args.markdown,
                        written=lambda option: args.written.append(
                            f"--{option} {getattr(args, option)}"))
    print(bench.markdown_table(data))
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from mcflow._auto_n import DEFAULT_MAX_N, validate_auto_n
    from mcflow._document import one_case_document
    from mcflow._gate_outputs import write_outputs
    from mcflow._prewarm import start_null_compile
    from mcflow.case import Case
    from mcflow.reporting import write_report
    from mcflow.specs import parse_pdf, parse_transform
    from mcflow.transform import Transform
    from mcflow.validation import validate

    check_output_paths(args)
    if args.n == "auto" and args.tolerance is None:
        raise UsageError("--n auto needs --tolerance T: it chooses the n that detects an L1 "
                         "deviation of T")
    if args.max_n is not None and args.n != "auto":
        raise UsageError("--max-n applies to --n auto only")
    if args.bins is not None and args.range is None:
        raise UsageError("--bins needs --range LO HI")
    if args.range is not None and args.bins is None:
        raise UsageError("--range needs --bins")
    start_null_compile()  # a first run: the null's kernels compile while the spec resolves
    transform = parse_transform(args.spec)
    if not isinstance(transform, (Transform, Case)):  # a d-dimensional nd.Case
        return _run_validate_nd(args, transform)
    pdf = parse_pdf(args.pdf) if args.pdf else None
    if args.support is not None:
        try:
            transform = transform.with_support(tuple(args.support))
        except (TypeError, ValueError) as error:
            raise UsageError(f"--support {args.support[0]:g} {args.support[1]:g}: {error}"
                             ) from None
    options = {"n": args.n, "seed": args.seed, "alpha": args.alpha,
               "tolerance": args.tolerance, "mu": args.mu, "sigma": args.sigma,
               "threads": args.threads}
    if args.bins is not None:
        options.update(bins=args.bins, range=tuple(args.range))
    with dask_client(args) as client:
        def run(n: int) -> Any:
            with progress_bar(show_progress(args.quiet), transform.name) as progress:
                return validate(transform, pdf, progress=progress, client=client,
                                **{**options, "n": n})

        result = run(args.n) if args.n != "auto" else validate_auto_n(
            run, args.max_n or DEFAULT_MAX_N,
            report=None if args.quiet else lambda line: print(f"mcflow: {line}", file=sys.stderr))
    if not args.quiet:
        print(result.summary())
    document = one_case_document(result)
    write_outputs(args, document,
                  lambda folder: write_report([result], folder, document=document))
    return EXIT_CODES[result.verdict]


def _run_validate_nd(args: argparse.Namespace, case: Any) -> int:
    """``mcflow validate`` of a d-dimensional case: :func:`mcflow.nd.validate`."""
    import numba

    from mcflow import nd
    from mcflow._document import one_case_document
    from mcflow._gate_outputs import write_outputs
    from mcflow._nd_figures import write_nd_report

    given = [flag for flag, value in (("--pdf", args.pdf), ("--support", args.support),
                                      ("--bins", args.bins), ("--range", args.range),
                                      ("--tolerance", args.tolerance), ("--mu", args.mu),
                                      ("--sigma", args.sigma)) if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: 1-D options, but {args.spec} is a "
                         f"{case.dim}-dimensional flow (its log_prob is the claim, its base "
                         "gives mean and scale)")
    previous = numba.get_num_threads()
    try:
        if args.threads is not None:
            numba.set_num_threads(args.threads)
        with dask_client(args) as client, \
                progress_bar(show_progress(args.quiet), str(case.name)) as progress:
            result = nd.validate(case, n=args.n, alpha=args.alpha, seed=args.seed,
                                 client=client, progress=progress)
    finally:
        numba.set_num_threads(previous)
    if not args.quiet:
        print(result.summary())
    document = one_case_document(result)
    write_outputs(args, document,
                  lambda folder: write_nd_report(result, folder, document) / "summary.md")
    return EXIT_CODES[result.verdict]


def _run_check(args: argparse.Namespace) -> int:
    from mcflow._keyword import compile_expression

    if args.keyword is not None:
        compile_expression(args.keyword)  # a usage error before anything is imported or run
    check_output_paths(args)
    from mcflow._compare import compare_documents, comparison_lines, load_baseline
    from mcflow._gate_outputs import write_outputs
    from mcflow.check import run_check
    from mcflow.config import load_config
    from mcflow.nd import NdResult
    from mcflow.reporting import write_report
    from mcflow.result import ValidationResult

    baseline = load_baseline(args.compare) if args.compare is not None else None
    config = load_config(args.file)
    if args.keyword is not None:
        config = config.select(args.keyword)
    config = config.override(n=args.n, seed=args.seed)
    args.source = config.source
    show = show_progress(args.quiet)
    with dask_client(args) as client, progress_bar(show, "cases") as progress:
        outcome = run_check(config, threads=args.threads, progress=progress, client=client,
                            fail_fast=args.fail_fast)
    if not args.quiet:
        print(outcome.table())
    for error in outcome.errors.values():
        if os.environ.get("MCFLOW_DEBUG") and error.traceback:
            print(error.traceback, file=sys.stderr, end="")
        print(f"mcflow: error: case {error.name!r} could not run: {error.line()}",
              file=sys.stderr)
    title = f"mcflow check: {config.source}"
    document = outcome.to_dict(title=title)
    if baseline is not None:  # informs only: the exit code stays this run's verdict
        document["comparison"] = compare_documents(baseline, document, str(args.compare))
        if not args.quiet:
            print("\n" + "\n".join(comparison_lines(document["comparison"], _arrow())))
    errors = {name: error.line() for name, error in outcome.errors.items()}
    not_run = dict.fromkeys(outcome.not_run, outcome.not_run_reason)

    def report(folder: Path) -> Path:
        pairs = list(zip(outcome.names, outcome.results, strict=True))
        one_d = [(name, r) for name, r in pairs if isinstance(r, ValidationResult)]
        return write_report([r for _, r in one_d], folder, names=[name for name, _ in one_d],
                            title=title, errors=errors,
                            nd_results={name: r for name, r in pairs
                                        if isinstance(r, NdResult)}, not_run=not_run,
                            document=document)

    write_outputs(args, document, report, outcome)
    return EXIT_CODES[outcome.verdict]


def _arrow() -> str:
    """``→`` where stdout can encode it (a redirected Windows console may not), else ``->``."""
    try:
        "→".encode(sys.stdout.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "->"
    return "→"


def _run_list(_args: argparse.Namespace) -> int:
    from mcflow.specs import describe_builtins

    rows = describe_builtins()
    width = max(len(name) for name, _, _ in rows)
    for name, parameters, summary in rows:
        signature = f"{name}:{parameters.replace(', ', ',')}" if parameters else name
        print(f"{signature:<{width + 24}} {summary}")
    return 0


def _one_line(error: BaseException) -> str:
    """Return the error's message with its line breaks folded: one line on stderr."""
    return " ".join(str(error).split()) or repr(error)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _run_validate, "check": _run_check, "bench": _run_bench, "list": _run_list}


def _dispatch(argv: Sequence[str] | None, holder: list[argparse.Namespace]) -> int:
    """Parse ``argv`` and run its command; ``holder`` receives the arguments once parsed."""
    parser = build_parser()
    try:
        args = parser.parse_args(protect_negative_numbers(sys.argv[1:] if argv is None
                                                          else argv))
    except SystemExit as exit_:  # argparse: 0 for --help, 2 for usage errors
        return int(exit_.code or 0)
    args.written = []
    holder.append(args)
    if args.version:
        from mcflow._version import __version__

        print(f"mcflow {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return EXIT_CODES["usage"]
    return _COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mcflow`` command line; returns the exit code.

    Ctrl-C (or SIGTERM) at any point, argument parsing and config loading
    included, ends with exit code 130 (143) and one line saying which outputs
    were written, never a traceback.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        See :data:`EXIT_CODES`.
    """
    holder: list[argparse.Namespace] = []
    try:
        with sigterm_as_interrupt():
            return _dispatch(argv, holder)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, Terminated)
        with suppress(KeyboardInterrupt):  # a second Ctrl-C must not turn into a traceback
            from mcflow._gate_outputs import interrupt_message

            print(interrupt_message(holder[0] if holder else None, terminated),
                  file=sys.stderr)
        return EXIT_CODES["terminated" if terminated else "interrupted"]
    except SystemExit as exit_:  # only user code calls sys.exit here: never its own code
        if os.environ.get("MCFLOW_DEBUG"):
            raise
        print(f"mcflow: error: user code called sys.exit({exit_.code!r}) while running; "
              f"nothing was validated ({_DEBUG_HINT})", file=sys.stderr)
        return EXIT_CODES["usage"]
    except (UsageError, ValueError, TypeError, OSError, ImportError) as error:
        if os.environ.get("MCFLOW_DEBUG"):
            raise
        print(f"mcflow: error: {_one_line(error)} ({_DEBUG_HINT})", file=sys.stderr)
        return EXIT_CODES["usage"]
    except Exception as error:  # a user's transform or pdf raising: never exit 1 ("fail")
        if os.environ.get("MCFLOW_DEBUG"):
            raise
        print(f"mcflow: error: {type(error).__name__}: {_one_line(error)} (raised while "
              f"running; {_DEBUG_HINT})", file=sys.stderr)
        return EXIT_CODES["usage"]


if __name__ == "__main__":
    raise SystemExit(main())
