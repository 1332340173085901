"""Assemble the sections into one self-contained HTML page, and write it atomically."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from repurchase_ml._io import write_text_atomic
from repurchase_ml.i18n import Formatter
from repurchase_ml.models.plan import TrainingMinimums
from repurchase_ml.report import (
    calibration,
    campaign_readout,
    curve,
    drivers,
    lift,
    monitoring,
    radar_list,
    scorecard,
    segments,
    summary,
    value_risk,
)
from repurchase_ml.report._base import CSS, SCRIPT, ReportContext, Section, as_timestamp, e

logger = logging.getLogger(__name__)

#: the sections in page order; a new section is one module with a ``SECTION`` and a line here
SECTIONS: tuple[Section, ...] = (
    summary.SECTION,
    scorecard.SECTION,
    monitoring.SECTION,
    lift.SECTION,
    calibration.SECTION,
    drivers.SECTION,
    segments.SECTION,
    value_risk.SECTION,
    curve.SECTION,
    campaign_readout.SECTION,
    radar_list.SECTION,
)

#: ``id`` of every ``<section>`` in the report, in page order.
SECTION_IDS: tuple[str, ...] = tuple(s.id for s in SECTIONS)

#: test rows below which the summary and the scorecard warn: the training minimum for
#: evaluation rows (:class:`repurchase_ml.models.plan.TrainingMinimums`, 500)
MIN_TEST_ROWS = TrainingMinimums().eval_rows


def build_report(
    *,
    as_of: pd.Timestamp | str,
    scorecards: Mapping[str, Any] | None = None,
    predictions: Mapping[str, pd.DataFrame] | None = None,
    drivers: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    radar: pd.DataFrame | None = None,
    value_risk: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    choice: Mapping[str, Mapping[str, Any]] | None = None,
    decision: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    title: str | None = None,
    top_n: int = 25,
    curve_days: int = 180,
    language: str = "en",
    currency: str = "",
    number_style: str = "grouped",
    min_test_rows: int = MIN_TEST_ROWS,
    radar_csv: str | None = None,
    analytics_href: str | None = None,
    extras: Mapping[str, Any] | None = None,
) -> str:
    """Render the report as one self-contained HTML string.

    Parameters
    ----------
    as_of : pandas.Timestamp or str
        The date the report speaks for (the radar's as-of date). The
        repurchase curve reads only purchases before it.
    scorecards : mapping, optional
        ``{task: table}`` where ``table`` is the wide frame of
        :func:`repurchase_ml.models.evaluate.scorecards_to_frame` (one row per
        metric, one column per scorer, e.g. ``lightgbm``, ``rfm``,
        ``bgnbd``), or ``{scorer: Scorecard}``, or ``{scorer: {metric: value}}``.
        ``Scorecard.n_rows`` gives the test size when ``model`` does not.
    predictions : mapping of DataFrame, optional
        ``{task: frame}`` with a ``y_true`` column and one score column per
        scorer, on the same out-of-time rows. Every score column is drawn in
        the lift plot; the first one and those named in
        ``frame.attrs["calibrated"]`` (scores on the scale of the outcome,
        such as BG/NBD's probabilities) in the calibration plot. Scorecard
        columns without scores here are named under the plots.
    drivers : DataFrame or mapping of DataFrame, optional
        Driver ranking (:func:`repurchase_ml.explain.driver_ranking`): the
        feature name, its importance and, when present, its ``direction``
        (``"higher raises score"`` / ``"lower raises score"`` / ``"mixed"``);
        or ``{task: frame}``. Shown in words with the direction.
    radar : DataFrame, optional
        The radar list (:func:`repurchase_ml.radar.churn_radar`). Columns used
        when present: ``rank``, ``customer_id``, ``churn_probability``,
        ``value_at_risk``, ``value_if_retained``, ``segment``,
        ``lifecycle_stage``, ``reason_1`` ... (or one ``reasons`` column of
        lists), ``action_id``, ``action``. An empty radar (nobody bought in the
        year before ``as_of``) is reported in one line.
    value_risk : DataFrame, optional
        Value x risk matrix (rows value tiers, columns risk tiers, cells
        customer counts); default: counted from the radar.
    events : DataFrame, optional
        Canonical event frame for the summary counts and the repurchase curve.
    choice : mapping, optional
        ``bundle.choice``: per task the scorer that ships, why, and the
        validation metric of every candidate.
    decision : mapping, optional
        The retrain run's ``decision.json`` (``promoted``, ``reason``,
        ``baseline_gate``).
    model : mapping, optional
        ``name`` and ``version`` of the model (shown in the header) and
        ``tasks``: per task ``horizon_days``, ``train_cutoffs``,
        ``test_cutoff`` and ``test_rows`` (:func:`~repurchase_ml.report.model_facts`).
    title : str, optional
        Page title; default the catalogue's title in ``language``.
    top_n : int, default 25
        Radar rows shown (the full list is the CSV, linked with ``radar_csv``).
    curve_days : int, default 180
        Longest window of the repurchase curve.
    language : {"en", "zh"}, default "en"
        Language of every text, label and segment name.
    currency : str, default ""
        Symbol before money amounts, e.g. ``"¥"``.
    number_style : {"grouped", "wan"}, default "grouped"
        ``wan`` writes large amounts in 万 / 亿.
    min_test_rows : int, default 500
        A task tested on fewer rows gets a visible warning.
    radar_csv : str, optional
        Link (usually a file name beside the report) to the full radar CSV.
    analytics_href : str, optional
        Link to the analytics page (``repurchase-ml analyze``), shown in the header.
    extras : mapping, optional
        Inputs of added sections (see the package docstring).

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = build_report(as_of="2024-06-01",
    ...                     scorecards={"churn": {"lightgbm": {"roc_auc": 0.81},
    ...                                           "rfm": {"roc_auc": 0.70}}})
    >>> page.startswith("<!DOCTYPE html>") and 'id="scorecard"' in page
    True
    >>> "流失" in build_report(as_of="2024-06-01", language="zh")
    True
    """
    cutoff = as_timestamp(as_of, name="as_of")
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
        raise ValueError(f"top_n must be a positive integer, got {top_n!r}.")
    fmt = Formatter(language, currency=currency, number_style=number_style)
    ctx = ReportContext(
        cutoff=cutoff, fmt=fmt, scorecards=scorecards, predictions=predictions, drivers=drivers,
        radar=radar, value_risk=value_risk, events=events, choice=choice, decision=decision,
        model=model, top_n=top_n, curve_days=curve_days, min_test_rows=min_test_rows,
        radar_csv=radar_csv, analytics_href=analytics_href, extras=dict(extras or {}))
    bodies = {s.id: s.render(ctx) for s in SECTIONS}
    titles = {s.id: fmt.text(f"report.section.{s.id}") for s in SECTIONS}
    nav = "".join(f'<a href="#{s.id}">{e(titles[s.id])}</a>' for s in SECTIONS)
    if analytics_href:
        nav += f'<a href="{e(analytics_href)}">{ctx.t("report.analytics_link")}</a>'
    body = "\n".join(f'<section id="{s.id}"><h2>{e(titles[s.id])}</h2>\n{bodies[s.id]}\n'
                     "</section>" for s in SECTIONS)
    page_title = title or fmt.text("report.title")
    header = summary.header_line(ctx, pd.Timestamp.now(tz="UTC"))
    script = f"<script>{SCRIPT}</script>\n" if 'id="radar-table"' in body else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if language == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{e(page_title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{e(page_title)}</h1><p>{header}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n{script}</body>\n</html>\n"
    )


def write_report(path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Build the report (same keyword arguments as :func:`build_report`) and write it atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_report(pathlib.Path(tempfile.mkdtemp()) / "report.html", as_of="2024-06-01")
    >>> out.read_text(encoding="utf-8").count("<section id=")
    11
    """
    target = Path(path)
    if target.suffix.lower() not in {".html", ".htm"}:
        raise ValueError(f"path {str(path)!r}: the report is HTML, use a .html suffix.")
    page = build_report(**kwargs)
    written = write_text_atomic(target, page)
    logger.info("wrote report to %s (%d bytes)", written, len(page.encode("utf-8")))
    return written
