"""Point-in-time behaviour features, labels and training sets.

Features at a cutoff ``t`` read only events with ``timestamp < t``; labels read
only ``t <= timestamp < t + horizon``. See :func:`build_features`,
:func:`make_labels` and :func:`build_training_set`.
"""

from repurchase_ml.features.custom import CustomFeature, register_feature
from repurchase_ml.features.engine import build_features, category_price_levels, compute_features
from repurchase_ml.features.labels import (
    TASKS,
    TaskSpec,
    build_training_set,
    data_end,
    make_labels,
    propose_cutoffs,
    sample_rows,
)
from repurchase_ml.features.saved import load_training_set, save_training_set
from repurchase_ml.features.spec import (
    FAMILIES,
    FeatureInfo,
    FeatureSpec,
    feature_info,
    feature_names,
)

__all__ = [
    "FAMILIES",
    "TASKS",
    "TaskSpec",
    "build_training_set",
    "data_end",
    "make_labels",
    "propose_cutoffs",
    "save_training_set",
    "load_training_set",
    "CustomFeature",
    "FeatureInfo",
    "FeatureSpec",
    "build_features",
    "category_price_levels",
    "compute_features",
    "feature_info",
    "feature_names",
    "register_feature",
    "sample_rows",
]
