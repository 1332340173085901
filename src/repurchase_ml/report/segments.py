"""Segments: customers and value per RFM segment, and per lifecycle stage, in the reader's words."""

from __future__ import annotations

from repurchase_ml.report import plots
from repurchase_ml.report._base import ReportContext, Section, empty_radar, img, missing, table

#: (radar column, aggregation) shown per segment, when the radar has the column
_AGGREGATES = (("churn_probability", "mean"), ("predicted_ltv", "sum"),
               ("value_if_retained", "sum"), ("value_at_risk", "sum"))


def render(ctx: ReportContext) -> str:
    radar = ctx.radar
    if radar is None or "segment" not in radar.columns:
        return missing(ctx, "radar")
    if radar.empty:
        return empty_radar(ctx)
    f = ctx.fmt
    agg: dict[str, tuple[str, str]] = {"customers": ("segment", "size")}
    for col, how in _AGGREGATES:
        if col in radar.columns:
            agg[f"{col}_{how}"] = (col, how)
    counts = (radar.assign(segment=radar["segment"].astype(str))
              .groupby("segment", sort=False).agg(**agg)
              .sort_values("customers", ascending=False, kind="mergesort"))
    counts.insert(1, "share", counts["customers"] / counts["customers"].sum())
    value_col = next((c for c in ("value_at_risk_sum", "predicted_ltv_sum") if c in counts), None)
    fig = plots.segment_bars(
        [ctx.plabel("segment", s) for s in counts.index], counts["customers"].tolist(),
        counts[value_col].tolist() if value_col else None,
        titles=(ctx.pt("report.section.segments"), ctx.pt("report.col.customers"),
                ctx.pt(f"report.col.{value_col}") if value_col else ""))
    shown = counts.rename(index=lambda s: f.label("segment", s),
                          columns=lambda c: f.text(f"report.col.{c}"))
    money = {f.text(f"report.col.{c}"): f.money for c in counts.columns if c.endswith("_sum")}
    shares = {f.text(f"report.col.{c}"): f.share for c in ("share", "churn_probability_mean")}
    html = [img(fig, "segments-bars", f.text("report.section.segments")),
            table(shown, f, index_name=f.text("report.col.segment"), cells={**money, **shares})]
    if "lifecycle_stage" in radar.columns:
        stages = radar["lifecycle_stage"].astype(str).value_counts().rename(
            f.text("report.col.customers")).to_frame()
        stages.index = [f.label("lifecycle", s) for s in stages.index]
        html.append(f"<h3>{ctx.t('report.segments.lifecycle')}</h3>"
                    + table(stages, f, index_name=f.text("report.col.lifecycle_stage")))
    return "\n".join(html)


SECTION = Section("segments", render)
