"""Know when the model goes stale: drift at scoring time, performance realised and estimated.

- :mod:`~repurchase_ml.monitoring.drift`: the reference summary a model carries
  and the drift report of scored rows against it (PSI, Jensen-Shannon,
  Wasserstein, missing share, new categories; natural drift as the floor);
- :mod:`~repurchase_ml.monitoring.performance`: realised scorecards of past
  scoring dates and confidence-based performance estimation before labels arrive;
- :mod:`~repurchase_ml.monitoring.runs`: what the score, evaluate and retrain
  jobs call, and the tidy tables the report reads.
"""

from repurchase_ml.monitoring.drift import (
    DriftReference,
    DriftThresholds,
    drift_report,
    flagged_columns,
    summarise_reference,
)
from repurchase_ml.monitoring.performance import (
    estimated_performance,
    expected_roc_auc,
    plot_performance_history,
    realised_scorecard,
)
from repurchase_ml.monitoring.runs import (
    EvaluateResult,
    drift_summary,
    evaluate_scores,
    performance_history,
    retrain_trigger,
)

__all__ = [
    "DriftReference",
    "DriftThresholds",
    "EvaluateResult",
    "drift_report",
    "drift_summary",
    "estimated_performance",
    "expected_roc_auc",
    "flagged_columns",
    "model_reference",
    "performance_history",
    "plot_performance_history",
    "realised_scorecard",
    "retrain_trigger",
    "evaluate_scores",
    "summarise_reference",
]
