"""repurchase_ml: who is about to leave, who will buy again, and what each customer is worth.

The public API is flat: ``from repurchase_ml import build_features, churn_radar``.
Names resolve lazily on first use, so ``import repurchase_ml`` stays fast and
never imports MLflow or SHAP. Type checkers see every name with its real
signature through the ``TYPE_CHECKING`` imports below (keep them in step with
``_LAZY``; tests/test_docs.py checks that they are).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from repurchase_ml._version import __version__

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
    "save_training_set": "repurchase_ml.features",
    "load_training_set": "repurchase_ml.features",
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

if TYPE_CHECKING:  # the same names, eagerly, for type checkers (mypy, IDEs) only
    from repurchase_ml.campaigns import UpliftModel as UpliftModel
    from repurchase_ml.campaigns import campaign_readout as campaign_readout
    from repurchase_ml.campaigns import plot_readout as plot_readout
    from repurchase_ml.campaigns import read_campaigns as read_campaigns
    from repurchase_ml.categories import NextCategoryModel as NextCategoryModel
    from repurchase_ml.categories import browse_to_buy_affinity as browse_to_buy_affinity
    from repurchase_ml.categories import category_affinity as category_affinity
    from repurchase_ml.categories import category_transitions as category_transitions
    from repurchase_ml.categories import evaluate_next_category as evaluate_next_category
    from repurchase_ml.categories import (
        repurchase_by_first_category as repurchase_by_first_category,
    )
    from repurchase_ml.config import ConfigError as ConfigError
    from repurchase_ml.config import Settings as Settings
    from repurchase_ml.config import load_settings as load_settings
    from repurchase_ml.datasets import CampaignDesign as CampaignDesign
    from repurchase_ml.datasets import find_data_file as find_data_file
    from repurchase_ml.datasets import load_cdnow as load_cdnow
    from repurchase_ml.datasets import load_cdnow_sample as load_cdnow_sample
    from repurchase_ml.datasets import load_online_retail as load_online_retail
    from repurchase_ml.datasets import load_taobao as load_taobao
    from repurchase_ml.datasets import make_event_log as make_event_log
    from repurchase_ml.datasets import run_campaigns as run_campaigns
    from repurchase_ml.errors import SchemaError as SchemaError
    from repurchase_ml.events import EVENT_TYPES as EVENT_TYPES
    from repurchase_ml.events import ColumnMapping as ColumnMapping
    from repurchase_ml.events import ValidationReport as ValidationReport
    from repurchase_ml.events import check_canonical as check_canonical
    from repurchase_ml.events import read_events as read_events
    from repurchase_ml.events import validate_events as validate_events
    from repurchase_ml.explain import contributions as contributions
    from repurchase_ml.explain import describe_feature as describe_feature
    from repurchase_ml.explain import driver_ranking as driver_ranking
    from repurchase_ml.explain import plot_dependence as plot_dependence
    from repurchase_ml.explain import plot_drivers as plot_drivers
    from repurchase_ml.explain import reasons as reasons
    from repurchase_ml.explain import top_drivers as top_drivers
    from repurchase_ml.explain import typical_values as typical_values
    from repurchase_ml.features import TASKS as TASKS
    from repurchase_ml.features import CustomFeature as CustomFeature
    from repurchase_ml.features import FeatureInfo as FeatureInfo
    from repurchase_ml.features import FeatureSpec as FeatureSpec
    from repurchase_ml.features import TaskSpec as TaskSpec
    from repurchase_ml.features import build_features as build_features
    from repurchase_ml.features import build_training_set as build_training_set
    from repurchase_ml.features import category_price_levels as category_price_levels
    from repurchase_ml.features import compute_features as compute_features
    from repurchase_ml.features import feature_info as feature_info
    from repurchase_ml.features import feature_names as feature_names
    from repurchase_ml.features import load_training_set as load_training_set
    from repurchase_ml.features import make_labels as make_labels
    from repurchase_ml.features import propose_cutoffs as propose_cutoffs
    from repurchase_ml.features import register_feature as register_feature
    from repurchase_ml.features import save_training_set as save_training_set
    from repurchase_ml.jobs import JobLockedError as JobLockedError
    from repurchase_ml.jobs import RetrainResult as RetrainResult
    from repurchase_ml.jobs import ScoreResult as ScoreResult
    from repurchase_ml.jobs import decide_promotion as decide_promotion
    from repurchase_ml.jobs import load_event_log as load_event_log
    from repurchase_ml.jobs import run_demo as run_demo
    from repurchase_ml.jobs import run_retrain as run_retrain
    from repurchase_ml.jobs import run_score as run_score
    from repurchase_ml.jobs import run_validate as run_validate
    from repurchase_ml.jobs import serve_command as serve_command
    from repurchase_ml.models import CLVFit as CLVFit
    from repurchase_ml.models import LGBMTaskClassifier as LGBMTaskClassifier
    from repurchase_ml.models import LTVRegressor as LTVRegressor
    from repurchase_ml.models import ModelBundle as ModelBundle
    from repurchase_ml.models import OrderCountRegressor as OrderCountRegressor
    from repurchase_ml.models import Scorecard as Scorecard
    from repurchase_ml.models import TuningResult as TuningResult
    from repurchase_ml.models import evaluate as evaluate
    from repurchase_ml.models import expected_next_order_date as expected_next_order_date
    from repurchase_ml.models import fit_bgnbd_baseline as fit_bgnbd_baseline
    from repurchase_ml.models import fit_clv_models as fit_clv_models
    from repurchase_ml.models import predict_clv as predict_clv
    from repurchase_ml.models import purchase_summary as purchase_summary
    from repurchase_ml.models import rfm_heuristic_score as rfm_heuristic_score
    from repurchase_ml.models import run_rate_baseline as run_rate_baseline
    from repurchase_ml.models import scorecards_to_frame as scorecards_to_frame
    from repurchase_ml.models import train_models as train_models
    from repurchase_ml.models import tune_estimator as tune_estimator
    from repurchase_ml.radar import RADAR_COLUMNS as RADAR_COLUMNS
    from repurchase_ml.radar import churn_radar as churn_radar
    from repurchase_ml.radar import evaluate_radar as evaluate_radar
    from repurchase_ml.radar import radar_from_scores as radar_from_scores
    from repurchase_ml.radar import radar_metrics as radar_metrics
    from repurchase_ml.radar import value_if_retained as value_if_retained
    from repurchase_ml.radar import write_radar as write_radar
    from repurchase_ml.report import build_report as build_report
    from repurchase_ml.report import bundle_report_inputs as bundle_report_inputs
    from repurchase_ml.report import repurchase_curve as repurchase_curve
    from repurchase_ml.report import write_report as write_report
    from repurchase_ml.segments import LIFECYCLE_STAGES as LIFECYCLE_STAGES
    from repurchase_ml.segments import RFM_SEGMENT_RULES as RFM_SEGMENT_RULES
    from repurchase_ml.segments import ActionTable as ActionTable
    from repurchase_ml.segments import behaviour_clusters as behaviour_clusters
    from repurchase_ml.segments import lifecycle_stage as lifecycle_stage
    from repurchase_ml.segments import plot_segment_migration as plot_segment_migration
    from repurchase_ml.segments import plot_segment_sizes as plot_segment_sizes
    from repurchase_ml.segments import recommend_actions as recommend_actions
    from repurchase_ml.segments import rfm_scores as rfm_scores
    from repurchase_ml.segments import segment_migration as segment_migration
    from repurchase_ml.segments import value_risk_matrix as value_risk_matrix
    from repurchase_ml.tracking import RepurchaseModel as RepurchaseModel
    from repurchase_ml.tracking import ServedModel as ServedModel
    from repurchase_ml.tracking import check_request as check_request
    from repurchase_ml.tracking import load_champion as load_champion


if not TYPE_CHECKING:  # hidden from type checkers: an unknown name is an error, not Any
    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'repurchase_ml' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(__all__)
