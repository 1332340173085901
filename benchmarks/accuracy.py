"""Accuracy benchmark: the library's defaults against the RFM rule and BG/NBD, out of time.

Reproduce every number in ``benchmarks/results/accuracy.md`` with::

    .venv/bin/python benchmarks/accuracy.py

What a new user gets: ``build_training_set`` on monthly (or daily) cutoffs,
then ``train_models(..., events=events)`` with its defaults (it chooses among
plain LightGBM, the hybrid boosted from BG/NBD, a blend and the baselines on
the validation cutoff, refits on every labelled cutoff and scores on the test
cutoff). On the test cutoff every scorer is scored on the same rows; the
shipped scorer is compared with every baseline by a paired bootstrap (1,000
resamples of the test rows, 95 % percentile interval of the difference of the
task's primary metric). "Best baseline" is the baseline with the highest
primary metric on the test rows (an ex-post choice, which favours the
baselines).

Data sets:

1. *CDNOW master, out of time*: one acquisition cohort (Q1 1997), orders are
   customer-days, 90-day horizons, monthly cutoffs; test cutoff 1998-04-01.
2. *CDNOW 1/10 sample, out of time*: the same on 2,357 customers.
3. *CDNOW master, paper's split*: the single cutoff of the literature
   (1997-10-01, weeks 40-78 = 273 days as labels). Not out of time: one
   cohort has no earlier cutoff whose 273-day labels end before it, so
   ``train_models`` refuses it. Instead, cross-sectionally: the classic model
   (``ClassicModel``, fitted on every customer's weeks 1-39, which uses no
   label) gives every row its offset, the hybrid and plain LightGBM train on
   a seeded random half of the customers (a fifth of that half early-stops
   them) and every scorer is scored on the other half.
4. *Taobao sample*: nine days of a behaviour log, repurchase in the next two
   days, daily cutoffs; once with the default training minimums (which
   refuse it: a few hundred buyers per day) and once with lowered minimums,
   to measure what the model would do there.
5. *Synthetic retail shop*: ``make_event_log(..., profile="retail")`` (many
   cohorts, seasons, same-day invoices, cancellations, bulk and one-time
   buyers; see docs/synthetic.md), three years, monthly cutoffs, every task;
   once as an order export (``behaviour=False``) and once with browsing.

The radar is measured too: on each data set with a churn model, the test
cutoff's rows are ranked as ``churn_radar`` ranks them by default, and the
top decile's realised churn rate is divided by the base rate.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from repurchase_ml._io import write_text_atomic
from repurchase_ml.datasets import load_cdnow, load_cdnow_sample, load_taobao, make_event_log
from repurchase_ml.features import build_training_set
from repurchase_ml.models import train_models
from repurchase_ml.models.compare import BOOTSTRAP_METRICS, paired_bootstrap
from repurchase_ml.models.plan import TrainingMinimums
from repurchase_ml.models.training import OUTPUT_COLUMNS, TASK_KINDS, baseline_scores

logger = logging.getLogger("benchmarks.accuracy")

ROOT = Path(__file__).resolve().parents[1]
PRIMARY = {"repurchase": "roc_auc", "churn": "roc_auc", "second_purchase": "roc_auc",
           "order_count": "spearman", "ltv": "normalized_gini"}
BASELINE_NAMES = ("rfm", "run_rate", "bgnbd", "bgnbd_gg", "bgnbd_p_alive")


def _clv_for(events: pd.DataFrame, cutoff: pd.Timestamp):
    from repurchase_ml.models import fit_clv_models

    return fit_clv_models(events, cutoff=cutoff)


def _test_scores(bundle, ts: pd.DataFrame, events: pd.DataFrame, task: str, clv) -> tuple:
    """Outcome and every scorer's score on the test rows of ``task`` (finite rows only)."""
    test = pd.Timestamp(bundle.cutoffs[task]["test"])
    label = ts[f"label_{task}"]
    rows = ts.loc[label.notna() & (pd.to_datetime(ts["cutoff"]) == test)]
    y = rows[f"label_{task}"].to_numpy(dtype=float)
    shipped = bundle.predict(rows)[OUTPUT_COLUMNS[task]].to_numpy(dtype=float)
    scores = {"shipped": shipped}
    for name, (score, _) in baseline_scores(task, rows, horizon=bundle.horizons[task],
                                            clv=clv).items():
        scores[name] = np.asarray(score, dtype=float)
    keep = np.logical_and.reduce([np.isfinite(s) for s in scores.values()])
    return y[keep], {k: v[keep] for k, v in scores.items()}, rows.loc[keep]


def _radar_lift(bundle, rows: pd.DataFrame, y_churn: np.ndarray) -> dict:
    """Top-decile churn rate of the radar's default ranking over the base rate."""
    from repurchase_ml import radar as radar_module

    scores = bundle.predict(rows)
    out: dict = {}
    try:
        ranked = radar_module.radar_from_scores(scores, features=rows, churn_model=None,
                                                explain_top=0)
    except TypeError:  # older signature
        ranked = radar_module.radar_from_scores(scores, features=rows)
    order = ranked["customer_id"].to_numpy()
    churned = pd.Series(y_churn, index=rows["customer_id"].to_numpy())
    realised = churned.reindex(order).to_numpy()
    k = max(int(np.ceil(0.1 * len(churned))), 1)
    base = float(churned.mean())
    out["radar_rank_by"] = str(ranked.attrs.get("rank_by", "value_at_risk"))
    out["radar_top10_churn_rate"] = float(np.nanmean(realised[:k]))
    out["radar_base_rate"] = base
    out["radar_top10_lift"] = float(np.nanmean(realised[:k]) / base) if base > 0 else np.nan
    by_prob = np.argsort(-scores["churn_probability"].to_numpy(), kind="stable")[:k]
    out["churn_probability_top10_lift"] = float(y_churn[by_prob].mean() / base) if base else np.nan
    return out


def run_dataset(name: str, events: pd.DataFrame, *, cutoffs, tasks, horizons, seed: int,
                n_boot: int, train_kwargs: dict | None = None) -> list[dict]:
    """Train with the library's defaults, score every scorer on the test rows; one row per task."""
    t0 = time.perf_counter()
    ts = build_training_set(events, cutoffs=cutoffs, tasks=list(tasks), horizons=horizons)
    rows_out: list[dict] = []
    try:
        bundle = train_models(ts, tasks=list(tasks), horizons=horizons, events=events,
                              random_state=seed, **(train_kwargs or {}))
    except ValueError as exc:  # a refused plan is a result too
        return [{"dataset": name, "task": t, "status": f"refused: {exc}"} for t in tasks]
    clv_cache: dict = {}
    for task in tasks:
        if task not in bundle.models:
            reason = getattr(bundle, "skipped", {}).get(task, "not trained")
            rows_out.append({"dataset": name, "task": task, "status": f"refused: {reason}"})
            continue
        test = pd.Timestamp(bundle.cutoffs[task]["test"])
        if test not in clv_cache:
            clv_cache[test] = _clv_for(events, test)
        y, scores, rows = _test_scores(bundle, ts, events, task, clv_cache[test])
        metric = PRIMARY[task]
        fn = BOOTSTRAP_METRICS[metric]
        values = {k: fn(y, s) for k, s in scores.items()}
        baselines = {k: v for k, v in values.items() if k in BASELINE_NAMES and k != "bgnbd_p_alive"}
        best = max(baselines, key=lambda k: baselines[k])
        cmp = paired_bootstrap(y, scores["shipped"], scores[best], metric=metric, n_boot=n_boot,
                               random_state=seed)
        choice = getattr(bundle, "choice", {}).get(task, {})
        row = {
            "dataset": name, "task": task, "status": "ok", "horizon_days": bundle.horizons[task],
            "test_cutoff": str(test.date()), "test_rows": int(len(y)),
            "positive_rate": float(np.mean(y > 0)), "metric": metric,
            "chosen": choice.get("chosen", "lightgbm"),
            "shipped": values["shipped"], **{k: values[k] for k in values if k != "shipped"},
            "best_baseline": best, "difference": cmp.difference, "low": cmp.low, "high": cmp.high,
        }
        if TASK_KINDS[task] != "classification":  # the totals a planner reads
            total = float(np.sum(y))
            for k in ("shipped", "bgnbd", "bgnbd_gg"):
                if k in scores and total > 0:
                    row[f"total_error_pct_{k}"] = 100.0 * (float(np.sum(scores[k])) - total) / total
        for candidate in ("lightgbm", "hybrid", "blend"):
            card = bundle.scorecards.get(task, {}).get(candidate)
            if card is not None and metric in card.metrics:
                row[f"test_{candidate}"] = card.metrics[metric]
        if task == "churn":
            row.update(_radar_lift(bundle, rows, y))
        rows_out.append(row)
    logger.info("%s done in %.0f s", name, time.perf_counter() - t0)
    for r in rows_out:
        r["seconds"] = round(time.perf_counter() - t0, 1)
    return rows_out


def paper_split(name: str, events: pd.DataFrame, *, seed: int, n_boot: int) -> list[dict]:
    """Cross-sectional protocol at the end of week 39 (see the module notes)."""
    from repurchase_ml.models import LGBMTaskClassifier, OrderCountRegressor
    from repurchase_ml.models._base import capacity_params
    from repurchase_ml.models.btyd import ClassicModel
    from repurchase_ml.models.estimators import log_offset, logit_offset

    t0 = time.perf_counter()
    cutoff, horizon = pd.Timestamp("1997-10-01"), 273
    tasks = {"repurchase": "probability_repurchase", "order_count": "expected_orders"}
    ts = build_training_set(events, cutoffs=[cutoff], tasks=list(tasks),
                            horizons=dict.fromkeys(tasks, horizon))
    classic = ClassicModel().fit(ts).predict(ts, horizon_days=horizon)
    rng = np.random.default_rng(seed)
    customers = np.sort(ts["customer_id"].unique())
    is_train = ts["customer_id"].isin(rng.choice(customers, len(customers) // 2, replace=False))
    is_train = is_train.to_numpy()
    stop = np.zeros(len(ts), dtype=bool)
    stop[np.flatnonzero(is_train)[rng.permutation(is_train.sum()) < is_train.sum() // 5]] = True
    fit = is_train & ~stop
    test = ~is_train
    X = ts[[c for c in ts.columns if c not in ("customer_id", "cutoff")
            and not c.startswith("label_")]]
    out = []
    for task, column in tasks.items():
        y = ts[f"label_{task}"].to_numpy(dtype=float)
        base = classic[column].to_numpy(dtype=float)
        classification = TASK_KINDS[task] == "classification"
        offset = logit_offset(base) if classification else log_offset(base)
        params = capacity_params(int(fit.sum()))
        scores = {}
        for kind, off in (("lightgbm", None), ("hybrid", offset)):
            model = (LGBMTaskClassifier if classification else OrderCountRegressor)(
                lgbm_params=params, random_state=seed)
            kw = {} if off is None else {"init_score": off[fit], "eval_init_score": off[stop]}
            model.fit(X[fit], y[fit], eval_set=(X[stop], y[stop]), **kw)
            test_off = None if off is None else off[test]
            scores[kind] = (model.predict_proba(X[test], init_score=test_off)[:, 1]
                            if classification else model.predict(X[test], init_score=test_off))
        scores["bgnbd"] = base[test]
        rows = ts.loc[test]
        for bname, (bscore, _) in baseline_scores(task, rows, horizon=horizon, clv=None).items():
            scores[bname] = np.asarray(bscore, dtype=float)
        metric = PRIMARY[task]
        fn = BOOTSTRAP_METRICS[metric]
        values = {k: fn(y[test], v) for k, v in scores.items()}
        best = max((k for k in values if k in BASELINE_NAMES), key=lambda k: values[k])
        cmp = paired_bootstrap(y[test], scores["hybrid"], scores[best], metric=metric,
                               n_boot=n_boot, random_state=seed)
        out.append({"dataset": name, "task": task, "status": "ok", "horizon_days": horizon,
                    "test_cutoff": str(cutoff.date()), "test_rows": int(test.sum()),
                    "positive_rate": float(np.mean(y[test] > 0)), "metric": metric,
                    "chosen": "hybrid (fixed)", "shipped": values["hybrid"],
                    **{k: v for k, v in values.items() if k not in ("hybrid", "lightgbm")},
                    "test_lightgbm": values["lightgbm"], "test_hybrid": values["hybrid"],
                    "best_baseline": best, "difference": cmp.difference, "low": cmp.low,
                    "high": cmp.high, "seconds": round(time.perf_counter() - t0, 1)})
    return out


def _monthly(start: str, end: str) -> list[pd.Timestamp]:
    return list(pd.date_range(start, end, freq="MS"))


def datasets(args) -> list[tuple[str, pd.DataFrame, dict]]:
    """(name, events, settings) of every data set, skipping files that are missing."""
    out = []
    h90 = {t: 90 for t in ("repurchase", "order_count", "churn", "ltv")}
    try:
        cdnow, _ = load_cdnow()
        out.append(("CDNOW master, out of time", cdnow,
                    {"cutoffs": _monthly("1997-03-01", "1998-04-01"), "tasks": list(h90),
                     "horizons": h90}))
        out.append(("CDNOW master, paper's split", cdnow, {"protocol": "paper"}))
        sample, _ = load_cdnow_sample()
        out.append(("CDNOW 1/10 sample, out of time", sample,
                    {"cutoffs": _monthly("1997-03-01", "1998-04-01"), "tasks": list(h90),
                     "horizons": h90}))
    except FileNotFoundError as exc:
        logger.warning("CDNOW skipped: %s", exc)
    try:
        taobao, _ = load_taobao(on_invalid="drop")
        days = {"cutoffs": list(pd.date_range("2017-11-27", "2017-12-02", freq="D")),
                "tasks": ["repurchase"], "horizons": {"repurchase": 2}}
        out.append(("Taobao sample, 2-day repurchase (default minimums)", taobao, days))
        out.append(("Taobao sample, 2-day repurchase (minimums lowered)", taobao, {
            **days, "train_kwargs": {"minimums": TrainingMinimums(
                train_positives=100, train_negatives=100, eval_rows=300, eval_positives=50,
                eval_negatives=50, history_days=0)}}))
    except FileNotFoundError as exc:
        logger.warning("Taobao skipped: %s", exc)
    syn_h = {"repurchase": 30, "order_count": 90, "churn": 90, "ltv": 180}
    for behaviour, what in ((False, "orders only"), (True, "with browsing")):
        events, _ = make_event_log(args.synthetic_customers, "2022-01-01", "2025-01-01",
                                   random_state=args.seed, profile="retail", behaviour=behaviour)
        out.append((f"Synthetic retail shop, {what} ({args.synthetic_customers:,} customers)",
                    events, {"cutoffs": _monthly("2022-07-01", "2024-07-01"), "tasks": list(syn_h),
                             "horizons": syn_h}))
    return out


def _fmt(v, *, whole: bool = False) -> str:
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        return f"{v:,.0f}" if whole else f"{v:.3f}"
    return str(v)


def render(results: pd.DataFrame, *, seconds: float, command: str) -> str:
    lines = [
        "# Accuracy: the library's defaults against the RFM rule and BG/NBD, out of time",
        "",
        f"Reproduce with `{command}` ({seconds:.0f} s on the benchmark machine). Protocols "
        "are in the script's docstring. Every scorer is scored on the same test rows; "
        "*difference* is the shipped scorer's primary metric minus the best baseline's, with a "
        "95 % paired-bootstrap interval (1,000 resamples of the test rows). Baselines: `rfm` "
        "(RFM rule), `run_rate` (historical rate carried forward), `bgnbd` (BG/NBD P(order) "
        "for classification, expected orders for counts), `bgnbd_gg` (BG/NBD x Gamma-Gamma "
        "revenue). *chosen* is what `train_models` picked on the validation cutoff; "
        "`test_lightgbm`, `test_hybrid`, `test_blend` are the candidates on the test rows.",
        "",
    ]
    ok = results[results["status"] == "ok"]
    cols = ["dataset", "task", "metric", "test_rows", "positive_rate", "chosen", "shipped",
            "best_baseline", "difference", "low", "high"]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, r in ok.iterrows():
        lines.append("| " + " | ".join(_fmt(r.get(c), whole=c == "test_rows") for c in cols)
                     + " |")
    lines.append("")
    extra = [c for c in ("rfm", "run_rate", "bgnbd", "bgnbd_gg", "test_lightgbm", "test_hybrid",
                         "test_blend") if c in ok.columns]
    lines.append("All scorers' primary metric on the test rows:")
    lines.append("")
    cols2 = ["dataset", "task", "metric", "shipped", *extra]
    lines.append("| " + " | ".join(cols2) + " |")
    lines.append("|" + "|".join("---" for _ in cols2) + "|")
    for _, r in ok.iterrows():
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols2) + " |")
    lines.append("")
    totals = [c for c in ("total_error_pct_shipped", "total_error_pct_bgnbd",
                          "total_error_pct_bgnbd_gg") if c in ok.columns]
    counts = ok[ok["task"].isin(["order_count", "ltv"])]
    if totals and len(counts):
        lines.append("Totals over the test window, 100 x (predicted - actual) / actual "
                     "(orders for order_count, net revenue for ltv):")
        lines.append("")
        cols4 = ["dataset", "task", *totals]
        lines.append("| " + " | ".join(cols4) + " |")
        lines.append("|" + "|".join("---" for _ in cols4) + "|")
        for _, r in counts.iterrows():
            lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols4) + " |")
        lines.append("")
    if "radar_top10_lift" in ok.columns:
        radar = ok[ok["task"] == "churn"]
        lines.append("The radar on the churn test rows (default ranking, top decile):")
        lines.append("")
        radar = radar.assign(lift_ceiling=1.0 / radar["radar_base_rate"])
        cols3 = ["dataset", "radar_rank_by", "radar_base_rate", "radar_top10_churn_rate",
                 "radar_top10_lift", "churn_probability_top10_lift", "lift_ceiling"]
        lines.append("| " + " | ".join(cols3) + " |")
        lines.append("|" + "|".join("---" for _ in cols3) + "|")
        for _, r in radar.iterrows():
            lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols3) + " |")
        lines.append("")
    refused = results[results["status"] != "ok"]
    if len(refused):
        lines.append("Refused by the training plan (the message a user gets):")
        lines.append("")
        for _, r in refused.iterrows():
            lines.append(f"- {r['dataset']}, {r['task']}: {r['status']}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic-customers", type=int, default=6000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--only", default=None, help="run only data sets whose name contains this")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "accuracy.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    warnings.filterwarnings("ignore", category=FutureWarning)
    t0 = time.perf_counter()
    rows: list[dict] = []
    for name, events, settings in datasets(args):
        if args.only and args.only.lower() not in name.lower():
            continue
        logger.info("running %s", name)
        if settings.get("protocol") == "paper":
            rows += paper_split(name, events, seed=args.seed, n_boot=args.n_boot)
        else:
            rows += run_dataset(name, events, seed=args.seed, n_boot=args.n_boot, **settings)
    results = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(results.drop(columns=[c for c in ("status",) if c in results]).to_string())
    command = "python benchmarks/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(results, seconds=time.perf_counter() - t0, command=command.strip())
    if not args.only:
        write_text_atomic(args.out, text + "\n")
        results.to_csv(Path(args.out).with_suffix(".csv"), index=False)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
