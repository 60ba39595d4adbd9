r"""``-k EXPR``: choose cases by name as pytest's ``-k`` chooses tests.

The grammar is pytest's (without its keyword arguments)::

    expression: expr? EOF
    expr:       and_expr ('or' and_expr)*
    and_expr:   not_expr ('and' not_expr)*
    not_expr:   'not' not_expr | '(' expr ')' | term
    term:       (\w|:|+|-|.|[|]|\\|/)+

A term matches a case whose name contains it, ignoring case; an empty
expression matches every case.  ``-k "exp and not sinh"``, ``-k "(tanh or
sigmoid)"``.  A name with spaces is matched by its words: ``-k "seed and exp"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["KeywordError", "compile_expression"]

_TERM = re.compile(r"(?:\w|:|\+|-|\.|\[|\]|\\|/)+")
_KEYWORDS = frozenset({"and", "or", "not"})


class KeywordError(ValueError):
    """A ``-k`` expression that does not parse (a usage error, exit code 2)."""


Matcher = Callable[[str], bool]


def _tokens(expression: str) -> list[tuple[str, int]]:
    """Split into ``(token, column)`` pairs; column is 1-based."""
    tokens: list[tuple[str, int]] = []
    position = 0
    while position < len(expression):
        char = expression[position]
        if char in " \t":
            position += 1
        elif char in "()":
            tokens.append((char, position + 1))
            position += 1
        else:
            match = _TERM.match(expression, position)
            if match is None:
                raise KeywordError(f"-k {expression!r}: unexpected character {char!r} at "
                                   f"column {position + 1}")
            tokens.append((match.group(0), position + 1))
            position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens, building a matcher of names."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.index = 0

    def _peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def _fail(self, expected: str) -> KeywordError:
        if self.index < len(self.tokens):
            token, column = self.tokens[self.index]
            found = f"{token!r} at column {column}"
        else:
            found = "the end"
        return KeywordError(f"-k {self.expression!r}: expected {expected}, found {found}")

    def parse(self) -> Matcher:
        if not self.tokens:
            return lambda name: True
        matcher = self._or()
        if self._peek() is not None:
            raise self._fail("'and', 'or' or the end")
        return matcher

    def _or(self) -> Matcher:
        parts = [self._and()]
        while self._peek() == "or":
            self.index += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda name: any(p(name) for p in parts)

    def _and(self) -> Matcher:
        parts = [self._not()]
        while self._peek() == "and":
            self.index += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else lambda name: all(p(name) for p in parts)

    def _not(self) -> Matcher:
        token = self._peek()
        if token == "not":
            self.index += 1
            inner = self._not()
            return lambda name: not inner(name)
        if token == "(":
            self.index += 1
            inner = self._or()
            if self._peek() != ")":
                raise self._fail("')'")
            self.index += 1
            return inner
        if token is None or token == ")" or token in _KEYWORDS:
            raise self._fail("a name or '('")
        self.index += 1
        term = token.lower()
        return lambda name: term in name.lower()


def compile_expression(expression: str) -> Matcher:
    """Return a predicate on case names for a ``-k`` expression.

    Parameters
    ----------
    expression : str
        Terms (substrings of names, matched ignoring case) combined with
        ``and``, ``or``, ``not`` and parentheses; empty: every name.

    Returns
    -------
    callable
        ``matches(name) -> bool``.

    Raises
    ------
    KeywordError
        When the expression does not parse, naming the column.

    Examples
    --------
    >>> matches = compile_expression("exp and not (sinh or cube)")
    >>> [name for name in ("seed exp", "sinh exp", "tanh") if matches(name)]
    ['seed exp']
    """
    return _Parser(expression).parse()
