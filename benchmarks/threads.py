"""LightGBM threads: one against every available core, per training-set size.

Why ``train_models`` uses one thread below ``MIN_ROWS_PER_EXTRA_THREAD``
training rows of a task and every core above (``repurchase_ml.models.threads``).
Churn only, plain LightGBM, 300 rounds at most; the same training set is
trained with 1 thread and with every core, alternating, ``--repeats`` times;
the table gives the medians and their ratio (measured side by side, so the
load of a shared machine hits both alike).

    python benchmarks/threads.py [--customers 3000 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import repurchase_ml as rm
from repurchase_ml._io import write_text_atomic
from repurchase_ml.models.threads import available_cores

ROOT = Path(__file__).resolve().parents[1]


def measure(n_customers: int, repeats: int) -> dict[str, float]:
    events, _truth = rm.make_event_log(n_customers, "2022-01-01", "2024-01-01", random_state=0)
    cutoffs = rm.propose_cutoffs(events, horizon_days=90, n=12)
    training = rm.build_training_set(events, cutoffs=cutoffs, tasks=["churn"])
    cores = available_cores()
    seconds: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(repeats):
        for threads in seconds:
            start = time.perf_counter()
            rm.train_models(training, tasks=["churn"], random_state=0, threads=threads,
                            candidates=["lightgbm"], n_estimators=300)
            seconds[threads].append(time.perf_counter() - start)
    one, every = statistics.median(seconds[1]), statistics.median(seconds[cores])
    return {"customers": n_customers, "rows": len(training), "cores": cores,
            "one": one, "every": every, "ratio": every / one}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[3000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = [measure(n, args.repeats) for n in args.customers]
    lines = ["## LightGBM threads", "",
             "`train_models` on churn (plain LightGBM, at most 300 rounds), one thread against",
             "every available core, medians of "
             f"{args.repeats} alternating runs. Re-run: `python benchmarks/threads.py "
             f"--customers {' '.join(map(str, args.customers))} --repeats {args.repeats}`.", "",
             "| customers | training rows | cores | 1 thread (s) | all cores (s) | all / 1 |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['customers']:,} | {r['rows']:,} | {r['cores']} | {r['one']:.2f} | "
              f"{r['every']:.2f} | {r['ratio']:.2f} |" for r in rows]
    write_text_atomic(ROOT / "benchmarks" / "results" / "threads.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
