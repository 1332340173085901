"""Features, labels and training sets per customer partition, equal to the local engine's.

What the local engine reads from the whole log is computed here once, on the
whole log, and broadcast to every partition (:class:`GlobalInputs`):

- whether the log holds behaviour events (``spec.behaviour`` left open: the
  engagement family exists when any view, cart or favourite exists);
- the category price levels per cutoff (``price_tier_*``), from exact
  fixed-point sums per partition added up on the client, so the levels are
  the local ones bit for bit;
- the log's end (:func:`repurchase_ml.features.data_end`), where label
  windows must fit;
- the days that hold any event (the check that no cutoff lies far past the
  data, :func:`repurchase_ml.features.engine.check_cutoffs_near_data`).

Everything else is per customer: the orders, windows, gaps, the promotion
calendar (a fixed list of month-days) and every label. Each partition then
runs the local per-partition functions
(:func:`repurchase_ml.features.compute_features`, and the training rows of
:func:`repurchase_ml.features.build_training_set`) with those inputs, and the
concatenated partitions equal the local result row for row. The compiled
(numba) kernels are the same on every worker; each worker process loads them
from numba's on-disk cache on its first partition (compiling them once when
the cache is cold; :func:`warm_up` does that up front).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.distributed.partition import canonical_partition
from repurchase_ml.features._arrays import DAY_NS
from repurchase_ml.features._inputs import FIXED_SCALE, normalise_cutoffs
from repurchase_ml.features.engine import (
    _category_pairs,
    _safe_divide,
    check_cutoffs_near_data,
    checked_spec,
    compute_features,
    spec_log,
)
from repurchase_ml.features.labels import (
    TASKS,
    TaskSpec,
    _end_after,
    _horizon,
    _labels,
    _OrderBook,
    _task,
    _training_rows,
    _with_alive_days,
)
from repurchase_ml.features.per_customer import is_cutoff_table
from repurchase_ml.features.spec import FeatureSpec

__all__ = [
    "GlobalInputs",
    "build_features_dask",
    "build_training_set_dask",
    "collect",
    "global_inputs",
    "make_labels_dask",
    "training_set_attrs",
    "warm_up",
]

logger = logging.getLogger(__name__)

KEYS = ["cutoff", "customer_id"]


@dataclasses.dataclass(frozen=True)
class GlobalInputs:
    """What the features and labels read from the whole log, computed once and broadcast."""

    #: whether the whole log holds any view, cart or favourite event
    behaviour: bool
    #: midnight after the log's last event (label windows must end by then)
    data_end: pd.Timestamp
    #: distinct days (since 1970-01-01) holding any event
    event_days: np.ndarray
    #: ``cutoff``, ``category``, ``category_price``: levels over every customer (None: no category)
    category_prices: pd.DataFrame | None
    #: the cutoffs the price levels are for
    cutoffs: tuple[pd.Timestamp, ...]
    #: orders cancelled by a refund in the whole log (``attrs["cancelled_orders"]`` of the
    #: local result; the amount added up per partition, so equal up to float rounding)
    cancelled_orders: dict[str, Any] | None = None

    @property
    def attrs(self) -> dict[str, Any]:
        """The ``attrs`` the local engine puts on a feature table of this log."""
        return {} if self.cancelled_orders is None \
            else {"cancelled_orders": dict(self.cancelled_orders)}

    def pinned(self, spec: FeatureSpec) -> FeatureSpec:
        """``spec`` with ``behaviour`` fixed by the whole log (unless it was set already)."""
        if spec.behaviour is not None:
            return spec
        return dataclasses.replace(spec, behaviour=self.behaviour)

    def check_cutoffs(self, cutoffs: Sequence[pd.Timestamp], max_days: float | None) -> None:
        """:func:`check_cutoffs_near_data` on the whole log (read from its event days)."""
        if max_days is None or not len(self.event_days):
            return
        days = pd.DataFrame({"timestamp": pd.to_datetime(self.event_days * DAY_NS)})
        check_cutoffs_near_data(days, list(cutoffs), max_days=max_days)

    def prices_for(self, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame | None:
        """The price levels table, refused when computed for other cutoffs."""
        missing = sorted(set(cutoffs) - set(self.cutoffs))
        if missing:
            raise ValueError(f"inputs: computed for cutoffs {[str(c.date()) for c in self.cutoffs]}"
                             f", not for {[str(c.date()) for c in missing]}. Fix: compute "
                             "global_inputs with every cutoff the features are built at.")
        return self.category_prices


def _summary(part: pd.DataFrame | str, cuts: Sequence[pd.Timestamp], spec: FeatureSpec,
             before: pd.Timestamp | None = None) -> dict:
    """One partition's share of :class:`GlobalInputs` (of its events before ``before``)."""
    frame = canonical_partition(part)
    if before is not None:
        frame = frame[frame["timestamp"] < before].reset_index(drop=True)
    if frame.empty:
        return {"behaviour": False, "last": None, "days": np.zeros(0, dtype=np.int64),
                "prices": None, "cancelled": None}
    stamps = frame["timestamp"].to_numpy().view(np.int64)
    log = spec_log(frame, spec)
    prices = None
    if log.categories is not None and len(log.categories):
        pairs = _category_pairs(log)
        rows = []
        for cutoff in cuts:
            _, price_sum, price_n, _, _ = pairs.sums(cutoff.value, cutoff.value)
            # sums of int64 fixed-point prices: whole numbers, exact in float64 below 2**53
            sums = np.bincount(pairs.category, weights=price_sum, minlength=pairs.n_categories)
            counts = np.bincount(pairs.category, weights=price_n, minlength=pairs.n_categories)
            rows.append(pd.DataFrame({"cutoff": cutoff, "category": log.categories,
                                      "price_sum": sums.astype(np.int64),
                                      "price_n": counts.astype(np.int64)}))
        prices = pd.concat(rows, ignore_index=True)
    report = log.cancellations
    cancelled = None if report is None else {
        "n_orders": report.n_orders, "n_purchase_rows": report.n_purchase_rows,
        "n_refunds": report.n_refunds, "amount": report.amount}
    return {"behaviour": log.has_behaviour(), "last": int(stamps.max()),
            "days": np.unique(stamps // DAY_NS), "prices": prices, "cancelled": cancelled}


def partitions_of(events: Any) -> list[Any]:
    """The partitions to map over: a Dask DataFrame's (delayed), or a list of Parquet paths
    (each read inside the task that uses it, :func:`canonical_partition`)."""
    return list(events) if isinstance(events, list | tuple) else list(events.to_delayed())


def global_inputs(events: Any, *, cutoffs: object, spec: FeatureSpec | None = None,
                  before: pd.Timestamp | None = None) -> GlobalInputs:
    """The whole-log inputs of the features and labels at ``cutoffs``, in one pass.

    Each partition reports whether it has behaviour events, its last event,
    the days it covers and its exact category price sums per cutoff; the
    client adds them up.

    Parameters
    ----------
    events : dask.dataframe.DataFrame or list of paths
        The log from :func:`~repurchase_ml.distributed.partition.partition_events`,
        or its partitions' Parquet files.
    before : timestamp, optional
        Only the events before it count (the history at a score date).
    cutoffs : timestamp or sequence of timestamps
        Every cutoff the features will be built at.
    spec : FeatureSpec, optional
        Its order definition and cancellation window decide which purchase rows count.
    """
    import dask

    spec = checked_spec(spec)
    cuts = normalise_cutoffs(cutoffs)
    summaries = dask.compute(*[dask.delayed(_summary)(p, cuts, spec, before)
                               for p in partitions_of(events)])
    lasts = [s["last"] for s in summaries if s["last"] is not None]
    if not lasts:
        raise ValueError("events: the log is empty, so it covers no period.")
    price_parts = [s["prices"] for s in summaries if s["prices"] is not None]
    prices = None
    if price_parts:
        totals = pd.concat(price_parts, ignore_index=True).groupby(
            ["cutoff", "category"], sort=True, as_index=False)[["price_sum", "price_n"]].sum()
        levels = _safe_divide(totals["price_sum"].to_numpy(dtype=np.float64) / FIXED_SCALE,
                              totals["price_n"].to_numpy(dtype=np.float64))
        known = ~np.isnan(levels)
        prices = pd.DataFrame({"cutoff": totals["cutoff"].to_numpy()[known],
                               "category": totals["category"].to_numpy()[known],
                               "category_price": levels[known]})
        prices["cutoff"] = prices["cutoff"].astype("datetime64[ns]")
    days = np.unique(np.concatenate([s["days"] for s in summaries]))
    reports = [s["cancelled"] for s in summaries if s["cancelled"] is not None]
    cancelled = None if not reports else {
        key: (math.fsum(r[key] for r in reports) if key == "amount"
              else int(sum(r[key] for r in reports)))
        for key in ("n_orders", "n_purchase_rows", "n_refunds", "amount")}
    return GlobalInputs(
        behaviour=spec.behaviour if spec.behaviour is not None
        else any(s["behaviour"] for s in summaries),
        data_end=_end_after(pd.Timestamp(max(lasts))), event_days=days,
        category_prices=prices, cutoffs=tuple(cuts), cancelled_orders=cancelled)


def _refuse_unsupported(spec: FeatureSpec, cutoffs: object) -> None:
    if is_cutoff_table(cutoffs):
        raise ValueError("cutoffs: the dask engine takes a calendar of cutoffs, not a "
                         "per-customer cutoff table. Fix: use engine 'local' for per-customer "
                         "cutoffs.")
    if spec.custom:
        raise ValueError(f"spec.custom: the dask engine computes the built-in features only, "
                         f"got custom features {[f.name for f in spec.custom]}. Fix: use "
                         "engine 'local', or add them to the collected table with "
                         "repurchase_ml.features.custom.add_custom_features.")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS, kind="mergesort", ignore_index=True)


def _features_part(part: pd.DataFrame, cuts: list[pd.Timestamp], spec: FeatureSpec,
                   prices: pd.DataFrame | None) -> pd.DataFrame:
    out = compute_features(canonical_partition(part), cuts, spec, category_prices=prices)
    out.attrs = {}  # pandas compares attrs when Dask concatenates partitions
    return _sorted(out)


def build_features_dask(events: Any, *, cutoffs: object, spec: FeatureSpec | None = None,
                        inputs: GlobalInputs | None = None,
                        max_days_after_data: float | None = 31.0) -> Any:
    """:func:`repurchase_ml.features.build_features`, one customer partition at a time.

    Parameters
    ----------
    events : dask.dataframe.DataFrame
        The log partitioned by customer (:func:`~repurchase_ml.distributed.partition_events`).
    cutoffs, spec, max_days_after_data
        As for :func:`~repurchase_ml.features.build_features` (a calendar of
        cutoffs; no custom features).
    inputs : GlobalInputs, optional
        Computed by :func:`global_inputs` when not given.

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy; partition ``i`` holds the features of the customers of events
        partition ``i``, sorted by (``cutoff``, ``customer_id``). :func:`collect`
        of it equals ``build_features`` on the whole log (whose ``attrs`` are
        ``inputs.attrs``).
    """
    spec = checked_spec(spec)
    _refuse_unsupported(spec, cutoffs)
    cuts = normalise_cutoffs(cutoffs)
    inputs = inputs if inputs is not None else global_inputs(events, cutoffs=cuts, spec=spec)
    inputs.check_cutoffs(cuts, max_days_after_data)
    pinned = inputs.pinned(spec)
    prices = inputs.prices_for(cuts)
    meta = _features_part(events._meta, cuts, pinned, prices)
    return events.map_partitions(_features_part, cuts, pinned, prices, meta=meta,
                                 align_dataframes=False, enforce_metadata=False)


def _labels_part(part: pd.DataFrame, cuts: list[pd.Timestamp], spec: FeatureSpec,
                 task: TaskSpec, horizon: int, end: pd.Timestamp) -> pd.DataFrame:
    book = _OrderBook(spec_log(canonical_partition(part), spec))
    return _sorted(_labels(book, cuts, task, horizon, end=end))


def make_labels_dask(events: Any, *, cutoffs: object, task: str | TaskSpec,
                     horizon_days: int | None = None, spec: FeatureSpec | None = None,
                     alive_days: int | None = None, inputs: GlobalInputs | None = None) -> Any:
    """:func:`repurchase_ml.features.make_labels`, one customer partition at a time.

    Every partition's label windows are checked against the whole log's end
    (``inputs.data_end``), as on one machine.
    """
    spec = checked_spec(spec)
    task_spec = _with_alive_days(_task(task), alive_days)
    horizon = _horizon(task_spec.horizon_days if horizon_days is None else horizon_days,
                       "horizon_days")
    cuts = normalise_cutoffs(cutoffs)
    inputs = inputs if inputs is not None else global_inputs(events, cutoffs=cuts, spec=spec)
    meta = _labels_part(events._meta, cuts, spec, task_spec, horizon, inputs.data_end)
    return events.map_partitions(_labels_part, cuts, spec, task_spec, horizon, inputs.data_end,
                                 meta=meta, align_dataframes=False, enforce_metadata=False)


def _training_part(part: pd.DataFrame, cuts: list[pd.Timestamp], spec: FeatureSpec,
                   tasks: Mapping[str, tuple[TaskSpec, int]], end: pd.Timestamp,
                   prices: pd.DataFrame | None,
                   label_cutoffs: Mapping[str, object] | None,
                   chosen: pd.DataFrame | None = None, labels_only: bool = False
                   ) -> pd.DataFrame:
    out = _training_rows(spec_log(canonical_partition(part), spec), cuts, spec, tasks, end=end,
                         category_prices=prices, label_cutoffs=label_cutoffs, chosen=chosen,
                         labels_only=labels_only)
    out.attrs = {}
    return _sorted(out)


def _resolve_tasks(tasks: Iterable[str] | None, horizons: Mapping[str, int] | None,
                   alive_days: int | None) -> dict[str, tuple[TaskSpec, int]]:
    names = list(TASKS) if tasks is None else ([tasks] if isinstance(tasks, str) else list(tasks))
    if not names:
        raise ValueError(f"tasks: expected at least one of {list(TASKS)}, got none.")
    horizons = dict(horizons or {})
    unknown = sorted(set(horizons) - set(names))
    if unknown:
        raise ValueError(f"horizons: tasks {unknown} are not among tasks={names}; "
                         "give horizons only for the tasks you label.")
    out = {}
    for name in names:
        task = _with_alive_days(_task(name), alive_days)
        out[name] = (task, _horizon(horizons.get(name, task.horizon_days), f"horizons[{name!r}]"))
    return out


def training_set_attrs(tasks: Mapping[str, tuple[TaskSpec, int]], spec: FeatureSpec,
                       alive_days: int | None) -> dict[str, Any]:
    """The ``attrs`` :func:`~repurchase_ml.features.build_training_set` sets (train_models reads them)."""
    attrs: dict[str, Any] = {"horizons": {name: int(h) for name, (_t, h) in tasks.items()}}
    if alive_days is not None:
        attrs["alive_days"] = int(alive_days)
    attrs["order_definition"] = spec.order_definition
    attrs["cancellation_window_days"] = float(spec.cancellation_window_days)
    return attrs


def build_training_set_dask(events: Any, *, cutoffs: object, tasks: Iterable[str] | None = None,
                            spec: FeatureSpec | None = None,
                            horizons: Mapping[str, int] | None = None,
                            alive_days: int | None = None,
                            label_cutoffs: Mapping[str, object] | None = None,
                            inputs: GlobalInputs | None = None, max_rows: int | None = None,
                            random_state: int = 0) -> tuple[Any, dict[str, Any]]:
    """:func:`repurchase_ml.features.build_training_set`, one customer partition at a time.

    Every cutoff of a multi-cutoff training set is built inside the
    partitions; nothing is materialised on the client. Labels are checked
    against the whole log's end.

    With ``max_rows``, the rows the local engine keeps: each partition
    computes its rows' labels first (no features), only keys and labels come
    to the client, which draws the local sample
    (:func:`repurchase_ml.features.labels.sample_rows`) over all of them; the
    kept keys go back, and each partition builds features for its kept rows
    only, so no worker ever holds the unsampled training set. Equal to the
    local sample row for row.

    Returns
    -------
    (dask.dataframe.DataFrame, dict)
        The lazy training set (partitioned like ``events``, each partition
        sorted by cutoff and customer) and the ``attrs`` the local result
        carries (set them on the collected frame: :func:`collect` does).
    """
    import dask

    spec = checked_spec(spec)
    _refuse_unsupported(spec, cutoffs)
    resolved = _resolve_tasks(tasks, horizons, alive_days)
    if sorted(set(label_cutoffs or {}) - set(resolved)):
        raise ValueError(f"label_cutoffs: tasks {sorted(set(label_cutoffs or {}) - set(resolved))}"
                         f" are not among tasks={list(resolved)}.")
    cuts = normalise_cutoffs(cutoffs)
    inputs = inputs if inputs is not None else global_inputs(events, cutoffs=cuts, spec=spec)
    pinned = inputs.pinned(spec)
    prices = inputs.prices_for(cuts)
    label_cutoffs = dict(label_cutoffs) if label_cutoffs else None
    attrs = {**inputs.attrs, **training_set_attrs(resolved, spec, alive_days)}
    arguments = (cuts, pinned, resolved, inputs.data_end, prices, label_cutoffs)
    chosen = None
    if max_rows is not None:
        keys = events.map_partitions(
            _training_part, *arguments, None, True, align_dataframes=False,
            enforce_metadata=False,
            meta=_training_part(events._meta, *arguments, None, True))
        chosen, sampled = _sample(collect(keys), max_rows=max_rows, random_state=random_state)
        attrs["sampled"] = sampled
    meta = _training_part(events._meta, *arguments, None if chosen is None else chosen.iloc[:0])
    chosen_ = None if chosen is None else dask.delayed(chosen, pure=True)  # shipped once
    ddf = events.map_partitions(_training_part, *arguments, chosen_, meta=meta,
                                align_dataframes=False, enforce_metadata=False)
    return ddf, attrs


def _sample(keys: pd.DataFrame, *, max_rows: int, random_state: int = 0
            ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """The keys the local engine keeps with ``build_training_set(max_rows=...)``.

    ``keys``: every row's ``cutoff``, ``customer_id`` and labels, by cutoff then
    customer (the local order). Returns the kept keys with a
    ``_keep_label_<task>`` flag per task (None: every row is kept) and
    ``attrs["sampled"]`` as the local engine records it.
    """
    from repurchase_ml.features.labels import sample_rows

    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows: expected a positive whole number of rows or None, got "
                         f"{max_rows!r}.")
    labels = [c for c in keys.columns if str(c).startswith("label_")]
    cuts = list(pd.unique(keys["cutoff"]))
    groups = [np.flatnonzero((keys["cutoff"] == c).to_numpy()) for c in cuts]
    positions = [np.arange(len(g)) for g in groups]
    per_cutoff = [[keys[name].to_numpy()[g] for name in labels] for g in groups]
    kept = sample_rows(positions, per_cutoff, max_rows=max_rows, random_state=random_state)
    sampled = {**kept.attrs, "task_fractions": dict(zip(
        [name[len("label_"):] for name in labels], kept.attrs["task_fractions"], strict=True))}
    if len(keys) <= max_rows:
        return None, sampled
    chosen = []
    for i, group in enumerate(groups):
        frame = keys.iloc[group[kept[i]]][KEYS].reset_index(drop=True)
        for t, name in enumerate(labels):
            flags = kept.label_kept[i][t]
            frame[f"_keep_{name}"] = True if flags is None else np.asarray(flags, dtype=bool)
        chosen.append(frame)
    return pd.concat(chosen, ignore_index=True), sampled


def collect(ddf: Any, attrs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """A partitioned result as one pandas frame in the local engine's order (cutoff, customer)."""
    frame = ddf.compute()
    out = _sorted(frame.reset_index(drop=True))
    out.attrs.update(dict(attrs or {}))
    return out


def warm_up(client: Any) -> None:
    """Load (or compile once) the feature kernels on every worker before the first partition.

    Each worker builds features of a two-customer log: numba loads the
    kernels from its on-disk cache (``cache=True``), so the first real
    partition does not pay for it.
    """
    client.run(_warm)


def _warm() -> int:
    from repurchase_ml.events import EVENT_TYPES

    ev = pd.DataFrame({"customer_id": [1, 1, 2], "timestamp": pd.to_datetime(
        ["2024-01-01", "2024-01-05", "2024-01-03"]),
        "event_type": pd.Categorical(["purchase", "view", "purchase"], categories=EVENT_TYPES),
        "amount": [1.0, np.nan, 2.0], "category": ["a", None, "b"]})
    return len(compute_features(ev, ["2024-02-01"], FeatureSpec(behaviour=True)))
