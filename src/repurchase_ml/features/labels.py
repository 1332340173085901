"""Prediction tasks, their labels, training sets and usable cutoffs.

A label at cutoff ``t`` reads only events with ``t <= timestamp < t + horizon``
(an event exactly at the cutoff belongs to the label window); who is in a
task's population is decided from events before ``t`` only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml._progress import step
from repurchase_ml.events import check_canonical
from repurchase_ml.features._arrays import DAY_NS, LogArrays
from repurchase_ml.features._inputs import FIXED_SCALE, check_polars, normalise_cutoffs
from repurchase_ml.features._kernels import first_times, last_before
from repurchase_ml.features.engine import (
    category_price_levels,
    checked_spec,
    features_of_log,
    group_orders,
    order_parts,
    spec_log,
)
from repurchase_ml.features.spec import FeatureSpec

__all__ = [
    "TASKS",
    "TaskSpec",
    "data_end",
    "make_labels",
    "build_training_set",
    "propose_cutoffs",
    "sample_rows",
]

logger = logging.getLogger(__name__)

Kind = Literal["binary", "count", "regression"]
Population = Literal["buyers", "alive", "new_single_order"]



@dataclass(frozen=True)
class TaskSpec:
    """One prediction task: who is scored at a cutoff and what is predicted.

    Parameters
    ----------
    name : str
        Task name; the label column is named after it.
    kind : {"binary", "count", "regression"}
    horizon_days : int
        Default label window ``[t, t + horizon_days)``.
    population : {"buyers", "alive", "new_single_order"}
        ``buyers``: at least one order before ``t``; ``alive``: at least one
        order in the ``population_days`` before ``t``; ``new_single_order``:
        exactly one order before ``t``, placed in the ``population_days``
        before ``t``.
    population_days : int or None
        Look-back of the ``alive`` and ``new_single_order`` populations.
    description : str
        What the label means, in words.
    """

    name: str
    kind: Kind
    horizon_days: int
    population: Population
    population_days: int | None
    description: str


TASKS: dict[str, TaskSpec] = {
    task.name: task
    for task in (
        TaskSpec("repurchase", "binary", 30, "buyers", None,
                 "1 if the customer orders at least once in the horizon"),
        TaskSpec("order_count", "count", 90, "buyers", None,
                 "number of orders in the horizon (what BG/NBD forecasts)"),
        TaskSpec("churn", "binary", 90, "alive", 365,
                 "1 if a customer who ordered in the last 365 days places no order in the horizon"),
        TaskSpec("ltv", "regression", 365, "buyers", None,
                 "net revenue (purchases minus refunds) in the horizon"),
        TaskSpec("second_purchase", "binary", 30, "new_single_order", 30,
                 "1 if a customer whose only order was in the last 30 days orders again in the "
                 "horizon"),
    )
}

_DAY = pd.Timedelta(days=1)


def _task(task: object) -> TaskSpec:
    if isinstance(task, TaskSpec):
        return task
    if not isinstance(task, str) or task not in TASKS:
        raise ValueError(f"task: unknown task {task!r}; expected one of {list(TASKS)}.")
    return TASKS[task]


def _with_alive_days(task: TaskSpec, alive_days: int | None) -> TaskSpec:
    """``task`` with the alive window ``alive_days`` when its population is 'alive'."""
    if alive_days is None or task.population != "alive":
        return task
    return dataclasses.replace(task, population_days=_horizon(alive_days, "alive_days"))


def _horizon(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{argument}: expected a positive whole number of days, got {value!r}.")
    return value


def data_end(events: pd.DataFrame | pl.DataFrame) -> pd.Timestamp:
    """End of the observed period: midnight after the last event.

    A label window ``[t, t + h)`` is complete when ``t + h <= data_end(events)``.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1], "timestamp": pd.to_datetime(["2024-03-05 14:00"]),
    ...     "event_type": pd.Categorical(["purchase"], categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [5.0]})
    >>> data_end(ev)
    Timestamp('2024-03-06 00:00:00')
    """
    return _end_after(_time_span(events)[1])


def _end_after(last: pd.Timestamp) -> pd.Timestamp:
    """Midnight after the last event: where complete label windows must end."""
    return last.normalize() + _DAY


def _time_span(events: pd.DataFrame | pl.DataFrame | tuple[Any, Any]
               ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last event time of a canonical log (pandas, or polars with canonical columns),
    or of a ``(first, last)`` pair (a log the process does not hold, e.g. its report's)."""
    if isinstance(events, tuple):
        first, last = events
        if first is None or last is None:
            raise ValueError("events: the log is empty, so it covers no period.")
        return pd.Timestamp(first), pd.Timestamp(last)
    if isinstance(events, pl.DataFrame):
        check_polars(events)
        stamps = events["timestamp"].drop_nulls()
        if stamps.is_empty():
            raise ValueError("events: the log is empty, so it covers no period.")
        return pd.Timestamp(stamps.min()), pd.Timestamp(stamps.max())  # type: ignore[arg-type]
    check_canonical(events)
    if events.empty:
        raise ValueError("events: the log is empty, so it covers no period.")
    return events["timestamp"].min(), events["timestamp"].max()


class _OrderBook:
    """A log's orders, to count them (and money) in any time range per customer.

    An order is one order at the time of its first row (see
    :mod:`repurchase_ml.features.orders`): it counts in a range when its
    first row falls in it, and is not cancelled by a refund before the
    range ends. Money counts at each row's own time.
    """

    def __init__(self, log: LogArrays) -> None:
        self.log = log
        orders, spanning = group_orders(log)
        customer, time, void = orders.customer, orders.timestamp, orders.void_at
        if spanning is not None:  # orders spread over several times: at their first row
            first = spanning.first_rows()
            customer = np.concatenate([customer, spanning.customer[first]])
            time = np.concatenate([time, spanning.timestamp[first]])
            if void is not None and spanning.void_at is not None:
                void = np.concatenate([void, spanning.void_at[first]])
        self.order_customer, self.order_time, self.order_void = customer, time, void
        self.buy_customer = log.purchases["customer_id"].to_numpy()
        self.buy_time = log.purchases["timestamp"].to_numpy()
        self.buy_value = order_parts(log)["value"].astype(np.float64)

    def orders_between(self, start: int, end: int) -> np.ndarray:
        """Per customer: orders whose first row is in ``start <= timestamp < end`` (ns) and
        that are not cancelled before ``end``."""
        inside = (self.order_time >= start) & (self.order_time < end)
        if self.order_void is not None:
            inside &= self.order_void >= end
        return np.bincount(self.order_customer[inside], minlength=self.log.n_customers)

    def net_between(self, start: int, end: int) -> np.ndarray:
        """Per customer: purchases minus refunds in ``start <= timestamp < end`` (fixed point);
        orders cancelled before ``end`` and their refunds left out."""
        n, log = self.log.n_customers, self.log
        bought = (self.buy_time >= start) & (self.buy_time < end)
        visible = log.visible(end)
        if visible is not None:
            bought &= visible
        refunded = (log.refund_timestamp >= start) & (log.refund_timestamp < end)
        return (np.bincount(self.buy_customer[bought], weights=self.buy_value[bought],
                            minlength=n)
                - np.bincount(log.refund_customer[refunded],
                              weights=log.refund_amount[refunded].astype(np.float64),
                              minlength=n))

    def last_purchase_before(self, cutoff: int) -> np.ndarray:
        """Per customer: time of the last purchase row before ``cutoff`` (int64 min: none);
        rows of orders cancelled by then left out."""
        cutoffs = np.array([cutoff], dtype=np.int64)
        visible = self.log.visible(cutoff)
        customer, time = (self.buy_customer, self.buy_time) if visible is None \
            else (self.buy_customer[visible], self.buy_time[visible])
        return last_before(customer, time, cutoffs, self.log.n_customers)[:, 0]


def _check_horizon_fits(log: LogArrays, cutoffs: Sequence[pd.Timestamp], spec: TaskSpec,
                        horizon: int, end: pd.Timestamp | None) -> pd.Timestamp:
    """The data end to label against (default: the log's own), refusing late cutoffs."""
    if end is None:
        end = _end_after(pd.Timestamp(int(log.timestamp.max())))
    late = [c for c in cutoffs if c + pd.Timedelta(days=horizon) > end]
    if late:
        raise ValueError(
            f"cutoffs: {len(late)} cutoff(s) have a {horizon}-day '{spec.name}' horizon that runs "
            f"past the end of the log ({end.date()}), e.g. {late[0].date()}; their labels would be "
            f"incomplete. Fix: use cutoffs on or before {(end - pd.Timedelta(days=horizon)).date()}"
            " (repurchase_ml.features.propose_cutoffs lists them) or a shorter horizon_days."
        )
    return end


def _label_at(book: _OrderBook, cutoff: pd.Timestamp, spec: TaskSpec, horizon: int) -> np.ndarray:
    """Per customer code: the task's label at ``cutoff`` (float64; NaN outside its population)."""
    t, until = int(cutoff.value), int((cutoff + pd.Timedelta(days=horizon)).value)
    last = book.last_purchase_before(t)
    members = last > np.iinfo(np.int64).min  # buyers: a purchase before the cutoff
    if spec.population != "buyers":  # ... recent enough, and new buyers: one order
        assert spec.population_days is not None
        recency = np.full(len(last), np.inf)
        recency[members] = (t - last[members]).astype(np.float64) / DAY_NS
        members &= recency <= spec.population_days
    if spec.population == "new_single_order":
        members &= book.orders_between(np.iinfo(np.int64).min, t) == 1
    if spec.name == "ltv":
        target = book.net_between(t, until) / FIXED_SCALE
    else:
        after = book.orders_between(t, until).astype(np.float64)
        target = {"repurchase": after >= 1, "second_purchase": after >= 1,
                  "order_count": after, "churn": after == 0}[spec.name]
    return np.where(members, np.asarray(target, dtype=np.float64), np.nan)


def _labels(book: _OrderBook, cutoffs: Sequence[pd.Timestamp], spec: TaskSpec,
            horizon: int, *, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Labels of one task at each cutoff, from a log's :class:`_OrderBook`, one row per member.

    ``end`` is where the data ends (default: the book's own log); a part of a
    log (some customers) passes the whole log's.
    """
    log = book.log
    if log.n_customers == 0:
        return pd.DataFrame({"customer_id": pd.Series([], dtype=log.ids.dtype),
                             "cutoff": pd.Series([], dtype="datetime64[ns]"),
                             spec.name: pd.Series([], dtype="float64")})
    _check_horizon_fits(log, cutoffs, spec, horizon, end)
    customers, whens, targets = [], [], []
    for cutoff in cutoffs:
        label = _label_at(book, cutoff, spec, horizon)
        rows = np.flatnonzero(~np.isnan(label))
        customers.append(rows)
        whens.append(np.full(len(rows), cutoff.to_datetime64()))
        targets.append(label[rows])
    rows = np.concatenate(customers)
    return pd.DataFrame({
        "customer_id": pd.Series(log.ids[rows], dtype=log.ids.dtype),
        "cutoff": np.concatenate(whens).astype("datetime64[ns]"),
        spec.name: np.concatenate(targets),
    })


def make_labels(
    events: pd.DataFrame | pl.DataFrame,
    *,
    cutoffs: object,
    task: str | TaskSpec,
    horizon_days: int | None = None,
    spec: FeatureSpec | None = None,
    alive_days: int | None = None,
) -> pd.DataFrame:
    """Labels of one task for its population at each cutoff.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame
        A canonical event log (a polars frame as for
        :func:`repurchase_ml.features.build_features`).
    cutoffs : timestamp or sequence of timestamps
        Required. Each cutoff's whole horizon must lie inside the log (see
        :func:`data_end` and :func:`propose_cutoffs`).
    task : str or TaskSpec
        One of :data:`TASKS`.
    horizon_days : int, optional
        Label window length; default the task's ``horizon_days``.
    alive_days : int, optional
        Churn's alive window (an order in the ``alive_days`` before the
        cutoff), default 365. Choose it shorter than the history before the
        earliest cutoff, or every buyer is alive and churn is 1 - repurchase.
    spec : FeatureSpec, optional
        Its ``order_definition`` and ``cancellation_window_days`` decide what
        an order is, as for the features (pass the spec the features use).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``cutoff``, ``<task>`` (float64), one row per
        population member, sorted by (``cutoff``, ``customer_id``). Orders
        follow ``spec.order_definition`` (default: distinct ``order_id``
        values among purchase rows, every purchase row when there is no
        ``order_id``). An order counts at the time of its first row: the
        lines after the cutoff of an order that started before it make no
        label order. Orders cancelled by a refund before the window ends
        count nowhere (see :mod:`repurchase_ml.features.orders`).

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2], "timestamp": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-01-10"]),
    ...     "event_type": pd.Categorical(["purchase"] * 3, categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 20.0, 5.0]})
    >>> make_labels(ev, cutoffs="2024-02-01", task="repurchase", horizon_days=1)
       customer_id     cutoff  repurchase
    0            1 2024-02-01         1.0
    1            2 2024-02-01         0.0
    """
    task_spec = _with_alive_days(_task(task), alive_days)
    horizon = _horizon(task_spec.horizon_days if horizon_days is None else horizon_days,
                       "horizon_days")
    cuts = normalise_cutoffs(cutoffs)
    return _labels(_OrderBook(spec_log(events, checked_spec(spec))), cuts, task_spec, horizon)


def build_training_set(
    events: pd.DataFrame | pl.DataFrame,
    *,
    cutoffs: object,
    tasks: Iterable[str] | None = None,
    spec: FeatureSpec | None = None,
    horizons: Mapping[str, int] | None = None,
    alive_days: int | None = None,
    label_cutoffs: Mapping[str, object] | None = None,
    extra_features: pd.DataFrame | pl.DataFrame | None = None,
    max_rows: int | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Features plus one ``label_<task>`` column per task, stacked over cutoffs.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame
        A canonical event log (a polars frame as for
        :func:`repurchase_ml.features.build_features`).
    cutoffs : sequence of timestamps, or a cutoff table
        Required; every cutoff's horizons must fit inside the log. A frame
        with ``customer_id`` and ``cutoff`` columns gives each customer its
        own cutoffs (rows only for those pairs; see
        :mod:`repurchase_ml.features.per_customer`).
    tasks : iterable of str, optional
        Tasks to label; default every task in :data:`TASKS`.
    spec : FeatureSpec, optional
        Features, and what an order is for features and labels alike.
    horizons : mapping of task name to days, optional
        Horizons overriding the task defaults.
    alive_days : int, optional
        Churn's alive window, as for :func:`make_labels` (kept in
        ``attrs["alive_days"]`` of the result).
    label_cutoffs : mapping of task name to cutoffs, optional
        Label a task only at these cutoffs (some of ``cutoffs``); its label
        is NaN at the others. Tasks of different horizons can then share one
        feature table, each up to the newest cutoff its own horizon fits
        (:func:`propose_cutoffs` per horizon); by default every task is
        labelled at every cutoff, so each cutoff must fit every horizon.
    extra_features : pandas or polars DataFrame, optional
        Your own feature values keyed by (``customer_id``, ``cutoff``),
        joined to the feature rows (see :mod:`repurchase_ml.features.custom`);
        the spec's registered custom features are computed too.
    max_rows : int, optional
        A budget for the whole set: when the cutoffs hold more rows, each
        cutoff keeps the same fraction of its rows, stratified by label and
        seeded by ``random_state`` (:func:`sample_rows`), before any feature
        is computed, so memory and training time stop growing with the shop.
        ``attrs["sampled"]`` records the fraction and the rows before. Not
        with a per-customer cutoff table. Default: every row.
    random_state : int, default 0
        Seed of the sampling.

    Returns
    -------
    pandas.DataFrame
        The frame of :func:`repurchase_ml.features.build_features` with
        ``label_<task>`` columns appended (float64; NaN when the row is not in
        that task's population).

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2], "timestamp": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-01-10"]),
    ...     "event_type": pd.Categorical(["purchase"] * 3, categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 20.0, 5.0]})
    >>> ts = build_training_set(ev, cutoffs=["2024-01-25"], tasks=["repurchase"],
    ...                         horizons={"repurchase": 8})
    >>> ts[["customer_id", "orders_all", "label_repurchase"]]
       customer_id  orders_all  label_repurchase
    0            1         1.0               1.0
    1            2         1.0               0.0
    """
    names = list(TASKS) if tasks is None else ([tasks] if isinstance(tasks, str) else list(tasks))
    if not names:
        raise ValueError(f"tasks: expected at least one of {list(TASKS)}, got none.")
    for name in names:
        _task(name)
    horizons = dict(horizons or {})
    unknown = sorted(set(horizons) - set(names))
    if unknown:
        raise ValueError(f"horizons: tasks {unknown} are not among tasks={names}; "
                         "give horizons only for the tasks you label.")
    if sorted(set(label_cutoffs or {}) - set(names)):
        raise ValueError(f"label_cutoffs: tasks {sorted(set(label_cutoffs or {}) - set(names))} "
                         f"are not among tasks={names}.")
    spec = checked_spec(spec)
    tasks_horizons = {}
    for name in names:
        task = _with_alive_days(_task(name), alive_days)
        tasks_horizons[name] = (task, _horizon(horizons.get(name, task.horizon_days),
                                               f"horizons[{name!r}]"))
    from repurchase_ml.features.custom import add_custom_features
    from repurchase_ml.features.per_customer import is_cutoff_table, rows_per_customer

    if is_cutoff_table(cutoffs):
        if label_cutoffs:
            raise ValueError("label_cutoffs: give it with a calendar of cutoffs, not with a "
                             "per-customer cutoff table (whose rows are labelled where they are)")
        if max_rows is not None:
            raise ValueError("max_rows: sampling needs a calendar of cutoffs; a per-customer "
                             "cutoff table is used as given (sample its rows before passing it)")
        end = data_end(events)  # label windows must fit the whole log, not one customer's events
        out = rows_per_customer(events, cutoffs, spec, lambda part, cutoff, pinned, prices:
                                _training_rows(spec_log(part, pinned), [cutoff], pinned,
                                               tasks_horizons, end=end, category_prices=prices),
                                price_levels=category_price_levels)
    else:
        if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int)
                                     or max_rows < 1):
            raise ValueError(f"max_rows: expected a positive whole number of rows or None, got "
                             f"{max_rows!r}.")
        out = _training_rows(spec_log(events, spec), normalise_cutoffs(cutoffs), spec,
                             tasks_horizons, label_cutoffs=label_cutoffs, max_rows=max_rows,
                             random_state=random_state)
    out = add_custom_features(out, events, spec, extra_features)
    # train_models reads them (save_training_set keeps them in the file)
    out.attrs["horizons"] = {name: int(horizon) for name, (_task, horizon) in tasks_horizons.items()}
    if alive_days is not None:
        out.attrs["alive_days"] = int(alive_days)
    # how orders were counted, so that a BG/NBD fitted on the raw log counts them alike
    out.attrs["order_definition"] = spec.order_definition
    out.attrs["cancellation_window_days"] = float(spec.cancellation_window_days)
    logger.debug("training set: %d rows, tasks %s", len(out), names)
    return out


def _labelled_at(cuts: list[pd.Timestamp], label_cutoffs: Mapping[str, object] | None,
                 task: str) -> list[pd.Timestamp]:
    """The cutoffs ``task`` is labelled at: its ``label_cutoffs`` entry (checked), else all."""
    if not label_cutoffs or task not in label_cutoffs:
        return cuts
    own = normalise_cutoffs(label_cutoffs[task])
    extra = sorted(set(own) - set(cuts))
    if extra:
        raise ValueError(f"label_cutoffs[{task!r}]: {len(extra)} cutoff(s) are not among "
                         f"cutoffs, e.g. {extra[0].date()}. Fix: label a task only at cutoffs "
                         "the training set has rows for.")
    return own


def _training_rows(log: LogArrays, cuts: Sequence[pd.Timestamp], spec: FeatureSpec,
                   tasks: Mapping[str, tuple[TaskSpec, int]], *, end: pd.Timestamp | None = None,
                   category_prices: pd.DataFrame | None = None,
                   label_cutoffs: Mapping[str, object] | None = None,
                   max_rows: int | None = None, random_state: int = 0,
                   fraction: float | None = None, chosen: pd.DataFrame | None = None,
                   labels_only: bool = False) -> pd.DataFrame:
    """Features and ``label_<task>`` columns of a log split once (features and labels read it).

    A task named in ``label_cutoffs`` is labelled at those cutoffs only (NaN at the others).
    Labels are computed first, per customer; the rows of each cutoff (sampled to
    ``max_rows`` in all, see :func:`sample_rows`) then get their features and labels
    written into one frame, with no join. ``fraction`` (with ``max_rows``, the
    whole log's row count over the budget) keeps that fraction of this log's
    rows instead: a part of the log sampled as the whole log would be.

    For a log split by customer (the dask engine): ``labels_only`` returns every
    row's keys and labels without features (``customer_id``, ``cutoff``,
    ``label_<task>``; the sample is then drawn over all parts), and ``chosen``
    (``cutoff``, ``customer_id`` and a ``_keep_label_<task>`` flag per task:
    the rows drawn, with the labels each keeps) builds only those rows.
    """
    book = _OrderBook(log)
    cut_list = list(cuts)
    labelled = {name: _labelled_at(cut_list, label_cutoffs, name) for name in tasks}
    if log.n_customers:  # before any label is computed
        for name, (task, horizon) in tasks.items():
            _check_horizon_fits(log, labelled[name], task, horizon, end)
    labels: dict[str, list[np.ndarray | None]] = {}
    with step("training set", total=len(cuts) * (len(tasks) + 1), unit="cutoff") as bar:
        for name, (task, horizon) in tasks.items():
            bar.describe(f"training set: {name} labels")
            at = set(labelled[name])
            labels[name] = [_label_at(book, c, task, horizon) if c in at and log.n_customers
                            else None for c in cut_list]
            bar.advance(len(cuts))
        # each cutoff's rows: customers with an event before it (as build_features), sampled
        first_event = first_times(log.customer, log.timestamp, log.n_customers)
        rows: list[np.ndarray] = [np.flatnonzero(first_event < int(c.value)) for c in cut_list]
        if labels_only:
            return _label_frame(log, cut_list, rows, labels)
        if chosen is not None:
            rows = _chosen_rows(log, cut_list, chosen, list(labels))
        elif max_rows is not None:
            rows = sample_rows(rows, [[labels[name][i] for name in labels]
                                      for i in range(len(cut_list))],
                               max_rows=max_rows, random_state=random_state,
                               fraction=fraction)
        bar.describe("training set: features")
        out = features_of_log(log, cuts, spec, category_prices=category_prices,
                              rows=rows)  # advances the bar
    bounds = np.cumsum([0] + [len(r) for r in rows])
    kept = rows.label_kept if isinstance(rows, SampledRows) else None
    for t, (name, per_cutoff) in enumerate(labels.items()):
        column = np.full(len(out), np.nan)
        for i, label in enumerate(per_cutoff):
            if label is not None:
                values = label[rows[i]]
                mask = None if kept is None else kept[i][t]
                if mask is not None:
                    values = np.where(mask, values, np.nan)
                column[bounds[i]:bounds[i + 1]] = values
        out[f"label_{name}"] = column
    if isinstance(rows, SampledRows):
        out.attrs["sampled"] = {**rows.attrs,
                                "task_fractions": dict(zip(labels, rows.attrs["task_fractions"],
                                                           strict=True))}
    return out


def _label_frame(log: LogArrays, cuts: list[pd.Timestamp], rows: list[np.ndarray],
                 labels: Mapping[str, list[np.ndarray | None]]) -> pd.DataFrame:
    """Every row's ``customer_id``, ``cutoff`` and ``label_<task>`` (cutoff, then customer)."""
    out = pd.DataFrame({
        "customer_id": np.concatenate([log.ids[r] for r in rows]) if rows else log.ids[:0],
        "cutoff": np.repeat(np.array(cuts, dtype="datetime64[ns]"), [len(r) for r in rows])})
    for name, per_cutoff in labels.items():
        out[f"label_{name}"] = np.concatenate(
            [np.full(len(r), np.nan) if label is None else label[r]
             for r, label in zip(rows, per_cutoff, strict=True)]) if rows else np.zeros(0)
    return out


def _chosen_rows(log: LogArrays, cuts: list[pd.Timestamp], chosen: pd.DataFrame,
                 tasks: list[str]) -> SampledRows:
    """The rows of ``chosen`` that are this log's customers, as :func:`sample_rows` returns them."""
    stamps = pd.to_datetime(chosen["cutoff"]).to_numpy()
    codes = pd.Index(log.ids).get_indexer(chosen["customer_id"].to_numpy())
    out = SampledRows([])
    out.label_kept, out.attrs = [], {"task_fractions": [1.0] * len(tasks)}
    for cutoff in cuts:
        mine = np.flatnonzero((stamps == cutoff.to_datetime64()) & (codes >= 0))
        mine = mine[np.argsort(codes[mine], kind="stable")]  # ascending customer codes
        out.append(codes[mine].astype(np.int64))
        out.label_kept.append([
            None if f"_keep_label_{t}" not in chosen
            else chosen[f"_keep_label_{t}"].to_numpy(dtype=bool)[mine] for t in tasks])
    return out


class SampledRows(list):  # type: ignore[type-arg]
    """Row arrays per cutoff (a list) that carry what the sampling did.

    ``attrs``: ``max_rows``, ``rows_before``, ``fraction`` (rows kept over rows
    before) and ``task_fractions`` (per task, the share of its labelled rows
    that keep their label). ``label_kept[i][t]``: for the kept rows of cutoff
    ``i``, whether task ``t`` (in the order of the labels given) keeps its label
    there (None: every one), so each task's labels are its own stratified sample.
    """

    attrs: dict[str, Any]
    label_kept: list[list[np.ndarray | None]]


def _strata(label: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Per row: 0 not labelled, 1 zero, 2 positive."""
    if label is None:
        return np.zeros(len(rows), dtype=np.int8)
    values = label[rows]
    return np.where(np.isnan(values), 0, np.where(values > 0, 2, 1)).astype(np.int8)


#: top-ups of small tasks in a budgeted training set: off. Measured on a 300k-customer log,
#: topping second purchase up to 50,000 rows moved the kept rows' share of customers without
#: a 90-day order from 82 % to 76 % and flagged drift on five columns at scoring time, since
#: drift references and typical values are drawn from the training rows
MIN_TASK_ROWS = 0


def _pick(key: np.ndarray, fraction: float, rng: np.random.Generator,
          eligible: np.ndarray | None = None) -> np.ndarray:
    """Rows to keep: ``floor(fraction x size)`` at random from each value of ``key`` > 0
    (``key`` 0: never), among the ``eligible`` rows."""
    if eligible is not None:
        key = np.where(eligible, key, 0)
    order = np.lexsort((rng.random(len(key)), key))  # random within each stratum
    values, starts, counts = np.unique(key[order], return_index=True, return_counts=True)
    take = np.floor(counts * fraction).astype(np.int64)  # never above the fraction
    take[values == 0] = 0
    pick = np.zeros(len(key), dtype=bool)
    for start, k in zip(starts, take, strict=True):
        pick[order[start:start + k]] = True
    return pick


def sample_rows(populations: Sequence[np.ndarray], labels: Sequence[Sequence[np.ndarray | None]],
                *, max_rows: int, random_state: int = 0,
                min_task_rows: int = MIN_TASK_ROWS, fraction: float | None = None) -> SampledRows:
    """Rows of each cutoff to keep so that there are about ``max_rows`` in all.

    ``populations`` holds each cutoff's rows (customer codes) and ``labels``
    each cutoff's per-customer label of every task (NaN or None: not
    labelled). With more than ``max_rows`` rows:

    1. every cutoff keeps the same fraction of its rows, stratified by the
       state of every task's label (not labelled, zero, positive) and chosen
       at random (seeded by ``random_state`` and the cutoff): the kept rows are
       the population in miniature, base rates and customer mix included;
    2. with ``min_task_rows`` (default 0: off, see :data:`MIN_TASK_ROWS`), a
       task left with fewer labelled rows (a small population such as second
       purchase) is topped up with more of its own rows, stratified by its
       label, up to that many (or all of them); on those extra rows only that
       task keeps its label (see :class:`SampledRows`), so every task's labels
       stay a stratified random sample of its own population, but the kept
       rows are no longer the population in miniature. A top-up is at most an
       equal share of the budget (``max_rows / (tasks + 1)``), and the
       fraction of step 1 is lowered to leave room for the top-ups.

    Rows stay in customer order. With fewer rows, everything is kept.
    ``fraction`` replaces ``max_rows / rows`` as the fraction of step 1 (no
    top-ups): the dask engine computes it on the whole log and samples each
    customer partition with it.

    Examples
    --------
    >>> pops = [np.arange(10), np.arange(6)]
    >>> labels = [[np.r_[np.zeros(5), np.ones(5)]], [np.r_[np.zeros(3), np.ones(3)]]]
    >>> kept = sample_rows(pops, labels, max_rows=8, min_task_rows=0)
    >>> [len(k) for k in kept], kept.attrs["fraction"]
    ([4, 2], 0.375)
    >>> [int(labels[0][0][k].sum()) for k in kept[:1]]  # half of each label kept
    [2]
    """
    total = sum(len(rows) for rows in populations)
    n_tasks = len(labels[0]) if len(labels) else 0
    out = SampledRows(populations)
    out.label_kept = [[None] * n_tasks for _ in populations]
    out.attrs = {"max_rows": float(max_rows), "rows_before": float(total), "fraction": 1.0,
                 "task_fractions": [1.0] * n_tasks}
    if total == 0 or ((total <= max_rows) if fraction is None else fraction >= 1):
        return out
    if fraction is not None:
        min_task_rows = 0
    strata = [[_strata(labels[i][t], rows) for t in range(n_tasks)]
              for i, rows in enumerate(populations)]
    sizes = [sum(int((strata[i][t] > 0).sum()) for i in range(len(populations)))
             for t in range(n_tasks)]
    base = max_rows / total if fraction is None else float(fraction)
    wanted = [min(n, min_task_rows, max_rows / (n_tasks + 1)) for n in sizes]
    topups = sum(max(w - base * n, 0.0) for w, n in zip(wanted, sizes, strict=True))
    if topups:  # room for the top-ups within the budget
        base = max(max_rows - topups, 0.0) / total
    # a topped-up task keeps `share` of its rows: the base sample, then extra rows at `extra`
    share = [1.0 if n == 0 else max(w / n, base) for w, n in zip(wanted, sizes, strict=True)]
    extra = [0.0 if s <= base else (s - base) / (1.0 - base) for s in share]
    out.attrs["task_fractions"] = share
    kept_rows = 0
    for i, rows in enumerate(populations):
        joint = np.ones(len(rows), dtype=np.int64)
        for state in strata[i]:
            joint = joint * 3 + state
        in_base = _pick(joint, base, np.random.default_rng([random_state, i]))
        picks = []
        for t in range(n_tasks):
            pick = in_base & (strata[i][t] > 0)
            if extra[t] > 0:
                pick |= _pick(strata[i][t].astype(np.int64), extra[t],
                              np.random.default_rng([random_state, i, t + 1]), ~in_base)
            picks.append(pick)
        keep = np.logical_or.reduce([in_base, *picks])
        out[i] = rows[keep]
        # on a task's extra rows the other tasks' labels are dropped
        if any(extra):
            out.label_kept[i] = [pick[keep] for pick in picks]
        kept_rows += int(keep.sum())
    out.attrs["fraction"] = kept_rows / total
    return out


def propose_cutoffs(
    events: pd.DataFrame | pl.DataFrame | tuple[Any, Any],
    *,
    horizon_days: int,
    freq: str = "MS",
    n: int | None = None,
) -> list[pd.Timestamp]:
    """Cutoffs on a regular calendar whose whole horizon lies inside the log.

    A proposed cutoff ``t`` has at least one event before it and
    ``t + horizon_days <= data_end(events)``.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame or (first, last)
        A canonical event log (a polars frame as for
        :func:`repurchase_ml.features.build_features`), or the times of its
        first and last events.
    horizon_days : int
        The longest horizon the cutoffs must fit (e.g. 365 to label LTV).
    freq : str
        A pandas frequency; default ``"MS"`` (first day of each month).
    n : int, optional
        Keep only the latest ``n`` cutoffs.

    Raises
    ------
    ValueError
        When no cutoff fits, saying how long the log is and what would fit.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1], "timestamp": pd.to_datetime(["2024-01-10", "2024-06-30"]),
    ...     "event_type": pd.Categorical(["purchase"] * 2, categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 20.0]})
    >>> [str(t.date()) for t in propose_cutoffs(ev, horizon_days=90)]
    ['2024-02-01', '2024-03-01', '2024-04-01']
    """
    horizon = _horizon(horizon_days, "horizon_days")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
        raise ValueError(f"n: expected a positive integer or None, got {n!r}.")
    start, last = _time_span(events)
    end = _end_after(last)
    last = end - pd.Timedelta(days=horizon)
    try:
        grid = pd.date_range(start=start.normalize(), end=max(last, start.normalize()), freq=freq)
    except ValueError as exc:
        raise ValueError(f"freq: {freq!r} is not a pandas frequency ({exc}).") from None
    found: Sequence[pd.Timestamp] = [t.as_unit("ns") for t in grid if start < t <= last]
    if not found:
        span = (end - start.normalize()).days
        raise ValueError(
            f"propose_cutoffs: no cutoff fits. The log runs from {start.date()} to {end.date()} "
            f"({span} days); a cutoff needs at least one event before it and its whole "
            f"{horizon}-day horizon inside the log, so it must fall after {start} and on or "
            f"before {last}, and no {freq!r} date does. Fix: use a shorter horizon_days, a finer "
            "freq (e.g. 'W-MON' or 'D'), or a longer log."
        )
    return list(found)[-n:] if n is not None else list(found)
