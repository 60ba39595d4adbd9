"""Parse the textual names of transforms and densities used by the CLI and configs.

``exp``, ``sinh_arcsinh:skew=0.5,tailweight=2`` or ``power:p=0.5`` name a
built-in with keyword parameters; ``MODULE:OBJECT`` names a
:class:`~mcflow.Transform` (or a zero-argument factory of one) importable from
the current directory or the Python path.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from mcflow.transform import Transform
from mcflow.transforms import BUILTINS

__all__ = ["SpecError", "describe_builtins", "load_object", "parse_pdf", "parse_transform"]


class SpecError(ValueError):
    """A transform or pdf spec that cannot be resolved (the CLI's exit code 2)."""


def _parse_parameters(name: str, text: str) -> dict[str, float]:
    parameters: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"transform spec {name!r}: parameter {item!r} must be key=value")
        if key.strip() in parameters:
            raise SpecError(f"transform spec {name!r}: parameter {key.strip()!r} is given twice")
        try:
            parameters[key.strip()] = float(value)
        except ValueError:
            raise SpecError(
                f"transform spec {name!r}: parameter {key.strip()}={value!r} is not a number"
            ) from None
    return parameters


def load_object(spec: str, what: str) -> Any:
    """Import ``MODULE:OBJECT`` (dots allowed in both parts).

    Parameters
    ----------
    spec : str
        ``"package.module:attribute.path"``.
    what : str
        The parameter name, for error messages (``"transform"``, ``"pdf"``).

    Returns
    -------
    object
    """
    module_name, sep, attribute = spec.partition(":")
    if not (sep and module_name and attribute):
        raise SpecError(f"{what} {spec!r} must look like MODULE:OBJECT")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project's own modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SpecError(
            f"{what} {spec!r}: cannot import module {module_name!r} ({error})"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SpecError(
                f"{what} {spec!r}: module {module_name!r} has no {attribute!r}"
            ) from None
    return target


def parse_transform(spec: str) -> Transform:
    """Resolve a transform spec to a :class:`~mcflow.Transform`.

    Parameters
    ----------
    spec : str
        A built-in (``exp``, ``affine:shift=1,scale=2``) or ``MODULE:OBJECT``.

    Returns
    -------
    Transform
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"transform spec must be a non-empty string, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    if name in BUILTINS:
        parameters = _parse_parameters(name, rest)
        factory = BUILTINS[name]
        accepted = list(inspect.signature(factory).parameters)
        unknown = sorted(set(parameters) - set(accepted))
        if unknown:
            raise SpecError(
                f"transform {name!r} has no parameter {unknown[0]!r}; it takes "
                f"{', '.join(accepted) or 'no parameters'}"
            )
        try:
            return factory(**parameters)
        except (TypeError, ValueError) as error:
            raise SpecError(f"transform spec {spec!r}: {error}") from None
    if not rest:
        raise SpecError(
            f"unknown transform {spec!r}: not a built-in ({', '.join(BUILTINS)}) and not "
            "MODULE:OBJECT"
        )
    target = load_object(spec, "transform")
    if not isinstance(target, Transform) and callable(target):
        target = _transform_from_callable(target, spec)
    if not isinstance(target, Transform):
        raise SpecError(
            f"transform {spec!r} is a {type(target).__name__}, not a mcflow.Transform"
        )
    return target


def _transform_from_callable(target: Callable[..., Any], spec: str) -> Any:
    """Call a zero-argument factory; wrap a one-argument function as a forward map."""
    from numba.core.registry import CPUDispatcher

    if isinstance(target, CPUDispatcher):
        return Transform(target)
    if inspect.isfunction(target):
        required = [p for p in inspect.signature(target).parameters.values()
                    if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(required) == 1:
            return Transform(target)  # a scalar forward map, compiled with numba.njit
        if required:
            raise SpecError(
                f"transform {spec!r} is a function of {len(required)} arguments; name a "
                "mcflow.Transform, a zero-argument factory or a one-argument forward map")
    try:
        return target()  # a zero-argument factory, or a Transform class without parameters
    except TypeError as error:
        raise SpecError(f"transform {spec!r} could not be built without arguments ({error}); "
                        "for a built-in with parameters use NAME:key=value") from None


def parse_pdf(spec: str) -> Callable[..., Any]:
    """Resolve ``MODULE:FUNC`` to a vectorized pdf callable."""
    target = load_object(spec, "pdf")
    if not callable(target):
        raise SpecError(f"pdf {spec!r} is a {type(target).__name__}, not callable")
    return target


def describe_builtins() -> list[tuple[str, str, str]]:
    """Return ``(name, parameters, one-line description)`` of every built-in."""
    rows = []
    for name, factory in BUILTINS.items():
        parameters = ", ".join(
            p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default:g}"
            for p in inspect.signature(factory).parameters.values()
        )
        summary = (factory.__doc__ or "").strip().splitlines()[0].replace("``", "")
        rows.append((name, parameters, summary))
    return rows
