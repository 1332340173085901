"""The jobs behind the command line: validate, retrain, score, serve, demo.

Plain functions over a resolved :class:`~repurchase_ml.config.Settings`, so a
scheduler, a notebook and the CLI run the same code. They log; they never
print. MLflow is imported only inside the functions that need it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from repurchase_ml._io import write_frame_atomic, write_text_atomic
from repurchase_ml.config import Settings, settings_to_dict

if TYPE_CHECKING:
    from repurchase_ml.events import ValidationReport

__all__ = [
    "JobLockedError",
    "RetrainResult",
    "ScoreResult",
    "load_event_log",
    "run_validate",
    "run_retrain",
    "run_score",
    "run_demo",
    "serve_command",
    "start_server",
    "stop_server",
    "retrain_lock",
    "decide_promotion",
    "evaluate_served",
]

logger = logging.getLogger(__name__)

LOCK_NAME = ".retrain.lock"


class JobLockedError(RuntimeError):
    """Another retraining run holds the project directory."""


# --------------------------------------------------------------------------- data
def load_event_log(settings: Settings) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate the event log the settings point at.

    Examples
    --------
    >>> from repurchase_ml.config import load_settings
    >>> s = load_settings(overrides={"data": {"synthetic": {"n_customers": 50,
    ...     "start": "2023-01-01", "end": "2023-07-01"}}}, environ={})
    >>> events, report = load_event_log(s)
    >>> report.n_customers == events["customer_id"].nunique()
    True
    """
    from repurchase_ml import datasets
    from repurchase_ml.events import read_events, validate_events

    data = settings.data
    if data.source == "synthetic":
        syn = data.synthetic
        events, _truth = datasets.make_event_log(
            syn.n_customers, syn.start, syn.end, random_state=syn.random_state
        )
        return validate_events(events, on_invalid=data.on_invalid)
    if data.source == "path":
        return read_events(data.path, data.mapping, timezone=data.timezone,
                           on_invalid=data.on_invalid)
    if data.source == "cdnow":
        if data.on_invalid != "raise":
            raise ValueError("data.on_invalid: the CDNOW loader always validates strictly; "
                             "remove on_invalid or set it to 'raise'")
        return datasets.load_cdnow(data.path)
    if data.source == "taobao":
        return datasets.load_taobao(data.path, on_invalid=data.on_invalid)
    if data.path is None:
        raise ValueError("data.path: the online_retail source needs the file of order lines")
    return datasets.load_online_retail(data.path, on_invalid=data.on_invalid)


def run_validate(
    source: str | os.PathLike[str],
    *,
    mapping: str | os.PathLike[str] | None = None,
    timezone: str = "UTC",
    as_of: str | None = None,
    drop_invalid: bool = False,
) -> ValidationReport:
    """Validate a log file with an optional mapping YAML and return the report.

    Raises :class:`~repurchase_ml.errors.SchemaError` on the first broken rule
    unless ``drop_invalid`` is set, in which case offending rows are counted in
    the report.

    Examples
    --------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "events.csv"
    >>> _ = log.write_text("customer_id,timestamp,event_type,amount\\n"
    ...                    "a,2024-01-02 10:00,purchase,20.0\\n"
    ...                    "a,2024-01-05 08:00,click,\\n"
    ...                    "b,2024-01-03 12:00,purchase,15.0\\n")
    >>> report = run_validate(log, drop_invalid=True)
    >>> report.n_input_rows, report.n_rows, report.n_customers, report.event_counts["purchase"]
    (3, 2, 2, 2)
    >>> list(report.dropped.values())
    [1]
    """
    from repurchase_ml.events import ColumnMapping, read_events

    column_mapping = ColumnMapping.from_yaml(mapping) if mapping is not None else None
    _events, report = read_events(
        source, column_mapping, timezone=timezone, as_of=as_of,
        on_invalid="drop" if drop_invalid else "raise",
    )
    return report


# --------------------------------------------------------------------------- lock
@contextmanager
def retrain_lock(project_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``<project_dir>/.retrain.lock`` for the duration of a run.

    The lock is an advisory ``flock`` on that file, held by the open file
    itself: the kernel grants it to one process at a time, atomically, and
    releases it when the holder exits, however it exits. So a lock left by a
    crashed run is free again at once, and runs that race for it leave exactly
    one holder. The file names the holder (pid, host, start) for the message
    a refused run prints.

    A second run is refused with :class:`JobLockedError`.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with retrain_lock(d):  # doctest: +ELLIPSIS
    ...     with retrain_lock(d):
    ...         pass
    Traceback (most recent call last):
    ...
    repurchase_ml.jobs.JobLockedError: another retraining run holds ...
    """
    import fcntl

    path = Path(project_dir) / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"project_dir: {str(path.parent)!r} is not a directory; set "
                         "project_dir (or --project-dir) to a folder") from None
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobLockedError(_locked_message(path)) from None
        try:  # the file may have been unlinked by a holder that finished before we locked it
            same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still locked, so nobody locks a removed file
        os.close(fd)


def _locked_message(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict):
        holder = {}
    return (f"another retraining run holds {str(path)!r} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, started {holder.get('started', '?')}). Wait for it to "
            "finish; the lock is released when that process ends.")


# --------------------------------------------------------------------------- retrain
@dataclass
class RetrainResult:
    """What a retraining run did: the run, the version it registered and the decision."""

    run_id: str
    model_version: str
    promoted: bool
    reason: str
    champion_version: str
    evaluation_cutoff: str
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def _fingerprint(events: pd.DataFrame, settings: Settings) -> str:
    """A hash of the event log, the resolved settings and the package version."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(events, index=False).values.tobytes())
    from repurchase_ml import __version__

    config = settings_to_dict(settings)
    config.pop("output", None)  # where scores go does not change the model
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(__version__.encode())
    return digest.hexdigest()[:16]


def _feature_spec(settings: Settings) -> Any:
    """The FeatureSpec of the settings (keys were checked when the settings were loaded)."""
    from repurchase_ml.features import FeatureSpec

    return FeatureSpec(**settings.features) if settings.features else None


def decide_promotion(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    *,
    min_improvement: float,
    tolerance: float,
) -> tuple[bool, str]:
    """Apply the promotion rule to primary metrics per task (higher is better).

    Promote when there is no champion, or when the challenger's mean primary
    metric beats the champion's by more than ``min_improvement`` and no task is
    worse by more than ``tolerance``.

    Examples
    --------
    >>> decide_promotion({"churn": 0.80, "ltv": 0.60}, {"churn": 0.78, "ltv": 0.60},
    ...                  min_improvement=0.005, tolerance=0.01)
    (True, 'challenger beats champion by 0.0100 on average (rule: > 0.005); worst task ltv +0.0000 (tolerance 0.01)')
    >>> decide_promotion({"churn": 0.90, "ltv": 0.50}, {"churn": 0.78, "ltv": 0.60},
    ...                  min_improvement=0.0, tolerance=0.01)[1]
    'ltv is worse by 0.1000 (> tolerance 0.01)'
    """
    if champion is None:
        return True, "no champion yet: the first model becomes champion"
    missing = sorted(set(challenger) - set(champion))
    if missing:
        return True, (f"champion has no score for task(s) {', '.join(missing)}; "
                      "the challenger covers more tasks")
    deltas = {task: challenger[task] - champion[task] for task in challenger}
    if not deltas:
        return False, ("no task has a defined primary metric on the evaluation rows "
                       "(e.g. a single class); the champion stays")
    worst_task = min(deltas, key=lambda t: deltas[t])
    if deltas[worst_task] < -tolerance:
        return False, (f"{worst_task} is worse by {-deltas[worst_task]:.4f} "
                       f"(> tolerance {tolerance:g})")
    mean_delta = sum(deltas.values()) / len(deltas)
    if mean_delta > min_improvement:
        return True, (f"challenger beats champion by {mean_delta:.4f} on average "
                      f"(rule: > {min_improvement:g}); worst task {worst_task} "
                      f"{deltas[worst_task]:+.4f} (tolerance {tolerance:g})")
    return False, (f"challenger is not better: mean change {mean_delta:+.4f} "
                   f"(rule: > {min_improvement:g})")


def run_retrain(settings: Settings) -> RetrainResult:
    """Train a challenger at the newest cutoffs, compare with the champion, promote if better.

    Steps: hold the project lock; read the log; take the newest
    ``settings.cutoffs.n`` usable cutoffs; train one model per task out of time
    (the newest cutoff is held out); score challenger and champion with the
    same code on the same rows of that newest cutoff; decide by the promotion
    rule; log the run; register the challenger as a new version; and only
    then, if the rule says so, move the ``champion`` alias to it. A crash at
    any step before the last leaves the champion untouched. The decision and
    why are stored as run and version tags and as ``decision.json`` in the run.
    Safe to re-run: when the log, the settings and the package version hash to
    the champion's fingerprint, the run records "kept" without retraining, so
    the same inputs always leave the same champion.

    Raises
    ------
    JobLockedError
        Another run holds the project directory.

    Examples
    --------
    The whole flow on a small synthetic log in a fresh project: the first run
    becomes champion, an identical re-run keeps it without a new version, and
    the score job and :func:`~repurchase_ml.tracking.load_champion` use it.

    >>> import tempfile
    >>> from repurchase_ml.config import load_settings
    >>> from repurchase_ml.tracking import load_champion
    >>> settings = load_settings(overrides={
    ...     "project_dir": tempfile.mkdtemp(), "baselines": False,
    ...     "data": {"synthetic": {"n_customers": 300, "start": "2022-01-01",
    ...                            "end": "2024-01-01", "random_state": 3}},
    ...     "tasks": ["churn", "ltv"], "horizons": {"churn": 30, "ltv": 30},
    ...     "cutoffs": {"n": 5}, "tuning": {"n_estimators": 10},
    ...     "output": {"report": False}}, environ={})
    >>> first = run_retrain(settings)
    >>> first.promoted, first.model_version, first.champion_version
    (True, '1', '1')
    >>> sorted(first.challenger_metrics)
    ['churn', 'ltv']
    >>> again = run_retrain(settings)
    >>> again.promoted, again.champion_version, "identical data, settings and code" in again.reason
    (False, '1', True)
    >>> scored = run_score(settings, "2024-01-01")
    >>> scored.model_version, scored.n_scored >= scored.n_radar > 0
    ('1', True)
    >>> sorted(Path(p).name for p in scored.paths)
    ['radar_2024-01-01.csv', 'radar_2024-01-01.parquet', 'scores_2024-01-01.csv',
     'scores_2024-01-01.parquet']
    >>> champion = load_champion(settings)
    >>> champion.version, champion.run_id == first.run_id
    ('1', True)
    """
    with retrain_lock(settings.project_path()):
        return _retrain_locked(settings)


def _retrain_locked(settings: Settings) -> RetrainResult:
    import mlflow

    from repurchase_ml import tracking
    from repurchase_ml.features import build_training_set, propose_cutoffs
    from repurchase_ml.models import train_models

    tracking.configure(settings)
    events, report = load_event_log(settings)
    fingerprint = _fingerprint(events, settings)
    champion = tracking.find_champion(settings)
    if champion is not None and champion.tags.get("fingerprint") == fingerprint:
        return _unchanged(settings, champion, fingerprint)
    horizons = {task: settings.horizons[task] for task in settings.tasks}
    cutoffs = propose_cutoffs(events, horizon_days=max(horizons.values()),
                              freq=settings.cutoffs.freq, n=settings.cutoffs.n)
    spec = _feature_spec(settings)
    training = build_training_set(events, cutoffs=cutoffs, tasks=settings.tasks, spec=spec,
                                  horizons=horizons)
    tuning = settings.tuning
    bundle = train_models(
        training, tasks=list(settings.tasks), horizons=horizons,
        events=events if settings.baselines else None,
        tune=tuning.n_trials > 0, n_trials=max(tuning.n_trials, 1),
        timeout=tuning.timeout_seconds, n_estimators=tuning.n_estimators,
        random_state=tuning.random_state,
    )
    eval_cutoff = max(cutoffs)
    eval_rows = training[training["cutoff"] == eval_cutoff].reset_index(drop=True)
    served = tracking.make_served_model(bundle, training, spec=spec,
                                        top_reasons=settings.output.top_reasons)

    challenger_cards = evaluate_served(served, eval_rows, tasks=settings.tasks)
    champion_cards: dict[str, dict[str, float]] | None = None
    if champion is not None:
        champion_rows = _rows_for(champion.served, eval_rows, events, eval_cutoff)
        champion_cards = evaluate_served(champion.served, champion_rows, tasks=settings.tasks)
    primary = settings.promotion.primary_metric
    chal_primary = _primary(challenger_cards, primary)
    champ_primary = None if champion_cards is None else _primary(champion_cards, primary)
    promoted, reason = decide_promotion(chal_primary, champ_primary,
                                        min_improvement=settings.promotion.min_improvement,
                                        tolerance=settings.promotion.tolerance)
    decision = {
        "promoted": promoted, "reason": reason, "evaluation_cutoff": str(eval_cutoff.date()),
        "primary_metric": {t: primary[t] for t in settings.tasks},
        "challenger": chal_primary, "champion": champ_primary,
        "champion_version_before": None if champion is None else champion.version,
        "fingerprint": fingerprint,
    }
    logger.info("decision: %s (%s)", "promote" if promoted else "keep the champion", reason)

    with mlflow.start_run(run_name=f"retrain {eval_cutoff.date()}") as run:
        tracking.log_training_run(settings, bundle=bundle, served=served, report=report,
                                  cutoffs=cutoffs, training=training, eval_rows=eval_rows,
                                  challenger=challenger_cards, champion=champion_cards)
        tracking.set_run_tags({"decision": "promoted" if promoted else "kept",
                               "decision_reason": reason, "fingerprint": fingerprint,
                               "evaluation_cutoff": eval_cutoff.date()})
        info = tracking.log_served_model(served, example=eval_rows)
        version = tracking.register(settings, info.model_uri, tags={
            "decision": "promoted" if promoted else "kept", "fingerprint": fingerprint,
            "evaluation_cutoff": str(eval_cutoff.date()), "run_id": run.info.run_id})
        decision["challenger_version"] = version
        mlflow.log_dict(decision, "decision.json")
        if promoted:
            tracking.promote(settings, version)
    return RetrainResult(
        run_id=run.info.run_id, model_version=version, promoted=promoted, reason=reason,
        champion_version=version if promoted else (champion.version if champion else ""),
        evaluation_cutoff=str(eval_cutoff.date()),
        challenger_metrics=chal_primary, champion_metrics=champ_primary or {},
    )


def _unchanged(settings: Settings, champion: Any, fingerprint: str) -> RetrainResult:
    """Record a run that keeps the champion because nothing changed since it was trained."""
    import mlflow

    from repurchase_ml import tracking

    reason = (f"the champion (version {champion.version}) was trained on identical data, "
              f"settings and code (fingerprint {fingerprint}); nothing to retrain")
    logger.info("decision: keep the champion (%s)", reason)
    with mlflow.start_run(run_name="retrain (unchanged)") as run:
        tracking.log_settings(settings)
        tracking.set_run_tags({"decision": "kept", "decision_reason": reason,
                               "fingerprint": fingerprint})
        mlflow.log_dict({"promoted": False, "reason": reason, "fingerprint": fingerprint,
                         "champion_version_before": champion.version,
                         "challenger_version": None}, "decision.json")
    return RetrainResult(run_id=run.info.run_id, model_version=champion.version, promoted=False,
                         reason=reason, champion_version=champion.version,
                         evaluation_cutoff=champion.tags.get("evaluation_cutoff", ""))


def evaluate_served(served: Any, rows: pd.DataFrame, *, tasks: tuple[str, ...] | list[str]
                    ) -> dict[str, dict[str, float]]:
    """Metrics per task of a served model on labelled rows of one cutoff.

    The same function scores challenger and champion, so both are judged on
    the same rows with the same code. Tasks the model was not trained on are
    left out.
    """
    from repurchase_ml.models import evaluate
    from repurchase_ml.models.training import OUTPUT_COLUMNS, TASK_KINDS

    frame = rows[["customer_id", "cutoff", *served.features]]
    scores = served.bundle.predict(frame)
    cards: dict[str, dict[str, float]] = {}
    for task in tasks:
        column = OUTPUT_COLUMNS[task]
        label = f"label_{task}"
        if column not in scores or label not in rows:
            continue
        keep = rows[label].notna().to_numpy()
        if not keep.any():
            continue
        card = evaluate(rows.loc[keep, label].to_numpy(dtype=float),
                        scores.loc[keep, column].to_numpy(dtype=float), kind=TASK_KINDS[task])
        cards[task] = {k: float(v) for k, v in card.metrics.items()}
        cards[task]["n_rows"] = float(card.n_rows)
    return cards


def _primary(cards: dict[str, dict[str, float]], primary: dict[str, str]) -> dict[str, float]:
    """Primary metric per task, sign-flipped where lower is better; NaN tasks left out."""
    from repurchase_ml.config import METRIC_HIGHER_IS_BETTER

    out = {}
    for task, metrics in cards.items():
        value = metrics.get(primary[task], float("nan"))
        if value == value:  # not NaN
            out[task] = value if METRIC_HIGHER_IS_BETTER[primary[task]] else -value
    return out


def _rows_for(served: Any, eval_rows: pd.DataFrame, events: pd.DataFrame,
              cutoff: pd.Timestamp) -> pd.DataFrame:
    """The evaluation rows in the champion's feature schema (rebuilt if its spec differs)."""
    same = all(c in eval_rows and str(eval_rows[c].dtype) == d
               for c, d in served.feature_dtypes.items())
    if same:
        return eval_rows
    from repurchase_ml.features import build_features

    logger.info("the champion uses another feature set; rebuilding its features at %s",
                cutoff.date())
    features = build_features(events, cutoffs=[cutoff], spec=served.spec)
    labels = eval_rows[["customer_id", "cutoff",
                        *[c for c in eval_rows if str(c).startswith("label_")]]]
    return labels.merge(features, on=["customer_id", "cutoff"], how="left")


# --------------------------------------------------------------------------- score
@dataclass
class ScoreResult:
    """Where the score job wrote, and how many customers it scored."""

    as_of: str
    model_version: str
    n_scored: int
    n_radar: int
    paths: list[str]


def _as_of(value: str | pd.Timestamp) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"as_of: expected a date such as 2024-01-01, got {value!r}") from None
    if ts.tzinfo is not None:
        raise ValueError(f"as_of: expected a naive date (wall clock of the log), got {value!r}")
    return ts


def run_score(settings: Settings, as_of: str | pd.Timestamp) -> ScoreResult:
    """Score every customer at ``as_of`` with the champion and write scores and radar.

    Features are built with the same code as in training; a feature table whose
    columns or types differ from the champion's is refused with a diff
    (:class:`~repurchase_ml.errors.SchemaError`). Outputs go to
    ``settings.output_path()`` as ``scores_<date>`` and ``radar_<date>``, CSV
    and Parquet, and (with ``output.report``) the HTML report
    ``report_<date>.html``, each written atomically.

    Examples
    --------
    See :func:`run_retrain` for a retrain-then-score flow. ``as_of`` must be a
    plain date; it is checked before anything is read:

    >>> from repurchase_ml.config import load_settings
    >>> try:
    ...     run_score(load_settings(environ={}), "next monday")
    ... except ValueError as error:
    ...     print(str(error)[:50])
    as_of: expected a date such as 2024-01-01, got 'ne
    """
    from repurchase_ml import tracking
    from repurchase_ml.features import build_features
    from repurchase_ml.radar import radar_from_scores, write_radar

    cutoff = _as_of(as_of)
    tracking.configure(settings)
    champion = tracking.load_champion(settings)
    events, report = load_event_log(settings)
    if report.start is not None and cutoff <= report.start:
        raise ValueError(f"as_of: {cutoff.date()} is not after the first event "
                         f"({report.start}); no customer has history before it")
    features = build_features(events, cutoffs=[cutoff], spec=champion.spec)
    scores = champion.score(features)
    radar = radar_from_scores(scores, features=features, as_of=cutoff,
                              churn_model=champion.served.bundle.models.get("churn"),
                              random_state=settings.tuning.random_state)
    out = settings.output_path()
    stamp = cutoff.strftime("%Y-%m-%d")
    paths = []
    for name, frame in (("scores", scores), ("radar", radar)):
        written = write_radar(frame, out / f"{name}_{stamp}")
        paths += [str(written["csv"]), str(written["parquet"])]
    if settings.output.report:
        from repurchase_ml.report import bundle_report_inputs, write_report

        inputs = bundle_report_inputs(champion.served.bundle, events, as_of=cutoff, radar=radar,
                                      spec=champion.spec)
        paths.append(str(write_report(out / f"report_{stamp}.html", **inputs)))
    logger.info("scored %d customers at %s with %s version %s", len(scores), stamp,
                settings.tracking.model_name, champion.version)
    return ScoreResult(as_of=stamp, model_version=champion.version, n_scored=len(scores),
                       n_radar=len(radar), paths=paths)


# --------------------------------------------------------------------------- serve
def serve_command(settings: Settings, *, port: int = 5001, host: str = "127.0.0.1",
                  workers: int = 1) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow models serve`` command line and environment that serve the champion.

    The virtual environment's ``bin`` goes first on ``PATH`` (``--env-manager
    local`` runs the server with the interpreter it finds there).

    Examples
    --------
    >>> from repurchase_ml.config import Settings
    >>> argv, env = serve_command(Settings(project_dir="/tmp/p"), port=6000)
    >>> argv[1:]
    ['models', 'serve', '-m', 'models:/repurchase_ml@champion', '--env-manager', 'local', '-h', '127.0.0.1', '-p', '6000', '--workers', '1']
    >>> env["MLFLOW_TRACKING_URI"]
    'sqlite:////tmp/p/mlflow.db'
    """
    if not 0 < int(port) < 65536:
        raise ValueError(f"port: expected 1-65535, got {port}")
    bindir = Path(sys.executable).parent
    mlflow_exe = bindir / "mlflow"
    argv = [str(mlflow_exe) if mlflow_exe.exists() else "mlflow", "models", "serve",
            "-m", f"models:/{settings.tracking.model_name}@champion",
            "--env-manager", "local", "-h", host, "-p", str(int(port)),
            "--workers", str(int(workers))]
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri()
    env["MLFLOW_REGISTRY_URI"] = settings.tracking_uri()
    return argv, env


def start_server(settings: Settings, *, port: int, host: str = "127.0.0.1",
                 log_path: str | os.PathLike[str] | None = None,
                 timeout: float = 300.0) -> subprocess.Popen[bytes]:
    """Start ``serve_command`` in its own process group and wait until ``/ping`` answers.

    Output goes to ``log_path`` (default: discarded). Stop it with
    :func:`stop_server`. Raises ``RuntimeError`` (with the end of the log) when
    the server exits or does not answer within ``timeout`` seconds.
    """
    import time
    import urllib.request

    argv, env = serve_command(settings, port=port, host=host)
    sink = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        if log_path is not None:
            sink.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/ping", timeout=2) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            tail = Path(log_path).read_text(errors="replace")[-2000:] if log_path else ""
            raise RuntimeError(f"the model server did not start on {host}:{port}:\n{tail}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen[bytes], *, timeout: float = 30.0) -> int:
    """Stop a server from :func:`start_server` by its process group; return its exit code."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


# --------------------------------------------------------------------------- demo
def run_demo(settings: Settings, *, stages: tuple[str, ...] = ("retrain", "score")) -> dict[str, Any]:
    """The main job on embedded defaults: synthetic log, validate, retrain, score.

    Returns a summary with the validation report, the retrain decision and the
    output paths. The generated log is kept as ``<project_dir>/demo/events.parquet``.

    Examples
    --------
    The retrain and score stages run as in :func:`run_retrain`; with no stages
    the demo only generates, validates and stores the log:

    >>> import tempfile
    >>> from repurchase_ml.config import load_settings
    >>> settings = load_settings(overrides={"project_dir": tempfile.mkdtemp(), "data": {
    ...     "synthetic": {"n_customers": 50, "start": "2023-01-01", "end": "2023-07-01"}}},
    ...     environ={})
    >>> summary = run_demo(settings, stages=())
    >>> events = pd.read_parquet(summary["events_path"])
    >>> summary["validation"]["n_rows"] == len(events), sorted(summary)
    (True, ['events_path', 'report_text', 'validation'])
    >>> (settings.project_path() / "demo" / "summary.json").exists()
    True
    """
    events, report = load_event_log(settings)
    log_path = write_frame_atomic(events, settings.project_path() / "demo" / "events.parquet")
    summary: dict[str, Any] = {"validation": report.to_dict(), "events_path": str(log_path),
                               "report_text": report.summary()}
    if "retrain" in stages:
        summary["retrain"] = run_retrain(settings).to_dict()
    if "score" in stages:
        summary["score"] = asdict(run_score(settings, _demo_as_of(settings)))
    write_text_atomic(settings.project_path() / "demo" / "summary.json",
                      json.dumps(summary, indent=2, default=str))
    return summary


def _demo_as_of(settings: Settings) -> pd.Timestamp:
    """The demo scores "now" for its synthetic log: the configured end of the generated period."""
    if settings.data.source != "synthetic":
        raise ValueError("the demo runs on the synthetic log (data.source: synthetic); "
                         "use `repurchase-ml score --as-of DATE` for other logs")
    return pd.Timestamp(settings.data.synthetic.end)

