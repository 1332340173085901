"""Shared machinery of the LightGBM estimators: settings, schema memory, training.

Every estimator in :mod:`repurchase_ml.models` follows the scikit-learn
contract: keyword-only settings stored as given in ``__init__``, validation and
learning in ``fit``, learned state in attributes ending in ``_``, one
fitted-state guard. The frame a model was fitted on is remembered (names and
dtypes), and :meth:`LGBMEstimatorBase.check_features` refuses a frame that does
not match, showing the difference before LightGBM ever sees it.

Inputs follow scikit-learn's conventions as LightGBM's own wrapper does: a
pandas or polars frame keeps its column names (``feature_names_in_``); a numpy
array (or anything :func:`numpy.asarray` turns into a 2-D numeric array) is
matched by position. A compatible dtype (``float32`` where the model saw
``float64``, ``int`` where it saw ``float``) is cast, never refused; a missing,
unexpected or non-numeric column is refused with the difference.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import column_or_1d

from repurchase_ml._frames import as_pandas, is_polars
from repurchase_ml.errors import SchemaError

__all__ = [
    "DEFAULT_LGBM_PARAMS",
    "LGBMEstimatorBase",
    "capacity_params",
    "feature_frame",
    "has_feature_names",
    "match_feature_frame",
    "resolve_lgbm_params",
    "validate_feature_frame",
    "validate_target",
]

logger = logging.getLogger(__name__)

#: Settings every model starts from. ``deterministic``, ``force_row_wise`` and a
#: fixed ``num_threads`` make the same seed give the same model, bit for bit.
#: Small trees with at least 50 rows per leaf: on order logs they rank better
#: than LightGBM's own defaults (31 leaves, 20 rows), in and out of time, and
#: extrapolate less wildly to customers older than any seen in training
#: (``benchmarks/results/accuracy.md``).
DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 50,
    "feature_fraction": 0.9,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "lambda_l2": 0.0,
    "max_bin": 255,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}



def capacity_params(n_rows: int) -> dict[str, Any]:
    """LightGBM settings whose capacity grows with the number of training rows.

    Small, strongly regularised trees with a slow learning rate: ``num_leaves``
    5, ``min_child_samples = max(50, n_rows // 200)`` (hundreds of rows per
    leaf on real training sets), ``lambda_l2`` 10 and ``learning_rate`` 0.03.
    On small order logs these beat LightGBM's default trees
    (``/work/shared/docs/BASELINES.md``); user ``lgbm_params`` override them.

    Examples
    --------
    >>> capacity_params(2_000)["min_child_samples"], capacity_params(100_000)["min_child_samples"]
    (50, 500)
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or n_rows < 0:
        raise ValueError(f"n_rows must be a non-negative int, got {n_rows!r}.")
    return {"num_leaves": 5, "min_child_samples": max(50, int(n_rows) // 200),
            "lambda_l2": 10.0, "learning_rate": 0.03}


# settings the estimator owns; a user passing them in lgbm_params would be ignored silently
_RESERVED_PARAMS = ("objective", "seed", "random_state", "num_iterations", "n_estimators")


def resolve_lgbm_params(
    lgbm_params: Mapping[str, Any] | None, *, objective: str, random_state: int
) -> dict[str, Any]:
    """Merge user settings over :data:`DEFAULT_LGBM_PARAMS` for one objective.

    Parameters
    ----------
    lgbm_params : mapping or None
        LightGBM parameters that override the defaults.
    objective : str
        LightGBM objective owned by the estimator (``"binary"``, ``"poisson"``, ...).
    random_state : int
        Seed for every random choice LightGBM makes.

    Returns
    -------
    dict
        Parameters ready for :func:`lightgbm.train`.

    Examples
    --------
    >>> p = resolve_lgbm_params({"num_leaves": 7}, objective="poisson", random_state=3)
    >>> p["num_leaves"], p["objective"], p["seed"], p["deterministic"]
    (7, 'poisson', 3, True)
    """
    params = dict(DEFAULT_LGBM_PARAMS)
    if lgbm_params is not None:
        if not isinstance(lgbm_params, Mapping):
            raise TypeError(
                f"lgbm_params must be a dict of LightGBM parameters or None, "
                f"got {type(lgbm_params).__name__}."
            )
        reserved = sorted(set(lgbm_params) & set(_RESERVED_PARAMS))
        if reserved:
            raise ValueError(
                f"lgbm_params must not set {reserved}: the objective is chosen by the "
                "estimator, the seed by random_state and the number of rounds by "
                "n_estimators. Use those settings instead."
            )
        params.update(lgbm_params)
    if not isinstance(random_state, int | np.integer) or isinstance(random_state, bool):
        raise TypeError(f"random_state must be an int, got {random_state!r}.")
    params["objective"] = objective
    params["seed"] = int(random_state)
    return params


def _is_numeric_dtype(dtype: Any) -> bool:
    return pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    )


#: column names given to the features of an array, by position (LightGBM's own convention)
ARRAY_COLUMN = "Column_{}"


def _as_2d_array(X: Any, *, name: str) -> np.ndarray:
    """``X`` (a numpy array or anything array-like) as a 2-D real array, or a clear error."""
    import scipy.sparse

    if scipy.sparse.issparse(X):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array "
                        f"({name}.toarray()) or a DataFrame.")
    arr = np.asarray(X)
    if np.iscomplexobj(arr):
        raise ValueError(f"{name}: Complex data not supported; pass real-valued features.")
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D table of feature columns, got a {arr.ndim}-D array of "
            f"shape {arr.shape}. Reshape your data either using array.reshape(-1, 1) if it "
            "holds one feature or array.reshape(1, -1) if it holds one row.")
    if arr.dtype.kind not in "biuf":
        arr = arr.astype(np.float64)  # object or string numbers; a non-number raises here
    return arr


def feature_frame(X: Any, *, name: str = "X") -> pd.DataFrame:
    """``X`` as a DataFrame of numeric features: names kept from a frame, positional for arrays.

    A pandas or polars frame keeps its columns; a numpy array (or a list of
    rows) gets the names ``Column_0``, ``Column_1``, ... (as LightGBM's
    wrapper names them). The result passes :func:`validate_feature_frame`.

    Examples
    --------
    >>> feature_frame(np.array([[1.0, 2.0]])).columns.tolist()
    ['Column_0', 'Column_1']
    >>> import polars as pl
    >>> feature_frame(pl.DataFrame({"recency": [3.0]})).columns.tolist()
    ['recency']
    """
    if is_polars(X):
        X = as_pandas(X, argument=name)
    if isinstance(X, pd.DataFrame) and not has_feature_names(X):
        X = X.set_axis(_positional_names(X.shape[1]), axis=1)  # e.g. pd.DataFrame(array)
    elif not isinstance(X, pd.DataFrame):
        arr = _as_2d_array(X, name=name)
        X = pd.DataFrame(arr, columns=_positional_names(arr.shape[1]), copy=False)
    return validate_feature_frame(X, name=name)


def _positional_names(n: int) -> list[str]:
    return [ARRAY_COLUMN.format(i) for i in range(n)]


def has_feature_names(X: Any) -> bool:
    """Whether ``X`` is a frame whose columns name its features (scikit-learn's rule).

    A frame without a string column name (``pd.DataFrame(array)``: 0, 1, ...)
    is matched by position, as an array is.
    """
    if is_polars(X):
        return True
    return isinstance(X, pd.DataFrame) and X.shape[1] > 0 and any(
        isinstance(c, str) for c in X.columns)


def validate_feature_frame(X: Any, *, name: str = "X") -> pd.DataFrame:
    """Check that ``X`` is a DataFrame of uniquely named numeric columns.

    Examples
    --------
    >>> validate_feature_frame(pd.DataFrame({"a": [1.0]})).columns.tolist()
    ['a']
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame of feature columns (so that names and "
            f"dtypes can be checked), got {type(X).__name__}."
        )
    if X.shape[1] == 0:
        raise SchemaError(None, f"{name} has no feature columns: 0 feature(s) (shape="
                          f"{X.shape}) while a minimum of 1 is required",
                          fix="pass the feature columns")
    dup = X.columns[X.columns.duplicated()].tolist()
    if dup:
        raise SchemaError(
            str(dup[0]), f"{name} has duplicated column names", examples=dup,
            n_rows=None, fix="give every feature column a unique name",
        )
    non_str = [c for c in X.columns if not isinstance(c, str)]
    if non_str:
        raise SchemaError(
            None, f"{name} column names must be strings, got {non_str[:5]!r}",
            fix="rename the columns, e.g. X.columns = X.columns.astype(str)",
        )
    bad = [c for c in X.columns if not _is_numeric_dtype(X[c].dtype)]
    if bad:
        raise SchemaError(
            bad[0],
            f"{name} feature columns must be numeric or bool; non-numeric: "
            + ", ".join(f"{c!r} ({X[c].dtype})" for c in bad[:5]),
            fix="encode them as numbers or drop them before fitting",
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows; fit and predict need at least one row.")
    return X


def validate_target(y: Any, *, n_rows: int, name: str = "y") -> np.ndarray:
    """Return ``y`` as a finite float array of length ``n_rows`` or raise.

    Examples
    --------
    >>> validate_target([0, 1, 1], n_rows=3).tolist()
    [0.0, 1.0, 1.0]
    """
    arr = target_array(y, name=name)
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {arr.shape[0]} values but X has {n_rows} rows; pass one target per row."
        )
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}.") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} missing or infinite values (e.g. at rows "
            f"{np.flatnonzero(bad)[:5].tolist()}); keep only rows inside the task's "
            "population (label not NaN) before fitting."
        )
    return arr


def target_array(y: Any, *, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array (a column vector is flattened with a warning, as scikit-learn does).

    Examples
    --------
    >>> target_array(["a", "b"]).tolist()
    ['a', 'b']
    """
    if y is None:
        raise ValueError(f"{name}: this estimator requires y to be passed, but the target y is "
                         "None. Fix: pass one target per row of X.")
    if is_polars(y):
        y = y.to_numpy()
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = column_or_1d(arr, warn=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    return arr


def validate_sample_weight(sample_weight: Any, *, n_rows: int) -> np.ndarray | None:
    """``sample_weight`` as finite non-negative floats, one per row, or None.

    Examples
    --------
    >>> validate_sample_weight([1, 2], n_rows=2).tolist()
    [1.0, 2.0]
    """
    if sample_weight is None:
        return None
    weights = validate_target(sample_weight, n_rows=n_rows, name="sample_weight")
    if (weights < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got {int((weights < 0).sum())} negative "
                         "weights. Fix: pass non-negative weights (0 leaves a row out).")
    if not weights.any():
        raise ValueError("sample_weight: every weight is 0, so there is nothing to fit. Fix: "
                         "give at least one row a positive weight.")
    return weights


def _cast_target(given: Any, expected: str) -> str:
    """The dtype a compatible column is cast to: the training dtype when that is lossless."""
    try:
        target = np.dtype(expected)
        if target.kind == "f" or np.can_cast(np.dtype(given), target, casting="safe"):
            return expected
    except TypeError:  # a pandas extension dtype (nullable Int64, Float64, boolean)
        pass
    return "float64"  # LightGBM reads every feature as a float anyway


def match_feature_frame(X: Any, dtypes: Mapping[str, str], *, name: str = "X") -> pd.DataFrame:
    """Return ``X[list(dtypes)]`` when names match ``dtypes`` and dtypes are compatible, else a diff.

    A numeric or boolean column of another numeric dtype than in training
    (``float32`` for ``float64``, ``int64`` for ``float64``) is cast to the
    training dtype (``float64`` when that would lose values); only a missing,
    unexpected or non-numeric column is refused.

    Parameters
    ----------
    X : pandas.DataFrame
        Frame to check.
    dtypes : mapping
        Expected column name -> dtype string, in training order.
    name : str
        How to call ``X`` in messages.

    Raises
    ------
    repurchase_ml.errors.SchemaError
        Listing the missing, unexpected and wrongly typed columns.

    Examples
    --------
    >>> X = pd.DataFrame({"b": [1.0], "a": [2.0]})
    >>> match_feature_frame(X, {"a": "float64", "b": "float64"}).columns.tolist()
    ['a', 'b']
    >>> match_feature_frame(X.astype("float32"), {"a": "float64", "b": "float64"}).dtypes.tolist()
    [dtype('float64'), dtype('float64')]
    >>> match_feature_frame(X, {"a": "float64", "c": "float64"})
    Traceback (most recent call last):
    ...
    repurchase_ml.errors.SchemaError: column 'c': X does not match the frame the model was fitted on (missing 1: ['c']; unexpected 1: ['b']). Fix: build features with the same code and spec as in training, select model.feature_names_in_ and cast with X.astype(model.feature_dtypes_).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with the training columns, got {type(X).__name__}."
        )
    expected = list(dtypes)
    missing = [c for c in expected if c not in X.columns]
    unexpected = [c for c in X.columns if c not in dtypes]
    differ = [c for c in expected if c in X.columns and str(X[c].dtype) != dtypes[c]]
    wrong = [c for c in differ
             if not (_is_numeric_dtype(X[c].dtype) and _is_numeric_dtype(dtypes[c]))]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {missing[:10]!r}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {unexpected[:10]!r}")
        if wrong:
            parts.append(
                f"wrong dtype {len(wrong)}: "
                + "; ".join(f"{c!r} expected {dtypes[c]}, got {X[c].dtype}" for c in wrong[:10])
            )
        first = (missing or unexpected or wrong)[0]
        raise SchemaError(
            str(first),
            f"{name} does not match the frame the model was fitted on (" + "; ".join(parts) + ")",
            fix="build features with the same code and spec as in training, select "
            "model.feature_names_in_ and cast with X.astype(model.feature_dtypes_)",
        )
    out = X.loc[:, expected]
    if differ:
        out = out.astype({c: _cast_target(X[c].dtype, dtypes[c]) for c in differ})
    return out


class LGBMEstimatorBase(BaseEstimator):
    """Common base: settings, schema memory, fitted-state guard and booster training.

    Subclasses implement ``fit`` and the prediction methods, calling
    :meth:`_remember_schema` in ``fit`` and :meth:`check_features` before
    predicting.
    """

    def __init__(
        self,
        *,
        lgbm_params: dict[str, Any] | None = None,
        n_estimators: int = 1000,
        early_stopping_rounds: int = 50,
        random_state: int = 0,
    ) -> None:
        self.lgbm_params = lgbm_params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    # -- scikit-learn plumbing -------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # LightGBM routes missing values itself
        return tags

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Settings; with ``deep`` also each LightGBM parameter as ``lgbm_params__<name>``.

        So ``GridSearchCV(model, {"lgbm_params__num_leaves": [7, 15]})`` searches
        one LightGBM parameter while the others in ``lgbm_params`` stay.
        """
        params = super().get_params(deep=deep)
        if deep and isinstance(self.lgbm_params, Mapping):
            params.update({f"lgbm_params__{k}": v for k, v in self.lgbm_params.items()})
        return params

    def set_params(self, **params: Any) -> LGBMEstimatorBase:
        """Set settings; ``lgbm_params__<name>=value`` sets one LightGBM parameter.

        The ``lgbm_params`` dict is copied, never changed in place (a clone
        shares it with its original).

        Examples
        --------
        >>> from repurchase_ml.models import OrderCountRegressor
        >>> m = OrderCountRegressor(lgbm_params={"num_leaves": 7})
        >>> m.set_params(lgbm_params__min_child_samples=20).lgbm_params
        {'num_leaves': 7, 'min_child_samples': 20}
        """
        nested = {key.removeprefix("lgbm_params__"): params.pop(key)
                  for key in [k for k in params if k.startswith("lgbm_params__")]}
        super().set_params(**params)
        if nested:
            self.lgbm_params = {**dict(self.lgbm_params or {}), **nested}
        return self

    # -- fitted-state guard -------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "feature_dtypes_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )

    @property
    def feature_importances_(self) -> np.ndarray:
        """Share of the total split gain per feature (sums to 1; zeros when no split was made).

        For the two-part LTV model, the gains of both boosters are added.
        """
        self._check_fitted()
        gain = np.zeros(self.n_features_in_)
        for booster in (self.booster_, getattr(self, "amount_booster_", None)):
            if booster is not None:
                gain += np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)
        total = gain.sum()
        return gain / total if total > 0 else gain

    # -- schema ---------------------------------------------------------------
    def _fit_features(self, X: Any) -> pd.DataFrame:
        """The training features as a frame, their schema remembered (names only from a frame)."""
        named = has_feature_names(X)
        frame = feature_frame(X)
        for attr in ("feature_names_in_", "feature_dtypes_", "n_features_in_"):
            self.__dict__.pop(attr, None)  # a refit on an array forgets the old names
        if named:
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self._fit_schema = {c: str(frame[c].dtype) for c in frame.columns}
        return frame

    def _remember_schema(self, X: pd.DataFrame) -> None:
        """Mark the model fitted with the schema :meth:`_fit_features` read (called last in fit)."""
        self.n_features_in_ = int(X.shape[1])
        self.feature_dtypes_ = self.__dict__.pop("_fit_schema")

    def check_features(self, X: Any) -> pd.DataFrame:
        """Return ``X`` with the training columns in training order, or raise.

        Parameters
        ----------
        X : pandas or polars DataFrame, or 2-D array
            Feature rows to score. A frame is matched by column name
            (identifier columns are not allowed: select the feature columns
            first); an array by position. Compatible dtypes are cast.

        Returns
        -------
        pandas.DataFrame
            ``X[feature_names_in_]``, numeric columns cast to the training dtypes.

        Raises
        ------
        repurchase_ml.errors.SchemaError
            When a column is missing, unexpected or not numeric; the message
            lists every difference.
        """
        self._check_fitted()
        return self._schema_frame(X, name="X")

    def _schema_frame(self, X: Any, *, name: str) -> pd.DataFrame:
        schema = getattr(self, "_fit_schema", None) or self.feature_dtypes_
        names_known = hasattr(self, "feature_names_in_")
        if is_polars(X):
            X = as_pandas(X, argument=name)
        if has_feature_names(X) and names_known:
            return match_feature_frame(X, schema, name=name)
        arr = X.to_numpy() if isinstance(X, pd.DataFrame) else _as_2d_array(X, name=name)
        if arr.shape[1] != len(schema):
            raise ValueError(f"{name} has {arr.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {len(schema)} features as input.")
        if has_feature_names(X):
            warnings.warn(f"{name} has feature names, but {type(self).__name__} was fitted "
                          "without feature names; columns are matched by position.",
                          UserWarning, stacklevel=3)
            frame = X.set_axis(list(schema), axis=1)
        else:
            if names_known:
                warnings.warn(f"{name} does not have valid feature names, but "
                              f"{type(self).__name__} was fitted with feature names; columns "
                              "are matched by position.", UserWarning, stacklevel=3)
            frame = pd.DataFrame(arr, columns=list(schema), copy=False)
        return match_feature_frame(validate_feature_frame(frame, name=name), schema, name=name)

    # -- training -------------------------------------------------------------
    def _validate_rounds(self) -> None:
        for name in ("n_estimators", "early_stopping_rounds"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")

    def _train_booster(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        objective: str,
        eval_set: tuple[pd.DataFrame, np.ndarray] | None,
        callbacks: Sequence[Callable[..., Any]] | None = None,
        extra_params: Mapping[str, Any] | None = None,
        init_score: np.ndarray | None = None,
        eval_init_score: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[lgb.Booster, int, dict[str, Any]]:
        """Train one booster; early-stop on ``eval_set`` when given.

        ``init_score`` / ``eval_init_score`` are per-row starting points on the
        link scale (LightGBM does not store them: add them to ``raw_score``
        when predicting). ``sample_weight`` weighs the training rows.
        Returns the booster, the number of rounds kept and
        the evaluation history.
        """
        self._validate_rounds()
        params = resolve_lgbm_params(
            self.lgbm_params, objective=objective, random_state=self.random_state
        )
        if extra_params:
            params.update(extra_params)
        train = lgb.Dataset(X, label=y, init_score=init_score, weight=sample_weight)
        history: dict[str, Any] = {}
        cbs: list[Callable[..., Any]] = [lgb.record_evaluation(history)]
        valid_sets = []
        if eval_set is not None:
            X_valid, y_valid = eval_set
            valid_sets.append(lgb.Dataset(X_valid, label=y_valid, init_score=eval_init_score,
                                          reference=train))
            cbs.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        cbs.extend(callbacks or ())
        booster = lgb.train(
            params,
            train,
            num_boost_round=int(self.n_estimators),
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            callbacks=cbs,
        )
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        if eval_set is not None and best < booster.current_iteration():
            # keep only the rounds up to the best one, so every consumer (SHAP, pickles,
            # model_to_string) sees the same model as predict does
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        logger.debug("%s: trained %d rounds (objective=%s)", type(self).__name__, best, objective)
        return booster, int(best), history

    def _offsets(self, init_score: Any, n_rows: int, *, name: str) -> np.ndarray | None:
        """``init_score`` as a finite float array of ``n_rows`` values, or None."""
        if init_score is None:
            return None
        arr = np.asarray(init_score, dtype=float)
        if arr.shape != (n_rows,):
            raise ValueError(
                f"{name} must hold one link-scale offset per row ({n_rows}), got shape "
                f"{arr.shape}; pass the classic model's prediction for each row."
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{name} has {int(bad.sum())} missing or infinite offsets (e.g. at rows "
                f"{np.flatnonzero(bad)[:5].tolist()}); clip the classic prediction away from "
                "0 (and 1 for probabilities) before taking its logit or log."
            )
        return arr

    def _fit_offsets(
        self, init_score: Any, eval_init_score: Any, X: pd.DataFrame,
        valid: tuple[pd.DataFrame, np.ndarray] | None,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Checked training and validation offsets; both or neither when there is an eval_set."""
        offset = self._offsets(init_score, len(X), name="init_score")
        if valid is None:
            if eval_init_score is not None:
                raise ValueError("eval_init_score was given without eval_set; pass both or "
                                 "neither.")
            return offset, None
        valid_offset = self._offsets(eval_init_score, len(valid[0]), name="eval_init_score")
        if (offset is None) != (valid_offset is None):
            raise ValueError(
                "init_score and eval_init_score go together: a hybrid early-stopped on rows "
                "without their offsets would be judged on another model. Pass both or neither."
            )
        return offset, valid_offset

    def _raw_margin(self, booster: Any, X: pd.DataFrame, init_score: Any) -> np.ndarray:
        """Margin of ``booster`` plus the row offsets; refuses a missing offset of a hybrid."""
        offset = self._offsets(init_score, len(X), name="init_score")
        if getattr(self, "fitted_with_offset_", False) and offset is None:
            raise ValueError(
                f"this {type(self).__name__} was boosted from an offset (init_score) and "
                "learned only the correction to it; pass init_score=<the same link-scale "
                "classic prediction> for these rows."
            )
        margin = np.asarray(booster.predict(X, raw_score=True), dtype=float)
        return margin if offset is None else margin + offset

    def _split_eval_set(
        self,
        eval_set: Any,
        X: pd.DataFrame,
        *,
        target_check: Callable[[np.ndarray, str], np.ndarray],
    ) -> tuple[pd.DataFrame, np.ndarray] | None:
        if eval_set is None:
            return None
        if not isinstance(eval_set, tuple | list) or len(eval_set) != 2:
            raise TypeError("eval_set must be a pair (X_valid, y_valid) or None; pass the "
                            "validation offsets as eval_init_score.")
        X_valid = self._schema_frame(eval_set[0], name="eval_set X")
        y_valid = self._valid_target(eval_set[1], n_rows=len(X_valid))
        return X_valid, target_check(y_valid, "eval_set y")

    def _valid_target(self, y: Any, *, n_rows: int) -> np.ndarray:
        """The ``eval_set`` target as floats (a classifier encodes its labels first)."""
        return validate_target(y, n_rows=n_rows, name="eval_set y")
