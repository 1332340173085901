"""MLflow: tracking store, run logging, the served pyfunc model, registry and champion alias.

This module imports MLflow when it is first imported itself; ``import
repurchase_ml`` never imports it (the package resolves names lazily and the
jobs import this module inside their functions).

The served model is :class:`RepurchaseModel`, one ``mlflow.pyfunc`` model
that takes feature rows (the columns the models trained on, plus
``customer_id`` and optionally ``cutoff``) and returns every score per
customer with the top reasons. Its MLflow signature declares the outputs
only: with a column-based input signature MLflow 3.17 drops unknown columns
with a warning (``mlflow.models.utils._enforce_schema``), and this model
refuses them instead. The input schema travels with the model
(``feature_schema.json``) and :func:`check_request` enforces it: missing,
unexpected and non-numeric columns are refused with messages that name
columns and counts, never values.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from repurchase_ml._frames import SHAP_ROWS, fixed_sample
from repurchase_ml.config import Settings, settings_to_dict
from repurchase_ml.errors import SchemaError, StoreError
from repurchase_ml.events import KEY_COLUMNS
from repurchase_ml.radar import CHURN_HORIZON_DAYS

__all__ = [
    "CHAMPION",
    "Champion",
    "RepurchaseModel",
    "RequestRefused",
    "ServedModel",
    "check_request",
    "check_server",
    "configure",
    "champion_decision",
    "find_champion",
    "load_champion",
    "champion_version",
    "log_served_model",
    "log_settings",
    "log_training_run",
    "make_served_model",
    "pip_requirements",
    "promote",
    "register",
    "repoint_moved_project",
]

logger = logging.getLogger(__name__)

CHAMPION = "champion"
#: third-party distributions the served model imports at load and predict time
_RUNTIME_DISTRIBUTIONS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy",
                          "pyarrow", "polars", "pydantic", "pyyaml")


# --------------------------------------------------------------------------- store
def quiet_artifact_bars() -> None:
    """In a notebook without ipywidgets, turn MLflow's artifact download bars off.

    They use ``tqdm.auto``, which there prints the "IProgress not found"
    warning box and a bar on stderr for every model load; a setting the user
    made (``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``) is kept.
    """
    import importlib.util

    from repurchase_ml._progress import in_notebook

    if in_notebook() and importlib.util.find_spec("ipywidgets") is None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure(settings: Settings) -> str:
    """Point MLflow at the settings' tracking store and return the experiment id.

    The URI is always set explicitly: with nothing set, MLflow 3.17 picks the
    file store whenever a ``./mlruns`` folder exists in the working directory.
    The embedded default is SQLite at ``<project_dir>/mlflow.db`` with artifacts
    under ``<project_dir>/mlartifacts``.

    Checked first, so that a run fails in seconds with a message instead of
    hanging or printing a traceback: a tracking server must answer within
    ``PROBE_TIMEOUT`` seconds (MLflow's own client would retry for minutes);
    the project directory must be a folder; the SQLite file must be a
    database. A project directory that was moved or restored elsewhere keeps
    working: the artifact locations its store recorded under the old path are
    re-pointed to the same folders under the new one (see
    :func:`repoint_moved_project`).

    Raises
    ------
    StoreError
        The server does not answer, or the store cannot be read.
    """
    quiet_artifact_bars()
    uri = settings.tracking_uri()
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        project = settings.project_path()
        if project.exists() and not project.is_dir():
            raise ValueError(f"project_dir: {str(project)!r} is a file, not a directory; set "
                             "project_dir (or --project-dir) to a folder")
        db.parent.mkdir(parents=True, exist_ok=True)
        if not settings.tracking.uri and not settings.tracking.artifact_location:
            repoint_moved_project(db, settings.artifact_location() or "")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = settings.tracking.experiment
    try:
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = mlflow.create_experiment(
                name, artifact_location=settings.artifact_location())
        else:
            experiment_id = experiment.experiment_id
    except Exception as exc:  # SQLAlchemy, MLflow and HTTP errors alike: one message
        raise StoreError(f"cannot use the tracking store {uri!r}: {_first_line(exc)}. Fix: "
                         "check tracking.uri; for the embedded store restore mlflow.db from a "
                         "backup, or move it aside to start a new store") from None
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


#: seconds a tracking server has to answer before a run gives up
PROBE_TIMEOUT = 5.0


def check_server(uri: str, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`StoreError` unless an HTTP tracking server answers within ``timeout``.

    Any HTTP answer counts (even an error status): the server is there. A
    refused connection, a name that does not resolve or silence are reported
    with the URI.

    Examples
    --------
    >>> import socket
    >>> with socket.socket() as s:  # a port nobody listens on
    ...     s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    >>> try:
    ...     check_server(f"http://127.0.0.1:{port}", timeout=2)
    ... except StoreError as error:
    ...     print(str(error)[:60])
    cannot reach the tracking server 'http://127.0.0.1:...
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(
            f"cannot reach the tracking server {uri!r} within {timeout:g} s ({reason}). "
            "Fix: start the server, or correct tracking.uri (REPURCHASE_ML_TRACKING__URI); "
            "unset it to use the embedded SQLite store in the project directory"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


#: columns of MLflow's SQL store that hold artifact locations (MLflow 3.x)
_LOCATION_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                     ("logged_models", "artifact_location"),
                     ("model_versions", "storage_location"), ("model_versions", "source"))


def repoint_moved_project(db: Path, artifact_root: str) -> bool:
    """Re-point artifact locations after the project directory moved; True when it did.

    MLflow records absolute artifact locations. When the embedded store's
    experiments point at an ``mlartifacts`` folder other than ``artifact_root``
    (the one in the project's present place) and that one exists, the project
    was moved, copied or restored elsewhere: every location under the old root
    is rewritten to the new one, in one transaction, so the project reads and
    writes its own artifacts. When neither folder exists the artifacts are
    gone, and a :class:`StoreError` names both paths.
    """
    import sqlite3
    from urllib.parse import unquote, urlparse

    if not db.is_file() or not artifact_root.startswith("file://"):
        return False

    def local(uri: str) -> Path:
        return Path(unquote(urlparse(uri).path))

    try:
        with sqlite3.connect(db) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master "
                                                 "where type = 'table'")}
            if "experiments" not in tables:
                return False
            roots = {r[0] for r in conn.execute("select artifact_location from experiments")
                     if r[0] and r[0].startswith("file://") and r[0] != artifact_root
                     and local(r[0]).name == local(artifact_root).name}
            if not roots:
                return False
            old_roots = sorted(roots)
            if not local(artifact_root).exists():
                if any(local(r).exists() for r in old_roots):
                    return False  # only the database was copied: it still reads the original
                raise StoreError(
                    f"the tracking store {str(db)!r} keeps its artifacts in "
                    f"{str(local(old_roots[0]))!r}, which does not exist, and "
                    f"{str(local(artifact_root))!r} does not either. Fix: restore the "
                    "mlartifacts folder next to mlflow.db, or retrain into a new project")
            for old in old_roots:
                for table, column in _LOCATION_COLUMNS:
                    if table not in tables or column not in {
                            c[1] for c in conn.execute(f"pragma table_info({table})")}:
                        continue
                    conn.execute(
                        f"update {table} set {column} = ? || substr({column}, ?) "
                        f"where substr({column}, 1, ?) = ? and (length({column}) = ? "
                        f"or substr({column}, ?, 1) = '/')",
                        (artifact_root, len(old) + 1, len(old), old, len(old), len(old) + 1))
                logger.warning("the project moved: artifact locations under %s now point "
                               "under %s", old, artifact_root)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the tracking store {str(db)!r} is not a readable SQLite database "
                         f"({exc}). Fix: restore mlflow.db from a backup, or move it aside "
                         "to start a new store") from None
    return True


def pip_requirements() -> list[str]:
    """Pinned requirements of the served model, from the installed versions.

    Given explicitly so MLflow does not infer them (inference imports and runs
    the model in a subprocess and is about a hundred times slower). The
    ``repurchase_ml`` package itself is listed: the pickled bundle needs it.

    Examples
    --------
    >>> any(r.startswith("lightgbm==") for r in pip_requirements())
    True
    """
    reqs = []
    for dist in ("repurchase_ml", *_RUNTIME_DISTRIBUTIONS):
        try:
            reqs.append(f"{dist}=={_metadata.version(dist)}")
        except _metadata.PackageNotFoundError:
            continue
    return reqs


# --------------------------------------------------------------------------- served model
@dataclass
class ServedModel:
    """What the pyfunc carries: the fitted bundle and the schema it was trained on."""

    bundle: Any
    feature_dtypes: dict[str, str]
    categories: dict[str, list[Any]] = field(default_factory=dict)
    typical: dict[str, float] = field(default_factory=dict)
    spec: Any = None
    top_reasons: int = 3
    reason_task: str | None = None
    trained_cutoffs: list[str] = field(default_factory=list)
    #: :func:`~repurchase_ml.radar.value_priors` of the training population (newest cutoff):
    #: a request of a few rows is priced as the whole population would be
    value_priors: dict[str, float] | None = None
    #: horizon of value if retained: the churn task's
    churn_horizon_days: int = CHURN_HORIZON_DAYS
    #: :func:`~repurchase_ml.explain.feature_directions` of the reason model on the newest
    #: training cutoff: a request of a few rows gets the radar's reasons, not its own extremes'
    directions: dict[str, float] = field(default_factory=dict)
    #: language of the reasons (``report.language``; the score job sets it per run)
    language: str = "en"
    #: :class:`~repurchase_ml.monitoring.DriftReference` of the training rows (features,
    #: scores, segment mix; no raw rows): what the score job's drift table compares against
    drift_reference: Any = None
    #: :class:`~repurchase_ml.campaigns.UpliftModel` of the offer, when one is bundled: the
    #: scores then carry ``expected_uplift`` and ``expected_incremental_value``
    uplift_model: Any = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a champion pickled before a field existed gets that field's default."""
        for spec in fields(self):
            if spec.name not in state and spec.default_factory is not MISSING:
                state[spec.name] = spec.default_factory()
            elif spec.name not in state and spec.default is not MISSING:
                state[spec.name] = spec.default
        self.__dict__.update(state)

    @property
    def features(self) -> list[str]:
        """Feature columns in training order."""
        return list(self.feature_dtypes)

    def schema(self) -> dict[str, Any]:
        """The input schema as plain data (``feature_schema.json``)."""
        return {"id_columns": {"customer_id": "required", "cutoff": "optional"},
                "features": self.feature_dtypes, "categories": self.categories}

    def score(self, frame: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        """Every score per row of a checked feature frame, plus value at risk and reasons.

        With a churn model, ``value_if_retained`` is the radar's
        (:func:`~repurchase_ml.radar.value_if_retained` over the churn horizon,
        shrunk toward :attr:`value_priors`) and ``value_at_risk`` is churn
        probability x value if retained, as on the radar list.

        ``reasons=False`` leaves out ``reason_1..k``: the score job scores every
        customer that way and explains only the top of its radar list
        (``radar.explain_top``), since SHAP contributions cost more than all the
        scores together. A served request (the pyfunc) always gets its reasons.
        """
        frame = _plain_index(frame)
        scores = self.bundle.predict(frame)
        out = _plain_index(scores)
        if "churn_probability" in out:
            from repurchase_ml.radar import value_if_retained

            value = value_if_retained(frame, horizon_days=int(self.churn_horizon_days),
                                      priors=self.value_priors)
            out["value_if_retained"] = value.to_numpy()
            out["value_at_risk"] = out["churn_probability"] * out["value_if_retained"]
        if self.uplift_model is not None:
            out["expected_uplift"] = self.uplift_model.predict_uplift(frame)
            value = out.get("value_if_retained", 0.0)
            out["expected_incremental_value"] = self.uplift_model.incremental_value(frame, value)
        if reasons and self.reason_task is not None and self.top_reasons > 0:
            from repurchase_ml.explain import contributions
            from repurchase_ml.explain import reasons as in_words

            X = frame[self.features]
            model = self.bundle.models[self.reason_task]
            why = in_words(contributions(model, X), X, top=self.top_reasons,
                           typical=self.typical or None,
                           directions=pd.Series(self.directions, dtype=float),
                           language=self.language)
            for column in why.columns:
                out[column] = why[column].to_numpy()
        return out


def _plain_index(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a 0..n-1 index: as it is when it has one (no copy), else reset."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def make_served_model(bundle: Any, training_features: pd.DataFrame, *, spec: Any = None,
                      top_reasons: int = 3, reference_rows_per_cutoff: int = 5000,
                      uplift_model: Any = None) -> ServedModel:
    """Package a fitted bundle with the schema and typical values of its training features.

    With a churn model the served features must hold what value if retained
    reads (``orders_all``, ``days_since_first_purchase``, net revenue: the rfm
    and lifecycle families); its population priors are taken from the
    customers alive at the newest training cutoff.

    What is summarised from the training rows costs the same at any size: the
    typical values (medians) come from a seeded sample of
    :data:`~repurchase_ml._frames.SUMMARY_ROWS` rows, the directions from
    :data:`~repurchase_ml.radar.DIRECTION_SAMPLE` rows of the newest cutoff, the
    drift reference from ``reference_rows_per_cutoff`` rows per cutoff and its
    calibration from at most ``SUMMARY_ROWS`` test rows
    (:func:`~repurchase_ml.monitoring.reference.model_reference`).

    Raises
    ------
    SchemaError
        A churn model whose training features lack the value-if-retained inputs.
    """
    from repurchase_ml.explain import contributions, feature_directions, typical_values
    from repurchase_ml.radar import DIRECTION_SAMPLE, _churn_horizon, alive_mask, value_priors

    features = [c for c in training_features.columns
                if c not in KEY_COLUMNS and not c.startswith("label_")]
    dtypes = {c: str(training_features[c].dtype) for c in features}
    categories = {c: training_features[c].cat.categories.tolist() for c in features
                  if isinstance(training_features[c].dtype, pd.CategoricalDtype)}
    numeric = [c for c in features if c not in categories]
    with warnings.catch_warnings():
        # a feature that is NaN on every row has no typical value; it is left out below
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        medians = typical_values(fixed_sample(training_features)[numeric])
    typical = {k: float(v) for k, v in medians.items()
               if v is not None and math.isfinite(float(v))}
    tasks = list(getattr(bundle, "tasks", None) or bundle.models)
    reason_task = next((t for t in ("churn", "repurchase", "second_purchase") if t in tasks), None)
    cutoffs = sorted({str(pd.Timestamp(c).date()) for c in training_features["cutoff"].unique()})
    newest = training_features[(pd.to_datetime(training_features["cutoff"])
                                == pd.Timestamp(cutoffs[-1])).to_numpy()]
    priors = None
    if "churn" in tasks:
        try:
            priors = value_priors(newest[alive_mask(newest).to_numpy()])
        except SchemaError as exc:
            raise SchemaError(exc.column, "the served model prices value at risk from the "
                              "training features, which lack a value-if-retained input "
                              f"({exc.rule})", fix="build the training set with "
                              "radar.radar_spec(spec) (rfm, rhythm and lifecycle on)") from None
    directions: dict[str, float] = {}
    if reason_task is not None and reason_task in bundle.models:
        sample = newest[features].sample(min(len(newest), DIRECTION_SAMPLE), random_state=0)
        rho = feature_directions(contributions(bundle.models[reason_task], sample), sample)
        directions = {k: float(v) for k, v in rho.items() if math.isfinite(float(v))}
    from repurchase_ml.monitoring.reference import model_reference

    reference = model_reference(bundle, training_features, features=features,
                                rows_per_cutoff=reference_rows_per_cutoff)
    unserved = [c for c in getattr(uplift_model, "feature_names_", []) if c not in dtypes]
    if unserved:
        raise SchemaError(unserved[0], f"the uplift model reads {len(unserved)} feature(s) the "
                          "served model does not take", fix="train the uplift model on the "
                          "feature spec of the bundle")
    return ServedModel(bundle=bundle, feature_dtypes=dtypes, categories=categories,
                       typical=typical, spec=spec, top_reasons=top_reasons,
                       reason_task=reason_task, trained_cutoffs=cutoffs, value_priors=priors,
                       churn_horizon_days=_churn_horizon(bundle), directions=directions,
                       drift_reference=reference, uplift_model=uplift_model)


def _short(names: Sequence[Any], limit: int = 10) -> str:
    shown = [str(n)[:40] for n in list(names)[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def check_request(data: Any, served: ServedModel) -> pd.DataFrame:
    """Refuse a request frame that differs from the training schema; return it typed.

    Missing columns, unknown columns, non-numeric feature values (booleans
    included), and customer ids that are null, objects, lists or booleans are
    refused with a :class:`~repurchase_ml.errors.SchemaError`
    naming columns and counts; values are never echoed.

    Examples
    --------
    >>> served = ServedModel(bundle=None, feature_dtypes={"orders_90d": "float64",
    ...                                                   "revenue_90d": "float64"})
    >>> typed = check_request({"customer_id": ["a"], "revenue_90d": ["12.5"],
    ...                        "orders_90d": [2]}, served)
    >>> list(typed.columns), typed["revenue_90d"].tolist(), str(typed["orders_90d"].dtype)
    (['customer_id', 'cutoff', 'orders_90d', 'revenue_90d'], [12.5], 'float64')
    >>> try:
    ...     check_request({"customer_id": ["a"], "orders_90d": [2], "coupon": [1]}, served)
    ... except SchemaError as error:
    ...     print(error)
    request columns differ from the model's input schema (unknown columns: coupon; missing columns: revenue_90d). Fix: send exactly customer_id, optionally cutoff, and the feature columns listed in feature_schema.json.
    """
    if isinstance(data, Mapping):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected feature rows as a table (DataFrame), got {type(data).__name__}")
    if len(data) == 0:
        raise SchemaError(None, "the request holds no rows", fix="send at least one row")
    columns = [str(c) for c in data.columns]
    allowed = set(served.features) | set(KEY_COLUMNS)
    unknown = [c for c in columns if c not in allowed]
    missing = [c for c in ("customer_id", *served.features) if c not in columns]
    if unknown or missing:
        parts = ([f"unknown columns: {_short(unknown)}"] if unknown else []) + \
                ([f"missing columns: {_short(missing)}"] if missing else [])
        raise SchemaError(None, "request columns differ from the model's input schema ("
                          + "; ".join(parts) + ")",
                          fix="send exactly customer_id, optionally cutoff, and the "
                          "feature columns listed in feature_schema.json")
    frame = data.copy()
    frame.columns = columns
    n_null_ids = int(frame["customer_id"].isna().sum())
    if n_null_ids:
        raise SchemaError("customer_id", "customer id is null", n_rows=n_null_ids,
                          fix="send a customer_id on every row")
    ids = frame["customer_id"]
    if ids.dtype == object or pd.api.types.is_bool_dtype(ids):
        n_bad_ids = int(sum(isinstance(v, bool | np.bool_)
                            or not isinstance(v, str | int | float | np.number) for v in ids))
        if n_bad_ids:
            raise SchemaError("customer_id", "customer id is not a string or a number "
                              "(an object, a list or a boolean)", n_rows=n_bad_ids,
                              fix="send each customer_id as a string or an integer")
    if "cutoff" in frame:
        parsed = pd.to_datetime(frame["cutoff"], errors="coerce", format="ISO8601")
        bad = int((parsed.isna() & frame["cutoff"].notna()).sum())
        if bad:
            raise SchemaError("cutoff", "cutoff is not a date", n_rows=bad,
                              fix="send ISO dates such as 2024-01-01")
        frame["cutoff"] = parsed.astype("datetime64[ns]")
    else:
        frame["cutoff"] = pd.NaT
        frame["cutoff"] = frame["cutoff"].astype("datetime64[ns]")
    columns_out: dict[str, Any] = {}
    for name in served.categories:
        column = frame[name]
        as_cat = pd.Categorical(column, categories=served.categories[name])
        bad = int((pd.isna(as_cat) & column.notna()).sum())
        if bad:
            raise SchemaError(name, "value is not one of the categories seen in training",
                              n_rows=bad, fix="send one of the training categories or null")
        columns_out[name] = as_cat
    numeric = {c: d for c, d in served.feature_dtypes.items() if c not in served.categories}
    block = frame[list(numeric)].copy()
    for name in block.columns:  # JSON gives numbers already; only other columns are parsed
        column = block[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            continue
        # a boolean is not a number here, though pandas would read True as 1
        booleans = column.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        parsed = pd.to_numeric(column.mask(booleans), errors="coerce")
        bad = int(((parsed.isna() & column.notna()) | booleans).sum())
        if bad:
            raise SchemaError(name, f"value is not a number (expected {numeric[name]})",
                              n_rows=bad, fix="send numbers or null")
        block[name] = parsed
    by_dtype: dict[str, list[str]] = {}
    for name, dtype in numeric.items():
        by_dtype.setdefault(dtype, []).append(name)
    # one conversion per dtype (all float64 under the feature contract), not per column
    parts = [pd.DataFrame(block[cols].to_numpy(dtype=dtype), columns=cols, index=frame.index)
             for dtype, cols in by_dtype.items()]
    typed = pd.concat([frame[["customer_id", "cutoff"]], *parts,
                       pd.DataFrame(columns_out, index=frame.index)], axis=1)
    return typed[["customer_id", "cutoff", *served.features]]


class RepurchaseModel(PythonModel):
    """The served pyfunc: feature rows in, every score and the top reasons out.

    Output columns (per trained task): ``customer_id``, ``cutoff``,
    ``churn_probability``, ``repurchase_probability``,
    ``second_purchase_probability``, ``predicted_orders``, ``predicted_ltv``,
    ``value_at_risk``, ``expected_next_order_date`` and ``reason_1..k``. Dates
    are returned as ISO strings so the output is plain JSON.
    """

    # MLflow 3 wraps predict for type-hint validation (and warns when there are no
    # hints); hints would make it derive an input schema that trims unknown columns,
    # which this model refuses instead (see the module notes). This flag, which
    # MLflow checks in PythonModel.__init_subclass__, keeps predict as written.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["served_model"], "rb") as fh:
            self.served = pickle.load(fh)
        _stop_scoring_server_echo()

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        try:
            frame = check_request(model_input, self.served)
        except (SchemaError, TypeError) as refusal:
            raise RequestRefused(str(refusal)) from None
        out = self.served.score(frame)
        for col in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[col]):
                out[col] = out[col].dt.strftime("%Y-%m-%d").where(out[col].notna(), None)
        return out


class RequestRefused(ValueError):
    """A request the served model refuses; its message goes back to the caller as a 400."""


def _refusal_in(error: BaseException | None) -> RequestRefused | None:
    """The :class:`RequestRefused` behind an error MLflow raised while handling a request."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, RequestRefused):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def _stop_scoring_server_echo() -> None:
    """Keep MLflow's scoring server from echoing an undecodable request body.

    MLflow 3.17 answers a body that is not valid JSON (or CSV) with a 400 whose
    message repeats the whole body, which may hold customer data. The body is
    parsed before our ``predict`` runs, so, inside the server process only (it
    sets ``_SERVER_MODEL_PATH``), the two parsers are wrapped to raise the same
    400 with a message that names the problem and not the data.
    """
    import os

    try:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import BAD_REQUEST
        from mlflow.pyfunc import scoring_server
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return
    model_path_var = getattr(scoring_server, "_SERVER_MODEL_PATH", None)
    if model_path_var is None or model_path_var not in os.environ:
        return
    for name, what in (("_decode_json_input", "valid JSON"), ("parse_csv_input", "valid CSV")):
        original = getattr(scoring_server, name, None)
        if original is None or getattr(original, "_no_echo", False):
            continue

        def quiet(*args: Any, _original: Any = original, _what: str = what, **kwargs: Any) -> Any:
            try:
                return _original(*args, **kwargs)
            except MlflowException:
                raise MlflowException(
                    f"the request body is not {_what}; send a JSON object with "
                    "'dataframe_split' or 'dataframe_records' (the body is not repeated here)",
                    error_code=BAD_REQUEST,
                ) from None

        quiet._no_echo = True  # type: ignore[attr-defined]
        setattr(scoring_server, name, quiet)
    invocations = getattr(scoring_server, "invocations", None)
    if invocations is not None and not getattr(invocations, "_no_echo", False):
        scoring_server.invocations = _plain_answers(invocations, MlflowException, BAD_REQUEST)


def _plain_answers(invocations: Any, mlflow_error: type[Exception], bad_request: Any) -> Any:
    """Wrap the scoring server's ``invocations``: refusals and failures as short messages.

    MLflow turns any error raised by ``predict`` into "Encountered an
    unexpected error ..." with the server's stack trace (file paths included),
    and an ``MlflowException`` into a message that repeats the request data. A
    :class:`RequestRefused` is answered as a 400 carrying its own message; a
    body nested too deeply for the parser is a 400 rather than a 500; any
    other failure keeps MLflow's status and message without the stack trace.
    """
    def answer(*args: Any, **kwargs: Any) -> Any:
        try:
            return invocations(*args, **kwargs)
        except RecursionError:
            raise mlflow_error("the request body is nested too deeply; send a flat JSON "
                               "object with 'dataframe_split' or 'dataframe_records'",
                               error_code=bad_request) from None  # type: ignore[call-arg]
        except mlflow_error as exc:
            refusal = _refusal_in(exc)
            if refusal is not None:
                raise mlflow_error(str(refusal),  # type: ignore[call-arg]
                                   error_code=bad_request) from None
            if str(getattr(exc, "message", "")).startswith("Failed to predict data"):
                exc.message = "the model failed on this request; see the server log"  # type: ignore[attr-defined]
            getattr(exc, "json_kwargs", {}).pop("stack_trace", None)  # status and code stay
            raise

    answer._no_echo = True  # type: ignore[attr-defined]
    return answer


# --------------------------------------------------------------------------- logging
def log_served_model(served: ServedModel, *, example: pd.DataFrame,
                     registered_model_name: str | None = None) -> Any:
    """Log the pyfunc in the active run (and register it when a name is given).

    Returns MLflow's ``ModelInfo``.
    """
    from mlflow.models import ModelSignature

    example = example.loc[:, ["customer_id", "cutoff", *served.features]].head(5).copy()
    for col in example.columns:
        if pd.api.types.is_datetime64_any_dtype(example[col]):
            example[col] = example[col].dt.strftime("%Y-%m-%d")
    model = RepurchaseModel()
    model.served = served
    output = model.predict(None, example)
    signature = ModelSignature(inputs=None, outputs=_output_schema(output))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # the hints MLflow prints here do not apply: no input signature on purpose
        # (see the module notes), integer ids in the output, a pickled python_model
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
        pkl = Path(tmp) / "served_model.pkl"
        with open(pkl, "wb") as fh:
            pickle.dump(served, fh, protocol=pickle.HIGHEST_PROTOCOL)
        schema = Path(tmp) / "feature_schema.json"
        schema.write_text(json.dumps(served.schema(), indent=2), encoding="utf-8")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=RepurchaseModel(),
            artifacts={"served_model": str(pkl), "feature_schema": str(schema)},
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
            registered_model_name=registered_model_name,
        )


def _output_schema(output: pd.DataFrame) -> Any:
    """Column schema of the model's output (ids keep their type; scores are doubles)."""
    from mlflow.types import ColSpec, Schema

    def kind(series: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(series):
            return "boolean"
        if pd.api.types.is_integer_dtype(series):
            return "long"
        if pd.api.types.is_float_dtype(series):
            return "double"
        return "string"

    return Schema([ColSpec(kind(output[c]), str(c), required=not output[c].isna().any())
                   for c in output.columns])


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested settings into dotted keys for ``mlflow.log_params``.

    Examples
    --------
    >>> flatten({"a": {"b": 1}, "c": [1, 2]})
    {'a.b': 1, 'c': '[1, 2]'}
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(list(value), default=str)
        else:
            out[name] = value
    return out


def log_settings(settings: Settings) -> None:
    """Log the resolved settings as parameters and as ``config.json``."""
    resolved = settings_to_dict(settings)
    mlflow.log_params({k: str(v)[:6000] for k, v in flatten(resolved).items()})
    mlflow.log_dict(resolved, "config.json")


def log_figure(fig: Any, path: str) -> None:
    """Log a matplotlib figure and close it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, path)
    plt.close(fig)


def log_training_run(
    settings: Settings,
    *,
    bundle: Any,
    served: ServedModel,
    report: Any,
    cutoffs: Sequence[pd.Timestamp],
    training: pd.DataFrame,
    eval_rows: pd.DataFrame,
    challenger: Mapping[str, Mapping[str, float]],
    champion: Mapping[str, Mapping[str, float]] | None,
) -> None:
    """Log what a retraining run saw and produced into the active MLflow run.

    Resolved settings (parameters and ``config.json``), the data window and
    validation report, cutoffs, row counts per task and split, scorecards of
    every model and baseline, challenger and champion metrics on the
    evaluation cutoff, gain, calibration and SHAP plots, the feature list and
    the Optuna study summaries. The plots are drawn from a fixed, seeded sample
    of :data:`~repurchase_ml._frames.SUMMARY_ROWS` evaluation rows (the
    metrics use every row).
    """
    log_settings(settings)
    mlflow.log_params({
        "data.window_start": str(report.start), "data.window_end": str(report.end),
        "data.n_events": report.n_rows, "data.n_customers": report.n_customers,
        "cutoffs.first": str(min(cutoffs).date()), "cutoffs.last": str(max(cutoffs).date()),
        "n_features": len(served.features),
    })
    mlflow.log_dict({"validation": report.to_dict(),
                     "training_set_sample": training.attrs.get("sampled"),
                     "cutoffs": [str(pd.Timestamp(c).date()) for c in cutoffs],
                     "splits": {task: {k: ([str(pd.Timestamp(c).date()) for c in v]
                                           if isinstance(v, list) else str(pd.Timestamp(v).date()))
                                       for k, v in split.items()}
                                for task, split in bundle.cutoffs.items()}},
                    "data.json")
    mlflow.log_dict({"features": served.feature_dtypes}, "features.json")
    metrics: dict[str, float] = {"rows.training_set": float(len(training)),
                                 "rows.evaluation": float(len(eval_rows))}
    cut = pd.to_datetime(training["cutoff"])
    for task, split in bundle.cutoffs.items():
        labelled = training[f"label_{task}"].notna()
        metrics[f"{task}/rows.train"] = float((labelled & cut.isin(split["train"])).sum())
        metrics[f"{task}/rows.valid"] = float((labelled & (cut == split["valid"])).sum())
        metrics[f"{task}/rows.test"] = float((labelled & (cut == split["test"])).sum())
        for scorer, card in bundle.scorecards.get(task, {}).items():
            for name, value in card.metrics.items():
                metrics[f"{task}/{scorer}/{name}"] = float(value)
    for who, cards in (("challenger", challenger), ("champion", champion or {})):
        for task, card in cards.items():
            for name, value in card.items():
                metrics[f"{task}/{who}/{name}"] = float(value)
    mlflow.log_metrics(metrics)
    for task, result in getattr(bundle, "tuning", {}).items():
        mlflow.log_text(result.study_summary.to_csv(index=False), f"tuning/{task}_trials.csv")
        mlflow.log_dict({"best_params": result.best_params, "best_value": result.best_value,
                         "n_trials": result.n_trials, "metric": result.metric},
                        f"tuning/{task}_best.json")
    _log_plots(served, eval_rows)


def _log_plots(served: ServedModel, rows: pd.DataFrame) -> None:
    """Gain and calibration curves per task and a SHAP summary per model, on ``rows``.

    At most :data:`~repurchase_ml._frames.SUMMARY_ROWS` of ``rows`` (a seeded sample)
    for the curves, and :data:`~repurchase_ml._frames.SHAP_ROWS` of those for the
    beeswarm: they look the same, and cost the same at any size.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from repurchase_ml.explain import contributions, plot_drivers
    from repurchase_ml.models.evaluate import calibration_table, gain_curve
    from repurchase_ml.models.training import OUTPUT_COLUMNS, TASK_KINDS

    rows = fixed_sample(rows).reset_index(drop=True)
    frame = rows[["customer_id", "cutoff", *served.features]]
    scores = served.bundle.predict(frame)
    for task, model in served.bundle.models.items():
        label = f"label_{task}"
        if label not in rows:
            continue
        keep = rows[label].notna().to_numpy()
        if keep.sum() < 2:
            continue
        y = rows.loc[keep, label].to_numpy(dtype=float)
        p = scores.loc[keep, OUTPUT_COLUMNS[task]].to_numpy(dtype=float)
        # net revenue can be negative (refunds); the gain curve counts what was bought
        gain = gain_curve(np.maximum(y, 0.0), p)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(gain["population_share"], gain["gain"], label="model")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
        ax.set(xlabel="share of customers (highest scores first)",
               ylabel="share of outcome captured", title=f"{task}: cumulative gain")
        ax.legend()
        log_figure(fig, f"plots/{task}_gain.png")
        if TASK_KINDS[task] == "classification":
            table = calibration_table(y, p)
            fig, ax = plt.subplots(figsize=(5, 4))
            ax.plot(table["mean_predicted"], table["mean_actual"], marker="o", label="model")
            ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
            ax.set(xlabel="mean predicted probability", ylabel="observed rate",
                   title=f"{task}: calibration by decile")
            ax.legend()
            log_figure(fig, f"plots/{task}_calibration.png")
        X = fixed_sample(frame.loc[keep, served.features], SHAP_ROWS).reset_index(drop=True)
        contribs = contributions(model, X)
        log_figure(plot_drivers(contribs, X, kind="beeswarm"), f"plots/{task}_shap_summary.png")


# --------------------------------------------------------------------------- registry
def register(settings: Settings, model_uri: str, *, tags: Mapping[str, str] | None = None) -> str:
    """Register ``model_uri`` as a new version of the configured model name; return the version.

    MLflow's own notes ("Successfully registered model ...", "Created version ...") are
    printed to stderr outside any logger; they are kept out of a job's output, which
    logs one line of its own.
    """
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    was_enabled = stream.enabled
    stream.enabled = False
    try:
        version = mlflow.register_model(model_uri, settings.tracking.model_name,
                                        tags=dict(tags or {}))
    finally:
        stream.enabled = was_enabled
    logger.info("registered %s version %s", settings.tracking.model_name, version.version)
    return str(version.version)


def promote(settings: Settings, version: str) -> None:
    """Move the ``champion`` alias to ``version`` (one atomic registry update)."""
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(settings.tracking.model_name, CHAMPION, str(version))
    logger.info("%s version %s is now %s", settings.tracking.model_name, version, CHAMPION)


@dataclass
class Champion:
    """The model in use: its registry version, run and loaded pyfunc."""

    version: str
    run_id: str | None
    model_uri: str
    served: ServedModel
    pyfunc: Any
    tags: dict[str, str]

    @property
    def spec(self) -> Any:
        """Feature spec the champion was trained with."""
        return self.served.spec

    def score(self, features: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        """Scores for a feature table built by ``build_features``; schema drift is refused.

        ``reasons`` as in :meth:`ServedModel.score` (the score job passes False).
        """
        from repurchase_ml.models._base import match_feature_frame

        keys = [c for c in KEY_COLUMNS if c in features]
        X = match_feature_frame(features.drop(columns=keys), self.served.feature_dtypes,
                                name="features")
        # keys and checked features in one frame, built once (no concat of two wide frames)
        frame = pd.DataFrame({**{c: features[c].array for c in keys},
                              **{c: X[c].array for c in X.columns}})
        return self.served.score(frame, reasons=reasons)


def champion_decision(champion: Champion) -> dict[str, Any] | None:
    """The ``decision.json`` of the run that trained ``champion`` (promotion and baseline gate).

    None when the run logged none (or its artifacts cannot be read): the
    decision is context for a report, never a reason to fail one.
    """
    if not champion.run_id:
        return None
    try:
        decision = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/decision.json")
    except Exception as exc:  # missing artifact, unreadable store: many error types
        logger.info("no decision.json for run %s: %s", champion.run_id, _first_line(exc))
        return None
    return decision if isinstance(decision, dict) else None


def champion_version(settings: Settings) -> str | None:
    """The version the ``champion`` alias points at, or None when there is none."""
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        return str(client.get_model_version_by_alias(settings.tracking.model_name,
                                                     CHAMPION).version)
    except MlflowException:
        return None


def find_champion(settings: Settings) -> Champion | None:
    """Load ``models:/<name>@champion``, or return None when no version has the alias."""
    version = champion_version(settings)
    if version is None:
        return None
    mv = mlflow.MlflowClient().get_model_version(settings.tracking.model_name, version)
    uri = f"models:/{settings.tracking.model_name}@{CHAMPION}"
    try:
        pyfunc = mlflow.pyfunc.load_model(uri)
        served = pyfunc.unwrap_python_model().served
    except Exception as exc:  # missing or damaged files surface as many error types
        where = getattr(mv, "storage_location", None) or mv.source
        raise StoreError(
            f"cannot load the champion {uri} (version {version}) from {where!r}: "
            f"{_first_line(exc) or 'no such artifact'}. Fix: restore the project's mlartifacts "
            "folder, or run `repurchase-ml retrain` to train a new champion") from None
    return Champion(version=version, run_id=mv.run_id, model_uri=uri, served=served,
                    pyfunc=pyfunc, tags=dict(mv.tags or {}))


def load_champion(settings: Settings) -> Champion:
    """Load ``models:/<name>@champion``; a clear error when there is none.

    Examples
    --------
    :func:`repurchase_ml.jobs.run_retrain` shows a champion being trained and
    loaded. A fresh project has none, and says how to get one:

    >>> import tempfile
    >>> from repurchase_ml.config import load_settings
    >>> settings = load_settings(overrides={"project_dir": tempfile.mkdtemp()}, environ={})
    >>> _ = configure(settings)
    >>> try:
    ...     load_champion(settings)
    ... except ValueError as error:
    ...     print(str(error)[:54], "...", str(error)[-42:])
    no champion: model 'repurchase_ml' has no 'champion' a ... Fix: run `repurchase-ml retrain` first.
    """
    champion = find_champion(settings)
    if champion is None:
        raise ValueError(
            f"no champion: model {settings.tracking.model_name!r} has no {CHAMPION!r} alias in "
            f"{settings.tracking_uri()}. Fix: run `repurchase-ml retrain` first."
        )
    return champion


def set_run_tags(tags: Mapping[str, Any]) -> None:
    """Set string tags on the active run."""
    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def json_default(value: Any) -> Any:
    """JSON encoder fallback for numpy and pandas scalars."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
