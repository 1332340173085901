"""Models: LightGBM estimators per task, out-of-time training, tuning, evaluation, baselines."""

from __future__ import annotations

from repurchase_ml.models.baselines import (
    CLVFit,
    fit_bgnbd_baseline,
    fit_clv_models,
    predict_clv,
    purchase_summary,
    rfm_heuristic_score,
    run_rate_baseline,
)
from repurchase_ml.models.btyd import (
    CLASSIC_COLUMNS,
    ClassicModel,
    classic_predictions,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
)
from repurchase_ml.models.estimators import LGBMTaskClassifier, LTVRegressor, OrderCountRegressor
from repurchase_ml.models.evaluate import Scorecard, evaluate, scorecards_to_frame
from repurchase_ml.models.training import (
    OUTPUT_COLUMNS,
    TASK_KINDS,
    ModelBundle,
    expected_next_order_date,
    train_models,
)
from repurchase_ml.models.tuning import TuningResult, tune_estimator

__all__ = [
    "CLASSIC_COLUMNS",
    "CLVFit",
    "ClassicModel",
    "LGBMTaskClassifier",
    "LTVRegressor",
    "ModelBundle",
    "OUTPUT_COLUMNS",
    "OrderCountRegressor",
    "Scorecard",
    "TASK_KINDS",
    "TuningResult",
    "classic_predictions",
    "evaluate",
    "expected_next_order_date",
    "fit_bgnbd",
    "fit_bgnbd_baseline",
    "fit_clv_models",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "predict_clv",
    "purchase_summary",
    "rfm_heuristic_score",
    "run_rate_baseline",
    "scorecards_to_frame",
    "train_models",
    "tune_estimator",
]
