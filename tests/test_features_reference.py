"""The engine against an independent plain-pandas implementation of the same 82 features.

The reference lives in ``benchmarks/features.py`` (the benchmark times it);
here it is the oracle for every family at once, on a synthetic log whose
rows are shuffled, read as pandas and as polars.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from repurchase_ml.datasets import make_event_log
from repurchase_ml.features import build_features

CUTOFF = "2023-07-01"


def _reference():  # -> the pandas_reference function of benchmarks/features.py
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "features.py"
    spec = importlib.util.spec_from_file_location("features_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pandas_reference


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    log, _ = make_event_log(600, "2022-01-01", "2024-01-01", random_state=11)
    return log.sample(frac=1.0, random_state=5).reset_index(drop=True)


@pytest.mark.parametrize("as_polars", [False, True])
def test_every_feature_matches_the_plain_pandas_reference(events: pd.DataFrame,
                                                          as_polars: bool) -> None:
    reference = _reference()(events, CUTOFF)
    frame = pl.from_pandas(events) if as_polars else events
    got = build_features(frame, cutoffs=[CUTOFF]).drop(columns="cutoff")
    assert len(got) > 300 and got.shape[1] == 83  # customer_id and 82 features
    assert got["customer_id"].tolist() == reference["customer_id"].tolist()
    assert set(got.columns) == set(reference.columns)
    for column in got.columns:
        np.testing.assert_allclose(got[column].to_numpy(dtype=np.float64),
                                   reference[column].to_numpy(dtype=np.float64),
                                   rtol=1e-9, atol=1e-6, err_msg=column)
