"""Labels, training sets and cutoff proposals checked by hand, boundaries included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_features import T, make_log, three_customers

from repurchase_ml.datasets import make_event_log
from repurchase_ml.features import (
    TASKS,
    FeatureSpec,
    build_features,
    build_training_set,
    data_end,
    make_labels,
    propose_cutoffs,
)

NAN = float("nan")


def labels(task: str, cutoffs: object = T, horizon: int | None = 10) -> dict:
    frame = make_labels(three_customers(), cutoffs=cutoffs, task=task, horizon_days=horizon)
    assert list(frame.columns) == ["customer_id", "cutoff", task]
    assert frame[task].dtype == "float64"
    return dict(zip(frame["customer_id"], frame[task], strict=True))


def test_task_defaults() -> None:
    assert {name: (t.kind, t.horizon_days, t.population) for name, t in TASKS.items()} == {
        "repurchase": ("binary", 30, "buyers"),
        "order_count": ("count", 90, "buyers"),
        "churn": ("binary", 90, "alive"),
        "ltv": ("regression", 365, "buyers"),
        "second_purchase": ("binary", 30, "new_single_order"),
    }


def test_labels_by_hand_with_the_order_exactly_at_the_cutoff() -> None:
    # the log ends 2024-07-10, so the observed period runs to 2024-07-11
    assert data_end(three_customers()) == pd.Timestamp("2024-07-11")
    # customer 1 orders exactly at T (label side); customer 3 never bought before T
    assert labels("repurchase") == {1: 1.0, 2: 0.0}
    assert labels("order_count") == {1: 1.0, 2: 0.0}
    assert labels("churn") == {1: 0.0, 2: 1.0}
    assert labels("ltv") == {1: 100.0, 2: 0.0}
    # the same order one second before the cutoff is history, not label
    assert labels("repurchase", T + pd.Timedelta(seconds=1), 9) == {1: 0.0, 2: 0.0}


def test_second_purchase_population_and_horizon() -> None:
    may10 = pd.Timestamp("2024-05-10")
    # at 05-10 customer 1 has exactly one order (05-02), customer 2 has two
    assert labels("second_purchase", may10, 10) == {1: 0.0}
    assert labels("second_purchase", may10, 40) == {1: 1.0}  # o2 on 06-18
    # at T nobody has exactly one recent order
    assert labels("second_purchase") == {}


def test_churn_population_is_alive_customers_only() -> None:
    log = make_log([
        (1, "2022-01-01", "purchase", 5.0, "a", "i", "x", 1, 5.0, False),
        (2, "2023-06-01", "purchase", 5.0, "b", "i", "x", 1, 5.0, False),
        (2, "2023-08-01", "purchase", 5.0, "c", "i", "x", 1, 5.0, False),
        (3, "2023-05-01", "refund", 5.0, None, "i", "x", 1, 5.0, False),
        (3, "2023-08-15", "purchase", 7.0, "d", "i", "x", 1, 7.0, False),
        (3, "2023-08-20", "refund", 2.0, None, "i", "x", 1, 2.0, False),
        (1, "2023-12-31", "view", NAN, None, "i", "x", NAN, NAN, False),
    ])
    churn = make_labels(log, cutoffs="2023-07-01", task="churn", horizon_days=90)
    assert churn[["customer_id", "churn"]].values.tolist() == [[2, 0.0]]
    ltv = make_labels(log, cutoffs="2023-07-01", task="ltv", horizon_days=90)
    # customer 3 has only a refund before the cutoff: not a buyer; customer 2 buys for 5 on 08-01
    assert ltv[["customer_id", "ltv"]].values.tolist() == [[1, 0.0], [2, 5.0]]
    ltv_later = make_labels(log, cutoffs="2023-08-16", task="ltv", horizon_days=90)
    assert ltv_later[["customer_id", "ltv"]].values.tolist() == [[1, 0.0], [2, 0.0], [3, -2.0]]


def test_horizon_past_the_end_of_the_log_is_refused() -> None:
    with pytest.raises(ValueError, match="runs past the end of the log"):
        make_labels(three_customers(), cutoffs=T, task="churn")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "happiness"}, "unknown task"),
        ({"task": "churn", "horizon_days": 0}, "positive whole number"),
        ({"task": "churn", "cutoffs": None}, "is required"),
        ({"task": "churn", "cutoffs": pd.Timestamp("2024-06-01", tz="Europe/Paris")},
         "timezone-aware"),
    ],
)
def test_bad_label_arguments(kwargs: dict, match: str) -> None:
    arguments = {"cutoffs": pd.Timestamp("2024-06-01"), **kwargs}
    with pytest.raises(ValueError, match=match):
        make_labels(three_customers(), **arguments)


def test_training_set_stacks_features_and_labels() -> None:
    log = three_customers()
    cutoffs = [pd.Timestamp("2024-05-10"), T]
    horizons = {"repurchase": 10, "second_purchase": 10, "churn": 10}
    ts = build_training_set(log, cutoffs=cutoffs, tasks=list(horizons), horizons=horizons)
    features = build_features(log, cutoffs=cutoffs)
    pd.testing.assert_frame_equal(ts[features.columns], features)
    assert list(ts.columns[-3:]) == ["label_repurchase", "label_second_purchase", "label_churn"]
    got = ts.set_index(["cutoff", "customer_id"])[list(ts.columns[-3:])]
    assert got.loc[(pd.Timestamp("2024-05-10"), 1)].tolist() == [0.0, 0.0, 1.0]
    assert got.loc[(T, 1)].tolist()[0::2] == [1.0, 0.0]
    assert np.isnan(got.loc[(T, 1), "label_second_purchase"])
    assert got.loc[(T, 3)].isna().all()
    with pytest.raises(ValueError, match="horizons"):
        build_training_set(log, cutoffs=cutoffs, tasks=["churn"], horizons={"ltv": 5})


def test_propose_cutoffs_fit_their_horizon() -> None:
    log = three_customers()  # 2024-01-01 12:00 .. 2024-07-10
    assert propose_cutoffs(log, horizon_days=30) == [
        pd.Timestamp(f"2024-{m:02d}-01") for m in range(2, 7)]
    assert propose_cutoffs(log, horizon_days=30, n=2) == [pd.Timestamp("2024-05-01"),
                                                          pd.Timestamp("2024-06-01")]
    weekly = propose_cutoffs(log, horizon_days=10, freq="W-MON")
    assert weekly[-1] == T and all(c.weekday() == 0 for c in weekly)
    with pytest.raises(ValueError, match=r"no cutoff fits.*\(192 days\).*365-day horizon"):
        propose_cutoffs(log, horizon_days=365)


def test_cdnow_sample_matches_the_published_counts() -> None:
    """Calibration repeat days (2,457) and holdout repeat transactions (1,882) of the
    CDNOW 1/10 sample, weeks 1-39 and 40-78 (Fader, Hardie & Lee 2005)."""
    from repurchase_ml.datasets import load_cdnow_sample

    try:
        events, _ = load_cdnow_sample()
    except FileNotFoundError as exc:
        pytest.skip(f"CDNOW sample not available: {exc}")
    cutoff = pd.Timestamp("1997-10-01")
    features = build_features(events, cutoffs=cutoff)
    assert len(features) == 2357
    assert (features["orders_all"] - 1).sum() == 2457
    holdout = make_labels(events, cutoffs=cutoff, task="order_count", horizon_days=273)
    assert len(holdout) == 2357
    assert holdout["order_count"].sum() == 1882
    assert data_end(events) == cutoff + pd.Timedelta(days=273)


def test_pinned_behaviour_and_orders_without_ids() -> None:
    log = three_customers()
    orders_only = log[log["event_type"] == "purchase"].reset_index(drop=True)
    spec = FeatureSpec(windows=(30,), behaviour=True)
    got = build_features(orders_only, cutoffs=T, spec=spec)
    assert got["views_30d"].tolist() == [0.0, 0.0]
    assert np.isnan(got["view_to_purchase_rate"]).all()
    # customer 2's orders have no order id: each purchase row is an order
    counts = make_labels(orders_only, cutoffs="2024-03-01", task="order_count", horizon_days=120)
    assert counts.set_index("customer_id")["order_count"].to_dict() == {2: 2.0}


# one purchase or refund: (customer, hours after the start, refund?, amount, order id)
_MONEY_EVENT = st.tuples(st.integers(0, 3), st.integers(0, 60 * 24), st.booleans(),
                         st.sampled_from([5.0, 10.0, 25.0]),
                         st.one_of(st.none(), st.sampled_from(["a", "b", "c"])))
_START = pd.Timestamp("2024-01-01")


def _money_log(events: list[tuple], end_hours: int) -> pd.DataFrame:
    rows = [(c, _START + pd.Timedelta(hours=h), "refund" if r else "purchase", a, o)
            for c, h, r, a, o in events]
    rows.append((9, _START + pd.Timedelta(hours=end_hours), "view", NAN, None))  # fixes the end
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount",
                                        "order_id"])
    frame["event_type"] = pd.Categorical(frame["event_type"],
                                         categories=["purchase", "refund", "view", "cart",
                                                     "favorite"])
    frame["order_id"] = frame["order_id"].astype(object)
    return frame.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MONEY_EVENT, max_size=25), st.lists(_MONEY_EVENT, max_size=8),
       st.sampled_from(["order_id", "customer_day"]))
def test_events_after_the_label_window_change_no_label(past: list[tuple], later: list[tuple],
                                                       definition: str) -> None:
    # cutoff at day 20, a 10-day window: events from day 30 on are after it; refunds there
    # cannot cancel an order in the window, order lines there are no order of the window
    cutoff, horizon = _START + pd.Timedelta(days=20), 10
    end_hours = 61 * 24
    moved = [(c, 30 * 24 + h % (30 * 24), *rest) for c, h, *rest in later]
    spec = FeatureSpec(order_definition=definition)
    for task in ("order_count", "ltv", "churn", "second_purchase"):
        alone = make_labels(_money_log(past, end_hours), cutoffs=cutoff, task=task,
                            horizon_days=horizon, spec=spec)
        more = make_labels(_money_log(past + moved, end_hours), cutoffs=cutoff, task=task,
                           horizon_days=horizon, spec=spec)
        pd.testing.assert_frame_equal(alone, more, check_exact=False, rtol=1e-12)


# --------------------------------------------------------------------------- row budget
def test_training_set_row_budget_keeps_rows_exactly_and_base_rates():
    """A budgeted training set is a stratified subset of the full one, row for row, and each
    task keeps its labels on a stratified sample of its own population."""
    events, _ = make_event_log(1500, "2022-01-01", "2024-01-01", random_state=11)
    cuts = pd.date_range("2023-01-01", periods=6, freq="MS")
    tasks = ["churn", "repurchase", "second_purchase"]
    horizons = {"churn": 60, "repurchase": 30, "second_purchase": 30}
    full = build_training_set(events, cutoffs=cuts, tasks=tasks, horizons=horizons)
    assert "sampled" not in full.attrs
    same = build_training_set(events, cutoffs=cuts, tasks=tasks, horizons=horizons,
                              max_rows=len(full))
    pd.testing.assert_frame_equal(same, full)
    assert same.attrs["sampled"]["fraction"] == 1.0

    budget = len(full) // 3
    part = build_training_set(events, cutoffs=cuts, tasks=tasks, horizons=horizons,
                              max_rows=budget, random_state=5)
    assert len(part) <= budget and part.attrs["sampled"]["rows_before"] == len(full)
    shares = part.attrs["sampled"]["task_fractions"]
    # every task keeps the same fraction: the kept rows are the population in miniature
    assert shares["churn"] == shares["repurchase"] == shares["second_purchase"] <= 1 / 3
    keyed = full.set_index(["customer_id", "cutoff"])
    kept = keyed.loc[part.set_index(["customer_id", "cutoff"]).index]
    features = [c for c in full.columns if not c.startswith("label_")]
    pd.testing.assert_frame_equal(part[features[2:]].reset_index(drop=True),
                                  kept[features[2:]].reset_index(drop=True))
    for task in tasks:
        column = f"label_{task}"
        mine, theirs = part[column].to_numpy(), kept[column].to_numpy()
        labelled = ~np.isnan(mine)
        assert np.array_equal(mine[labelled], theirs[labelled])  # a kept label is the label
        assert labelled.sum() == pytest.approx(shares[task] * full[column].notna().sum(),
                                               abs=3 ** 3 * 6)  # floor per stratum, cutoff
        for cutoff, rows in part.groupby("cutoff"):  # the base rate of each cutoff is kept
            everyone = full.loc[full["cutoff"] == cutoff, column].dropna()
            sample = rows[column].dropna()
            if len(sample) >= 50:
                assert (sample > 0).mean() == pytest.approx((everyone > 0).mean(), abs=0.03)
    again = build_training_set(events, cutoffs=cuts, tasks=tasks, horizons=horizons,
                               max_rows=budget, random_state=5)
    pd.testing.assert_frame_equal(again, part)  # seeded
    other = build_training_set(events, cutoffs=cuts, tasks=tasks, horizons=horizons,
                               max_rows=budget, random_state=6)
    assert not other["customer_id"].equals(part["customer_id"])
    with pytest.raises(ValueError, match="max_rows: expected a positive whole number"):
        build_training_set(events, cutoffs=cuts, tasks=tasks, horizons=horizons, max_rows=0)


def test_label_cutoffs_may_lie_beyond_another_tasks_horizon():
    """Each task's horizon is checked at its own label cutoffs only (the retrain job's table)."""
    events, _ = make_event_log(300, "2022-01-01", "2023-07-01", random_state=2)
    late = pd.date_range("2023-01-01", "2023-06-01", freq="MS")  # 2023-06-01 + 60 days > end
    churn_at = list(late[:4])
    out = build_training_set(events, cutoffs=late, tasks=["churn", "repurchase"],
                             horizons={"churn": 60, "repurchase": 30},
                             label_cutoffs={"churn": churn_at})
    labelled = out.loc[out["label_churn"].notna(), "cutoff"].unique()
    assert sorted(pd.to_datetime(labelled)) == churn_at
    assert out.loc[out["cutoff"] == late[-1], "label_repurchase"].notna().any()
    with pytest.raises(ValueError, match="60-day 'churn' horizon that runs past the end"):
        build_training_set(events, cutoffs=late, tasks=["churn"], horizons={"churn": 60})


def test_sample_rows_tops_up_a_small_task_when_asked():
    """With min_task_rows, a small task keeps more of its rows; the others' labels are dropped
    on those extra rows, so each task's labels stay a sample of its own population."""
    from repurchase_ml.features.labels import sample_rows

    rng = np.random.default_rng(0)
    big = rng.integers(0, 2, 1000).astype(float)
    small = np.full(1000, np.nan)
    small[:100] = rng.integers(0, 2, 100)
    kept = sample_rows([np.arange(1000)], [[big, small]], max_rows=300, min_task_rows=80)
    shares = kept.attrs["task_fractions"]
    assert shares[1] == pytest.approx(0.8) and shares[0] < 0.3
    rows, (big_kept, small_kept) = kept[0], kept.label_kept[0]
    assert small_kept.sum() == pytest.approx(80, abs=4)
    extra = small_kept & ~big_kept  # kept for the small task only
    assert extra.any() and (rows[extra] < 100).all()
    assert len(rows) <= 306  # about the budget: the top-up is sized before the base shrinks
    plain = sample_rows([np.arange(1000)], [[big, small]], max_rows=300)
    assert plain.label_kept[0] == [None, None] and plain.attrs["task_fractions"][0] == \
        plain.attrs["task_fractions"][1]
