"""The README's "Validate your torch / JAX flow" examples run, and print what they say.

Each example ends with ``print(r.verdict...)  # <what it prints>``; the test runs the
block and compares ``r.verdict`` (and ``r.failed_layers`` where shown) with the
comment.  Skipped without the example's library (``make test-adapters`` has them).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[str]:
    section = README.read_text().split("## Validate your torch / JAX flow", 1)[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_the_three_examples():
    libraries = [re.findall(r"^import (\w+)", block, flags=re.MULTILINE) for block in _examples()]
    assert [("torch" in names, "zuko" in names, "jax" in names) for names in libraries] == [
        (True, False, False), (True, True, False), (False, False, True)]


@pytest.mark.parametrize("block", _examples(), ids=["torch", "zuko", "numpyro"])
def test_readme_example_prints_what_it_says(block):
    for module in re.findall(r"^(?:import|from) (\w+)", block, flags=re.MULTILINE):
        pytest.importorskip(module)
    printed = re.search(r"print\((.*)\)\s+# (.*)$", block, flags=re.MULTILINE)
    assert printed is not None
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # our own README
    result = namespace["r"]
    words = printed.group(2).split(" ", 1)
    assert result.verdict == words[0], result.summary()
    if len(words) > 1:
        assert result.failed_layers == ast.literal_eval(words[1]), result.summary()
