"""Uplift models: whom does an action change? Learned from past randomised campaigns.

Each row of a campaign log becomes one training row: the customer's features at
the cutoff ``sent_at`` (the same :func:`~repurchase_ml.features.build_features`
as every other model, so nothing on or after the send reaches them), the arm,
and the outcome in the window after it (:func:`~repurchase_ml.campaigns.readout.window_outcomes`).
Two learners with LightGBM underneath:

* ``"t_learner"``: one model of the outcome for treated customers, one for the
  holdout; the uplift is the difference of their predictions.
* ``"x_learner"`` (Kuenzel et al. 2019): the T-learner's models impute each
  customer's individual effect (treated: outcome minus the control model;
  holdout: the treated model minus the outcome), two more models learn those
  effects, and their predictions are mixed by the treatment share.

Validation is out of time: :func:`validate_uplift` trains on the campaigns
whose windows ended before a later campaign was sent and scores that campaign
with :mod:`repurchase_ml.campaigns.metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.campaigns.metrics import auuc, qini_coefficient, uplift_at_k
from repurchase_ml.campaigns.readout import window_outcomes
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import KEY_COLUMNS
from repurchase_ml.money import incremental_value

__all__ = ["UPLIFT_METHODS", "UPLIFT_OUTCOMES", "UpliftModel", "uplift_training_set",
           "validate_uplift", "incremental_value"]

logger = logging.getLogger(__name__)

UPLIFT_METHODS: tuple[str, ...] = ("t_learner", "x_learner")
#: what the model's uplift is an effect on (columns of :func:`window_outcomes`)
UPLIFT_OUTCOMES: tuple[str, ...] = ("conversion", "net_revenue")
#: columns of a training set that are not features
_META = (*KEY_COLUMNS, "campaign_id", "group", "sent_at", "treatment", "action", "channel",
         "cost", "orders", "conversion", "net_revenue")


def uplift_training_set(campaigns: Any, events: Any, *, window_days: int,
                        spec: Any = None) -> pd.DataFrame:
    """One row per campaign-log row: features at ``sent_at``, the arm and the window's outcomes.

    Features are built with the cutoff ``sent_at`` of each row, so they read only events
    before the send. Customers without any event before it have no features and are left
    out (counted in ``attrs["without_history"]`` and logged).

    Returns
    -------
    DataFrame
        ``customer_id``, ``cutoff`` (= ``sent_at``), ``campaign_id``, ``treatment`` (0/1),
        ``cost``, ``orders``, ``conversion``, ``net_revenue``, then the feature columns.
    """
    from repurchase_ml.features import build_features

    outcomes = window_outcomes(campaigns, events, window_days=window_days, spec=spec)
    cutoffs = sorted(pd.Timestamp(s) for s in outcomes["sent_at"].unique())
    features = build_features(events, cutoffs=cutoffs, spec=spec)
    rows = outcomes.assign(cutoff=outcomes["sent_at"],
                           treatment=(outcomes["group"] == "treatment").astype(int))
    if "cost" not in rows.columns:
        rows["cost"] = 0.0
    keep = ["customer_id", "cutoff", "campaign_id", "treatment", "cost", "orders",
            "conversion", "net_revenue"]
    merged = rows[keep].merge(features, on=["customer_id", "cutoff"], how="inner",
                              validate="one_to_one")
    missing = len(rows) - len(merged)
    if missing:
        logger.warning("uplift training set: %d of %d campaign customers had no event before "
                       "their send date and are left out (no features)", missing, len(rows))
    merged.attrs["without_history"] = int(missing)
    merged.attrs["window_days"] = int(window_days)
    return merged


class UpliftModel:
    """Individual effect of an action on an outcome, from randomised campaigns.

    Parameters
    ----------
    method : {"t_learner", "x_learner"}
    outcome : {"conversion", "net_revenue"}
        What the uplift is an effect on: the chance of an order in the window, or the
        net revenue in it.
    n_estimators : int, default 300
        Boosting rounds of each LightGBM model.
    lgbm_params : dict, optional
        LightGBM settings over :func:`~repurchase_ml.models._base.capacity_params`.
    random_state : int, default 0

    Attributes
    ----------
    feature_names_ : list of str
    treatment_share_ : float
        Share of treated rows in training (the propensity of a randomised campaign).
    offer_cost_ : float
        Mean cost per treated customer in training (the default cost of a new send).
    window_days_ : int or None

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.uniform(size=4000)})
    >>> t = rng.integers(0, 2, 4000)
    >>> y = (rng.uniform(size=4000) < 0.2 + 0.3 * t * (X["x"] > 0.5)).astype(float)
    >>> m = UpliftModel(n_estimators=50).fit(X, t, y)
    >>> tau = m.predict_uplift(pd.DataFrame({"x": [0.2, 0.8]}))
    >>> bool(tau[1] - tau[0] > 0.15)
    True
    """

    def __init__(self, *, method: str = "t_learner", outcome: str = "conversion",
                 n_estimators: int = 300, lgbm_params: Mapping[str, Any] | None = None,
                 random_state: int = 0) -> None:
        self.method = method
        self.outcome = outcome
        self.n_estimators = n_estimators
        self.lgbm_params = lgbm_params
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def _train(self, X: pd.DataFrame, y: np.ndarray, objective: str) -> Any:
        import lightgbm as lgb

        from repurchase_ml.models._base import capacity_params, resolve_lgbm_params

        params = resolve_lgbm_params({**capacity_params(len(X)), **(self.lgbm_params or {})},
                                     objective=objective, random_state=int(self.random_state))
        params["verbosity"] = -1
        return lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=int(self.n_estimators))

    def fit(self, X: pd.DataFrame, treatment: Any, y: Any, *, cost: Any = None,
            window_days: int | None = None) -> UpliftModel:
        """Fit on feature rows ``X``, the arm (1 treated, 0 holdout) and the outcome."""
        if self.method not in UPLIFT_METHODS:
            raise ValueError(f"method: expected one of {list(UPLIFT_METHODS)}, got "
                             f"{self.method!r}.")
        if self.outcome not in UPLIFT_OUTCOMES:
            raise ValueError(f"outcome: expected one of {list(UPLIFT_OUTCOMES)}, got "
                             f"{self.outcome!r}.")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X: expected a pandas DataFrame of features, got "
                            f"{type(X).__name__}.")
        t = np.asarray(treatment).astype(int)
        target = np.asarray(y, dtype=float)
        if not (len(X) == len(t) == len(target)):
            raise ValueError(f"X, treatment and y must have one length, got {len(X)}, {len(t)} "
                             f"and {len(target)}.")
        if not set(np.unique(t)) <= {0, 1} or t.min() == t.max():
            raise ValueError("treatment: expected 0 (holdout) and 1 (treated), both present; a "
                             "campaign without a holdout cannot teach an uplift model.")
        if self.outcome == "conversion" and not set(np.unique(target)) <= {0.0, 1.0}:
            raise ValueError("y: outcome='conversion' expects 0/1 outcomes.")
        self.feature_names_ = [str(c) for c in X.columns]
        self.treatment_share_ = float(t.mean())
        treated_cost = np.asarray(cost, dtype=float)[t == 1] if cost is not None else np.zeros(1)
        self.offer_cost_ = float(treated_cost.mean()) if treated_cost.size else 0.0
        self.window_days_ = window_days
        objective = "binary" if self.outcome == "conversion" else "regression"
        Xt, Xc = X[t == 1], X[t == 0]
        self.treated_model_ = self._train(Xt, target[t == 1], objective)
        self.control_model_ = self._train(Xc, target[t == 0], objective)
        if self.method == "x_learner":
            effect_treated = target[t == 1] - self.control_model_.predict(Xt)
            effect_control = self.treated_model_.predict(Xc) - target[t == 0]
            self.effect_treated_model_ = self._train(Xt, effect_treated, "regression")
            self.effect_control_model_ = self._train(Xc, effect_control, "regression")
        return self

    def fit_campaigns(self, training_set: pd.DataFrame) -> UpliftModel:
        """Fit on :func:`uplift_training_set` rows (every campaign in it)."""
        features = [c for c in training_set.columns if c not in _META]
        return self.fit(training_set[features], training_set["treatment"],
                        training_set[self.outcome], cost=training_set["cost"],
                        window_days=training_set.attrs.get("window_days"))

    # ------------------------------------------------------------------ predicting

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray:
        """Expected effect of the action per row (probability points, or money)."""
        if not hasattr(self, "feature_names_"):
            raise RuntimeError("UpliftModel: call fit before predict_uplift.")
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise SchemaError(missing[0], f"feature the uplift model was trained on is missing "
                              f"({len(missing)} in all: {missing[:5]})",
                              fix="build the features with the spec the uplift model was "
                                  "trained with")
        rows = X[self.feature_names_]
        if self.method == "x_learner":
            share = self.treatment_share_
            return np.asarray(share * self.effect_control_model_.predict(rows)
                              + (1 - share) * self.effect_treated_model_.predict(rows))
        return np.asarray(self.treated_model_.predict(rows) - self.control_model_.predict(rows))

    def incremental_value(self, X: pd.DataFrame, value: Any,
                          cost: float | None = None) -> np.ndarray:
        """:func:`incremental_value` of sending the offer (cost default :attr:`offer_cost_`)."""
        return incremental_value(self.predict_uplift(X), value,
                                 self.offer_cost_ if cost is None else cost, outcome=self.outcome)


def validate_uplift(
    training_set: pd.DataFrame,
    *,
    test_campaign: str | None = None,
    methods: Sequence[str] = UPLIFT_METHODS,
    outcome: str = "conversion",
    k: float = 0.2,
    n_estimators: int = 300,
    random_state: int = 0,
) -> pd.DataFrame:
    """Out-of-time check: train on earlier campaigns, score a later one.

    The test campaign (default: the one sent last) is scored by models trained on the
    campaigns whose outcome windows ended on or before its first send, so nothing the
    test campaign saw was known in training.

    Returns
    -------
    DataFrame
        One row per method: ``method``, ``test_campaign``, ``train_campaigns``,
        ``n_train``, ``n_test``, ``auuc``, ``qini_coefficient``, ``uplift_at_k`` (observed,
        top ``k`` by the model), ``predicted_uplift_at_k`` (the model's mean there),
        ``mean_predicted_uplift`` and ``observed_uplift`` (the whole test campaign).
    """
    window = training_set.attrs.get("window_days")
    if window is None:
        raise ValueError("training_set: expected the frame of uplift_training_set (its "
                         "attrs['window_days'] is missing).")
    sends = training_set.groupby("campaign_id")["cutoff"].agg(["min", "max"]).sort_values("min")
    if test_campaign is None:
        test_campaign = str(sends.index[-1])
    if test_campaign not in sends.index:
        raise ValueError(f"test_campaign: {test_campaign!r} is not in the training set "
                         f"({list(sends.index)}).")
    test_start = sends.loc[test_campaign, "min"]
    earlier = sends.index[(sends["max"] + pd.Timedelta(days=int(window))) <= test_start]
    if len(earlier) == 0:
        raise ValueError(f"test_campaign: no campaign's window ended before {test_campaign!r} "
                         f"was sent ({test_start}); out-of-time validation needs an earlier "
                         "campaign.")
    train = training_set[training_set["campaign_id"].isin(earlier)]
    test = training_set[training_set["campaign_id"] == test_campaign]
    train.attrs = dict(training_set.attrs)
    features = [c for c in training_set.columns if c not in _META]
    y, t = test[outcome].to_numpy(dtype=float), test["treatment"].to_numpy()
    rows = []
    for method in methods:
        model = UpliftModel(method=method, outcome=outcome, n_estimators=n_estimators,
                            random_state=random_state).fit_campaigns(train)
        tau = model.predict_uplift(test[features])
        top = tau >= np.sort(tau)[::-1][max(int(np.ceil(k * len(tau))) - 1, 0)]
        rows.append({"method": method, "test_campaign": test_campaign,
                     "train_campaigns": ", ".join(map(str, earlier)), "n_train": len(train),
                     "n_test": len(test), "auuc": auuc(y, t, tau),
                     "qini_coefficient": qini_coefficient(y, t, tau),
                     "uplift_at_k": uplift_at_k(y, t, tau, k=k),
                     "predicted_uplift_at_k": float(tau[top].mean()),
                     "mean_predicted_uplift": float(tau.mean()),
                     "observed_uplift": float(y[t == 1].mean() - y[t == 0].mean())})
    return pd.DataFrame(rows)
