"""repurchase_ml: who is about to leave, who will buy again, and what each customer is worth.

The public API is flat: ``from repurchase_ml import build_features, churn_radar``.
Names resolve lazily on first use, so ``import repurchase_ml`` stays fast and
never imports MLflow or SHAP.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (resolved on first attribute access)
_LAZY: dict[str, str] = {
    "SchemaError": "repurchase_ml.errors",
    "EVENT_TYPES": "repurchase_ml.events",
    "ColumnMapping": "repurchase_ml.events",
    "ValidationReport": "repurchase_ml.events",
    "read_events": "repurchase_ml.events",
    "validate_events": "repurchase_ml.events",
    "check_canonical": "repurchase_ml.events",
    "make_event_log": "repurchase_ml.datasets",
    "load_cdnow": "repurchase_ml.datasets",
    "load_cdnow_sample": "repurchase_ml.datasets",
    "load_taobao": "repurchase_ml.datasets",
    "load_online_retail": "repurchase_ml.datasets",
    "find_data_file": "repurchase_ml.datasets",
    "FeatureSpec": "repurchase_ml.features",
    "FeatureInfo": "repurchase_ml.features",
    "TASKS": "repurchase_ml.features",
    "TaskSpec": "repurchase_ml.features",
    "build_features": "repurchase_ml.features",
    "build_training_set": "repurchase_ml.features",
    "category_price_levels": "repurchase_ml.features",
    "compute_features": "repurchase_ml.features",
    "feature_info": "repurchase_ml.features",
    "feature_names": "repurchase_ml.features",
    "make_labels": "repurchase_ml.features",
    "propose_cutoffs": "repurchase_ml.features",
    "CustomFeature": "repurchase_ml.features",
    "register_feature": "repurchase_ml.features",
    "CLVFit": "repurchase_ml.models",
    "LGBMTaskClassifier": "repurchase_ml.models",
    "LTVRegressor": "repurchase_ml.models",
    "ModelBundle": "repurchase_ml.models",
    "OrderCountRegressor": "repurchase_ml.models",
    "Scorecard": "repurchase_ml.models",
    "TuningResult": "repurchase_ml.models",
    "evaluate": "repurchase_ml.models",
    "expected_next_order_date": "repurchase_ml.models",
    "fit_bgnbd_baseline": "repurchase_ml.models",
    "fit_clv_models": "repurchase_ml.models",
    "predict_clv": "repurchase_ml.models",
    "purchase_summary": "repurchase_ml.models",
    "rfm_heuristic_score": "repurchase_ml.models",
    "run_rate_baseline": "repurchase_ml.models",
    "scorecards_to_frame": "repurchase_ml.models",
    "train_models": "repurchase_ml.models",
    "tune_estimator": "repurchase_ml.models",
    "build_report": "repurchase_ml.report",
    "write_report": "repurchase_ml.report",
    "repurchase_curve": "repurchase_ml.report",
    "bundle_report_inputs": "repurchase_ml.report",
    "contributions": "repurchase_ml.explain",
    "driver_ranking": "repurchase_ml.explain",
    "top_drivers": "repurchase_ml.explain",
    "typical_values": "repurchase_ml.explain",
    "describe_feature": "repurchase_ml.explain",
    "reasons": "repurchase_ml.explain",
    "plot_drivers": "repurchase_ml.explain",
    "plot_dependence": "repurchase_ml.explain",
    "RFM_SEGMENT_RULES": "repurchase_ml.segments",
    "LIFECYCLE_STAGES": "repurchase_ml.segments",
    "rfm_scores": "repurchase_ml.segments",
    "lifecycle_stage": "repurchase_ml.segments",
    "behaviour_clusters": "repurchase_ml.segments",
    "value_risk_matrix": "repurchase_ml.segments",
    "segment_migration": "repurchase_ml.segments",
    "plot_segment_sizes": "repurchase_ml.segments",
    "plot_segment_migration": "repurchase_ml.segments",
    "ActionTable": "repurchase_ml.segments",
    "recommend_actions": "repurchase_ml.segments",
    "category_transitions": "repurchase_ml.categories",
    "category_affinity": "repurchase_ml.categories",
    "browse_to_buy_affinity": "repurchase_ml.categories",
    "repurchase_by_first_category": "repurchase_ml.categories",
    "NextCategoryModel": "repurchase_ml.categories",
    "evaluate_next_category": "repurchase_ml.categories",
    "RADAR_COLUMNS": "repurchase_ml.radar",
    "churn_radar": "repurchase_ml.radar",
    "radar_from_scores": "repurchase_ml.radar",
    "write_radar": "repurchase_ml.radar",
    "value_if_retained": "repurchase_ml.radar",
    "radar_metrics": "repurchase_ml.radar",
    "evaluate_radar": "repurchase_ml.radar",
    "ConfigError": "repurchase_ml.config",
    "Settings": "repurchase_ml.config",
    "load_settings": "repurchase_ml.config",
    "JobLockedError": "repurchase_ml.jobs",
    "RetrainResult": "repurchase_ml.jobs",
    "ScoreResult": "repurchase_ml.jobs",
    "decide_promotion": "repurchase_ml.jobs",
    "load_event_log": "repurchase_ml.jobs",
    "run_demo": "repurchase_ml.jobs",
    "run_retrain": "repurchase_ml.jobs",
    "run_score": "repurchase_ml.jobs",
    "run_validate": "repurchase_ml.jobs",
    "serve_command": "repurchase_ml.jobs",
    "RepurchaseModel": "repurchase_ml.tracking",
    "ServedModel": "repurchase_ml.tracking",
    "check_request": "repurchase_ml.tracking",
    "load_champion": "repurchase_ml.tracking",
    "read_campaigns": "repurchase_ml.campaigns",
    "campaign_readout": "repurchase_ml.campaigns",
    "plot_readout": "repurchase_ml.campaigns",
    "UpliftModel": "repurchase_ml.campaigns",
    "run_campaigns": "repurchase_ml.datasets",
    "CampaignDesign": "repurchase_ml.datasets",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'repurchase_ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
