"""Run every case of a :class:`~mcflow.config.CheckConfig` under one alpha budget.

A case whose code raises does not stop the others: its error is recorded, the
finished cases are kept, and the combined verdict is ``"error"`` (a gate must
not say pass or fail for a case it could not run).  Specs are resolved before
any case samples, so a typo fails at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from traceback import format_exception
from typing import Any

from mcflow._document import build_document, error_case, not_run_case, result_case
from mcflow._nd_case import Case as NdCase
from mcflow._prewarm import start_null_compile
from mcflow._user_code import hide_mcflow_frames
from mcflow.config import CheckConfig, ConfigError
from mcflow.nd import NdResult
from mcflow.nd import validate as nd_validate
from mcflow.result import ValidationResult
from mcflow.specs import parse_pdf, parse_transform
from mcflow.validation import validate

__all__ = ["CaseError", "CheckOutcome", "run_check"]

#: pytest hides these frames when a user's function raised through them.
__tracebackhide__ = hide_mcflow_frames

#: Config options a d-dimensional case takes (the rest are 1-D binning and base options).
_ND_OPTIONS = frozenset({"n", "seed"})
#: Verdicts from worst to best; the combined verdict is the worst case's.
VERDICT_ORDER = ("error", "fail", "inconclusive", "pass")


@dataclass(frozen=True)
class CaseError:
    """A case that could not run: which one, and what escaped from it."""

    name: str
    type: str
    message: str
    #: The formatted traceback (printed by the CLI under ``MCFLOW_DEBUG=1``).
    traceback: str = field(default="", repr=False, compare=False)

    @classmethod
    def from_exception(cls, name: str, error: BaseException) -> CaseError:
        """Record ``error`` (its type name and message) as raised by case ``name``."""
        trace = "".join(format_exception(type(error), error, error.__traceback__))
        if isinstance(error, SystemExit):
            return cls(name, "SystemExit", f"user code called sys.exit({error.code!r})", trace)
        return cls(name, type(error).__name__, str(error).strip() or repr(error), trace)

    def line(self) -> str:
        """``"Type: message"`` on one line."""
        return f"{self.type}: {' '.join(self.message.split())}"

    def to_dict(self) -> dict[str, Any]:
        """Return the ``"error"`` case of :meth:`CheckOutcome.to_dict`'s document."""
        return error_case(self.name, self.message, self.type)


@dataclass(frozen=True)
class CheckOutcome:
    """Results of the finished cases, errors of the others, and the combined verdict.

    ``names`` and ``results`` hold the cases that ran, in config order;
    ``errors`` maps each case that could not run to its :class:`CaseError`;
    ``not_run`` names the cases ``fail_fast`` never started (after ``stopped_by``);
    ``order`` is every case name in config order (default: ``names``, ``errors``,
    ``not_run``).  ``alpha`` is split over all of them, run or not: the cases
    selected (``selection``, the ``-k`` expression, chose them among ``available``).
    """

    names: tuple[str, ...]
    results: tuple[ValidationResult | NdResult, ...]
    alpha: float
    seconds: float
    errors: Mapping[str, CaseError] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    not_run: tuple[str, ...] = ()
    stopped_by: str | None = None
    selection: str | None = None
    available: int = 0
    #: Wall seconds of each case that ran or raised.
    times: Mapping[str, float] = field(default_factory=dict)

    @property
    def case_names(self) -> tuple[str, ...]:
        """Every case, finished or not, in config order."""
        return self.order or (*self.names, *self.errors, *self.not_run)

    @property
    def verdict(self) -> str:
        """``error`` if a case could not run, else ``fail``, ``inconclusive`` or ``pass``."""
        verdicts: set[str] = {result.verdict for result in self.results}
        if self.errors:
            verdicts.add("error")
        return next((v for v in VERDICT_ORDER if v in verdicts), "pass")

    @property
    def by_name(self) -> dict[str, ValidationResult | NdResult]:
        """The results of the cases that ran, by name."""
        return dict(zip(self.names, self.results, strict=True))

    def rows(self) -> list[tuple[str, ...]]:
        """Return the table's header and one row of cells per case (p-values at a floor: bounds)."""
        header = ("case", "verdict", "n", "combined p", "L1", "KS p", "L1 p", "G p", "AD p",
                  "detects L1", "s")
        by_name = self.by_name
        rows: list[tuple[str, ...]] = [header]
        for name in self.case_names:
            r = by_name.get(name)
            if r is None:
                rows.append((name, "NOT RUN" if name in self.not_run else "ERROR",
                             *["-"] * (len(header) - 2)))
            elif isinstance(r, NdResult):  # d-dimensional: its layers say more than a row
                rows.append((name, r.verdict.upper(), f"{r.n:.3g}", f"d = {r.dim}",
                             *["-"] * (len(header) - 5), f"{r.seconds['total']:.1f}"))
            else:
                p = r.pvalue_texts(label="")
                rows.append((name, r.verdict.upper(), f"{r.n:.3g}", p["combined"],
                             f"{r.l1:.2e}", p["ks"], p["l1"], p["g"], p["ad"],
                             f"{r.detection_limit:.2e}", f"{r.seconds['total']:.1f}"))
        return rows

    def verdict_line(self) -> str:
        """Return the verdict, the alpha budget and the cases it is split over, and the time."""
        count = len(self.case_names)
        chosen = (f" (selected by -k {self.selection!r} from {self.available})"
                  if self.selection is not None else "")
        over = f", Bonferroni over the {count} selected" if self.selection is not None else ""
        line = (f"{self.verdict.upper()}: {count} cases{chosen}, alpha = {self.alpha:g} "
                f"overall ({self.alpha / count:.3g} per case{over}), {self.seconds:.1f} s")
        if self.errors:
            line += f"; {len(self.errors)} could not run"
        if self.not_run:
            line += f"; {len(self.not_run)} not run ({self.not_run_reason})"
        return line

    @property
    def not_run_reason(self) -> str:
        """Why the ``not_run`` cases did not run."""
        return f"--fail-fast stopped after {self.stopped_by!r}"

    def problems(self) -> list[tuple[str, str]]:
        """``(name, text)`` of every case that did not pass: its summary, or its error."""
        by_name = self.by_name
        found = []
        for name in self.case_names:
            if name in self.errors:
                found.append((name, f"ERROR: {self.errors[name].line()}"))
            elif name in by_name and by_name[name].verdict != "pass":
                found.append((name, by_name[name].summary()))
        return found

    def table(self) -> str:
        """Return a plain-text table, one row per case, and the overall verdict."""
        rows = self.rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                 for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        lines.append(f"\n{self.verdict_line()}")
        lines += [f"\n{name}:\n{text}" for name, text in self.problems()]
        return "\n".join(lines)

    def to_dict(self, *, title: str | None = None) -> dict[str, Any]:
        """Return the run's JSON document (``mcflow.validation/2``), as ``--json`` writes it.

        Every case in config order: a finished one as its result's
        ``to_dict()`` under its config name (a d-dimensional one keeps the
        flow's name in ``flow``), one that raised as ``kind: "error"``, one
        ``fail_fast`` never started as ``kind: "not_run"``; with the overall
        verdict and alpha, the environment and the ``-k`` selection.
        ``title`` is an optional heading (the CLI's report uses its own).
        """
        by_name = self.by_name
        cases = [self.errors[name].to_dict() if name in self.errors
                 else not_run_case(name, self.not_run_reason) if name in self.not_run
                 else result_case(name, by_name[name]) for name in self.case_names]
        return build_document(cases, alpha=self.alpha, seconds=self.seconds,
                              selected_by=self.selection,
                              cases_in_config=self.available or len(self.case_names),
                              title=title)


def _resolve(config: CheckConfig) -> list[tuple[Any, Any]]:
    """Resolve every spec (and support) first: a typo fails before hours of sampling."""
    resolved: list[tuple[Any, Any]] = []
    for case in config.cases:
        try:
            transform = parse_transform(case.transform)
            if isinstance(transform, NdCase):
                one_d = sorted(set(case.options) - _ND_OPTIONS) + \
                    (["support"] if case.support is not None else []) + \
                    (["pdf"] if case.pdf else [])
                if one_d:
                    raise ValueError(f"{', '.join(one_d)}: 1-D options, but "
                                     f"{case.transform} is a {transform.dim}-dimensional flow")
                resolved.append((transform, None))
                continue
            if case.support is not None:
                transform = transform.with_support(case.support)
            resolved.append((transform, parse_pdf(case.pdf) if case.pdf else None))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"case {case.name!r}: {error}") from None
    return resolved


def run_check(config: CheckConfig, *, threads: int | None = None,
              progress: Callable[[int, int], None] | None = None,
              client: Any = None, fail_fast: bool = False) -> CheckOutcome:
    """Validate every case with ``alpha / len(cases)`` each (Bonferroni).

    Parameters
    ----------
    config : CheckConfig
        From :func:`mcflow.config.load_config` (and :meth:`~CheckConfig.select`).
    threads : int, optional
        Engine threads.
    progress : callable, optional
        ``progress(samples_done, samples_total)`` over all cases.
    client : distributed.Client, optional
        Sample on this Dask cluster.
    fail_fast : bool
        Stop after the first case that fails or could not run; the others are
        ``not_run`` (the budget stays split over every case).

    Returns
    -------
    CheckOutcome
        A case that raised (or called ``sys.exit``) is in ``errors``; the
        others ran.  ``KeyboardInterrupt`` is not caught.

    Raises
    ------
    ConfigError
        When a spec cannot be resolved (before any case runs).
    """
    from mcflow.distributed import ClusterError

    started = time.perf_counter()
    per_case_alpha = config.alpha / len(config.cases)
    start_null_compile()  # a first run: the null's kernels compile while the specs resolve
    resolved = _resolve(config)
    names: list[str] = []
    results: list[ValidationResult | NdResult] = []
    errors: dict[str, CaseError] = {}
    times: dict[str, float] = {}
    not_run: list[str] = []
    stopped_by: str | None = None
    total = sum(float(case.options.get("n", 10**7)) for case in config.cases)
    done_before = 0.0
    cluster_failure: CaseError | None = None
    for case, (transform, pdf) in zip(config.cases, resolved, strict=True):
        if stopped_by is not None:
            not_run.append(case.name)
            continue
        if cluster_failure is not None:  # no point waiting for a broken cluster again
            errors[case.name] = CaseError(case.name, cluster_failure.type,
                                          f"not run: {cluster_failure.message}")
            continue

        def report(done: int, _total: int, offset: float = done_before) -> None:
            if progress is not None:
                progress(int(offset + done), int(total))

        case_started = time.perf_counter()
        try:
            if isinstance(transform, NdCase):
                result: ValidationResult | NdResult = nd_validate(
                    transform, alpha=per_case_alpha, progress=report, client=client,
                    **case.options)
            else:
                result = validate(transform, pdf, alpha=per_case_alpha, threads=threads,
                                  progress=report, client=client, **case.options)
        except (Exception, SystemExit) as error:  # user code: recorded, the others still run
            errors[case.name] = CaseError.from_exception(case.name, error)
            if isinstance(error, ClusterError):
                cluster_failure = errors[case.name]
        else:
            names.append(case.name)
            results.append(result)
        times[case.name] = time.perf_counter() - case_started
        if fail_fast and (case.name in errors or result.verdict == "fail"):
            stopped_by = case.name
        done_before += float(case.options.get("n", 10**7))
    return CheckOutcome(names=tuple(names), results=tuple(results), alpha=config.alpha,
                        seconds=time.perf_counter() - started, errors=errors,
                        order=tuple(case.name for case in config.cases),
                        not_run=tuple(not_run), stopped_by=stopped_by,
                        selection=config.selection, available=config.available, times=times)
