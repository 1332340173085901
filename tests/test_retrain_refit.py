"""Per-task cutoffs and the refit on every labelled cutoff (the retrain job's training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repurchase_ml as rm
from repurchase_ml.features import data_end
from repurchase_ml.models.plan import TrainingMinimums
from repurchase_ml.models.refit import propose_task_cutoffs, refit_on_all_cutoffs

FEW = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30, eval_positives=5,
                       eval_negatives=5, history_days=30)


@pytest.fixture(scope="module")
def shop():
    events, _truth = rm.make_event_log(400, "2022-01-01", "2024-01-01", random_state=7)
    horizons = {"repurchase": 30, "ltv": 90}
    task_cutoffs = propose_task_cutoffs(events, horizons, n=8)
    cutoffs = sorted({c for found in task_cutoffs.values() for c in found})
    training = rm.build_training_set(events, cutoffs=cutoffs, tasks=list(horizons),
                                     horizons=horizons, label_cutoffs=task_cutoffs)
    return events, horizons, task_cutoffs, training


def test_each_task_gets_the_newest_cutoffs_its_horizon_allows(shop):
    events, horizons, task_cutoffs, training = shop
    end = data_end(events)
    for task, found in task_cutoffs.items():
        assert len(found) == 8
        assert found[-1] + pd.Timedelta(days=horizons[task]) <= end  # labels complete
        next_month = found[-1] + pd.offsets.MonthBegin(1)
        assert next_month + pd.Timedelta(days=horizons[task]) > end  # and none newer fits
    assert task_cutoffs["repurchase"][-1] > task_cutoffs["ltv"][-1]


def test_labels_only_at_the_task_s_own_cutoffs(shop):
    _events, _horizons, task_cutoffs, training = shop
    cut = pd.to_datetime(training["cutoff"])
    for task, found in task_cutoffs.items():
        labelled = set(cut[training[f"label_{task}"].notna()])
        assert labelled == set(found)
    assert training.attrs["horizons"] == {"repurchase": 30, "ltv": 90}
    # the features at a cutoff are the same whichever tasks are labelled there
    both = training[cut == task_cutoffs["ltv"][-1]]
    assert both["label_repurchase"].notna().any() and both["label_ltv"].notna().any()


def test_label_cutoffs_outside_the_table_or_of_unknown_tasks_are_refused(shop):
    events, _horizons, task_cutoffs, _training = shop
    with pytest.raises(ValueError, match=r"label_cutoffs\['repurchase'\].*not among cutoffs"):
        rm.build_training_set(events, cutoffs=task_cutoffs["ltv"], tasks=["repurchase"],
                              label_cutoffs={"repurchase": task_cutoffs["repurchase"]})
    with pytest.raises(ValueError, match="label_cutoffs: tasks \\['churn'\\]"):
        rm.build_training_set(events, cutoffs=task_cutoffs["ltv"], tasks=["repurchase"],
                              label_cutoffs={"churn": task_cutoffs["ltv"]})


def test_refit_serves_trees_that_saw_every_labelled_cutoff(shop):
    _events, horizons, task_cutoffs, training = shop
    # hybrids: the refit must rebuild each row's classic offset (the harder path)
    bundle = rm.train_models(training, tasks=list(horizons), n_estimators=60, minimums=FEW,
                             candidates=["hybrid"])
    assert all(scorer.hybrid for scorer in bundle.scorers.values())
    # a few thousand rows: one LightGBM thread (threads follow the data size)
    assert {s.model.get_params()["lgbm_params"]["num_threads"]
            for s in bundle.scorers.values()} == {1}
    for task, found in task_cutoffs.items():  # each task tested at its own newest cutoff
        assert bundle.cutoffs[task]["test"] == found[-1]
    final = refit_on_all_cutoffs(bundle, training)
    for task in horizons:
        tested, served = bundle.scorers[task].model, final.scorers[task].model
        assert final.cutoffs[task]["refit"] == sorted(
            {*bundle.cutoffs[task]["train"], bundle.cutoffs[task]["valid"],
             bundle.cutoffs[task]["test"]})
        assert "refit" not in bundle.cutoffs[task]  # the tested bundle is left as it was
        assert served is not tested and served.booster_.num_trees() == tested.best_iteration_
        assert final.scorecards[task] is bundle.scorecards[task]  # the out-of-time numbers
    # the served scores changed (the trees saw the test months) but still rank alike
    rows = training[pd.to_datetime(training["cutoff"]) == task_cutoffs["repurchase"][-1]]
    before = bundle.predict(rows)["repurchase_probability"].to_numpy()
    after = final.predict(rows)["repurchase_probability"].to_numpy()
    assert not np.allclose(before, after)
    assert np.corrcoef(before, after)[0, 1] > 0.9


def test_a_task_below_the_promotion_minimum_is_left_out_with_a_warning(caplog):
    from repurchase_ml import jobs

    cards = {"churn": {"n_rows": 900.0, "roc_auc": 0.8},
             "second_purchase": {"n_rows": 10.0, "roc_auc": 1.0}}
    with caplog.at_level("WARNING", logger="repurchase_ml"):
        left_out = jobs._too_few_rows(cards, 200)
    assert list(left_out) == ["second_purchase"]
    assert "evaluated on 10 rows" in caplog.text
    # the 10-row AUC no longer lifts the mean: the challenger is judged on churn alone
    challenger = jobs._primary(jobs._without(cards, left_out), {"churn": "roc_auc"})
    assert jobs.decide_promotion(challenger, {"churn": 0.81}, min_improvement=0.0,
                                 tolerance=0.01)[0] is False
