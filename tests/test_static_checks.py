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
    """mypy is clean on src and on a correct use of the flat API, and flags every misuse.

    ``tests/typing/flat_api_misuse.py`` marks each line mypy must reject with
    ``# mypy: error``: the flat ``rm.X`` names carry their real signatures (one
    mypy run checks all three, so the check costs no second analysis of src).
    """
    misuse = ROOT / "tests" / "typing" / "flat_api_misuse.py"
    result = _run("mypy", "src", "tests/typing", "--no-incremental")
    reported = {line.split(":")[0] + ":" + line.split(":")[1]
                for line in result.stdout.splitlines() if ": error:" in line}
    marked = {f"tests/typing/{misuse.name}:{number}"
              for number, text in enumerate(misuse.read_text().splitlines(), start=1)
              if text.endswith("# mypy: error")}
    assert len(marked) >= 5
    assert reported == marked, result.stdout + result.stderr
