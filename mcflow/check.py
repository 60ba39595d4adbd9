"""Run every case of a :class:`~mcflow.config.CheckConfig` under one alpha budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcflow.config import CheckConfig, ConfigError
from mcflow.specs import parse_pdf, parse_transform
from mcflow.validation import SCHEMA_VERSION, ValidationResult, validate

__all__ = ["CheckOutcome", "run_check"]


@dataclass(frozen=True)
class CheckOutcome:
    """Results of all cases and the combined verdict."""

    names: tuple[str, ...]
    results: tuple[ValidationResult, ...]
    alpha: float
    seconds: float

    @property
    def verdict(self) -> str:
        """``fail`` if any case failed, else ``inconclusive`` if any was, else ``pass``."""
        verdicts = {result.verdict for result in self.results}
        for verdict in ("fail", "inconclusive"):
            if verdict in verdicts:
                return verdict
        return "pass"

    def table(self) -> str:
        """Return a plain-text table, one row per case, and the overall verdict."""
        header = ("case", "verdict", "n", "KS p", "L1", "L1 p", "G p", "detects L1", "s")
        rows = [header]
        for name, r in zip(self.names, self.results, strict=True):
            rows.append((name, r.verdict.upper(), f"{r.n:.3g}", f"{r.ks_pvalue:.3g}",
                         f"{r.l1:.2e}", f"{r.l1_pvalue:.3g}", f"{r.g_pvalue:.3g}",
                         f"{r.detection_limit:.2e}", f"{r.seconds['total']:.1f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                 for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        per_case = self.alpha / len(self.results)
        lines.append(f"\n{self.verdict.upper()}: {len(self.results)} cases, alpha = {self.alpha:g} "
                     f"overall ({per_case:.3g} per case), {self.seconds:.1f} s")
        for name, r in zip(self.names, self.results, strict=True):
            if r.verdict != "pass":
                lines.append(f"\n{name}:\n{r.summary()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable view: every case's ``to_dict()`` and the verdict."""
        return {
            "schema": SCHEMA_VERSION,
            "verdict": self.verdict,
            "alpha": self.alpha,
            "seconds": self.seconds,
            "cases": [{"name": name, **result.to_dict()}
                      for name, result in zip(self.names, self.results, strict=True)],
        }


def run_check(config: CheckConfig, *, threads: int | None = None,
              progress: Callable[[int, int], None] | None = None,
              client: Any = None) -> CheckOutcome:
    """Validate every case with ``alpha / len(cases)`` each (Bonferroni).

    Parameters
    ----------
    config : CheckConfig
        From :func:`mcflow.config.load_config`.
    threads : int, optional
        Engine threads.
    progress : callable, optional
        ``progress(samples_done, samples_total)`` over all cases.
    client : distributed.Client, optional
        Sample on this Dask cluster.

    Returns
    -------
    CheckOutcome
    """
    started = time.perf_counter()
    per_case_alpha = config.alpha / len(config.cases)
    results = []
    resolved = []
    for case in config.cases:  # resolve every spec first: a typo fails before hours of sampling
        try:
            resolved.append((parse_transform(case.transform),
                             parse_pdf(case.pdf) if case.pdf else None))
        except ValueError as error:
            raise ConfigError(f"case {case.name!r}: {error}") from None
    total = sum(float(case.options.get("n", 10**7)) for case in config.cases)
    done_before = 0.0
    for case, (transform, pdf) in zip(config.cases, resolved, strict=True):
        def report(done: int, _total: int, offset: float = done_before) -> None:
            if progress is not None:
                progress(int(offset + done), int(total))

        try:
            result = validate(transform, pdf, alpha=per_case_alpha, threads=threads,
                              progress=report, client=client, **case.options)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"case {case.name!r}: {error}") from None
        results.append(result)
        done_before += result.n
    return CheckOutcome(names=tuple(case.name for case in config.cases), results=tuple(results),
                        alpha=config.alpha, seconds=time.perf_counter() - started)
