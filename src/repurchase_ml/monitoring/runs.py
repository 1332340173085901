"""Monitoring inside the jobs: drift and estimates at scoring time, realised performance later.

The score job calls :func:`score_monitoring` (computed before anything is
written) and :func:`write_score_monitoring` (files next to the scores, and a
run in the ``<experiment>-monitoring`` MLflow experiment);
``repurchase-ml evaluate --as-of DATE`` runs :func:`run_evaluate`; the
retrain job asks :func:`retrain_trigger` whether it should run at all. The
report reads :func:`drift_summary` and :func:`performance_history`.

Files in the outputs folder, per scoring date ``D``:

- ``drift_D.csv`` / ``.parquet``: the drift table (:func:`~repurchase_ml.monitoring.drift_report`);
- ``monitoring_D.json``: the model version that scored, its horizons, the
  flagged columns and the estimated performance per classification task;

and once: ``performance_history.csv`` / ``.parquet``, one row per scored
date, task and metric, realised beside estimated.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from repurchase_ml._io import write_frame_atomic, write_text_atomic
from repurchase_ml.monitoring.drift import (
    DriftThresholds,
    drift_report,
    flagged_columns,
)
from repurchase_ml.monitoring.performance import (
    HISTORY_COLUMNS,
    estimated_performance,
    realised_scorecard,
    task_population,
)
from repurchase_ml.monitoring.reference import SEGMENT_COLUMN, segments_of

if TYPE_CHECKING:
    from repurchase_ml.config import Settings

__all__ = [
    "EvaluateResult",
    "score_monitoring",
    "write_score_monitoring",
    "evaluate_scores",
    "retrain_trigger",
    "drift_summary",
    "performance_history",
    "MONITORING_EXPERIMENT_SUFFIX",
]

logger = logging.getLogger(__name__)

#: monitoring runs go to their own experiment, beside the retrain runs
MONITORING_EXPERIMENT_SUFFIX = "-monitoring"
_HISTORY = "performance_history"
_STAMP = re.compile(r"^scores_(\d{4}-\d{2}-\d{2})\.parquet$")


def score_monitoring(settings: Settings, served: Any, features: pd.DataFrame,
                     scores: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, Any]:
    """Drift table and estimated performance of one scoring run (nothing written yet)."""
    from repurchase_ml.models.training import OUTPUT_COLUMNS, TASK_KINDS

    out: dict[str, Any] = {"drift": None, "estimated": {}, "flagged": [], "notes": []}
    reference = getattr(served, "drift_reference", None)
    calibration = getattr(reference, "calibration", None) or {}
    for task, column in OUTPUT_COLUMNS.items():
        if column in scores and TASK_KINDS[task] == "classification":
            # the rows the realised metric will cover: the task's population
            keep = task_population(task, features, alive_days=settings.training.alive_days)
            p = scores[column].to_numpy(dtype=float)[keep]
            if len(p) and np.isfinite(p).all():
                out["estimated"][task] = estimated_performance(p,
                                                               calibration=calibration.get(task))
    if not settings.monitoring.drift:
        return out
    if reference is None:
        out["notes"].append("the champion carries no drift reference (trained before drift "
                            "monitoring existed); retrain to monitor drift")
        return out
    # columns by name, no copy of the scored table (a million rows at scale)
    current: dict[str, Any] = {c: features[c].to_numpy() for c in reference.groups
                               if reference.groups[c] == "feature" and c in features}
    current.update({c: scores[c].to_numpy() for c in reference.groups
                    if reference.groups[c] == "score" and c in scores})
    if SEGMENT_COLUMN in reference.groups:
        stage = segments_of(features)
        current[SEGMENT_COLUMN] = (stage.to_numpy() if stage is not None
                                   else np.full(len(features), None, dtype=object))
    table = drift_report(reference, current, as_of=as_of,
                         thresholds=DriftThresholds(
                             psi=settings.monitoring.psi, missing=settings.monitoring.missing,
                             new_category=settings.monitoring.new_category))
    out["drift"] = table
    out["flagged"] = flagged_columns(table)
    if out["flagged"]:
        logger.warning("drift at %s: %d column(s) flagged: %s", as_of.date(),
                       len(out["flagged"]), ", ".join(out["flagged"][:10]))
    return out


def _monitoring_experiment(settings: Settings) -> str:
    import mlflow

    name = settings.tracking.experiment + MONITORING_EXPERIMENT_SUFFIX
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=_artifacts(settings, name)))


def _artifacts(settings: Settings, name: str) -> str | None:
    root = settings.artifact_location()
    return None if root is None else f"{root.rstrip('/')}/{name}"


def write_score_monitoring(settings: Settings, monitor: dict[str, Any], *, stamp: str,
                           model_version: str, horizons: dict[str, int]) -> list[str]:
    """Write the drift table and ``monitoring_<date>.json``; log both to MLflow. Return paths."""
    import mlflow

    from repurchase_ml._stages import stage_metrics

    out = settings.output_path()
    paths: list[str] = []
    table = monitor["drift"]
    if table is not None:
        paths.append(str(write_frame_atomic(table, out / f"drift_{stamp}.parquet")))
        paths.append(str(write_text_atomic(out / f"drift_{stamp}.csv",
                                           table.to_csv(index=False))))
    record = {"scored_at": stamp, "model_version": model_version, "horizons": horizons,
              "drift_flagged": monitor["flagged"], "estimated": monitor["estimated"],
              "notes": monitor["notes"], "stages": monitor.get("stages", [])}
    paths.append(str(write_text_atomic(out / f"monitoring_{stamp}.json",
                                       json.dumps(record, indent=2, default=str))))
    with mlflow.start_run(experiment_id=_monitoring_experiment(settings),
                          run_name=f"score {stamp}"):
        mlflow.set_tags({"job": "score", "scored_at": stamp, "model_version": model_version,
                         "drift_flagged": len(monitor["flagged"])})
        metrics = {f"{task}/estimated/{k}": v for task, est in monitor["estimated"].items()
                   for k, v in est.items() if np.isfinite(v)}
        if table is not None:
            metrics["drift/flagged"] = float(len(monitor["flagged"]))
            metrics.update({f"drift/psi/{c}": float(v) for c, v in zip(table["column"],
                                                                       table["psi"], strict=True)
                            if np.isfinite(v)})
            mlflow.log_text(table.to_csv(index=False), f"drift_{stamp}.csv")
        metrics.update(stage_metrics(record["stages"]))
        mlflow.log_metrics(metrics)
        mlflow.log_dict(record, f"monitoring_{stamp}.json")
    return paths


@dataclass
class EvaluateResult:
    """What ``repurchase-ml evaluate`` did: dates evaluated, dates waiting, the new rows."""

    as_of: str
    evaluated: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def _scored_dates(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(m.group(1) for p in folder.iterdir() if (m := _STAMP.match(p.name)))


def performance_history(folder: str | Path) -> pd.DataFrame:
    """The realised-performance history in an outputs folder (:data:`HISTORY_COLUMNS`).

    Examples
    --------
    >>> import tempfile
    >>> performance_history(tempfile.mkdtemp()).columns.tolist()[:4]
    ['scored_at', 'evaluated_at', 'model_version', 'task']
    """
    path = Path(folder) / f"{_HISTORY}.parquet"
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("scored_at", "evaluated_at",
                                                                 "model_version", "task",
                                                                 "metric") else float)
                             for c in HISTORY_COLUMNS})
    return pd.read_parquet(path)


def drift_summary(folder: str | Path, *, scored_at: str | None = None) -> pd.DataFrame:
    """The drift table of one scoring date (default: the newest) in an outputs folder.

    Empty (with the drift table's columns) when no scoring run wrote one.
    """
    from repurchase_ml.monitoring.drift import DRIFT_COLUMNS

    folder = Path(folder)
    dates = sorted(p.stem.removeprefix("drift_") for p in folder.glob("drift_*.parquet"))
    if scored_at is not None:
        dates = [d for d in dates if d == str(pd.Timestamp(scored_at).date())]
    if not dates:
        return pd.DataFrame(columns=list(DRIFT_COLUMNS))
    table = pd.read_parquet(folder / f"drift_{dates[-1]}.parquet")
    return table.assign(scored_at=dates[-1])


def _read_record(folder: Path, stamp: str) -> dict[str, Any]:
    path = folder / f"monitoring_{stamp}.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def evaluate_scores(settings: Settings, as_of: Any, *, load: Any) -> EvaluateResult:
    """Realised performance of every earlier scoring date whose horizon has passed by ``as_of``.

    For each ``scores_<D>`` in the outputs folder and each task it scored
    whose horizon ends by ``as_of`` (``D + horizon <= as_of``) and that the
    history does not hold yet: labels from the events before ``as_of``,
    joined with the stored scores (and the radar of ``D`` for churn's
    precision at k), scored, logged to MLflow (a run in the monitoring
    experiment tagged with the model version that scored) and appended to
    ``performance_history``, with the estimate made at scoring time beside
    the realised value. Horizons and model version come from
    ``monitoring_<D>.json`` (else the configured horizons, version "unknown").

    ``load()`` returns ``(events, validation report, feature spec or None)``:
    :func:`repurchase_ml.jobs.run_evaluate` (the ``evaluate`` command) passes
    the configured log and the champion's pinned spec.
    """
    import mlflow

    from repurchase_ml.radar import parse_as_of

    cutoff = parse_as_of(as_of)
    out = settings.output_path()
    result = EvaluateResult(as_of=str(cutoff.date()))
    dates = [d for d in _scored_dates(out) if pd.Timestamp(d) < cutoff]
    if not dates:
        raise ValueError(f"as_of: no scores dated before {cutoff.date()} in {str(out)!r}; run "
                         "`repurchase-ml score --as-of DATE` first, then evaluate once the "
                         "horizon after that date has passed")
    history = performance_history(out)
    done = set(zip(history["scored_at"], history["task"], strict=True))
    events, report, spec = load()
    if report.end is None or pd.Timestamp(report.end) < cutoff - pd.Timedelta(days=1):
        raise ValueError(f"as_of: the event log ends at {report.end}, before {cutoff.date()}; "
                         "evaluate at a date the log reaches")
    known = events[events["timestamp"] < cutoff].reset_index(drop=True)
    new_rows: list[dict[str, Any]] = []
    for stamp in dates:
        record = _read_record(out, stamp)
        horizons = {t: int(h) for t, h in (record.get("horizons")
                                           or {t: settings.horizons[t] for t in settings.tasks}
                                           ).items()}
        due = {t: h for t, h in horizons.items()
               if pd.Timestamp(stamp) + pd.Timedelta(days=h) <= cutoff
               and (stamp, t) not in done}
        for task in sorted(set(horizons) - set(due)):
            if (stamp, task) not in done:
                result.waiting[f"{stamp} {task}"] = str(
                    (pd.Timestamp(stamp) + pd.Timedelta(days=horizons[task])).date())
        if not due:
            continue
        scores = pd.read_parquet(out / f"scores_{stamp}.parquet")
        radar_path = out / f"radar_{stamp}.parquet"
        radar = pd.read_parquet(radar_path) if radar_path.exists() else None
        cards = realised_scorecard(scores, known, scored_at=stamp, horizons=due, radar=radar,
                                   radar_k=settings.radar.top_k, spec=spec,
                                   alive_days=settings.training.alive_days)
        version = str(record.get("model_version", "unknown"))
        estimated = record.get("estimated") or {}
        rows: list[dict[str, Any]] = [{"scored_at": stamp, "evaluated_at": result.as_of, "model_version": version,
                 "task": task, "metric": metric, "realised": float(value),
                 "estimated": float(estimated.get(task, {}).get(metric, np.nan)),
                 "n_rows": card["n_rows"]}
                for task, card in cards.items() for metric, value in card.items()
                if metric != "n_rows"]
        if not rows:
            continue
        metrics = {f"{r['task']}/{kind}/{r['metric']}": float(r[kind])
                   for r in rows for kind in ("realised", "estimated")
                   if np.isfinite(float(r[kind]))}
        with mlflow.start_run(experiment_id=_monitoring_experiment(settings),
                              run_name=f"evaluate {stamp}"):
            mlflow.set_tags({"job": "evaluate", "scored_at": stamp, "evaluated_at": result.as_of,
                             "model_version": version})
            mlflow.log_metrics(metrics)
        result.evaluated.append(stamp)
        new_rows += rows
    result.rows = new_rows
    if new_rows:
        table = pd.concat([history, pd.DataFrame(new_rows, columns=list(HISTORY_COLUMNS))],
                          ignore_index=True) if len(history) else pd.DataFrame(
                              new_rows, columns=list(HISTORY_COLUMNS))
        table = table.sort_values(["scored_at", "task", "metric"], kind="stable")
        result.paths = [str(write_frame_atomic(table.reset_index(drop=True),
                                               out / f"{_HISTORY}.parquet")),
                        str(write_text_atomic(out / f"{_HISTORY}.csv",
                                              table.to_csv(index=False)))]
    logger.info("evaluated %d scoring date(s) at %s; %d task(s) still inside their horizon",
                len(result.evaluated), result.as_of, len(result.waiting))
    return result


def retrain_trigger(settings: Settings, champion: Any, *,
                    decision: dict[str, Any] | None = None) -> tuple[bool, list[str]]:
    """Whether a retrain should run under ``monitoring.retrain_when: triggered``, and why.

    It runs when there is no champion; when the newest drift table of the
    champion's scores flags at least ``monitoring.trigger_flagged_columns``
    columns; or when a realised (or, for probabilities, estimated) primary
    metric of the champion is worse than its own test-cutoff value by more
    than ``monitoring.trigger_metric_drop``. Returns ``(run, reasons)``; with
    no trigger the reasons say what was checked.
    """
    from repurchase_ml.config import METRIC_HIGHER_IS_BETTER

    if champion is None:
        return True, ["no champion yet"]
    mon = settings.monitoring
    out = settings.output_path()
    reasons: list[str] = []
    checked: list[str] = []
    mine = [d for d in _scored_dates(out)
            if str(_read_record(out, d).get("model_version")) == str(champion.version)]
    drifted = [d for d in mine if (out / f"drift_{d}.parquet").exists()]
    if drifted:
        table = pd.read_parquet(out / f"drift_{drifted[-1]}.parquet")
        flagged = flagged_columns(table)
        checked.append(f"drift at {drifted[-1]}: {len(flagged)} column(s) flagged")
        if len(flagged) >= mon.trigger_flagged_columns:
            reasons.append(f"drift at {drifted[-1]}: {len(flagged)} column(s) flagged "
                           f"(>= {mon.trigger_flagged_columns}): {', '.join(flagged[:8])}")
    else:
        checked.append("no drift table of the champion's scores")
    decision = decision or {}
    promised = {t: row.get("shipped_on_test") for t, row in
                (decision.get("scorecard") or {}).items()}
    primary = settings.promotion.primary_metric
    history = performance_history(out)
    history = history[history["model_version"].astype(str) == str(champion.version)]
    for task, value in promised.items():
        if value is None or not np.isfinite(value):
            continue
        metric = primary[task]
        sign = 1.0 if METRIC_HIGHER_IS_BETTER[metric] else -1.0
        rows = history[(history["task"] == task) & (history["metric"] == metric)]
        latest = [("realised", rows.sort_values("scored_at").iloc[-1])] if len(rows) else []
        est = [(d, _read_record(out, d).get("estimated", {}).get(task, {}).get(metric))
               for d in mine]
        est = [(d, v) for d, v in est if v is not None]
        for kind, now, when in ([(k, float(r["realised"]), r["scored_at"]) for k, r in latest]
                                + ([("estimated", float(est[-1][1]), est[-1][0])] if est else [])):
            drop = sign * (value - now)
            checked.append(f"{task} {metric} {kind} at {when}: {now:.4f} (test {value:.4f})")
            if drop > mon.trigger_metric_drop:
                reasons.append(f"{task} {metric} {kind} at {when} is {now:.4f}, "
                               f"{drop:.4f} worse than on the test cutoff ({value:.4f}; "
                               f"trigger {mon.trigger_metric_drop:g})")
    return (True, reasons) if reasons else (False, checked)
