"""Self-contained HTML report: summary, scorecards, plots, drivers, segments and the radar.

One HTML file with inline CSS, plots embedded as PNG and one small inline
script (sorting and filtering the radar table): it opens from disk with no
network. Every input is a plain pandas object or dict, so the report can be
built from a notebook, a job or saved files without touching model internals.
Every text comes from the message catalogues (:mod:`repurchase_ml.i18n`), in
English or Chinese (``language=``), with money in the chosen currency.

Layout of the package
---------------------
``build.py``
    :func:`build_report` / :func:`write_report` and :data:`SECTIONS`, the
    sections in page order.
``_base.py``
    :class:`ReportContext` (every input, checked, and the formatter) and the
    HTML helpers (tables, notes, warnings, images), CSS and the radar script.
``plots.py``
    Every figure (palette, fonts, heatmap text contrast) in one place.
``inputs.py``
    :func:`bundle_report_inputs`: the inputs from a trained bundle.
one module per section
    ``summary``, ``scorecard``, ``lift``, ``calibration``, ``drivers``,
    ``segments``, ``value_risk``, ``curve``, ``radar_list``, ``monitoring``
    (drift and realised performance), ``campaign_readout``.

Adding a section
----------------
1. A module ``report/<name>.py`` with ``render(ctx: ReportContext) -> str``
   (the section's inner HTML; read inputs from ``ctx`` or ``ctx.extras``,
   texts from ``ctx.t("report.<name>.<key>")``, figures from ``plots``) and
   ``SECTION = Section("<id>", render)``.
2. One line in :data:`~repurchase_ml.report.build.SECTIONS`, where it belongs
   in the page.
3. ``report.section.<id>`` (its title) and its messages in both
   ``i18n/en.yaml`` and ``i18n/zh.yaml``.
4. Its input: ``build_report(extras={"<name>": ...})`` (or a keyword argument
   when every report has it). A section without its input says which one
   fills it (``_base.missing``).

The report imports nothing of the jobs or of MLflow: ``jobs.run_report``
(the ``repurchase-ml report`` command) calls it, never the other way round.
"""

from __future__ import annotations

from typing import Any

from repurchase_ml.models.evaluate import calibration_table, gain_curve
from repurchase_ml.report._base import ReportContext, Section
from repurchase_ml.report.build import (
    MIN_TEST_ROWS,
    SECTION_IDS,
    SECTIONS,
    build_report,
    write_report,
)
from repurchase_ml.report.curve import repurchase_curve
from repurchase_ml.report.inputs import bundle_report_inputs, model_facts, output_report_inputs

__all__ = [
    "MIN_TEST_ROWS",
    "SECTIONS",
    "SECTION_IDS",
    "ReportContext",
    "Section",
    "build_report",
    "bundle_report_inputs",
    "calibration_table",
    "gain_curve",
    "model_facts",
    "output_report_inputs",
    "repurchase_curve",
    "run_report",
    "write_report",
]


def __getattr__(name: str) -> Any:
    # ``run_report`` reads settings, MLflow and the data source: a job, so it lives in
    # jobs.py. Resolved on access only, so importing the report never imports the jobs.
    if name == "run_report":
        from repurchase_ml.jobs import run_report

        return run_report
    raise AttributeError(f"module 'repurchase_ml.report' has no attribute {name!r}")
