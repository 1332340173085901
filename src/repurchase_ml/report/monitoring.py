"""Monitoring: drift of the scored rows at the report's date and the realised-performance history.

Inputs (``extras["monitoring"]``, read from the outputs folder by
:func:`~repurchase_ml.report.inputs.output_report_inputs`): ``drift``, the
drift table of the date (:func:`repurchase_ml.monitoring.drift_summary`;
empty when the champion carries no drift reference), and ``history``
(:func:`repurchase_ml.monitoring.performance_history`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from repurchase_ml.i18n import has
from repurchase_ml.monitoring import plot_performance_history
from repurchase_ml.report import plots
from repurchase_ml.report._base import (
    ReportContext,
    Section,
    e,
    grid,
    img,
    missing,
    note,
    table,
    warning,
)

#: drift table columns shown per flagged column, in order
DRIFT_SHOWN = ("psi", "natural_psi", "js_distance", "missing_reference", "missing_current",
               "new_category_share")
#: metrics drawn and listed per task: ranking quality, all on a 0-1 scale so one axis holds
#: them (the history file has every metric, counts and money errors included)
HEADLINE_METRICS = ("roc_auc", "pr_auc", "precision_top10", "radar_precision_at_k", "spearman",
                    "normalized_gini")
_SHARES = ("missing_reference", "missing_current", "new_category_share")


def _number(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3f}"


def _words(ctx: ReportContext, column: str, group: str) -> str:
    """What a monitored column measures, in the reader's words."""
    from repurchase_ml.explain import feature_label

    if group == "score":  # churn_probability -> score.churn, predicted_ltv -> score.ltv
        task = column.removesuffix("_probability").removeprefix("predicted_")
        return ctx.fmt.text(f"score.{task}") if has(f"score.{task}") else column
    if group == "segment" and has(f"report.col.{column}"):
        return ctx.fmt.text(f"report.col.{column}")
    return feature_label(column, ctx.fmt.language)


def _drift(ctx: ReportContext, drift: pd.DataFrame | None) -> str:
    f = ctx.fmt
    if drift is None or drift.empty:
        return note(ctx.t("report.monitoring.no_drift_table", date=f.date(ctx.cutoff)))
    flagged = drift[drift["flagged"].astype(bool)]
    if flagged.empty:
        return note(ctx.t("report.monitoring.no_drift", n=f.count(len(drift)),
                          date=f.date(ctx.cutoff)))
    shown = pd.DataFrame({
        f.text("report.monitoring.col.column"): [
            _words(ctx, str(c), str(g)) for c, g in zip(flagged["column"], flagged["group"],
                                                        strict=True)],
        f.text("report.monitoring.col.group"): [f.text(f"report.monitoring.group.{g}")
                                                for g in flagged["group"]],
        **{f.text(f"report.monitoring.col.{c}"): flagged[c].to_numpy() for c in DRIFT_SHOWN},
    }, index=flagged["column"].astype(str).to_numpy())
    cells = {f.text(f"report.monitoring.col.{c}"): (
        (lambda v: "" if pd.isna(v) else f.share(float(v))) if c in _SHARES else _number)
        for c in DRIFT_SHOWN}
    head = ctx.t("report.monitoring.drifted", n=f.count(len(flagged)),
                 total=f.count(len(drift)), date=f.date(ctx.cutoff))
    return (warning(head)
            + table(shown, f, index_name=f.text("report.monitoring.col.code"), cells=cells)
            + note(ctx.t("report.monitoring.drift_how")))


def _history_figure(ctx: ReportContext, history: pd.DataFrame, task: str) -> Any:
    fig = plot_performance_history(history, task=task)
    ax = fig.axes[0]
    ax.set(xlabel=ctx.pt("report.monitoring.x"), ylabel=ctx.pt("report.monitoring.y"),
           title=ctx.pt("report.monitoring.plot_title", task=ctx.plabel("task", task)))
    estimated = ctx.pt("report.monitoring.estimated")
    for line in ax.get_lines():  # the legend says "(estimated)" in the report's language
        label = str(line.get_label())
        if "(estimated)" in label:  # a marker too: a single scoring date draws no dash
            line.set_label(label.replace("(estimated)", f"({estimated})"))
            line.set_marker("x")
    ax.legend(fontsize="small")
    # a tick per scoring date, not the calendar's weeks between them
    dates = pd.to_datetime(pd.Series(history.loc[history["task"] == task, "scored_at"].unique()))
    ax.set_xticks(sorted(dates), [d.strftime("%Y-%m-%d") for d in sorted(dates)])
    fig.set_size_inches(6.4, 3.6)
    fig.set_dpi(90)
    return plots._finish(fig)


def _history(ctx: ReportContext, history: pd.DataFrame | None) -> str:
    import matplotlib.pyplot as plt

    f = ctx.fmt
    if history is None or history.empty:
        return note(ctx.t("report.monitoring.no_history"))
    parts = []
    for task in sorted(history["task"].astype(str).unique()):
        rows = history[history["task"] == task]
        headline = rows[rows["metric"].isin(HEADLINE_METRICS)]
        rows = headline if len(headline) else rows
        fig = _history_figure(ctx, rows, task)
        try:
            picture = img(fig, f"performance-{task}",
                          f.text("report.monitoring.alt", task=f.label("task", task)))
        finally:
            plt.close(fig)
        latest = (rows.sort_values("scored_at").groupby("metric", sort=True).tail(1)
                  .sort_values("metric"))
        shown = pd.DataFrame({
            f.text("report.monitoring.col.scored_at"): latest["scored_at"].astype(str).to_numpy(),
            f.text("report.monitoring.col.realised"): latest["realised"].to_numpy(dtype=float),
            f.text("report.monitoring.col.estimated"): latest["estimated"].to_numpy(dtype=float),
            f.text("report.monitoring.col.n_rows"): latest["n_rows"].to_numpy(dtype=float),
        }, index=latest["metric"].astype(str).to_numpy())
        cells: dict[str, Callable[[Any], str]] = {
            f.text(f"report.monitoring.col.{c}"): _number for c in ("realised", "estimated")}
        cells[f.text("report.monitoring.col.n_rows")] = (
            lambda v: "" if pd.isna(v) else f.count(float(v)))
        parts.append(f"<h3>{e(f.label('task', task))}</h3>" + picture
                     + table(shown, f, index_name=f.text("report.scorecard.metric"), cells=cells))
    return (note(ctx.t("report.monitoring.history_how")) + grid(parts)
            + note(ctx.t("report.monitoring.history_file")))


def render(ctx: ReportContext) -> str:
    given = ctx.extras.get("monitoring")
    if not isinstance(given, Mapping):
        return missing(ctx, "monitoring")
    drift, history = given.get("drift"), given.get("history")
    for name, value in (("drift", drift), ("history", history)):
        if value is not None and not isinstance(value, pd.DataFrame):
            raise TypeError(f"extras['monitoring'][{name!r}] must be a DataFrame, got "
                            f"{type(value).__name__}.")
    return (f"<h3>{ctx.t('report.monitoring.drift_title')}</h3>" + _drift(ctx, drift)
            + f"<h3>{ctx.t('report.monitoring.history_title')}</h3>" + _history(ctx, history))


SECTION = Section("monitoring", render)

__all__ = ["DRIFT_SHOWN", "HEADLINE_METRICS", "SECTION", "render"]
