"""The jobs behind the command line: validate, retrain, score, serve, demo.

Plain functions over a resolved :class:`~repurchase_ml.config.Settings`, so a
scheduler, a notebook and the CLI run the same code. They log; they never
print. MLflow is imported only inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from repurchase_ml._io import write_frame_atomic, write_text_atomic
from repurchase_ml._stages import StageClock
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
    "baseline_gate",
    "evaluate_served",
    "pinned_spec",
    "scorecard_lines",
    "FAULT_ENV",
    "RETRAIN_STAGES",
]

logger = logging.getLogger(__name__)

LOCK_NAME = ".retrain.lock"
#: environment variable naming a stage at which a job SIGKILLs itself (fault-injection tests)
FAULT_ENV = "REPURCHASE_FAULT_AT"
#: the stages of a retrain, in order; the ``champion`` alias moves between the last two
RETRAIN_STAGES = ("after_lock", "after_train", "after_log", "after_register", "after_promote")
#: scorers in ``bundle.scorecards[task]`` that are candidate models, not baselines; every
#: other one is a baseline the shipped scorer must match, except BG/NBD's P(alive), reported
#: for completeness only (as a churn ranking it is inverted on one-time buyers)
_CANDIDATE_SCORERS = ("model", "lightgbm", "hybrid", "blend")
#: hidden temp files of ``_io.atomic_write`` older than this were left by a killed run
_STALE_TEMP_SECONDS = 3600.0


def _fault_point(stage: str) -> None:
    """Kill this process with SIGKILL when ``$REPURCHASE_FAULT_AT`` names ``stage``.

    Only the fault-injection tests set the variable; a SIGKILL runs no
    cleanup at all, like a power cut or the OOM killer.
    """
    if os.environ.get(FAULT_ENV) == stage:
        logger.warning("%s=%s: killing this process (pid %d)", FAULT_ENV, stage, os.getpid())
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


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
        return validate_events(events, on_invalid=data.on_invalid,
                               plausible_range=data.plausible_range)
    if data.source == "path":
        return read_events(data.path, data.mapping, timezone=data.timezone,
                           on_invalid=data.on_invalid, plausible_range=data.plausible_range)
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
    encoding: str | None = None,
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
        on_invalid="drop" if drop_invalid else "raise", encoding=encoding,
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
    """What a retraining run did: the run, the version it registered and the decision.

    ``scorecard`` holds, per task, the primary metric of the challenger and
    the champion on the evaluation cutoff, the shipped scorer and each
    baseline on the test rows of that cutoff, and whether the baseline gate
    passed; ``choice`` what training chose per task and why (when the
    training reports it); ``radar_metrics`` precision and lift of the radar's
    top decile against realised churn on the evaluation cutoff; ``plan`` the
    training plan (:meth:`~repurchase_ml.models.plan.TrainingPlan.to_dict`)
    and ``skipped`` the tasks it refused, with the reason (``training``
    settings).
    """

    run_id: str
    model_version: str
    promoted: bool
    reason: str
    champion_version: str
    evaluation_cutoff: str
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    scorecard: dict[str, dict[str, Any]] = field(default_factory=dict)
    choice: dict[str, Any] = field(default_factory=dict)
    radar_metrics: dict[str, float] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: tasks evaluated on fewer than ``promotion.min_eval_rows`` rows, with the reason
    left_out_of_promotion: dict[str, str] = field(default_factory=dict)
    #: wall and CPU seconds and peak memory (GB) per stage of this run (:class:`StageClock`)
    stages: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def _source_files(settings: Settings) -> list[Path] | None:
    """The file(s) the settings read the log from (a folder's files, by name), when there
    are any (not a synthetic log)."""
    data = settings.data
    if data.source == "synthetic" or data.path is None:
        return None
    path = Path(data.path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return None


def _fingerprint(events: pd.DataFrame, settings: Settings) -> str:
    """A hash of the event log, the resolved settings and the package version.

    A log read from a file (or a folder of files) is hashed as the files' bytes, streamed (the
    validated log is a function of them and of the settings; no pass over the
    frame), so only a file whose bytes changed retrains. Any other log (a
    synthetic one) is hashed as a multiset of rows (each row's hash, sorted),
    so the same log with its rows in another order has the same fingerprint.
    Where outputs (or the file) go does not change the model; how many reasons it gives
    does (the served model carries ``output.top_reasons``), so that one is kept.
    """
    digest = hashlib.sha256()
    source = _source_files(settings)
    if source is not None:
        digest.update(b"file bytes:")
        for file in source:
            if len(source) > 1:  # a folder: each file's place in it, then its bytes
                digest.update(str(file.relative_to(str(settings.data.path))).encode() + b"\0")
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 23), b""):
                    digest.update(chunk)
    else:
        row_hashes = pd.util.hash_pandas_object(events, index=False).to_numpy()
        row_hashes.sort()
        digest.update(row_hashes.tobytes())
    from repurchase_ml._version import __version__

    config = settings_to_dict(settings)
    config["output"] = {"top_reasons": settings.output.top_reasons}
    if source is not None:  # the bytes stand for the file, wherever it lies
        config["data"] = {k: v for k, v in config["data"].items() if k != "path"}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(__version__.encode())
    return digest.hexdigest()[:16]


def _feature_spec(settings: Settings) -> Any:
    """The FeatureSpec of the settings (keys were checked when the settings were loaded).

    The families the radar and the served value at risk read are always on
    (:func:`~repurchase_ml.radar.radar_spec`).
    """
    from repurchase_ml.features import FeatureSpec
    from repurchase_ml.radar import radar_spec

    return radar_spec(FeatureSpec(**settings.features)) if settings.features else None


def pinned_spec(spec: Any, features: list[str] | tuple[str, ...]) -> Any:
    """``spec`` with every family decision fixed to what the model's ``features`` hold.

    Left open (``behaviour=None``), ``build_features`` switches the engagement
    family on when the log holds any view, cart or favourite event, wherever
    it is in time. A champion pins it, so the score job builds exactly the
    columns the model was trained on, whatever the log gains later.

    Examples
    --------
    >>> pinned_spec(None, ["orders_30d", "orders_all"]).behaviour
    False
    >>> pinned_spec(None, ["orders_30d", "views_30d"]).behaviour
    True
    """
    from repurchase_ml.features import FeatureSpec, feature_info

    base = spec if spec is not None else FeatureSpec()
    if base.behaviour is not None:
        return base

    def family(name: str) -> str | None:
        try:
            return feature_info(name).family
        except KeyError:
            return None

    engaged = any(family(name) == "engagement" for name in features)
    return dataclasses.replace(base, behaviour=engaged)


def baseline_gate(
    scores: Mapping[str, Mapping[str, float]],
    metrics: Mapping[str, str],
    *,
    tolerance: float,
) -> tuple[bool, str]:
    """Whether the shipped scorer is no worse than the best baseline on every task.

    ``scores`` holds per task the primary metric of ``"model"`` (the scorer
    the version would ship) and of each baseline, all on the same rows of the
    newest out-of-time cutoff; ``metrics`` names each task's primary metric
    (lower is better for ``mae``, ``rmse``, ``log_loss``, ...). Baselines
    without a value (NaN) are left out.

    Examples
    --------
    >>> baseline_gate({"churn": {"model": 0.70, "rfm": 0.75}}, {"churn": "roc_auc"},
    ...               tolerance=0.01)
    (False, 'churn: roc_auc 0.7000 is worse than the rfm baseline (0.7500) by 0.0500 (> baseline tolerance 0.01)')
    >>> baseline_gate({"ltv": {"model": 10.0, "run_rate": 10.05}}, {"ltv": "mae"},
    ...               tolerance=0.01)[0]
    True
    >>> baseline_gate({"churn": {"model": 0.7}}, {"churn": "roc_auc"}, tolerance=0.0)
    (True, 'no baseline was scored (turn the rfm features or baselines on)')
    """
    from repurchase_ml.config import METRIC_HIGHER_IS_BETTER

    worst: list[tuple[float, str]] = []
    beaten: list[str] = []
    for task, values in scores.items():
        metric = metrics[task]
        sign = 1.0 if METRIC_HIGHER_IS_BETTER[metric] else -1.0
        model = values.get("model", float("nan"))
        rivals = {name: v for name, v in values.items() if name != "model" and v == v}
        if not rivals or model != model:
            continue
        best = max(rivals, key=lambda name: sign * rivals[name])
        gap = sign * (rivals[best] - model)
        if gap > tolerance:
            worst.append((gap, f"{task}: {metric} {model:.4f} is worse than the {best} baseline "
                               f"({rivals[best]:.4f}) by {gap:.4f} (> baseline tolerance "
                               f"{tolerance:g})"))
        else:
            beaten.append(f"{task} vs {best} {-gap:+.4f}")
    if worst:
        return False, "; ".join(text for _gap, text in sorted(worst, reverse=True))
    if not beaten:
        return True, "no baseline was scored (turn the rfm features or baselines on)"
    return True, (f"no worse than the best baseline beyond the tolerance of {tolerance:g} "
                  f"({', '.join(beaten)})")


def decide_promotion(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    *,
    min_improvement: float,
    tolerance: float,
    gate: tuple[bool, str] | None = None,
) -> tuple[bool, str]:
    """Apply the promotion rule to primary metrics per task (higher is better).

    A challenger that failed the baseline ``gate`` (see :func:`baseline_gate`)
    is never promoted, not even as the first model. Otherwise promote when
    there is no champion, or when the challenger's mean primary metric beats
    the champion's by more than ``min_improvement`` and no task is worse by
    more than ``tolerance``.

    Examples
    --------
    >>> decide_promotion({"churn": 0.80, "ltv": 0.60}, {"churn": 0.78, "ltv": 0.60},
    ...                  min_improvement=0.005, tolerance=0.01)
    (True, 'challenger beats champion by 0.0100 on average (rule: > 0.005); worst task ltv +0.0000 (tolerance 0.01)')
    >>> decide_promotion({"churn": 0.90, "ltv": 0.50}, {"churn": 0.78, "ltv": 0.60},
    ...                  min_improvement=0.0, tolerance=0.01)[1]
    'ltv is worse by 0.1000 (> tolerance 0.01)'
    >>> decide_promotion({"churn": 0.6}, None, min_improvement=0.0, tolerance=0.01,
    ...                  gate=(False, "churn: roc_auc 0.6000 is worse than the rfm baseline"))
    (False, 'baseline gate: churn: roc_auc 0.6000 is worse than the rfm baseline')
    """
    if gate is not None and not gate[0]:
        return False, f"baseline gate: {gate[1]}"
    promoted, reason = _champion_rule(challenger, champion, min_improvement=min_improvement,
                                      tolerance=tolerance)
    if gate is not None and promoted:
        reason = f"{reason}; {gate[1]}"
    return promoted, reason


def _champion_rule(challenger: dict[str, float], champion: dict[str, float] | None, *,
                   min_improvement: float, tolerance: float) -> tuple[bool, str]:
    """Challenger against champion (see :func:`decide_promotion`)."""
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
    """Train a challenger at the newest cutoffs, compare with the baselines and the champion.

    Steps: hold the project lock; mark runs of earlier retrains that were
    killed as FAILED; read the log; take, per task, the newest
    ``settings.cutoffs.n`` cutoffs its own horizon allows; train one model per
    task out of time (the task's newest cutoff is held out); check the shipped
    scorers against the best baseline on that cutoff (the gate,
    ``promotion.baseline_tolerance``); score challenger and champion with the
    same code on the same rows of that cutoff, leaving out of the rule (with a
    warning) a task with fewer than ``promotion.min_eval_rows`` rows; decide by
    the promotion rule; with ``training.refit`` (default) refit the trees on
    every labelled cutoff; log the run; register the challenger as a new version
    (tagged ``decision=pending``); and only then, if the rule says so, move the
    ``champion`` alias to it. The decision is tagged on the version and the
    run, and stored as ``decision.json``, after the alias has moved. A crash at
    any step before the alias moves leaves the champion untouched; the next
    run marks what the crash left (runs still RUNNING, versions still
    pending) as interrupted. Safe to re-run: when the log (in any row order),
    the settings and the package version hash to the champion's fingerprint,
    the run records "kept" without retraining.

    Raises
    ------
    JobLockedError
        Another run holds the project directory.

    Examples
    --------
    The whole flow on a small synthetic log in a fresh project: the first run
    becomes champion (it passed the baseline gate), an identical re-run keeps
    it without a new version, and the score job and
    :func:`~repurchase_ml.tracking.load_champion` use it.

    >>> import tempfile
    >>> from repurchase_ml.config import load_settings
    >>> from repurchase_ml.tracking import load_champion
    >>> settings = load_settings(overrides={
    ...     "project_dir": tempfile.mkdtemp(), "baselines": False,
    ...     "data": {"synthetic": {"n_customers": 300, "start": "2022-01-01",
    ...                            "end": "2024-01-01", "random_state": 3}},
    ...     "tasks": ["churn", "ltv"], "horizons": {"churn": 30, "ltv": 30},
    ...     "cutoffs": {"n": 5}, "tuning": {"n_estimators": 10},
    ...     "training": {"minimums": {"train_positives": 50, "train_negatives": 50,
    ...                               "eval_rows": 50, "eval_positives": 10,
    ...                               "eval_negatives": 10, "history_days": 30}},
    ...     "promotion": {"baseline_tolerance": 0.1, "min_eval_rows": 50},
    ...     "output": {"report": False}},
    ...     environ={})
    >>> first = run_retrain(settings)
    >>> first.promoted, first.model_version, first.champion_version
    (True, '1', '1')
    >>> sorted(first.challenger_metrics), "rfm" in first.scorecard["churn"]["baselines"]
    (['churn', 'ltv'], True)
    >>> again = run_retrain(settings)
    >>> again.promoted, again.champion_version, "identical data, settings and code" in again.reason
    (False, '1', True)
    >>> scored = run_score(settings, "2024-01-01")
    >>> scored.model_version, scored.n_scored >= scored.n_radar > 0
    ('1', True)
    >>> sorted(Path(p).name for p in scored.paths)
    ['drift_2024-01-01.csv', 'drift_2024-01-01.parquet', 'monitoring_2024-01-01.json',
     'radar_2024-01-01.csv', 'radar_2024-01-01.parquet', 'scores_2024-01-01.csv',
     'scores_2024-01-01.parquet']
    >>> champion = load_champion(settings)
    >>> champion.version, champion.run_id == first.run_id
    ('1', True)
    """
    with retrain_lock(settings.project_path()), _engine_session(settings):
        _fault_point("after_lock")
        return _retrain_locked(settings)


def _streamed(settings: Settings) -> bool:
    """Whether the log stays on the dask workers (``engine: dask`` with ``dask.stream``)."""
    return settings.engine == "dask" and settings.dask.stream


@contextmanager
def _engine_session(settings: Settings) -> Iterator[Any]:
    """The job's Dask client with ``engine: dask`` (see :mod:`repurchase_ml.distributed.jobs`)."""
    if settings.engine != "dask":
        yield None
        return
    from repurchase_ml.distributed.jobs import session

    with session(settings) as client:
        yield client


def _retrain_locked(settings: Settings) -> RetrainResult:
    import mlflow

    from repurchase_ml import tracking
    from repurchase_ml.features import build_training_set
    from repurchase_ml.models.plan import plan_lines
    from repurchase_ml.models.refit import propose_task_cutoffs, refit_on_all_cutoffs

    clock = StageClock("retrain")
    streamed = _streamed(settings)
    # the log is read and validated first: a refused log leaves the project as it was
    with clock.stage("read and validate the log"):
        if streamed:  # on the workers; the job's process holds only the report
            from repurchase_ml.distributed.jobs import streamed_log

            log = streamed_log(settings)
            events, report = None, log.report
        else:
            events, report = load_event_log(settings)
    settings, too_short = _history_gate(settings, report)  # before anything is built
    # each task up to the newest cutoff its own horizon allows, on one feature table
    task_cutoffs = propose_task_cutoffs(events if events is not None else (report.start,
                                                                           report.end),
                                        {t: settings.horizons[t] for t in settings.tasks},
                                        freq=settings.cutoffs.freq, n=settings.cutoffs.n)
    settings, unsplittable = _split_gate(settings, task_cutoffs)  # before anything is built
    too_short.update(unsplittable)
    task_cutoffs = {task: task_cutoffs[task] for task in settings.tasks}
    tracking.configure(settings)
    _recover_interrupted(settings)
    with clock.stage("fingerprint"):
        fingerprint = _fingerprint(events, settings)
    champion = tracking.find_champion(settings)
    if champion is not None and champion.tags.get("fingerprint") == fingerprint:
        return _unchanged(settings, champion, fingerprint)
    trigger = ""
    if settings.monitoring.retrain_when == "triggered":
        from repurchase_ml.monitoring import retrain_trigger

        recorded = tracking.champion_decision(champion) if champion is not None else None
        run_it, why = retrain_trigger(settings, champion, decision=recorded)
        if not run_it:
            return _unchanged(settings, champion, fingerprint,
                              reason="no retrain trigger fired (" + "; ".join(why) + ")")
        trigger = "; ".join(why)
    horizons = {task: settings.horizons[task] for task in settings.tasks}
    cutoffs = sorted({c for found in task_cutoffs.values() for c in found})
    with clock.stage("training set"):
        if streamed:  # sampled per partition; only the kept rows reach this process
            from repurchase_ml.distributed.jobs import streamed_training_set

            training = streamed_training_set(
                log, cutoffs=cutoffs, tasks=list(settings.tasks), spec=_feature_spec(settings),
                horizons=horizons, alive_days=settings.training.alive_days,
                label_cutoffs=task_cutoffs, max_rows=settings.training.max_rows,
                random_state=settings.tuning.random_state)
        elif settings.engine == "dask":  # per customer partition on the cluster; equal result
            from repurchase_ml.distributed.jobs import training_set

            training = training_set(settings, events, cutoffs=cutoffs,
                                    tasks=list(settings.tasks), spec=_feature_spec(settings),
                                    horizons=horizons, alive_days=settings.training.alive_days,
                                    label_cutoffs=task_cutoffs,
                                    max_rows=settings.training.max_rows,
                                    random_state=settings.tuning.random_state)
        else:
            training = build_training_set(events, cutoffs=cutoffs, tasks=settings.tasks,
                                          spec=_feature_spec(settings), horizons=horizons,
                                          alive_days=settings.training.alive_days,
                                          label_cutoffs=task_cutoffs,
                                          max_rows=settings.training.max_rows,
                                          random_state=settings.tuning.random_state)
    if "sampled" in training.attrs and training.attrs["sampled"]["fraction"] < 1:
        sampled = training.attrs["sampled"]
        logger.info("training set: %d of %d (customer, cutoff) rows kept (%.1f %% of each "
                    "cutoff, stratified by label; training.max_rows: %d)", len(training),
                    sampled["rows_before"], 100 * sampled["fraction"], sampled["max_rows"])
    if events is None:  # streamed: the baselines are fitted on the sampled customers' events
        from repurchase_ml.distributed.jobs import streamed_events_of

        with clock.stage("events of the sampled customers"):
            events = streamed_events_of(log, training["customer_id"].to_numpy())
    with clock.stage("train"):
        if settings.engine == "dask" and settings.dask.training == "dask":
            from repurchase_ml.distributed.jobs import train as train_dask

            bundle = train_dask(settings, training,
                                lambda rows: _train(settings, rows, events, horizons))
        else:
            bundle = _train(settings, training, events, horizons)
    bundle.skipped.update(too_short)
    plan = bundle.plan.to_dict() if bundle.plan is not None else {}
    _fault_point("after_train")
    test_cutoffs = {task: split["test"] for task, split in bundle.cutoffs.items()}
    eval_rows = _test_rows(training, test_cutoffs)  # each task's own newest labelled rows
    eval_cutoff = max(test_cutoffs.values())
    spec = pinned_spec(_feature_spec(settings), bundle.feature_names)
    with clock.stage("served model"):
        served = tracking.make_served_model(
            bundle, training, spec=spec, top_reasons=settings.output.top_reasons,
            reference_rows_per_cutoff=settings.monitoring.reference_rows_per_cutoff)
    with clock.stage("challenger and champion on the test cutoff"):
        challenger_cards = _evaluate_at(served, eval_rows, events)
        champion_cards: dict[str, dict[str, float]] | None = None
        if champion is not None:
            champion_cards = _evaluate_at(champion.served, eval_rows, events)
    primary = settings.promotion.primary_metric
    excluded = _too_few_rows(challenger_cards, settings.promotion.min_eval_rows)
    chal_primary = _primary(_without(challenger_cards, excluded), primary)
    champ_primary = (None if champion_cards is None
                     else _primary(_without(champion_cards, excluded), primary))
    test_scores = _without(_test_primary(bundle, primary), excluded)
    gate = baseline_gate(test_scores, primary, tolerance=settings.promotion.baseline_tolerance)
    promoted, reason = decide_promotion(chal_primary, champ_primary,
                                        min_improvement=settings.promotion.min_improvement,
                                        tolerance=settings.promotion.tolerance, gate=gate)
    lost = sorted(set(bundle.skipped) & set(champ_primary or {}))
    if promoted and lost:
        promoted, reason = False, (
            f"the champion serves {', '.join(lost)}, which this run's training plan refused "
            "(see plan.txt); the champion stays")
    scorecard = _scorecard(settings, challenger_cards, champion_cards, test_scores)
    choice = _choice(bundle)
    churn_cutoff = test_cutoffs.get("churn", eval_cutoff)
    with clock.stage("radar on the test cutoff"):
        radar_scores = _radar_metrics(settings, bundle,
                                      eval_rows[eval_rows["cutoff"] == churn_cutoff]
                                      .reset_index(drop=True), churn_cutoff)
    registered = served  # the run logs the tested model's numbers and plots; this one serves
    if settings.training.refit:  # after every out-of-time number above has been taken
        with clock.stage("refit on every labelled cutoff"):
            registered = tracking.make_served_model(refit_on_all_cutoffs(bundle, training),
                                                    training, spec=spec,
                                                    top_reasons=settings.output.top_reasons)
    decision = {
        "promoted": promoted, "reason": reason, "evaluation_cutoff": str(eval_cutoff.date()),
        "evaluation_cutoffs": {t: str(c.date()) for t, c in test_cutoffs.items()},
        "left_out_of_promotion": excluded, "refit_on_all_cutoffs": settings.training.refit,
        "primary_metric": {t: primary[t] for t in settings.tasks},
        "challenger": chal_primary, "champion": champ_primary,
        "baseline_gate": {"passed": gate[0], "reason": gate[1],
                          "tolerance": settings.promotion.baseline_tolerance},
        "scorecard": scorecard, "choice": choice, "radar_metrics": radar_scores,
        "champion_version_before": None if champion is None else champion.version,
        "fingerprint": fingerprint, "skipped": dict(bundle.skipped),
        "trigger": trigger or settings.monitoring.retrain_when,
    }
    logger.info("decision: %s (%s)", "promote" if promoted else "keep the champion", reason)
    client = mlflow.MlflowClient()
    with mlflow.start_run(run_name=f"retrain {eval_cutoff.date()}") as run, _failure_tagged():
        tracking.set_run_tags({**_job_tags(), "decision": "pending", "fingerprint": fingerprint,
                               "evaluation_cutoff": eval_cutoff.date(),
                               "retrain_trigger": (trigger or "always")[:500]})
        with clock.stage("log the run"):
            tracking.log_training_run(settings, bundle=bundle, served=served, report=report,
                                      cutoffs=cutoffs, training=training, eval_rows=eval_rows,
                                      challenger=challenger_cards, champion=champion_cards)
            mlflow.log_metrics({f"radar/{k}": v for k, v in radar_scores.items()})
            if choice:
                mlflow.log_dict(choice, "choice.json")
            if plan:
                mlflow.log_dict(plan, "plan.json")
                mlflow.log_text("\n".join(plan_lines(plan)) + "\n", "plan.txt")
        with clock.stage("log the served model"):
            info = tracking.log_served_model(registered, example=eval_rows)
        _fault_point("after_log")
        version = tracking.register(settings, info.model_uri, tags={
            "decision": "pending", "fingerprint": fingerprint,
            "evaluation_cutoff": str(eval_cutoff.date()), "run_id": run.info.run_id})
        _fault_point("after_register")
        if promoted:
            tracking.promote(settings, version)  # the one step that changes the champion
        _fault_point("after_promote")
        verdict = "promoted" if promoted else "kept"
        client.set_model_version_tag(settings.tracking.model_name, version, "decision", verdict)
        decision["challenger_version"] = version
        decision["stages"] = clock.records
        mlflow.log_dict(decision, "decision.json")
        mlflow.log_metrics(clock.metrics())
        tracking.set_run_tags({"decision": verdict, "decision_reason": reason})
    return RetrainResult(
        run_id=run.info.run_id, model_version=version, promoted=promoted, reason=reason,
        champion_version=version if promoted else (champion.version if champion else ""),
        evaluation_cutoff=str(eval_cutoff.date()),
        challenger_metrics=chal_primary, champion_metrics=champ_primary or {},
        scorecard=scorecard, choice=choice, radar_metrics=radar_scores,
        plan=plan, skipped=dict(bundle.skipped), left_out_of_promotion=excluded,
        stages=clock.records,
    )


def _train(settings: Settings, training: pd.DataFrame, events: pd.DataFrame,
           horizons: dict[str, int]) -> Any:
    """``train_models`` with the settings' tasks, tuning and training options."""
    from repurchase_ml.models import train_models

    tuning = settings.tuning
    return train_models(  # logs the plan first; refuses tasks below training.minimums
        training, tasks=list(settings.tasks), horizons=horizons,
        events=events if settings.baselines else None,
        tune=tuning.n_trials > 0, n_trials=max(tuning.n_trials, 1),
        timeout=tuning.timeout_seconds, n_estimators=tuning.n_estimators,
        random_state=tuning.random_state,
        minimums=settings.training.training_minimums(),
        on_insufficient=settings.training.on_insufficient,
        alive_days=settings.training.alive_days, candidates=settings.training.candidates,
        threads=settings.training.threads,
    )


def _history_gate(settings: Settings, report: ValidationReport) -> tuple[Settings, dict[str, str]]:
    """Refuse tasks the log is too short for before anything is built (``training`` settings).

    Returns the settings without the refused tasks and the refusals
    (``on_insufficient: skip``); ``raise`` (or nothing left) raises, ``warn`` logs.
    """
    from repurchase_ml.models.plan import history_shortfalls

    if report.start is None or report.end is None:
        return settings, {}
    span = (pd.Timestamp(report.end) - pd.Timestamp(report.start)) / pd.Timedelta(days=1)
    short = history_shortfalls(span, tasks=settings.tasks, horizons=settings.horizons,
                               minimums=settings.training.training_minimums(),
                               alive_days=settings.training.alive_days)
    return _refuse(settings, short)


def _split_gate(settings: Settings, task_cutoffs: Mapping[str, list[pd.Timestamp]]
                ) -> tuple[Settings, dict[str, str]]:
    """Refuse tasks whose cutoffs allow no out-of-time split, before anything is built."""
    from repurchase_ml.models.plan import split_shortfalls

    return _refuse(settings, split_shortfalls(task_cutoffs, horizons=settings.horizons))


def _refuse(settings: Settings, short: dict[str, str]) -> tuple[Settings, dict[str, str]]:
    """Apply ``training.on_insufficient`` to refused tasks: skip them, raise, or warn and go on."""
    from repurchase_ml.models.plan import TrainingPlanError

    policy = settings.training.on_insufficient
    if not short or policy == "warn":
        for message in short.values():
            logger.warning("training anyway (training.on_insufficient: warn): %s", message)
        return settings, {}
    left = tuple(t for t in settings.tasks if t not in short)
    if policy == "raise" or not left:
        raise TrainingPlanError(" ".join(short.values()))
    for message in short.values():
        logger.warning("skipped: %s", message)
    return settings.model_copy(update={"tasks": left}), short


@contextmanager
def _failure_tagged() -> Iterator[None]:
    """Tag the active run ``decision=failed``, with the error, when the body raises."""
    try:
        yield
    except Exception as exc:
        import mlflow

        with suppress(Exception):  # the store itself may be what failed
            mlflow.set_tags({"decision": "failed",
                             "decision_reason": f"{type(exc).__name__}: {exc}"[:500]})
        raise


def _job_tags() -> dict[str, Any]:
    """Which process runs a job, so the next run can tell a killed run from a live one."""
    return {"job.pid": os.getpid(), "job.host": socket.gethostname()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recover_interrupted(settings: Settings) -> list[str]:
    """Close what killed retrains left behind; return the ids of the runs marked FAILED.

    Called with the project lock held, so no other retrain of this project is
    running: runs still RUNNING whose process (on this host) is gone are set to
    FAILED and tagged ``decision=interrupted``; versions still tagged
    ``decision=pending`` become ``promoted`` when the alias reached them
    before the crash (the alias move is the commit point) and ``interrupted``
    otherwise.
    """
    import mlflow

    from repurchase_ml import tracking

    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name(settings.tracking.experiment)
    failed: list[str] = []
    if experiment is not None:
        for run in client.search_runs([experiment.experiment_id],
                                      filter_string="attributes.status = 'RUNNING'"):
            tags = run.data.tags
            pid = tags.get("job.pid", "")
            if tags.get("job.host") != socket.gethostname() or not pid.isdigit() \
                    or _process_alive(int(pid)):
                continue
            logger.warning("run %s (pid %s) was killed before it finished; marking it FAILED",
                           run.info.run_id, pid)
            client.set_tag(run.info.run_id, "decision", "interrupted")
            client.set_terminated(run.info.run_id, status="FAILED")
            failed.append(run.info.run_id)
    name = settings.tracking.model_name
    champion = tracking.champion_version(settings)
    for version in client.search_model_versions(f"name='{name}'"):
        if (version.tags or {}).get("decision") != "pending":
            continue
        verdict = "promoted" if str(version.version) == champion else "interrupted"
        logger.warning("version %s of %s was left pending by a killed run; tagging it %s",
                       version.version, name, verdict)
        client.set_model_version_tag(name, str(version.version), "decision", verdict)
    return failed


def _test_primary(bundle: Any, primary: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Per task: the primary metric of the shipped scorer and each baseline on the test rows."""
    out: dict[str, dict[str, float]] = {}
    for task, cards in bundle.scorecards.items():
        if "model" not in cards:
            continue
        metric = primary[task]
        out[task] = {name: float(card.metrics.get(metric, float("nan")))
                     for name, card in cards.items()
                     if name == "model" or (name not in _CANDIDATE_SCORERS
                                            and "p_alive" not in name)}
    return out


def _scorecard(settings: Settings, challenger: dict[str, dict[str, float]],
               champion: dict[str, dict[str, float]] | None,
               test_scores: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per task, the numbers behind the decision, in each metric's own direction."""
    nan = float("nan")
    table: dict[str, dict[str, Any]] = {}
    for task in settings.tasks:
        metric = settings.promotion.primary_metric[task]
        on_test = test_scores.get(task, {})
        table[task] = {
            "metric": metric,
            "challenger": challenger.get(task, {}).get(metric, nan),
            "champion": (champion or {}).get(task, {}).get(metric, nan),
            "shipped_on_test": on_test.get("model", nan),
            "baselines": {k: v for k, v in on_test.items() if k != "model"},
        }
    return table


def _choice(bundle: Any) -> dict[str, Any]:
    """What training chose per task and why (``bundle.choice``), as plain data."""
    choice = getattr(bundle, "choice", None) or {}
    return json.loads(json.dumps(
        {task: (dataclasses.asdict(value) if dataclasses.is_dataclass(value)
                and not isinstance(value, type) else value)
         for task, value in choice.items()}, default=str))


def _radar_metrics(settings: Settings, bundle: Any, eval_rows: pd.DataFrame,
                   cutoff: pd.Timestamp) -> dict[str, float]:
    """Precision and lift of the radar's top decile against realised churn at ``cutoff``.

    The whole list in the configured order (``radar.rank_by``, ``risk_floor``,
    ``action_table``), with ``radar.top_k`` as the metrics' ``k``. Empty when
    the radar cannot be built (no churn or LTV model).
    """
    from repurchase_ml.radar import evaluate_radar

    if not {"churn", "ltv"} <= set(bundle.models) or "label_churn" not in eval_rows:
        return {}
    labelled = eval_rows[eval_rows["label_churn"].notna()].reset_index(drop=True)
    options = settings.radar.options()
    try:
        metrics = evaluate_radar(bundle, labelled, cutoff=cutoff, top_fraction=0.1,
                                 top_k=options["top_k"],
                                 **{k: options[k] for k in ("rank_by", "risk_floor",
                                                            "action_table")})
    except ValueError as exc:  # SchemaError included: e.g. no customer alive at the cutoff
        logger.warning("radar metrics skipped at %s: %s", cutoff.date(), exc)
        return {}
    return {k: float(v) for k, v in metrics.items()}


def scorecard_lines(result: Mapping[str, Any]) -> list[str]:
    """The scorecard of a retrain result as console lines (one per task), then the choices.

    A task with no number at all (refused by the training plan and not served
    by the champion) gets no line: the console names it once, as refused.

    Examples
    --------
    >>> scorecard_lines({"scorecard": {"churn": {"metric": "roc_auc", "challenger": 0.8,
    ...     "champion": float("nan"), "shipped_on_test": 0.8, "baselines": {"rfm": 0.75}}},
    ...     "choice": {"churn": {"chosen": "blend", "reason": "best validation roc_auc"}},
    ...     "radar_metrics": {}})
    ['churn      roc_auc  challenger 0.8000  champion -  baselines: rfm 0.7500', 'churn      ships blend (best validation roc_auc)']
    >>> scorecard_lines({"scorecard": {"second_purchase": {"metric": "roc_auc",
    ...     "challenger": float("nan"), "champion": float("nan"), "baselines": {}}}})
    []
    """
    def fmt(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) and value == value else "-"

    lines = []
    for task, row in (result.get("scorecard") or {}).items():
        if not row["baselines"] and fmt(row["challenger"]) == fmt(row["champion"]) == "-":
            continue
        rivals = ", ".join(f"{k} {fmt(v)}" for k, v in row["baselines"].items()) or "none"
        lines.append(f"{task:<10} {row['metric']:<8} challenger {fmt(row['challenger'])}  "
                     f"champion {fmt(row['champion'])}  baselines: {rivals}")
    for task, why in (result.get("choice") or {}).items():
        if isinstance(why, Mapping) and "chosen" in why:
            text = f"{why['chosen']} ({why.get('reason', 'no reason given')})"
        else:
            text = json.dumps(why, default=str)
        lines.append(f"{task:<10} ships {text}")
    radar_scores = result.get("radar_metrics") or {}
    if "precision_top_fraction" in radar_scores:
        lines.append(f"radar top decile: precision {fmt(radar_scores['precision_top_fraction'])}"
                     f", lift {fmt(radar_scores.get('lift_top_fraction'))} against realised "
                     "churn")
    return lines


def _unchanged(settings: Settings, champion: Any, fingerprint: str,
               reason: str | None = None) -> RetrainResult:
    """Record a run that keeps the champion: nothing changed, or no retrain trigger fired."""
    import mlflow

    from repurchase_ml import tracking

    reason = reason or (f"the champion (version {champion.version}) was trained on identical "
                        f"data, settings and code (fingerprint {fingerprint}); nothing to retrain")
    logger.info("decision: keep the champion (%s)", reason)
    with mlflow.start_run(run_name="retrain (unchanged)") as run:
        tracking.log_settings(settings)
        tracking.set_run_tags({**_job_tags(), "decision": "kept", "decision_reason": reason,
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


def _test_rows(training: pd.DataFrame, test_cutoffs: Mapping[str, pd.Timestamp]) -> pd.DataFrame:
    """The rows of every task's test cutoff, each ``label_<task>`` kept at its own cutoff only.

    Examples
    --------
    >>> ts = pd.DataFrame({"customer_id": [1, 1, 1], "cutoff": pd.to_datetime(
    ...     ["2024-01-01", "2024-02-01", "2024-03-01"]), "label_ltv": [5.0, 6.0, None],
    ...     "label_repurchase": [1.0, 0.0, 1.0]})
    >>> _test_rows(ts, {"ltv": pd.Timestamp("2024-02-01"), "repurchase": pd.Timestamp("2024-03-01")})
       customer_id     cutoff  label_ltv  label_repurchase
    0            1 2024-02-01        6.0               NaN
    1            1 2024-03-01        NaN               1.0
    """
    cut = pd.to_datetime(training["cutoff"])
    rows = training[cut.isin(set(test_cutoffs.values()))].reset_index(drop=True)
    for task, cutoff in test_cutoffs.items():
        rows.loc[pd.to_datetime(rows["cutoff"]) != cutoff, f"label_{task}"] = float("nan")
    return rows


def _evaluate_at(served: Any, rows: pd.DataFrame, events: pd.DataFrame
                 ) -> dict[str, dict[str, float]]:
    """:func:`evaluate_served` per test cutoff of :func:`_test_rows` (each task at its own).

    Challenger and champion are judged on the same rows with the same code;
    rows are rebuilt in the served model's feature schema when it differs.
    """
    cards: dict[str, dict[str, float]] = {}
    tasks = [str(c).removeprefix("label_") for c in rows if str(c).startswith("label_")]
    for cutoff, part in rows.groupby("cutoff", sort=True):
        stamp = pd.Timestamp(cutoff)
        labelled = [t for t in tasks if part[f"label_{t}"].notna().any()]
        cards.update(evaluate_served(served, _rows_for(served, part.reset_index(drop=True),
                                                       events, stamp), tasks=labelled))
    return cards


def _too_few_rows(cards: Mapping[str, Mapping[str, float]], min_rows: int) -> dict[str, str]:
    """Tasks evaluated on fewer than ``min_rows`` rows, each with the reason (logged).

    Examples
    --------
    >>> _too_few_rows({"churn": {"n_rows": 900.0}, "second_purchase": {"n_rows": 10.0}}, 200)
    {'second_purchase': 'evaluated on 10 rows, fewer than promotion.min_eval_rows (200): left out of the promotion rule'}
    """
    out = {}
    for task, card in cards.items():
        n_rows = int(card.get("n_rows", 0))
        if n_rows < min_rows:
            out[task] = (f"evaluated on {n_rows} rows, fewer than promotion.min_eval_rows "
                         f"({min_rows}): left out of the promotion rule")
            logger.warning("task %s: %s", task, out[task])
    return out


def _without(table: dict[str, Any], tasks: Mapping[str, Any]) -> dict[str, Any]:
    return {task: value for task, value in table.items() if task not in tasks}


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
    """Where the score job wrote, how many customers it scored, and anything to know."""

    as_of: str
    model_version: str
    n_scored: int
    n_radar: int
    paths: list[str]
    notes: list[str] = field(default_factory=list)
    #: columns the drift table flags (``monitoring`` settings; ``score --fail-on-drift``)
    drift_flagged: list[str] = field(default_factory=list)
    #: wall and CPU seconds and peak memory (GB) per stage of this run (:class:`StageClock`)
    stages: list[dict[str, Any]] = field(default_factory=list)


def _check_as_of_in_data(cutoff: pd.Timestamp, report: ValidationReport,
                         max_days: int) -> None:
    """Refuse an as-of date before the log starts or long after its last event."""
    if report.start is None or report.end is None:
        raise ValueError("as_of: the event log holds no events; there is nothing to score")
    if cutoff <= report.start:
        raise ValueError(f"as_of: {cutoff.date()} is not after the first event "
                         f"({report.start}); no customer has history before it")
    gap = (cutoff - pd.Timestamp(report.end)) / pd.Timedelta(days=1)
    if gap > max_days:
        raise ValueError(
            f"as_of: {cutoff.date()} is {gap:.0f} days after the log's last event "
            f"({pd.Timestamp(report.end).date()}); scores there would only say that nobody "
            f"has bought for {gap:.0f} days. Fix: score at or before "
            f"{(pd.Timestamp(report.end) + pd.Timedelta(days=max_days)).date()}, give a newer "
            f"log, or raise data.max_days_after_last_event (now {max_days})")


def _remove_stale_temp_files(folder: Path, *, older_than: float = _STALE_TEMP_SECONDS) -> int:
    """Delete hidden ``.<name>.*.tmp`` files of ``_io.atomic_write`` left by killed runs.

    Only files older than ``older_than`` seconds go: a live run's temp file
    exists for the seconds it takes to write one output.
    """
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for path in folder.glob(".*.tmp"):
        try:
            if now - path.stat().st_mtime > older_than:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another run removed or renamed it meanwhile
            continue
    if removed:
        logger.info("removed %d temp file(s) left in %s by earlier runs", removed, folder)
    return removed


def run_score(settings: Settings, as_of: str | pd.Timestamp) -> ScoreResult:
    """Score every customer at ``as_of`` with the champion and write scores and radar.

    Only events before ``as_of`` are read: the features (built with the
    champion's pinned feature spec, so a log that later gains views scores
    the same), the radar and the report. A feature table whose columns or
    types differ from the champion's is refused with a diff
    (:class:`~repurchase_ml.errors.SchemaError`). An ``as_of`` more than
    ``data.max_days_after_last_event`` days after the log's last event is
    refused. Every customer is scored without reasons (SHAP contributions
    for every row would cost more than all the scores): the radar carries
    the reasons of its top ``radar.explain_top`` rows; the served model
    (``output.top_reasons`` per request) gives them for any rows asked. With
    ``engine: dask`` and ``dask.stream`` the log stays on the workers: this
    process receives every score and the radar's rows, and draws monitoring
    and the report from a hash sample of customers (docs/scale.md).

    Everything is computed before anything is written, so a failing run
    changes nothing; then ``settings.output_path()`` receives ``scores_<date>``
    and ``radar_<date>`` (CSV and Parquet) and, with ``output.report``, the
    HTML report ``report_<date>.html``, each written atomically. An empty
    radar is reported in ``notes`` and gets no report. Temp files that killed
    runs left in the folder are removed.

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
    from repurchase_ml.radar import parse_as_of

    cutoff = parse_as_of(as_of)
    clock = StageClock("score")
    tracking.configure(settings)
    with clock.stage("load the champion"):
        champion = tracking.load_champion(settings)
    with _engine_session(settings):  # no cluster before the champion is found
        return _score(settings, cutoff, champion, clock)


def _score(settings: Settings, cutoff: pd.Timestamp, champion: Any,
           clock: StageClock) -> ScoreResult:
    """:func:`run_score` within the engine's session."""
    from repurchase_ml.features import build_features
    from repurchase_ml.radar import radar_from_scores, write_radar

    streamed = _streamed(settings)
    with clock.stage("read and validate the log"):
        if streamed:  # on the workers; this process holds only the report
            from repurchase_ml.distributed.jobs import streamed_log

            log = streamed_log(settings)
            report = log.report
        else:
            events, report = load_event_log(settings)
    _check_as_of_in_data(cutoff, report, settings.data.max_days_after_last_event)
    if not streamed:
        before = (events["timestamp"] < cutoff).to_numpy()
        # the log is held once: as it is when every event is before as_of, else only its past
        history = events if before.all() else events[before].reset_index(drop=True)
        del events, before
    spec = pinned_spec(champion.spec, champion.served.features)
    served = dataclasses.replace(champion.served, spec=spec)
    champion = dataclasses.replace(champion, served=served)
    score_parts = None
    # monitoring and the report read every customer's rows, or a sample when streamed
    monitored: tuple[pd.DataFrame, pd.DataFrame] | None = None
    if streamed:
        from repurchase_ml._frames import SUMMARY_ROWS
        from repurchase_ml.distributed.jobs import streamed_scores

        with clock.stage("features and scores"):
            out = streamed_scores(log, scorer=champion, as_of=cutoff, spec=spec,
                                  max_days_after_data=settings.data.max_days_after_last_event,
                                  sample_customers=SUMMARY_ROWS)
        features, scores, score_parts = out.alive_features, out.scores, out.parts
        history, monitored = out.sample_events, (out.sample_features, out.sample_scores)
        logger.info("engine dask: %d customers scored; the radar reads the %d alive, "
                    "monitoring and the report a sample of %d", len(scores), len(features),
                    len(out.sample_features))
        del out
    elif settings.engine == "dask":  # per customer partition on the cluster; equal result
        from repurchase_ml.distributed.jobs import features_and_scores

        with clock.stage("features and scores"):
            features, scores, score_parts = features_and_scores(
                settings, history, as_of=cutoff, spec=spec, champion=champion,
                max_days_after_data=settings.data.max_days_after_last_event, reasons=False)
    else:
        with clock.stage("features"):
            features = build_features(history, cutoffs=[cutoff], spec=spec,
                                      max_days_after_data=settings.data.max_days_after_last_event)
        with clock.stage("scores"):
            scores = champion.score(features, reasons=False)
    horizon = {"horizon_days": served.bundle.horizons["churn"]} \
        if "churn" in served.bundle.horizons else {}
    with clock.stage("radar"):
        radar = radar_from_scores(scores, features=features, as_of=cutoff,
                                  churn_model=served.bundle.models.get("churn"),
                                  random_state=settings.tuning.random_state,
                                  language=settings.report.language,
                                  **settings.radar.options(), **horizon)
    from repurchase_ml.monitoring.runs import score_monitoring, write_score_monitoring

    with clock.stage("monitoring"):
        monitor = score_monitoring(settings, served,
                                   *(monitored if monitored is not None else (features, scores)),
                                   cutoff)
    out = settings.output_path()
    stamp = cutoff.strftime("%Y-%m-%d")
    notes = list(monitor["notes"])
    page = None
    if radar.empty:
        notes.append(f"the radar is empty: no customer bought in the year before {stamp}; "
                     "no report was written")
        logger.warning(notes[-1])
    elif settings.output.report:
        with clock.stage("report"):
            page = _report_page(settings, champion, history, cutoff, radar=radar, spec=spec,
                                drift=monitor["drift"],
                                features=features if monitored is None else monitored[0])
    _remove_stale_temp_files(out)
    paths = []
    with clock.stage("write the outputs"):
        for name, frame in (("scores", scores), ("radar", radar)):
            written = write_radar(frame, out / f"{name}_{stamp}")
            paths += [str(written["csv"]), str(written["parquet"])]
        if score_parts is not None:  # the workers' scores, one Parquet file per partition
            from repurchase_ml.distributed.jobs import write_score_parts

            paths.append(str(write_score_parts(score_parts, out / f"scores_{stamp}.parts")))
        if page is not None:
            paths.append(str(write_text_atomic(out / f"report_{stamp}.html", page)))
    monitor["stages"] = clock.records
    paths += write_score_monitoring(settings, monitor, stamp=stamp,
                                    model_version=str(champion.version),
                                    horizons=dict(served.bundle.horizons))
    logger.info("scored %d customers at %s with %s version %s", len(scores), stamp,
                settings.tracking.model_name, champion.version)
    return ScoreResult(as_of=stamp, model_version=champion.version, n_scored=len(scores),
                       n_radar=len(radar), paths=paths, notes=notes,
                       drift_flagged=monitor["flagged"], stages=clock.records)


def _report_page(settings: Settings, champion: Any, events: pd.DataFrame, cutoff: pd.Timestamp,
                 *, radar: pd.DataFrame, spec: Any, drift: Any = False,
                 features: pd.DataFrame | None = None) -> str:
    """The champion's HTML report at ``cutoff`` around ``radar``, in the configured language.

    Monitoring and the campaign read-out come from the outputs folder; the score job
    passes its ``drift`` table (None: no reference), written only after the page, and
    its feature table at ``cutoff`` (the drivers' rows). Curves and drivers are drawn
    from a fixed sample of customers seeded with ``tuning.random_state``
    (:func:`~repurchase_ml.report.bundle_report_inputs`).
    """
    from repurchase_ml import tracking
    from repurchase_ml.report import build_report, bundle_report_inputs, output_report_inputs

    stamp = cutoff.strftime("%Y-%m-%d")
    inputs = bundle_report_inputs(champion.served.bundle, events, as_of=cutoff, radar=radar,
                                  spec=spec, features=features,
                                  random_state=settings.tuning.random_state)
    inputs["model"] = {**inputs["model"], "name": settings.tracking.model_name,
                       "version": champion.version}
    title = f"{settings.tracking.model_name} version {champion.version}: customers at {stamp}"
    if settings.report.language != "en":
        from repurchase_ml.i18n import text

        title = text("report.title_model", settings.report.language,
                     name=settings.tracking.model_name, version=champion.version, date=stamp)
    analytics = settings.output_path() / f"analytics_{stamp}.html"  # `repurchase-ml analyze`
    extras = output_report_inputs(settings.output_path(), as_of=cutoff)
    if drift is not False:
        extras["monitoring"]["drift"] = pd.DataFrame() if drift is None else drift
    return build_report(title=title, decision=tracking.champion_decision(champion),
                        radar_csv=f"radar_{stamp}.csv", extras=extras,
                        analytics_href=analytics.name if analytics.exists() else None,
                        **settings.report.options(), **inputs)


def run_evaluate(settings: Settings, as_of: Any) -> Any:
    """The ``evaluate`` command: realised performance of earlier scores whose horizon has passed.

    Loads the configured log and the champion's pinned feature spec, then
    :func:`repurchase_ml.monitoring.runs.evaluate_scores` joins each stored
    score file with what happened (events before ``as_of`` only), logs the
    realised scorecard to MLflow and appends it to ``performance_history``.
    """
    from repurchase_ml import tracking
    from repurchase_ml.monitoring.runs import evaluate_scores

    def load() -> tuple[pd.DataFrame, ValidationReport, Any]:
        events, report = load_event_log(settings)
        tracking.configure(settings)
        champion = tracking.find_champion(settings)
        spec = (pinned_spec(champion.spec, champion.served.features) if champion is not None
                else None)
        return events, report, spec

    return evaluate_scores(settings, as_of, load=load)


def run_report(settings: Settings, *, as_of: pd.Timestamp | str,
               path: str | os.PathLike[str] | None = None) -> Path:
    """Write the champion's report for a date already scored (``repurchase-ml report``).

    The score job writes the report beside the scores when ``output.report``
    is on; this rebuilds it on its own (another path, another language, a
    newer champion's scorecards, or with ``output.report`` off), around the
    radar the score job wrote for that date (``radar_<date>.parquet`` in the
    output folder), so the report always shows the list CRM got.

    Parameters
    ----------
    settings : repurchase_ml.config.Settings
        Resolved settings (data source, tracking store, output folder, ``report`` options).
    as_of : pandas.Timestamp or str
        A date the score job has run for.
    path : path-like, optional
        Where to write; default ``<output folder>/report_<date>.html``.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    FileNotFoundError
        When there is no radar for ``as_of`` yet.
    """
    from repurchase_ml import tracking
    from repurchase_ml.radar import parse_as_of

    cutoff = parse_as_of(as_of)
    stamp = cutoff.strftime("%Y-%m-%d")
    radar_path = settings.output_path() / f"radar_{stamp}.parquet"
    if not radar_path.exists():
        raise FileNotFoundError(
            f"as_of {stamp}: no radar at {radar_path}. Fix: run `repurchase-ml score --as-of "
            f"{stamp}` first (with output.report on it writes this report too).")
    radar = pd.read_parquet(radar_path)
    tracking.configure(settings)
    champion = tracking.load_champion(settings)
    events, _report = load_event_log(settings)
    page = _report_page(settings, champion, events, cutoff, radar=radar, spec=champion.spec)
    target = Path(path) if path is not None else settings.output_path() / f"report_{stamp}.html"
    if target.suffix.lower() not in {".html", ".htm"}:
        raise ValueError(f"path {str(path)!r}: the report is HTML, use a .html suffix.")
    return write_text_atomic(target, page)


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

