"""Self-contained HTML report: scorecards, plots, drivers, segments and the radar.

One HTML file with inline CSS and plots embedded as base64 PNG images: it opens
from disk with no network and no JavaScript. Every input is a plain pandas
object or dict, so the report can be built from a notebook, a job or saved
files without touching model internals.

Sections (each an HTML ``<section>`` with a stable ``id``, listed in
:data:`SECTION_IDS`): summary, scorecard beside the baselines, lift (cumulative
gain), calibration by decile, driver ranking, segment sizes and value, the
value x risk matrix, the repurchase curve and the top of the radar list with
reasons. A section whose input was not given still appears, with a note saying
which argument fills it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._io import write_text_atomic
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import check_canonical
from repurchase_ml.features._inputs import normalise_cutoffs

__all__ = [
    "SECTION_IDS",
    "build_report",
    "bundle_report_inputs",
    "run_report",
    "gain_curve",
    "calibration_table",
    "repurchase_curve",
    "write_report",
]

logger = logging.getLogger(__name__)

#: ``id`` of every ``<section>`` in the report, in page order.
SECTION_IDS: tuple[str, ...] = (
    "summary",
    "scorecard",
    "lift",
    "calibration",
    "drivers",
    "segments",
    "value-risk",
    "repurchase-curve",
    "radar",
)

_SECTION_TITLES = {
    "summary": "Summary",
    "scorecard": "Scorecard beside the baselines",
    "lift": "Lift: cumulative gain",
    "calibration": "Calibration by decile",
    "drivers": "What drives the scores",
    "segments": "Segment sizes and value",
    "value-risk": "Value \u00d7 risk matrix",
    "repurchase-curve": "Repurchase curve",
    "radar": "About-to-churn radar",
}

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;
color:#1f2933;background:#f5f7fa}
header{background:#243b53;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:1.5em}header p{margin:4px 0 0;opacity:.85}
nav{padding:8px 32px;background:#d9e2ec;font-size:.9em}nav a{margin-right:14px;color:#243b53}
main{padding:8px 32px 40px;max-width:1280px}
section{background:#fff;border-radius:6px;padding:12px 20px 18px;margin:16px 0;
box-shadow:0 1px 3px rgba(0,0,0,.12);overflow-x:auto}
h2{font-size:1.2em;border-bottom:1px solid #d9e2ec;padding-bottom:6px}
h3{font-size:1em;margin:14px 0 6px}
table{border-collapse:collapse;font-size:.85em;margin:6px 0}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.long{min-width:14em;max-width:30em}
img.plot{max-width:100%;height:auto;display:block;margin:8px 0}
p.note{color:#627d98;font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#f0f4f8;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.3em}
.grid{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.cell{flex:0 1 auto;max-width:100%}
"""


# ---------------------------------------------------------------------------
# computations (pure, also useful on their own)
# ---------------------------------------------------------------------------


def repurchase_curve(
    events: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    max_days: int = 180,
) -> pd.DataFrame:
    """Share of first-time buyers who order again within ``N`` days, as of a date.

    Only purchases with ``timestamp < as_of`` are read. For each ``N`` the
    denominator holds the customers whose first order lies at least ``N`` days
    before ``as_of`` (so each of them has been observed for the full ``N``
    days); the numerator counts those whose second order came at most ``N``
    days after the first. Customers first seen too recently are left out of
    that ``N`` instead of being counted as non-repeaters.

    An order is a distinct ``order_id`` among a customer's purchase rows (its
    time is the earliest row); a purchase row without an order id (or a log
    without the column) is an order of its own, as in the feature code.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical event frame with ``customer_id``, ``timestamp`` and
        ``event_type`` (and optionally ``order_id``).
    as_of : pandas.Timestamp or str
        The "now" of the curve. Required: there is no default, so a future
        event can never slip in.
    max_days : int, default 180
        Largest ``N``; the curve has one row per day ``0..max_days``.

    Returns
    -------
    pandas.DataFrame
        Columns ``days``, ``eligible_buyers``, ``repeat_buyers``, ``share``
        (``NaN`` where no buyer is eligible).

    Examples
    --------
    >>> from repurchase_ml.events import read_events
    >>> ev, _ = read_events(pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3, 3],
    ...     "timestamp": ["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03", "2024-03-01"],
    ...     "event_type": ["purchase"] * 5, "amount": [10.0, 5.0, 8.0, 20.0, 7.5]}))
    >>> curve = repurchase_curve(ev, as_of="2024-01-20", max_days=10)
    >>> curve.set_index("days").loc[[3, 4, 10], ["eligible_buyers", "repeat_buyers"]]
          eligible_buyers  repeat_buyers
    days
    3                   3              0
    4                   3              1
    10                  3              1
    """
    check_canonical(events, argument="events")
    if not isinstance(max_days, int | np.integer) or isinstance(max_days, bool) or max_days < 0:
        raise ValueError(f"max_days must be a non-negative integer, got {max_days!r}.")
    cutoff = _as_timestamp(as_of, name="as_of")
    purchases = events.loc[
        (events["event_type"].astype(str) == "purchase") & (events["timestamp"] < cutoff)
    ]
    if "order_id" in purchases.columns:
        has_id = purchases["order_id"].notna()
        by_order = (
            purchases.loc[has_id]
            .groupby(["customer_id", "order_id"], sort=False, observed=True)["timestamp"]
            .min()
            .reset_index()
        )
        order_times = pd.concat(
            [
                by_order[["customer_id", "timestamp"]],
                purchases.loc[~has_id, ["customer_id", "timestamp"]],
            ],
            ignore_index=True,
        )
    else:
        order_times = purchases[["customer_id", "timestamp"]]
    order_times = order_times.sort_values(["customer_id", "timestamp"], kind="mergesort")
    rank = order_times.groupby("customer_id", sort=False).cumcount()
    first = order_times.loc[rank == 0].set_index("customer_id")["timestamp"]
    second = order_times.loc[rank == 1].set_index("customer_id")["timestamp"]

    observed_days = ((cutoff - first) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    gap = (second.reindex(first.index) - first) / pd.Timedelta(days=1)
    gap_days = gap.to_numpy(dtype=float)  # NaN: no second order yet

    # a buyer counts for every N in [0, floor(observed)] (eligible) and, once the second
    # order is in, for every N in [ceil(gap), floor(observed)] (repeat): count the
    # intervals with a difference array, O(customers + max_days) in time and memory
    days = np.arange(max_days + 1)
    last = np.minimum(np.floor(observed_days), max_days).astype(np.int64)
    eligible = _interval_counts(np.zeros_like(last), last, size=max_days + 1)
    has_gap = ~np.isnan(gap_days)
    start = np.ceil(gap_days[has_gap]).astype(np.int64)
    repeat = _interval_counts(start, last[has_gap], size=max_days + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(eligible > 0, repeat / np.maximum(eligible, 1), np.nan)
    return pd.DataFrame(
        {
            "days": days.astype("int64"),
            "eligible_buyers": eligible.astype("int64"),
            "repeat_buyers": repeat.astype("int64"),
            "share": share.astype("float64"),
        }
    )


def _interval_counts(start: np.ndarray, end: np.ndarray, *, size: int) -> np.ndarray:
    """How many closed intervals ``[start, end]`` cover each of ``0 .. size - 1``."""
    keep = start <= end
    delta = np.bincount(start[keep], minlength=size + 1)[: size + 1]
    delta = delta - np.bincount(end[keep] + 1, minlength=size + 1)[: size + 1]
    return np.cumsum(delta)[:size]


def gain_curve(y_true: Sequence[float], y_score: Sequence[float]) -> pd.DataFrame:
    """Cumulative gain: share of the total outcome captured by the top-scored customers.

    Customers are ranked by ``y_score`` (highest first, ties broken by input
    order). Works for a binary outcome (share of positives found) and for a
    non-negative amount such as orders or revenue (share of the total).

    Returns
    -------
    pandas.DataFrame
        ``population_share`` (0..1, starting at 0), ``gain`` (0..1) and
        ``lift`` (gain / population share; NaN at 0).

    Examples
    --------
    >>> g = gain_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    >>> g["gain"].tolist()
    [0.0, 0.5, 0.5, 1.0, 1.0]
    >>> float(g["lift"].iloc[1])
    2.0
    """
    y, s = _paired_arrays(y_true, y_score)
    if np.any(y < 0):
        raise ValueError(
            "y_true must be non-negative (a 0/1 outcome or an amount) for a gain curve."
        )
    order = np.argsort(-s, kind="mergesort")
    captured = np.concatenate([[0.0], np.cumsum(y[order])])
    total = captured[-1]
    gain = captured / total if total > 0 else np.full_like(captured, np.nan)
    pop = np.arange(len(y) + 1) / len(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(pop > 0, gain / np.where(pop > 0, pop, 1.0), np.nan)
    return pd.DataFrame({"population_share": pop, "gain": gain, "lift": lift})


def calibration_table(
    y_true: Sequence[float], y_score: Sequence[float], *, n_bins: int = 10
) -> pd.DataFrame:
    """Mean prediction against mean outcome in equal-size bins of the prediction.

    Returns
    -------
    pandas.DataFrame
        ``bin`` (1 = lowest predictions), ``n``, ``mean_predicted``,
        ``mean_actual``.

    Examples
    --------
    >>> t = calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> t[["n", "mean_predicted", "mean_actual"]].to_numpy().tolist()
    [[2.0, 0.15000000000000002, 0.0], [2.0, 0.8, 1.0]]
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    y, s = _paired_arrays(y_true, y_score)
    order = np.argsort(s, kind="mergesort")
    bins = np.empty(len(s), dtype=int)
    bins[order] = (np.arange(len(s)) * min(n_bins, len(s))) // len(s)
    frame = pd.DataFrame({"bin": bins + 1, "pred": s, "actual": y})
    out = frame.groupby("bin").agg(
        n=("pred", "size"), mean_predicted=("pred", "mean"), mean_actual=("actual", "mean")
    )
    out["n"] = out["n"].astype(float)
    return out.reset_index()


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def build_report(
    *,
    as_of: pd.Timestamp | str,
    scorecards: Mapping[str, Any] | None = None,
    predictions: Mapping[str, pd.DataFrame] | None = None,
    drivers: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    radar: pd.DataFrame | None = None,
    value_risk: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    choice: Mapping[str, Mapping[str, Any]] | None = None,
    decision: Mapping[str, Any] | None = None,
    title: str = "Customer repurchase and churn report",
    top_n: int = 25,
    curve_days: int = 180,
) -> str:
    """Render the report as one self-contained HTML string.

    Parameters
    ----------
    as_of : pandas.Timestamp or str
        The date the report speaks for (the radar's as-of date). The
        repurchase curve reads only purchases before it.
    scorecards : mapping, optional
        ``{task: table}`` where ``table`` is the wide frame of
        :func:`repurchase_ml.models.evaluate.scorecards_to_frame` (one row per
        metric, one column per scorer, e.g. ``lightgbm``, ``rfm_heuristic``,
        ``bgnbd``), or ``{scorer: Scorecard}``, or ``{scorer: {metric: value}}``.
    predictions : mapping of DataFrame, optional
        ``{task: frame}`` with a ``y_true`` column and one score column per
        model, on the same out-of-time rows. Feeds the lift (all score
        columns) and calibration plots: the first score column, and the
        columns named in ``frame.attrs["calibrated"]`` (scores on the scale
        of the outcome, e.g. BG/NBD's probabilities; a rank-only score such
        as the RFM rule has no calibration).
    drivers : DataFrame or mapping of DataFrame, optional
        Driver ranking: a text column with the feature name and a numeric
        column with its importance (e.g. mean absolute contribution), highest
        first; or ``{task: frame}``.
    radar : DataFrame, optional
        The radar list (one row per customer, ranked). Columns used when
        present (the output of :func:`repurchase_ml.radar.churn_radar`):
        ``rank``, ``customer_id``, ``churn_probability``,
        ``repurchase_probability``, ``predicted_ltv``, ``value_if_retained``,
        ``value_at_risk``, ``net_revenue_all``, ``segment``,
        ``lifecycle_stage``, ``value_risk``, ``reason_1`` ... (or one
        ``reasons`` column of lists), ``action``. An empty radar (nobody
        bought in the year before ``as_of``) is reported in one line.
    value_risk : DataFrame, optional
        Value x risk matrix: rows = value tiers, columns = risk tiers, cells =
        customer counts. Without it the matrix is counted from the radar's
        ``value_tier`` and ``risk_tier`` columns, or from its
        ``value_if_retained`` and ``churn_probability`` with
        :func:`repurchase_ml.segments.value_risk_matrix`.
    events : DataFrame, optional
        Canonical event frame for the repurchase curve.
    choice : mapping, optional
        ``bundle.choice``: per task the scorer that ships, why, and the
        validation metric of every candidate; shown above each scorecard.
    decision : mapping, optional
        The retrain run's ``decision.json`` (``promoted``, ``reason``,
        ``baseline_gate``): the promotion and baseline-gate decisions.
    title : str
        Page title.
    top_n : int, default 25
        Radar rows shown.
    curve_days : int, default 180
        Longest window of the repurchase curve.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = build_report(as_of="2024-06-01",
    ...                     scorecards={"churn": {"lightgbm": {"roc_auc": 0.81},
    ...                                           "rfm_heuristic": {"roc_auc": 0.70}}})
    >>> page.startswith("<!DOCTYPE html>") and 'id="scorecard"' in page
    True
    """
    cutoff = _as_timestamp(as_of, name="as_of")
    if not isinstance(top_n, int) or top_n < 1:
        raise ValueError(f"top_n must be a positive integer, got {top_n!r}.")
    sections = {
        "summary": _summary_section(cutoff, radar, events),
        "scorecard": _scorecard_section(scorecards, choice, decision),
        "lift": _lift_section(predictions),
        "calibration": _calibration_section(predictions),
        "drivers": _drivers_section(drivers),
        "segments": _segments_section(radar, cutoff),
        "value-risk": _value_risk_section(value_risk, radar, cutoff),
        "repurchase-curve": _curve_section(events, cutoff, curve_days),
        "radar": _radar_section(radar, top_n, cutoff),
    }
    nav = "".join(f'<a href="#{sid}">{_e(_SECTION_TITLES[sid])}</a>' for sid in SECTION_IDS)
    body = "\n".join(
        f'<section id="{sid}"><h2>{_e(_SECTION_TITLES[sid])}</h2>\n{sections[sid]}\n</section>'
        for sid in SECTION_IDS
    )
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><p>As of {_e(_fmt_date(cutoff))} "
        f"\u00b7 generated {_e(generated)}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_report(path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Build the report (same keyword arguments as :func:`build_report`) and write it atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_report(pathlib.Path(tempfile.mkdtemp()) / "report.html", as_of="2024-06-01")
    >>> out.read_text(encoding="utf-8").count("<section id=")
    9
    """
    target = Path(path)
    if target.suffix.lower() not in {".html", ".htm"}:
        raise ValueError(f"path {str(path)!r}: the report is HTML, use a .html suffix.")
    page = build_report(**kwargs)
    written = write_text_atomic(target, page)
    logger.info("wrote report to %s (%d bytes)", written, len(page.encode("utf-8")))
    return written


def bundle_report_inputs(
    bundle: Any,
    events: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    radar: pd.DataFrame | None = None,
    spec: Any = None,
) -> dict[str, Any]:
    """Every input of :func:`build_report` from a trained ``ModelBundle`` and its event log.

    - ``scorecards``: the bundle's own (model beside its baselines, on each
      task's out-of-time test cutoff);
    - ``predictions``: the same test rows rebuilt from ``events`` (features and
      labels at each task's test cutoff), scored by the model and by each
      baseline in the task's scorecard (the RFM rule or run rate, and BG/NBD
      or BG/NBD + Gamma-Gamma when the bundle fitted it);
    - ``choice``: what training chose per task and why (``bundle.choice``);
    - ``drivers``: mean absolute contributions of each task's model over the
      customers with history before ``as_of``;
    - ``radar``: as given, or :func:`repurchase_ml.radar.churn_radar` at
      ``as_of`` (needs the churn and LTV models);
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

    cutoff = _as_timestamp(as_of, name="as_of")
    check_canonical(events, argument="events")
    if not callable(getattr(bundle, "predict", None)) or not hasattr(bundle, "models"):
        raise TypeError(f"bundle: expected a ModelBundle, got {type(bundle).__name__}.")
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
            events,
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
    features = build_features(events, cutoffs=[cutoff], spec=spec)
    X = features[bundle.feature_names]
    drivers = {
        task: driver_ranking(contributions(model, X), X)[["feature", "mean_abs_contribution"]]
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
    }


def run_report(
    settings: Any, *, as_of: pd.Timestamp | str, path: str | os.PathLike[str] | None = None
) -> Path:
    """Write the champion's report for a date already scored (``repurchase-ml report``).

    The score job writes the report beside the scores when ``output.report``
    is on; this rebuilds it on its own (another path, a newer champion's
    scorecards, or with ``output.report`` off), around the radar the score
    job wrote for that date (``radar_<date>.parquet`` in the output folder),
    so the report always shows the list CRM got.

    Parameters
    ----------
    settings : repurchase_ml.config.Settings
        Resolved settings (data source, tracking store, output folder).
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
    from repurchase_ml.jobs import load_event_log

    cutoff = _as_timestamp(as_of, name="as_of")
    stamp = cutoff.strftime("%Y-%m-%d")
    radar_path = settings.output_path() / f"radar_{stamp}.parquet"
    if not radar_path.exists():
        raise FileNotFoundError(
            f"as_of {stamp}: no radar at {radar_path}. Fix: run `repurchase-ml score --as-of "
            f"{stamp}` first (with output.report on it writes this report too)."
        )
    radar = pd.read_parquet(radar_path)
    tracking.configure(settings)
    champion = tracking.load_champion(settings)
    events, _report = load_event_log(settings)
    inputs = bundle_report_inputs(
        champion.served.bundle, events, as_of=cutoff, radar=radar, spec=champion.spec
    )
    target = Path(path) if path is not None else settings.output_path() / f"report_{stamp}.html"
    title = f"{settings.tracking.model_name} version {champion.version}: customers at {stamp}"
    return write_report(target, title=title, decision=tracking.champion_decision(champion),
                        **inputs)


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------


def _summary_section(
    cutoff: pd.Timestamp, radar: pd.DataFrame | None, events: pd.DataFrame | None
) -> str:
    cards = [("As of", _fmt_date(cutoff))]
    if events is not None:
        check_canonical(events, argument="events")
        seen = events.loc[events["timestamp"] < cutoff]
        cards.append(("Events before as-of", f"{len(seen):,}"))
        cards.append(("Customers before as-of", f"{seen['customer_id'].nunique():,}"))
    if radar is not None:
        cards.append(("Customers on the radar", f"{len(radar):,}"))
        if len(radar) and "value_at_risk" in radar.columns:
            cards.append(("Value at risk (net, sum)",
                          _fmt_value(float(radar["value_at_risk"].sum()))))
        if len(radar) and "value_if_retained" in radar.columns:
            cards.append(("Value if retained (net, sum)",
                          _fmt_value(float(radar["value_if_retained"].sum()))))
        if len(radar) and "churn_probability" in radar.columns:
            cards.append(
                ("Mean churn probability", f"{float(radar['churn_probability'].mean()):.1%}")
            )
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card">{_e(label)}<b>{_e(value)}</b></div>' for label, value in cards
        )
        + "</div>"
    )


#: what each scorer column of a scorecard is, for a reader who did not train it
SCORER_NOTES: dict[str, str] = {
    "model": "the scorer that ships",
    "lightgbm": "LightGBM on the behaviour features",
    "hybrid": "LightGBM boosted from the BG/NBD score",
    "blend": "a weighted mix of the best tree model and BG/NBD",
    "rfm": "the RFM rule (recency, frequency and money quintiles)",
    "run_rate": "the customer's past spend rate carried over the horizon",
    "bgnbd": "BG/NBD (1 - P(repurchase in the horizon) for churn)",
    "bgnbd_gg": "BG/NBD orders x Gamma-Gamma order value",
    "bgnbd_events": "the same BG/NBD fitted on the raw purchases (a cross-check)",
    "bgnbd_gg_events": "the same BG/NBD + Gamma-Gamma fitted on the raw purchases",
    "bgnbd_events_p_alive": ("1 - BG/NBD's P(alive), for completeness only: P(alive) is 1 for "
                           "every customer without a repeat order, so it ranks churn backwards "
                           "where one-time buyers are many; the baseline gate does not use it"),
}
SCORER_NOTES["bgnbd_p_alive"] = SCORER_NOTES["bgnbd_events_p_alive"]


def _scorer_legend(scorecards: Mapping[str, Any]) -> str:
    """One line naming what each scorer column present in the scorecards is."""
    names: list[str] = []
    for task, table in scorecards.items():
        names += [str(c) for c in _scorecard_frame(task, table).columns if str(c) not in names]
    known = [f"<code>{_e(n)}</code>: {_e(SCORER_NOTES[n])}" for n in names if n in SCORER_NOTES]
    return f'<p class="note">{"; ".join(known)}.</p>' if known else ""


def _scorecard_section(scorecards: Mapping[str, Any] | None,
                       choice: Mapping[str, Mapping[str, Any]] | None = None,
                       decision: Mapping[str, Any] | None = None) -> str:
    head = _decision_lines(decision)
    if not scorecards and not choice:
        return head + _missing("scorecards", "per-task metrics of the model and its baselines")
    choice = choice or {}
    parts = []
    for task in [*(scorecards or {}), *(t for t in choice if t not in (scorecards or {}))]:
        part = f"<h3>{_e(task)}</h3>" + _choice_line(choice.get(task))
        if scorecards and task in scorecards:
            part += _table(_scorecard_frame(task, scorecards[task]), index_name="metric")
        parts.append(part)
    note = ('<p class="note">Every scorer on the same out-of-time test rows; <code>model</code> '
            "is the scorer that ships.</p>" if choice else "")
    return head + note + _scorer_legend(scorecards or {}) + _grid(parts)


def _choice_line(record: Mapping[str, Any] | None) -> str:
    """What training chose for a task and why, with each candidate's validation metric."""
    if not record or "chosen" not in record:
        return ""
    metric = record.get("metric", "")
    valid = record.get("validation") or {}
    scores = ", ".join(f"{_e(k)} {_fmt_cell(float(v))}" for k, v in valid.items()
                       if _is_number(v))
    on = f" Validation {_e(metric)}: {scores}." if scores else ""
    return (f"<p>Ships <b>{_e(record['chosen'])}</b>: "
            f"{_e(record.get('reason') or 'no reason given')}.{on}</p>")


def _decision_lines(decision: Mapping[str, Any] | None) -> str:
    """The promotion and baseline-gate decisions of the run that trained the model."""
    if not decision or "promoted" not in decision:
        return ""
    verdict = "promoted to champion" if decision["promoted"] else "not promoted"
    lines = [f"<p><b>Promotion:</b> {verdict}: {_e(decision.get('reason', ''))}.</p>"]
    gate = decision.get("baseline_gate")
    if isinstance(gate, Mapping) and "passed" in gate:
        lines.append(f"<p><b>Baseline gate:</b> {'passed' if gate['passed'] else 'failed'}: "
                     f"{_e(gate.get('reason', ''))}.</p>")
    return "".join(lines)


def _scorecard_frame(task: str, table: Any) -> pd.DataFrame:
    """Rows = metrics, columns = scorers (the layout of ``scorecards_to_frame``)."""
    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, Mapping):
        columns = {}
        for scorer, card in table.items():
            metrics = getattr(card, "metrics", card)
            if not isinstance(metrics, Mapping):
                raise TypeError(
                    f"scorecards[{task!r}][{scorer!r}] must be a Scorecard or a dict "
                    f"{{metric: value}}, got {type(card).__name__}."
                )
            columns[str(scorer)] = pd.Series(dict(metrics), dtype=float)
        return pd.DataFrame(columns)
    raise TypeError(
        f"scorecards[{task!r}] must be a DataFrame (rows = metrics, columns = scorers, as "
        f"scorecards_to_frame returns) or a dict {{scorer: Scorecard or {{metric: value}}}}, "
        f"got {type(table).__name__}."
    )


def _lift_section(predictions: Mapping[str, pd.DataFrame] | None) -> str:
    if not predictions:
        return _missing(
            "predictions", "out-of-time outcomes (y_true) and one score column per model"
        )
    from matplotlib.figure import Figure

    parts = []
    for task, frame in predictions.items():
        scores = _score_columns(task, frame)
        fig = Figure(figsize=(6.4, 4.0), dpi=90)
        ax = fig.add_subplot()
        rows = []
        for col in scores:
            g = gain_curve(frame["y_true"], frame[col])
            ax.plot(g["population_share"], g["gain"], label=col)
            top = _gain_at(g, (0.05, 0.1, 0.2))
            rows.append({"model": col, **{f"lift@{int(q * 100)}%": v for q, v in top.items()}})
        _reference_axes(
            ax,
            diagonal=(1.0, "random"),
            labels=("share of customers, highest score first", "share of the outcome captured"),
            title=f"{task}: cumulative gain",
            legend="lower right",
        )
        parts.append(
            f"<h3>{_e(task)}</h3>"
            + _img(fig, f"lift-{task}", f"Cumulative gain for {task}")
            + _table(pd.DataFrame(rows).set_index("model"), index_name="model")
        )
    return _grid(parts)


def _calibration_section(predictions: Mapping[str, pd.DataFrame] | None) -> str:
    if not predictions:
        return _missing("predictions", "out-of-time outcomes (y_true) and model scores")
    from matplotlib.figure import Figure

    parts = []
    for task, frame in predictions.items():
        columns = _score_columns(task, frame)
        model = columns[0]
        shown = [model, *(c for c in frame.attrs.get("calibrated", ()) if c in columns
                          and c != model)]
        table = calibration_table(frame["y_true"], frame[model])
        fig = Figure(figsize=(5.0, 4.0), dpi=90)
        ax = fig.add_subplot()
        hi = 1e-9
        for col in shown:
            curve = table if col == model else calibration_table(frame["y_true"], frame[col])
            hi = float(np.nanmax([hi, curve["mean_predicted"].max(), curve["mean_actual"].max()]))
            ax.plot(curve["mean_predicted"], curve["mean_actual"], marker="o", label=col)
        _reference_axes(
            ax,
            diagonal=(hi, "perfect"),
            labels=("mean prediction in decile", "mean outcome in decile"),
            title=f"{task}: calibration",
            legend="upper left",
        )
        parts.append(
            f"<h3>{_e(task)}</h3>"
            + _img(fig, f"calibration-{task}", f"Calibration by decile for {task}")
            + _table(table.set_index("bin"), index_name="decile")
        )
    return _grid(parts)


def _drivers_section(drivers: pd.DataFrame | Mapping[str, pd.DataFrame] | None) -> str:
    if drivers is None or (isinstance(drivers, Mapping) and not drivers):
        return _missing("drivers", "a driver ranking (feature name and importance)")
    from matplotlib.figure import Figure

    items = drivers.items() if isinstance(drivers, Mapping) else [("", drivers)]
    parts = []
    for task, frame in items:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"drivers must be DataFrames, got {type(frame).__name__} for {task!r}.")
        name_col, value_col = _label_value_columns(
            frame, what=f"drivers[{task!r}]" if task else "drivers"
        )
        top = frame.sort_values(value_col, ascending=False, kind="mergesort").head(15)
        fig = Figure(figsize=(6.4, 0.32 * len(top) + 1.2), dpi=90)
        ax = fig.add_subplot()
        ax.barh(top[name_col].astype(str)[::-1], top[value_col][::-1], color="#486581")
        ax.set_xlabel(value_col)
        ax.set_title(f"{task + ': ' if task else ''}top drivers")
        fig.tight_layout()
        slug = f"drivers-{task}" if task else "drivers-all"
        parts.append(
            (f"<h3>{_e(task)}</h3>" if task else "")
            + _img(fig, slug, f"Driver ranking {task}".strip())
            + _table(top.reset_index(drop=True), index=False)
        )
    return _grid(parts)


def _segments_section(radar: pd.DataFrame | None, cutoff: pd.Timestamp) -> str:
    if radar is None or "segment" not in radar.columns:
        return _missing("radar", "a radar list with a 'segment' column")
    if radar.empty:
        return _empty_radar(cutoff)
    from matplotlib.figure import Figure

    agg: dict[str, tuple[str, str]] = {"customers": ("segment", "size")}
    for col, how in (
        ("churn_probability", "mean"),
        ("predicted_ltv", "sum"),
        ("value_if_retained", "sum"),
        ("value_at_risk", "sum"),
    ):
        if col in radar.columns:
            agg[f"{col}_{how}"] = (col, how)
    table = (
        radar.assign(segment=radar["segment"].astype(str))
        .groupby("segment", sort=False)
        .agg(**agg)
        .sort_values("customers", ascending=False, kind="mergesort")
    )
    table.insert(1, "share", table["customers"] / table["customers"].sum())
    value_col = next(
        (c for c in ("value_at_risk_sum", "predicted_ltv_sum") if c in table.columns), None
    )
    fig = Figure(figsize=(9.0, 0.35 * len(table) + 1.4), dpi=90)
    axes = fig.subplots(1, 2 if value_col else 1, sharey=True, squeeze=False)[0]
    labels = table.index.astype(str)[::-1]
    axes[0].barh(labels, table["customers"][::-1], color="#486581")
    axes[0].set_xlabel("customers")
    if value_col:
        axes[1].barh(labels, table[value_col][::-1], color="#d64545")
        axes[1].set_xlabel(value_col.replace("_", " "))
    fig.suptitle("Segment sizes and value")
    fig.tight_layout()
    html_parts = [
        _img(fig, "segments-bars", "Segment sizes and value"),
        _table(table, index_name="segment"),
    ]
    if "lifecycle_stage" in radar.columns:
        stages = radar["lifecycle_stage"].astype(str).value_counts().rename("customers").to_frame()
        html_parts.append("<h3>Lifecycle stage</h3>" + _table(stages, index_name="lifecycle_stage"))
    return "\n".join(html_parts)


_TIERS = ("high", "medium", "low", "unknown")


def _value_risk_from_radar(radar: pd.DataFrame) -> pd.DataFrame | None:
    """Customer counts per (value tier, risk tier) cell of the radar."""
    if {"value_tier", "risk_tier"} <= set(radar.columns):
        tiers = radar[["value_tier", "risk_tier"]].astype(str)
    elif {"value_if_retained", "churn_probability"} <= set(radar.columns):
        from repurchase_ml.segments import value_risk_matrix

        tiers = value_risk_matrix(
            radar["value_if_retained"].to_numpy(), radar["churn_probability"].to_numpy()
        )
    else:
        return None
    counts = pd.crosstab(tiers["value_tier"], tiers["risk_tier"])
    rows = [t for t in _TIERS if t in counts.index]
    cols = [t for t in reversed(_TIERS[:3]) if t in counts.columns] + (
        ["unknown"] if "unknown" in counts.columns else []
    )
    out = counts.reindex(index=rows, columns=cols)
    out.index.name, out.columns.name = "value", "risk"
    return out


def _value_risk_section(value_risk: pd.DataFrame | None, radar: pd.DataFrame | None,
                        cutoff: pd.Timestamp) -> str:
    if value_risk is None and radar is not None:
        if radar.empty:
            return _empty_radar(cutoff)
        value_risk = _value_risk_from_radar(radar)
    if value_risk is None:
        return _missing(
            "value_risk",
            "a value x risk matrix, or a radar with value_tier/risk_tier or "
            "value_if_retained/churn_probability columns",
        )
    if not isinstance(value_risk, pd.DataFrame):
        raise TypeError(f"value_risk must be a DataFrame, got {type(value_risk).__name__}.")
    numeric = value_risk.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any():
        bad = [c for c in numeric.columns if numeric[c].isna().any()]
        raise ValueError(
            f"value_risk cells must be numbers (customer counts or amounts); columns {bad} are not."
        )
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 4.2), dpi=90)
    ax = fig.add_subplot()
    im = ax.imshow(numeric.to_numpy(dtype=float), cmap="OrRd", aspect="auto")
    ax.set_xticks(range(numeric.shape[1]), [str(c) for c in numeric.columns])
    ax.set_yticks(range(numeric.shape[0]), [str(i) for i in numeric.index])
    ax.set_xlabel(str(numeric.columns.name or "risk"))
    ax.set_ylabel(str(numeric.index.name or "value"))
    cells = numeric.to_numpy(dtype=float)
    dark = np.nanmax(cells) * 0.6 if cells.size else 0.0
    for (i, j), v in np.ndenumerate(cells):  # white figures on the dark cells
        ax.text(j, i, f"{v:,.0f}", ha="center", va="center", fontsize=9,
                color="white" if v > dark else "black")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return _img(fig, "value-risk-heatmap", "Value by risk matrix") + _table(
        value_risk, index_name=str(value_risk.index.name or "value")
    )


def _curve_section(events: pd.DataFrame | None, cutoff: pd.Timestamp, curve_days: int) -> str:
    if events is None:
        return _missing("events", "the event log, to compute the repurchase curve")
    curve = repurchase_curve(events, as_of=cutoff, max_days=curve_days)
    shown = curve.loc[curve["eligible_buyers"] > 0]
    if shown.empty:
        return '<p class="note">No first purchase before the as-of date: no curve to draw.</p>'
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), dpi=90)
    ax = fig.add_subplot()
    ax.step(shown["days"], shown["share"], where="post", color="#2f8132")
    ax.set_xlabel("days since first order")
    ax.set_ylabel("share with a second order")
    ax.set_ylim(0, max(0.05, float(shown["share"].max()) * 1.1))
    ax.set_title("Second order within N days of the first")
    marks = [d for d in (7, 14, 30, 60, 90, 180, 365) if d <= curve_days]
    table = curve.loc[curve["days"].isin(marks)].set_index("days")
    note = (
        '<p class="note">Each point counts only first-time buyers observed for at least N days '
        "before the as-of date, so recent buyers do not pull the curve down.</p>"
    )
    return (
        _img(fig, "repurchase-curve-plot", "Repurchase curve")
        + note
        + _table(table, index_name="within N days")
    )


_RADAR_COLUMNS = (
    "rank",
    "customer_id",
    "churn_probability",
    # repurchase_probability is left to the CSV too: the list is about who leaves
    "predicted_ltv",
    "value_if_retained",
    "value_at_risk",
    "net_revenue_all",
    "segment",
    "lifecycle_stage",
    # value_risk (the value x risk cell) is left to the CSV: the matrix above shows it, and
    # without it the reasons and the action fit beside the numbers on a laptop screen
    "reasons",
    "action",
)


def _radar_section(radar: pd.DataFrame | None, top_n: int, cutoff: pd.Timestamp) -> str:
    if radar is None:
        return _missing("radar", "the radar list")
    if not isinstance(radar, pd.DataFrame):
        raise TypeError(f"radar must be a DataFrame, got {type(radar).__name__}.")
    if radar.empty:
        return _empty_radar(cutoff)
    frame = radar
    if "rank" in frame.columns:  # the radar's own order (by value at risk or churn probability)
        frame = frame.sort_values("rank", kind="mergesort")
        order = "in the radar's order"
    elif "value_at_risk" in frame.columns:
        frame = frame.sort_values("value_at_risk", ascending=False, kind="mergesort")
        order = "ranked by value at risk"
    else:
        order = "in the order given"
    reason_cols = sorted(
        (c for c in frame.columns if c.startswith("reason_") and c[7:].isdigit()),
        key=lambda c: int(c[7:]),
    )
    if reason_cols and "reasons" not in frame.columns:
        frame = frame.assign(
            reasons=[
                [r for r in row if isinstance(r, str) and r]
                for row in frame[reason_cols].itertuples(index=False, name=None)
            ]
        )
    cols = [c for c in _RADAR_COLUMNS if c in frame.columns]
    if not cols:
        raise SchemaError(
            None,
            f"radar has none of the expected columns {list(_RADAR_COLUMNS)}",
            fix="pass the frame returned by churn_radar",
        )
    top = frame.head(top_n)[cols].copy()
    if "reasons" in top.columns:
        top["reasons"] = top["reasons"].map(_join_reasons)
    # a score the model set does not give (e.g. no repurchase task) is left out, not shown empty
    top = top.loc[:, [c for c in top.columns if top[c].notna().any() or c in ("reasons",)]]
    money = ('<p class="note">Money is net of refunds. <code>value_if_retained</code>: expected '
             "net revenue over the churn horizon if the customer stays; <code>value_at_risk"
             "</code> = churn probability \u00d7 value if retained"
             + ("; <code>predicted_ltv</code>: the LTV model's expected net revenue over the "
                "LTV horizon, churn risk included" if "predicted_ltv" in top.columns else "")
             + ".</p>" if "value_if_retained" in top.columns else "")
    return (f"<p>Top {len(top)} of {len(frame):,} customers, {order}.</p>" + money
            # headers in words wrap, so the numeric columns stay narrow and the reasons fit
            + _table(top.rename(columns=lambda c: c.replace("_", " ")), index=False,
                     long_columns=("reasons", "action")))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _grid(parts: Sequence[str]) -> str:
    """Blocks side by side, wrapping on narrow screens."""
    return '<div class="grid">' + "".join(f'<div class="cell">{p}</div>' for p in parts) + "</div>"


def _empty_radar(cutoff: pd.Timestamp) -> str:
    return (f'<p class="note">The radar is empty: no customer bought in the year before '
            f"{_e(_fmt_date(cutoff))}, so there is nobody to list, segment or price.</p>")


def _missing(argument: str, what: str) -> str:
    return f'<p class="note">Not included: pass <code>{_e(argument)}</code> ({_e(what)}).</p>'


def _img(fig: Any, slug: str, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<img class="plot" id="plot-{_e(_slug(slug))}" alt="{_e(alt)}" '
        f'src="data:image/png;base64,{data}">'
    )


def _reference_axes(
    ax: Any, *, diagonal: tuple[float, str], labels: tuple[str, str], title: str, legend: str
) -> None:
    hi, name = diagonal
    ax.plot([0, hi], [0, hi], color="grey", linestyle="--", linewidth=1, label=name)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.legend(loc=legend, fontsize=8)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def _table(frame: pd.DataFrame, *, index: bool = True, index_name: str = "",
           long_columns: Sequence[str] = ()) -> str:
    """An HTML table; cells of ``long_columns`` (sentences) get room instead of a narrow wrap."""
    head = ([f"<th>{_e(index_name)}</th>"] if index else []) + [
        f"<th>{_e(c)}</th>" for c in frame.columns
    ]
    long = [c in long_columns for c in frame.columns]
    rows = []
    for idx, row in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        cells = [f"<th>{_e(idx)}</th>"] if index else []
        for v, is_long in zip(row, long, strict=True):
            cls = ' class="num"' if _is_number(v) else ' class="long"' if is_long else ""
            cells.append(f"<td{cls}>{_e(_fmt_cell(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table><thead><tr>"
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _fmt_cell(v: Any) -> str:
    if v is None or (isinstance(v, float | np.floating) and np.isnan(v)):
        return ""
    if isinstance(v, pd.Timestamp):
        return _fmt_date(v)
    if isinstance(v, float | np.floating):
        return f"{v:,.4g}" if abs(float(v)) < 1e4 else f"{v:,.0f}"
    return str(v)


def _fmt_value(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def _fmt_date(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


def _join_reasons(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return "; ".join(str(v) for v in value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _as_timestamp(value: Any, *, name: str) -> pd.Timestamp:
    if not isinstance(value, str | _dt.date | np.datetime64 | pd.Timestamp | None):
        raise TypeError(f"{name}: expected one date such as '2024-06-01', got {value!r}.")
    return normalise_cutoffs(value, argument=name)[0]


def _paired_arrays(
    y_true: Sequence[float], y_score: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(
            f"y_true and y_score must be 1-D and the same length, got {y.shape} and {s.shape}."
        )
    if len(y) == 0:
        raise ValueError("y_true and y_score are empty; pass at least one row.")
    if np.isnan(y).any() or np.isnan(s).any():
        raise ValueError(
            "y_true and y_score must not contain NaN; keep only rows in the task's population."
        )
    return y, s


def _score_columns(task: str, frame: pd.DataFrame) -> list[str]:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"predictions[{task!r}] must be a DataFrame, got {type(frame).__name__}.")
    if "y_true" not in frame.columns:
        raise SchemaError(
            "y_true",
            f"predictions[{task!r}] needs the observed outcome in a 'y_true' column",
            fix="add the label column under the name 'y_true'",
        )
    scores = [
        c
        for c in frame.columns
        if c not in ("y_true", "customer_id", "cutoff") and pd.api.types.is_numeric_dtype(frame[c])
    ]
    if not scores:
        raise SchemaError(
            None,
            f"predictions[{task!r}] has no numeric score column besides 'y_true'",
            fix="add one column per model (e.g. 'lightgbm', 'rfm_heuristic')",
        )
    return scores


def _gain_at(gain: pd.DataFrame, shares: Sequence[float]) -> dict[float, float]:
    out = {}
    n = len(gain) - 1
    for q in shares:
        k = max(1, int(np.ceil(q * n)))
        out[q] = float(gain["lift"].iloc[k])
    return out


def _label_value_columns(frame: pd.DataFrame, *, what: str) -> tuple[str, str]:
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if not text or not numeric:
        raise SchemaError(
            None,
            f"{what} needs a text column (feature name) and a numeric column (importance); "
            f"got columns {list(frame.columns)}",
            fix="pass the frame returned by driver_ranking",
        )
    preferred = [c for c in ("feature", "name") if c in text]
    return (preferred[0] if preferred else text[0]), numeric[0]
