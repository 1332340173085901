"""Every analytics table for one as-of date, and the job that writes them with their page.

:func:`run_analytics` reads the log once (one :class:`~._orders.Snapshot`)
and computes each table from it; :func:`run_analyze` is the
``repurchase-ml analyze`` command: it loads the configured log, computes
everything, then writes each table as Parquet and CSV and the HTML page,
each atomically. Nothing is written when anything fails.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repurchase_ml._frames import as_pandas
from repurchase_ml._io import write_frame_atomic, write_text_atomic
from repurchase_ml.analytics._orders import check_date, snapshot
from repurchase_ml.analytics.actions import action_summary
from repurchase_ml.analytics.activity import activity_table, promotion_calendar, promotion_table
from repurchase_ml.analytics.behaviour import behaviour_table
from repurchase_ml.analytics.diagnostics import (
    cumulative_table,
    holdout_table,
    matrix_table,
    summarise,
    transactions_table,
)
from repurchase_ml.analytics.migration import migration_table
from repurchase_ml.analytics.repurchase import (
    DEFAULT_NUDGE_THRESHOLD,
    cohort_table,
    funnel_table,
    next_order_curve,
    nudge_table,
    shares_table,
)
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["run_analytics", "run_analyze", "AnalyzeResult", "NOTES"]

logger = logging.getLogger(__name__)

#: the table that says which tables could not be computed, and why
NOTES = "notes"
_HOLDOUT_DAYS = 90
_SHARE_DAYS = (7, 14, 30, 60, 90)


def run_analytics(events: Any, as_of: Any, *, previous_as_of: Any = None,
                  radar: Any = None, spec: FeatureSpec | None = None) -> dict[str, pd.DataFrame]:
    """Every analytics table at ``as_of`` (only events before it are read).

    Parameters
    ----------
    events : DataFrame
        Canonical event log (pandas or polars).
    as_of : date
        The date the tables speak for.
    previous_as_of : date, optional
        Start of the segment migration (default: one month before ``as_of``).
    radar : DataFrame, optional
        The radar list at ``as_of``, for ``action_summary``.
    spec : FeatureSpec, optional
        Order definition and cancellation window (default: the library's).

    Returns
    -------
    dict of str to DataFrame
        ``repurchase_funnel`` (overall), ``repurchase_funnel_by_cohort``,
        ``repurchase_funnel_by_segment``, ``time_to_second_order``,
        ``return_shares``, ``nudge_window``, ``cohort_retention``,
        ``cohort_revenue_retention``, ``segment_migration_rfm``,
        ``segment_migration_lifecycle``, ``behaviour_funnel`` (and
        ``behaviour_funnel_by_segment``, ``behaviour_funnel_by_category``),
        ``activity_by_month``, ``activity_by_week``, ``promotion_effects``,
        ``action_summary`` (with a radar), the BG/NBD diagnostics
        ``frequency_recency_matrix``, ``probability_alive_matrix``,
        ``period_transactions``, ``calibration_vs_holdout``,
        ``cumulative_transactions``, with a ``category`` column the category
        paths ``category_first_category``, ``category_transitions``,
        ``category_co_bought`` (and ``category_browse_to_buy``), and ``notes`` (``table``, ``note``):
        tables left out and why (e.g. no browsing events, or too little
        history for BG/NBD).

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(200, "2023-01-01", "2024-01-01", random_state=0)
    >>> tables = run_analytics(events, "2024-01-01")
    >>> bool(tables["repurchase_funnel"]["customers"].iat[0] == events.loc[
    ...     events["event_type"] == "purchase", "customer_id"].nunique())
    True
    """
    moment = check_date(as_of, "as_of")
    previous = moment - pd.DateOffset(months=1) if previous_as_of is None \
        else check_date(previous_as_of, "previous_as_of")
    if not previous < moment:
        raise ValueError(f"previous_as_of: must be before as_of, got {previous.date()} and "
                         f"{moment.date()}.")
    radar_frame = None if radar is None else as_pandas(radar, argument="radar")
    started, cpu_started = time.perf_counter(), time.process_time()
    snap = snapshot(events, moment, spec=spec)
    tables: dict[str, pd.DataFrame] = {}
    notes: list[tuple[str, str]] = []
    # wall-clock and CPU seconds per step (CPU: all threads of the process; on a shared
    # machine the CPU seconds say what the step costs, the wall-clock what it took)
    timings: dict[str, float] = {"snapshot": time.perf_counter() - started}
    cpu: dict[str, float] = {"snapshot": time.process_time() - cpu_started}

    def add(name: str, make: Any) -> None:
        begun, cpu_begun = time.perf_counter(), time.process_time()
        try:
            table = make()
        except ValueError as error:  # e.g. no repeat order for BG/NBD: say so, go on
            notes.append((name, str(error)))
            logger.info("analytics: %s left out: %s", name, error)  # in the notes table too
            return
        finally:
            timings[name] = time.perf_counter() - begun
            cpu[name] = time.process_time() - cpu_begun
        if table is None:  # a step that prepares, not a table
            return
        if "note" in table.attrs:
            notes.append((name, table.attrs["note"]))
        tables[name] = table

    add("segment_features", lambda: snap.build_features([previous, moment]))  # both at once
    add("repurchase_funnel", lambda: funnel_table(snap, by=None, max_order=5))
    add("repurchase_funnel_by_cohort", lambda: funnel_table(snap, by="cohort", max_order=5))
    add("repurchase_funnel_by_segment", lambda: funnel_table(snap, by="segment", max_order=5))
    add("time_to_second_order", lambda: next_order_curve(snap, 1))
    curve = tables["time_to_second_order"]
    add("return_shares", lambda: shares_table(curve, pd.Series(_SHARE_DAYS).to_numpy()))
    add("nudge_window", lambda: nudge_table(curve, threshold=DEFAULT_NUDGE_THRESHOLD,
                                            from_order=1, window_days=7, min_at_risk=30))
    add("cohort_retention", lambda: cohort_table(snap, freq="M", measure="customers"))
    add("cohort_revenue_retention", lambda: cohort_table(snap, freq="M", measure="revenue"))
    for kind in ("rfm", "lifecycle"):
        add(f"segment_migration_{kind}",
            lambda kind=kind: migration_table(snap, previous, kind=kind))
    add("behaviour_funnel", lambda: behaviour_table(snap, by=None, days=30))
    if "behaviour_funnel" in tables and not tables["behaviour_funnel"].empty:
        add("behaviour_funnel_by_segment", lambda: behaviour_table(snap, by="segment", days=30))
        if snap.has_column("category"):
            add("behaviour_funnel_by_category",
                lambda: behaviour_table(snap, by="category", days=30))
    if snap.has_column("category"):  # the page's category-paths section
        from repurchase_ml.categories import category_section_tables

        paths: dict[str, pd.DataFrame] = {}
        add("category_paths", lambda: paths.update(category_section_tables(events, as_of=moment)))
        tables.update({f"category_{key}": table for key, table in paths.items()})
    add("activity_by_month", lambda: activity_table(snap, freq="M"))
    add("activity_by_week", lambda: activity_table(snap, freq="W"))
    add("promotion_effects", lambda: promotion_table(
        snap, promotion_calendar(snap.spec.promo_days), window_days=14, repurchase_days=90))
    if radar_frame is not None:
        add("action_summary", lambda: action_summary(radar_frame))
    _diagnostics(snap, add)
    tables[NOTES] = pd.DataFrame(notes, columns=["table", "note"])
    tables[NOTES].attrs.update(seconds=timings, cpu_seconds=cpu)
    logger.info("analytics at %s: %d tables in %.1f s", moment.date(), len(tables),
                time.perf_counter() - started)
    return tables


def _diagnostics(snap: Any, add: Any) -> None:
    """The BG/NBD diagnostics, fitted once on the whole history (matrices and counts) and once
    on the calibration part (holdout views)."""
    summary = summarise(snap)
    fitted: dict[str, Any] = {}

    def params() -> dict[str, float]:
        if "params" not in fitted:
            fitted["params"] = summary.fit()
        return fitted["params"]

    add("frequency_recency_matrix",
        lambda: matrix_table(summary, params(), which="expected_orders"))
    add("probability_alive_matrix", lambda: matrix_table(summary, params(), which="p_alive"))
    add("period_transactions", lambda: transactions_table(summary, params(), max_frequency=7))
    add("calibration_vs_holdout", lambda: holdout_table(snap, holdout_days=_HOLDOUT_DAYS,
                                                        period_days=7.0, max_frequency=7))
    add("cumulative_transactions", lambda: cumulative_table(snap, holdout_days=_HOLDOUT_DAYS,
                                                            period_days=7.0))


# ---------------------------------------------------------------- the analyze job


@dataclass
class AnalyzeResult:
    """Where the analyze job wrote, and anything to know."""

    as_of: str
    n_tables: int
    page: str
    paths: list[str]
    notes: list[str] = field(default_factory=list)


def _radar_at(folder: Path, stamp: str) -> pd.DataFrame | None:
    """The radar the score job wrote for the date, if any."""
    path = folder / f"radar_{stamp}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def run_analyze(settings: Any, as_of: Any, *, previous_as_of: Any = None) -> AnalyzeResult:
    """``repurchase-ml analyze``: every table at ``as_of`` as Parquet and CSV, and the page.

    Reads the configured event log (only events before ``as_of`` count) with
    the configured order definition; the radar the score job wrote for the
    same date (``radar_<date>.parquet`` in the outputs folder), when there,
    gives the per-action summary. Writes ``analytics_<date>/<table>.parquet``
    and ``.csv`` and the self-contained page ``analytics_<date>.html`` in the
    outputs folder, each atomically, after everything is computed.

    Examples
    --------
    >>> from repurchase_ml.config import load_settings
    >>> try:
    ...     run_analyze(load_settings(environ={}), "someday")
    ... except ValueError as error:
    ...     print(error)
    as_of: expected a date such as '2024-06-01', got 'someday'. Fix: pass an ISO date.
    """
    from repurchase_ml.analytics.page import build_page
    from repurchase_ml.jobs import _check_as_of_in_data, _feature_spec, load_event_log

    moment = check_date(as_of, "as_of")
    previous = None if previous_as_of is None else check_date(previous_as_of, "previous_as_of")
    events, report = load_event_log(settings)
    _check_as_of_in_data(moment, report, settings.data.max_days_after_last_event)
    spec = _feature_spec(settings)
    out = settings.output_path()
    stamp = moment.strftime("%Y-%m-%d")
    radar = _radar_at(out, stamp)
    tables = run_analytics(events, moment, previous_as_of=previous, radar=radar, spec=spec)
    churn_report = out / f"report_{stamp}.html"  # the score job's, linked when it is there
    page = build_page(tables, as_of=moment, previous_as_of=previous,
                      language=settings.report.language,
                      report_href=churn_report.name if churn_report.exists() else None)
    folder = out / f"analytics_{stamp}"
    paths = []
    for name, table in tables.items():
        for suffix in (".parquet", ".csv"):
            paths.append(str(write_frame_atomic(_flat(table), folder / f"{name}{suffix}")))
    page_path = write_text_atomic(out / f"analytics_{stamp}.html", page)
    notes = [f"{row.table}: {row.note}" for row in tables[NOTES].itertuples()]
    if radar is None:
        notes.append(f"no radar_{stamp}.parquet in {out}: run `repurchase-ml score --as-of "
                     f"{stamp}` first for the per-action summary")
    return AnalyzeResult(as_of=stamp, n_tables=len(tables), page=str(page_path),
                         paths=paths + [str(page_path)], notes=notes)


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """The table without its attrs (Parquet stores attrs as JSON; some hold Timestamps)."""
    flat = table.copy(deep=False)
    flat.attrs = {}
    return flat
