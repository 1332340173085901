"""The event log: canonical schema, explicit column mapping, validation at the boundary.

Every other part of the library reads the frame that :func:`read_events` returns,
so the rules live here and only here. A log is validated once; problems are
raised as :class:`~repurchase_ml.errors.SchemaError` naming the column, the
rule, how many rows break it, a few examples and the fix. With
``on_invalid="drop"`` offending rows are removed instead and counted, per rule,
in the :class:`ValidationReport`. Nothing is dropped silently.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from repurchase_ml.errors import SchemaError

__all__ = [
    "EVENT_TYPES",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "CANONICAL_COLUMNS",
    "KEY_COLUMNS",
    "ColumnMapping",
    "ValidationReport",
    "read_events",
    "validate_events",
    "check_canonical",
]

logger = logging.getLogger(__name__)

EVENT_TYPES: tuple[str, ...] = ("purchase", "refund", "view", "cart", "favorite")
MONEY_EVENTS: tuple[str, ...] = ("purchase", "refund")
REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "event_type", "amount")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "order_id",
    "item_id",
    "category",
    "quantity",
    "unit_price",
    "channel",
    "discount",
)
CANONICAL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: key of every per-customer, per-cutoff table (features, training sets, scores, the radar)
KEY_COLUMNS: tuple[str, ...] = ("customer_id", "cutoff")
_STRING_COLUMNS = ("order_id", "item_id", "category", "channel")
_NUMERIC_COLUMNS = ("amount", "quantity", "unit_price")
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}

OnInvalid = Literal["raise", "drop"]


def _suggest(name: str, valid: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class ColumnMapping(BaseModel):
    """How the columns of a source table become the canonical event log.

    Parameters
    ----------
    columns
        Canonical name -> source column name, e.g. ``{"customer_id": "Customer ID"}``.
        Canonical columns whose source name is identical need not be listed.
    amount_from
        ``(quantity_column, unit_price_column)``: amount is their product.
    event_type_constant
        Every row has this event type (order exports: ``"purchase"``).
    event_type_map
        Source label -> canonical event type, e.g. ``{"pv": "view", "buy": "purchase"}``.
        Canonical labels pass through unchanged.
    timestamp_unit
        For numeric timestamps: ``"s"`` or ``"ms"`` since the Unix epoch (UTC).
    timestamp_format
        A ``strftime`` format for text timestamps; inferred when omitted.
    customer_id_type
        ``"auto"`` keeps integer or text ids as they are and refuses a mix;
        ``"str"`` turns every id into text.

    Examples
    --------
    >>> m = ColumnMapping(columns={"customer_id": "Customer ID", "timestamp": "InvoiceDate"},
    ...                   amount_from=("Quantity", "Price"), event_type_constant="purchase")
    >>> m.source_for("customer_id")
    'Customer ID'
    >>> try:
    ...     ColumnMapping(columns={"custmer_id": "id"})
    ... except ValueError as err:
    ...     print("Did you mean 'customer_id'?" in str(err))
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str] = {}
    amount_from: tuple[str, str] | None = None
    event_type_constant: str | None = None
    event_type_map: dict[str, str] | None = None
    timestamp_unit: Literal["s", "ms"] | None = None
    timestamp_format: str | None = None
    customer_id_type: Literal["auto", "str"] = "auto"

    @field_validator("columns")
    @classmethod
    def _known_canonical_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in CANONICAL_COLUMNS:
                raise ValueError(
                    f"mapping key {key!r} is not a canonical column.{_suggest(key, CANONICAL_COLUMNS)}"
                    f" Valid keys: {', '.join(CANONICAL_COLUMNS)}."
                )
        return value

    @field_validator("event_type_constant")
    @classmethod
    def _known_constant(cls, value: str | None) -> str | None:
        if value is not None and value not in EVENT_TYPES:
            raise ValueError(
                f"event_type_constant {value!r} is not one of {', '.join(EVENT_TYPES)}."
                f"{_suggest(value, EVENT_TYPES)}"
            )
        return value

    @field_validator("event_type_map")
    @classmethod
    def _known_targets(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for label, target in (value or {}).items():
            if target not in EVENT_TYPES:
                raise ValueError(
                    f"event_type_map sends {label!r} to {target!r}, which is not one of "
                    f"{', '.join(EVENT_TYPES)}.{_suggest(target, EVENT_TYPES)}"
                )
        return value

    def source_for(self, canonical: str) -> str:
        """The source column read for ``canonical`` (its own name when unmapped)."""
        return self.columns.get(canonical, canonical)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ColumnMapping:
        """Read a mapping from a YAML file whose keys are this class's fields."""
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"mapping file {str(path)!r}: expected a YAML mapping at the top level.")
        return cls.model_validate(data)


@dataclass
class ValidationReport:
    """What validation saw and did. ``dropped`` counts removed rows per rule."""

    n_input_rows: int
    n_rows: int = 0
    n_customers: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    event_counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    timezone: str = "UTC"

    @property
    def n_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (timestamps as ISO strings)."""
        return {
            "n_input_rows": self.n_input_rows,
            "n_rows": self.n_rows,
            "n_dropped": self.n_dropped,
            "n_customers": self.n_customers,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "event_counts": dict(self.event_counts),
            "dropped": dict(self.dropped),
            "ignored_columns": list(self.ignored_columns),
            "timezone": self.timezone,
        }

    def summary(self) -> str:
        """A few lines for people.

        Examples
        --------
        >>> print(ValidationReport(n_input_rows=3, n_rows=2, n_customers=1,
        ...                        event_counts={"purchase": 2}, dropped={"duplicate rows": 1}).summary())
        2 events of 1 customers (3 read, 1 dropped)
          purchase: 2
          dropped for duplicate rows: 1
        """
        lines = [
            f"{self.n_rows} events of {self.n_customers} customers "
            f"({self.n_input_rows} read, {self.n_dropped} dropped)"
        ]
        if self.start is not None:
            lines.append(f"  from {self.start} to {self.end} ({self.timezone} wall clock)")
        lines += [f"  {k}: {v}" for k, v in self.event_counts.items() if v]
        lines += [f"  dropped for {rule}: {n}" for rule, n in self.dropped.items()]
        if self.ignored_columns:
            lines.append(f"  source columns not used: {', '.join(self.ignored_columns)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def _read_table(source: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"source: expected a pandas DataFrame or a path to a .csv or .parquet file, "
            f"got {type(source).__name__}."
        )
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source: no file at {str(path)!r}.")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        return pd.read_parquet(path)
    if ".csv" in suffix or ".tsv" in suffix or suffix.endswith(".txt"):
        sep = "\t" if ".tsv" in suffix else ","
        # Read ids and labels as text: guessing numeric ids would strip leading zeros.
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True)
    raise ValueError(
        f"source: cannot tell the format of {str(path)!r} from its suffix; "
        "use .csv, .tsv, .csv.gz or .parquet, or pass a DataFrame."
    )


def _apply_mapping(raw: pd.DataFrame, mapping: ColumnMapping) -> tuple[pd.DataFrame, list[str]]:
    """Select and rename source columns; compute amount and constant event type."""
    available = [str(c) for c in raw.columns]
    for canonical, source in mapping.columns.items():
        if source not in raw.columns:
            raise SchemaError(
                source,
                f"the mapping sends {canonical!r} to source column {source!r}, which does not exist",
                fix=f"use one of the source columns ({', '.join(available[:20])})"
                + _suggest(source, available).replace(" Did you mean", "; did you mean"),
            )
    out: dict[str, pd.Series] = {}
    used: set[str] = set()
    for canonical in CANONICAL_COLUMNS:
        source = mapping.source_for(canonical)
        if source in raw.columns:
            out[canonical] = raw[source]
            used.add(source)
    if mapping.amount_from is not None:
        qty_col, price_col = mapping.amount_from
        for col in (qty_col, price_col):
            if col not in raw.columns:
                raise SchemaError(
                    col,
                    "amount_from names a source column that does not exist",
                    fix=f"use one of the source columns ({', '.join(available[:20])})",
                )
        qty = pd.to_numeric(raw[qty_col], errors="coerce")
        price = pd.to_numeric(raw[price_col], errors="coerce")
        out["amount"] = qty * price
        out.setdefault("quantity", raw[qty_col])
        out.setdefault("unit_price", raw[price_col])
        used.update((qty_col, price_col))
    if mapping.event_type_constant is not None:
        if "event_type" in out and "event_type" in mapping.columns:
            raise ValueError(
                "mapping: give either columns['event_type'] or event_type_constant, not both."
            )
        out["event_type"] = pd.Series(mapping.event_type_constant, index=raw.index)
    frame = pd.DataFrame(out, index=raw.index)
    ignored = [c for c in available if c not in used]
    return frame, ignored


# --------------------------------------------------------------------------- row rules


@dataclass
class _Violation:
    column: str
    rule: str
    mask: np.ndarray
    fix: str
    examples_from: pd.Series


class _Checker:
    """Collects row-level violations, then raises the first or drops all."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.violations: list[_Violation] = []

    def add(self, column: str, rule: str, mask: np.ndarray | pd.Series, fix: str,
            examples_from: pd.Series | None = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            source = self.frame[column] if examples_from is None else examples_from
            self.violations.append(_Violation(column, rule, mask, fix, source))

    def resolve(self, on_invalid: OnInvalid, report: ValidationReport) -> np.ndarray:
        keep = np.ones(len(self.frame), dtype=bool)
        for v in self.violations:
            if on_invalid == "raise":
                examples = v.examples_from[v.mask].head(5).tolist()
                raise SchemaError(v.column, v.rule, n_rows=int(v.mask.sum()), examples=examples,
                                  fix=v.fix + ", or pass on_invalid='drop' to drop these rows")
            newly = v.mask & keep
            report.dropped[v.rule] = report.dropped.get(v.rule, 0) + int(newly.sum())
            keep &= ~v.mask
        return keep


def _required(frame: pd.DataFrame, mapping: ColumnMapping) -> None:
    for column, how in (
        ("customer_id", "map it with columns={'customer_id': '<your id column>'}"),
        ("timestamp", "map it with columns={'timestamp': '<your date column>'}"),
        ("event_type", "map it with columns={'event_type': ...}, or set "
                       "event_type_constant='purchase' for an order export"),
    ):
        if column not in frame.columns:
            raise SchemaError(column, "required column is missing", fix=how)
    if "amount" not in frame.columns:
        money = frame["event_type"].astype("string").isin(MONEY_EVENTS)
        if bool(money.any()):
            raise SchemaError(
                "amount",
                "required column is missing (purchases and refunds need an amount)",
                fix="map it with columns={'amount': '<your value column>'} or "
                    "amount_from=('<quantity column>', '<unit price column>')",
            )
        frame["amount"] = np.nan


def _normalise_ids(ids: pd.Series, mapping: ColumnMapping) -> tuple[pd.Series, np.ndarray]:
    """Return ids in one dtype (int64 or str) and the mask of null ids."""
    null = ids.isna().to_numpy()
    if mapping.customer_id_type == "str":
        text = ids.astype("string").astype(object)
        return text.where(~null, None), null
    if pd.api.types.is_integer_dtype(ids.dtype):
        return ids.astype("int64"), null
    if pd.api.types.is_float_dtype(ids.dtype):
        valid = ids[~null]
        if (valid % 1 == 0).all():
            return ids.fillna(-1).astype("int64"), null
        bad = valid[valid % 1 != 0]
        raise SchemaError("customer_id", "ids must be integers or text, found fractional numbers",
                          n_rows=len(bad), examples=bad.head(5).tolist(),
                          fix="cast the id column to text or integers before loading")
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind in ("string", "empty"):
        return ids.astype(object), null
    if kind == "integer":
        return ids.fillna(-1).astype("int64"), null
    types = ids[~null].map(lambda v: type(v).__name__)
    counts = types.value_counts()
    examples = [ids[~null][types == t].iloc[0] for t in counts.index[:5]]
    raise SchemaError(
        "customer_id",
        f"ids of mixed types ({', '.join(f'{t}: {n}' for t, n in counts.items())})",
        n_rows=int((~null).sum()), examples=examples,
        fix="convert the ids to one type before loading, or set customer_id_type='str' "
            "in the mapping to read every id as text",
    )


def _parse_timestamps(raw: pd.Series, mapping: ColumnMapping, timezone: str) -> pd.Series:
    if mapping.timestamp_unit is not None:
        numbers = pd.to_numeric(raw, errors="coerce")
        parsed = pd.to_datetime(numbers, unit=mapping.timestamp_unit, utc=True, errors="coerce")
    elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, format=mapping.timestamp_format, errors="coerce")
        if parsed.dtype == object:  # mixed offsets: bring everything to UTC first
            parsed = pd.to_datetime(raw, format=mapping.timestamp_format, errors="coerce", utc=True)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def _parse_bool(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(bool), np.zeros(len(raw), dtype=bool)
    text = raw.astype("string").str.strip().str.lower().fillna("")
    is_true, is_false = text.isin(_TRUE), text.isin(_FALSE)
    return is_true.astype(bool), ~(is_true | is_false).to_numpy()


def validate_events(
    frame: pd.DataFrame,
    mapping: ColumnMapping | None = None,
    *,
    timezone: str = "UTC",
    as_of: pd.Timestamp | str | None = None,
    on_invalid: OnInvalid = "raise",
    n_input_rows: int | None = None,
    ignored_columns: list[str] | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate a frame that already uses canonical column names.

    :func:`read_events` maps a source table and calls this; loaders call it too.
    Arguments are those of :func:`read_events`.

    Examples
    --------
    An unknown event type is refused; with ``on_invalid="drop"`` the row is
    removed and counted in the report.

    >>> frame = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...                       "timestamp": ["2024-01-02 10:00", "2024-01-05 08:00",
    ...                                     "2024-01-03 12:00"],
    ...                       "event_type": ["purchase", "click", "purchase"],
    ...                       "amount": [20.0, None, 15.0]})
    >>> try:
    ...     validate_events(frame)
    ... except SchemaError as error:
    ...     print(str(error)[:41])
    column 'event_type': unknown event type (
    >>> events, report = validate_events(frame, on_invalid="drop")
    >>> events["event_type"].tolist(), report.n_dropped, report.n_customers
    (['purchase', 'purchase'], 1, 2)
    """
    mapping = mapping or ColumnMapping()
    if on_invalid not in ("raise", "drop"):
        raise ValueError(f"on_invalid: expected 'raise' or 'drop', got {on_invalid!r}.")
    report = ValidationReport(
        n_input_rows=len(frame) if n_input_rows is None else n_input_rows,
        ignored_columns=list(ignored_columns or []),
        timezone=timezone,
    )
    if len(frame) == 0:
        raise SchemaError(None, "the event log is empty (0 rows)",
                          fix="check the source file and any filter applied before loading")
    frame = frame.copy()
    _required(frame, mapping)
    check = _Checker(frame)

    ids, null_ids = _normalise_ids(frame["customer_id"], mapping)
    check.add("customer_id", "customer id is null", null_ids,
              "fill or remove rows without a customer id", examples_from=frame.index.to_series())
    frame["customer_id"] = ids

    stamps = _parse_timestamps(frame["timestamp"], mapping, timezone)
    check.add("timestamp", "timestamp is missing or cannot be parsed", stamps.isna().to_numpy(),
              "fix the values, or give timestamp_format / timestamp_unit in the mapping")
    if as_of is not None:
        as_of_ts = pd.Timestamp(as_of)
        if as_of_ts.tzinfo is not None:
            as_of_ts = as_of_ts.tz_convert(timezone).tz_localize(None)
        check.add("timestamp", f"timestamp is after as_of {as_of_ts}", (stamps > as_of_ts).to_numpy(),
                  "check the extract date or the time zone of the source")

    labels = frame["event_type"].astype("string")
    if mapping.event_type_map:
        labels = labels.replace(mapping.event_type_map)
    bad_type = ~labels.isin(EVENT_TYPES).fillna(False).to_numpy()
    check.add("event_type", f"unknown event type (allowed: {', '.join(EVENT_TYPES)})", bad_type,
              "map source labels with event_type_map, e.g. {'pv': 'view', 'buy': 'purchase'}")
    event_type = pd.Categorical(labels.where(~bad_type, None), categories=list(EVENT_TYPES))
    is_money = np.isin(np.asarray(event_type.codes), [0, 1])

    for column in _NUMERIC_COLUMNS:
        if column not in frame.columns:
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        non_numeric = (numbers.isna() & frame[column].notna()).to_numpy()
        check.add(column, "value is not a number", non_numeric, "clean the values to plain numbers")
        frame[column] = numbers
    amount = frame["amount"].to_numpy()
    check.add("amount", "purchase or refund amount is missing", is_money & np.isnan(amount),
              "fill the amount, or map amount_from=(quantity, unit price)")
    check.add("amount", "purchase or refund amount is negative", is_money & (amount < 0),
              "record refunds as event_type 'refund' with a positive amount")

    if "discount" in frame.columns:
        flags, bad_flag = _parse_bool(frame["discount"])
        check.add("discount", "discount flag is not true/false", bad_flag,
                  "use true/false, 1/0 or yes/no")
        frame["discount"] = flags
    for column in _STRING_COLUMNS:
        if column in frame.columns:
            col = frame[column]
            frame[column] = col.astype("string").astype(object).where(col.notna(), None)
    frame["event_type"] = event_type
    frame["timestamp"] = stamps

    columns = [c for c in CANONICAL_COLUMNS if c in frame.columns]
    frame = frame[columns]
    dupes = frame.duplicated(keep="first").to_numpy()
    check.add("customer_id", "exact duplicate rows (every column equal)", dupes,
              "remove the repeated rows at the source, or keep an order_id/item_id that tells "
              "them apart")

    keep = check.resolve(on_invalid, report)
    if not keep.all():
        frame = frame.loc[keep]
    if len(frame) == 0:
        raise SchemaError(None, "no valid rows are left after dropping invalid ones",
                          fix="see the validation report for what was dropped")
    if frame["customer_id"].dtype == object:
        frame["customer_id"] = frame["customer_id"].astype(str)
    frame = frame.sort_values(["customer_id", "timestamp"], kind="mergesort").reset_index(drop=True)

    report.n_rows = len(frame)
    report.n_customers = int(frame["customer_id"].nunique())
    report.start, report.end = frame["timestamp"].min(), frame["timestamp"].max()
    counts = frame["event_type"].value_counts()
    report.event_counts = {t: int(counts.get(t, 0)) for t in EVENT_TYPES}
    if report.n_dropped:
        logger.warning("dropped %d invalid rows: %s", report.n_dropped, report.dropped)
    logger.info("validated %d events of %d customers", report.n_rows, report.n_customers)
    return frame, report


def read_events(
    source: pd.DataFrame | str | os.PathLike[str],
    mapping: ColumnMapping | Mapping[str, Any] | None = None,
    *,
    timezone: str = "UTC",
    as_of: pd.Timestamp | str | None = None,
    on_invalid: OnInvalid = "raise",
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a raw order or behaviour log into the canonical, validated event frame.

    Parameters
    ----------
    source
        A DataFrame, or a path to a CSV (read as text) or Parquet file.
    mapping
        A :class:`ColumnMapping` (or a dict of its fields) from source columns
        to canonical ones. Without it the source must already use canonical names.
    timezone
        Time-zone-aware timestamps (and Unix epochs) are converted to this zone
        and kept as naive wall-clock times. Naive timestamps are taken as given.
    as_of
        When given, events after this moment are invalid (an extract cannot see
        the future).
    on_invalid
        ``"raise"`` (default) stops at the first broken rule with a
        :class:`SchemaError`; ``"drop"`` removes offending rows and counts them
        per rule in the report. Table-level problems (missing columns, an empty
        log, mixed id types) always raise.

    Returns
    -------
    events, report
        The canonical frame (see ``docs/architecture.md``) sorted by customer and
        time, and a :class:`ValidationReport`.

    Examples
    --------
    >>> raw = pd.DataFrame({
    ...     "Customer ID": ["a", "a", "b"],
    ...     "InvoiceDate": ["2024-01-02 10:00", "2024-02-01 09:30", "2024-01-15 20:00"],
    ...     "Quantity": [2, 1, 3], "Price": [5.0, 12.5, 1.0]})
    >>> mapping = ColumnMapping(columns={"customer_id": "Customer ID", "timestamp": "InvoiceDate"},
    ...                         amount_from=("Quantity", "Price"), event_type_constant="purchase")
    >>> events, report = read_events(raw, mapping)
    >>> events[["customer_id", "event_type", "amount"]]
      customer_id event_type  amount
    0           a   purchase    10.0
    1           a   purchase    12.5
    2           b   purchase     3.0
    >>> report.n_customers
    2
    """
    if mapping is None:
        mapping = ColumnMapping()
    elif not isinstance(mapping, ColumnMapping):
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping: expected a ColumnMapping or a dict, got {type(mapping).__name__}.")
        mapping = ColumnMapping.model_validate(dict(mapping))
    raw = _read_table(source)
    frame, ignored = _apply_mapping(raw, mapping)
    return validate_events(frame, mapping, timezone=timezone, as_of=as_of, on_invalid=on_invalid,
                           n_input_rows=len(raw), ignored_columns=ignored)


def check_canonical(events: pd.DataFrame, *, argument: str = "events") -> None:
    """Refuse a frame that is not a canonical event log (cheap: dtypes only).

    Feature, label and scoring functions call this at their boundary.

    Examples
    --------
    >>> check_canonical(pd.DataFrame({"customer_id": [1]}))
    Traceback (most recent call last):
    ...
    repurchase_ml.errors.SchemaError: column 'timestamp': events: required column is missing. Fix: load the log with repurchase_ml.read_events (or a loader) to get the canonical frame.
    """
    fix = "load the log with repurchase_ml.read_events (or a loader) to get the canonical frame"
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"{argument}: expected a pandas DataFrame, got {type(events).__name__}.")
    for column in REQUIRED_COLUMNS:
        if column not in events.columns:
            raise SchemaError(column, f"{argument}: required column is missing", fix=fix)
    expectations: dict[str, Callable[[Any], bool]] = {
        "timestamp": lambda d: str(d) == "datetime64[ns]",
        "event_type": lambda d: isinstance(d, pd.CategoricalDtype)
        and tuple(d.categories) == EVENT_TYPES,
        "amount": lambda d: str(d) == "float64",
        "customer_id": lambda d: str(d) in ("int64", "object"),
    }
    for column, ok in expectations.items():
        if not ok(events[column].dtype):
            raise SchemaError(column, f"{argument}: unexpected dtype {events[column].dtype}", fix=fix)
