"""One validated settings object for the jobs: YAML file < environment < CLI flags.

``load_settings`` reads an optional YAML file, overlays environment variables
named ``REPURCHASE_ML_<KEY>`` (nested keys joined by ``__``, e.g.
``REPURCHASE_ML_TRACKING__URI``), then overlays explicit overrides (the CLI's
flags), and validates the result into a frozen :class:`Settings`. Unknown keys
are errors that name the key and suggest the closest valid one.

Examples
--------
>>> s = load_settings(overrides={"project_dir": "/tmp/rp", "cutoffs": {"n": 6}}, environ={})
>>> s.cutoffs.n, s.tracking_uri()
(6, 'sqlite:////tmp/rp/mlflow.db')
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from repurchase_ml.models.evaluate import PRIMARY_METRICS, SIMPLICITY
from repurchase_ml.models.plan import ON_INSUFFICIENT, TrainingMinimums

__all__ = [
    "ConfigError",
    "Settings",
    "DataSettings",
    "SyntheticSettings",
    "CutoffSettings",
    "TuningSettings",
    "MinimumsSettings",
    "TrainingSettings",
    "TrackingSettings",
    "PromotionSettings",
    "OutputSettings",
    "RadarSettings",
    "MonitoringSettings",
    "load_settings",
    "deep_merge",
    "settings_to_dict",
    "ENV_PREFIX",
    "METRIC_HIGHER_IS_BETTER",
    "metrics_for",
    "DEFAULT_TASKS",
    "NOT_SETTINGS_ENV",
    "check_timezone",
    "set_dotted",
    "validation_problems",
]

ENV_PREFIX = "REPURCHASE_ML_"
DEFAULT_TASKS = ("churn", "repurchase", "second_purchase", "ltv")
_ALL_TASKS = ("repurchase", "order_count", "churn", "ltv", "second_purchase")
_DEFAULT_HORIZONS = {"repurchase": 30, "order_count": 90, "churn": 90, "ltv": 365,
                     "second_purchase": 30}
_DEFAULT_PRIMARY = dict(PRIMARY_METRICS)  # one place: the models layer chooses by them too
#: metrics a promotion rule may use, per task kind, and whether higher is better
_CLASSIFICATION_METRICS = {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False,
                           "ece": False, "precision_top5": True, "precision_top10": True,
                           "precision_top20": True, "lift_top5": True, "lift_top10": True,
                           "lift_top20": True}
_REGRESSION_METRICS = {"normalized_gini": True, "spearman": True, "mae": False, "rmse": False}
METRIC_HIGHER_IS_BETTER = {**_CLASSIFICATION_METRICS, **_REGRESSION_METRICS}


def metrics_for(task: str) -> dict[str, bool]:
    """Metrics usable as a task's primary metric (name -> higher is better).

    Examples
    --------
    >>> metrics_for("ltv")["mae"]
    False
    """
    if task in ("ltv", "order_count"):
        return _REGRESSION_METRICS
    return _CLASSIFICATION_METRICS


class ConfigError(ValueError):
    """The configuration is invalid: names the key, what is allowed and how to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticSettings(_Section):
    """Parameters of the synthetic log used when ``data.source`` is ``synthetic``."""

    n_customers: int = Field(default=5000, ge=10)
    start: str = "2020-01-01"
    end: str = "2024-01-01"
    random_state: int = 0


class DataSettings(_Section):
    """Where the event log comes from.

    ``source`` is ``synthetic`` (generated), ``path`` (a CSV/Parquet file read
    with ``mapping``, the fields of ``repurchase_ml.events.ColumnMapping``), or
    a named public format (``cdnow``, ``taobao``, ``online_retail``) read from
    ``path`` (CDNOW and Taobao default to the copies in the shared data folder). ``on_invalid: drop`` removes rows that break the contract and
    counts them in the validation report instead of failing.
    """

    source: Literal["synthetic", "path", "cdnow", "taobao", "online_retail"] = "synthetic"
    path: str | None = None
    mapping: dict[str, Any] | None = None
    timezone: str = "UTC"
    on_invalid: Literal["raise", "drop"] = "raise"
    synthetic: SyntheticSettings = Field(default_factory=SyntheticSettings)
    #: an as-of date later than this many days after the last event is refused
    max_days_after_last_event: int = Field(default=31, ge=0)
    #: events outside [start, end] break the "implausible date" rule (a year typo);
    #: end null = now + 1 day; the whole setting null switches the rule off
    plausible_range: tuple[str | None, str | None] | None = ("1970-01-01", None)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value, name="data.timezone")

    @field_validator("mapping")
    @classmethod
    def _valid_mapping(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from repurchase_ml.events import ColumnMapping

        try:
            ColumnMapping.model_validate(value)
        except ValidationError as exc:
            raise ValueError(f"data.mapping: {validation_problems(exc)}; the keys are the "
                             f"fields of ColumnMapping: {', '.join(ColumnMapping.model_fields)}"
                             ) from None
        return value

    @model_validator(mode="after")
    def _path_needed(self) -> DataSettings:
        if self.source in ("path", "online_retail") and not self.path:
            raise ValueError(
                f"data.path is required when data.source is {self.source!r}; "
                "set it to the log file to read"
            )
        if self.source != "path" and self.mapping is not None:
            raise ValueError(
                f"data.mapping applies only when data.source is 'path', got source "
                f"{self.source!r}; remove data.mapping or set data.source: path"
            )
        return self


class CutoffSettings(_Section):
    """Cutoff policy: the newest ``n`` usable cutoffs at frequency ``freq`` (``MS`` = monthly).

    Out-of-time training needs, per task with horizon ``h``, training cutoffs at
    least ``h`` before a validation cutoff that is at least ``h`` before the
    newest (test) cutoff: with a 365-day LTV horizon and monthly cutoffs, ``n``
    must exceed 24.
    """

    freq: str = "MS"
    n: int = Field(default=36, ge=3)


class TuningSettings(_Section):
    """Training and tuning budget (``n_trials: 0`` trains with fixed parameters)."""

    n_trials: int = Field(default=0, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0)
    n_estimators: int = Field(default=300, ge=1)
    random_state: int = 0


#: ``training.minimums``: the fields and defaults of ``TrainingMinimums``, each an int >= 0
MinimumsSettings: Any = create_model(  # type: ignore[call-overload]
    "MinimumsSettings", __base__=_Section,
    __doc__="Least data per task (``repurchase_ml.models.plan.TrainingMinimums``).",
    **{f.name: (int, Field(default=f.default, ge=0)) for f in dataclasses.fields(TrainingMinimums)},
)


class TrainingSettings(_Section):
    """The training plan: the least data per task and what happens to a task below it.

    ``minimums`` holds the fields of ``TrainingMinimums`` (defaults in the
    spirit of GA4 and Klaviyo: 1,000 positives and 1,000 negatives over the
    training cutoffs, 500 rows with at least 100 of each class at validation
    and test, 180 days of history). ``on_insufficient`` is ``skip`` (train the
    other tasks; fail only when none is left), ``raise`` (fail the run) or
    ``warn`` (train anyway). ``alive_days`` is churn's alive window (default
    365 days), for logs too short for it. ``candidates`` restricts what
    ``train_models`` may ship (e.g. ``[bgnbd, rfm]`` for baselines only);
    default: choose among all. ``refit`` (default true): once a task has been
    tested out of time, the retrain job refits its trees on every labelled
    cutoff before registering the model, so the served model has seen the
    newest labelled months. ``threads``: LightGBM threads per model; null =
    every available core once the training rows are many enough to gain from
    them, one below (``repurchase_ml.models.lgbm_threads``); the same data,
    settings and thread count give the same model bit for bit. ``max_rows``
    (default 500,000): the training set's budget; a shop whose cutoffs hold
    more (customer, cutoff) rows keeps the same fraction of each cutoff,
    stratified by label and seeded by ``tuning.random_state``
    (``features.sample_rows``); null keeps every row.

    Examples
    --------
    >>> TrainingSettings(minimums={"eval_rows": 200}).training_minimums().eval_rows
    200
    """

    minimums: MinimumsSettings = Field(default_factory=MinimumsSettings)  # type: ignore[valid-type]
    on_insufficient: str = ON_INSUFFICIENT[0]
    alive_days: int | None = Field(default=None, ge=1)
    candidates: tuple[str, ...] | None = None
    refit: bool = True
    threads: int | None = Field(default=None, ge=1)
    max_rows: int | None = Field(default=500_000, ge=1000)

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if name not in SIMPLICITY:
                raise ValueError(f"training.candidates: unknown scorer {name!r}"
                                 f"{_suggest(name, SIMPLICITY)}; allowed: {', '.join(SIMPLICITY)}")
        if value is not None and not value:
            raise ValueError("training.candidates: name at least one scorer, or leave it out "
                             "to let train_models choose among all of them")
        return value

    @field_validator("on_insufficient")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in ON_INSUFFICIENT:
            raise ValueError(f"training.on_insufficient: unknown {value!r}"
                             f"{_suggest(value, ON_INSUFFICIENT)}; allowed: "
                             f"{', '.join(ON_INSUFFICIENT)}")
        return value

    def training_minimums(self) -> TrainingMinimums:
        """The minimums as the ``TrainingMinimums`` that ``train_models`` takes."""
        return TrainingMinimums(**self.minimums.model_dump())


class TrackingSettings(_Section):
    """MLflow tracking: ``uri`` defaults to SQLite inside the project directory."""

    uri: str | None = None
    artifact_location: str | None = None
    experiment: str = "repurchase_ml"
    model_name: str = "repurchase_ml"


class PromotionSettings(_Section):
    """Champion/challenger rule.

    The challenger is promoted when the mean of its primary metrics beats the
    champion's by at least ``min_improvement`` and no task's primary metric is
    worse by more than ``tolerance``; and, first model included, only when on
    every task it is no worse than the best baseline on the newest out-of-time
    cutoff by more than ``baseline_tolerance``. A task evaluated on fewer than
    ``min_eval_rows`` rows is reported and left out of both rules (its metric
    is noise), with a warning.
    """

    primary_metric: dict[str, str] = Field(default_factory=lambda: dict(_DEFAULT_PRIMARY))
    min_improvement: float = Field(default=0.0, ge=0)
    tolerance: float = Field(default=0.01, ge=0)
    baseline_tolerance: float = Field(default=0.01, ge=0)
    min_eval_rows: int = Field(default=200, ge=0)


class OutputSettings(_Section):
    """Where the score job writes (default ``<project_dir>/outputs``), how many reasons
    the served model gives per row (the score job's reasons are the radar's, for its
    ``radar.explain_top`` rows; its scores file has none), and whether it also writes
    the self-contained HTML report."""

    dir: str | None = None
    top_reasons: int = Field(default=3, ge=0)
    report: bool = True


class ReportSettings(_Section):
    """How the report, the analytics page and the radar's words read (see ``docs/report.md``).

    ``language`` is ``en`` or ``zh`` (report text, reasons, action labels,
    segment and lifecycle names); ``currency`` is the symbol put before money
    (e.g. ``"¥"``); ``number_style`` is ``grouped`` (1,234,567) or ``wan``
    (123.5万); ``top_n`` radar rows are shown in the report (the CSV has all).

    Examples
    --------
    >>> ReportSettings(language="zh", currency="¥").options()["currency"]
    '¥'
    """

    language: str = "en"
    currency: str = ""
    number_style: str = "grouped"
    top_n: int = Field(default=25, ge=1)

    @field_validator("language", "number_style")
    @classmethod
    def _known_choice(cls, value: str, info: Any) -> str:
        from repurchase_ml.i18n import LANGUAGES, NUMBER_STYLES

        allowed = LANGUAGES if info.field_name == "language" else NUMBER_STYLES
        if value not in allowed:
            raise ValueError(f"report.{info.field_name}: unknown {value!r}"
                             f"{_suggest(value, allowed)}; allowed: {', '.join(allowed)}")
        return value

    @field_validator("currency")
    @classmethod
    def _short_symbol(cls, value: str) -> str:
        if len(value) > 5:
            raise ValueError(f"report.currency: expected a symbol such as '¥' or '$', "
                             f"got {value!r}")
        return value

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``build_report``."""
        return self.model_dump()


class RadarSettings(_Section):
    """The radar list: order, length and filters (see ``docs/radar.md``).

    ``rank_by`` is ``value_at_risk``, ``churn_probability`` or
    ``value_if_retained``; customers below ``risk_floor`` (a probability, or
    ``base_rate``: the mean churn probability of the list) go after the others;
    ``top_k``, ``min_value`` (on value at risk), ``min_churn_probability`` and
    ``segments`` (RFM segment names) and ``lifecycle_stages`` shorten the list; ``explain_top`` rows get
    reasons; ``action_table`` is a YAML file of action rules (default: the
    packaged one). :meth:`options` gives the keyword arguments of
    ``radar_from_scores``, ``churn_radar`` and ``evaluate_radar``.

    Examples
    --------
    >>> RadarSettings(top_k=500, segments=["champions"]).options()["top_k"]
    500
    """

    rank_by: str = "value_at_risk"
    risk_floor: float | str | None = "base_rate"
    top_k: int | None = Field(default=None, ge=1)
    min_value: float | None = Field(default=None, ge=0)
    min_churn_probability: float | None = Field(default=None, ge=0, le=1)
    segments: tuple[str, ...] | None = None
    lifecycle_stages: tuple[str, ...] | None = None
    explain_top: int | None = Field(default=50_000, ge=0)
    action_table: str | None = None

    @field_validator("rank_by")
    @classmethod
    def _known_rank(cls, value: str) -> str:
        from repurchase_ml.radar import RANK_BY

        if value not in RANK_BY:
            raise ValueError(f"radar.rank_by: unknown {value!r}{_suggest(value, RANK_BY)}; "
                             f"allowed: {', '.join(RANK_BY)}")
        return value

    @field_validator("risk_floor", mode="before")
    @classmethod
    def _floor(cls, value: Any) -> float | str | None:
        from repurchase_ml.radar import BASE_RATE

        if value is None or value == BASE_RATE:
            return value
        try:
            floor = float(value)
        except (TypeError, ValueError):
            floor = float("nan")
        if not 0 <= floor <= 1:
            raise ValueError(f"radar.risk_floor: expected a probability in [0, 1], "
                             f"{BASE_RATE!r} or null, got {value!r}")
        return floor

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from repurchase_ml.segments import RFM_SEGMENT_RULES

        known = [*RFM_SEGMENT_RULES["segment"].unique(), "no purchase"]
        for name in value or ():
            if name not in known:
                raise ValueError(f"radar.segments: unknown segment {name!r}"
                                 f"{_suggest(name, known)}; allowed: {', '.join(known)}")
        return value

    @field_validator("lifecycle_stages")
    @classmethod
    def _known_stages(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from repurchase_ml.segments import LIFECYCLE_STAGES

        for name in value or ():
            if name not in LIFECYCLE_STAGES:
                raise ValueError(f"radar.lifecycle_stages: unknown stage {name!r}"
                                 f"{_suggest(name, LIFECYCLE_STAGES)}; allowed: "
                                 f"{', '.join(LIFECYCLE_STAGES)}")
        return value

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``radar_from_scores`` / ``churn_radar`` / ``evaluate_radar``."""
        out = self.model_dump()
        out["segments"] = list(self.segments) if self.segments is not None else None
        out["lifecycle_stages"] = (list(self.lifecycle_stages)
                                   if self.lifecycle_stages is not None else None)
        return out


class MonitoringSettings(_Section):
    """Drift at scoring time and retrain triggers (see ``docs/monitoring.md``).

    A column drifts when its PSI is ``>= psi`` (0.2, the usual "significant
    shift"), above the drift it showed between training cutoffs at most as
    far apart in time, and as far from every training cutoff; when its missing share moves by ``>= missing`` (0.05)
    beyond that; or when ``>= new_category`` (1 %) of rows hold an unseen
    category. ``retrain_when: triggered`` retrains only when the champion's
    newest drift table flags ``>= trigger_flagged_columns`` columns or a
    realised or estimated primary metric is ``> trigger_metric_drop`` worse
    than on its test cutoff (default ``always``: every scheduled run trains).

    Examples
    --------
    >>> MonitoringSettings(psi=0.25).psi
    0.25
    """

    drift: bool = True
    psi: float = Field(default=0.2, ge=0)
    missing: float = Field(default=0.05, ge=0, le=1)
    new_category: float = Field(default=0.01, ge=0, le=1)
    reference_rows_per_cutoff: int = Field(default=5000, ge=100)
    retrain_when: Literal["always", "triggered"] = "always"
    trigger_flagged_columns: int = Field(default=1, ge=1)
    trigger_metric_drop: float = Field(default=0.03, ge=0)



class DaskSettings(_Section):
    """Where and how the ``dask`` engine runs (``engine: dask``; see docs/scale.md).

    ``scheduler`` is the address of a running Dask scheduler (e.g.
    ``tcp://10.0.0.5:8786``); without one the job starts a local cluster of
    ``n_workers`` processes and closes it when it ends. ``partitions`` is the
    number of customer buckets the log is shuffled into (default: one per two
    million events, at least two). ``training: local`` trains on the collected
    training set exactly as the local engine does; ``dask`` trains the chosen
    LightGBM models with ``lightgbm.dask`` on every training row, with the
    rounds, calibration and baselines taken from a local run on a sample of
    ``sample_customers`` customers. ``stream: true`` leaves the log on the
    workers: they read and validate a Parquet log (one customer's events in
    one file) into ``work_dir`` (default: ``<project_dir>/.dask-work``; on a
    remote cluster, storage every worker and the job share), and only the
    training sample, the scores and what the radar needs reach the job's
    process (:mod:`repurchase_ml.distributed.stream`).
    """

    scheduler: str | None = None
    n_workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    memory_limit: str = "4GB"
    partitions: int | None = Field(default=None, ge=1)
    training: Literal["local", "dask"] = "local"
    sample_customers: int = Field(default=200_000, ge=100)
    stream: bool = False
    work_dir: str | None = None


class Settings(_Section):
    """Everything a retrain or score run needs, validated once.

    Examples
    --------
    >>> Settings().tasks
    ('churn', 'repurchase', 'second_purchase', 'ltv')
    """

    project_dir: str = "models"
    data: DataSettings = Field(default_factory=DataSettings)
    tasks: tuple[str, ...] = DEFAULT_TASKS
    horizons: dict[str, int] = Field(default_factory=lambda: dict(_DEFAULT_HORIZONS))
    cutoffs: CutoffSettings = Field(default_factory=CutoffSettings)
    features: dict[str, Any] = Field(default_factory=dict)
    baselines: bool = True
    tuning: TuningSettings = Field(default_factory=TuningSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    radar: RadarSettings = Field(default_factory=RadarSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    #: where the feature, label and scoring work runs: this process, or a Dask cluster
    engine: Literal["local", "dask"] = "local"
    dask: DaskSettings = Field(default_factory=DaskSettings)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for task in value:
            if task not in _ALL_TASKS:
                raise ValueError(f"unknown task {task!r}{_suggest(task, _ALL_TASKS)}; "
                                 f"allowed: {', '.join(_ALL_TASKS)}")
        if not value:
            raise ValueError("at least one task is required")
        return value

    @field_validator("features")
    @classmethod
    def _feature_spec_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        import dataclasses

        from repurchase_ml.features.spec import FeatureSpec

        fields = [f.name for f in dataclasses.fields(FeatureSpec)]
        for key in value:
            if key not in fields:
                raise ValueError(f"unknown key {key!r}{_suggest(key, fields)}; "
                                 f"valid keys: {', '.join(fields)}")
        try:
            FeatureSpec(**value)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("horizons")
    @classmethod
    def _merge_horizons(cls, value: dict[str, int]) -> dict[str, int]:
        for task, days in value.items():
            if task not in _ALL_TASKS:
                raise ValueError(f"horizons: unknown task {task!r}{_suggest(task, _ALL_TASKS)}")
            if int(days) < 1:
                raise ValueError(f"horizons.{task} must be >= 1 day, got {days}")
        return {**_DEFAULT_HORIZONS, **value}

    @field_validator("promotion")
    @classmethod
    def _merge_primary(cls, value: PromotionSettings) -> PromotionSettings:
        for task, metric in value.primary_metric.items():
            if task not in _ALL_TASKS:
                raise ValueError(f"promotion.primary_metric: unknown task {task!r}"
                                 f"{_suggest(task, _ALL_TASKS)}")
            allowed = metrics_for(task)
            if metric not in allowed:
                raise ValueError(f"promotion.primary_metric.{task}: unknown metric {metric!r}"
                                 f"{_suggest(metric, allowed)}; allowed: {', '.join(allowed)}")
        merged = {**_DEFAULT_PRIMARY, **value.primary_metric}
        return value.model_copy(update={"primary_metric": merged})

    # derived locations -------------------------------------------------
    def project_path(self) -> Path:
        """The project directory as an absolute path."""
        return Path(self.project_dir).expanduser().resolve()

    def tracking_uri(self) -> str:
        """The MLflow tracking URI (SQLite in the project directory unless set)."""
        if self.tracking.uri:
            return self.tracking.uri
        return f"sqlite:///{self.project_path() / 'mlflow.db'}"

    def artifact_location(self) -> str | None:
        """Artifact root for a new experiment.

        ``tracking.artifact_location`` when set; else ``<project_dir>/mlartifacts``
        for the embedded store, and None (the server decides) for a tracking server.
        """
        if self.tracking.artifact_location:
            return self.tracking.artifact_location
        if self.tracking.uri:
            return None
        return (self.project_path() / "mlartifacts").as_uri()

    def output_path(self) -> Path:
        """Folder for scored tables and radar lists."""
        if self.output.dir:
            return Path(self.output.dir).expanduser().resolve()
        return self.project_path() / "outputs"

    def max_horizon(self) -> int:
        """The longest label horizon among the configured tasks, in days."""
        return max(self.horizons[t] for t in self.tasks)


def check_timezone(value: str, *, name: str = "timezone") -> str:
    """Return ``value`` when it names an IANA time zone; else say which argument and how to fix.

    Checked up front, so an unknown zone is refused even for a log whose
    timestamps carry no offset (where it would otherwise never be read).

    Examples
    --------
    >>> check_timezone("Europe/Berlin")
    'Europe/Berlin'
    >>> check_timezone("Europe/Berln", name="--timezone")
    Traceback (most recent call last):
    ...
    ValueError: --timezone: unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?); use an IANA name such as 'UTC' or 'Asia/Shanghai'
    """
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name}: unknown time zone {value!r}"
                         f"{_suggest(str(value), sorted(zoneinfo.available_timezones()))}; "
                         "use an IANA name such as 'UTC' or 'Asia/Shanghai'") from None
    return value


def validation_problems(exc: ValidationError) -> str:
    """Pydantic's errors on one line: dotted location and message, without its prefix.

    Examples
    --------
    >>> try:
    ...     CutoffSettings(n=1)
    ... except ValidationError as exc:
    ...     print(validation_problems(exc))
    n: Input should be greater than or equal to 3
    """
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<top>"
        message = str(err["msg"]).removeprefix("Value error, ").removeprefix(f"{where}: ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


# --------------------------------------------------------------------------- loading
def _suggest(key: str, allowed: Any, *, prefix: str = "") -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""


def _check_keys(data: Mapping[str, Any], model: type[BaseModel], where: str, source: str) -> None:
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            dotted = f"{where}{key}"
            raise ConfigError(
                f"unknown key {dotted!r} in {source}"
                f"{_suggest(str(key), fields, prefix=where)}; "
                f"valid keys{' under ' + where.rstrip('.') if where else ''}: "
                f"{', '.join(fields)}"
            )
        ann = fields[key].annotation
        # sections are pydantic models; plain-dict fields (mapping, horizons) take any key
        is_section = isinstance(ann, type) and issubclass(ann, BaseModel)
        if is_section and isinstance(value, Mapping):
            _check_keys(value, cast(type[BaseModel], ann), f"{where}{key}.", source)


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge nested mappings; values of ``top`` win.

    Examples
    --------
    >>> deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}})
    {'a': {'b': 1, 'c': 3}}
    """
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


#: variables with the prefix that are not settings: the CLI's config file
#: (``cli.ConfigOpt``) and the public-data folder (``datasets.loaders.DATA_ENV_VAR``)
NOT_SETTINGS_ENV = frozenset({f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}DATA"})


def _is_text_field(path: Sequence[str]) -> bool:
    """Whether the dotted setting ``path`` holds free text (``str`` or ``str | None``)."""
    model: type[BaseModel] = Settings
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False  # unknown keys are reported by _check_keys
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
            continue
        kinds = {a for a in (get_args(ann) or (ann,)) if a is not type(None)}
        return depth == len(path) - 1 and kinds == {str}
    return False


def set_dotted(tree: dict[str, Any], path: Sequence[str], raw: str) -> None:
    """Put the text ``raw`` of one environment variable or ``--set`` at ``path`` in ``tree``.

    The text is read as YAML (numbers, lists, mappings), except for settings
    that hold free text, which keep it as given: ``007`` stays ``'007'`` and
    ``2024-01-01`` stays a string. An empty text is null.

    Examples
    --------
    >>> tree = {}
    >>> set_dotted(tree, ["tracking", "experiment"], "007")
    >>> set_dotted(tree, ["cutoffs", "n"], "007")
    >>> set_dotted(tree, ["data", "synthetic", "start"], "2024-01-01")
    >>> tree
    {'tracking': {'experiment': '007'}, 'cutoffs': {'n': 7}, 'data': {'synthetic': {'start': '2024-01-01'}}}
    """
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    if (_is_text_field(path) and value is not None and not isinstance(value, str | list | dict)):
        value = raw
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {part!r} is set to a value and also used as a "
                              "section; set either the section's keys or the value, not both")
        node = child
    node[path[-1]] = value


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS_ENV:
            continue
        set_dotted(result, [p.lower() for p in name[len(ENV_PREFIX):].split("__")], raw)
    return result


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys at the top "
                          f"level, got {type(data).__name__}")
    return data


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from a YAML file, the environment and explicit overrides.

    Parameters
    ----------
    path : path-like, optional
        YAML config file. Relative paths inside it (``project_dir``,
        ``data.path``, ``output.dir``) are taken relative to the file's folder.
    overrides : mapping, optional
        Nested values that win over everything else (the CLI's flags).
    environ : mapping, optional
        Environment to read ``REPURCHASE_ML_*`` variables from; defaults to
        ``os.environ``.

    Raises
    ------
    ConfigError
        Unknown key (with the closest valid key), wrong type or value.

    Examples
    --------
    >>> load_settings(overrides={"tracking": {"experimnt": "x"}}, environ={})
    Traceback (most recent call last):
    ...
    repurchase_ml.config.ConfigError: unknown key 'tracking.experimnt' in CLI flags (did you mean 'tracking.experiment'?); valid keys under tracking: uri, artifact_location, experiment, model_name
    >>> load_settings(environ={"REPURCHASE_ML_CUTOFFS__N": "4"}).cutoffs.n
    4
    """
    env = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        file = Path(path).expanduser().resolve()
        data = _read_yaml(file)
        _check_keys(data, Settings, "", f"config file {str(file)!r}")
        data = _resolve_relative(data, file.parent)
        layers.append((f"config file {str(file)!r}", data))
    layers.append(("environment", _from_environ(env)))
    layers.append(("CLI flags", dict(overrides or {})))
    merged: dict[str, Any] = {}
    for source, layer in layers:
        _check_keys(layer, Settings, "", source)
        merged = deep_merge(merged, layer)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {validation_problems(exc)}") from None


def _resolve_relative(data: dict[str, Any], base: Path) -> dict[str, Any]:
    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and "://" not in value:
            p = Path(value).expanduser()
            return os.path.normpath(p if p.is_absolute() else (base / p))
        return value

    out = dict(data)
    if "project_dir" in out:
        out["project_dir"] = fix(out["project_dir"])
    for section, key in (("data", "path"), ("output", "dir")):
        if isinstance(out.get(section), dict) and out[section].get(key):
            out[section] = {**out[section], key: fix(out[section][key])}
    return out


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data, with derived locations filled in.

    Examples
    --------
    >>> d = settings_to_dict(Settings(project_dir="/tmp/p"))
    >>> d["tracking"]["uri"], d["output"]["dir"]
    ('sqlite:////tmp/p/mlflow.db', '/tmp/p/outputs')
    """
    data = settings.model_dump(mode="json")
    data["project_dir"] = str(settings.project_path())
    data["tracking"]["uri"] = settings.tracking_uri()
    data["tracking"]["artifact_location"] = settings.artifact_location()
    data["output"]["dir"] = str(settings.output_path())
    return data
