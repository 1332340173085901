"""The command line: light start, settings passed on exactly, library errors as exit codes."""

from __future__ import annotations

import socket
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
    # the fix names the command's own flag, not the Python argument
    assert "or add --drop-invalid to drop these rows" in " ".join(result.output.split())
    assert "on_invalid='drop'" not in result.output


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
    one_message(result, cli.EXIT_VALUE, "--mapping:", "columns: mapping key 'custmer_id'",
                "Did you mean 'customer_id'?")


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
    monkeypatch.setattr(cli, "_check_champion", lambda settings: None)
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


# --------------------------------------------------------------------------- one message per error
def one_message(result, code, *fragments):
    """The run exited with ``code`` and printed the fragments, without a traceback."""
    text = " ".join(result.output.split())
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, KeyError)
    for fragment in fragments:
        assert fragment in text, text
    return text


def test_invalid_mapping_yaml_and_unknown_timezone(log_and_mapping, tmp_path):
    log, mapping = log_and_mapping
    broken = tmp_path / "broken.yaml"
    broken.write_text("columns: {customer_id: [Customer ID\n")
    one_message(runner.invoke(cli.app, ["validate", str(log), "-m", str(broken)]),
                cli.EXIT_VALUE, "broken.yaml", "not valid YAML")
    one_message(runner.invoke(cli.app, ["validate", str(log), "-m", str(mapping),
                                        "--timezone", "Mars/Olympus"]),
                cli.EXIT_VALUE, "--timezone: unknown time zone 'Mars/Olympus'")


def test_project_dir_that_is_a_file(tmp_path):
    not_a_dir = tmp_path / "project"
    not_a_dir.write_text("x")
    one_message(runner.invoke(cli.app, ["retrain", "--project-dir", str(not_a_dir)]),
                cli.EXIT_VALUE, "is not a directory")
    one_message(runner.invoke(cli.app, ["score", "--as-of", "2024-01-01", "--project-dir",
                                        str(not_a_dir)]), cli.EXIT_VALUE, "is a file")


def test_truncated_store_is_a_store_error(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"SQLite format 3\x00" + b"\x07" * 500)
    one_message(runner.invoke(cli.app, ["score", "--as-of", "2024-01-01", "--project-dir",
                                        str(tmp_path)]),
                cli.EXIT_STORE, str(tmp_path / "mlflow.db"), "mlflow.db from a backup")


@pytest.mark.slow
def test_serve_without_a_champion_and_on_a_busy_port(tmp_path):
    one_message(runner.invoke(cli.app, ["serve", "--project-dir", str(tmp_path), "--port",
                                        "5124"]),
                cli.EXIT_VALUE, "no champion", "repurchase-ml retrain")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        one_message(runner.invoke(cli.app, ["serve", "--project-dir", str(tmp_path),
                                            "--port", str(port)]),
                    cli.EXIT_VALUE, f"--port: cannot listen on 127.0.0.1:{port}")


def test_unforeseen_errors_are_one_line_too(monkeypatch, tmp_path):
    def broken(settings):
        raise KeyError("boom")

    monkeypatch.setattr(jobs, "run_retrain", broken)
    one_message(runner.invoke(cli.app, ["retrain", "--project-dir", str(tmp_path)]),
                cli.EXIT_VALUE, "unexpected error: KeyError: 'boom'", "--verbose")


def test_public_data_variable_does_not_break_commands(monkeypatch, tmp_path):
    monkeypatch.setenv("REPURCHASE_ML_DATA", str(tmp_path))
    seen = _capture(monkeypatch, "run_retrain")
    result = runner.invoke(cli.app, ["retrain", "--project-dir", str(tmp_path),
                                     "--set", "tracking.experiment=2024"])
    assert result.exit_code == cli.EXIT_VALUE and "stopped after capturing" in result.output
    assert seen["settings"].tracking.experiment == "2024"


@pytest.mark.slow
@pytest.mark.parametrize("server", ["closed", "silent"])
def test_unreachable_tracking_server_fails_fast_naming_the_uri(tmp_path, server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        if server == "silent":
            sock.listen(8)  # accepts connections into the backlog, never answers
        else:
            sock.close()
        uri = f"http://127.0.0.1:{port}"
        code = ("import sys\nfrom repurchase_ml.cli import app\n"
                f"sys.argv = ['repurchase-ml', 'retrain', '--project-dir', {str(tmp_path)!r}, "
                f"'--set', 'tracking.uri={uri}']\napp()\n")
        # generous: the bug was a four-minute hang; the probe gives up after a few seconds
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=90)
    assert out.returncode == cli.EXIT_STORE, out.stderr
    text = " ".join(out.stderr.split())
    assert f"cannot reach the tracking server '{uri}'" in text and "Traceback" not in text
    assert not (tmp_path / jobs.LOCK_NAME).exists()


def test_output_lines_stay_whole_in_a_log_file(tmp_path):
    # a scheduler's log: no line broken at 80 columns, one log record per line with its level
    columns = [f"an_unused_source_column_with_a_long_name_{i}" for i in range(4)]
    log = tmp_path / "orders.csv"
    frame = pd.DataFrame({"Customer ID": ["a", "b"], "InvoiceDate": ["2024-01-02", "2024-01-15"],
                          "Total": [10.0, 7.5], **{c: [1, 2] for c in columns}})
    frame.to_csv(log, index=False)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {customer_id: Customer ID, timestamp: InvoiceDate, "
                       "amount: Total}\nevent_type_constant: purchase\n")
    result = runner.invoke(cli.app, ["validate", str(log), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    unused = [line for line in result.stdout.splitlines() if "source columns not used" in line]
    assert unused == [f"  source columns not used: {', '.join(columns)}"]
    records = [line for line in result.stderr.splitlines() if "validated" in line]
    assert len(records) == 1
    assert records[0].split(" ", 2)[2] == "INFO validated 2 events of 2 customers"
