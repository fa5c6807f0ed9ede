"""The code's type hints hold: mypy over the four packages, as configured in pyproject.toml.

The hints are how the storage, rules and handlers modules say what they take and return; a
wrong one misleads the next reader. mypy's version is pinned in the test extra so a new
release's checks arrive by choice.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_errors(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "bot", "handlers", "storage",
         "scheduling"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
