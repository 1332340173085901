"""Correct use of the flat API: mypy must accept it (tests/test_static_checks.py).

Not collected by pytest (no ``test_`` prefix); only type-checked.
"""

from __future__ import annotations

import pandas as pd

import repurchase_ml as rm

events, truth = rm.make_event_log(100, "2023-01-01", "2024-01-01", random_state=0)
mapping: rm.ColumnMapping = rm.ColumnMapping(columns={"customer_id": "Customer ID"})
cutoffs: list[pd.Timestamp] = rm.propose_cutoffs(events, horizon_days=30, n=3)
training: pd.DataFrame = rm.build_training_set(events, cutoffs=cutoffs, tasks=["repurchase"])
bundle: rm.ModelBundle = rm.train_models(training, tasks=["repurchase"])
radar: pd.DataFrame = rm.churn_radar(bundle, events, as_of="2024-01-01")
settings: rm.Settings = rm.load_settings(None)
