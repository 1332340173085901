"""The code base stays lint-clean and type-checks (ruff and mypy from the dev extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "src", "tests", "benchmarks", "notebooks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = _run("mypy", "src", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr
