"""Operations analytics over the canonical event log at an as-of date.

The views merchants run their month on: the repurchase funnel, time from one
order to the next (Kaplan-Meier, customers who have not come back are
censored), cohort retention, segment migration, the behaviour funnel,
activity over time, promotion-day effects, coverage of the radar's actions
and the BG/NBD diagnostics known from lifetimes and PyMC-Marketing.

Every function is point in time: it reads only events with
``timestamp < as_of`` (nothing at or after ``as_of`` changes a table), counts
orders as the features and labels do (:mod:`repurchase_ml.features.orders`:
order definition and cancellations) and prices money net of refunds. Each
returns a tidy pandas DataFrame; each ``plot_*`` takes that table, returns a
matplotlib Figure and draws on ``ax=`` when given. Events may be pandas or
polars frames. Every function that reads events takes ``spec=`` (a
:class:`~repurchase_ml.features.FeatureSpec`) for the order definition,
the cancellation window and the promotion calendar, as in training.

:func:`run_analytics` computes every table for one as-of date;
:func:`run_analyze` (the ``repurchase-ml analyze`` command) writes them as
Parquet and CSV with an HTML page.
"""

from __future__ import annotations

from repurchase_ml.analytics.actions import action_summary
from repurchase_ml.analytics.activity import activity_over_time, promotion_effects
from repurchase_ml.analytics.behaviour import behaviour_funnel
from repurchase_ml.analytics.diagnostics import (
    calibration_vs_holdout,
    cumulative_transactions,
    frequency_recency_matrix,
    period_transactions,
    probability_alive_matrix,
)
from repurchase_ml.analytics.job import run_analytics, run_analyze
from repurchase_ml.analytics.migration import segment_migration
from repurchase_ml.analytics.plots import (
    plot_action_summary,
    plot_activity_over_time,
    plot_behaviour_funnel,
    plot_calibration_vs_holdout,
    plot_cohort_retention,
    plot_cumulative_transactions,
    plot_frequency_recency_matrix,
    plot_period_transactions,
    plot_probability_alive_matrix,
    plot_promotion_effects,
    plot_repurchase_funnel,
    plot_segment_flow,
    plot_segment_migration,
    plot_time_to_next_order,
)
from repurchase_ml.analytics.repurchase import (
    cohort_retention,
    nudge_window,
    repurchase_funnel,
    return_shares,
    time_to_next_order,
)

__all__ = [
    "action_summary",
    "activity_over_time",
    "behaviour_funnel",
    "calibration_vs_holdout",
    "cohort_retention",
    "cumulative_transactions",
    "frequency_recency_matrix",
    "nudge_window",
    "period_transactions",
    "plot_action_summary",
    "plot_activity_over_time",
    "plot_behaviour_funnel",
    "plot_calibration_vs_holdout",
    "plot_cohort_retention",
    "plot_cumulative_transactions",
    "plot_frequency_recency_matrix",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_promotion_effects",
    "plot_repurchase_funnel",
    "plot_segment_flow",
    "plot_segment_migration",
    "plot_time_to_next_order",
    "probability_alive_matrix",
    "promotion_effects",
    "repurchase_funnel",
    "return_shares",
    "run_analytics",
    "run_analyze",
    "segment_migration",
    "time_to_next_order",
]
