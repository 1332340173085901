"""The dask engine with the log left on the workers (``dask.stream: true``).

The other dask steps start from a log the job's process has read and
validated; past a few tens of millions of events that process cannot hold
it. Streamed, the process never holds the log:

1. **Read and validate per file** (:func:`open_log`): the log is a Parquet
   file or a folder of Parquet files, one customer's events in one file (as
   :func:`~repurchase_ml.distributed.partition.write_parquet_atomic` writes
   a shuffled log, or a warehouse export bucketed by customer). Each worker
   reads and validates its files with :func:`repurchase_ml.read_events` (the
   same rules and messages as one machine) and writes the canonical rows to
   the job's work folder; only the reports and each file's distinct customer
   ids reach the client, which adds the reports up and refuses a customer
   found in two files. Every later step reads those canonical files, one
   partition per file.
2. **The training set, sampled per partition** (:func:`training_set`): a
   first pass counts the (customer, cutoff) rows of the whole log, which
   fixes the fraction the ``training.max_rows`` budget keeps; each partition
   then computes its labels, keeps that fraction of every cutoff's rows,
   stratified by label (:func:`repurchase_ml.features.labels.sample_rows`
   with ``fraction=``), and builds features for the kept rows only. Only the
   kept rows reach the client. The local engine draws one sample over the
   whole log; here each partition draws its own with the same fraction, so
   the rows differ but every cutoff and label stratum keeps the same share
   (to one row per partition and stratum).
3. **The baselines' events** (:func:`events_of`): BG/NBD, Gamma-Gamma and
   the RFM rule need event histories; the client gets the events of the
   customers in the training sample, and the baselines are fitted and scored
   on them.
4. **Scores** (:func:`score`): every partition builds its features at the
   as-of date and scores them on the worker. The client receives every
   score, the feature rows of the customers the radar lists (alive at the
   as-of date: the radar's quantiles, clusters and reasons need all of
   them), and, for a fixed sample of customers chosen by a stable hash,
   their feature rows and events, from which monitoring and the report are
   drawn.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.distributed.features import (
    GlobalInputs,
    _resolve_tasks,
    _sorted,
    global_inputs,
    training_set_attrs,
)
from repurchase_ml.distributed.partition import canonical_partition, refuse_split_customers
from repurchase_ml.events import ValidationReport, parquet_files
from repurchase_ml.features._inputs import normalise_cutoffs
from repurchase_ml.features.engine import checked_spec, spec_log
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["StreamedLog", "StreamedScores", "events_of", "in_customer_sample", "log_files",
           "map_parts", "merge_reports", "open_log", "score", "training_set"]

logger = logging.getLogger(__name__)

#: a customer is in a hash sample when its id's 64-bit hash, scaled to [0, 1), is below the fraction
_HASH_SCALE = float(2**64)


@dataclasses.dataclass
class StreamedLog:
    """A validated log held by the workers: one partition per canonical file.

    Each step maps over :attr:`parts` (the files' paths): a task reads its
    partition's file itself, so a worker holds one partition at a time.
    """

    #: the validation reports of every file, added up
    report: ValidationReport
    #: the canonical files (in the job's work folder)
    files: list[Path]
    #: an empty frame with the canonical columns and types
    meta: pd.DataFrame

    @property
    def parts(self) -> list[str]:
        return [str(f) for f in self.files]

    @property
    def events(self) -> Any:
        """The log as a Dask DataFrame, one partition per file."""
        import dask.dataframe as dd

        return dd.from_map(canonical_partition, self.parts, meta=self.meta,
                           enforce_metadata=False)


def log_files(path: str | Path) -> list[Path]:
    """The Parquet files of a log: the file itself, or every ``*.parquet`` under a folder.

    Raises
    ------
    ValueError
        When there is no Parquet file there, saying what was found.
    """
    source = Path(path)
    if source.is_file():
        if source.suffix.lower() not in (".parquet", ".pq"):
            raise ValueError(f"data.path: dask.stream reads Parquet, got {str(source)!r}. Fix: "
                             "save the log as Parquet (one customer's events in one file), or "
                             "set dask.stream: false.")
        return [source]
    files = parquet_files(source)
    if not files:
        raise ValueError(f"data.path: no Parquet file in {str(source)!r}. Fix: point data.path "
                         "at a Parquet file or a folder of them, or set dask.stream: false.")
    return files


def _validate_file(source: str, target: str, read: Mapping[str, Any]
                   ) -> tuple[ValidationReport, np.ndarray, pd.DataFrame]:
    """One file read and validated on a worker; its canonical rows written to ``target``."""
    from repurchase_ml.events import read_events

    try:
        events, report = read_events(source, **read)
    except ValueError as exc:  # name the file: a folder may hold hundreds
        exc.args = (f"{Path(source).name}: {exc.args[0] if exc.args else exc}", *exc.args[1:])
        raise
    events.to_parquet(target, index=False)
    return report, pd.unique(events["customer_id"].to_numpy()), events.iloc[:0]


def merge_reports(reports: Sequence[ValidationReport]) -> ValidationReport:
    """The report of a log validated file by file (customers in one file each).

    Examples
    --------
    >>> a = ValidationReport(n_input_rows=3, n_rows=2, n_customers=1,
    ...     start=pd.Timestamp("2024-01-02"), end=pd.Timestamp("2024-02-01"),
    ...     event_counts={"purchase": 2}, dropped={"duplicate rows": 1})
    >>> b = ValidationReport(n_input_rows=4, n_rows=4, n_customers=2,
    ...     start=pd.Timestamp("2024-01-01"), end=pd.Timestamp("2024-01-20"),
    ...     event_counts={"purchase": 3, "view": 1})
    >>> print(merge_reports([a, b]).summary())
    6 events of 3 customers (7 read, 1 dropped)
      from 2024-01-01 00:00:00 to 2024-02-01 00:00:00 (UTC wall clock)
      purchase: 5
      view: 1
      dropped for duplicate rows: 1
    """
    if not reports:
        raise ValueError("events: the log has no file to read.")
    merged = ValidationReport(n_input_rows=0, timezone=reports[0].timezone)
    for report in reports:
        merged.n_input_rows += report.n_input_rows
        merged.n_rows += report.n_rows
        merged.n_customers += report.n_customers
        for name, target in (("event_counts", merged.event_counts),
                             ("dropped", merged.dropped)):
            for key, value in getattr(report, name).items():
                target[key] = target.get(key, 0) + int(value)
        if report.start is not None:
            merged.start = report.start if merged.start is None else min(merged.start,
                                                                         report.start)
            merged.end = report.end if merged.end is None else max(merged.end, report.end)
        merged.ignored_columns += [c for c in report.ignored_columns
                                   if c not in merged.ignored_columns]
        merged.warnings += [w for w in report.warnings if w not in merged.warnings]
    return merged


def open_log(path: str | Path, work: Path, *, read: Mapping[str, Any]) -> StreamedLog:
    """Validate the log at ``path`` on the workers into ``work``; nothing but reports comes back.

    ``read`` holds :func:`repurchase_ml.read_events`' options (mapping,
    timezone, on_invalid, plausible_range). A file that fails validation
    fails the step with its name in the message; a customer found in two
    files is refused (features need each customer's whole history in one
    partition).
    """
    import dask

    files = log_files(path)
    work.mkdir(parents=True, exist_ok=True)
    targets = [work / f"part-{i:05d}.parquet" for i in range(len(files))]
    results = dask.compute(*[dask.delayed(_validate_file)(str(f), str(t), dict(read))
                             for f, t in zip(files, targets, strict=True)])
    refuse_split_customers([ids for _r, ids, _m in results], fix=(
        "write the log one customer bucket per file (repurchase_ml.distributed.partition: "
        "write_parquet_atomic(partition_events(path), folder)), or set dask.stream: false"))
    report = merge_reports([r for r, _ids, _m in results])
    logger.info("engine dask: %d events of %d customers validated in %d files on the workers",
                report.n_rows, report.n_customers, len(files))
    return StreamedLog(report=report, files=targets, meta=canonical_partition(results[0][2]))


def _apply(fn: Callable[..., Any], part: Any, args: tuple[Any, ...]) -> Any:
    return fn(part, *args)


def map_parts(fn: Callable[..., Any], parts: Sequence[Any], *args: Any) -> list[Any]:
    """``fn(part, *args)`` for every part, on the cluster, results in the parts' order.

    With a running ``distributed`` client, ``args`` travel to every worker
    once and each result is fetched the moment its task ends and released on
    the worker: a worker holds only what it is computing, never the results
    of every partition it has done (at 10M customers those add up to more
    than a worker's memory). Without one, ``dask.compute``.
    """
    import dask

    try:
        from distributed import as_completed, get_client

        client = get_client()
    except (ImportError, ValueError):
        return list(dask.compute(*[dask.delayed(fn)(p, *args) for p in parts]))
    [shared] = client.scatter([args], broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    futures = {client.submit(_apply, fn, part, shared, key=f"{fn.__name__}-{token}-{i}"): i
               for i, part in enumerate(parts)}
    out: list[Any] = [None] * len(parts)
    try:
        for future, value in as_completed(futures, with_results=True):
            out[futures[future]] = value
            future.release()
    finally:
        client.cancel(list(futures))
        client.cancel([shared])
    return out


def in_customer_sample(ids: pd.Series | np.ndarray, fraction: float) -> np.ndarray:
    """Whether each customer is in a sample of about ``fraction`` of customers (stable hash).

    The same customer is in or out on every machine and run, whatever
    partition holds it.

    Examples
    --------
    >>> ids = np.arange(100_000)
    >>> 0.09 < float(in_customer_sample(ids, 0.1).mean()) < 0.11
    True
    >>> bool((in_customer_sample(ids, 0.1) <= in_customer_sample(ids, 0.2)).all())
    True
    """
    if fraction >= 1:
        return np.ones(len(ids), dtype=bool)
    hashed = pd.util.hash_array(np.asarray(ids))  # pandas' SipHash with its fixed key
    return hashed.astype(np.float64) / _HASH_SCALE < fraction


# ---------------------------------------------------------------------------- training set
def _row_counts(path: str, cuts: list[pd.Timestamp]) -> np.ndarray:
    """Per cutoff, the partition's customers with an event before it (its training rows)."""
    part = pd.read_parquet(path, columns=["customer_id", "timestamp"])
    if part.empty:
        return np.zeros(len(cuts), dtype=np.int64)
    stamps = part["timestamp"].astype("datetime64[ns]")
    first = stamps.groupby(part["customer_id"], sort=False).min().to_numpy()
    return np.array([int((first < c.to_datetime64()).sum()) for c in cuts], dtype=np.int64)


def _sampled_part(seeded: tuple[str, int], cuts: list[pd.Timestamp], spec: FeatureSpec,
                  tasks: Mapping[str, Any], end: pd.Timestamp, prices: pd.DataFrame | None,
                  label_cutoffs: Mapping[str, object] | None, max_rows: int | None,
                  fraction: float) -> pd.DataFrame:
    from repurchase_ml.features.labels import _training_rows

    part, seed = seeded
    out = _training_rows(spec_log(canonical_partition(part), spec), cuts, spec, tasks, end=end,
                         category_prices=prices, label_cutoffs=label_cutoffs,
                         max_rows=max_rows, random_state=seed, fraction=fraction)
    out.attrs = {}
    return _sorted(out)


def training_set(log: StreamedLog, *, cutoffs: object, tasks: Iterable[str] | None = None,
                 spec: FeatureSpec | None = None, horizons: Mapping[str, int] | None = None,
                 alive_days: int | None = None,
                 label_cutoffs: Mapping[str, object] | None = None,
                 max_rows: int | None = None, random_state: int = 0,
                 inputs: GlobalInputs | None = None) -> pd.DataFrame:
    """The training set of :func:`repurchase_ml.features.build_training_set`, sampled per partition.

    With ``max_rows``, each partition keeps ``max_rows / rows`` of every
    cutoff's rows (``rows``: the whole log's), stratified by label and seeded
    by ``random_state`` and the partition; only the kept rows are built and
    collected. Without it, every row (which must then fit the client).
    ``attrs["sampled"]`` records the fraction as the local engine does.
    """

    spec = checked_spec(spec)
    resolved = _resolve_tasks(tasks, horizons, alive_days)
    cuts = normalise_cutoffs(cutoffs)
    parts = log.parts
    inputs = inputs if inputs is not None else global_inputs(parts, cutoffs=cuts, spec=spec)
    pinned = inputs.pinned(spec)
    prices = inputs.prices_for(cuts)
    fraction, total = 1.0, 0
    if max_rows is not None:
        total = int(np.sum(map_parts(_row_counts, parts, cuts)))
        fraction = min(1.0, max_rows / total) if total else 1.0
    label_cuts = dict(label_cutoffs) if label_cutoffs else None
    # each partition's seed: random_state and its place among the parts
    seeded = [(p, random_state * 1_000_003 + i) for i, p in enumerate(parts)]
    built = map_parts(_sampled_part, seeded, cuts, pinned, resolved, inputs.data_end, prices,
                      label_cuts, max_rows, fraction)
    frames = [f for f in built if len(f)] or [built[0]]
    training = _sorted(pd.concat(frames, ignore_index=True))
    training.attrs.update({**inputs.attrs, **training_set_attrs(resolved, spec, alive_days)})
    if max_rows is not None:
        kept = len(training) / total if total else 1.0
        training.attrs["sampled"] = {
            "max_rows": float(max_rows), "rows_before": float(total), "fraction": kept,
            "task_fractions": {name: fraction for name in resolved}}
    logger.info("engine dask: training set of %d rows (%.2f %% of %d) from %d partitions",
                len(training), 100 * (len(training) / total if total else 1.0), total,
                len(parts))
    return training


def _events_of(part: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    events = canonical_partition(part)
    return events.loc[events["customer_id"].isin(ids).to_numpy()]


def _in_log_order(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' rows (events, scores, features) as one frame by customer; each partition's
    rows keep their order."""
    frame = pd.concat(list(parts), ignore_index=True)
    order = np.argsort(frame["customer_id"].to_numpy(), kind="stable")
    return frame.take(order).reset_index(drop=True)


def events_of(log: StreamedLog, customer_ids: Any) -> pd.DataFrame:
    """Every event of the given customers, as a canonical log on the client."""
    ids = np.asarray(pd.unique(np.asarray(customer_ids)))
    return _in_log_order(map_parts(_events_of, log.parts, ids))


# ---------------------------------------------------------------------------- scores
@dataclasses.dataclass
class StreamedScores:
    """What a streamed score step brings to the client."""

    #: every customer's scores, by customer id
    scores: pd.DataFrame
    #: feature rows of the customers alive at the as-of date (the radar's population)
    alive_features: pd.DataFrame
    #: feature rows, scores and events (before the as-of date) of a hash sample of customers
    sample_features: pd.DataFrame
    sample_scores: pd.DataFrame
    sample_events: pd.DataFrame
    #: each partition's scores (for the partitioned output)
    parts: list[pd.DataFrame]


def _score_part(part: pd.DataFrame, cutoff: pd.Timestamp, spec: FeatureSpec,
                prices: pd.DataFrame | None, scorer: Any, fraction: float) -> dict[str, Any]:
    from repurchase_ml.distributed.scoring import score_events
    from repurchase_ml.radar import alive_mask

    events = canonical_partition(part)
    features, scores = score_events(events, cutoff, spec, prices, scorer, False)
    if features.empty:
        return {"features": features, "scores": scores, "alive": features,
                "sample": np.zeros(0, dtype=bool), "events": events.iloc[:0]}
    sample = in_customer_sample(features["customer_id"], fraction)
    chosen = features["customer_id"].to_numpy()[sample]
    keep = events["customer_id"].isin(chosen).to_numpy() \
        & (events["timestamp"] < cutoff).to_numpy()
    return {
        "scores": scores,
        "alive": features.loc[alive_mask(features).to_numpy()],
        "sample": sample, "features": features.loc[sample],
        "events": events.loc[keep],
    }


def score(log: StreamedLog, *, scorer: Any, as_of: Any, spec: FeatureSpec,
          max_days_after_data: float | None = 31.0, sample_customers: int = 50_000,
          ) -> StreamedScores:
    """Scores of every customer at ``as_of`` computed on the workers (see the module doc).

    ``sample_customers``: about how many customers' features, scores and
    events come back for monitoring and the report (a stable hash sample).
    """

    spec = checked_spec(spec)
    cutoff = normalise_cutoffs(as_of)
    if len(cutoff) != 1:
        raise ValueError(f"as_of: expected one date, got {len(cutoff)}.")
    cut = cutoff[0]
    inputs = global_inputs(log.parts, cutoffs=cutoff, spec=spec, before=cut)
    inputs.check_cutoffs(cutoff, max_days_after_data)
    prices = inputs.prices_for(cutoff)
    pinned = inputs.pinned(spec)
    fraction = min(1.0, sample_customers / max(log.report.n_customers, 1))
    results = map_parts(_score_part, log.parts, cut, pinned, prices, scorer, fraction)
    kept = [r for r in results if len(r["scores"])]
    if not kept:
        raise ValueError(f"as_of: no customer has an event before {cut.date()}; there is "
                         "nothing to score.")
    sample_scores = [r["scores"].loc[r["sample"]] for r in kept]
    return StreamedScores(
        scores=_in_log_order([r["scores"] for r in kept]),
        alive_features=_in_log_order([r["alive"] for r in kept]),
        sample_features=_in_log_order([r["features"] for r in kept]),
        sample_scores=_in_log_order(sample_scores),
        sample_events=_in_log_order([r["events"] for r in kept]),
        parts=[r["scores"] for r in kept])

