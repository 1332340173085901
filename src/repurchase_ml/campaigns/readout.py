"""A/B read-out of campaigns against their holdout: effects with intervals, SRM, MDE and ROI.

Outcomes are read in the window ``[sent_at, sent_at + window_days)`` of each
customer, with the library's order definition (:mod:`repurchase_ml.features.orders`:
an order counts at its first line, cancelled orders count nowhere) and money
net of refunds, exactly as the labels of the prediction tasks read them:

* ``conversion``: at least one order in the window (a proportion);
* ``orders``: orders in the window per customer;
* ``net_revenue``: purchases minus refunds in the window per customer.

Differences are treatment minus control with 95 % intervals: the Newcombe
hybrid score interval (from two Wilson intervals) for a proportion, Welch's
unequal-variance t interval for means; p-values from the score test (the pooled z-test) and
Welch's t-test (statsmodels). Each campaign gets a sample-ratio-mismatch
check (chi-square test of the group sizes against the planned split), the
minimum detectable effect at the achieved sizes (80 % power), and its
incremental net revenue minus the offer cost. Breakdowns (RFM segment and
lifecycle stage at ``sent_at``, or any column of the campaign log, such as the
radar's ``value_risk`` cell) repeat the effects per level, with p-values
adjusted by Holm's method within each campaign, breakdown and metric.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.campaigns.log import read_campaigns
from repurchase_ml.errors import SchemaError, format_examples

__all__ = ["METRICS", "BREAKDOWNS", "CampaignReadout", "campaign_readout", "window_outcomes",
           "plot_readout", "write_readout", "run_readout", "readout_html"]

logger = logging.getLogger(__name__)

#: outcome metrics a read-out can report
METRICS: tuple[str, ...] = ("conversion", "orders", "net_revenue")
#: breakdowns computed from the features at ``sent_at`` (other names are campaign-log columns)
BREAKDOWNS: tuple[str, ...] = ("segment", "lifecycle_stage")
#: a sample-ratio mismatch is flagged below this chi-square p-value (the usual strict level:
#: with many campaigns read out, 0.05 would flag one in twenty fair splits)
SRM_ALPHA = 0.001
#: power at which the minimum detectable effect is quoted
MDE_POWER = 0.8
_PROPORTIONS = ("conversion",)


def window_outcomes(campaigns: Any, events: Any, *, window_days: int,
                    spec: Any = None) -> pd.DataFrame:
    """Each campaign-log row's outcomes in ``[sent_at, sent_at + window_days)``.

    Returns the validated log (:func:`~repurchase_ml.campaigns.read_campaigns`) with ``orders``, ``conversion`` (0/1) and
    ``net_revenue`` added. A customer without any event counts as no order and no money.

    Examples
    --------
    >>> from repurchase_ml.events import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2], "timestamp": pd.to_datetime(
    ...     ["2024-01-05", "2024-03-03", "2024-01-10"]), "event_type": pd.Categorical(
    ...     ["purchase"] * 3, categories=list(EVENT_TYPES)), "amount": [10.0, 20.0, 5.0]})
    >>> log = pd.DataFrame({"customer_id": [1, 2], "campaign_id": "c", "group": ["treatment",
    ...                     "control"], "sent_at": pd.Timestamp("2024-03-01")})
    >>> window_outcomes(log, ev, window_days=3)[["customer_id", "orders", "net_revenue"]]
       customer_id  orders  net_revenue
    0            1     1.0         20.0
    1            2     0.0          0.0
    """
    from repurchase_ml.features._inputs import FIXED_SCALE
    from repurchase_ml.features.engine import checked_spec, spec_log
    from repurchase_ml.features.labels import _OrderBook, data_end

    if isinstance(window_days, bool) or not isinstance(window_days, int | np.integer) \
            or window_days <= 0:
        raise ValueError(f"window_days: expected a positive whole number of days, got "
                         f"{window_days!r}.")
    log = read_campaigns(campaigns)
    end = data_end(events)
    window = pd.Timedelta(days=int(window_days))
    late = log["sent_at"] + window > end
    if late.any():
        first = log.loc[late].iloc[0]
        raise ValueError(
            f"window_days: the {window_days}-day window of {int(late.sum())} row(s) runs past "
            f"the end of the events ({end.date()}), e.g. campaign {first['campaign_id']!r} sent "
            f"at {first['sent_at']}; their outcomes would be incomplete. Fix: read the campaign "
            f"out once {window_days} days have passed, or pass a shorter window_days.")
    book = _OrderBook(spec_log(events, checked_spec(spec)))
    ids = pd.Index(book.log.ids)
    log["customer_id"] = _same_id_type(log["customer_id"], ids)
    codes = ids.get_indexer(log["customer_id"])
    unknown = codes < 0
    if unknown.all():
        raise SchemaError("customer_id", "no customer of the campaign log is in the event log",
                          n_rows=len(log), examples=log["customer_id"].tolist(),
                          fix="check that both logs come from the same shop and id scheme")
    if unknown.any():
        logger.warning("read-out: %d of %d campaign customers have no event at all (e.g. %s); "
                       "they count as no order and no money", int(unknown.sum()), len(log),
                       format_examples(log.loc[unknown, "customer_id"].tolist()))
    orders = np.zeros(len(log))
    money = np.zeros(len(log))
    for sent in log["sent_at"].unique():
        start = pd.Timestamp(sent)
        rows = (log["sent_at"] == start).to_numpy() & ~unknown
        t, until = int(start.value), int((start + window).value)
        orders[rows] = book.orders_between(t, until)[codes[rows]]
        money[rows] = book.net_between(t, until)[codes[rows]] / FIXED_SCALE
    out = log.copy()
    out["orders"] = orders
    out["conversion"] = (orders >= 1).astype(float)
    out["net_revenue"] = money
    out.attrs["customers_without_events"] = int(unknown.sum())
    return out


def _same_id_type(campaign_ids: pd.Series, event_ids: pd.Index) -> pd.Series:
    """The campaign log's ids in the event log's type: a CSV campaign log reads ids as text,
    a Parquet event log may hold them as integers (and the other way round)."""
    events_int = pd.api.types.is_integer_dtype(event_ids.dtype)
    if events_int == pd.api.types.is_integer_dtype(campaign_ids.dtype):
        return campaign_ids
    if not events_int:
        return campaign_ids.map(str).astype(object)
    text = campaign_ids.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    exact = numbers.notna() & (numbers.astype("Int64").astype(str) == text)
    if not exact.all():
        raise SchemaError("customer_id", "the event log's ids are integers but these campaign "
                          "ids are not", n_rows=int((~exact).sum()),
                          examples=campaign_ids[~exact].tolist(),
                          fix="read both logs with the same id scheme (customer_id_type='str' "
                              "in the event mapping keeps ids as text)")
    return numbers.astype("int64")


# --------------------------------------------------------------------------- statistics


def _proportion_effect(x1: float, n1: int, x0: float, n0: int,
                       alpha: float) -> tuple[float, float, float]:
    """Newcombe interval of p1 - p0 and the score test's p-value."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff",
                                           alpha=alpha)
    if x1 + x0 in (0, n1 + n0):  # no variation at all: nothing to test
        return float(low), float(high), 1.0
    with warnings.catch_warnings():  # it also reports ratio and odds ratio: 1/0 when x0 == 0
        warnings.simplefilter("ignore", RuntimeWarning)
        p = test_proportions_2indep(x1, n1, x0, n0, method="score", compare="diff",
                                    correction=False).pvalue
    return float(low), float(high), float(p)


def _mean_effect(y1: np.ndarray, y0: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Welch interval of mean(y1) - mean(y0) and Welch's t-test p-value."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    if y1.var() == 0 and y0.var() == 0:
        diff = float(y1.mean() - y0.mean())
        return diff, diff, 1.0 if diff == 0 else 0.0
    compare = CompareMeans(DescrStatsW(y1), DescrStatsW(y0))
    low, high = compare.tconfint_diff(alpha=alpha, usevar="unequal")
    p = compare.ttest_ind(usevar="unequal")[1]
    return float(low), float(high), float(p)


def _mde(metric: str, y0: np.ndarray, n1: int, n0: int, alpha: float) -> float:
    """Smallest true difference detected with 80 % power at these group sizes (two-sided)."""
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    if n1 < 2 or n0 < 2:
        return math.nan
    if metric in _PROPORTIONS:
        base = float(np.clip(y0.mean(), 1e-6, 1 - 1e-6))
        h = float(np.asarray(NormalIndPower().solve_power(
            effect_size=None, nobs1=n1, alpha=alpha, power=MDE_POWER, ratio=n0 / n1)).item())
        # Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)), solved for p1 - p0
        return float(math.sin(min(math.asin(math.sqrt(base)) + h / 2, math.pi / 2)) ** 2 - base)
    sd = float(np.std(y0, ddof=1)) if len(y0) > 1 else math.nan
    if not sd > 0:
        return math.nan
    d = TTestIndPower().solve_power(effect_size=None, nobs1=n1, alpha=alpha, power=MDE_POWER,
                                    ratio=n0 / n1)
    return float(np.asarray(d).item() * sd)


def _effects(frame: pd.DataFrame, metrics: Sequence[str], alpha: float) -> list[dict[str, Any]]:
    """One row per metric: sizes, group means, difference, interval, p-value, MDE."""
    treated = (frame["group"] == "treatment").to_numpy()
    n1, n0 = int(treated.sum()), int((~treated).sum())
    rows = []
    for metric in metrics:
        y = frame[metric].to_numpy(dtype=float)
        y1, y0 = y[treated], y[~treated]
        row: dict[str, Any] = {"metric": metric, "n_treatment": n1, "n_control": n0,
                               "treatment": y1.mean() if n1 else math.nan,
                               "control": y0.mean() if n0 else math.nan}
        row["difference"] = row["treatment"] - row["control"]
        if n1 < 2 or n0 < 2:
            low = high = p = mde = math.nan
            method = "too few customers"
        elif metric in _PROPORTIONS:
            low, high, p = _proportion_effect(float(y1.sum()), n1, float(y0.sum()), n0, alpha)
            mde, method = _mde(metric, y0, n1, n0, alpha), "newcombe"
        else:
            low, high, p = _mean_effect(y1, y0, alpha)
            mde, method = _mde(metric, y0, n1, n0, alpha), "welch"
        row.update(low=low, high=high, p_value=p, mde=mde, method=method,
                   relative_lift=row["difference"] / row["control"] if row["control"] else
                   math.nan)
        rows.append(row)
    return rows


def _srm(n1: int, n0: int, share: float) -> float:
    """Chi-square p-value of the observed split against the planned treatment share."""
    from scipy.stats import chisquare

    total = n1 + n0
    if total == 0 or share in (0.0, 1.0):
        return math.nan
    return float(chisquare([n1, n0], f_exp=[total * share, total * (1 - share)]).pvalue)


def _planned_share(planned: float | Mapping[str, float], campaign: str) -> float:
    share = planned.get(campaign, 0.5) if isinstance(planned, Mapping) else planned
    if not isinstance(share, int | float) or not 0 < share < 1:
        raise ValueError(f"planned_treatment_share: expected a share strictly between 0 and 1 "
                         f"(e.g. 0.9 for a 10 % holdout), got {share!r} for campaign "
                         f"{campaign!r}.")
    return float(share)


def _breakdown_levels(outcomes: pd.DataFrame, events: Any, by: Sequence[str],
                      spec: Any) -> pd.DataFrame:
    """The breakdown columns per log row: segments from the features at ``sent_at``."""
    computed = [b for b in by if b in BREAKDOWNS and b not in outcomes.columns]
    missing = [b for b in by if b not in BREAKDOWNS and b not in outcomes.columns]
    if missing:
        raise SchemaError(missing[0], "breakdown is neither a campaign-log column nor one of "
                          f"{list(BREAKDOWNS)}", fix="add the column to the campaign log (e.g. "
                          "the radar's value_risk at the send date) or drop it from `by`")
    if not computed:
        return outcomes
    from repurchase_ml.features import build_features
    from repurchase_ml.radar import radar_spec
    from repurchase_ml.segments import lifecycle_stage, rfm_scores

    cutoffs = sorted(pd.Timestamp(s) for s in outcomes["sent_at"].unique())
    # the windows are known to end inside the log (window_outcomes): a quiet spell before a
    # send is the shop's, not a log that stops
    features = build_features(events, cutoffs=cutoffs, spec=radar_spec(spec),
                              max_days_after_data=None)
    labels = features[["customer_id", "cutoff"]].copy()
    if "segment" in computed:
        labels["segment"] = rfm_scores(features)["segment"].to_numpy()
    if "lifecycle_stage" in computed:
        labels["lifecycle_stage"] = lifecycle_stage(features).to_numpy()
    merged = outcomes.merge(labels.rename(columns={"cutoff": "sent_at"}),
                            on=["customer_id", "sent_at"], how="left")
    for column in computed:  # no event before sent_at: not yet a customer
        merged[column] = merged[column].astype(object).fillna("prospect")
    return merged


@dataclass
class CampaignReadout:
    """What :func:`campaign_readout` found.

    ``effects``: one row per campaign and metric (group sizes and means,
    difference with interval and p-value, MDE). ``campaigns``: one row per campaign
    (sizes, SRM test, incremental net revenue with interval, cost, ROI). ``segments``:
    the effects per level of each breakdown, with Holm-adjusted p-values.
    ``outcomes``: the per-customer outcomes it was computed from.
    """

    effects: pd.DataFrame
    campaigns: pd.DataFrame
    segments: pd.DataFrame
    outcomes: pd.DataFrame
    window_days: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines per campaign for people."""
        lines = []
        for row in self.campaigns.itertuples(index=False):
            lines.append(f"campaign {row.campaign_id}: {row.n_treatment} treated, "
                         f"{row.n_control} held out ({self.window_days}-day window); "
                         f"incremental net revenue {row.incremental_net_revenue:,.0f} "
                         f"[{row.incremental_low:,.0f}, {row.incremental_high:,.0f}], cost "
                         f"{row.cost:,.0f}, ROI {row.roi:.2f}")
            sub = self.effects[self.effects["campaign_id"] == row.campaign_id]
            for e in sub.itertuples(index=False):
                lines.append(f"  {e.metric}: {e.treatment:.4g} vs {e.control:.4g}, difference "
                             f"{e.difference:+.4g} [{e.low:+.4g}, {e.high:+.4g}], p = "
                             f"{e.p_value:.3g}, MDE {e.mde:.3g}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def campaign_readout(
    campaigns: Any,
    events: Any,
    *,
    window_days: int,
    metrics: Sequence[str] = METRICS,
    by: Sequence[str] = BREAKDOWNS,
    planned_treatment_share: float | Mapping[str, float] = 0.5,
    alpha: float = 0.05,
    spec: Any = None,
) -> CampaignReadout:
    """Read out every campaign of a log against its holdout.

    Parameters
    ----------
    campaigns : DataFrame or path
        A campaign log (:func:`~repurchase_ml.campaigns.read_campaigns` validates it).
    events : DataFrame
        The canonical event log (pandas or polars), covering every window.
    window_days : int
        Outcome window after each ``sent_at``; it must end inside the event log.
    metrics : sequence of str
        Any of :data:`METRICS`. ``net_revenue`` is needed for the ROI columns.
    by : sequence of str
        Breakdowns: ``"segment"`` (RFM) and ``"lifecycle_stage"`` at ``sent_at``, or
        campaign-log columns (e.g. ``value_risk`` joined from the radar). ``()`` for none.
    planned_treatment_share : float or mapping campaign -> float, default 0.5
        The split the campaign was designed with, for the sample-ratio-mismatch test.
    alpha : float, default 0.05
        1 - coverage of the intervals and the level of the MDE.
    spec : FeatureSpec, optional
        Its order definition and cancellation window decide what an order is.

    Returns
    -------
    CampaignReadout

    Examples
    --------
    >>> from repurchase_ml.events import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 2, 3, 4, 1, 3], "timestamp": pd.to_datetime(
    ...     ["2024-01-05"] * 4 + ["2024-03-03", "2024-03-04"]), "event_type": pd.Categorical(
    ...     ["purchase"] * 6, categories=list(EVENT_TYPES)), "amount": [10.0] * 4 + [20.0, 5.0]})
    >>> log = pd.DataFrame({"customer_id": [1, 2, 3, 4], "campaign_id": "spring",
    ...                     "group": ["treatment", "treatment", "control", "control"],
    ...                     "sent_at": pd.Timestamp("2024-03-01"), "cost": [1.0, 1.0, 0, 0]})
    >>> r = campaign_readout(log, ev, window_days=4, by=())
    >>> r.effects[["metric", "treatment", "control", "difference"]]
            metric  treatment  control  difference
    0   conversion        0.5      0.5         0.0
    1       orders        0.5      0.5         0.0
    2  net_revenue       10.0      2.5         7.5
    >>> r.campaigns[["incremental_net_revenue", "cost", "roi"]].values.tolist()
    [[15.0, 2.0, 6.5]]
    """
    from statsmodels.stats.multitest import multipletests

    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics: expected some of {list(METRICS)}, got {list(metrics)!r}.")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha: expected a level between 0 and 0.5 (e.g. 0.05), got {alpha!r}.")
    if isinstance(by, str):
        by = [by]
    outcomes = window_outcomes(campaigns, events, window_days=window_days, spec=spec)
    notes: list[str] = []
    effects, summaries = [], []
    first_sent = outcomes.groupby("campaign_id")["sent_at"].min().sort_values(kind="mergesort")
    for campaign in first_sent.index:  # in the order they were sent
        frame = outcomes[outcomes["campaign_id"] == campaign]
        n1 = int((frame["group"] == "treatment").sum())
        n0 = len(frame) - n1
        if n1 == 0 or n0 == 0:
            raise SchemaError("group", f"campaign {campaign!r} has no "
                              f"{'control' if n0 == 0 else 'treatment'} customers, so it cannot "
                              "be read out", fix="read out only randomised campaigns with a "
                              "holdout")
        for row in _effects(frame, metrics, alpha):
            effects.append({"campaign_id": campaign, **row})
        share = _planned_share(planned_treatment_share, str(campaign))
        srm_p = _srm(n1, n0, share)
        summary: dict[str, Any] = {
            "campaign_id": campaign, "sent_from": frame["sent_at"].min(),
            "sent_to": frame["sent_at"].max(), "n_treatment": n1, "n_control": n0,
            "planned_treatment_share": share, "treatment_share": n1 / (n1 + n0),
            "srm_p_value": srm_p, "srm": bool(srm_p < SRM_ALPHA)}
        if summary["srm"]:
            notes.append(f"campaign {campaign!r}: sample-ratio mismatch ({n1} treated vs {n0} "
                         f"held out against a planned {share:.0%} treated, chi-square p = "
                         f"{srm_p:.2g}); the assignment or the logging is broken, so its "
                         "effects are not trustworthy until that is found")
        cost = float(frame.loc[frame["group"] == "treatment", "cost"].sum()) \
            if "cost" in frame.columns else math.nan
        revenue = next((e for e in effects if e["campaign_id"] == campaign
                        and e["metric"] == "net_revenue"), None)
        if revenue is not None:
            summary.update(incremental_net_revenue=revenue["difference"] * n1,
                           incremental_low=revenue["low"] * n1,
                           incremental_high=revenue["high"] * n1)
        else:
            summary.update(incremental_net_revenue=math.nan, incremental_low=math.nan,
                           incremental_high=math.nan)
        summary["cost"] = cost
        summary["net_incremental_value"] = summary["incremental_net_revenue"] - cost
        summary["roi"] = summary["net_incremental_value"] / cost if cost > 0 else math.nan
        summaries.append(summary)
    if "cost" not in outcomes.columns:
        notes.append("the campaign log has no cost column: ROI is not computed")

    by = list(by)
    segments = []
    if by:
        levels = _breakdown_levels(outcomes, events, by, spec)
        for breakdown in by:
            for (campaign, level), frame in levels.groupby(["campaign_id", breakdown],
                                                           sort=True, observed=True):
                if frame["group"].nunique() < 2:
                    continue
                for row in _effects(frame, metrics, alpha):
                    segments.append({"campaign_id": campaign, "breakdown": breakdown,
                                     "level": str(level), **row})
    segment_table = pd.DataFrame(segments, columns=[
        "campaign_id", "breakdown", "level", "metric", "n_treatment", "n_control", "treatment",
        "control", "difference", "low", "high", "p_value", "mde", "method", "relative_lift"])
    segment_table["p_holm"] = np.nan
    if len(segment_table):
        for _, idx in segment_table.groupby(["campaign_id", "breakdown", "metric"]).groups.items():
            p = segment_table.loc[idx, "p_value"].to_numpy(dtype=float)
            ok = np.isfinite(p)
            if ok.any():
                adjusted = np.full(len(p), np.nan)
                adjusted[ok] = multipletests(p[ok], method="holm")[1]
                segment_table.loc[idx, "p_holm"] = adjusted
        notes.append("per-segment effects test many levels at once: judge them by p_holm "
                     "(Holm-adjusted within each campaign, breakdown and metric), and their "
                     "intervals are unadjusted 95 % intervals, wider in small segments")
    return CampaignReadout(effects=pd.DataFrame(effects), campaigns=pd.DataFrame(summaries),
                           segments=segment_table, outcomes=outcomes,
                           window_days=int(window_days), notes=notes)


def plot_readout(readout: CampaignReadout, *, metric: str = "conversion",
                 breakdown: str | None = None, ax: Any = None) -> Any:
    """Effect (treatment - control) with its 95 % interval per campaign, or per level of a breakdown.

    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if breakdown is None:
        table = readout.effects[readout.effects["metric"] == metric]
        labels = table["campaign_id"].astype(str).tolist()
    else:
        table = readout.segments[(readout.segments["metric"] == metric)
                                 & (readout.segments["breakdown"] == breakdown)]
        labels = (table["campaign_id"].astype(str) + ": " + table["level"]).tolist()
    if table.empty:
        raise ValueError(f"metric/breakdown: the read-out has no {metric!r} effects"
                         f"{'' if breakdown is None else f' by {breakdown!r}'}.")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(table) + 1.5))
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    diff = table["difference"].to_numpy(dtype=float)
    err = np.vstack([diff - table["low"].to_numpy(dtype=float),
                     table["high"].to_numpy(dtype=float) - diff])
    ax.errorbar(diff, y, xerr=err, fmt="o", capsize=3)
    ax.axvline(0.0, color="grey", lw=1, ls="--")
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{metric}: treatment - control (95 % interval)")
    ax.set_title(f"Campaign effect on {metric}" + (f" by {breakdown}" if breakdown else ""))
    fig.tight_layout()
    return fig


#: tables :func:`write_readout` writes, by file stem
READOUT_TABLES = ("effects", "campaigns", "segments")


def write_readout(readout: CampaignReadout, out_dir: Any, *,
                  metric: str = "conversion") -> list[Any]:
    """Write the read-out's tables (CSV and Parquet) and its effect plot, each atomically.

    Files: ``readout_effects``, ``readout_campaigns``, ``readout_segments`` (``.csv`` and
    ``.parquet``) and ``readout_<metric>.png`` (per segment when the read-out has segments).
    Returns the paths written.
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    from repurchase_ml._io import atomic_write
    from repurchase_ml.radar import write_radar

    folder = Path(out_dir)
    paths = []
    for name in READOUT_TABLES:
        # as the radar's: CRM teams open these in spreadsheets (text that looks like a
        # formula is quoted in the CSV)
        written = write_radar(getattr(readout, name), folder / f"readout_{name}")
        paths += [written["csv"], written["parquet"]]
    has_segments = bool((readout.segments["metric"] == metric).any())
    breakdown = str(readout.segments["breakdown"].iloc[0]) if has_segments else None
    fig = plot_readout(readout, metric=metric, breakdown=breakdown)
    try:
        paths.append(atomic_write(folder / f"readout_{metric}.png",
                                  lambda tmp: fig.savefig(tmp, format="png", dpi=110)))
    finally:
        plt.close(fig)
    return paths


def run_readout(campaigns: Any, events: Any, *, window_days: int, out_dir: Any,
                by: Sequence[str] = BREAKDOWNS,
                planned_treatment_share: float | Mapping[str, float] = 0.5,
                spec: Any = None) -> tuple[CampaignReadout, list[Any]]:
    """The ``repurchase-ml readout`` job: read the campaigns out and write the result."""
    readout = campaign_readout(campaigns, events, window_days=window_days, by=by,
                               planned_treatment_share=planned_treatment_share, spec=spec)
    return readout, write_readout(readout, out_dir)


def readout_html(readout: CampaignReadout, *, metric: str = "conversion") -> str:
    """The read-out as a self-contained HTML fragment, for a section of a report.

    Per campaign: sizes, the SRM test, incremental net revenue, cost and ROI; the effects
    with their intervals; the effect plot (PNG embedded) and the notes.

    Examples
    --------
    >>> from repurchase_ml.events import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 2, 3, 4, 1], "timestamp": pd.to_datetime(
    ...     ["2024-01-05"] * 4 + ["2024-03-03"]), "event_type": pd.Categorical(
    ...     ["purchase"] * 5, categories=list(EVENT_TYPES)), "amount": [10.0] * 5})
    >>> log = pd.DataFrame({"customer_id": [1, 2, 3, 4], "campaign_id": "spring",
    ...                     "group": ["treatment", "treatment", "control", "control"],
    ...                     "sent_at": pd.Timestamp("2024-03-01")})
    >>> html = readout_html(campaign_readout(log, ev, window_days=3, by=()))
    >>> html.count("<table"), "data:image/png;base64," in html
    (2, True)
    """
    import base64
    import html
    import io

    import matplotlib.pyplot as plt

    columns = ["campaign_id", "n_treatment", "n_control", "srm_p_value", "srm",
               "incremental_net_revenue", "incremental_low", "incremental_high", "cost", "roi"]
    campaigns = readout.campaigns[[c for c in columns if c in readout.campaigns.columns]]
    effects = readout.effects[["campaign_id", "metric", "treatment", "control", "difference",
                               "low", "high", "p_value", "mde"]]
    fig = plot_readout(readout, metric=metric)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in readout.notes)
    return (f"<p>Outcomes in the {readout.window_days} days after each send, treatment "
            "minus holdout with 95 % intervals.</p>\n"
            + campaigns.to_html(index=False, float_format=lambda v: f"{v:,.4g}") + "\n"
            + effects.to_html(index=False, float_format=lambda v: f"{v:,.4g}") + "\n"
            + f'<img alt="campaign effects on {html.escape(metric)}" '
              f'src="data:image/png;base64,{image}">\n'
            + (f"<ul>{notes}</ul>" if notes else ""))
