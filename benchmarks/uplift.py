"""Benchmark uplift targeting on synthetic randomised campaigns whose true effects are known.

Set-up: a synthetic shop log (``make_event_log``, basic profile) and five 30-day
campaigns run on it with ``run_campaigns`` (half of each recency layer treated,
offer cost 2 per treated customer; the true potential outcomes of every targeted
customer kept). The first four campaigns train the uplift models (T- and
X-learner, ``UpliftModel`` on ``uplift_training_set``); the fifth, sent months
later, is the out-of-time test. A churn model (``train_models``, 90-day churn,
trained on cutoffs whose horizon ends before the test send) scores the same
customers at the test send date.

Measured on the test campaign:

1. Is the uplift at the top 20 % what the model says? The true uplift@20 % (mean
   of the true effect, converted with the offer minus without it, over every
   targeted customer in the model's top fifth, both arms: the simulation knows both
   outcomes) against the observed uplift@20 % (treated minus control conversion in
   that top fifth of the randomised test campaign) and the model's own prediction.
   Tolerance: within 0.05 (5 percentage points of conversion).
2. At the same budget (treat the top 20 % of the targeted customers), whom should
   the offer go to? True incremental conversions, true incremental net revenue
   minus the offer cost, and ROI, for targeting by churn probability, by value at
   risk, by expected uplift and by expected incremental value (the radar's
   ``rank_by="incremental_value"``), by an uplift model of net revenue (its
   expected incremental revenue minus the cost), with paired bootstrap intervals
   (``paired_bootstrap``, metric ``mean_top20``: same customers resampled for
   both rankings) of uplift targeting against churn targeting.

Usage::

    python benchmarks/uplift.py            # 20,000 customers, seeds 0 and 1, about ten minutes
    python benchmarks/uplift.py --quick    # 5,000 customers

It writes ``benchmarks/results/uplift.md`` atomically.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "2021-01-01", "2024-06-01"
TRAIN_SENDS = ("2023-03-01", "2023-05-01", "2023-07-01", "2023-09-01")
TEST_SEND = "2024-03-01"
WINDOW_DAYS = 30
BUDGET = 0.2
TOLERANCE = 0.05
N_BOOT = 1000


def run(n_customers: int, seed: int) -> dict:
    import numpy as np
    import pandas as pd

    from repurchase_ml.campaigns import (
        UpliftModel,
        qini_coefficient,
        uplift_at_k,
        uplift_training_set,
    )
    from repurchase_ml.datasets import CampaignDesign, make_event_log, run_campaigns
    from repurchase_ml.features import build_features, build_training_set
    from repurchase_ml.models import train_models
    from repurchase_ml.models.compare import paired_bootstrap
    from repurchase_ml.radar import radar_spec, value_if_retained

    t0 = time.perf_counter()
    events, truth = make_event_log(n_customers, START, END, random_state=seed)
    designs = [CampaignDesign(f"c{i + 1}", s) for i, s in enumerate(TRAIN_SENDS)]
    designs.append(CampaignDesign("test", TEST_SEND))
    events, log, true = run_campaigns(events, truth, designs, random_state=seed)
    setup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ts = uplift_training_set(log, events, window_days=WINDOW_DAYS)
    train = ts[ts["campaign_id"] != "test"].copy()
    train.attrs = dict(ts.attrs)
    test = ts[ts["campaign_id"] == "test"].reset_index(drop=True)
    models = {m: UpliftModel(method=m, random_state=seed).fit_campaigns(train)
              for m in ("t_learner", "x_learner")}
    revenue_model = UpliftModel(method="x_learner", outcome="net_revenue",
                                random_state=seed).fit_campaigns(train)
    uplift_s = time.perf_counter() - t0

    # churn model: cutoffs whose 90-day horizon ends by the test send
    t0 = time.perf_counter()
    sent = pd.Timestamp(TEST_SEND)
    cutoffs = list(pd.date_range("2022-03-01", sent - pd.Timedelta(days=90), freq="2MS"))
    training = build_training_set(events, cutoffs=cutoffs, tasks=["churn"],
                                  horizons={"churn": 90})
    bundle = train_models(training, tasks=["churn"], horizons={"churn": 90}, random_state=seed)
    features = build_features(events, cutoffs=[sent], spec=radar_spec(None))
    rows = features.set_index("customer_id").loc[test["customer_id"]].reset_index()
    churn = bundle.predict(rows)["churn_probability"].to_numpy()
    value = value_if_retained(rows, horizon_days=90).to_numpy()
    churn_s = time.perf_counter() - t0

    who = true[true["campaign_id"] == "test"].set_index("customer_id").loc[test["customer_id"]]
    effect = who["effect"].to_numpy(dtype=float)
    cost = float(designs[-1].cost)
    net_gain = who["incremental_value"].to_numpy(dtype=float) - cost
    y, t = test["conversion"].to_numpy(), test["treatment"].to_numpy()
    k = int(np.ceil(BUDGET * len(test)))

    def top(score: np.ndarray) -> np.ndarray:
        return np.argsort(-score, kind="stable")[:k]

    accuracy = []
    for name, model in models.items():
        tau = model.predict_uplift(test)
        chosen = top(tau)
        accuracy.append({"method": name, "true": effect[chosen].mean(),
                         "observed": uplift_at_k(y, t, tau, k=BUDGET),
                         "predicted": tau[chosen].mean(), "qini": qini_coefficient(y, t, tau)})
    best = models["x_learner"]
    tau = best.predict_uplift(test)
    rng = np.random.default_rng(seed)
    policies = {
        "churn probability": churn,
        "value at risk (churn x value if retained)": churn * value,
        "expected uplift (X-learner)": tau,
        "expected incremental value (uplift x value - cost)": best.incremental_value(test, value,
                                                                                     cost),
        "expected incremental revenue - cost (X-learner on net revenue)":
            revenue_model.incremental_value(test, 0.0, cost),
        "random": rng.uniform(size=len(test)),
    }
    targeting = []
    for name, score in policies.items():
        chosen = top(score)
        gain = net_gain[chosen].sum()
        targeting.append({"policy": name, "conversions": effect[chosen].sum(),
                          "value": gain, "roi": gain / (cost * k),
                          "qini": qini_coefficient(y, t, score)})
    comparisons = []
    for label, a in (("expected uplift", tau),
                     ("expected incremental value", policies[
                         "expected incremental value (uplift x value - cost)"])):
        for what, target in (("incremental net value", net_gain),
                             ("incremental conversions", effect)):
            cmp = paired_bootstrap(target, a, churn, metric="mean_top20", n_boot=N_BOOT,
                                   random_state=seed)
            comparisons.append({"a": label, "what": what, "difference": cmp.difference * k,
                                "low": cmp.low * k, "high": cmp.high * k})
    return {"n_customers": n_customers, "seed": seed, "n_test": len(test), "n_train": len(train),
            "k": k, "true_effect": effect.mean(), "accuracy": accuracy, "targeting": targeting,
            "comparisons": comparisons, "setup_s": setup_s, "uplift_s": uplift_s,
            "churn_s": churn_s,
            "churn_auc": bundle.scorecards["churn"]["model"].metrics.get("roc_auc", float("nan"))}


def report(result: dict, command: str) -> str:
    acc = "\n".join(
        f"| {a['method']} | {a['true']:.3f} | {a['observed']:.3f} | {a['predicted']:.3f} | "
        f"{abs(a['observed'] - a['true']):.3f} | {abs(a['predicted'] - a['true']):.3f} | "
        f"{'yes' if max(abs(a['observed'] - a['true']), abs(a['predicted'] - a['true'])) <= TOLERANCE else 'no'} | "
        f"{a['qini']:.4f} |" for a in result["accuracy"])
    tgt = "\n".join(
        f"| {p['policy']} | {p['conversions']:,.0f} | {p['value']:,.0f} | {p['roi']:.2f} | "
        f"{p['qini']:.4f} |" for p in result["targeting"])
    cmp = "\n".join(
        f"| {c['a']} | {c['what']} | {c['difference']:+,.1f} | [{c['low']:+,.1f}, "
        f"{c['high']:+,.1f}] |" for c in result["comparisons"])
    return f"""## Uplift targeting on synthetic campaigns

Command: `{command}`. A synthetic log of {result['n_customers']:,} customers (seed
{result['seed']}) with five randomised 30-day campaigns (`run_campaigns`: half of each
recency layer treated, offer cost 2 per treated customer, true potential outcomes kept).
Uplift models trained on the first four campaigns ({result['n_train']:,} rows), tested out
of time on the fifth ({result['n_test']:,} targeted customers, sent {TEST_SEND}; true mean
effect on conversion {result['true_effect']:.3f}). Budget: the top {BUDGET:.0%} of the
targeted customers ({result['k']:,}). Set-up {result['setup_s']:.0f} s, uplift training set
and two models {result['uplift_s']:.0f} s, churn model {result['churn_s']:.0f} s (its test
ROC-AUC {result['churn_auc']:.3f}).

**Is uplift@20 % what it says?** True uplift@20 %: mean true effect (converted with the
offer minus without) over the model's top fifth, both arms. Observed: treated minus
control conversion in that top fifth of the test campaign. Tolerance: {TOLERANCE}.

| model | true uplift@20% | observed uplift@20% | predicted uplift@20% | observed - true | predicted - true | within tolerance | Qini coefficient |
|---|---:|---:|---:|---:|---:|---|---:|
{acc}

**Whom to treat at the same budget?** True totals over the {result['k']:,} customers
treated: incremental conversions, incremental net revenue minus the offer cost, ROI
(that value over the offer cost), and the Qini coefficient of the ranking on the
observed test campaign.

| target by | incremental conversions | incremental net value | ROI | Qini coefficient |
|---|---:|---:|---:|---:|
{tgt}

Against targeting by churn probability, same customers resampled ({N_BOOT} paired
bootstrap resamples, 95 % interval of the difference in totals at the budget):

| target by | measured in | difference vs churn probability | 95 % interval |
|---|---|---:|---|
{cmp}
"""


def seeds_table(results: list[dict]) -> str:
    """One row per seed and model: the uplift@20 % check and the gain over churn targeting."""
    lines = ["| seed | model | true uplift@20% | observed | predicted | within tolerance | "
             "uplift vs churn targeting: net value [95 %] | conversions [95 %] |",
             "|---:|---|---:|---:|---:|---|---|---|"]
    for r in results:
        value, conversions = (next(c for c in r["comparisons"] if c["a"] == "expected uplift"
                                   and c["what"] == what)
                              for what in ("incremental net value", "incremental conversions"))
        for a in r["accuracy"]:
            ok = max(abs(a["observed"] - a["true"]), abs(a["predicted"] - a["true"])) <= TOLERANCE
            gain = (f"{value['difference']:+,.0f} [{value['low']:+,.0f}, {value['high']:+,.0f}] | "
                    f"{conversions['difference']:+,.0f} [{conversions['low']:+,.0f}, "
                    f"{conversions['high']:+,.0f}]" if a["method"] == "x_learner" else "|")
            lines.append(f"| {r['seed']} | {a['method']} | {a['true']:.3f} | {a['observed']:.3f} | "
                         f"{a['predicted']:.3f} | {'yes' if ok else 'no'} | {gain} |")
    return "\n".join(lines)


def main() -> None:
    from repurchase_ml._io import write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 customers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="seeds of the log, the campaigns and the models (default 0 1); the "
                             "first is shown in full")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = 5_000 if args.quick else 20_000
    results = [run(n, seed) for seed in args.seeds]
    command = "python benchmarks/uplift.py" + (" --quick" if args.quick else "") + (
        f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds != [0, 1] else "")
    text = report(results[0], command)
    if len(results) > 1:
        text += ("\nEvery seed (a new log, new campaigns and new models each), the X-learner's "
                 "uplift targeting against churn targeting:\n\n" + seeds_table(results) + "\n")
    path = write_text_atomic(ROOT / "benchmarks" / "results" / "uplift.md", text)
    print(text)
    print(path)


if __name__ == "__main__":
    main()
