"""The report's inputs from a trained bundle and its event log."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._frames import SHAP_ROWS, SUMMARY_ROWS, fixed_sample, sample_ids
from repurchase_ml.events import check_canonical
from repurchase_ml.report._base import as_timestamp

logger = logging.getLogger(__name__)


def model_facts(bundle: Any) -> dict[str, dict[str, Any]]:
    """Per task: ``horizon_days``, ``train_cutoffs``, ``test_cutoff`` and ``test_rows``.

    ``test_rows`` is the size of the out-of-time scorecard (``Scorecard.n_rows``
    of the shipped scorer), so the report can warn when it is small.
    """
    facts: dict[str, dict[str, Any]] = {}
    for task in getattr(bundle, "tasks", None) or bundle.models:
        cuts = bundle.cutoffs.get(task, {})
        cards = bundle.scorecards.get(task, {})
        card = cards.get("model") or next(iter(cards.values()), None)
        facts[task] = {
            "horizon_days": bundle.horizons.get(task),
            "train_cutoffs": [pd.Timestamp(c) for c in cuts.get("train", [])],
            "test_cutoff": pd.Timestamp(cuts["test"]) if cuts.get("test") is not None else None,
            "test_rows": getattr(card, "n_rows", None),
        }
    return facts


def bundle_report_inputs(
    bundle: Any,
    events: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    radar: pd.DataFrame | None = None,
    spec: Any = None,
    features: pd.DataFrame | None = None,
    sample_rows: int | None = SUMMARY_ROWS,
    random_state: int = 0,
) -> dict[str, Any]:
    """Every input of :func:`build_report` from a trained ``ModelBundle`` and its event log.

    - ``scorecards``: the bundle's own (model beside its baselines, on each
      task's out-of-time test cutoff);
    - ``predictions``: the same test rows rebuilt from ``events`` (features and
      labels at each task's test cutoff) for a seeded sample of
      ``sample_rows`` customers, scored by the model and by each baseline in
      the task's scorecard (the RFM rule or run rate, and BG/NBD or BG/NBD +
      Gamma-Gamma when the bundle fitted it): the lift and calibration
      sections' curves;
    - ``choice``: what training chose per task and why (``bundle.choice``);
    - ``drivers``: mean absolute contributions of each task's model over a
      seeded sample of the customers with history before ``as_of``
      (:data:`~repurchase_ml._frames.SHAP_ROWS` of them, or ``sample_rows``
      when fewer);
    - ``radar``: as given, or :func:`repurchase_ml.radar.churn_radar` at
      ``as_of`` (needs the churn and LTV models);
    - ``model``: per task its horizon, training cutoffs, test cutoff and test
      rows (:func:`model_facts`), for the report's summary;
    - ``events`` and ``as_of``.

    Parameters
    ----------
    bundle : ModelBundle
        Output of :func:`repurchase_ml.models.train_models` (or a champion's).
    events : pandas.DataFrame
        The canonical event log the bundle was trained on (or its extension).
    as_of : pandas.Timestamp or str
        The report's date.
    radar : pandas.DataFrame, optional
        An existing radar list for ``as_of``.
    spec : FeatureSpec, optional
        The feature spec the bundle was trained with (default features when None).
    features : pandas.DataFrame, optional
        The feature table at ``as_of`` when the caller has it (the score job's):
        the drivers are computed from its rows instead of features built again.
    sample_rows : int or None, default :data:`repurchase_ml._frames.SUMMARY_ROWS`
        Customers (test rows, driver rows) the curves and drivers are drawn
        from, a fixed sample seeded with ``random_state``, so the page costs
        the same at any size and the same inputs give the same page; None:
        every customer. The scorecards and counts do not depend on it.
    random_state : int, default 0
        Seed of the sample.

    Returns
    -------
    dict
        Keyword arguments for :func:`build_report` / :func:`write_report`.

    Examples
    --------
    >>> from repurchase_ml import (build_training_set, make_event_log, propose_cutoffs,
    ...                            train_models)
    >>> events, _ = make_event_log(300, "2022-01-01", "2024-01-01", random_state=0)
    >>> h = {"churn": 90, "ltv": 90}
    >>> cuts = propose_cutoffs(events, horizon_days=90, n=10)
    >>> ts = build_training_set(events, cutoffs=cuts, tasks=list(h), horizons=h)
    >>> from repurchase_ml.models.plan import TrainingMinimums
    >>> few = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30,
    ...                        eval_positives=5, eval_negatives=5, history_days=30)
    >>> bundle = train_models(ts, tasks=list(h), horizons=h, n_estimators=20, minimums=few)
    >>> inputs = bundle_report_inputs(bundle, events, as_of="2024-01-01")
    >>> sorted(inputs["predictions"]), list(inputs["predictions"]["churn"].columns)
    (['churn', 'ltv'], ['y_true', 'model', 'rfm', 'bgnbd'])
    >>> sorted(inputs["choice"]) == sorted(bundle.choice)
    True
    """
    from repurchase_ml.explain import contributions, driver_ranking
    from repurchase_ml.features import build_features, build_training_set, data_end
    from repurchase_ml.models.training import OUTPUT_COLUMNS, _classic_name, baseline_scores

    cutoff = as_timestamp(as_of, name="as_of")
    check_canonical(events, argument="events")
    if not callable(getattr(bundle, "predict", None)) or not hasattr(bundle, "models"):
        raise TypeError(f"bundle: expected a ModelBundle, got {type(bundle).__name__}.")
    if sample_rows is not None and (not isinstance(sample_rows, int) or sample_rows < 1):
        raise ValueError(f"sample_rows: expected a positive number of customers or None, got "
                         f"{sample_rows!r}.")
    if features is not None:
        stamps = pd.to_datetime(features["cutoff"].unique())
        if len(stamps) and (len(stamps) > 1 or pd.Timestamp(stamps[0]) != cutoff):
            raise ValueError(f"features: expected the feature table at as_of {cutoff.date()}, "
                             f"got cutoffs {[str(pd.Timestamp(s).date()) for s in stamps[:3]]}. "
                             "Fix: pass build_features(events, cutoffs=[as_of]) or leave it out.")
    # features depend on a customer's own events only: the sampled customers' rows are
    # rebuilt from their events alone, exactly as from the whole log
    ids = None if sample_rows is None else sample_ids(events["customer_id"], sample_rows,
                                                      random_state=random_state)
    sampled = events if ids is None else events[events["customer_id"].isin(ids)]
    predictions: dict[str, pd.DataFrame] = {}
    by_test: dict[pd.Timestamp, list[str]] = {}
    for task in bundle.models:
        by_test.setdefault(pd.Timestamp(bundle.cutoffs[task]["test"]), []).append(task)
    # the test windows are rebuilt only where they closed before as_of and inside the log:
    # a report never reads events at or after its date
    known_until = min(data_end(events), cutoff) if len(events) else cutoff
    for test_cutoff, tasks in by_test.items():
        if test_cutoff + pd.Timedelta(days=max(bundle.horizons[t] for t in tasks)) > known_until:
            logger.info("report at %s: the test window of %s (%s) is not over by then; its "
                        "lift and calibration are left out", cutoff.date(), ", ".join(tasks),
                        test_cutoff.date())
            continue
        rows = build_training_set(
            sampled,
            cutoffs=[test_cutoff],
            tasks=tasks,
            spec=spec,
            horizons={t: bundle.horizons[t] for t in tasks},
        )
        scores = bundle.predict(rows[["customer_id", "cutoff", *bundle.feature_names]])
        for task in tasks:
            keep = rows[f"label_{task}"].notna().to_numpy()
            frame = pd.DataFrame({"y_true": rows.loc[keep, f"label_{task}"].to_numpy()})
            frame["model"] = scores.loc[keep, OUTPUT_COLUMNS[task]].to_numpy()
            calibrated = ["model"]
            carded = set(bundle.scorecards.get(task, {}))
            # on every row of the cutoff, as in training: the RFM rule's quintiles are the
            # cutoff's, not the task population's
            baselines = baseline_scores(task, rows, horizon=bundle.horizons[task], clv=None)
            for name, (score, is_probability) in baselines.items():
                frame[name] = np.asarray(score, dtype=float)[keep]
                calibrated += [name] if is_probability else []
            scorer = getattr(bundle, "scorers", {}).get(task)
            classic = _classic_name(task)
            if classic in carded and scorer is not None and scorer.classic is not None:
                frame[classic] = scorer.classic_score(rows.loc[keep].reset_index(drop=True))
                calibrated.append(classic)
            # a net revenue below zero (refunds) has no place in a gain curve
            frame["y_true"] = frame["y_true"].clip(lower=0.0)
            frame = frame.dropna().reset_index(drop=True)
            frame.attrs["calibrated"] = calibrated
            predictions[task] = frame
    if features is None:
        features = build_features(sampled, cutoffs=[cutoff], spec=spec)
    if sample_rows is not None:
        features = fixed_sample(features, min(sample_rows, SHAP_ROWS), random_state=random_state)
    X = features[bundle.feature_names]
    drivers = {
        task: driver_ranking(contributions(model, X), X)[
            ["feature", "mean_abs_contribution", "direction"]]
        for task, model in bundle.models.items()
    }
    if radar is None:
        from repurchase_ml.radar import churn_radar

        radar = churn_radar(bundle, events, as_of=cutoff)
    return {
        "as_of": cutoff,
        "scorecards": dict(bundle.scorecards),
        "predictions": predictions,
        "drivers": drivers,
        "radar": radar,
        "events": events,
        "choice": {task: dict(record) for task, record in getattr(bundle, "choice", {}).items()},
        "model": {"tasks": model_facts(bundle)},
    }


def output_report_inputs(folder: Any, *, as_of: pd.Timestamp | str) -> dict[str, Any]:
    """The ``extras`` the score job's outputs folder holds for the report at ``as_of``.

    - ``monitoring``: ``drift``, the drift table the score job wrote for
      ``as_of`` (:func:`repurchase_ml.monitoring.drift_summary`; empty when
      the champion has no drift reference) and ``history``, the realised
      performance so far (:func:`repurchase_ml.monitoring.performance_history`);
    - ``readout``: the newest campaign read-out in ``<folder>/readout/`` (the
      ``campaigns`` and ``effects`` tables ``repurchase-ml readout`` writes,
      and ``written``, the day it was written), or None.

    Examples
    --------
    >>> import tempfile
    >>> extras = output_report_inputs(tempfile.mkdtemp(), as_of="2024-06-01")
    >>> extras["monitoring"]["drift"].empty, extras["monitoring"]["history"].empty
    (True, True)
    >>> extras["readout"] is None
    True
    """
    from pathlib import Path

    from repurchase_ml.monitoring import drift_summary, performance_history

    cutoff = as_timestamp(as_of, name="as_of")
    out = Path(folder)
    monitoring = {"drift": drift_summary(out, scored_at=str(cutoff.date())),
                  "history": performance_history(out)}
    files = {name: out / "readout" / f"readout_{name}.parquet" for name in ("campaigns", "effects")}
    readout = None
    if all(p.exists() for p in files.values()):
        readout = {name: pd.read_parquet(p) for name, p in files.items()}
        readout["written"] = pd.Timestamp(files["effects"].stat().st_mtime, unit="s").normalize()
    return {"monitoring": monitoring, "readout": readout}
