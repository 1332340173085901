"""Speed of the classic models: the scipy BG/NBD + Gamma-Gamma fit beside PyMC-Marketing's MAP.

Customers are simulated from BG/NBD with the published CDNOW parameters
(r = 0.243, alpha = 4.414 per week, a = 0.793, b = 2.426) and Gamma-Gamma
spend, first orders spread over a year, and turned into feature rows
(``orders_all``, ``days_since_first_purchase``, ``days_since_last_purchase``,
``revenue_all``, ``first_order_value``) with order times to the second, so
no two rows merge (the slow case for the fit). One run is
``ClassicModel(model=...).fit(features)`` plus ``predict(features, horizon_days=90)``
for BG/NBD and for Pareto/NBD;
the PyMC-Marketing run is ``BetaGeoModel`` (flat priors) and
``GammaGammaModel`` fitted by MAP on the same summaries, plus their
predictions. The table reports the median of the repeats, after a warm-up.

    python benchmarks/btyd.py                              # 10k and 100k, PyMC at 10k
    python benchmarks/btyd.py --sizes 10000 --no-pymc      # quick check

Writes benchmarks/results/btyd.md (atomically).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
HORIZON_DAYS = 90


def simulate_features(n_customers: int, seed: int = 0) -> pd.DataFrame:
    """Feature rows of customers drawn from BG/NBD (weeks) and Gamma-Gamma, at one cutoff."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(0, 52, n_customers) + rng.uniform(0, 1 / 7, n_customers)
    rate = rng.gamma(PUBLISHED["r"], 1 / PUBLISHED["alpha"], n_customers)
    dropout = rng.beta(PUBLISHED["a"], PUBLISHED["b"], n_customers)
    last = np.zeros(n_customers)
    repeats = np.zeros(n_customers)
    active = np.ones(n_customers, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        nxt = last[idx] + rng.exponential(1 / np.maximum(rate[idx], 1e-12))
        bought = nxt < T[idx]
        who = idx[bought]
        last[who], repeats[who] = nxt[bought], repeats[who] + 1
        active[idx[~bought]] = False
        active[who[rng.uniform(size=len(who)) < dropout[who]]] = False
    nu = rng.gamma(SPEND["q"], 1 / SPEND["v"], n_customers)
    order_value = rng.gamma(SPEND["p"], 1 / nu[:, None], (n_customers, 2))
    first_value = order_value[:, 0]
    # the mean of x repeat orders is Gamma(p x, nu x)
    repeat_mean = rng.gamma(SPEND["p"] * np.maximum(repeats, 1), 1 / (nu * np.maximum(repeats, 1)))
    return pd.DataFrame({
        "customer_id": np.arange(n_customers),
        "cutoff": pd.Timestamp("2024-01-01"),
        "orders_all": repeats + 1,
        "days_since_first_purchase": T * 7,
        "days_since_last_purchase": (T - last) * 7,
        "revenue_all": first_value + repeats * repeat_mean,
        "first_order_value": first_value,
    })


def _time(run, repeats: int) -> float:
    run()  # warm-up
    seconds = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - tic)
    return statistics.median(seconds)


def time_scipy(features: pd.DataFrame, repeats: int, model_name: str = "bgnbd"
               ) -> tuple[float, dict[str, float]]:
    from repurchase_ml.models.btyd import ClassicModel

    def run() -> ClassicModel:
        model = ClassicModel(model=model_name).fit(features)
        model.predict(features, horizon_days=HORIZON_DAYS)
        return model

    seconds = _time(run, repeats)
    return seconds, run().params_


def time_pymc(features: pd.DataFrame, repeats: int) -> tuple[float, dict[str, float]]:
    from repurchase_ml.models.btyd import summary_from_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymc_extras.prior import Prior
        from pymc_marketing import clv
    summary = summary_from_features(features).assign(customer_id=features["customer_id"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    fitted: dict[str, float] = {}

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bg = clv.BetaGeoModel(model_config={k: Prior("HalfFlat") for k in PUBLISHED})
            bg.fit(data=summary[["customer_id", "frequency", "recency", "T"]], method="map",
                   progressbar=False)
            gg = clv.GammaGammaModel()
            gg.fit(data=repeat[["customer_id", "frequency", "monetary_value"]], method="map",
                   progressbar=False)
            data = summary[["customer_id", "frequency", "recency", "T"]]
            t = HORIZON_DAYS / 7
            bg.expected_purchases(data, future_t=t)
            bg.expected_probability_alive(data)
            bg.expected_probability_no_purchase(t, data=data)
            gg.expected_customer_spend(summary[["customer_id", "frequency", "monetary_value"]])
        fitted.update({k: float(bg.fit_result[k].values.ravel()[0]) for k in PUBLISHED})

    return _time(run, repeats), fitted


def _table(rows: list[dict], command: str) -> str:
    lines = [
        "# Classic models: fit + predict time",
        "",
        f"`{command}` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared), Python {platform.python_version()}. "
        "Simulated BG/NBD + Gamma-Gamma customers as feature rows (no two rows alike), "
        f"one fit of the purchase model and Gamma-Gamma and predictions for a {HORIZON_DAYS}-day horizon; "
        "median of the repeats after a warm-up. Load average at the end: "
        f"{os.getloadavg()[0]:.1f} (other work shares the CPUs; an idle machine is faster).",
        "",
        "| customers | back end | repeats | seconds (median) | estimates (alpha, beta in weeks) |",
        "|---:|---|---:|---:|---|",
    ]
    for row in rows:
        estimates = ", ".join(f"{k} = {v:.3f}" for k, v in row["params"].items())
        lines.append(f"| {row['n']:,} | {row['backend']} | {row['repeats']} | "
                     f"{row['seconds']:.3f} | {estimates} |")
    lines += ["", f"Simulated from BG/NBD with r = {PUBLISHED['r']}, alpha = {PUBLISHED['alpha']}, "
              f"a = {PUBLISHED['a']}, b = {PUBLISHED['b']} (so Pareto/NBD is the misspecified "
              "model here). Pareto/NBD has no analytic gradient: its fit takes finite "
              "differences, each a hypergeometric function per customer.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="bgnbd,pareto_nbd",
                        help="ClassicModel models to time (comma-separated)")
    parser.add_argument("--pymc-size", type=int, default=10000)
    parser.add_argument("--pymc-repeats", type=int, default=5)
    parser.add_argument("--no-pymc", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "btyd.md"))
    args = parser.parse_args(argv)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        features = simulate_features(n)
        for model_name in args.models.split(","):
            seconds, params = time_scipy(features, args.repeats, model_name)
            rows.append({"n": n, "backend": f"scipy, ClassicModel(model={model_name!r})",
                         "repeats": args.repeats, "seconds": seconds, "params": params})
            print(rows[-1], flush=True)
    if not args.no_pymc:
        features = simulate_features(args.pymc_size)
        seconds, params = time_pymc(features, args.pymc_repeats)
        rows.append({"n": args.pymc_size, "backend": "PyMC-Marketing MAP", "repeats":
                     args.pymc_repeats, "seconds": seconds, "params": params})
        print(rows[-1], flush=True)
    command = "python benchmarks/btyd.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = _table(rows, command.strip())
    print(text)
    from repurchase_ml._io import write_text_atomic

    return write_text_atomic(args.output, text)


if __name__ == "__main__":
    main()
