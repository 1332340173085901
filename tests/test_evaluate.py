"""The scorecard: hand-computed metrics and bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from repurchase_ml.models import evaluate, scorecards_to_frame
from repurchase_ml.models.evaluate import expected_calibration_error, normalized_gini


def test_classification_metrics_by_hand():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1] * 2)
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05] * 2)
    card = evaluate(y, p, kind="classification")
    assert card.n_rows == 20
    assert card["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert card["log_loss"] == pytest.approx(log_loss(y, p))
    assert card["base_rate"] == pytest.approx(0.3)
    # top 10 % = 2 rows, both with p = 0.9 and y = 1
    assert card["precision_top10"] == 1.0
    assert card["lift_top10"] == pytest.approx(1 / 0.3)
    # top 20 % = 4 rows: p 0.9, 0.9, 0.8, 0.8 -> 2 positives
    assert card["precision_top20"] == pytest.approx(0.5)
    table = card.tables["deciles"]
    assert table["n"].tolist() == [2] * 10
    assert table["observed_rate"].tolist() == [1.0, 0.0, 1.0, 0, 0, 0, 0, 0, 0, 1.0]
    assert table["mean_predicted"].iloc[0] == pytest.approx(0.9)


def test_expected_calibration_error_by_hand():
    # bin [0.2, 0.3): mean p 0.2, observed 0.5 -> 0.3 over 4 of 6 rows;
    # bin [0.9, 1.0]: mean p 0.95, observed 1.0 -> 0.05 over 2 rows
    y = [0, 1, 0, 1, 1, 1]
    p = [0.2, 0.2, 0.2, 0.2, 0.95, 0.95]
    assert expected_calibration_error(y, p) == pytest.approx((4 * 0.3 + 2 * 0.05) / 6)


def test_regression_metrics_by_hand():
    y = np.array([0.0, 0.0, 1.0, 3.0])
    pred = np.array([0.5, 0.0, 1.0, 2.0])
    card = evaluate(y, pred, kind="count")
    assert card["mae"] == pytest.approx(1.5 / 4)
    assert card["rmse"] == pytest.approx(np.sqrt(1.25 / 4))
    assert card["total_actual"] == 4.0 and card["total_predicted"] == 3.5
    assert card["total_error_pct"] == pytest.approx(-12.5)
    assert card["normalized_gini"] == pytest.approx(1.0)
    table = card.tables["deciles"]
    assert table["total_actual"].sum() == 4.0
    assert table["total_predicted"].sum() == 3.5


def test_normalized_gini_of_a_random_score_is_near_zero():
    rng = np.random.default_rng(0)
    y = rng.gamma(1.0, 10.0, 20_000)
    assert abs(normalized_gini(y, rng.uniform(size=20_000))) < 0.03
    assert normalized_gini(y, y * 2 + 1) == pytest.approx(1.0)


def test_one_class_gives_nan_auc_not_an_error():
    card = evaluate([0, 0, 0], [0.1, 0.2, 0.3], kind="classification")
    assert np.isnan(card["roc_auc"]) and np.isnan(card["pr_auc"])
    assert card["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)


def test_scorecards_to_frame_lines_up_scorers():
    a = evaluate([0, 1, 2], [0.0, 1.0, 2.0], kind="ltv")
    b = evaluate([0, 1, 2], [1.0, 1.0, 1.0], kind="ltv")
    frame = scorecards_to_frame({"model": a, "rule": b})
    assert list(frame.columns) == ["model", "rule"]
    assert frame.loc["mae", "model"] == 0.0
    assert frame.loc["mae", "rule"] == pytest.approx(2 / 3)
    assert isinstance(frame, pd.DataFrame)


@pytest.mark.parametrize(
    "y, s, kind, match",
    [
        ([0, 1], [0.1, 0.2], "binary", "kind must be one of"),
        ([0, 1], [0.1], "classification", "same length"),
        ([], [], "count", "empty"),
        ([0, 1], [0.1, np.nan], "count", "y_score has 1 missing"),
        ([0, 2], [0.1, 0.2], "classification", "0/1 labels"),
        ([0, 1], [0.1, 1.2], "classification", "probabilities in \\[0, 1\\]"),
    ],
)
def test_evaluate_refuses_bad_input(y, s, kind, match):
    with pytest.raises(ValueError, match=match):
        evaluate(y, s, kind=kind)
