"""The same data and seed give the same model, bit for bit, from the raw log to the scores."""

from __future__ import annotations

import pickle

import pandas as pd

import repurchase_ml as rm
from repurchase_ml.models.plan import TrainingMinimums

TASKS = ["churn", "repurchase", "ltv"]
HORIZONS = {"ltv": 90}
#: the small logs here are below the default training minimums
FEW = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30, eval_positives=5,
                       eval_negatives=5, history_days=30)


def _train(events: pd.DataFrame) -> tuple[bytes, pd.DataFrame]:
    cutoffs = rm.propose_cutoffs(events, horizon_days=90, n=10)
    training = rm.build_training_set(events, cutoffs=cutoffs, tasks=TASKS, horizons=HORIZONS)
    bundle = rm.train_models(training, tasks=TASKS, horizons=HORIZONS, n_estimators=80,
                             random_state=7, minimums=FEW)
    features = rm.build_features(events, cutoffs=["2024-01-01"])
    models = pickle.dumps({task: bundle.models[task].booster_.model_to_string() for task in TASKS})
    return models, bundle.predict(features)


def test_same_log_and_seed_give_identical_models_and_scores():
    events, _ = rm.make_event_log(1_500, "2022-01-01", "2024-01-01", random_state=3)
    shuffled = events.sample(frac=1.0, random_state=1).reset_index(drop=True)
    first_models, first_scores = _train(events)
    second_models, second_scores = _train(shuffled)
    assert first_models == second_models
    pd.testing.assert_frame_equal(first_scores, second_scores, check_exact=True)
    assert first_scores["churn_probability"].between(0, 1).all()
