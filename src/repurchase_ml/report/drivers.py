"""Drivers: what moves each model's score, in words, with the direction it moves it."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from repurchase_ml.errors import SchemaError
from repurchase_ml.report import plots
from repurchase_ml.report._base import ReportContext, Section, e, grid, img, missing, note

#: drivers listed per task
TOP = 8


def _columns(frame: pd.DataFrame, *, what: str) -> tuple[str, str]:
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
            and c != "direction"]
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    if not text or not numeric:
        raise SchemaError(None, f"{what} needs a text column (feature name) and a numeric column "
                          f"(importance); got columns {list(frame.columns)}",
                          fix="pass the frame returned by driver_ranking")
    preferred = [c for c in ("feature", "name") if c in text]
    return (preferred[0] if preferred else text[0]), numeric[0]


def _direction(value: object) -> str:
    """``up`` (higher values raise the score), ``down`` or ``mixed``, from driver_ranking's text."""
    text = str(value).lower()
    if text.startswith("higher"):
        return "up"
    if text.startswith("lower"):
        return "down"
    return "mixed"


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _task_block(ctx: ReportContext, task: str, frame: pd.DataFrame) -> str:
    from repurchase_ml.explain import feature_label

    name_col, value_col = _columns(frame, what=f"drivers[{task!r}]" if task else "drivers")
    top = frame.sort_values(value_col, ascending=False, kind="mergesort").head(TOP)
    total = float(frame[value_col].abs().sum()) or 1.0
    directions = [_direction(d) for d in top["direction"]] if "direction" in top.columns \
        else ["mixed"] * len(top)
    lang = ctx.fmt.language
    words = [feature_label(str(n), lang) for n in top[name_col]]
    score = ctx.fmt.text(f"score.{task}") if task else ctx.fmt.text("score.default")
    items = []
    for word, code, value, d in zip(words, top[name_col], top[value_col], directions,
                                    strict=True):
        effect = ctx.t(f"report.drivers.{d}", score=score)
        arrow = {"up": '<span class="up">\u2191</span>', "down": '<span class="down">\u2193</span>'
                 }.get(d, "\u2195")
        items.append(f'<li>{arrow} <b>{e(word)}</b> \u2014 {effect} '
                     f'<span class="note">({e(ctx.fmt.share(float(value) / total, 0))}, '
                     f'<code>{e(code)}</code>)</span></li>')
    plot_lang = plots.plot_language(lang)
    plot_lang_words = words if plot_lang == lang else [feature_label(str(n), plot_lang)
                                                       for n in top[name_col]]
    fig = plots.drivers_figure(
        [_short(w) for w in plot_lang_words], top[value_col].tolist(), directions,
        title=(ctx.pt("report.drivers.plot_title", task=ctx.plabel("task", task)) if task
               else ctx.pt("report.section.drivers")),
        xlabel=ctx.pt("report.drivers.x"),
        legend={d: ctx.pt(f"report.drivers.legend_{d}") for d in ("up", "down", "mixed")})
    slug = f"drivers-{task}" if task else "drivers-all"
    head = f"<h3>{e(ctx.fmt.label('task', task))}</h3>" if task else ""
    return (head + f'<ul class="drivers">{"".join(items)}</ul>'
            + img(fig, slug, ctx.fmt.text("report.drivers.alt", task=task)))


def render(ctx: ReportContext) -> str:
    drivers = ctx.drivers
    if drivers is None or (isinstance(drivers, Mapping) and not drivers):
        return missing(ctx, "drivers")
    items = drivers.items() if isinstance(drivers, Mapping) else [("", drivers)]
    parts = []
    for task, frame in items:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"drivers must be DataFrames, got {type(frame).__name__} for {task!r}.")
        parts.append(_task_block(ctx, task, frame))
    return note(ctx.t("report.drivers.how")) + grid(parts)


SECTION = Section("drivers", render)
