"""The code stays ruff-clean and mypy-clean (configurations in pyproject.toml).

Both tools are test dependencies (``pip install mcflow[test]``): a missing
one fails the test rather than skipping it, so CI cannot pass unchecked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    completed = subprocess.run([sys.executable, "-m", "ruff", "check", "mcflow", "tests", "bench"],
                               cwd=ROOT, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_mypy_is_clean():
    completed = subprocess.run([sys.executable, "-m", "mypy", "mcflow"], cwd=ROOT,
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
