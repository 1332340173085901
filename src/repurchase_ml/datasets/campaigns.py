"""Randomised campaigns on a synthetic log, with every customer's true response.

:func:`run_campaigns` takes a log and its truth from
:func:`~repurchase_ml.datasets.make_event_log` and runs campaigns on it: at each
``sent_at`` the targeted customers (a purchase in the 365 days before) are
split at random into treatment and control within layers of recency, every
targeted customer gets both potential outcomes in the window, and the log is
changed for the treated ones only. A customer is one of four kinds, by their
potential outcomes (whether they order in the window without and with the
offer):

* **sure thing** (orders either way) and **lost cause** (orders neither way):
  no effect;
* **persuadable** (orders only with the offer): an order is added in the window;
* **sleeping dog** (orders only without it, a few who react badly to being
  contacted): their orders in the window, and the refunds of those orders, are
  removed.

Who is which follows hidden traits that the features see only indirectly:
an alive customer is persuaded with probability ``max_persuasion x (1 - P)``,
where ``P = 1 - exp(-purchase_rate x window)`` is their own chance of ordering
anyway, so slow but alive buyers respond most, frequent buyers are mostly sure
things, and customers who have already dropped out are lost causes (persuaded
with ``lost_cause_persuasion``). A share ``sleeping_dog_share`` of the frequent
buyers (top fifth of the purchase rate) react badly: with probability
``annoyance`` they skip the orders they would have placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from repurchase_ml.events import EVENT_TYPES

__all__ = ["CampaignDesign", "run_campaigns", "RESPONSE_TYPES"]

#: the four kinds of customer, by (outcome without the offer, outcome with it)
RESPONSE_TYPES: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
#: days since the last purchase that bound the layers of the stratified assignment
LAYER_EDGES_DAYS: tuple[float, ...] = (0.0, 30.0, 90.0, 180.0, 365.0)
TARGET_DAYS = 365.0


@dataclass(frozen=True)
class CampaignDesign:
    """One randomised campaign of :func:`run_campaigns`.

    Parameters
    ----------
    campaign_id, sent_at
        Name and send time (naive, like the log).
    window_days
        The offer is valid, and its effect happens, in ``[sent_at, sent_at + window_days)``.
    treatment_share
        Share of each layer that is treated; the rest is the holdout.
    cost
        Offer cost per treated customer (e.g. coupon and message).
    action, channel
        Recorded in the campaign log.
    max_persuasion, lost_cause_persuasion, sleeping_dog_share, annoyance
        The heterogeneous effect (module docstring).
    """

    campaign_id: str
    sent_at: str | pd.Timestamp
    window_days: int = 30
    treatment_share: float = 0.5
    cost: float = 2.0
    action: str = "win_back_coupon"
    channel: str = "sms"
    max_persuasion: float = 0.4
    lost_cause_persuasion: float = 0.02
    sleeping_dog_share: float = 0.3
    annoyance: float = 0.6


def _check_designs(designs: CampaignDesign | Sequence[CampaignDesign], end: pd.Timestamp) -> list[CampaignDesign]:
    if isinstance(designs, CampaignDesign):
        designs = [designs]
    ordered = sorted(designs, key=lambda d: pd.Timestamp(d.sent_at))
    if not ordered:
        raise ValueError("designs: expected at least one CampaignDesign.")
    ids = [d.campaign_id for d in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError(f"designs: campaign ids must be distinct, got {ids}.")
    previous_end = None
    for d in ordered:
        start = pd.Timestamp(d.sent_at)
        stop = start + pd.Timedelta(days=d.window_days)
        if not 0 < d.treatment_share < 1:
            raise ValueError(f"designs: {d.campaign_id!r} treatment_share must be strictly "
                             f"between 0 and 1, got {d.treatment_share!r}.")
        if stop > end:
            raise ValueError(f"designs: the window of {d.campaign_id!r} ends at {stop}, after "
                             f"the log ({end}). Fix: send it earlier or shorten window_days.")
        if previous_end is not None and start < previous_end:
            raise ValueError(f"designs: the window of {d.campaign_id!r} starts at {start}, "
                             f"before the previous campaign's ends ({previous_end}); campaigns "
                             "here run one after another.")
        previous_end = stop
    return ordered


def _purchases_between(events: pd.DataFrame, start: pd.Timestamp,
                       stop: pd.Timestamp) -> pd.DataFrame:
    buy = events["event_type"] == "purchase"
    stamps = events["timestamp"]
    return events.loc[buy & (stamps >= start) & (stamps < stop)]


def _layers(events: pd.DataFrame, sent: pd.Timestamp) -> pd.Series:
    """Targeted customers (a purchase in the 365 days before ``sent``) -> recency layer."""
    before = _purchases_between(events, sent - pd.Timedelta(days=TARGET_DAYS), sent)
    last = before.groupby("customer_id")["timestamp"].max()
    days = (sent - last).dt.total_seconds() / 86_400
    return pd.cut(days, bins=list(LAYER_EDGES_DAYS), labels=False, include_lowest=True).astype(int)


def run_campaigns(
    events: pd.DataFrame,
    truth: pd.DataFrame,
    designs: CampaignDesign | Sequence[CampaignDesign],
    *,
    random_state: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run randomised campaigns on a synthetic log; return the changed log, the campaign log
    and every targeted customer's true response.

    Parameters
    ----------
    events, truth
        From :func:`~repurchase_ml.datasets.make_event_log` (either profile).
    designs
        The campaigns; their windows may not overlap and must end inside the log.
    random_state
        Seed of the assignment and of the responses.

    Returns
    -------
    events : DataFrame
        The canonical log with the treated customers' responses applied (orders added
        for persuaded ones, orders and their refunds removed for sleeping dogs).
    campaigns : DataFrame
        The campaign log: ``customer_id``, ``campaign_id``, ``group``, ``sent_at``,
        ``action``, ``channel``, ``cost`` (0 for control rows).
    campaign_truth : DataFrame
        One row per campaign-log row: ``customer_id``, ``campaign_id``, ``group``,
        ``layer``, ``alive`` (not yet dropped out at ``sent_at``),
        ``persuasion_probability``, ``annoyance_probability``, the potential outcomes
        ``converted_control`` / ``converted_treated`` (an order in the window without /
        with the offer) and ``net_revenue_control`` / ``net_revenue_treated`` (purchases
        in the window minus refunds of orders placed in it), ``response`` (one of
        :data:`RESPONSE_TYPES`), ``effect`` (``converted_treated - converted_control``),
        ``expected_effect`` (the chance the offer changes the outcome given the outcome
        without it: ``persuasion x (1 - converted_control) - annoyance x
        converted_control``) and ``incremental_value`` (revenue with minus without,
        before the offer's cost).

    Examples
    --------
    >>> from repurchase_ml.datasets import make_event_log
    >>> events, truth = make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> changed, log, true = run_campaigns(
    ...     events, truth, CampaignDesign("autumn", "2023-10-01"), random_state=0)
    >>> sorted(log["group"].unique()), len(log) == len(true)
    (['control', 'treatment'], True)
    >>> sorted(set(true["response"])) <= sorted(RESPONSE_TYPES)
    True
    >>> bool((true["effect"] == true["converted_treated"] - true["converted_control"]).all())
    True
    """
    from repurchase_ml.campaigns.readout import window_outcomes
    from repurchase_ml.events import check_canonical
    from repurchase_ml.features.labels import data_end

    check_canonical(events)
    ordered = _check_designs(designs, data_end(events))
    rng = np.random.default_rng(random_state)
    lookup = truth.set_index("customer_id")
    rates = lookup["purchase_rate"].astype(float)
    frequent = rates >= rates.quantile(0.8)
    # a trait of the customer, the same in every campaign
    reacts_badly = frequent & (rng.random(len(rates)) < ordered[0].sleeping_dog_share)
    logs, truths = [], []
    for design in ordered:
        sent = pd.Timestamp(design.sent_at)
        stop = sent + pd.Timedelta(days=design.window_days)
        layers = _layers(events, sent)
        customers = layers.index.to_numpy()
        treated = np.zeros(len(customers), dtype=bool)
        for layer in np.unique(layers.to_numpy()):  # stratified: the same share in each layer
            members = np.flatnonzero(layers.to_numpy() == layer)
            chosen = rng.permutation(members)[: int(round(design.treatment_share * len(members)))]
            treated[chosen] = True
        log = pd.DataFrame({
            "customer_id": customers, "campaign_id": design.campaign_id,
            "group": np.where(treated, "treatment", "control"), "sent_at": sent,
            "action": design.action, "channel": design.channel,
            "cost": np.where(treated, float(design.cost), 0.0)})
        control = window_outcomes(log, events, window_days=design.window_days)
        control = control.set_index("customer_id").loc[customers]
        y0 = control["conversion"].to_numpy()
        alive = (lookup.loc[customers, "dropout_time"] > sent).to_numpy()
        rate = rates.loc[customers].to_numpy()
        anyway = 1.0 - np.exp(-rate * design.window_days)
        persuasion = np.where(alive, design.max_persuasion * (1.0 - anyway),
                              design.lost_cause_persuasion)
        annoyance = np.where(reacts_badly.loc[customers].to_numpy() & alive, design.annoyance, 0.0)
        draw = rng.random(len(customers))
        y1 = np.where(y0 == 1, (draw >= annoyance).astype(float), (draw < persuasion).astype(float))
        persuaded = (y0 == 0) & (y1 == 1)
        put_off = (y0 == 1) & (y1 == 0)
        spend = lookup.loc[customers, "spend_level"].to_numpy(dtype=float)
        added = np.where(persuaded, np.round(spend * rng.lognormal(0.0, 0.25, len(customers)), 2),
                         0.0)
        offsets = rng.random(len(customers)) * design.window_days * 86_400

        window = _purchases_between(events, sent, stop)
        lost_rows = window[window["customer_id"].isin(customers[put_off])]
        removed = _removed_rows(events, lost_rows, stop)
        in_window = removed & (events["timestamp"] < stop).to_numpy()
        lost_money = (events.loc[in_window].assign(
            signed=lambda f: np.where(f["event_type"] == "purchase", f["amount"], -f["amount"]))
            .groupby("customer_id")["signed"].sum())
        revenue0 = control["net_revenue"].to_numpy()
        revenue1 = revenue0 + added - lost_money.reindex(customers, fill_value=0.0).to_numpy()

        # only the treated respond in the log; the holdout keeps its control outcome
        apply_add = persuaded & treated
        removed &= events["customer_id"].isin(customers[put_off & treated]).to_numpy()
        new_rows = _added_orders(events, customers[apply_add], sent, offsets[apply_add],
                                 added[apply_add], design.campaign_id)
        events = _assemble(events.loc[~removed], new_rows)

        response = np.select([persuaded, put_off, y0 == 1], ["persuadable", "sleeping_dog",
                             "sure_thing"], "lost_cause")
        logs.append(log)
        truths.append(pd.DataFrame({
            "customer_id": customers, "campaign_id": design.campaign_id,
            "group": log["group"].to_numpy(), "layer": layers.to_numpy(), "alive": alive,
            "persuasion_probability": persuasion, "annoyance_probability": annoyance,
            "converted_control": y0, "converted_treated": y1,
            "net_revenue_control": revenue0, "net_revenue_treated": revenue1,
            "response": pd.Categorical(response, categories=list(RESPONSE_TYPES)),
            "effect": y1 - y0,
            "expected_effect": persuasion * (1 - y0) - annoyance * y0,
            "incremental_value": revenue1 - revenue0}))
    campaigns = pd.concat(logs, ignore_index=True)
    campaign_truth = pd.concat(truths, ignore_index=True)
    return events, campaigns, campaign_truth


def _removed_rows(events: pd.DataFrame, lost: pd.DataFrame, stop: pd.Timestamp) -> np.ndarray:
    """Rows of the lost orders: their purchase lines and the refunds of those orders
    (refunds within the window only when the log has no order ids)."""
    removed = np.zeros(len(events), dtype=bool)
    removed[events.index.get_indexer(lost.index)] = True
    if "order_id" in events.columns:
        keys = set(zip(lost["customer_id"], lost["order_id"], strict=True))
        refunds = events["event_type"] == "refund"
        pairs = pd.Series(list(zip(events["customer_id"], events["order_id"], strict=True)),
                          index=events.index)
        removed |= (refunds & pairs.isin(keys)).to_numpy()
    return removed


def _added_orders(events: pd.DataFrame, customers: np.ndarray, sent: pd.Timestamp,
                  offsets: np.ndarray, amounts: np.ndarray, campaign: str) -> pd.DataFrame:
    """One purchase line per persuaded customer, like their last purchase before ``sent``."""
    past = events[(events["event_type"] == "purchase") & (events["timestamp"] < sent)
                  & events["customer_id"].isin(customers)]
    last = past.groupby("customer_id").tail(1).set_index("customer_id").reindex(customers)
    rows = pd.DataFrame({
        "customer_id": customers,
        "timestamp": (sent + pd.to_timedelta(np.floor(offsets), unit="s")).to_numpy(),
        "event_type": "purchase", "amount": amounts})
    if "order_id" in events.columns:
        rows["order_id"] = [f"{campaign}-{c}" for c in customers]
    for column in ("item_id", "category", "channel"):
        if column in events.columns:
            rows[column] = last[column].to_numpy()
    if "quantity" in events.columns:
        rows["quantity"] = 1.0
    if "unit_price" in events.columns:
        rows["unit_price"] = amounts
    if "discount" in events.columns:
        rows["discount"] = True
    return rows


def _assemble(events: pd.DataFrame, new_rows: pd.DataFrame) -> pd.DataFrame:
    """The log with ``new_rows`` added, in canonical dtypes and order."""
    if new_rows.empty:
        return events.reset_index(drop=True)
    new_rows = new_rows.astype({c: events[c].dtype for c in new_rows.columns
                                if c != "event_type"})
    new_rows["event_type"] = pd.Categorical(new_rows["event_type"], categories=list(EVENT_TYPES))
    out = pd.concat([events, new_rows[list(events.columns)]], ignore_index=True)
    out["event_type"] = pd.Categorical(out["event_type"], categories=list(EVENT_TYPES))
    return out.sort_values(["customer_id", "timestamp"], kind="mergesort").reset_index(drop=True)
