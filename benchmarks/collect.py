"""Assemble docs/benchmarks.md from the result tables the benchmark scripts write.

Each script in benchmarks/ writes its own table to benchmarks/results/<name>.md
(with the command that reproduces it); this joins them in a fixed order.

    python benchmarks/collect.py
"""

from __future__ import annotations

from pathlib import Path

from repurchase_ml._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["generator", "features", "accuracy", "radar", "serving"]
HEADER = """# Benchmarks

Every number here is produced by a script in `benchmarks/` on the project's
reference machine (2 cores, 24 GiB, shared and noisy: medians of repeated runs,
ratios measured side by side in the same run). Re-run a section with the
command shown in it, then `python benchmarks/collect.py` to rebuild this page.
"""


def main() -> Path:
    results = ROOT / "benchmarks" / "results"
    names = [n for n in ORDER if (results / f"{n}.md").exists()]
    names += sorted(p.stem for p in results.glob("*.md") if p.stem not in ORDER)
    parts = [HEADER] + [(results / f"{n}.md").read_text(encoding="utf-8").strip() + "\n" for n in names]
    return write_text_atomic(ROOT / "docs" / "benchmarks.md", "\n".join(parts))


if __name__ == "__main__":
    print(main())
