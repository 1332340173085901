"""Progress bars on long steps, rendered cleanly per place; quiet logs; unwrapped lines."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest
from rich.console import Console

import repurchase_ml as rm
from repurchase_ml import _progress


@pytest.fixture(autouse=True)
def _bars_on():
    """An in-process ``repurchase-ml -q`` elsewhere in the suite turns bars off for good."""
    _progress.set_enabled(True)
    yield
    _progress.set_enabled(True)


class Recorder:
    """Stands in for a bar: what was announced, and how far it went."""

    made: list[Recorder] = []

    def __init__(self, description, total, unit):
        self.description, self.total, self.unit, self.done = description, total, unit, 0
        self.names: list[str] = []
        Recorder.made.append(self)

    def advance(self, n=1):
        self.done += n

    def describe(self, description):
        self.names.append(description)

    def close(self):
        pass


@pytest.fixture
def recorded(monkeypatch):
    Recorder.made = []
    monkeypatch.setattr(_progress, "Step", Recorder)
    return Recorder.made


def test_building_a_training_set_moves_one_bar_to_its_end(recorded):
    events, _ = rm.make_event_log(60, "2023-01-01", "2024-01-01", random_state=1)
    cutoffs = rm.propose_cutoffs(events, horizon_days=30, n=5)
    rm.build_training_set(events, cutoffs=cutoffs, tasks=["repurchase", "churn"],
                          horizons={"churn": 30})
    (bar,) = recorded
    assert (bar.description, bar.unit, bar.total) == ("training set", "cutoff", 5 * 3)
    assert bar.done == bar.total  # labels per task and features per group of cutoffs
    assert bar.names == ["training set: repurchase labels", "training set: churn labels",
                         "training set: features"]


def test_tuning_shows_one_bar_per_trial_and_no_optuna_lines(recorded, capfd):
    import numpy as np

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"rate": rng.uniform(0, 3, 300)})
    y = rng.poisson(X["rate"])
    rm.tune_estimator(rm.OrderCountRegressor(n_estimators=20), X[:200], y[:200],
                      eval_set=(X[200:], y[200:]), n_trials=3)
    (bar,) = recorded
    assert (bar.description, bar.total, bar.done) == ("tuning", 3, 3)
    err = capfd.readouterr().err
    assert "A new study created" not in err and "Trial 0" not in err


def test_a_notebook_without_ipywidgets_gets_a_text_bar_on_stdout_and_no_warning(
        monkeypatch, capsys):
    import importlib.util

    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm's "IProgress not found" would raise here
        with _progress.step("training", total=2, unit="task") as bar:
            bar.advance(2)
    out, err = capsys.readouterr()
    assert "training:" in out and "/2 " in out  # cleared at the end (leave=False)
    assert err == ""  # an executed notebook shows no red stderr box


def test_a_script_piped_to_a_file_gets_no_bar(monkeypatch, capsys):
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    with _progress.step("training", total=2) as bar:
        bar.advance(2)
    assert capsys.readouterr() == ("", "")  # pytest's captured stderr is not a terminal


def test_rich_bars_on_a_terminal_and_none_when_disabled():
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    with _progress.rich_progress(terminal, "retraining ..."):
        with _progress.step("training", total=3, unit="task") as bar:
            assert len(_progress._rich.tasks) == 2  # the spinner line and this step
            bar.advance(3)
            assert _progress._rich.tasks[1].completed == 3
        assert len(_progress._rich.tasks) == 1  # a finished step leaves the display
    assert _progress._rich is None and "retraining" in screen.getvalue()
    _progress.set_enabled(False)
    try:
        with _progress.rich_progress(terminal, "quiet"):
            assert _progress._rich is None
    finally:
        _progress.set_enabled(True)


def test_cli_messages_piped_to_a_file_are_not_wrapped(tmp_path):
    from typer.testing import CliRunner

    from repurchase_ml import cli

    log = tmp_path / ("an_export_with_a_long_name_" * 3 + ".csv")
    log.write_bytes("买家会员名,订单付款时间\n小明,2024-01-01\n".encode("gbk"))
    result = CliRunner().invoke(cli.app, ["-q", "validate", str(log)])
    assert result.exit_code == 3
    (line,) = [text for text in result.output.splitlines() if text.strip()]
    assert len(line) > 200 and line.startswith("invalid data:") and "--encoding gbk" in line
