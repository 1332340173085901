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
import socket
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
    "retrain_lock",
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
    loader = getattr(datasets, f"load_{data.source}")
    loaded = loader(data.path)
    if isinstance(loaded, tuple):
        return loaded
    return validate_events(loaded, on_invalid=data.on_invalid)


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
    """
    from repurchase_ml.events import ColumnMapping, read_events

    column_mapping = ColumnMapping.from_yaml(mapping) if mapping is not None else None
    _events, report = read_events(
        source, column_mapping, timezone=timezone, as_of=as_of,
        on_invalid="drop" if drop_invalid else "raise",
    )
    return report


# --------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def retrain_lock(project_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``<project_dir>/.retrain.lock`` for the duration of a run.

    A second run is refused with :class:`JobLockedError`. A lock left by a
    process that no longer exists (on this host) is taken over, with a warning.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with retrain_lock(d):
    ...     with retrain_lock(d):
    ...         pass
    Traceback (most recent call last):
    ...
    repurchase_ml.jobs.JobLockedError: another retraining run holds ...
    """
    path = Path(project_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8") or "{}")
            except (OSError, ValueError):
                holder = {}
            stale = (holder.get("host") == me["host"] and isinstance(holder.get("pid"), int)
                     and not _pid_alive(holder["pid"]))
            if stale:
                logger.warning("taking over a stale lock left by pid %s (started %s)",
                               holder.get("pid"), holder.get("started"))
                path.unlink(missing_ok=True)
                continue
            raise JobLockedError(
                f"another retraining run holds {str(path)!r} (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, started {holder.get('started', '?')}). Wait for it "
                "to finish; if no run is active, delete that file and try again."
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        break
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


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
    """A hash of the event log and the resolved settings (identifies identical inputs)."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(events, index=False).values.tobytes())
    config = settings_to_dict(settings)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _feature_spec(settings: Settings) -> Any:
    from repurchase_ml.features import FeatureSpec

    try:
        return FeatureSpec(**settings.features) if settings.features else None
    except TypeError as exc:
        raise ValueError(f"features: {exc}. Fix: use the fields of FeatureSpec "
                         "(windows, families, trend_windows, ...).") from None


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

    Steps: hold the project lock; read the log; propose the newest
    ``settings.cutoffs.n`` usable cutoffs; train on all but the newest; score
    challenger and champion on the newest (out-of-time) cutoff; log the run,
    register the challenger as a new version and, only if the rule says so,
    move the ``champion`` alias to it (the last step, so a crash before it
    leaves the champion untouched). The decision and why are stored as run
    tags and as ``decision.json`` in the run.
    """
    from repurchase_ml import tracking
    from repurchase_ml.features import build_training_set, propose_cutoffs
    from repurchase_ml.models import train_models

    with retrain_lock(settings.project_path()):
        tracking.configure(settings)
        events, report = load_event_log(settings)
        cutoffs = propose_cutoffs(events, horizon_days=settings.max_horizon(),
                                  freq=settings.cutoffs.freq, n=settings.cutoffs.n)
        if len(cutoffs) < 2:
            raise ValueError(
                f"cutoffs: need at least 2 usable cutoffs (one to train, one to evaluate), "
                f"got {len(cutoffs)} for a {settings.max_horizon()}-day horizon on data from "
                f"{report.start} to {report.end}. Fix: use a longer log or shorter horizons."
            )
        spec = _feature_spec(settings)
        training = build_training_set(events, cutoffs=cutoffs, tasks=settings.tasks, spec=spec,
                                      horizons=dict(settings.horizons))
        eval_cutoff = max(cutoffs)
        train_part = training[training["cutoff"] < eval_cutoff].reset_index(drop=True)
        eval_part = training[training["cutoff"] == eval_cutoff].reset_index(drop=True)
        logger.info("training on %d rows (%d cutoffs), evaluating on %d rows at %s",
                    len(train_part), len(cutoffs) - 1, len(eval_part), eval_cutoff.date())
        bundle = train_models(train_part, tasks=settings.tasks, **_train_kwargs(settings))
        fingerprint = _fingerprint(events, settings)
        return tracking.record_retrain(
            settings, bundle=bundle, events=events, report=report, cutoffs=cutoffs,
            train_part=train_part, eval_part=eval_part, fingerprint=fingerprint,
            decide=lambda chal, champ: decide_promotion(
                chal, champ, min_improvement=settings.promotion.min_improvement,
                tolerance=settings.promotion.tolerance),
        )


def _train_kwargs(settings: Settings) -> dict[str, Any]:
    tuning = settings.tuning
    return {"n_trials": tuning.n_trials, "timeout": tuning.timeout_seconds,
            "n_estimators": tuning.n_estimators, "random_state": tuning.random_state}


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
    and Parquet, each written atomically.
    """
    from repurchase_ml import tracking
    from repurchase_ml.features import build_features
    from repurchase_ml.radar import radar_from_scores

    cutoff = _as_of(as_of)
    tracking.configure(settings)
    champion = tracking.load_champion(settings)
    events, report = load_event_log(settings)
    if report.start is not None and cutoff <= report.start:
        raise ValueError(f"as_of: {cutoff.date()} is not after the first event "
                         f"({report.start}); no customer has history before it")
    features = build_features(events, cutoffs=[cutoff], spec=champion.spec)
    scores = champion.score(features)
    radar = radar_from_scores(scores, features=features, events=events, as_of=cutoff)
    out = settings.output_path()
    stamp = cutoff.strftime("%Y-%m-%d")
    paths = []
    for name, frame in (("scores", scores), ("radar", radar)):
        for suffix in (".parquet", ".csv"):
            paths.append(str(write_frame_atomic(frame, out / f"{name}_{stamp}{suffix}")))
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


# --------------------------------------------------------------------------- demo
def run_demo(settings: Settings, *, stages: tuple[str, ...] = ("retrain", "score")) -> dict[str, Any]:
    """The main job on embedded defaults: synthetic log, validate, retrain, score.

    Returns a summary with the validation report, the retrain decision and the
    output paths. The generated log is kept as ``<project_dir>/demo/events.parquet``.
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

