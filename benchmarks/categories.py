"""Benchmark the next-category model out of time against its baselines.

Per data set, ``NextCategoryModel`` (objective chosen on the newest training
cutoff: binary over all pairs or lambdarank) is trained on cutoffs whose
label windows all end by the test cutoff, then judged at the test cutoff with
``evaluate_next_category``: hit rate@3 and NDCG@3 over the customers who
bought a category new to them in the horizon, against the popularity,
transition-table and browsing baselines on the same candidate pairs, with
paired bootstrap intervals (1,000 resamples of customers).

* ``synthetic``: ``make_event_log(10_000, "2022-01-01", "2025-01-01", random_state=5,
  profile="retail", category_paths=True)``; 30-day horizon, monthly training
  cutoffs 2023-07-01 to 2024-08-01, test cutoff 2024-09-01. Also: are the planted
  gateways the top three of ``repurchase_by_first_category`` and is each
  planted path its source's top transition by lift?
* ``taobao``: the Taobao UserBehavior sample (814 users, 9 days); 2-day horizon,
  daily training cutoffs 2017-11-27 to 2017-11-30, test cutoff 2017-12-02. Skipped
  when the sample is missing.

Usage::

    python benchmarks/categories.py            # both data sets, a few minutes
    python benchmarks/categories.py taobao     # one of them

It writes ``benchmarks/results/categories.md`` atomically.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
K = 3


def _synthetic() -> tuple[pd.DataFrame, dict]:
    import repurchase_ml as rm

    events, truth = rm.make_event_log(10_000, "2022-01-01", "2025-01-01", random_state=5,
                                      profile="retail", category_paths=True)
    cutoffs = list(pd.date_range("2023-07-01", "2024-08-01", freq="MS"))
    return events, {"truth": truth, "horizon": 30, "cutoffs": cutoffs,
                    "test": pd.Timestamp("2024-09-01"), "min_orders": 1}


def _taobao() -> tuple[pd.DataFrame, dict] | None:
    from repurchase_ml.datasets import load_taobao

    try:
        events, _ = load_taobao()
    except FileNotFoundError as exc:
        logging.getLogger(__name__).warning("taobao skipped: %s", exc)
        return None
    cutoffs = list(pd.date_range("2017-11-27", "2017-11-30", freq="D"))
    return events, {"truth": None, "horizon": 2, "cutoffs": cutoffs,
                    "test": pd.Timestamp("2017-12-02"), "min_orders": 1}


DATASETS = {"synthetic": _synthetic, "taobao": _taobao}


def _planted(events: pd.DataFrame, truth: pd.DataFrame, as_of: pd.Timestamp) -> dict:
    from repurchase_ml.categories import category_transitions, repurchase_by_first_category

    first = repurchase_by_first_category(events, as_of=as_of)
    moves = category_transitions(events, as_of=as_of, include_same=False)
    paths = truth.attrs["category_paths"]
    found = sum(moves.loc[moves["from_category"] == a, "to_category"].iloc[0] == b
                for a, b in paths.items())
    return {"gateways": truth.attrs["category_gateways"],
            "top3": first["category"].head(3).tolist(),
            "paths_found": found, "paths": len(paths)}


def run(name: str) -> dict | None:
    from repurchase_ml.categories.next_category import NextCategoryModel, evaluate_next_category

    loaded = DATASETS[name]()
    if loaded is None:
        return None
    events, setup = loaded
    t0 = time.perf_counter()
    model = NextCategoryModel(horizon_days=setup["horizon"], objective="auto", k=K,
                              min_orders=setup["min_orders"])
    model.fit(events, cutoffs=setup["cutoffs"])
    fit_s = time.perf_counter() - t0
    table = evaluate_next_category(model, events, cutoff=setup["test"], k=K, n_boot=1000)
    out = {"name": name, "table": table, "validation": model.validation_,
           "objective": model.objective_, "fit_s": fit_s, **setup}
    if setup["truth"] is not None:
        out["planted"] = _planted(events, setup["truth"], setup["test"])
    return out


def _interval(row: pd.Series, metric: str, baseline: str) -> str:
    d = row[f"{metric}_vs_{baseline}"]
    return (f"{d:+.3f} [{row[f'{metric}_vs_{baseline}_low']:+.3f}, "
            f"{row[f'{metric}_vs_{baseline}_high']:+.3f}]")


def render(results: list[dict], command: str) -> str:
    lines = [
        "## Next category per customer: model against popularity and the transition table",
        "",
        f"Command: `{command}`. `NextCategoryModel` trained on cutoffs whose label windows end",
        "by the test cutoff (objective chosen on the newest training cutoff by NDCG@3), judged",
        "at the test cutoff with `evaluate_next_category`: hit rate@3 and NDCG@3 over the",
        "customers who bought a category new to them in the horizon; every scorer ranks the same",
        "candidate pairs (20 most bought, the browsed, 10 likeliest after the last order's",
        "category; a new category outside them is a miss for all). Differences are the model",
        "minus the baseline with 95 % paired bootstrap intervals (1,000 resamples of customers).",
        "",
    ]
    for r in results:
        table, model_row = r["table"], r["table"].iloc[0]
        val = ", ".join(f"{v['objective']} {v[f'ndcg_at_{K}']:.3f}"
                        for v in r["validation"].to_dict("records"))
        lines += [
            f"### {r['name']}: test cutoff {r['test'].date()}, {r['horizon']}-day horizon, "
            f"{int(model_row['customers']):,} customers with a new category",
            "",
            f"Training cutoffs {r['cutoffs'][0].date()} to {r['cutoffs'][-1].date()}; "
            f"objective kept: {r['objective']} (validation NDCG@3: {val}); fit "
            f"{r['fit_s']:.0f} s.",
            "",
            "| scorer | hit rate@3 | NDCG@3 | model - scorer, hit rate@3 | model - scorer, NDCG@3 |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in table.itertuples(index=False):
            name = row.scorer
            if name == "model":
                diff_hit = diff_ndcg = ""
            else:
                diff_hit = _interval(model_row, "hit_rate", name)
                diff_ndcg = _interval(model_row, "ndcg", name)
            lines.append(f"| {name} | {getattr(row, f'hit_rate_at_{K}'):.3f} | "
                         f"{getattr(row, f'ndcg_at_{K}'):.3f} | {diff_hit} | {diff_ndcg} |")
        tied = [name for name in table["scorer"].iloc[1:]
                if model_row[f"hit_rate_vs_{name}_low"] <= 0]
        if tied:
            lines += ["", f"On hit rate@3 the model is not ahead of {', '.join(tied)} here (the "
                      "interval of the difference includes 0)."]
        if "planted" in r:
            p = r["planted"]
            lines += ["", f"Planted structure at {r['test'].date()}: gateways {p['gateways']}, "
                      f"top three first categories by the lower bound of 180-day retention "
                      f"{p['top3']}; {p['paths_found']} of {p['paths']} planted paths are their "
                      "source's top transition by lift."]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = [r for r in (run(name) for name in args.datasets) if r is not None]
    command = "python benchmarks/categories.py " + " ".join(args.datasets)
    from repurchase_ml._io import write_text_atomic

    out = write_text_atomic(ROOT / "benchmarks" / "results" / "categories.md",
                            render(results, command.strip()))
    print(out)


if __name__ == "__main__":
    main()
