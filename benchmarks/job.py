"""The scheduled job at scale: ``retrain`` then ``score`` on synthetic logs of growing size.

For each size, a synthetic log (``make_event_log``, basic profile, about 20
events per customer, three years) is written once as Parquet to a cache
folder; then, each in a fresh Python process so that peak memory is that job's
own, ``run_retrain`` (default tasks, ``cutoffs.n`` monthly cutoffs, no tuning,
a fresh project) and ``run_score`` at the log's end run exactly as the CLI
runs them. Each job's stages come from its own stage clock
(``repurchase_ml._stages``): wall seconds and the peak resident memory during
the stage. The table also gives each job's whole wall time and the process's
peak, and how the per-customer cost grows with size.

    python benchmarks/job.py                                   # 100k, 300k and 1M customers
    python benchmarks/job.py --sizes 20000 --out /tmp/job.md   # a quick check

Writes benchmarks/results/job.md (atomically). The machine is shared: the
1-minute load average at the end of each job is in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "2022-01-01", "2025-01-01"


def _log_path(cache: Path, n_customers: int, seed: int) -> Path:
    return cache / f"synthetic_{n_customers}_{seed}_{START}_{END}.parquet"


def _generate(path: Path, n_customers: int, seed: int) -> None:
    from repurchase_ml._io import write_frame_atomic
    from repurchase_ml.datasets import make_event_log

    events, _truth = make_event_log(n_customers, START, END, random_state=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_frame_atomic(events, path)


def _child(job: str, log: Path, project: Path, cutoffs: int, as_of: str) -> None:
    """Run one job in this process and print its stages and peak memory as JSON."""
    import logging

    from repurchase_ml._stages import job_peak_gb
    from repurchase_ml.config import load_settings
    from repurchase_ml.jobs import run_retrain, run_score

    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(overrides={
        "project_dir": str(project), "data": {"source": "path", "path": str(log)},
        "cutoffs": {"n": cutoffs}}, environ={})
    tic, cpu = time.perf_counter(), time.process_time()
    if job == "retrain":
        result = run_retrain(settings)
        stages, extra = result.stages, {"promoted": result.promoted}
    else:
        scored = run_score(settings, as_of)
        stages, extra = scored.stages, {"n_scored": scored.n_scored, "n_radar": scored.n_radar}
    seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    peak = job_peak_gb(stages)  # the stage clock resets the high-water mark per stage
    print(json.dumps({"job": job, "seconds": seconds, "cpu_seconds": cpu, "stages": stages,
                      "peak_gb": peak,
                      "load": os.getloadavg()[0], **extra}))


def _run(job: str, log: Path, project: Path, cutoffs: int, as_of: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "REPURCHASE_ML_"))}
    env["REPURCHASE_ML_PROGRESS"] = "0"
    out = subprocess.run([sys.executable, __file__, "--child", job, str(log), str(project),
                          str(cutoffs), as_of], check=False, capture_output=True, text=True,
                         cwd=ROOT, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{job} on {log.name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _events(log: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(log).metadata.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--cutoffs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / ".cache"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "job.md"))
    parser.add_argument("--child", nargs=5, metavar=("JOB", "LOG", "PROJECT", "CUTOFFS", "AS_OF"))
    args = parser.parse_args()
    if args.child:
        job, log, project, cutoffs, as_of = args.child
        _child(job, Path(log), Path(project), int(cutoffs), as_of)
        return

    from repurchase_ml._io import write_text_atomic

    results = []
    for n in args.sizes:
        log = _log_path(Path(args.cache), n, args.seed)
        if not log.exists():
            print(f"generating {n:,} customers ...", flush=True)
            _generate(log, n, args.seed)
        with tempfile.TemporaryDirectory() as project:
            retrain = _run("retrain", log, Path(project), args.cutoffs, END)
            print(f"{n:,}: retrain {retrain['seconds']:.1f} s, peak {retrain['peak_gb']:.2f} GB",
                  flush=True)
            score = _run("score", log, Path(project), args.cutoffs, END)
            print(f"{n:,}: score {score['seconds']:.1f} s, peak {score['peak_gb']:.2f} GB",
                  flush=True)
        results.append({"customers": n, "events": _events(log), "retrain": retrain,
                        "score": score})
    text = _table(results, args)
    write_text_atomic(args.out, text)
    print(text)


def _table(results: list[dict], args: argparse.Namespace) -> str:
    sizes = [r["customers"] for r in results]
    lines = ["## The scheduled job at scale (`retrain` then `score`)", "",
             f"Synthetic logs (basic profile, {START} to {END}); `retrain` with default tasks, "
             f"{args.cutoffs} monthly cutoffs, no tuning, in a fresh project; then `score` at "
             f"{END}. Each job in a fresh process. Per stage and size: wall seconds / CPU "
             "seconds (all threads of the process; other load on the machine does not inflate "
             "them) / peak resident memory in GB during the stage. One run per size on a "
             "shared 2-core machine (load: 1-minute load average at the end of the job).", "",
             "| job | stage | " + " | ".join(f"{n:,}: wall s / CPU s / GB" for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for job in ("retrain", "score"):
        names: list[str] = []
        for r in results:
            names += [s["stage"] for s in r[job]["stages"] if s["stage"] not in names]
        for name in names:
            cells = []
            for r in results:
                found = [s for s in r[job]["stages"] if s["stage"] == name]
                cells.append(f"{found[0]['seconds']:.1f} / {found[0]['cpu_seconds']:.1f} / "
                             f"{found[0]['peak_gb']:.2f}" if found else "–")
            lines.append(f"| {job} | {name} | " + " | ".join(cells) + " |")
        lines.append(f"| **{job}** | **whole job** | " + " | ".join(
            f"**{r[job]['seconds']:.1f} / {r[job]['cpu_seconds']:.1f} / {r[job]['peak_gb']:.2f}**"
            for r in results) + " |")
    lines += ["", "| customers | events | retrain wall s | retrain CPU s | score wall s | "
              "score CPU s | retrain CPU µs / customer | score CPU µs / customer | "
              "retrain peak GB | score peak GB | load |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        n, re, sc = r["customers"], r["retrain"], r["score"]
        lines.append(f"| {n:,} | {r['events']:,} | {re['seconds']:.1f} | {re['cpu_seconds']:.1f} | "
                     f"{sc['seconds']:.1f} | {sc['cpu_seconds']:.1f} | "
                     f"{re['cpu_seconds'] / n * 1e6:.0f} | {sc['cpu_seconds'] / n * 1e6:.0f} | "
                     f"{re['peak_gb']:.2f} | {sc['peak_gb']:.2f} | {sc['load']:.1f} |")
    lines += ["", f"Python {platform.python_version()}, {os.cpu_count()} cores, measured "
              f"{time.strftime('%Y-%m-%d')}. Reproduce with `python benchmarks/job.py --sizes "
              + " ".join(str(n) for n in sizes) + "`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
