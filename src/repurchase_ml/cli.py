"""Command line ``repurchase-ml``: parse, resolve one settings object, call a job.

Each command is thin: it turns flags into overrides, resolves
:class:`~repurchase_ml.config.Settings` (file < environment < flags), calls a
plain function in :mod:`repurchase_ml.jobs`, and turns the library's own
exceptions into an exit code and a readable message. Heavy libraries are
imported inside the commands so that ``--help`` answers at once.

Exit codes: 0 success, 1 bad argument or value, 2 invalid configuration,
3 data breaks the table contract (SchemaError), 4 another retraining run
holds the project, 5 the tracking store or the champion's artifacts cannot be
used (StoreError), 6 ``score --fail-on-drift`` found drift (the outputs are written).
Every error is one message on stderr, never a traceback
(``--verbose`` adds it for errors the library did not foresee).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console

from repurchase_ml._progress import rich_progress
from repurchase_ml._progress import set_enabled as set_progress

__all__ = ["app", "parse_overrides"]

T = TypeVar("T")

app = typer.Typer(
    name="repurchase-ml",
    help="Churn risk, repurchase, second purchase and lifetime value from an event log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# soft_wrap: a terminal wraps long lines itself; a scheduler's log file or a pipe keeps
# each printed line whole (rich would otherwise break them at 80 columns)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_VALUE, EXIT_CONFIG, EXIT_SCHEMA, EXIT_LOCKED, EXIT_STORE = 1, 2, 3, 4, 5
#: ``score --fail-on-drift``: the scores were written, and the drift table flags columns
EXIT_DRIFT = 6
#: log records on stderr when it is not a terminal (a scheduler's log file, a pipe)
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (see docs/example-config.yaml).",
                 envvar="REPURCHASE_ML_CONFIG", show_default=False),
]
ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project-dir", help="Project directory for the MLflow store and outputs "
                 "[default: models]", show_default=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one setting, e.g. --set cutoffs.n=6 (repeatable).",
                 show_default=False),
]


def _version(value: bool) -> None:
    if value:
        from repurchase_ml._version import __version__

        console.print(f"repurchase-ml {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False,
) -> None:
    """Churn risk, repurchase, second purchase and lifetime value from an event log."""
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler: logging.Handler
    if err_console.is_terminal:
        handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
    else:  # a log file or pipe: one record per line, with its date
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("repurchase_ml")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # MLflow's download bars would interleave with the CLI's own progress display, and its
    # logging-time notes (pickled python_model, signature checks) are for library authors
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if verbose else "ERROR")
    # -q: warnings and errors only, from the libraries too (Optuna's trial lines are always
    # folded into a progress bar, see models.tuning), and no progress bars
    set_progress(not quiet)
    if quiet:
        os.environ["MLFLOW_LOGGING_LEVEL"] = "ERROR"
        for name in ("mlflow", "alembic", "optuna"):
            logging.getLogger(name).setLevel(logging.WARNING)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into ``{"a": {"b": 1}, "c": "x"}`` (see ``config.set_dotted``).

    Examples
    --------
    >>> parse_overrides(["cutoffs.n=6", "tracking.experiment=weekly", "tasks=[churn, ltv]"])
    {'cutoffs': {'n': 6}, 'tracking': {'experiment': 'weekly'}, 'tasks': ['churn', 'ltv']}
    """
    from repurchase_ml.config import set_dotted

    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: expected KEY=VALUE such as cutoffs.n=6, got {item!r}")
        set_dotted(result, key.strip().split("."), raw)
    return result


def _settings(config: Path | None, project_dir: Path | None, sets: list[str] | None,
              defaults: dict[str, Any] | None = None) -> Any:
    """Resolve settings: file < environment < command defaults < --set < --project-dir."""
    from repurchase_ml.config import deep_merge, load_settings

    overrides = deep_merge(defaults or {}, parse_overrides(sets))
    if project_dir is not None:
        overrides["project_dir"] = str(project_dir)
    return load_settings(config, overrides=overrides)


#: the library's "drop the rows" fix, as the command line spells it (validate has a flag)
_DROP_IN_PYTHON = "pass on_invalid='drop'"
_DROP_ON_THE_COMMAND_LINE = "set data.on_invalid: drop (or --set data.on_invalid=drop)"


def _guard(action: Callable[[], T], *, drop_hint: str = _DROP_ON_THE_COMMAND_LINE) -> T:
    """Run ``action``; every error becomes one message on stderr and an exit code.

    Errors the library names (configuration, data, lock, store, values) keep
    their message; anything else is reported by type and first line, with the
    traceback only under ``--verbose``. A data error's "pass on_invalid='drop'"
    reads as the command's own way to drop rows (``drop_hint``).
    """
    from repurchase_ml.config import ConfigError
    from repurchase_ml.errors import SchemaError, StoreError
    from repurchase_ml.jobs import JobLockedError

    try:
        return action()
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except ConfigError as exc:
        code, kind = EXIT_CONFIG, "invalid configuration"
        message = str(exc)
    except SchemaError as exc:
        code, kind = EXIT_SCHEMA, "invalid data"
        message = str(exc).replace(_DROP_IN_PYTHON, drop_hint)
    except JobLockedError as exc:
        code, kind = EXIT_LOCKED, "refused"
        message = str(exc)
    except StoreError as exc:
        code, kind = EXIT_STORE, "tracking store"
        message = str(exc)
    except (ValueError, TypeError, OSError) as exc:
        code, kind = EXIT_VALUE, "error"
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - the CLI's promise: no raw tracebacks
        logging.getLogger("repurchase_ml").debug("traceback", exc_info=True)
        code, kind = EXIT_VALUE, "unexpected error"
        lines = str(exc).strip().splitlines()
        message = (f"{type(exc).__name__}: {lines[0] if lines else ''} (run with --verbose "
                   "for the traceback; please report it)")
    err_console.print(f"[bold red]{kind}:[/] {message}", markup=True, highlight=False,
                      soft_wrap=True)
    raise typer.Exit(code)


def _read_mapping(path: Path) -> Any:
    """The ColumnMapping in a YAML file; its field errors on one line, naming the file."""
    from pydantic import ValidationError

    from repurchase_ml.config import validation_problems
    from repurchase_ml.events import ColumnMapping

    try:
        return ColumnMapping.from_yaml(path)
    except ValidationError as exc:
        raise ValueError(f"--mapping: {str(path)!r}: {validation_problems(exc)}. Valid keys: "
                         f"{', '.join(ColumnMapping.model_fields)}") from None


@app.command()
def validate(
    log: Annotated[Path, typer.Argument(help="CSV or Parquet event log.", show_default=False)],
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m",
                       help="YAML column mapping (fields of repurchase_ml.ColumnMapping).",
                       show_default=False)] = None,
    timezone: Annotated[str, typer.Option(help="Zone for time-zone-aware timestamps.")] = "UTC",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Events after this date are "
                     "invalid.", show_default=False)] = None,
    drop_invalid: Annotated[bool, typer.Option("--drop-invalid", help="Drop offending rows and "
                            "count them instead of failing.")] = False,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="Text encoding of a CSV log, e.g. gbk [default: the mapping's "
        "encoding, else utf-8].", show_default=False)] = None,
) -> None:
    """Validate an event log against the canonical schema and summarise it."""
    from repurchase_ml.config import check_timezone
    from repurchase_ml.jobs import run_validate

    _guard(lambda: check_timezone(timezone, name="--timezone"))
    if mapping is not None:
        _guard(lambda: _read_mapping(mapping))
    report = _guard(lambda: run_validate(log, mapping=mapping, timezone=timezone, as_of=as_of,
                                         drop_invalid=drop_invalid, encoding=encoding),
                    drop_hint="add --drop-invalid")
    console.print(report.summary(), highlight=False)


@app.command()
def demo(
    project_dir: ProjectOpt = None,
    n_customers: Annotated[int | None, typer.Option(
        help="Synthetic customers to generate (default data.synthetic.n_customers: 5000, "
             "enough for the default training minimums of churn, repurchase and ltv).")] = None,
    until: Annotated[str, typer.Option(help="Last stage to run: validate, retrain or score.")]
    = "score",
    sets: SetOpt = None,
) -> None:
    """The main job on embedded defaults: synthetic log, validate, retrain, score, radar."""
    from repurchase_ml.jobs import run_demo

    order = ("validate", "retrain", "score")
    if until not in order:
        err_console.print(f"[bold red]error:[/] --until: expected one of {', '.join(order)}, "
                          f"got {until!r}")
        raise typer.Exit(EXIT_VALUE)
    stages = order[1:order.index(until) + 1]
    size = {} if n_customers is None else {"n_customers": n_customers}
    settings = _guard(lambda: _settings(None, project_dir, sets, {"data": {
        "on_invalid": "drop", "synthetic": size}}))
    with rich_progress(err_console, f"running the demo in {settings.project_path()} ..."):
        summary = _guard(lambda: run_demo(settings, stages=stages))
    console.print("[bold]event log[/]")
    console.print(summary["report_text"], highlight=False)
    console.print(f"synthetic log: {summary['events_path']}")
    if "retrain" in summary:
        _print_retrain(summary["retrain"], settings)
    if "score" in summary:
        _print_score(summary["score"])


def _print_retrain(result: dict[str, Any], settings: Any) -> None:
    verdict = "promoted to champion" if result["promoted"] else "not promoted"
    console.print(f"[bold]retrain[/]: run {result['run_id']}, {settings.tracking.model_name} "
                  f"version {result['model_version']} {verdict}; champion is version "
                  f"{result['champion_version']}")
    console.print(f"  why: {result['reason']}", highlight=False)
    from repurchase_ml.jobs import scorecard_lines
    from repurchase_ml.models.plan import minimums_line, plan_lines

    if result.get("plan"):
        console.print(f"  {minimums_line(settings.training.training_minimums())}",
                      highlight=False, markup=False)
        console.print("  training plan (per task: cutoffs, rows, positives):")
        for line in plan_lines(result["plan"]):
            console.print(f"    {line}", highlight=False, markup=False)
    for line in scorecard_lines(result):
        console.print(f"  {line}", highlight=False, markup=False)
    for task, why in (result.get("left_out_of_promotion") or {}).items():
        console.print(f"  {task}: {why}", highlight=False, markup=False)
    if result.get("skipped"):
        console.print(f"  not trained (refused by the training plan above): "
                      f"{', '.join(result['skipped'])}", highlight=False, markup=False)
    console.print(f"  tracking store: {settings.tracking_uri()}")


def _print_score(result: dict[str, Any]) -> None:
    console.print(f"[bold]score[/] at {result['as_of']} with champion version "
                  f"{result['model_version']}: {result['n_scored']} customers scored, "
                  f"{result['n_radar']} on the radar")
    for note in result.get("notes", []):
        console.print(f"  note: {note}", highlight=False, markup=False)
    for path in result["paths"]:
        console.print(f"  {path}", highlight=False)


@app.command()
def retrain(config: ConfigOpt = None, project_dir: ProjectOpt = None, sets: SetOpt = None) -> None:
    """Train a challenger at the newest cutoffs; promote it only if it beats the champion."""
    from repurchase_ml.jobs import run_retrain

    settings = _guard(lambda: _settings(config, project_dir, sets))
    with rich_progress(err_console, "retraining ..."):
        result = _guard(lambda: run_retrain(settings))
    _print_retrain(result.to_dict(), settings)


@app.command()
def score(
    as_of: Annotated[str, typer.Option("--as-of", help="Scoring date: features see events "
                     "strictly before it.", show_default=False)],
    config: ConfigOpt = None,
    project_dir: ProjectOpt = None,
    sets: SetOpt = None,
    rank_by: Annotated[str | None, typer.Option(
        "--rank-by", help="Radar order: value_at_risk, churn_probability or value_if_retained "
        "[default: value_at_risk].", show_default=False)] = None,
    risk_floor: Annotated[str | None, typer.Option(
        "--risk-floor", help="Customers below this churn probability go after the others; "
        "base_rate (default) or a probability.", show_default=False)] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", help="Keep the first K rows of the radar.", show_default=False)] = None,
    min_value: Annotated[float | None, typer.Option(
        "--min-value", help="Keep customers with value at risk >= this.",
        show_default=False)] = None,
    min_churn_probability: Annotated[float | None, typer.Option(
        "--min-churn-probability", help="Keep customers with churn probability >= this.",
        show_default=False)] = None,
    segment: Annotated[list[str] | None, typer.Option(
        "--segment", help="Keep this RFM segment, e.g. --segment champions (repeatable).",
        show_default=False)] = None,
    stage: Annotated[list[str] | None, typer.Option(
        "--stage", help="Keep this lifecycle stage, e.g. --stage at_risk (repeatable).",
        show_default=False)] = None,
    fail_on_drift: Annotated[bool, typer.Option(
        "--fail-on-drift", help=f"Exit with code {EXIT_DRIFT} when the drift table flags a "
        "column (outputs are written first).")] = False,
) -> None:
    """Score every customer at --as-of with the champion; write scores and the radar list."""
    from dataclasses import asdict

    from repurchase_ml.jobs import run_score

    flags = {"rank_by": rank_by, "risk_floor": risk_floor, "top_k": top_k,
             "min_value": min_value, "min_churn_probability": min_churn_probability,
             "segments": segment or None, "lifecycle_stages": stage or None}
    radar = {key: value for key, value in flags.items() if value is not None}
    settings = _guard(lambda: _settings(config, project_dir, sets,
                                        defaults={"radar": radar} if radar else None))
    with rich_progress(err_console, f"scoring at {as_of} ..."):
        result = _guard(lambda: run_score(settings, as_of))
    _print_score(asdict(result))
    if result.drift_flagged:
        err_console.print(f"drift: {len(result.drift_flagged)} column(s) flagged: "
                          f"{', '.join(result.drift_flagged)}", highlight=False, markup=False)
        if fail_on_drift:
            raise typer.Exit(EXIT_DRIFT)


@app.command()
def evaluate(
    as_of: Annotated[str, typer.Option("--as-of", help="Evaluation date: scores whose horizon "
                     "ended by it are joined with what happened.", show_default=False)],
    config: ConfigOpt = None,
    project_dir: ProjectOpt = None,
    sets: SetOpt = None,
) -> None:
    """Realised performance of earlier scoring dates whose horizon has passed by --as-of."""
    from repurchase_ml.jobs import run_evaluate

    settings = _guard(lambda: _settings(config, project_dir, sets))
    with console.status(f"evaluating at {as_of} ..."):
        result = _guard(lambda: run_evaluate(settings, as_of))
    console.print(f"[bold]evaluate[/] at {result.as_of}: {len(result.evaluated)} scoring "
                  f"date(s) evaluated", highlight=False)
    for row in result.rows:
        estimate = "" if row["estimated"] != row["estimated"] else \
            f" (estimated {row['estimated']:.4f})"
        console.print(f"  {row['scored_at']} {row['task']:<10} {row['metric']:<22} "
                      f"{row['realised']:.4f}{estimate}", highlight=False, markup=False)
    for what, when in result.waiting.items():
        console.print(f"  waiting: {what} (horizon ends {when})", highlight=False, markup=False)
    for path in result.paths:
        console.print(f"  {path}", highlight=False)


@app.command()
def report(
    as_of: Annotated[str, typer.Option("--as-of", help="A date the score job has run for.",
                     show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file to write "
                      "(default: report_<date>.html in the outputs folder).",
                      show_default=False)] = None,
    config: ConfigOpt = None,
    project_dir: ProjectOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write the champion's self-contained HTML report around the radar of --as-of."""
    from repurchase_ml.jobs import run_report

    settings = _guard(lambda: _settings(config, project_dir, sets))
    with rich_progress(err_console, f"building the report for {as_of} ..."):
        path = _guard(lambda: run_report(settings, as_of=as_of, path=output))
    console.print(f"[bold]report[/] at {as_of}: {path}", highlight=False)


@app.command()
def analyze(
    as_of: Annotated[str, typer.Option("--as-of", help="Date the tables speak for: only events "
                     "strictly before it are read.", show_default=False)],
    previous_as_of: Annotated[str | None, typer.Option(
        "--previous-as-of", help="Start of the segment migration [default: a month before "
        "--as-of].", show_default=False)] = None,
    config: ConfigOpt = None,
    project_dir: ProjectOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write the operations tables at --as-of (Parquet and CSV) and their HTML page."""
    from repurchase_ml.analytics import run_analyze

    settings = _guard(lambda: _settings(config, project_dir, sets))
    with console.status(f"analysing at {as_of} ..."):
        result = _guard(lambda: run_analyze(settings, as_of, previous_as_of=previous_as_of))
    console.print(f"[bold]analyze[/] at {result.as_of}: {result.n_tables} tables, page "
                  f"{result.page}", highlight=False)
    for note in result.notes:
        console.print(f"  note: {note}", highlight=False, markup=False)


@app.command()
def readout(
    campaigns: Annotated[Path, typer.Argument(help="Campaign log (CSV or Parquet): customer_id, "
                         "campaign_id, group, sent_at[, action, channel, cost].",
                         show_default=False)],
    window_days: Annotated[int, typer.Option("--window-days", help="Outcome window after each "
                           "send, in days.", show_default=False)],
    events: Annotated[Path | None, typer.Option("--events", help="Canonical event log (CSV or "
                      "Parquet); default: the configured data source.", show_default=False)]
    = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder for the tables "
                      "and the plot (default: readout/ in the outputs folder).",
                      show_default=False)] = None,
    planned_share: Annotated[float, typer.Option("--planned-share", help="Planned treatment "
                             "share, for the sample-ratio-mismatch check.")] = 0.5,
    config: ConfigOpt = None,
    project_dir: ProjectOpt = None,
    sets: SetOpt = None,
) -> None:
    """Read campaigns out against their holdout: effects with intervals, SRM, MDE and ROI."""
    from repurchase_ml.campaigns.readout import run_readout

    settings = _guard(lambda: _settings(config, project_dir, sets))

    def job() -> Any:
        from repurchase_ml.events import read_events
        from repurchase_ml.jobs import load_event_log

        log = read_events(events)[0] if events is not None else load_event_log(settings)[0]
        folder = output if output is not None else settings.output_path() / "readout"
        return run_readout(campaigns, log, window_days=window_days, out_dir=folder,
                           planned_treatment_share=planned_share)

    with console.status("reading the campaigns out ..."):
        result, paths = _guard(job, drop_hint="remove those rows from the campaign log")
    console.print(result.summary(), highlight=False, markup=False)
    for path in paths:
        console.print(f"  {path}", highlight=False)


@app.command()
def serve(
    config: ConfigOpt = None,
    project_dir: ProjectOpt = None,
    port: Annotated[int, typer.Option(help="TCP port on the loopback interface.")] = 5001,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    sets: SetOpt = None,
) -> None:
    """Serve the champion over HTTP with `mlflow models serve` (POST /invocations)."""
    from repurchase_ml.jobs import serve_command

    settings = _guard(lambda: _settings(config, project_dir, sets))
    argv, env = _guard(lambda: serve_command(settings, port=port, host=host))
    _guard(lambda: _check_port_free(host, port))
    _guard(lambda: _check_champion(settings))
    console.print(f"serving models:/{settings.tracking.model_name}@champion on "
                  f"http://{host}:{port}/invocations", highlight=False)
    os.execvpe(argv[0], argv, env)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, before the server would fail on it."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ValueError(f"--port: cannot listen on {host}:{port} ({exc.strerror}); "
                             "another process may be using it. Fix: pass a free --port, or "
                             "stop the process that holds it") from None


def _check_champion(settings: Any) -> None:
    """Load the champion once, so a missing one is reported here and not by the server."""
    from repurchase_ml import tracking

    tracking.configure(settings)
    tracking.load_champion(settings)


if __name__ == "__main__":  # python -m repurchase_ml.cli, as the installed command
    app(prog_name="repurchase-ml")
