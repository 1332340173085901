"""Lift: cumulative gain of the model and of every baseline on the same out-of-time rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError
from repurchase_ml.models.evaluate import gain_curve
from repurchase_ml.report import plots
from repurchase_ml.report._base import ReportContext, Section, e, grid, img, missing, note, table


def score_columns(task: str, frame: pd.DataFrame) -> list[str]:
    """The numeric score columns of ``predictions[task]`` (everything but the outcome and keys)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"predictions[{task!r}] must be a DataFrame, got {type(frame).__name__}.")
    if "y_true" not in frame.columns:
        raise SchemaError("y_true", f"predictions[{task!r}] needs the observed outcome in a "
                          "'y_true' column", fix="add the label column under the name 'y_true'")
    scores = [c for c in frame.columns if c not in ("y_true", "customer_id", "cutoff")
              and pd.api.types.is_numeric_dtype(frame[c])]
    if not scores:
        raise SchemaError(None, f"predictions[{task!r}] has no numeric score column besides "
                          "'y_true'", fix="add one column per model (e.g. 'lightgbm', 'rfm')")
    return scores


def not_plotted(ctx: ReportContext, task: str, shown: Sequence[str]) -> str:
    """A note naming the scorecard's scorers that have no scores to plot here."""
    card = (ctx.scorecards or {}).get(task)
    if card is None:
        return ""
    from repurchase_ml.report.scorecard import scorecard_frame

    absent = [str(c) for c in scorecard_frame(task, card).columns
              if str(c) not in shown and str(c) not in ("lightgbm", "hybrid", "blend")]
    if not absent:
        return ""
    return note(ctx.t("report.lift.not_plotted", names=", ".join(absent)))


def lift_at(gain: pd.DataFrame, shares: Sequence[float]) -> dict[float, float]:
    """Lift among the top ``share`` of customers, for each share."""
    n = len(gain) - 1
    return {q: float(gain["lift"].iloc[max(1, int(np.ceil(q * n)))]) for q in shares}


def render(ctx: ReportContext) -> str:
    if not ctx.predictions:
        return missing(ctx, "predictions")
    parts = []
    for task, frame in ctx.predictions.items():
        scores = score_columns(task, frame)
        curves = {col: gain_curve(frame["y_true"], frame[col]) for col in scores}
        rows = [{"model": col, **{f"lift@{int(q * 100)}%": v
                                  for q, v in lift_at(g, (0.05, 0.1, 0.2)).items()}}
                for col, g in curves.items()]
        name = ctx.plabel("task", task)
        fig = plots.gain_figure(curves, title=ctx.pt("report.lift.plot_title", task=name),
                                labels=(ctx.pt("report.lift.x"), ctx.pt("report.lift.y")),
                                random=ctx.pt("report.lift.random"))
        parts.append(f"<h3>{e(ctx.fmt.label('task', task))}</h3>"
                     + img(fig, f"lift-{task}", ctx.fmt.text("report.lift.alt", task=name))
                     + not_plotted(ctx, task, scores)
                     + table(pd.DataFrame(rows).set_index("model"), ctx.fmt,
                             index_name=ctx.fmt.text("report.lift.scorer")))
    return note(ctx.t("report.lift.how")) + grid(parts)


SECTION = Section("lift", render)
