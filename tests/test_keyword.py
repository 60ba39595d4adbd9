"""`-k EXPR`: pytest's grammar over case names, and its errors naming the column."""

from __future__ import annotations

import pytest

from mcflow._keyword import KeywordError, compile_expression

NAMES = ("seed exp", "sinh-arcsinh", "sinh", "tanh", "cube (singular at 0)", "Power")


@pytest.mark.parametrize(("expression", "selected"), [
    ("exp", ["seed exp"]),
    ("sinh", ["sinh-arcsinh", "sinh"]),
    ("sinh and not arcsinh", ["sinh"]),
    ("tanh or cube", ["tanh", "cube (singular at 0)"]),
    ("not (sinh or exp)", ["tanh", "cube (singular at 0)", "Power"]),
    ("(sinh or tanh) and not (arcsinh)", ["sinh", "tanh"]),
    ("POWER", ["Power"]),  # case-insensitive, as pytest
    ("seed and exp", ["seed exp"]),  # a name with spaces: its words
    ("not not tanh", ["tanh"]),
    ("tanh or zz and exp", ["tanh"]),  # 'and' binds tighter: tanh or (zz and exp)
    ("h and n or exp", ["seed exp", "sinh-arcsinh", "sinh", "tanh"]),
    ("", list(NAMES)),
    ("   ", list(NAMES)),
])
def test_expressions_select_as_pytest_does(expression, selected):
    matches = compile_expression(expression)
    assert [name for name in NAMES if matches(name)] == selected


@pytest.mark.parametrize(("expression", "message"), [
    ("exp and", "-k 'exp and': expected a name or '(', found the end"),
    ("and exp", "-k 'and exp': expected a name or '(', found 'and' at column 1"),
    ("(exp", "-k '(exp': expected ')', found the end"),
    ("exp)", "-k 'exp)': expected 'and', 'or' or the end, found ')' at column 4"),
    ("exp tanh", "expected 'and', 'or' or the end, found 'tanh' at column 5"),
    ("exp or or x", "expected a name or '(', found 'or' at column 8"),
    ("x$y", "-k 'x$y': unexpected character '$' at column 2"),
    ("()", "expected a name or '(', found ')' at column 2"),
    ("not", "expected a name or '(', found the end"),
])
def test_malformed_expressions_name_the_place(expression, message):
    with pytest.raises(KeywordError) as caught:
        compile_expression(expression)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)  # the command line's exit code 2
