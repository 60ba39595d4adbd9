"""Parse the textual names of transforms and densities used by the CLI and configs.

``exp``, ``sinh_arcsinh:skew=0.5,tailweight=2`` or ``power:p=0.5`` name a
built-in with keyword parameters; ``MODULE:OBJECT`` names an object importable
from the current directory or the Python path.  Importing the module runs its
code, so a config is code: only name modules you trust.

A ``MODULE:OBJECT`` transform spec must resolve to one of:

- a :class:`~mcflow.Transform` instance;
- a ``numba`` dispatcher (``@numba.njit``) or a plain Python function of one
  positional argument, defined outside the standard library: the forward map;
- a subclass of :class:`~mcflow.Transform` constructible without arguments;
- a factory marked with :func:`transform_factory` (the attribute
  ``__mcflow_transform__ = True``), called without arguments, returning a Transform;
- a d-dimensional :class:`mcflow.nd.Case` (or a marked factory returning one),
  validated by :func:`mcflow.nd.validate`.

Nothing else is ever called: ``sys:exit`` or ``os:abort`` are refused, not run.

``torch:MODULE:OBJECT`` and ``jax:MODULE:OBJECT`` name a library distribution
(or a zuko flow), or a factory marked with :func:`transform_factory` that
returns one; it becomes a :class:`~mcflow.Case` through
:func:`mcflow.from_torch` / :func:`mcflow.from_jax`, with its pdf, mu, sigma,
CDF and support, or an ``nd.Case`` for a flow of event shape ``(d,)``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

from mcflow._jax_adapter import from_jax
from mcflow._nd_case import Case as NdCase
from mcflow._torch_adapter import from_torch
from mcflow.case import Case
from mcflow.transform import Transform
from mcflow.transforms import BUILTINS

__all__ = ["SpecError", "describe_builtins", "load_object", "parse_pdf", "parse_transform",
           "transform_factory"]

_Factory = TypeVar("_Factory", bound=Callable[..., Any])
_FORMS = ("a mcflow.Transform, a Transform subclass without required arguments, an @njit or "
          "plain function of one argument (the forward map), or a factory marked with "
          "@mcflow.specs.transform_factory")


class SpecError(ValueError):
    """A transform or pdf spec that cannot be resolved (the CLI's exit code 2)."""


def transform_factory(function: _Factory) -> _Factory:
    """Mark ``function`` as a zero-argument factory that a ``MODULE:OBJECT`` spec may call.

    Parameters
    ----------
    function : callable
        Called without arguments when the spec is resolved; must return a
        :class:`~mcflow.Transform`.

    Returns
    -------
    callable
        ``function`` itself, with ``__mcflow_transform__ = True``.

    Examples
    --------
    >>> from mcflow import transforms
    >>> @transform_factory
    ... def make_flow():
    ...     return transforms.Chain(transforms.Affine(1.0, 2.0), transforms.Exp())
    >>> make_flow.__mcflow_transform__
    True
    """
    function.__mcflow_transform__ = True  # type: ignore[attr-defined]
    return function


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


def _user_code_error(what: str, spec: str, action: str, error: BaseException) -> SpecError:
    """Describe user code that raised (or called sys.exit) while a spec was resolved."""
    detail = f"{type(error).__name__}: {error}" if str(error) else repr(error)
    return SpecError(f"{what} {spec!r}: {action} raised {detail}")


def load_object(spec: str, what: str) -> Any:
    """Import ``MODULE:OBJECT`` (dots allowed in both parts).

    Importing runs the module's code; an exception or ``sys.exit`` there
    becomes a :class:`SpecError` (``KeyboardInterrupt`` passes through).

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
    except (Exception, SystemExit) as error:  # the module's own code failed or exited
        raise _user_code_error(what, spec, f"importing module {module_name!r}", error) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SpecError(
                f"{what} {spec!r}: module {module_name!r} has no {attribute!r}"
            ) from None
        except (Exception, SystemExit) as error:  # a property or module __getattr__
            raise _user_code_error(what, spec, f"reading {attribute!r}", error) from None
    return target


def _defined_in_stdlib(target: Any) -> bool:
    """Whether ``target`` (or, for an instance, its class) comes from Python itself."""
    if isinstance(target, functools.partial):  # judged by what it wraps
        return _defined_in_stdlib(target.func)
    if inspect.ismethod(target):  # a bound method, e.g. a frozen distribution's pdf
        return _defined_in_stdlib(target.__func__)
    owner = target if inspect.isfunction(target) or inspect.isclass(target) else type(target)
    module = getattr(owner, "__module__", None) or "builtins"
    return module.partition(".")[0] in sys.stdlib_module_names


def _one_positional_argument(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in parameters if p.default is inspect.Parameter.empty
                and p.kind is not p.VAR_POSITIONAL and p.kind is not p.VAR_KEYWORD]
    return len(positional) >= 1 and len(required) == 1 and required[0] is positional[0]


def parse_transform(spec: str) -> Transform | Case | NdCase:
    """Resolve a transform spec to a :class:`~mcflow.Transform` (or a library :class:`Case`).

    Parameters
    ----------
    spec : str
        A built-in (``exp``, ``affine:shift=1,scale=2``), ``MODULE:OBJECT``
        in one of the forms listed in this module's docstring, or
        ``torch:MODULE:OBJECT`` / ``jax:MODULE:OBJECT`` naming a distribution.

    Returns
    -------
    Transform, Case or nd.Case
        A Case for the ``torch:`` and ``jax:`` forms (an nd.Case for a
        d-dimensional flow), an nd.Case where the object is one.

    Raises
    ------
    SpecError
        For an unknown name, a bad parameter, an object of another kind, or
        user code that raised while the spec was resolved.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"transform spec must be a non-empty string, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    if name in _ADAPTERS and ":" in rest:
        return _resolve_distribution(name, rest)
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
    return _resolve_transform(load_object(spec, "transform"), spec)


def _resolve_transform(target: Any, spec: str) -> Transform | NdCase:
    """Turn the object a spec names into a Transform, calling only the documented forms."""
    from numba.core.registry import CPUDispatcher

    if isinstance(target, (Transform, NdCase)):
        return target
    build: Callable[[], Any]
    if inspect.isclass(target) and issubclass(target, Transform):
        action, build = "constructing the Transform subclass", cast(Callable[[], Any], target)
    elif getattr(target, "__mcflow_transform__", False) is True and callable(target) \
            and not inspect.isbuiltin(target) and not _defined_in_stdlib(target):
        action, build = "calling the transform factory", target
    elif isinstance(target, CPUDispatcher) or (
            inspect.isfunction(target) and not _defined_in_stdlib(target)
            and _one_positional_argument(target)):
        action, build = "compiling the forward map", lambda: Transform(target)
    else:
        kind = type(target).__name__
        if _defined_in_stdlib(target):
            kind += " from the Python standard library"
        elif inspect.isfunction(target):
            kind = "function whose arguments are not exactly one positional x"
        raise SpecError(f"transform {spec!r} is a {kind}; name {_FORMS}")
    try:
        built = build()
    except TypeError as error:
        if build is target and inspect.isclass(target):
            raise SpecError(f"transform {spec!r} could not be built without arguments ({error}); "
                            "for a built-in with parameters use NAME:key=value") from None
        raise SpecError(f"transform {spec!r}: {error}") from None
    except (Exception, SystemExit) as error:  # user code: never an exit code of its own
        raise _user_code_error("transform", spec, action, error) from None
    if not isinstance(built, (Transform, NdCase)):
        raise SpecError(f"transform {spec!r}: the factory returned a {type(built).__name__}, "
                        "not a mcflow.Transform (or an nd.Case)")
    return built


_ADAPTERS: dict[str, Callable[..., Case | NdCase]] = {"torch": from_torch, "jax": from_jax}


def _resolve_distribution(library: str, spec: str) -> Case | NdCase:
    """``MODULE:OBJECT`` naming a distribution (or a marked factory of one) as a Case."""
    target = load_object(spec, "transform")
    if getattr(target, "__mcflow_transform__", False) is True and callable(target):
        try:
            target = target()
        except (Exception, SystemExit) as error:  # user code: reported, never an exit code
            raise _user_code_error("transform", f"{library}:{spec}",
                                   "calling the distribution factory", error) from None
    try:
        return _ADAPTERS[library](target)
    except (TypeError, ValueError, ImportError) as error:
        raise SpecError(f"transform {library}:{spec}: {error}") from None


def parse_pdf(spec: str) -> Callable[..., Any]:
    """Resolve ``MODULE:FUNC`` to a vectorized pdf callable (not called here).

    Parameters
    ----------
    spec : str
        Names a Python function, or a callable object (a ufunc, a frozen
        distribution's ``pdf``) that is neither a class nor part of Python itself.

    Returns
    -------
    callable
        ``p_Y(y: ndarray) -> ndarray``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"pdf spec must be a non-empty string, got {spec!r}")
    target = load_object(spec.strip(), "pdf")
    if inspect.isclass(target) or not callable(target):
        kind = "class" if inspect.isclass(target) else type(target).__name__
        raise SpecError(f"pdf {spec!r} is a {kind}, not a function p_Y(y)")
    if inspect.isbuiltin(target) or _defined_in_stdlib(target):
        raise SpecError(f"pdf {spec!r} is a {type(target).__name__} from the Python standard "
                        "library, not a density; name your own function p_Y(y)")
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
