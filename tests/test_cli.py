"""The command line: light start, settings passed on exactly, library errors as exit codes."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from repurchase_ml import __version__, cli, jobs
from repurchase_ml.config import Settings

runner = CliRunner()


def test_version():
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"repurchase-ml {__version__}"


def test_help_lists_every_command_without_importing_heavy_libraries():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from repurchase_ml.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = sorted(m for m in ('mlflow', 'shap', 'lightgbm', 'polars', 'optuna') "
        "if m in sys.modules)\n"
        "print(heavy, [c for c in ('demo', 'validate', 'retrain', 'score', 'serve') "
        "if c not in r.output])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"


@pytest.fixture
def log_and_mapping(tmp_path):
    log = tmp_path / "orders.csv"
    pd.DataFrame({"Customer ID": ["a", "a", "b"],
                  "InvoiceDate": ["2024-01-02", "2024-02-01", "2024-01-15"],
                  "Total": [10.0, -3.0, 7.5]}).to_csv(log, index=False)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {customer_id: Customer ID, timestamp: InvoiceDate, "
                       "amount: Total}\nevent_type_constant: purchase\n")
    return log, mapping


def test_validate_refuses_bad_rows_with_exit_code_3(log_and_mapping):
    log, mapping = log_and_mapping
    result = runner.invoke(cli.app, ["validate", str(log), "--mapping", str(mapping)])
    assert result.exit_code == cli.EXIT_SCHEMA
    assert "column 'amount'" in result.output
    assert "Traceback" not in result.output


def test_validate_drop_invalid_counts_what_it_dropped(log_and_mapping):
    log, mapping = log_and_mapping
    result = runner.invoke(cli.app, ["validate", str(log), "-m", str(mapping), "--drop-invalid"])
    assert result.exit_code == 0, result.output
    assert "2 events of 2 customers (3 read, 1 dropped)" in result.output


def test_validate_unknown_mapping_key_is_a_value_error(log_and_mapping, tmp_path):
    log, _ = log_and_mapping
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: {custmer_id: Customer ID}\n")
    result = runner.invoke(cli.app, ["validate", str(log), "-m", str(bad)])
    assert result.exit_code == cli.EXIT_VALUE
    assert "customer_id" in result.output


def test_parse_overrides_rejects_items_without_equals():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        cli.parse_overrides(["cutoffs.n"])


def _capture(monkeypatch, name):
    seen = {}

    def fake(settings, *args, **kwargs):
        seen["settings"], seen["args"] = settings, args
        raise ValueError("stopped after capturing the arguments")

    monkeypatch.setattr(jobs, name, fake)
    return seen


def test_retrain_resolves_file_environment_and_flags(monkeypatch, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cutoffs: {n: 4}\ntracking: {experiment: weekly}\n")
    monkeypatch.setenv("REPURCHASE_ML_TRACKING__MODEL_NAME", "shop_model")
    seen = _capture(monkeypatch, "run_retrain")
    result = runner.invoke(cli.app, ["retrain", "--config", str(cfg), "--project-dir",
                                     str(tmp_path / "p"), "--set", "cutoffs.n=6"])
    assert result.exit_code == cli.EXIT_VALUE
    assert "stopped after capturing" in result.output
    s = seen["settings"]
    assert isinstance(s, Settings)
    assert (s.cutoffs.n, s.tracking.experiment, s.tracking.model_name) == (6, "weekly",
                                                                           "shop_model")
    assert s.project_path() == (tmp_path / "p").resolve()


def test_score_passes_as_of_on(monkeypatch, tmp_path):
    seen = _capture(monkeypatch, "run_score")
    result = runner.invoke(cli.app, ["score", "--as-of", "2023-06-01", "--project-dir",
                                     str(tmp_path)])
    assert result.exit_code == cli.EXIT_VALUE
    assert seen["args"] == ("2023-06-01",)


def test_unknown_setting_exits_2_with_a_suggestion(tmp_path):
    result = runner.invoke(cli.app, ["retrain", "--project-dir", str(tmp_path),
                                     "--set", "promotion.tolerence=0.1"])
    assert result.exit_code == cli.EXIT_CONFIG
    assert "did you mean 'promotion.tolerance'" in " ".join(result.output.split())


def test_locked_project_exits_4(tmp_path):
    with jobs.retrain_lock(tmp_path):
        result = runner.invoke(cli.app, ["retrain", "--project-dir", str(tmp_path)])
    assert result.exit_code == cli.EXIT_LOCKED
    assert "another retraining run holds" in " ".join(result.output.split())


def test_serve_execs_mlflow_models_serve_on_loopback(monkeypatch, tmp_path):
    seen = {}

    def fake_exec(path, argv, env):
        seen.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr("os.execvpe", fake_exec)
    result = runner.invoke(cli.app, ["serve", "--project-dir", str(tmp_path), "--port", "5123"])
    assert result.exit_code == 0, result.output
    argv = seen["argv"]
    assert argv[1:7] == ["models", "serve", "-m", "models:/repurchase_ml@champion",
                         "--env-manager", "local"]
    assert argv[argv.index("-h") + 1] == "127.0.0.1" and argv[argv.index("-p") + 1] == "5123"
    assert seen["env"]["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert seen["env"]["PATH"].split(":")[0] == str(__import__("pathlib").Path(sys.executable).parent)


def test_demo_rejects_unknown_stage(tmp_path):
    result = runner.invoke(cli.app, ["demo", "--project-dir", str(tmp_path), "--until", "train"])
    assert result.exit_code == cli.EXIT_VALUE
    assert "--until" in result.output


def test_demo_until_validate_writes_the_log(tmp_path):
    result = runner.invoke(cli.app, ["demo", "--project-dir", str(tmp_path), "--until",
                                     "validate", "--n-customers", "60"])
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(tmp_path / "demo" / "events.parquet")
    assert f"{len(events)} events of {events['customer_id'].nunique()} customers" in result.output
