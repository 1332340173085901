"""Operations analytics: each table against a hand calculation, the synthetic log's truth,
the cutoff (nothing at or after as_of changes a table), polars input, bad input, the job."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import repurchase_ml as rm
from repurchase_ml import analytics as an
from repurchase_ml.analytics.diagnostics import bgnbd_orders_pmf
from repurchase_ml.analytics.plots import contrast_ratio
from repurchase_ml.analytics.repurchase import kaplan_meier
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES


def log(rows: list[tuple]) -> pd.DataFrame:
    """A canonical log from (customer, time, event type, amount[, category]) rows."""
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount",
                                        "category"][:len(rows[0])])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    frame["event_type"] = pd.Categorical(frame["event_type"], categories=EVENT_TYPES)
    frame["amount"] = frame["amount"].astype(float)
    return frame


# A shop's first quarter, by hand: five buyers, a browser, a refund and an order cancelled.
ORDERS = log([
    (1, "2024-01-03 10:00", "purchase", 10.0),
    (1, "2024-01-10 10:00", "purchase", 20.0),  # day 7 after the first
    (1, "2024-02-05 10:00", "purchase", 30.0),
    (2, "2024-01-20 09:00", "purchase", 15.0),
    (2, "2024-02-19 09:00", "purchase", 25.0),  # day 30
    (2, "2024-02-25 09:00", "refund", 5.0),  # a partial refund: money, not an order
    (3, "2024-02-02 12:00", "purchase", 40.0),  # never back: censored at as_of
    (4, "2024-02-10 08:00", "purchase", 50.0),
    (4, "2024-02-10 20:00", "refund", 50.0),  # cancels the order: customer 4 never bought
    (5, "2024-03-01 10:00", "purchase", 12.0),
    (5, "2024-03-03 10:00", "purchase", 12.0),  # day 2
    (6, "2024-01-15 10:00", "view", 0.0),
    (1, "2024-04-02 10:00", "purchase", 99.0),  # after as_of: never seen
])
AS_OF = "2024-03-15"


def test_repurchase_funnel_counts_orders_as_the_library_does():
    table = an.repurchase_funnel(ORDERS, AS_OF, max_order=3)
    # buyers 1, 2, 3, 5 (4's only order was cancelled; 6 only browsed; 1's April order is later)
    assert table["customers"].tolist() == [4, 3, 1]
    assert table["step_conversion"].tolist() == [1.0, 0.75, pytest.approx(1 / 3)]
    assert table["overall_conversion"].tolist() == [1.0, 0.75, 0.25]
    cohorts = an.repurchase_funnel(ORDERS, AS_OF, by="cohort", max_order=2)
    got = {(g, k): n for g, k, n in cohorts[["group", "order_number", "customers"]].values}
    assert got == {("2024-01", 1): 2, ("2024-01", 2): 2, ("2024-02", 1): 1, ("2024-02", 2): 0,
                   ("2024-03", 1): 1, ("2024-03", 2): 1}
    by_segment = an.repurchase_funnel(ORDERS, AS_OF, by="segment", max_order=2)
    assert by_segment.loc[by_segment["order_number"] == 1, "customers"].sum() == 4


def test_time_to_next_order_is_kaplan_meier_by_hand():
    # gaps from the first order: 7 (1), 30 (2), 2 (5) days; customer 3 is censored at
    # ceil(as_of - 2024-02-02 12:00) = 42 days
    table = an.time_to_next_order(ORDERS, AS_OF)
    assert table[["days", "at_risk", "events", "censored"]].values.tolist() == [
        [2, 4, 1, 0], [7, 3, 1, 0], [30, 2, 1, 0], [42, 1, 0, 1]]
    assert table["survival"].tolist() == pytest.approx([3 / 4, 2 / 4, 1 / 4, 1 / 4])
    # from the second order: 1 is back after 26 days; 2 (24.6 days) and 5 (11.6) are censored
    second = an.time_to_next_order(ORDERS, AS_OF, from_order=2)
    assert second[["days", "at_risk", "events", "censored"]].values.tolist() == [
        [12, 3, 0, 1], [25, 2, 0, 1], [26, 1, 1, 0]]
    assert second["survival"].tolist() == [1.0, 1.0, 0.0]


def test_kaplan_meier_with_ties_and_censoring_matches_hand_and_lifelines():
    days = np.array([3, 3, 5, 5, 5, 8, 10, 12, 12, 15])
    came = np.array([1, 0, 1, 1, 0, 1, 0, 1, 0, 0], dtype=bool)
    table = kaplan_meier(days, came)
    # by hand: n = 10, 8, 5, 4, 3, 1; d = 1, 2, 1, 0, 1, 0
    s = np.cumprod([1 - 1 / 10, 1 - 2 / 8, 1 - 1 / 5, 1 - 0 / 4, 1 - 1 / 3, 1 - 0 / 1])
    assert table["at_risk"].tolist() == [10, 8, 5, 4, 3, 1]
    assert table["survival"].to_numpy() == pytest.approx(s)
    # Greenwood's variance at day 5, and the log-log interval built on it
    var = (1 / (10 * 9) + 2 / (8 * 6)) / np.log(s[1]) ** 2
    lower = np.exp(-np.exp(np.log(-np.log(s[1])) + 1.959964 * np.sqrt(var)))
    assert table["ci_lower"].iat[1] == pytest.approx(lower, rel=1e-5)
    lifelines = pytest.importorskip("lifelines")
    fit = lifelines.KaplanMeierFitter().fit(days, came)
    reference = fit.survival_function_.loc[table["days"]].iloc[:, 0].to_numpy()
    assert table["survival"].to_numpy() == pytest.approx(reference)
    bounds = fit.confidence_interval_survival_function_.loc[table["days"]].to_numpy()
    assert table["ci_lower"].to_numpy() == pytest.approx(bounds[:, 0], rel=1e-6)
    assert table["ci_upper"].to_numpy() == pytest.approx(bounds[:, 1], rel=1e-6)


def test_kaplan_meier_recovers_a_known_return_rate():
    # simulated truth: exponential gaps (mean 20 days) censored by a uniform follow-up
    rng = np.random.default_rng(0)
    gap, follow = rng.exponential(20.0, 4000), rng.uniform(5, 120, 4000)
    table = kaplan_meier(np.ceil(np.minimum(gap, follow)).astype(int), gap <= follow)
    at_30 = table.loc[table["days"] <= 30].iloc[-1]
    # whole days rounded up: survival after day 30 is P(gap > 30)
    assert at_30["ci_lower"] <= np.exp(-30 / 20) <= at_30["ci_upper"]
    assert at_30["survival"] == pytest.approx(np.exp(-30 / 20), abs=0.02)


def test_return_shares_and_nudge_window():
    shares = an.return_shares(ORDERS, AS_OF, days=(1, 7, 30, 60))
    assert shares["share_returned"].tolist()[:3] == pytest.approx([0, 0.5, 0.75])
    assert np.isnan(shares["share_returned"].iat[3])  # nobody followed 60 days
    assert shares["at_risk"].tolist() == [4, 2, 1, 0]
    first = pd.Timestamp("2024-01-01")
    # 300 buyers: 100 come back on days 1-10 (10 a day), 200 never (followed 90 days)
    rows = [(c, first, "purchase", 1.0) for c in range(300)]
    rows += [(c, first + pd.Timedelta(days=1 + c // 10), "purchase", 1.0) for c in range(100)]
    nudge = an.nudge_window(log(rows), "2024-03-31", threshold=0.01, window_days=1,
                            min_at_risk=20)
    # hazard on day 10: 10 of 210 = 4.8 %; then 0: the nudge window closes after day 10
    assert int(nudge["nudge_day"].iat[0]) == 10
    assert nudge["share_returned_by_nudge_day"].iat[0] == pytest.approx(100 / 300)


def test_cohort_retention_matrix_by_hand():
    table = an.cohort_retention(ORDERS, AS_OF)
    got = {(c, k): (n, a) for c, k, n, a in
           table[["cohort", "period", "cohort_customers", "active_customers"]].values}
    # January: 1 and 2 (1 orders in Jan and Feb, 2 in Jan and Feb); Feb: 3; Mar: 5
    assert got == {("2024-01", 0): (2, 2), ("2024-01", 1): (2, 2), ("2024-01", 2): (2, 0),
                   ("2024-02", 0): (1, 1), ("2024-02", 1): (1, 0), ("2024-03", 0): (1, 1)}
    revenue = an.cohort_retention(ORDERS, AS_OF, measure="revenue").set_index(
        ["cohort", "period"])
    # January cohort: 10 + 20 + 15 in January; 30 + 25 - 5 (refund) in February
    assert revenue.loc[("2024-01", 0), "net_revenue"] == pytest.approx(45.0)
    assert revenue.loc[("2024-01", 1), "net_revenue"] == pytest.approx(50.0)
    assert revenue.loc[("2024-01", 1), "retention"] == pytest.approx(50 / 45)
    assert not revenue.loc[("2024-03", 0), "complete"]
    weekly = an.cohort_retention(ORDERS, AS_OF, freq="W")
    assert weekly.groupby("cohort")["cohort_customers"].first().sum() == 4


def test_segment_migration_counts_by_hand():
    events = log([(1, "2024-01-05", "purchase", 10.0), (2, "2024-01-10", "purchase", 20.0),
                  (2, "2024-02-10", "purchase", 5.0), (3, "2024-02-15", "purchase", 7.0)])
    table = an.segment_migration(events, "2024-02-01", "2024-03-01", kind="lifecycle")
    # at Feb 1 both buyers are new (one purchase day within 30 days); at Mar 1 customer 1 is 55
    # days quiet against the others' 31-day gap (overdue 1.8: at risk), 2 is 19 days into a
    # 31-day rhythm (active) and 3 arrived (new)
    assert table[["from_segment", "to_segment", "customers"]].values.tolist() == [
        ["new", "active", 1], ["new", "at_risk", 1], ["(absent)", "new", 1]]
    assert table["share_of_from"].tolist() == [0.5, 0.5, 1.0]
    rfm = an.segment_migration(events, "2024-02-01", "2024-03-01")
    assert rfm["customers"].sum() == 3
    assert set(rfm["from_segment"]) <= set(rm.segments.RFM_SEGMENT_RULES["segment"]) | {
        "(absent)", "no purchase"}


def test_behaviour_funnel_by_hand_and_empty_for_order_exports():
    events = log([(1, "2024-03-01", "view", 0, "shoes"), (1, "2024-03-01", "cart", 0, "shoes"),
                  (1, "2024-03-02", "purchase", 9, "shoes"), (2, "2024-03-01", "view", 0, "bags"),
                  (2, "2024-03-01", "favorite", 0, "bags"), (3, "2024-03-05", "view", 0, "bags"),
                  (3, "2024-03-05", "purchase", 5, "bags"),  # bought without a cart
                  (4, "2024-01-01", "view", 0, "bags"),  # outside the 30 days
                  (5, "2024-03-06 10:00", "view", 0, "shoes"),
                  (5, "2024-03-06 10:05", "cart", 0, "shoes"),
                  (5, "2024-03-06 10:10", "purchase", 20, "shoes"),
                  (5, "2024-03-06 12:00", "refund", 20, "shoes")])  # cancels that order
    table = an.behaviour_funnel(events, AS_OF)
    assert table["customers"].tolist() == [4, 3, 1]
    assert table["step_conversion"].tolist() == pytest.approx([1, 3 / 4, 1 / 3])
    by_category = an.behaviour_funnel(events, AS_OF, by="category").set_index(["group", "stage"])
    assert by_category.loc[("bags", "view"), "customers"] == 2
    assert by_category.loc[("bags", "purchase"), "customers"] == 0
    assert by_category.loc[("shoes", "cart_or_favorite"), "customers"] == 2
    assert by_category.loc[("shoes", "purchase"), "customers"] == 1
    assert an.behaviour_funnel(events, AS_OF, days=None)["customers"].iat[0] == 5
    empty = an.behaviour_funnel(ORDERS.loc[ORDERS["event_type"] != "view"], AS_OF)
    assert empty.empty and "no browsing events" in empty.attrs["note"]
    assert "no browsing events" in an.plot_behaviour_funnel(empty).axes[0].texts[0].get_text()


def test_activity_over_time_by_hand():
    table = an.activity_over_time(ORDERS, AS_OF).set_index("period")
    assert table.loc["2024-01", ["active_customers", "new_buyers", "returning_buyers",
                                 "orders"]].tolist() == [3, 2, 0, 3]
    assert table.loc["2024-02", ["new_buyers", "returning_buyers", "orders"]].tolist() == [1, 2, 3]
    # February: 30 + 25 + 40 - 5 (the cancelled order and its refund are gone)
    assert table.loc["2024-02", "net_revenue"] == pytest.approx(90.0)
    assert table["complete"].tolist() == [True, True, False]


def test_promotion_effects_by_hand_and_on_the_synthetic_calendar():
    day = pd.Timestamp("2024-11-11")
    rows = [(c, day + pd.Timedelta(hours=1), "purchase", 10.0) for c in range(6)]
    rows += [(100 + k, day + pd.Timedelta(days=d), "purchase", 10.0)
             for k, d in enumerate([-3, -2, 2, 3])]
    rows += [(0, day + pd.Timedelta(days=20), "purchase", 10.0)]  # one 11.11 buyer returns
    table = an.promotion_effects(log(rows), "2024-12-31", promotion_days=[(11, 11)],
                                 window_days=3, repurchase_days=30)
    row = table.iloc[0]
    assert (row["orders"], row["new_buyers"], row["acquired_customers"]) == (6, 6, 6)
    assert row["baseline_orders"] == pytest.approx(4 / 6)  # 4 orders on 6 surrounding days
    assert row["order_lift"] == pytest.approx(9.0)
    assert row["acquired_repurchase"] == pytest.approx(1 / 6)
    assert row["baseline_acquired_repurchase"] == 0.0
    # the generator multiplies purchases on 11.11 by 6 and on 6.18 by 3 (its truth)
    events, _ = rm.make_event_log(1500, "2022-01-01", "2024-01-01", random_state=1)
    lifts = an.promotion_effects(events, "2024-01-01").groupby("promotion")["order_lift"].mean()
    assert lifts["11-11"] > 3 and lifts["06-18"] > 1.5


def test_action_summary_by_hand():
    radar = pd.DataFrame({"customer_id": [1, 2, 3, 4], "action_id": ["a", "b", "a", None],
                          "action": ["win back", "vip care", "win back", None],
                          "value_at_risk": [30.0, 50.0, 10.0, 1.0],
                          "value_if_retained": [60.0, 80.0, 40.0, 2.0],
                          "predicted_ltv": [20.0, 70.0, 30.0, 1.0],
                          "churn_probability": [0.5, 0.6, 0.25, 0.5]})
    table = an.action_summary(pl.from_pandas(radar))
    assert table["action"].tolist() == ["vip care", "win back", "(no action)"]
    win_back = table.iloc[1]
    assert (win_back["customers"], win_back["value_at_risk"], win_back["value_if_retained"],
            win_back["expected_value"]) == (2, 40.0, 100.0, 50.0)
    assert win_back["share_of_value_at_risk"] == pytest.approx(40 / 91)
    assert win_back["mean_churn_probability"] == pytest.approx(0.375)
    with pytest.raises(SchemaError, match="value_at_risk"):
        an.action_summary(radar.drop(columns="value_at_risk"))


def _simulate_bgnbd(params: dict[str, float], n: int, days: float, rng) -> pd.DataFrame:
    """A BG/NBD population (in weeks) with births over the first half: the model's own truth."""
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    birth = rng.uniform(0, days / 2 / 7, n)
    t, alive = birth.copy(), np.ones(n, dtype=bool)
    times = [birth]
    owners = [np.arange(n)]
    while alive.any():
        t = t + rng.exponential(1 / lam)
        alive &= t < days / 7
        times.append(t[alive])
        owners.append(np.flatnonzero(alive))
        alive &= rng.random(n) >= drop  # drop out after a repeat purchase
    when = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.concatenate(times) * 7, unit="D")
    return log([(int(c), w, "purchase", 1.0) for c, w in
                zip(np.concatenate(owners), when, strict=True)])


def test_bgnbd_diagnostics_on_the_models_own_truth():
    truth = {"r": 0.8, "alpha": 6.0, "a": 0.8, "b": 3.0}
    events = _simulate_bgnbd(truth, 3000, 540, np.random.default_rng(3))
    as_of = pd.Timestamp("2023-01-01") + pd.Timedelta(days=540)
    counts = an.period_transactions(events, as_of, max_frequency=5)
    assert counts["expected"].sum() == pytest.approx(counts["actual"].sum())
    # fitted on the truth's own process, expected and actual agree within a few per cent
    assert np.abs(counts["expected"] - counts["actual"]).max() < 0.03 * counts["actual"].sum()
    fitted = an.frequency_recency_matrix(events, as_of).attrs["params"]
    assert fitted["r"] == pytest.approx(truth["r"], rel=0.25)
    holdout = an.calibration_vs_holdout(events, as_of, holdout_days=120, max_frequency=4)
    weights = holdout["customers"] / holdout["customers"].sum()
    assert ((holdout["predicted"] - holdout["actual"]) * weights).sum() == pytest.approx(0, abs=0.1)
    cumulative = an.cumulative_transactions(events, as_of, holdout_days=120)
    assert cumulative["expected"].iat[-1] == pytest.approx(cumulative["actual"].iat[-1], rel=0.1)
    alive = an.probability_alive_matrix(events, as_of)
    assert alive["p_alive"].between(0, 1).all()


def test_bgnbd_orders_pmf_matches_simulation():
    params = {"r": 0.5, "alpha": 3.0, "a": 1.2, "b": 2.5}
    rng = np.random.default_rng(0)
    n, horizon = 60_000, 10.0
    lam, drop = rng.gamma(params["r"], 1 / params["alpha"], n), rng.beta(
        params["a"], params["b"], n)
    count, t, alive = np.zeros(n, int), np.zeros(n), np.ones(n, bool)
    while alive.any():
        t = t + rng.exponential(1 / lam)
        alive &= t <= horizon
        count += alive
        alive &= rng.random(n) >= drop
    pmf = bgnbd_orders_pmf(params, np.array([horizon]), 5)[0]
    assert pmf == pytest.approx(np.bincount(count, minlength=5)[:5] / n, abs=0.01)


# ---------------------------------------------------------------- cutoff, input, plots, job


@pytest.fixture(scope="module")
def small_log() -> pd.DataFrame:
    events, _ = rm.make_event_log(120, "2023-01-01", "2024-01-01", random_state=4)
    return events


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_nothing_at_or_after_as_of_changes_a_table(small_log, seed):
    as_of = pd.Timestamp("2023-10-01")
    rng = np.random.default_rng(seed)
    before = small_log.loc[small_log["timestamp"] < as_of]
    later = small_log.loc[small_log["timestamp"] >= as_of].copy()
    # change the future: shuffle amounts and types, move events, add a burst exactly at as_of
    later["amount"] = rng.permutation(later["amount"].to_numpy())
    later["timestamp"] = later["timestamp"] + pd.to_timedelta(rng.integers(0, 30, len(later)),
                                                              unit="D")
    burst = before.sample(20, random_state=seed).assign(timestamp=as_of, event_type="refund")
    burst["event_type"] = pd.Categorical(burst["event_type"], categories=EVENT_TYPES)
    radar = pd.DataFrame({"customer_id": [1], "action": ["x"], "value_at_risk": [1.0]})
    reference = an.run_analytics(before, as_of, radar=radar)
    changed = an.run_analytics(pd.concat([later, before, burst], ignore_index=True), as_of,
                               radar=radar)
    assert reference.keys() == changed.keys()
    for name, table in reference.items():
        pd.testing.assert_frame_equal(table, changed[name], obj=name)


def test_polars_input_gives_the_same_tables(small_log):
    as_of = "2023-11-01"
    frame = pl.from_pandas(small_log)
    for function, kwargs in ((an.repurchase_funnel, {"by": "cohort"}),
                             (an.time_to_next_order, {}), (an.cohort_retention, {}),
                             (an.activity_over_time, {"freq": "W"}),
                             (an.behaviour_funnel, {"by": "category"}),
                             (an.promotion_effects, {})):
        pd.testing.assert_frame_equal(function(small_log, as_of, **kwargs),
                                      function(frame, as_of, **kwargs), obj=function.__name__)
    pd.testing.assert_frame_equal(an.segment_migration(small_log, "2023-09-01", as_of),
                                  an.segment_migration(frame, "2023-09-01", as_of))


@pytest.mark.parametrize(("call", "message"), [
    (lambda e: an.repurchase_funnel(e, AS_OF, by="channel"), "by: expected one of"),
    (lambda e: an.repurchase_funnel(e, AS_OF, max_order=0), "max_order"),
    (lambda e: an.time_to_next_order(e, "soon"), "as_of: expected a date"),
    (lambda e: an.cohort_retention(e, AS_OF, measure="orders"), "measure: expected one of"),
    (lambda e: an.cohort_retention(e, AS_OF, freq="D"), "freq: expected one of"),
    (lambda e: an.segment_migration(e, AS_OF, "2024-01-01"), "from_as_of: must be before"),
    (lambda e: an.segment_migration(e, "2024-01-01", AS_OF, kind="x"), "kind: expected one of"),
    (lambda e: an.nudge_window(e, AS_OF, threshold=2), "threshold"),
    (lambda e: an.return_shares(e, AS_OF, days=(7.5,)), "days: expected whole numbers"),
    (lambda e: an.promotion_effects(e, AS_OF, promotion_days=["11/11"]), "promotion_days"),
    (lambda e: an.behaviour_funnel(e, AS_OF, by="category"), "needs a 'category' column"),
    (lambda e: an.calibration_vs_holdout(e, AS_OF, holdout_days=400), "holdout_days"),
    (lambda e: an.repurchase_funnel([1, 2], AS_OF), "events: expected a pandas or polars"),
    (lambda e: an.repurchase_funnel(e.drop(columns="timestamp"), AS_OF), "timestamp"),
    (lambda e: an.plot_cohort_retention(an.activity_over_time(e, AS_OF)), "cohort"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises((ValueError, TypeError)) as error:
        call(ORDERS)
    assert message in str(error.value)


def test_plots_return_figures_draw_on_given_axes_and_keep_text_readable(small_log):
    import matplotlib.pyplot as plt

    tables = an.run_analytics(small_log, "2023-12-01")
    from repurchase_ml.analytics.page import SECTIONS

    for name, plot in SECTIONS:
        if plot is None or name not in tables:
            continue
        fig, ax = plt.subplots()
        assert plot(tables[name], ax=ax) is fig, name
        plt.close(fig)
    fig = an.plot_cohort_retention(tables["cohort_retention"])
    image = fig.axes[0].images[0]
    texts = fig.axes[0].texts
    assert len(texts) == tables["cohort_retention"]["retention"].notna().sum()
    for text in texts:
        column, row = (int(round(v)) for v in text.get_position())
        cell = image.cmap(image.norm(image.get_array()[row, column]))
        from matplotlib.colors import to_rgb

        assert contrast_ratio(to_rgb(text.get_color()), cell[:3]) >= 4.5
    flow = an.plot_segment_flow(tables["segment_migration_rfm"])
    assert len(flow.axes[0].patches) > 2


def test_analyze_command_writes_tables_and_page(tmp_path):
    from repurchase_ml import cli

    result = CliRunner().invoke(cli.app, [
        "analyze", "--as-of", "2023-12-01", "--project-dir", str(tmp_path),
        "--set", "data.synthetic.n_customers=150", "--set", "data.synthetic.start=2023-01-01",
        "--set", "data.synthetic.end=2024-01-01"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "outputs" / "analytics_2023-12-01"
    funnel = pd.read_parquet(folder / "repurchase_funnel.parquet")
    pd.testing.assert_frame_equal(funnel, pd.read_csv(folder / "repurchase_funnel.csv"),
                                  check_dtype=False)
    assert funnel["customers"].iat[0] > 0
    page = (tmp_path / "outputs" / "analytics_2023-12-01.html").read_text(encoding="utf-8")
    assert page.count("<section") >= 15
    assert re.findall(r'(?:src|href)="(?!data:)', page) == []  # self-contained: nothing to fetch
    assert "no radar_2023-12-01.parquet" in result.output
    assert not (folder / "action_summary.parquet").exists()
    # with the score job's radar of the same date, the actions it recommends are covered
    pd.DataFrame({"customer_id": [1, 2], "action": ["win back", "win back"],
                  "value_at_risk": [3.0, 4.0]}).to_parquet(
        tmp_path / "outputs" / "radar_2023-12-01.parquet")
    again = CliRunner().invoke(cli.app, [
        "analyze", "--as-of", "2023-12-01", "--previous-as-of", "2023-10-01", "--project-dir",
        str(tmp_path), "--set", "data.synthetic.n_customers=150", "--set",
        "data.synthetic.start=2023-01-01", "--set", "data.synthetic.end=2024-01-01"])
    assert again.exit_code == 0, again.output
    actions = pd.read_csv(folder / "action_summary.csv")
    assert actions[["action", "customers", "value_at_risk"]].values.tolist() == [
        ["win back", 2, 7.0]]
    bad = CliRunner().invoke(cli.app, ["analyze", "--as-of", "someday", "--project-dir",
                                       str(tmp_path)])
    assert bad.exit_code == cli.EXIT_VALUE
    assert "as_of: expected a date" in bad.output and "Traceback" not in bad.output


# --- category paths on the page ----------------------------------------------------------


def test_category_paths_on_the_page_show_the_tables_of_the_log():
    from repurchase_ml.analytics.page import build_page
    from repurchase_ml.categories import category_section_tables

    events, _ = rm.make_event_log(400, "2022-01-01", "2024-01-01", random_state=0,
                                  category_paths=True)
    # run_analytics adds these under category_<key> (the browser test's page has them)
    expected = category_section_tables(events, as_of="2024-01-01")
    tables = {f"category_{key}": table for key, table in expected.items()}
    transitions = expected["transitions"]
    assert len(transitions) > 0
    for language, title, share in (("en", "From one category to the next", "share"),
                                   ("zh", "从一个品类到下一个品类", "占比")):
        page = build_page(tables, as_of=pd.Timestamp("2024-01-01"), language=language)
        section = page.split('<section id="category_paths">')[1].split("</section>")[0]
        assert title in section and f"<th>{share}</th>" in section
        first = transitions.iloc[0]
        # the strongest transition as the table has it: categories, counts, share in per cent
        row = (f'<tr><td class="text">{first["from_category"]}</td><td class="text">'
               f'{first["to_category"]}</td><td>{first["count"]}</td><td>'
               f'{first["from_count"]}</td><td>{first["share"]:.1%}</td>')
        assert row in section


def test_category_paths_without_a_category_column_are_one_line(small_log):
    from repurchase_ml.analytics.page import build_page

    tables = an.run_analytics(small_log.drop(columns=["category"]), "2024-01-01")
    assert not any(k.startswith("category_") for k in tables)
    tables = {"return_shares": tables["return_shares"]}  # a page without figures is quick
    for language, line in (("en", "No category paths: the event log has no category column"),
                           ("zh", "暂无品类路径：行为日志中没有品类（category）列")):
        page = build_page(tables, as_of=pd.Timestamp("2024-01-01"), language=language)
        section = page.split('<section id="category_paths">')[1].split("</section>")[0]
        assert section.count("<p") == 1 and line in section and "<table" not in section
