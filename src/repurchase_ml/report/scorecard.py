"""Scorecard: every scorer beside the baselines on the same out-of-time rows, and why one ships."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from repurchase_ml.i18n import has
from repurchase_ml.report._base import (
    Raw,
    ReportContext,
    Section,
    e,
    grid,
    is_number,
    missing,
    note,
    table,
)
from repurchase_ml.report.summary import small_test_warning, small_tests


def scorecard_frame(task: str, card: Any) -> pd.DataFrame:
    """Rows = metrics, columns = scorers (the layout of ``scorecards_to_frame``)."""
    if isinstance(card, pd.DataFrame):
        return card
    if isinstance(card, Mapping):
        columns = {}
        for scorer, value in card.items():
            metrics = getattr(value, "metrics", value)
            if not isinstance(metrics, Mapping):
                raise TypeError(
                    f"scorecards[{task!r}][{scorer!r}] must be a Scorecard or a dict "
                    f"{{metric: value}}, got {type(value).__name__}.")
            columns[str(scorer)] = pd.Series(dict(metrics), dtype=float)
        return pd.DataFrame(columns)
    raise TypeError(
        f"scorecards[{task!r}] must be a DataFrame (rows = metrics, columns = scorers, as "
        f"scorecards_to_frame returns) or a dict {{scorer: Scorecard or {{metric: value}}}}, "
        f"got {type(card).__name__}.")


def _legend(ctx: ReportContext) -> str:
    """One line naming what each scorer column present in the scorecards is."""
    names: list[str] = []
    for task, card in (ctx.scorecards or {}).items():
        names += [str(c) for c in scorecard_frame(task, card).columns if str(c) not in names]
    lang = ctx.fmt.language
    known = [f"<code>{e(n)}</code>: {ctx.t(f'scorer.{n}')}" for n in names
             if has(f"scorer.{n}", lang)]
    return note(ctx.t("report.punct.sep").join(known) + ctx.t("report.punct.end")) if known else ""


def _choice(ctx: ReportContext, record: Mapping[str, Any] | None) -> str:
    if not record or "chosen" not in record:
        return ""
    valid = record.get("validation") or {}
    scores = ", ".join(f"{e(k)} {e(ctx.fmt.number(float(v)))}" for k, v in valid.items()
                       if is_number(v))
    on = ctx.t("report.scorecard.validation", metric=record.get("metric", ""),
               scores=Raw(scores)) if scores else ""
    reason = record.get("reason") or ctx.fmt.text("report.scorecard.no_reason")
    return ("<p>" + ctx.t("report.scorecard.ships", chosen=Raw(f"<b>{e(record['chosen'])}</b>"),
                          reason=reason) + on + "</p>")


def _decision(ctx: ReportContext) -> str:
    decision = ctx.decision
    if not decision or "promoted" not in decision:
        return ""
    verdict = ctx.t("report.scorecard.promoted" if decision["promoted"]
                    else "report.scorecard.not_promoted")
    lines = [f"<p><b>{ctx.t('report.scorecard.promotion')}</b> {verdict}: "
             f"{e(decision.get('reason', ''))}.</p>"]
    gate = decision.get("baseline_gate")
    if isinstance(gate, Mapping) and "passed" in gate:
        passed = ctx.t("report.scorecard.passed" if gate["passed"] else "report.scorecard.failed")
        lines.append(f"<p><b>{ctx.t('report.scorecard.gate')}</b> {passed}: "
                     f"{e(gate.get('reason', ''))}.</p>")
    return "".join(lines)


def render(ctx: ReportContext) -> str:
    head = _decision(ctx)
    scorecards, choice = ctx.scorecards or {}, ctx.choice or {}
    if not scorecards and not choice:
        return head + missing(ctx, "scorecards")
    small = small_tests(ctx)
    parts = []
    for task in [*scorecards, *(t for t in choice if t not in scorecards)]:
        part = f"<h3>{e(ctx.fmt.label('task', task))}</h3>" + _choice(ctx, choice.get(task))
        if task in small:
            part += small_test_warning(ctx, task, small[task])
        if task in scorecards:
            part += table(scorecard_frame(task, scorecards[task]), ctx.fmt,
                          index_name=ctx.fmt.text("report.scorecard.metric"))
        parts.append(part)
    same_rows = note(ctx.t("report.scorecard.same_rows")) if choice else ""
    return head + same_rows + _legend(ctx) + grid(parts)


SECTION = Section("scorecard", render)
