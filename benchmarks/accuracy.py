"""Accuracy benchmark: LightGBM against the RFM rule and BG/NBD (+ Gamma-Gamma) on CDNOW.

Reproduce every number in ``benchmarks/results/accuracy.md`` with::

    .venv/bin/python benchmarks/accuracy.py

Protocols (both on the CDNOW master file, 23,570 customers of one acquisition
cohort, orders = customer-days as in the literature):

1. *Paper's split* (cross-sectional): cutoff 1997-10-01 (end of week 39),
   labels from weeks 40-78 (273 days). BG/NBD and Gamma-Gamma are fitted on
   all customers' weeks 1-39. LightGBM trains on a seeded random half of the
   customers (a seeded fifth of that half early-stops it) and everything is
   scored on the other half. Also run on the 1/10 sample, where the published
   BG/NBD numbers were measured.
2. *Out-of-time*: test cutoff 1998-01-01, horizon 180 days. LightGBM trains
   on monthly cutoffs whose 180-day labels end by 1998-01-01 (validation
   cutoff 1997-07-01 for early stopping and calibration); BG/NBD and
   Gamma-Gamma are fitted on all purchases before 1998-01-01.

Plus an ablation on a synthetic Tmall-style log: transaction-only features
against all features (views, carts, favourites, habits), out of time.

Needs the ``baselines`` extra and the CDNOW files (see ``find_data_file``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from repurchase_ml._io import write_text_atomic
from repurchase_ml.datasets import load_cdnow, load_cdnow_sample, make_event_log
from repurchase_ml.features import FeatureSpec, build_training_set
from repurchase_ml.models import (
    LGBMTaskClassifier,
    LTVRegressor,
    OrderCountRegressor,
    evaluate,
    fit_clv_models,
    predict_clv,
    rfm_heuristic_score,
    run_rate_baseline,
    train_models,
    tune_estimator,
)
from repurchase_ml.models.training import TASK_KINDS

logger = logging.getLogger("benchmarks.accuracy")

TASKS = ("repurchase", "order_count", "churn", "ltv")
CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10")
REGRESSION_METRICS = ("mae", "rmse", "spearman", "normalized_gini", "total_error_pct")
PAPER_CUTOFF = pd.Timestamp("1997-10-01")
PAPER_HORIZON = 273
OOT_TEST = pd.Timestamp("1998-01-01")
OOT_HORIZON = 180
#: shallower trees with bigger leaves than the defaults: the best hand-picked setting on CDNOW
SHALLOW = {"num_leaves": 4, "min_child_samples": 100}


def _id_columns(ts: pd.DataFrame) -> list[str]:
    return [c for c in ts.columns if c in ("customer_id", "cutoff") or c.startswith("label_")]


def _baseline_cards(task: str, rows: pd.DataFrame, y: np.ndarray, clv_pred: pd.DataFrame,
                    horizon: int) -> dict:
    """RFM / run-rate and BG/NBD(+GG) scorecards on ``rows`` (same rows as the model)."""
    kind = TASK_KINDS[task]
    aligned = clv_pred.set_index("customer_id").reindex(rows["customer_id"].to_numpy())
    cards = {}
    if kind == "classification":
        rfm = rfm_heuristic_score(rows).to_numpy()
        cards["RFM rule"] = evaluate(y, 1 - rfm if task == "churn" else rfm, kind=kind)
        p_buy = aligned["probability_repurchase"].to_numpy()
        if task == "churn":
            cards["BG/NBD P(no order)"] = evaluate(y, 1 - p_buy, kind=kind)
            cards["BG/NBD 1-P(alive)"] = evaluate(
                y, 1 - aligned["probability_alive"].to_numpy(), kind=kind)
        else:
            cards["BG/NBD P(order)"] = evaluate(y, p_buy, kind=kind)
            orders = aligned["expected_orders"].to_numpy()
            cards["BG/NBD E[orders] (rank)"] = evaluate(
                y, orders / max(orders.max(), 1e-12), kind=kind)
    else:
        rate = run_rate_baseline(rows, horizon_days=horizon)
        col = "expected_orders" if task == "order_count" else "expected_revenue"
        cards["run-rate rule"] = evaluate(y, rate[col].to_numpy(), kind=kind)
        name = "BG/NBD" if task == "order_count" else "BG/NBD x GG"
        cards[name] = evaluate(y, aligned[col].to_numpy(), kind=kind)
    return cards


def _model_for(task: str, *, seed: int, ltv_strategy: str = "tweedie"):
    if TASK_KINDS[task] == "classification":
        return LGBMTaskClassifier(random_state=seed)
    if task == "order_count":
        return OrderCountRegressor(random_state=seed)
    return LTVRegressor(strategy=ltv_strategy, random_state=seed)


def _predict(model, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, 1] if hasattr(model, "predict_proba") else model.predict(X)


BGNBD_FEATURES = ("bgnbd_expected_orders", "bgnbd_probability_alive", "bgnbd_probability_order")


def add_bgnbd_features(ts: pd.DataFrame, events: pd.DataFrame, *, horizon: int,
                       fits: dict | None = None) -> pd.DataFrame:
    """Stack BG/NBD outputs as features: one fit per cutoff on the purchases before it."""
    parts = []
    for cutoff in sorted(ts["cutoff"].unique()):
        cutoff = pd.Timestamp(cutoff)
        fit = (fits or {}).get(cutoff) or fit_clv_models(events, cutoff=cutoff, gamma_gamma=False)
        pred = predict_clv(fit, horizon_days=horizon)
        parts.append(pd.DataFrame({
            "customer_id": pred["customer_id"], "cutoff": cutoff,
            "bgnbd_expected_orders": pred["expected_orders"],
            "bgnbd_probability_alive": pred["probability_alive"],
            "bgnbd_probability_order": pred["probability_repurchase"],
        }))
    extra = pd.concat(parts, ignore_index=True)
    extra["cutoff"] = extra["cutoff"].astype("datetime64[ns]")
    out = ts.merge(extra, on=["customer_id", "cutoff"], how="left", validate="one_to_one")
    labels = [c for c in out.columns if c.startswith("label_")]
    return out[[c for c in out.columns if c not in labels] + labels]


def paper_split(events: pd.DataFrame, *, seed: int, n_trials: int) -> dict:
    """Cross-sectional protocol at the end of week 39; returns cards per task."""
    horizons = {t: PAPER_HORIZON for t in TASKS}
    ts = build_training_set(events, cutoffs=[PAPER_CUTOFF], tasks=list(TASKS), horizons=horizons)
    rng = np.random.default_rng(seed)
    customers = np.sort(ts["customer_id"].unique())
    train_ids = rng.choice(customers, size=len(customers) // 2, replace=False)
    is_train = ts["customer_id"].isin(train_ids).to_numpy()
    stop = np.zeros(len(ts), dtype=bool)
    stop[np.flatnonzero(is_train)[rng.permutation(is_train.sum()) < is_train.sum() // 5]] = True
    fit_rows = is_train & ~stop
    clv = fit_clv_models(events, cutoff=PAPER_CUTOFF)
    clv_pred = predict_clv(clv, horizon_days=PAPER_HORIZON)
    hybrid = add_bgnbd_features(ts, events, horizon=PAPER_HORIZON, fits={PAPER_CUTOFF: clv})
    features = [c for c in ts.columns if c not in _id_columns(ts)]
    out: dict = {"_tuning": {}}
    for task in TASKS:
        label = ts[f"label_{task}"].to_numpy(dtype=float)
        has = ~np.isnan(label)
        test = ~is_train & has
        kind = TASK_KINDS[task]

        def fit_score(frame, cols, model, label=label, has=has, test=test, kind=kind):
            model.fit(frame.loc[fit_rows & has, cols], label[fit_rows & has],
                      eval_set=(frame.loc[stop & has, cols], label[stop & has]))
            return evaluate(label[test], _predict(model, frame.loc[test, cols]), kind=kind)

        cards = {"LightGBM": fit_score(ts, features, _model_for(task, seed=seed))}
        tuned = tune_estimator(
            _model_for(task, seed=seed), ts.loc[fit_rows & has, features], label[fit_rows & has],
            eval_set=(ts.loc[stop & has, features], label[stop & has]), n_trials=n_trials,
            random_state=seed,
        )
        out["_tuning"][task] = tuned
        cards["LightGBM tuned"] = fit_score(
            ts, features, _model_for(task, seed=seed).set_params(lgbm_params=tuned.best_params))
        cards["LightGBM shallow"] = fit_score(
            ts, features, _model_for(task, seed=seed).set_params(lgbm_params=SHALLOW))
        cards["LightGBM + BG/NBD features"] = fit_score(
            hybrid, features + list(BGNBD_FEATURES), _model_for(task, seed=seed))
        if task == "ltv":
            cards["LightGBM two-part"] = fit_score(
                ts, features, _model_for(task, seed=seed, ltv_strategy="two_part"))
            cards["LightGBM two-part tuned"] = fit_score(
                ts, features, _model_for(task, seed=seed, ltv_strategy="two_part").set_params(
                    lgbm_params=tuned.best_params))
        cards.update(_baseline_cards(task, ts.loc[test], label[test], clv_pred, PAPER_HORIZON))
        out[task] = cards
    out["_meta"] = {"n_test": int((~is_train).sum()), "n_train": int(fit_rows.sum()),
                    "n_stop": int(stop.sum()), "bgnbd": clv.bgnbd_params,
                    "gg": clv.gamma_gamma_params}
    return out


def out_of_time(events: pd.DataFrame, *, seed: int) -> dict:
    """Monthly cutoffs, test at 1998-01-01 with 180-day labels; returns cards per task."""
    horizons = {t: OOT_HORIZON for t in TASKS}
    cutoffs = list(pd.date_range("1997-02-01", "1997-07-01", freq="MS")) + [OOT_TEST]
    ts = build_training_set(events, cutoffs=cutoffs, tasks=list(TASKS), horizons=horizons)
    common = {"horizons": horizons, "valid_cutoff": "1997-07-01", "test_cutoff": OOT_TEST,
              "strict_validation": False, "random_state": seed}
    bundle = train_models(ts, tasks=list(TASKS), **common)
    two_part = train_models(ts, tasks=["ltv"], ltv_strategy="two_part", **common)
    shallow = train_models(ts, tasks=list(TASKS), lgbm_params={t: SHALLOW for t in TASKS},
                           **common)
    clv = fit_clv_models(events, cutoff=OOT_TEST)
    clv_pred = predict_clv(clv, horizon_days=OOT_HORIZON)
    hybrid_ts = add_bgnbd_features(ts, events, horizon=OOT_HORIZON, fits={OOT_TEST: clv})
    hybrid = train_models(hybrid_ts, tasks=list(TASKS), **common)
    out: dict = {}
    for task in TASKS:
        test = (ts["cutoff"] == OOT_TEST) & ts[f"label_{task}"].notna()
        rows = ts.loc[test]
        y = rows[f"label_{task}"].to_numpy(dtype=float)
        kind = TASK_KINDS[task]
        cards = {
            "LightGBM": evaluate(y, _predict(bundle.models[task], rows[bundle.feature_names]),
                                 kind=kind),
            "LightGBM shallow": evaluate(
                y, _predict(shallow.models[task], rows[bundle.feature_names]), kind=kind),
            "LightGBM + BG/NBD features": evaluate(
                y, _predict(hybrid.models[task], hybrid_ts.loc[test, hybrid.feature_names]),
                kind=kind),
        }
        if task == "ltv":
            cards["LightGBM two-part"] = evaluate(
                y, two_part.models["ltv"].predict(rows[bundle.feature_names]), kind=kind)
        cards.update(_baseline_cards(task, rows, y, clv_pred, OOT_HORIZON))
        out[task] = cards
    out["_meta"] = {"cutoffs": bundle.cutoffs["repurchase"],
                    "n_test": int((ts["cutoff"] == OOT_TEST).sum()), "bgnbd": clv.bgnbd_params,
                    "rounds": {t: m.best_iteration_ for t, m in bundle.models.items()},
                    "calibration": {t: getattr(m, "calibration_", None)
                                    for t, m in bundle.models.items()}}
    return out


TRANSACTION_FAMILIES = ("rfm", "rhythm", "trend", "value", "breadth", "lifecycle")


def ablation(*, seed: int, n_customers: int) -> pd.DataFrame:
    """Transaction-only against all features on a synthetic behaviour log, out of time."""
    events, _ = make_event_log(n_customers, "2022-01-01", "2024-01-01", random_state=seed)
    tasks = ["repurchase", "churn", "order_count"]
    horizons = {"repurchase": 30, "churn": 90, "order_count": 90}
    cutoffs = list(pd.date_range("2022-07-01", "2023-10-01", freq="MS"))
    specs = {
        "transactions only": FeatureSpec(families=TRANSACTION_FAMILIES, behaviour=False),
        "+ behaviour (views, carts, favourites, habits)": FeatureSpec(),
    }
    rows = []
    for name, spec in specs.items():
        ts = build_training_set(events, cutoffs=cutoffs, tasks=tasks, spec=spec,
                                horizons=horizons)
        bundle = train_models(ts, tasks=tasks, horizons=horizons, random_state=seed)
        n_features = len(bundle.feature_names)
        for task in tasks:
            card = bundle.scorecards[task]["model"]
            metric = "roc_auc" if TASK_KINDS[task] == "classification" else "spearman"
            second = "pr_auc" if TASK_KINDS[task] == "classification" else "normalized_gini"
            rows.append({"features": name, "n_features": n_features, "task": task,
                         "test cutoff": str(bundle.cutoffs[task]["test"].date()),
                         "test rows": card.n_rows, metric: card[metric], second: card[second]})
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame, *, index: bool = True) -> str:
    """A GitHub markdown table; floats with 3 decimals."""
    frame = frame.reset_index() if index else frame

    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:,.3f}"
        return str(v)

    head = [str(c) for c in frame.columns]
    body = [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    align = ["---"] + ["---:"] * (len(head) - 1)
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, align, *body])


def _table(cards: dict, kind: str) -> str:
    metrics = CLASSIFICATION_METRICS if kind == "classification" else REGRESSION_METRICS
    frame = pd.DataFrame({name: [card.metrics[m] for m in metrics] for name, card in cards.items()},
                         index=pd.Index(list(metrics), name="metric"))
    return _markdown(frame)


def _section(title: str, result: dict) -> list[str]:
    lines = [f"### {title}", ""]
    for task in TASKS:
        cards = result[task]
        n = next(iter(cards.values())).n_rows
        lines += [f"**{task}** ({n:,} test rows)", "", _table(cards, TASK_KINDS[task]), ""]
    return lines


def _headline(result: dict, label: str) -> list[str]:
    rep, cnt = result["repurchase"], result["order_count"]
    bg_auc = rep["BG/NBD E[orders] (rank)"]["roc_auc"]
    lines = [f"**{label}** - repurchase ROC-AUC of BG/NBD (expected orders): {bg_auc:.3f}; "
             f"total predicted orders error of BG/NBD: {cnt['BG/NBD']['total_error_pct']:+.1f} %.",
             ""]
    for name in [n for n in rep if n.startswith("LightGBM")]:
        auc = rep[name]["roc_auc"]
        err = cnt[name]["total_error_pct"] if name in cnt else float("nan")
        lines.append(f"- {name}: AUC {auc:.3f} ({auc - bg_auc:+.3f} against BG/NBD, goal +0.030), "
                     f"total orders error {err:+.1f} % (goal within +-3 %)")
    return [*lines, ""]


def _tuning_lines(result: dict) -> list[str]:
    lines = []
    for task, res in result["_tuning"].items():
        pruned = int((res.study_summary["state"] == "PRUNED").sum())
        params = {k: (round(v, 4) if isinstance(v, float) else v)
                  for k, v in res.best_params.items()}
        lines.append(f"- {task}: {res.n_trials} trials ({pruned} pruned), best validation "
                     f"{res.metric} {res.best_value:.4f} with {params}")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic-customers", type=int, default=4000)
    parser.add_argument("--n-trials", type=int, default=25,
                        help="Optuna trials per task on the paper's split")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "accuracy.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = time.time()
    master, _ = load_cdnow()
    sample, _ = load_cdnow_sample()

    paper_master = paper_split(master, seed=args.seed, n_trials=args.n_trials)
    logger.info("paper split (master) done after %.0f s", time.time() - started)
    paper_sample = paper_split(sample, seed=args.seed, n_trials=args.n_trials)
    logger.info("paper split (sample) done after %.0f s", time.time() - started)
    oot = out_of_time(master, seed=args.seed)
    logger.info("out-of-time done after %.0f s", time.time() - started)
    abl = ablation(seed=args.seed, n_customers=args.synthetic_customers)
    logger.info("ablation done after %.0f s", time.time() - started)

    lines = [
        "# Accuracy benchmark: LightGBM against the RFM rule and BG/NBD on CDNOW",
        "",
        "Reproduce with:",
        "",
        "```",
        f".venv/bin/python benchmarks/accuracy.py --seed {args.seed} "
        f"--synthetic-customers {args.synthetic_customers} --n-trials {args.n_trials}",
        "```",
        "",
        "Generated by the script; every number below comes from one run "
        f"({time.time() - started:.0f} s on the benchmark machine). Protocols are described "
        "in the script's docstring. Orders are customer-days (the CDNOW loader's definition, "
        "as in the BG/NBD literature). `total_error_pct` = 100 x (predicted - actual) / actual. "
        "Scores that are rankings rather than probabilities (the RFM rule, BG/NBD's expected "
        "orders rescaled to [0, 1]) should be read on the ranking metrics only "
        "(ROC-AUC, PR-AUC, lift).",
        "",
        "Scorers: `LightGBM` is the library's estimator with default settings; `LightGBM "
        "tuned` adds Optuna tuning on the early-stopping rows; `LightGBM shallow` uses "
        f"`lgbm_params={SHALLOW}` (hand-picked after the tuned runs chose small trees); "
        "`LightGBM + BG/NBD features` "
        "stacks BG/NBD's expected orders, P(alive) and P(order) (one fit per cutoff, on the "
        "purchases before it) onto the behaviour features; `LightGBM two-part` is the LTV "
        "model P(buy) x E[revenue | buy]. Baselines: the RFM rule and the run-rate rule "
        "(`rfm_heuristic_score`, `run_rate_baseline`), BG/NBD (`P(order)` = P(at least one "
        "order in the horizon), `E[orders]` = expected orders rescaled to [0, 1] for ranking, "
        "`1-P(alive)` for churn) and BG/NBD x Gamma-Gamma for revenue.",
        "",
        "## Headline",
        "",
        *_headline(paper_master, "Paper's split, CDNOW master"),
        *_headline(paper_sample, "Paper's split, CDNOW 1/10 sample"),
        *_headline(oot, "Out-of-time, CDNOW master"),
        "What was tried, and what it shows:",
        "",
        "- *Tuning* (Optuna, 25 trials per task on the early-stopping rows) and *smaller "
        "trees* both help; the tuned runs chose 4-8 leaves, which is why the library's "
        "defaults are now 7 leaves and 50 rows per leaf. CDNOW's signal is a few monotone "
        "effects of recency and frequency, which small trees capture without memorising noise.",
        "- *Stacking BG/NBD's outputs as features* barely changes the cross-sectional "
        "results; out of time it lifts the ranking a little but makes the total forecast much "
        "worse: the BG/NBD fitted at young training cutoffs (one to six months of history) is "
        "not comparable with the one fitted at the test cutoff, so the model learns the wrong "
        "scale.",
        "- *Out of time*, CDNOW is one acquisition cohort: training cutoffs see customers at "
        "most six months old, the test cutoff sees them a year old, and trees cannot "
        "extrapolate in recency or tenure; BG/NBD's parametric form can. This is where "
        "BG/NBD is strongest and the model's total forecasts are weakest; on logs with "
        "customers of every age the model sees the test-time ranges in training.",
        "- On the 1/10 sample the model trains on under a thousand customers and BG/NBD, with "
        "four parameters, wins.",
        "- Where LightGBM is ahead on the master file: cross-sectionally, calibration (ECE, "
        "log loss, Brier), the total orders forecast and the ranking of buyers, order counts "
        "and revenue; out of time, the ranking of order counts and revenue (Spearman, Gini). "
        "The synthetic ablation shows what behaviour data adds when a log has it.",
        "",
        "## Paper's split (cross-sectional comparison)",
        "",
        f"Cutoff {PAPER_CUTOFF.date()} (end of week 39), labels from weeks 40-78 "
        f"({PAPER_HORIZON} days). LightGBM: seeded random half of the customers "
        f"({paper_master['_meta']['n_train']:,} fit + {paper_master['_meta']['n_stop']:,} "
        "early-stopping rows on the master file); all scorers on the other half "
        f"({paper_master['_meta']['n_test']:,} customers). BG/NBD fitted on all customers' "
        f"weeks 1-39: {paper_master['_meta']['bgnbd']}; Gamma-Gamma: "
        f"{paper_master['_meta']['gg']}.",
        "",
        *_section("CDNOW master (23,570 customers)", paper_master),
        "Optuna tuning on the master file (TPE sampler seeded, median pruner):",
        "",
        *_tuning_lines(paper_master),
        f"BG/NBD on the 1/10 sample: {paper_sample['_meta']['bgnbd']} "
        f"(test half {paper_sample['_meta']['n_test']:,} customers).",
        "",
        *_section("CDNOW 1/10 sample (2,357 customers)", paper_sample),
        "## Out-of-time",
        "",
        f"Test cutoff {OOT_TEST.date()}, {OOT_HORIZON}-day labels. LightGBM trains on cutoffs "
        f"{', '.join(str(c.date()) for c in oot['_meta']['cutoffs']['train'])}, early-stops and "
        f"calibrates on {oot['_meta']['cutoffs']['valid'].date()} (all labels end by the test "
        f"cutoff). BG/NBD + Gamma-Gamma fitted on all purchases before {OOT_TEST.date()}: "
        f"{oot['_meta']['bgnbd']}. Boosting rounds kept by early stopping: "
        f"{oot['_meta']['rounds']}; calibration kept: {oot['_meta']['calibration']}.",
        "",
        *_section("CDNOW master", oot),
        "## Ablation: what behaviour features add (synthetic Tmall-style log)",
        "",
        f"`make_event_log({args.synthetic_customers}, '2022-01-01', '2024-01-01', "
        f"random_state={args.seed})`, monthly cutoffs 2022-07-01 to 2023-10-01, default "
        "out-of-time split of `train_models`; scores of the model on each task's test cutoff.",
        "",
        _markdown(abl, index=False),
        "",
    ]
    write_text_atomic(args.out, "\n".join(lines))
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
