"""Campaign read-out: the newest A/B read-out against the holdout, when one was written.

Input (``extras["readout"]``, read by
:func:`~repurchase_ml.report.inputs.output_report_inputs` from the files
``repurchase-ml readout`` writes): ``campaigns`` and ``effects``
(:class:`repurchase_ml.campaigns.CampaignReadout` tables) and ``written``,
the date the read-out was written. Every word is the catalogue's: the
read-out's own :func:`~repurchase_ml.campaigns.readout.readout_html` speaks English.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from repurchase_ml.i18n import Formatter
from repurchase_ml.report._base import ReportContext, Section, note, table, warning

#: per-campaign columns shown, in order (money columns are in the report's currency)
CAMPAIGN_SHOWN = ("n_treatment", "n_control", "treatment_share", "srm_p_value",
                  "incremental_net_revenue", "incremental_low", "incremental_high", "cost",
                  "roi")
#: per-campaign-and-metric columns shown, in order
EFFECT_SHOWN = ("treatment", "control", "difference", "low", "high", "p_value", "mde")
_MONEY = ("incremental_net_revenue", "incremental_low", "incremental_high", "cost")
_METRIC_SHARE = "conversion"  # its means and differences are shares of customers


def _blank(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _campaigns(ctx: ReportContext, campaigns: pd.DataFrame) -> str:
    f = ctx.fmt
    present = [c for c in CAMPAIGN_SHOWN if c in campaigns.columns]
    shown = campaigns[present].copy()
    shown.index = campaigns["campaign_id"].astype(str).to_numpy()
    shown.columns = [f.text(f"report.readout.col.{c}") for c in present]
    cells: dict[str, Any] = {}
    for c in present:
        if c in _MONEY:
            cells[f.text(f"report.readout.col.{c}")] = lambda v: "" if _blank(v) else f.money(v)
        elif c == "treatment_share":
            cells[f.text(f"report.readout.col.{c}")] = lambda v: "" if _blank(v) else f.share(v)
        elif c in ("srm_p_value", "roi"):
            cells[f.text(f"report.readout.col.{c}")] = (
                lambda v: "" if _blank(v) else f"{float(v):.3g}")
    html = table(shown, f, index_name=f.text("report.readout.col.campaign_id"), cells=cells)
    if "srm" in campaigns.columns:
        for name in campaigns.loc[campaigns["srm"].astype(bool), "campaign_id"].astype(str):
            html += warning(ctx.t("report.readout.srm", campaign=name))
    if "cost" in campaigns.columns and campaigns["cost"].isna().all():
        html += note(ctx.t("report.readout.no_cost"))
    return html


def _value(f: Formatter, metric: str, v: Any, *, signed: bool = False, points: str = "") -> str:
    """A mean or difference of ``metric``; ``points`` given: a share's difference in points."""
    if _blank(v):
        return ""
    number = float(v)
    if metric == _METRIC_SHARE:  # a level is a share, a difference percentage points
        if not points:
            return f.share(number)
        return f"{number * 100:{'+' if signed else ''}.1f}{points}"
    text = f.money(number) if metric == "net_revenue" else f"{number:.3f}"
    return f"+{text}" if signed and number > 0 else text


def _effects(ctx: ReportContext, effects: pd.DataFrame) -> str:
    f = ctx.fmt
    rows = []
    unit = " " + f.text("report.readout.points")
    for record in effects.to_dict("records"):
        metric = str(record["metric"])
        pts = unit if metric == _METRIC_SHARE else ""
        # a share's unit once, after the interval: "[+1.1, +7.7] pp"
        if pts:
            low, high = ("" if _blank(record[k]) else f"{float(record[k]) * 100:+.1f}"
                         for k in ("low", "high"))
        else:
            low, high = (_value(f, metric, record[k], signed=True) for k in ("low", "high"))
        rows.append({
            f.text("report.readout.col.campaign_id"): str(record["campaign_id"]),
            f.text("report.readout.col.metric"): f.text(f"report.readout.metric.{metric}"),
            f.text("report.readout.col.treatment"): _value(f, metric, record["treatment"]),
            f.text("report.readout.col.control"): _value(f, metric, record["control"]),
            f.text("report.readout.col.difference"): _value(f, metric, record["difference"],
                                                            signed=True, points=pts),
            f.text("report.readout.col.interval"): f"[{low}, {high}]{pts}",
            f.text("report.readout.col.p_value"): "" if _blank(record["p_value"])
            else f"{float(record['p_value']):.3g}",
            f.text("report.readout.col.mde"): _value(f, metric, record["mde"], points=pts),
        })
    return table(pd.DataFrame(rows), f, index=False)


def render(ctx: ReportContext) -> str:
    given = ctx.extras.get("readout")
    if given is None:
        return note(ctx.t("report.readout.none"))
    if not isinstance(given, Mapping) or not all(
            isinstance(given.get(k), pd.DataFrame) for k in ("campaigns", "effects")):
        raise TypeError("extras['readout'] must be a mapping with 'campaigns' and 'effects' "
                        "DataFrames (the tables of a CampaignReadout).")
    campaigns, effects = given["campaigns"], given["effects"]
    if campaigns.empty:
        return note(ctx.t("report.readout.none"))
    written = given.get("written")
    head = ctx.t("report.readout.intro", n=ctx.fmt.count(len(campaigns)),
                 date=ctx.fmt.date(written) if written is not None else "")
    return (f"<p>{head}</p>" + _campaigns(ctx, campaigns)
            + _effects(ctx, effects) + note(ctx.t("report.readout.how")))


SECTION = Section("campaign-readout", render)
