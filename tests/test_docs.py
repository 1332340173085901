"""Every python and bash code block of README.md and docs/*.md runs as written.

Each page runs in a fresh temporary folder holding copies of the example files
of ``docs/examples/`` (the ``orders.csv``, ``mapping.yaml``, ... the blocks
read), with its blocks in page order in one Python process, as a reader
would: python blocks share one namespace (like notebook cells); bash blocks
run in ``bash -e`` with ``repurchase-ml`` and ``python`` on the PATH; a yaml
block whose first line is a comment naming a file (``# config.yaml``) is
saved under that name first, as the text asks the reader to. A failure names
the page and the line of the block.

Five pages train the same quickstart model; the driver memoises
``build_training_set`` and ``train_models`` across pages by their exact
arguments (both are deterministic: tests/test_reproducibility.py), so the
suite trains it once. Every block still runs; only an identical call made
by an earlier page is answered from the memo.

Rules for writing docs (docs/index.md, "Docs that run"):

- a block runs when its language is ``python`` (or ``py``) or ``bash`` (or
  ``sh``, ``shell``); any other block, an untagged one included, is text;
- a block that must not run is preceded by ``<!-- docs-test: skip REASON -->``
  on the line before its fence, e.g. ``<!-- docs-test: skip starts a server
  -->``; the reason is required.

New pages are picked up automatically.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
PAGES = sorted([ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
RUN = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(?P<reason>.*?)-->")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
SAVED_AS = re.compile(r"^#\s*(?P<name>[\w.-]+\.ya?ml)\b")
#: seconds one page may take before the test gives up on it
PAGE_TIMEOUT = 600


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int  # line of the first line of code (1-based)
    lang: str
    code: str
    skip_reason: str | None


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the skip marker on the line before each.

    >>> import tempfile
    >>> page = Path(tempfile.mkdtemp()) / "p.md"
    >>> _ = page.write_text("x\\n<!-- docs-test: skip starts a server -->\\n```bash\\nserve\\n```\\n")
    >>> [(b.line, b.lang, b.code, b.skip_reason) for b in blocks_of(page)]
    [(4, 'bash', 'serve\\n', 'starts a server')]
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening["fence"]
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.search(previous)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence)
                                      and lines[j].strip().strip(fence[0]) == ""):
            body.append(lines[j])
            j += 1
        out.append(Block(page=path.name, line=i + 2, lang=opening["info"].strip().split(" ")[0],
                         code=textwrap.dedent("\n".join(body)) + "\n",
                         skip_reason=None if marker is None else marker["reason"].strip()))
        i = j + 1
    return out


#: runs in the page's folder: executes the blocks in order; the first failure exits 1
DRIVER = r'''
import json, os, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
memo_dir = sys.argv[2]


def memoised(function):
    import functools, hashlib, pickle

    @functools.wraps(function)
    def call(*args, **kwargs):
        key = hashlib.sha256(pickle.dumps((function.__name__, args, sorted(kwargs.items())),
                                          protocol=5)).hexdigest()
        path = os.path.join(memo_dir, key + ".pickle")
        if os.path.exists(path):
            with open(path, "rb") as fh:
                return pickle.load(fh)
        result = function(*args, **kwargs)
        with open(path + ".tmp", "wb") as fh:
            pickle.dump(result, fh, protocol=5)
        os.replace(path + ".tmp", path)
        return result
    return call


import repurchase_ml
for name in ("build_training_set", "train_models"):
    setattr(repurchase_ml, name, memoised(getattr(repurchase_ml, name)))
namespace = {"__name__": "__main__"}
for block in blocks:
    where = f"{block['page']}:{block['line']}"
    print(f"--- {where} ({block['lang']})", flush=True)
    if block["lang"] == "yaml":
        open(block["save_as"], "w", encoding="utf-8").write(block["code"])
        continue
    if block["lang"] == "bash":
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block["code"]])
        if done.returncode != 0:
            print(f"FAILED {where}: bash exited with {done.returncode}", flush=True)
            sys.exit(1)
        continue
    try:
        exec(compile(block["code"], where, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED {where}", flush=True)
        sys.exit(1)
'''


def _environment(folder: Path) -> dict[str, str]:
    """The reader's shell: this interpreter as ``python``, the CLI as ``repurchase-ml``."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    for name, target in {"python": "", "repurchase-ml": "-m repurchase_ml.cli"}.items():
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {target} "$@"\n')
        shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                      env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    # a reader's fresh shell: no store or setting left behind by an earlier test in this process
    # (mlflow.set_tracking_uri / set_registry_uri export MLFLOW_* to child processes)
    for name in [n for n in env if n.startswith(("MLFLOW_", "REPURCHASE_ML_"))]:
        del env[name]
    return env


def _runnable(page: Path) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = []
    for block in blocks_of(page):
        if block.skip_reason is not None:
            continue
        saved = SAVED_AS.match(block.code) if block.lang in ("yaml", "yml") else None
        if saved:
            steps.append({**block.__dict__, "lang": "yaml", "save_as": saved["name"]})
        elif block.lang in RUN:
            steps.append({**block.__dict__, "lang": RUN[block.lang]})
    return steps


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_skip_markers_say_why(page):
    for block in blocks_of(page):
        assert block.skip_reason is None or block.skip_reason, (
            f"{page.name}:{block.line}: a docs-test skip marker needs a reason")


@pytest.fixture(scope="module")
def memo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("docs-memo")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_blocks_run_in_order(page, tmp_path, memo_dir):
    steps = _runnable(page)
    if not steps:
        pytest.skip(f"{page.name} has no python or bash block")
    for example in EXAMPLES.iterdir():
        if example.is_file() and example.suffix != ".py":
            shutil.copy(example, tmp_path / example.name)
    (tmp_path / "blocks.json").write_text(json.dumps(steps), encoding="utf-8")
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    done = subprocess.run([sys.executable, "driver.py", "blocks.json", str(memo_dir)],
                          cwd=tmp_path,
                          env=_environment(tmp_path), capture_output=True, text=True,
                          timeout=PAGE_TIMEOUT)
    assert done.returncode == 0, (done.stdout[-6000:] + "\n" + done.stderr[-6000:])
    ran = re.findall(r"^--- (\S+)", done.stdout, flags=re.M)
    assert len(ran) == len(steps)  # every runnable block ran, none was lost


def test_flat_api_names_are_all_visible_to_type_checkers():
    """Every lazily resolved ``rm.X`` name is also imported under TYPE_CHECKING."""
    import ast

    import repurchase_ml

    tree = ast.parse((ROOT / "src" / "repurchase_ml" / "__init__.py").read_text())
    typed = {alias.asname or alias.name
             for node in ast.walk(tree) if isinstance(node, ast.If)
             and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
             for stmt in node.body if isinstance(stmt, ast.ImportFrom)
             for alias in stmt.names}
    assert set(repurchase_ml._LAZY) <= typed, sorted(set(repurchase_ml._LAZY) - typed)
    for name in ("read_events", "save_training_set", "load_training_set"):
        assert name in repurchase_ml.__all__
