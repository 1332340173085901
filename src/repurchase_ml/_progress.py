"""Progress of the long steps (training set, training per task, tuning trials), shown cleanly.

One call site per step, three renderings:

- on the command line, Rich bars on the terminal (:func:`rich_progress`, set
  up by the CLI; nothing when stderr is a file or a pipe, where the log
  lines tell the story);
- in a notebook, ``tqdm.auto``'s widget when ``ipywidgets`` is installed,
  otherwise a plain text bar on stdout -- never tqdm's "IProgress not found"
  warning box, never a red stderr stream in an executed notebook;
- elsewhere (a script), a tqdm bar on stderr when it is a terminal.

A bar appears only once its step has run :data:`DELAY_SECONDS`, so quick
calls (tests, doctests, small data) print nothing. ``REPURCHASE_ML_PROGRESS=0``
or :func:`set_enabled` turns every bar off (the CLI's ``-q`` does).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["DELAY_SECONDS", "ENV", "Step", "advance", "in_notebook", "iterate", "rich_progress",
           "set_enabled", "step"]

#: a step's bar appears after it has run this long
DELAY_SECONDS = 2.0
#: environment variable: "0" turns progress bars off
ENV = "REPURCHASE_ML_PROGRESS"

_enabled = True
_rich: Any = None  # the CLI's rich.progress.Progress while rich_progress() is active
_current: ContextVar[tuple[Step, ...]] = ContextVar("repurchase_ml_progress", default=())


def set_enabled(enabled: bool) -> None:
    """Turn every progress bar on or off for this process."""
    global _enabled
    _enabled = bool(enabled)


def _on() -> bool:
    return _enabled and os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (an executed notebook included)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class Step:
    """One step's bar; :meth:`advance` moves it, :meth:`describe` renames it."""

    def __init__(self, description: str, total: int | None, unit: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        if not _on():
            return
        if _rich is not None:
            self._task = _rich.add_task(description, total=total)
            return
        if in_notebook():
            if importlib.util.find_spec("ipywidgets") is not None:
                from tqdm.auto import tqdm
                kwargs: dict[str, Any] = {}
            else:  # tqdm.auto would warn "IProgress not found" in a box; text on stdout instead
                from tqdm.std import tqdm
                kwargs = {"file": sys.stdout, "disable": False, "ncols": 100}
        else:
            from tqdm.std import tqdm
            kwargs = {"file": sys.stderr, "disable": None}  # None: off unless a terminal
        self._bar = tqdm(total=total, desc=description, unit=unit, delay=DELAY_SECONDS,
                         leave=False, **kwargs)

    def advance(self, n: int = 1) -> None:
        if self._task is not None and _rich is not None:
            _rich.advance(self._task, n)
        elif self._bar is not None:
            self._bar.update(n)

    def describe(self, description: str) -> None:
        if self._task is not None and _rich is not None:
            _rich.update(self._task, description=description)
        elif self._bar is not None:
            self._bar.set_description_str(description, refresh=False)

    def close(self) -> None:
        if self._task is not None and _rich is not None:
            _rich.remove_task(self._task)
        elif self._bar is not None:
            self._bar.close()


@contextmanager
def step(description: str, total: int | None = None, *, unit: str = "it") -> Iterator[Step]:
    """A bar for one step of ``total`` units; :func:`advance` inside moves the innermost bar.

    Examples
    --------
    >>> with step("counting", total=3, unit="cutoff") as bar:
    ...     for _ in range(3):
    ...         bar.advance()
    """
    bar = Step(description, total, unit)
    token = _current.set((*_current.get(), bar))
    try:
        yield bar
    finally:
        _current.reset(token)
        bar.close()


def iterate(items: Sequence[T], description: str, *, unit: str = "it") -> Iterator[T]:
    """Yield ``items`` under one bar, named ``description: <item>`` while each one runs.

    Examples
    --------
    >>> [task for task in iterate(["churn", "ltv"], "training", unit="task")]
    ['churn', 'ltv']
    """
    with step(description, total=len(items), unit=unit) as bar:
        for item in items:
            bar.describe(f"{description}: {item}")
            yield item
            bar.advance()


def advance(n: int = 1) -> None:
    """Advance the innermost active step's bar by ``n`` (nothing when no step is active)."""
    active = _current.get()
    if active:
        active[-1].advance(n)


@contextmanager
def rich_progress(console: Any, description: str) -> Iterator[None]:
    """Show ``description`` with a spinner, and the steps run inside as Rich bars.

    Only when ``console`` is a terminal. The CLI wraps each command's work in this instead of a spinner; off a
    terminal (a log file, a pipe) it shows nothing, since a live display
    would only print its final frame there.
    """
    global _rich
    if not (_on() and console.is_terminal):
        yield
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bars:
        bars.add_task(description, total=None)
        _rich = bars
        try:
            yield
        finally:
            _rich = None
