"""Retrain and score with the local engine against the dask engine (2 workers), by log size.

For each size, a synthetic log (``make_event_log``, basic profile, about 20
events per customer, three years; cached as Parquet like ``benchmarks/job.py``)
goes through ``run_retrain`` then ``run_score`` at the log's end, once with
``engine: local`` and once with ``engine: dask`` on a local cluster of two
worker processes that the job's process starts (``dask.scheduler`` points the
job at it, so the benchmark can read each worker's peak memory before closing
it). Each job runs in a fresh process: wall seconds, the job process's peak
resident memory and each worker's. Then a *streamed* run on the dask engine
alone: the Parquet log is read by the workers, shuffled by customer into
``--partitions`` buckets (spilled to disk by the shuffle), and the multi-cutoff
training set is built and written partition by partition; nothing is
collected on the client, so each worker's memory is bounded by its partitions,
not by the log.

    python benchmarks/scale.py --sizes 50000 200000
    python benchmarks/scale.py --sizes 1000000 3000000 10000000 --jobs none   # streamed only

Writes benchmarks/results/scale.md (atomically). The machine is shared: the
1-minute load average at the end of each run is in the table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("job_benchmark", ROOT / "benchmarks" / "job.py")
job_benchmark = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(job_benchmark)  # type: ignore[union-attr]
START, END = job_benchmark.START, job_benchmark.END


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _worker_peaks(client) -> list[float]:
    return sorted(client.run(_peak_gb).values(), reverse=True)


def _cluster(memory_limit: str):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           memory_limit=memory_limit, dashboard_address=":0")
    return cluster, Client(cluster)


def _child_job(job: str, engine: str, log: Path, project: Path, cutoffs: int,
               memory_limit: str) -> dict:
    import logging

    from repurchase_ml.config import load_settings
    from repurchase_ml.jobs import run_retrain, run_score

    logging.basicConfig(level=logging.WARNING)
    overrides = {"project_dir": str(project), "data": {"source": "path", "path": str(log)},
                 "cutoffs": {"n": cutoffs}, "output": {"report": False}, "engine": engine}
    cluster = client = None
    if engine == "dask":
        cluster, client = _cluster(memory_limit)
        overrides["dask"] = {"scheduler": cluster.scheduler_address}
    settings = load_settings(overrides=overrides, environ={})
    tic = time.perf_counter()
    if job == "retrain":
        run_retrain(settings)
    else:
        run_score(settings, END)
    seconds = time.perf_counter() - tic
    workers = _worker_peaks(client) if client is not None else []
    if client is not None:
        client.close()
        cluster.close()
    return {"seconds": seconds, "peak_gb": _peak_gb(), "workers_gb": workers,
            "load": os.getloadavg()[0]}


def _child_streamed(log: Path, folder: Path, cutoffs: int, partitions: int,
                    memory_limit: str) -> dict:
    import pandas as pd

    from repurchase_ml.distributed.features import build_training_set_dask, global_inputs
    from repurchase_ml.distributed.partition import partition_events, write_parquet_atomic
    from repurchase_ml.features import FeatureSpec

    cluster, client = _cluster(memory_limit)
    tic = time.perf_counter()
    shuffled = write_parquet_atomic(partition_events(log, n_partitions=partitions),
                                    folder / "events")
    events = partition_events(shuffled, partitioned=True)  # one file per customer bucket
    end = pd.Timestamp(END)
    cuts = [end - pd.DateOffset(months=90 // 30 + 1 + i) for i in range(cutoffs)][::-1]
    spec = FeatureSpec()
    inputs = global_inputs(events, cutoffs=cuts, spec=spec)
    training, _attrs = build_training_set_dask(events, cutoffs=cuts, tasks=["churn", "repurchase"],
                                               spec=spec, inputs=inputs)
    write_parquet_atomic(training, folder / "training")
    seconds = time.perf_counter() - tic
    rows = sum(int(pd.read_parquet(p, columns=["cutoff"]).shape[0])
               for p in (folder / "training").glob("*.parquet"))
    workers = _worker_peaks(client)
    client.close()
    cluster.close()
    return {"seconds": seconds, "peak_gb": _peak_gb(), "workers_gb": workers, "rows": rows,
            "load": os.getloadavg()[0]}


def _run(args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "REPURCHASE_ML_"))}
    env["REPURCHASE_ML_PROGRESS"] = "0"
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=False,
                         capture_output=True, text=True, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{args} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--memory-limit", default="4GB", help="per dask worker")
    parser.add_argument("--jobs", choices=["both", "none"], default="both",
                        help="none: the streamed run only")
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / ".cache"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "job":
            job, engine, log, project, cutoffs, limit = rest
            result = _child_job(job, engine, Path(log), Path(project), int(cutoffs), limit)
        else:
            log, folder, cutoffs, partitions, limit = rest
            result = _child_streamed(Path(log), Path(folder), int(cutoffs), int(partitions), limit)
        print(json.dumps(result))
        return

    from repurchase_ml._io import write_text_atomic

    results = []
    for n in args.sizes:
        log = job_benchmark._log_path(Path(args.cache), n, args.seed)
        if not log.exists():
            print(f"generating {n:,} customers ...", flush=True)
            job_benchmark._generate(log, n, args.seed)
        row: dict = {"customers": n, "events": job_benchmark._events(log)}
        if args.jobs == "both":
            for engine in ("local", "dask"):
                with tempfile.TemporaryDirectory() as project:
                    for job in ("retrain", "score"):
                        row[f"{engine}_{job}"] = got = _run(
                            ["job", job, engine, str(log), project, str(args.cutoffs),
                             args.memory_limit])
                        print(f"{n:,} {engine} {job}: {got['seconds']:.1f} s, peak "
                              f"{got['peak_gb']:.2f} GB, workers {got['workers_gb']}", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            row["streamed"] = got = _run(["streamed", str(log), folder, str(args.cutoffs),
                                          str(args.partitions), args.memory_limit])
            print(f"{n:,} streamed: {got['seconds']:.1f} s, client {got['peak_gb']:.2f} GB, "
                  f"workers {got['workers_gb']}", flush=True)
        results.append(row)
    text = _table(results, args)
    write_text_atomic(args.out, text)
    print(text)


def _gb(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "–"


def _table(results: list[dict], args: argparse.Namespace) -> str:
    lines = ["## Local against dask engine (`retrain` then `score`)", "",
             f"Synthetic logs (basic profile, {START} to {END}); `retrain` with default tasks, "
             f"{args.cutoffs} monthly cutoffs, no tuning, `dask.training: local`, in a fresh "
             f"project; then `score` at {END}. Each job in a fresh process; the dask engine on "
             f"a local cluster of 2 worker processes (1 thread, {args.memory_limit} each) "
             "started by that process. Seconds are wall time; memory is the peak resident "
             "set of the job's process and of each worker. One run per size on a shared "
             "2-core machine (load: 1-minute load average at the end).", ""]
    if any("local_retrain" in r for r in results):
        lines += ["| customers | events | engine | retrain s | score s | job process GB "
                  "(retrain / score) | workers GB (retrain) | workers GB (score) | load |",
                  "|---:|---:|---|---:|---:|---|---|---|---:|"]
        for r in results:
            for engine in ("local", "dask"):
                a, b = r[f"{engine}_retrain"], r[f"{engine}_score"]
                lines.append(f"| {r['customers']:,} | {r['events']:,} | {engine} | "
                             f"{a['seconds']:.1f} | {b['seconds']:.1f} | {a['peak_gb']:.2f} / "
                             f"{b['peak_gb']:.2f} | {_gb(a['workers_gb'])} | "
                             f"{_gb(b['workers_gb'])} | {b['load']:.1f} |")
        lines.append("")
    lines += [f"Streamed (dask engine only): the workers read the Parquet log, shuffle it by "
              f"customer into {args.partitions} partitions written as Parquet, then build the "
              f"training set (all features, churn and repurchase labels) at {args.cutoffs} "
              "cutoffs and write it partition by partition; the client never holds the log.",
              "", "| customers | events | training rows | seconds | client GB | workers GB "
              "| load |", "|---:|---:|---:|---:|---:|---|---:|"]
    for r in results:
        s = r["streamed"]
        lines.append(f"| {r['customers']:,} | {r['events']:,} | {s['rows']:,} | "
                     f"{s['seconds']:.1f} | {s['peak_gb']:.2f} | {_gb(s['workers_gb'])} | "
                     f"{s['load']:.1f} |")
    sizes = " ".join(str(r["customers"]) for r in results)
    lines += ["", f"Python {platform.python_version()}, {os.cpu_count()} cores, measured "
              f"{time.strftime('%Y-%m-%d')}. Reproduce with `python benchmarks/scale.py --sizes "
              f"{sizes}`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
