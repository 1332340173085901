"""Calibration: mean prediction against mean outcome by decile, for every scorer on the outcome's scale."""

from __future__ import annotations

from repurchase_ml.models.evaluate import calibration_table
from repurchase_ml.report import plots
from repurchase_ml.report._base import ReportContext, Section, e, grid, img, missing, note, table
from repurchase_ml.report.lift import not_plotted, score_columns


def render(ctx: ReportContext) -> str:
    if not ctx.predictions:
        return missing(ctx, "predictions")
    parts = []
    for task, frame in ctx.predictions.items():
        columns = score_columns(task, frame)
        model = columns[0]
        # a rank-only score (the RFM rule) has no scale to calibrate; the rest are drawn
        shown = [model, *(c for c in frame.attrs.get("calibrated", ()) if c in columns
                          and c != model)]
        curves = {col: calibration_table(frame["y_true"], frame[col]) for col in shown}
        name = ctx.plabel("task", task)
        fig = plots.calibration_figure(
            curves, title=ctx.pt("report.calibration.plot_title", task=name),
            labels=(ctx.pt("report.calibration.x"), ctx.pt("report.calibration.y")),
            perfect=ctx.pt("report.calibration.perfect"))
        parts.append(f"<h3>{e(ctx.fmt.label('task', task))}</h3>"
                     + img(fig, f"calibration-{task}",
                           ctx.fmt.text("report.calibration.alt", task=name))
                     + not_plotted(ctx, task, columns)
                     + table(curves[model].set_index("bin").rename(
                         columns=lambda c: ctx.fmt.text(f"report.calibration.{c}")), ctx.fmt,
                         index_name=ctx.fmt.text("report.calibration.decile")))
    return note(ctx.t("report.calibration.how")) + grid(parts)


SECTION = Section("calibration", render)
