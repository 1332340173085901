"""Paired bootstrap comparisons: metric values agree with the reference implementations,
intervals cover what they should."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from repurchase_ml.models.compare import (
    BOOTSTRAP_METRICS,
    compare_to_reference,
    paired_bootstrap,
)
from repurchase_ml.models.evaluate import evaluate


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 3000).astype(float)
    good = y + rng.normal(0, 1.0, y.size)
    weak = y + rng.normal(0, 1.3, y.size)
    return y, good, weak


def test_metrics_agree_with_the_scorecard(data):
    y, good, _ = data
    card = evaluate(y, 1 / (1 + np.exp(-good)), kind="classification")
    assert BOOTSTRAP_METRICS["roc_auc"](y, good) == pytest.approx(roc_auc_score(y, good))
    assert BOOTSTRAP_METRICS["pr_auc"](y, good) == pytest.approx(card["pr_auc"])
    assert BOOTSTRAP_METRICS["lift_top10"](y, good) == pytest.approx(card["lift_top10"], rel=0.02)


def test_regression_metrics_agree_with_the_scorecard():
    rng = np.random.default_rng(0)
    y = rng.gamma(0.5, 50, 1000) * (rng.uniform(size=1000) < 0.4)
    pred = y * 0.5 + rng.gamma(1.0, 10, 1000)
    card = evaluate(y, pred, kind="ltv")
    assert BOOTSTRAP_METRICS["normalized_gini"](y, pred) == pytest.approx(card["normalized_gini"])
    assert BOOTSTRAP_METRICS["spearman"](y, pred) == pytest.approx(card["spearman"])


def test_interval_brackets_the_difference_and_is_paired(data):
    y, good, weak = data
    cmp = paired_bootstrap(y, good, weak, n_boot=300, random_state=1)
    assert cmp.low < cmp.difference < cmp.high
    assert cmp.low > 0  # the less noisy scorer is reliably ahead
    # the same scorer against itself: every resample differs by exactly 0
    same = paired_bootstrap(y, good, good.copy(), n_boot=50)
    assert (same.low, same.high, same.difference) == (0.0, 0.0, 0.0)
    # seeded: the same call gives the same interval
    again = paired_bootstrap(y, good, weak, n_boot=300, random_state=1)
    assert (again.low, again.high) == (cmp.low, cmp.high)
    assert "difference" in str(cmp) and "300 paired resamples" in str(cmp)


def test_compare_to_reference_table(data):
    y, good, weak = data
    table = compare_to_reference(y, {"good": good, "weak": weak, "rule": weak * 0.5 + good * 0.5},
                                 reference="weak", n_boot=100)
    assert table["scorer"].tolist() == ["good", "rule"]
    assert (table["reference_value"] == BOOTSTRAP_METRICS["roc_auc"](y, weak)).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "accuracy"}, "metric: expected one of"),
        ({"level": 1.5}, "level: expected a coverage"),
        ({"n_boot": 3}, "n_boot: expected at least 10"),
    ],
)
def test_bad_arguments_name_the_argument(data, kwargs, message):
    y, good, weak = data
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(y, good, weak, **kwargs)


def test_non_finite_scores_are_refused():
    with pytest.raises(ValueError, match="score_b: every value must be finite"):
        paired_bootstrap([0, 1, 0], [0.1, 0.2, 0.3], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([0, 1, 0], [0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="reference: 'x' is not one of"):
        compare_to_reference([0, 1], {"a": [0.1, 0.2]}, reference="x")


def test_roc_auc_bootstrap_from_counts_equals_resampling_rows():
    """The linear AUC of a resample equals the rank-sum AUC of the resampled rows."""
    from repurchase_ml.models import compare

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 700)
    a = np.round(y + rng.normal(0, 1, 700), 1)  # many ties
    b = y + rng.normal(0, 2, 700)
    fast = compare.paired_bootstrap(y, a, b, n_boot=100, random_state=3)
    replay, diffs = np.random.default_rng(3), []
    for _ in range(100):
        idx = replay.integers(0, y.size, y.size)
        diffs.append(compare._auc(y[idx], a[idx]) - compare._auc(y[idx], b[idx]))
    low, high = np.quantile(diffs, [0.025, 0.975])
    assert fast.low == pytest.approx(low, abs=1e-12)
    assert fast.high == pytest.approx(high, abs=1e-12)
