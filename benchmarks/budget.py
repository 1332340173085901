"""What the training-set budget (``training.max_rows``) costs in accuracy, and what it saves.

On one synthetic log, the job's training set (its per-task cutoffs, as
``repurchase-ml retrain`` builds them) is built once in full and once per
budget; ``train_models`` trains every task on each (events given, so BG/NBD
and the hybrid compete as in the job). Every model is then scored on the
same rows: each task's full, unsampled test cutoff. The table gives each
budget's primary metric minus the full set's, with a 95 % paired-bootstrap
interval (1,000 resamples of the test rows), and the CPU seconds of training.

    python benchmarks/budget.py                        # 100k customers, budgets 500k / 300k / 150k
    python benchmarks/budget.py --customers 30000 --budgets 100000 --out /tmp/budget.md

Writes benchmarks/results/budget.md (atomically).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import job  # noqa: E402  (the scale benchmark's cached synthetic logs)

from repurchase_ml._io import write_text_atomic  # noqa: E402
from repurchase_ml.events import read_events  # noqa: E402
from repurchase_ml.features import build_training_set  # noqa: E402
from repurchase_ml.models import train_models  # noqa: E402
from repurchase_ml.models.compare import paired_bootstrap  # noqa: E402
from repurchase_ml.models.evaluate import PRIMARY_METRICS  # noqa: E402
from repurchase_ml.models.refit import propose_task_cutoffs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HORIZONS = {"churn": 90, "repurchase": 30, "second_purchase": 30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--budgets", type=int, nargs="+", default=[500_000, 300_000, 150_000])
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "budget.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    log = job._log_path(ROOT / "benchmarks" / ".cache", args.customers, 0)
    if not log.exists():
        job._generate(log, args.customers, 0)
    events, _ = read_events(log)
    tasks = list(HORIZONS)
    task_cutoffs = propose_task_cutoffs(events, HORIZONS, n=args.cutoffs)
    cutoffs = sorted({c for found in task_cutoffs.values() for c in found})

    def build(max_rows: int | None) -> pd.DataFrame:
        return build_training_set(events, cutoffs=cutoffs, tasks=tasks, horizons=HORIZONS,
                                  label_cutoffs=task_cutoffs, max_rows=max_rows)

    def train(training: pd.DataFrame) -> tuple[object, float]:
        cpu = time.process_time()
        bundle = train_models(training, tasks=tasks, horizons=HORIZONS, events=events,
                              random_state=0)
        return bundle, time.process_time() - cpu

    full = build(None)
    full_bundle, full_cpu = train(full)
    rows = []
    for budget in args.budgets:
        part = build(budget)
        bundle, cpu = train(part)
        for task in tasks:
            if task not in full_bundle.cutoffs:
                continue
            if task not in bundle.cutoffs:  # the plan refused it on the budgeted rows
                rows.append({"budget": budget, "rows": len(part), "task": task,
                             "metric": PRIMARY_METRICS[task], "refused": bundle.skipped[task],
                             "train_cpu_s": cpu})
                continue
            test = full_bundle.cutoffs[task]["test"]
            assert bundle.cutoffs[task]["test"] == test  # the same split, fewer rows
            at = full[(full["cutoff"] == test) & full[f"label_{task}"].notna()]
            y = at[f"label_{task}"].to_numpy()
            column = {"churn": "churn_probability", "repurchase": "repurchase_probability",
                      "second_purchase": "second_purchase_probability"}[task]
            ours = bundle.predict(at)[column].to_numpy()
            reference = full_bundle.predict(at)[column].to_numpy()
            metric = PRIMARY_METRICS[task]
            cmp = paired_bootstrap(y, ours, reference, metric=metric, n_boot=args.n_boot)
            rows.append({"budget": budget, "rows": len(part), "task": task, "metric": metric,
                         "test_rows": len(at), "full": cmp.b, "budgeted": cmp.a,
                         "difference": cmp.difference, "low": cmp.low, "high": cmp.high,
                         "train_cpu_s": cpu, "full_train_cpu_s": full_cpu,
                         "train_rows": int((part[f"label_{task}"].notna() & part["cutoff"].isin(
                             bundle.cutoffs[task]["train"])).sum())})
    table = pd.DataFrame(rows)
    lines = ["## Training-set budget: accuracy against the full set", "",
             f"Synthetic log of {args.customers:,} customers ({len(events):,} events), the "
             f"retrain job's tasks and per-task cutoffs ({args.cutoffs} monthly), full training "
             f"set {len(full):,} rows (training took {full_cpu:.0f} CPU s). A budget keeps the "
             "same fraction of every cutoff, stratified by every task's label "
             "(`sample_rows`); every model is scored on "
             "the same rows, each task's full test cutoff; difference = budgeted minus full, "
             f"95 % paired bootstrap ({args.n_boot} resamples).", "",
             "| budget | rows kept | task | metric | train rows | test rows | full | budgeted | "
             "difference [95 % interval] | training CPU s |",
             "|---:|---:|---|---|---:|---:|---:|---:|---|---:|"]
    refused = []
    for r in table.itertuples():
        if isinstance(getattr(r, "refused", None), str):
            lines.append(f"| {r.budget:,} | {r.rows:,} | {r.task} | {r.metric} | refused by the "
                         f"training plan (below) | | | | | {r.train_cpu_s:.0f} |")
            refused.append(f"- {r.task} at a budget of {r.budget:,}: {r.refused}")
            continue
        lines.append(f"| {r.budget:,} | {r.rows:,} | {r.task} | {r.metric} | {int(r.train_rows):,} | "
                     f"{int(r.test_rows):,} | {r.full:.4f} | {r.budgeted:.4f} | "
                     f"{r.difference:+.4f} [{r.low:+.4f}, {r.high:+.4f}] | {r.train_cpu_s:.0f} |")
    if refused:
        lines += ["", "Refused on the budgeted rows (the plan's message):", "", *refused]
    lines += ["", f"Python {platform.python_version()}, {os.cpu_count()} cores, measured "
              f"{time.strftime('%Y-%m-%d')}. Reproduce with `python benchmarks/budget.py "
              f"--customers {args.customers} --budgets "
              + " ".join(str(b) for b in args.budgets) + "`.", ""]
    text = "\n".join(lines)
    write_text_atomic(args.out, text)
    print(text)
    assert np.isfinite(table["difference"].dropna()).all()


if __name__ == "__main__":
    main()
