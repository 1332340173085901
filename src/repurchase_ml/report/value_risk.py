"""Value x risk: how many customers sit in each cell of value tier by churn-risk tier."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repurchase_ml.report import plots
from repurchase_ml.report._base import (
    ReportContext,
    Section,
    empty_radar,
    img,
    missing,
    note,
    table,
)

_TIERS = ("high", "medium", "low", "unknown")


def value_risk_from_radar(radar: pd.DataFrame) -> pd.DataFrame | None:
    """Customer counts per (value tier, risk tier) cell of the radar."""
    if {"value_tier", "risk_tier"} <= set(radar.columns):
        tiers = radar[["value_tier", "risk_tier"]].astype(str)
    elif {"value_if_retained", "churn_probability"} <= set(radar.columns):
        from repurchase_ml.segments import value_risk_matrix

        tiers = value_risk_matrix(radar["value_if_retained"].to_numpy(),
                                  radar["churn_probability"].to_numpy())
    else:
        return None
    counts = pd.crosstab(tiers["value_tier"], tiers["risk_tier"])
    rows = [t for t in _TIERS if t in counts.index]
    cols = [t for t in reversed(_TIERS[:3]) if t in counts.columns] + (
        ["unknown"] if "unknown" in counts.columns else [])
    out = counts.reindex(index=rows, columns=cols)
    out.index.name, out.columns.name = "value", "risk"
    return out


def render(ctx: ReportContext) -> str:
    value_risk, radar = ctx.value_risk, ctx.radar
    if value_risk is None and radar is not None:
        if radar.empty:
            return empty_radar(ctx)
        value_risk = value_risk_from_radar(radar)
    if value_risk is None:
        return missing(ctx, "value_risk")
    if not isinstance(value_risk, pd.DataFrame):
        raise TypeError(f"value_risk must be a DataFrame, got {type(value_risk).__name__}.")
    numeric = value_risk.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any():
        bad = [c for c in numeric.columns if numeric[c].isna().any()]
        raise ValueError(
            f"value_risk cells must be numbers (customer counts or amounts); columns {bad} are not.")
    f = ctx.fmt
    shown = numeric.rename(index=lambda t: ctx.plabel("tier", t),
                           columns=lambda t: ctx.plabel("tier", t))
    fig = plots.heatmap(shown, xlabel=ctx.pt("report.value_risk.risk"),
                        ylabel=ctx.pt("report.value_risk.value"),
                        number=lambda v: "" if not np.isfinite(v) else f"{v:,.0f}")
    cells = value_risk.rename(index=lambda t: f.label("tier", t),
                              columns=lambda t: f.label("tier", t))
    cells.columns.name = None
    return (note(ctx.t("report.value_risk.how"))
            + img(fig, "value-risk-heatmap", f.text("report.section.value-risk"))
            + table(cells, f, index_name=f.text("report.value_risk.corner")))


SECTION = Section("value-risk", render)
