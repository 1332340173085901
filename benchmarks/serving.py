"""Serving benchmark: start-up time, latency for 1 and 1,000 rows, 1,000 sequential requests.

Trains a champion on a synthetic log in a temporary project (retrain job,
embedded SQLite store), serves it with ``mlflow models serve --env-manager
local`` on a free loopback port (the command ``repurchase-ml serve`` runs),
and measures over real HTTP. Writes ``benchmarks/results/serving.md``.

    python benchmarks/serving.py            # 2,000 customers, 3 start-ups
    python benchmarks/serving.py --quick    # 600 customers, 1 start-up, fewer large requests
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from repurchase_ml import jobs, tracking
from repurchase_ml._io import write_text_atomic
from repurchase_ml.config import load_settings
from repurchase_ml.features import build_features

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(frame) -> bytes:
    rows = [[None if isinstance(v, float) and math.isnan(v) else v for v in row]
            for row in frame.astype(object).itertuples(index=False)]
    return json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": rows}}).encode()


def post(url: str, data: bytes) -> int:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def start(settings, port: int, log: Path) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = jobs.start_server(settings, port=port, log_path=log)
    return proc, time.perf_counter() - t0


def timed(url: str, data: bytes, n: int) -> tuple[list[float], int]:
    times, errors = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        status = post(url, data)
        times.append(time.perf_counter() - t0)
        errors += status != 200
    return times, errors


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def main() -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_customers, n_starts, n_large = (600, 1, 20) if args.quick else (2000, 3, 50)

    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    settings = load_settings(overrides={
        "project_dir": str(tmp),
        "data": {"on_invalid": "drop", "synthetic": {"n_customers": n_customers,
                                                     "start": "2022-01-01",
                                                     "end": "2024-01-01"}},
        "horizons": {"ltv": 180}, "cutoffs": {"n": 18}, "baselines": False,
    }, environ={})
    t0 = time.perf_counter()
    retrain = jobs.run_retrain(settings)
    retrain_s = time.perf_counter() - t0
    champion = tracking.load_champion(settings)
    events, _ = jobs.load_event_log(settings)
    features = build_features(events, cutoffs=["2024-01-01"], spec=champion.spec)
    features["cutoff"] = features["cutoff"].dt.strftime("%Y-%m-%d")
    one = body(features.head(1))
    large_rows = features.sample(n=1000, replace=len(features) < 1000, random_state=0)
    large = body(large_rows)

    log = tmp / "server.log"
    starts = []
    for _ in range(n_starts - 1):
        proc, seconds = start(settings, free_port(), log)
        starts.append(seconds)
        jobs.stop_server(proc)
    port = free_port()
    proc, seconds = start(settings, port, log)
    starts.append(seconds)
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        timed(url, one, 10)  # warm-up
        seq, seq_errors = timed(url, one, 1000)
        big, big_errors = timed(url, large, n_large)
    finally:
        jobs.stop_server(proc)

    n_features = len(champion.served.features)
    text = f"""## Serving the champion over HTTP

`mlflow models serve -m models:/{settings.tracking.model_name}@champion --env-manager local`
on 127.0.0.1 (what `repurchase-ml serve` runs), one worker; requests are
`dataframe_split` JSON with `customer_id`, `cutoff` and {n_features} feature
columns; every response carries the scores of {', '.join(settings.tasks)},
value at risk and {settings.output.top_reasons} reasons per customer (TreeSHAP of
the churn model). Champion trained by the retrain job on a synthetic log of
{n_customers:,} customers ({retrain_s:.0f} s, version {retrain.model_version}).
Latency is client-side wall clock per sequential request on the same machine.

| measure | value |
|---|---:|
| server start-up to first `/ping` 200 (median of {len(starts)}) | {statistics.median(starts):.1f} s |
| 1 row: p50 / p95 latency (1,000 sequential requests) | {pct(seq, 50):.1f} / {pct(seq, 95):.1f} ms |
| 1,000 sequential 1-row requests: errors | {seq_errors} of 1,000 |
| 1,000 rows: p50 / p95 latency ({n_large} requests) | {pct(big, 50):.0f} / {pct(big, 95):.0f} ms |
| 1,000 rows: errors | {big_errors} of {n_large} |

Python {platform.python_version()}, {os.cpu_count()} cores (shared), measured
{time.strftime('%Y-%m-%d')}. Reproduce with `python benchmarks/serving.py{' --quick' if args.quick else ''}`.
"""
    shutil.rmtree(tmp, ignore_errors=True)
    return write_text_atomic(ROOT / "benchmarks" / "results" / "serving.md", text)


if __name__ == "__main__":
    print(main())
