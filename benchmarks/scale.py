"""From one machine to a cluster: the retrain and score job on the local and dask engines.

Two measurements on synthetic logs written by
``repurchase_ml.datasets.write_event_log_files`` (basic profile, about 20
events per customer, three years, 100,000 customers per Parquet file; cached
under ``--cache``):

1. **Engines side by side** (``--sizes``, default 1M customers): ``retrain``
   then ``score`` at the log's end with ``engine: local``, with ``engine:
   dask`` (the job's process reads the log; the cluster shuffles it by
   customer and builds features, training set and scores) and with ``engine:
   dask`` and ``dask.stream: true`` (the workers read and validate the files;
   the job's process never holds the log).
2. **Growth** (``--stream-sizes``, default 1M, 3M and 10M customers): the
   streamed job alone, to show it completes where one process cannot hold the
   log, and how its cost grows.

Every job runs in a fresh process with default settings (default tasks, 12
monthly cutoffs, ``training.max_rows`` 500,000, no tuning, no report) in a
fresh project; a dask job starts its own local cluster of 2 worker processes
(1 thread and ``--memory-limit`` each) so the peak resident memory of each
worker can be read before it closes. Seconds are wall time.

    python benchmarks/scale.py                                          # the full run
    python benchmarks/scale.py --sizes 1000000 --stream-sizes --update  # redo some rows
    python benchmarks/scale.py --sizes 20000 --stream-sizes 20000 50000 --out /tmp/s.md

Writes benchmarks/results/scale.md and scale.json (atomically) and the growth
chart docs/img/scale.png. The machine is shared: the 1-minute load average at
the end of each job is in the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "2022-01-01", "2025-01-01"
PER_FILE = 100_000
ENGINES = ("local", "dask", "stream")


def log_folder_path(cache: Path, n_customers: int, seed: int) -> Path:
    return cache / f"synthetic_files_{n_customers}_{seed}_{START}_{END}"


def log_folder(cache: Path, n_customers: int, seed: int) -> Path:
    """The cached log of ``n_customers`` (written on first use)."""
    folder = log_folder_path(cache, n_customers, seed)
    if not folder.exists():
        from repurchase_ml.datasets import write_event_log_files

        print(f"generating {n_customers:,} customers into {folder} ...", flush=True)
        write_event_log_files(folder, n_customers, START, END, random_state=seed,
                              customers_per_file=PER_FILE)
    return folder


def _log_size(folder: Path) -> dict:
    """Events in the log, and the bytes one process would hold it in (the validated log of
    ``read_events``, measured on the first file and scaled by events)."""
    import pyarrow.parquet as pq

    from repurchase_ml.events import read_events

    files = sorted(folder.glob("*.parquet"))
    events = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    first, _report = read_events(files[0])
    per_event = first.memory_usage(deep=True).sum() / len(first)
    return {"events": int(events), "pandas_gb": events * per_event / 1e9,
            "parquet_gb": sum(f.stat().st_size for f in files) / 1e9}


def _child_job(job: str, engine: str, log: Path, project: Path, memory_limit: str) -> dict:
    import logging

    from distributed import Client, LocalCluster

    # the stage clock resets the kernel's high-water mark per stage: job_peak_gb adds them up
    from repurchase_ml._stages import job_peak_gb, peak_rss_gb
    from repurchase_ml.config import load_settings
    from repurchase_ml.jobs import run_retrain, run_score

    logging.basicConfig(level=logging.WARNING)
    overrides: dict = {"project_dir": str(project), "data": {"source": "path", "path": str(log)},
                       "output": {"report": False}, "engine": "local" if engine == "local"
                       else "dask"}
    cluster = client = None
    if engine != "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               memory_limit=memory_limit, dashboard_address=":0")
        client = Client(cluster)
        overrides["dask"] = {"scheduler": cluster.scheduler_address,
                             "stream": engine == "stream"}
    settings = load_settings(overrides=overrides, environ={})
    pids = set(client.run(os.getpid).values()) if client is not None else set()
    tic = time.perf_counter()
    result = run_retrain(settings) if job == "retrain" else run_score(settings, END)
    seconds = time.perf_counter() - tic
    workers: list[float] = []
    restarted = 0
    if client is not None:
        workers = sorted(client.run(peak_rss_gb).values(), reverse=True)
        # a worker over its memory limit is killed and replaced by its nanny: a new pid
        restarted = len(pids - set(client.run(os.getpid).values()))
        client.close()
        cluster.close()
    return {"seconds": seconds, "peak_gb": job_peak_gb(result.stages), "workers_gb": workers,
            "workers_restarted": restarted, "stages": result.stages,
            "load": os.getloadavg()[0]}


def _run(args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "REPURCHASE_ML_"))}
    env["REPURCHASE_ML_PROGRESS"] = "0"
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=False,
                         capture_output=True, text=True, cwd=ROOT, env=env)
    if out.returncode != 0:  # the exception's line, not the last warning
        lines = out.stderr.strip().splitlines()
        errors = [line for line in lines if "Error" in line.split(":")[0]]
        return {"failed": (errors or lines or [f"exit code {out.returncode}"])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _jobs(engine: str, log: Path, work: Path, memory_limit: str) -> dict:
    import shutil

    project = work / f"project-{engine}"
    shutil.rmtree(project, ignore_errors=True)
    out = {}
    for job in ("retrain", "score"):
        out[job] = got = _run(["job", job, engine, str(log), str(project), memory_limit])
        if "failed" in got:
            print(f"{log.name} {engine} {job}: FAILED {got['failed']}", flush=True)
            break
        print(f"{log.name} {engine} {job}: {got['seconds']:.1f} s, process "
              f"{got['peak_gb']:.2f} GB, workers {got['workers_gb']}", flush=True)
    shutil.rmtree(project, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--stream-sizes", type=int, nargs="*",
                        default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-limit", default="4GB", help="per dask worker")
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / ".cache"))
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / ".cache" / "scale-work"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    parser.add_argument("--chart", default=str(ROOT / "docs" / "img" / "scale.png"))
    parser.add_argument("--update", action="store_true",
                        help="keep the existing JSON's rows of the sizes not run")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        _kind, job, engine, log, project, limit = args.child
        print(json.dumps(_child_job(job, engine, Path(log), Path(project), limit)))
        return

    from repurchase_ml._io import write_text_atomic

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"engines": [], "growth": [], "memory_limit": args.memory_limit,
                     "python": platform.python_version(), "cores": os.cpu_count(),
                     "date": time.strftime("%Y-%m-%d")}
    for n in args.sizes:
        log = log_folder(Path(args.cache), n, args.seed)
        row = {"customers": n, **_log_size(log)}
        for engine in ENGINES:
            row[engine] = _jobs(engine, log, work, args.memory_limit)
        results["engines"].append(row)
    for n in args.stream_sizes:
        log = log_folder(Path(args.cache), n, args.seed)
        same = [r for r in results["engines"] if r["customers"] == n]
        row = {"customers": n, **_log_size(log)}
        row["stream"] = same[0]["stream"] if same else _jobs("stream", log, work,
                                                              args.memory_limit)
        results["growth"].append(row)
    out = Path(args.out)
    if args.update and out.with_suffix(".json").exists():  # earlier rows of other sizes stay
        earlier = json.loads(out.with_suffix(".json").read_text())
        for section in ("engines", "growth"):
            done = {r["customers"] for r in results[section]}
            results[section] = sorted(
                [r for r in earlier[section] if r["customers"] not in done] + results[section],
                key=lambda r: r["customers"])
            for row in results[section]:  # sizes and job peaks as this version measures them
                folder = log_folder_path(Path(args.cache), row["customers"], args.seed)
                if folder.exists():
                    row.update(_log_size(folder))
                for jobs in (row[e] for e in ENGINES if e in row):
                    for job in jobs.values():
                        if "stages" in job:
                            job["peak_gb"] = max([job["peak_gb"]]
                                                 + [s["peak_gb"] for s in job["stages"]])
    write_text_atomic(out.with_suffix(".json"), json.dumps(results, indent=1, default=str))
    text = tables(results)
    write_text_atomic(out, text)
    if results["growth"]:
        chart(results, Path(args.chart))
    print(text)


def _gb(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "–"


def _workers(job: dict) -> str:
    """Each worker's peak, and how many were killed over their limit and replaced."""
    cell = _gb(job.get("workers_gb", []))
    if job.get("workers_restarted"):
        cell += f" ({job['workers_restarted']} restarted)"
    return cell


def _cell(job: dict, key: str, fmt: str) -> str:
    return "failed" if "failed" in job else format(job[key], fmt)


def _stage(job: dict, name: str) -> float:
    return sum(s["seconds"] for s in job.get("stages", []) if s["stage"] == name)


def tables(results: dict) -> str:
    """The markdown of ``results`` (re-render with ``tables(json.load(...))``)."""
    limit = results["memory_limit"]
    lines = []
    if results["engines"]:
        lines += ["## One job, three engines", "",
                  f"Synthetic logs ({START} to {END}, {PER_FILE:,} customers per Parquet file); "
                  "`retrain` (default tasks, 12 monthly cutoffs, `training.max_rows` 500,000, no "
                  f"tuning, fresh project) then `score` at {END}, each in a fresh process. "
                  f"`dask`: the job's process reads and validates the log, a local cluster of 2 "
                  f"worker processes (1 thread, {limit} each) shuffles it by customer and builds "
                  "the training set and the scores. `stream`: `dask.stream: true`, the workers "
                  "read and validate the files and the job's process never holds the log. "
                  "Memory: peak resident set of the job's process, and of each worker (a worker "
                  "that goes over its limit is killed and replaced by its nanny: counted as "
                  "restarted).", "",
                  "| customers | events | engine | retrain s | score s | job process GB "
                  "(retrain / score) | workers GB (retrain) | workers GB (score) | load |",
                  "|---:|---:|---|---:|---:|---|---|---|---:|"]
        for r in results["engines"]:
            for engine in ENGINES:
                a, b = r[engine]["retrain"], r[engine].get("score", {"failed": "not run"})
                lines.append(
                    f"| {r['customers']:,} | {r['events']:,} | {engine} | "
                    f"{_cell(a, 'seconds', '.0f')} | {_cell(b, 'seconds', '.0f')} | "
                    f"{_cell(a, 'peak_gb', '.2f')} / {_cell(b, 'peak_gb', '.2f')} | "
                    f"{_workers(a)} | {_workers(b)} | "
                    f"{b.get('load', a.get('load', float('nan'))):.1f} |")
        lines.append("")
    if results["growth"]:
        lines += ["## The streamed job as the shop grows", "",
                  f"`engine: dask`, `dask.stream: true`, 2 workers of {limit}, same settings as "
                  "above. *Log in pandas*: what holding the validated log in one process would "
                  "take (bytes per event of one file, times the events).", "",
                  "| customers | events | Parquet GB | log in pandas GB | retrain s | score s "
                  "| job process GB (retrain / score) | workers GB (retrain) | workers GB "
                  "(score) | load |",
                  "|---:|---:|---:|---:|---:|---:|---|---|---|---:|"]
        for r in results["growth"]:
            a, b = r["stream"]["retrain"], r["stream"].get("score", {"failed": "not run"})
            lines.append(
                f"| {r['customers']:,} | {r['events']:,} | {r['parquet_gb']:.1f} | "
                f"{r['pandas_gb']:.1f} | {_cell(a, 'seconds', '.0f')} | "
                f"{_cell(b, 'seconds', '.0f')} | {_cell(a, 'peak_gb', '.2f')} / "
                f"{_cell(b, 'peak_gb', '.2f')} | {_workers(a)} | {_workers(b)} | "
                f"{b.get('load', float('nan')):.1f} |")
        lines += ["", "Where the streamed job's time goes (wall seconds per stage):", "",
                  "| customers | read and validate | training set | baselines' events | train "
                  "| score: read and validate | score: features and scores | radar | write |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in results["growth"]:
            a, b = r["stream"]["retrain"], r["stream"].get("score", {})
            if "failed" in a or "failed" in b:
                continue
            cells = [_stage(a, "read and validate the log"), _stage(a, "training set"),
                     _stage(a, "events of the sampled customers"), _stage(a, "train"),
                     _stage(b, "read and validate the log"), _stage(b, "features and scores"),
                     _stage(b, "radar"), _stage(b, "write the outputs")]
            lines.append(f"| {r['customers']:,} | " + " | ".join(f"{c:.0f}" for c in cells)
                         + " |")
        lines.append("")
    lines += [f"Python {results['python']}, {results['cores']} cores, measured "
              f"{results['date']}, one run per job. Reproduce with `python benchmarks/scale.py`.",
              ""]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    """Wall seconds and peak memory of the streamed job against customers (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["growth"] if "failed" not in r["stream"]["retrain"]
            and "failed" not in r["stream"].get("score", {"failed": 1})]
    if not rows:
        return
    n = [r["customers"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for job, mark in (("retrain", "o-"), ("score", "s-")):
        left.plot(n, [r["stream"][job]["seconds"] for r in rows], mark, label=job)
        right.plot(n, [r["stream"][job]["peak_gb"] for r in rows], mark,
                   label=f"{job}: job process")
    right.plot(n, [max(r["stream"]["retrain"]["workers_gb"] + r["stream"]["score"]["workers_gb"])
                   for r in rows], "^--", label="largest worker")
    right.plot(n, [r["pandas_gb"] for r in rows], ":", color="grey", label="log in pandas")
    from dask.utils import parse_bytes

    right.axhline(parse_bytes(results["memory_limit"]) / 1e9, color="red", lw=0.8, ls="--",
                  label="worker memory limit")
    for ax, title in ((left, "wall seconds"), (right, "peak memory, GB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(n, [f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k" for x in n])
        ax.set_xlabel("customers")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("dask.stream on 2 workers of " + results["memory_limit"], fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
