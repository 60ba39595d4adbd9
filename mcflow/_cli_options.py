"""The ``mcflow`` command line's arguments: the parser, value types and output-path checks."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path

from mcflow._seeds import AUTO_SEED

__all__ = ["OUTPUT_OPTIONS", "UsageError", "build_parser", "check_output_paths",
           "protect_negative_numbers", "requested_outputs"]

#: ``--seed random`` draws this many bits of fresh entropy (seeds stay below 2**63).
_RANDOM_SEED_BITS = 63
#: Output options, in the order a command writes them (after its run, never during it).
OUTPUT_OPTIONS = ("json", "junit_xml", "summary", "plot", "markdown", "report")


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit code 2."""


def protect_negative_numbers(argv: Sequence[str]) -> list[str]:
    """Let values like ``-inf`` or ``-1e3`` through argparse, which takes them for options.

    Parameters
    ----------
    argv : sequence of str
        Command-line arguments.

    Returns
    -------
    list of str
        The same, with a space before each negative number (``float`` and
        ``int`` ignore it); no option of ``mcflow`` looks like a number.
    """
    protected = []
    for token in argv:
        try:
            float(token)
        except ValueError:
            protected.append(token)
        else:
            protected.append(f" {token}" if token.startswith("-") else token)
    return protected


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _support_end(text: str) -> float:
    """Parse a support end: a number, inf or -inf (never NaN)."""
    value = _number(text)
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"support ends must be numbers or +-inf, got {text!r}")
    return value


def _sample_count(text: str) -> int:
    """Accept 10000000, 1e7 or 1_000_000."""
    from mcflow._checks import check_n

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


def _sample_count_or_auto(text: str) -> int | str:
    """Accept what :func:`_sample_count` does, or ``auto`` (the n --tolerance needs)."""
    return "auto" if text.strip().lower() == "auto" else _sample_count(text)


def _seed(text: str) -> int | str:
    """Parse an integer, ``auto`` (from the case identity) or ``random`` (a fresh integer)."""
    if text == AUTO_SEED:
        return AUTO_SEED
    if text == "random":  # drawn here so the summary prints a seed that reproduces the run
        import secrets  # only here: it would add to every start-up

        return secrets.randbits(_RANDOM_SEED_BITS)
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = -1
    if not 0 <= value < 2**_RANDOM_SEED_BITS:
        raise argparse.ArgumentTypeError(
            f"seed must be a non-negative integer below 2**63, 'auto' or 'random', got {text!r}")
    return value


def _output_path(text: str) -> Path:
    """Parse a file or folder to write; refuse an empty one (an unset variable, not ``.``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "empty path (an unset variable? $GITHUB_STEP_SUMMARY is set only inside GitHub "
            "Actions)")
    return Path(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text.strip()!r}")
    return value


def _thread_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads must look like 1,2,4, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"threads must be positive integers, got {text!r}")
    return values


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", type=_output_path,
                        help="write the result as JSON (schema mcflow.validation/2, the same "
                             "document as a report's result.json)")
    parser.add_argument("--report", metavar="DIR", type=_output_path,
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
                        help="give up on an unreachable scheduler, or on workers that do not "
                             "appear or cannot load the transform, after this long (10)")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``mcflow`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="mcflow",
        description="Monte Carlo validation of transformed densities (change of variables).",
        epilog="Exit codes: 0 pass, 1 fail, 2 usage, bad input or a case that could not run, "
               "3 inconclusive, 130 interrupted (SIGINT), 143 terminated (SIGTERM).",
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
    validate.add_argument("--n", type=_sample_count_or_auto, default=10**7,
                          help="samples (default 1e7), or 'auto': a pilot of 1e5, then the n "
                               "that resolves --tolerance (95%% power), within --max-n")
    validate.add_argument("--max-n", type=_sample_count, default=None, metavar="N",
                          help="with --n auto: the most samples to draw (default 1e9)")
    validate.add_argument("--bins", type=int, default=None,
                          help="uniform bins over --range (default: equal-probability bins)")
    validate.add_argument("--range", type=_number, nargs=2, metavar=("LO", "HI"))
    validate.add_argument("--support", type=_support_end, nargs=2, metavar=("LO", "HI"),
                          help="the interval of Y's values (inf and -inf allowed), when the "
                               "transform's own is missing or wrong")
    validate.add_argument("--seed", type=_seed, default=AUTO_SEED,
                          help="an integer, 'auto' (default: derived from the transform, pdf, "
                               "mu and sigma) or 'random' (a fresh seed, printed)")
    validate.add_argument("--alpha", type=_number, default=0.01,
                          help="false-failure probability (default 0.01)")
    validate.add_argument("--tolerance", type=_number, default=None,
                          help="L1 deviation that matters (inconclusive if n cannot see it)")
    validate.add_argument("--mu", type=_number, default=None,
                          help="mean of X (default 0, or the distribution's base)")
    validate.add_argument("--sigma", type=_number, default=None,
                          help="standard deviation of X (default 1, or the distribution's base)")
    _add_run_options(validate)

    check = commands.add_parser(
        "check", help="run every case of [tool.mcflow] (pyproject.toml or FILE)",
        description="Run the cases listed under [tool.mcflow]; one alpha budget for all. "
                    "The config imports (and so runs) the modules its specs name.")
    check.add_argument("file", nargs="?", type=Path, default=None, metavar="FILE",
                       help="TOML file (default: ./pyproject.toml)")
    check.add_argument("-k", metavar="EXPR", dest="keyword", default=None,
                       help="only the cases whose names match EXPR, as pytest -k: substrings "
                            "(ignoring case) with and, or, not and parentheses; alpha is split "
                            "over the cases selected")
    check.add_argument("--seed", type=_seed, default=None,
                       help="this seed for every case: an integer, 'auto' (each case's own) "
                            "or 'random' (default: the config's)")
    check.add_argument("--n", type=_sample_count, default=None,
                       help="this many samples for every case (default: the config's)")
    check.add_argument("--fail-fast", action="store_true",
                       help="stop after the first case that fails or could not run; the rest "
                            "are reported as not run")
    check.add_argument("--junit-xml", metavar="FILE", type=_output_path,
                       help="write a JUnit XML file: one testcase per case (inconclusive is a "
                            "failure)")
    check.add_argument("--summary", metavar="FILE", type=_output_path,
                       help="write a Markdown summary (table, verdict, failing cases), e.g. "
                            '"$GITHUB_STEP_SUMMARY"; replaces FILE')
    check.add_argument("--compare", metavar="FILE", type=Path, default=None,
                       help="compare with a baseline (an earlier --json or result.json): "
                            "verdict changes and statistics that moved beyond their noise; "
                            "informs only, the exit code stays this run's")
    _add_run_options(check)

    commands.add_parser("list", help="list the built-in transforms")

    bench = commands.add_parser(
        "bench", help="measure throughput against NumPy baselines",
        description="Throughput of the engine and the baselines in one run (best of --repeat).")
    bench.add_argument("--n", type=_sample_count, default=10**8, help="samples per run (1e8)")
    bench.add_argument("--threads", type=_thread_list, default=None,
                       help="thread counts for the scaling table, e.g. 1,2 (default: 1..all)")
    bench.add_argument("--repeat", type=_positive_int, default=3,
                       help="timed runs per workload (best kept; default 3)")
    bench.add_argument("--only", action="append", metavar="NAME",
                       help="only this workload (repeatable)")
    bench.add_argument("--json", metavar="FILE", type=_output_path,
                       help="write the results JSON")
    bench.add_argument("--plot", metavar="FILE", type=_output_path,
                       help="write the throughput plot PNG")
    bench.add_argument("--markdown", metavar="FILE", type=_output_path,
                       help="write the Markdown table generated from the results")
    bench.add_argument("--from-json", metavar="FILE", type=Path,
                       help="do not measure: regenerate --plot/--markdown from a results JSON")
    return parser


def _check_target(path: Path, option: str, is_folder: bool) -> None:
    """Refuse an output path that cannot be written, before any sampling."""
    shown = f"{option} {str(path)!r}"
    if is_folder and path.exists() and not path.is_dir():
        raise UsageError(f"{shown} is a file; --report needs a directory (it is created)")
    if not is_folder and path.is_dir():
        raise UsageError(f"{shown} is a directory; give a file name such as "
                         f"{str(path / 'result.json')!r}")
    folder = path.absolute() if is_folder else path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest existing ancestor: where mkdir would start
    if not folder.is_dir():
        raise UsageError(f"{shown}: {str(folder)!r} is a file, so the folder cannot be created")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{shown}: the folder {str(folder)!r} is not writable")


def requested_outputs(args: argparse.Namespace) -> list[str]:
    """Return the output options given, as ``--option PATH``, in the order they are written."""
    return [f"--{option.replace('_', '-')} {getattr(args, option)}" for option in OUTPUT_OPTIONS
            if getattr(args, option, None) is not None]


def check_output_paths(args: argparse.Namespace) -> None:
    """Check every output (``--json FILE``, ``--report DIR``...) can be written, or raise.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``validate`` or ``check`` arguments.

    Raises
    ------
    UsageError
        For a path that cannot be written, or two outputs on the same path.
    """
    given = [(option, getattr(args, option)) for option in OUTPUT_OPTIONS
             if getattr(args, option, None) is not None]
    for option, path in given:
        _check_target(path, f"--{option.replace('_', '-')}", is_folder=option == "report")
    for index, (option, path) in enumerate(given):
        for other, other_path in given[index + 1:]:
            if path.absolute() == other_path.absolute():
                raise UsageError(f"--{option.replace('_', '-')} and --{other.replace('_', '-')} "
                                 f"name the same path {str(path)!r}")
