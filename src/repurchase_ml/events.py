"""The event log: canonical schema, explicit column mapping, validation at the boundary.

Every other part of the library reads the frame that :func:`read_events` returns,
so the rules live here and only here. A log is validated once; problems are
raised as :class:`~repurchase_ml.errors.SchemaError` naming the column, the
rule, how many rows break it, a few examples and the fix. With
``on_invalid="drop"`` offending rows are removed instead and counted, per rule,
in the :class:`ValidationReport`. Nothing is dropped silently.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import logging
import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from repurchase_ml._frames import as_pandas, is_polars
from repurchase_ml.errors import SchemaError, format_examples

if TYPE_CHECKING:
    import polars as pl

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
    "FIXED_SCALE",
    "MAX_AMOUNT",
    "PLAUSIBLE_START",
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
#: dtype of the optional text columns (_STRING_COLUMNS) in the canonical frame: Arrow-backed
#: strings, missing values as pd.NA (a third of the memory of Python-object strings)
STRING_DTYPE = pd.StringDtype("pyarrow")
_NUMERIC_COLUMNS = ("amount", "quantity", "unit_price")
#: money and quantities are summed as int64 multiples of 1 / FIXED_SCALE (1e-4 units), so
#: sums do not depend on row order or thread scheduling and repeat bit for bit
FIXED_SCALE = 10_000
#: the largest amount (and quantity, unit price, per-customer total) the int64 fixed-point
#: sums hold: (2**63 - 1) / FIXED_SCALE, about 9.22e14
MAX_AMOUNT = float((2**63 - 1) // FIXED_SCALE)
#: default earliest plausible event date; the latest is now (in the log's zone) + 1 day
PLAUSIBLE_START = "1970-01-01"
_INT64_MAX = 2**63 - 1
#: text that CSV exports write for "no value"; honoured in numeric columns only (ids stay text)
_NA_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "#n/a", "<na>", "-nan", "nat"})
# an offset (Z, +01:00, +0100, +01) after a time of day: the stamp is time-zone aware
_OFFSET = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$",
                     re.IGNORECASE)
_YEAR = re.compile(r"^\s*([+-]?\d{4,})-")
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}

OnInvalid = Literal["raise", "drop"]


def _suggest(name: str, valid: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_encoding(value: str, *, name: str = "encoding") -> str:
    """Return ``value`` if Python knows the text encoding, else raise naming ``name``.

    Examples
    --------
    >>> check_encoding("GBK")
    'GBK'
    >>> check_encoding("gbk2")
    Traceback (most recent call last):
    ...
    ValueError: encoding: unknown text encoding 'gbk2'. Fix: use a Python codec name such as 'utf-8', 'gbk', 'gb18030', 'cp1252' or 'latin-1'.
    """
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"{name}: unknown text encoding {value!r}. Fix: use a Python codec name "
                         "such as 'utf-8', 'gbk', 'gb18030', 'cp1252' or 'latin-1'.") from None
    return value


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
        ``"str"`` turns every id into text. Integer ids beyond the int64 range
        (``2**63`` and above) are read as text either way.
    normalize_ids
        Strip surrounding whitespace from text ids and bring them to Unicode
        NFKC form, so ``" a1"``, ``"a1"`` and the full-width ``"ａ1"`` are one
        customer. Off by default: the validation report then warns about ids
        that differ only that way (how many, and examples).
    encoding
        Text encoding of a CSV source, e.g. ``"gbk"`` for Tmall/Taobao
        exports or ``"cp1252"`` for Excel in Western Europe; default UTF-8.
        :func:`read_events` takes it as an argument too (the argument wins).

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
    normalize_ids: bool = False
    encoding: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        return None if value is None else check_encoding(value, name="encoding")

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

        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except FileNotFoundError:
            raise FileNotFoundError(f"mapping file {str(path)!r}: no such file. Fix: check the "
                                    "path of the mapping YAML.") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"mapping file {str(path)!r}: not valid YAML ({exc}). Fix: write one "
                             "'field: value' per line, e.g. 'event_type_constant: purchase'.") from None
        if not isinstance(data, dict):
            raise ValueError(f"mapping file {str(path)!r}: expected a YAML mapping at the top level.")
        return cls.model_validate(data)


@dataclass
class ValidationReport:
    """What validation saw and did.

    ``dropped`` counts removed rows per rule; ``warnings`` holds what was kept
    but deserves a look (ids that differ only by whitespace or Unicode form,
    ids read as text because they exceed int64, events in a repeated
    daylight-saving hour).
    """

    n_input_rows: int
    n_rows: int = 0
    n_customers: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    event_counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    warnings: list[str] = field(default_factory=list)

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
            "warnings": list(self.warnings),
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
        lines += [f"  warning: {text}" for text in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def _first_ragged_line(path: Path, sep: str, encoding: str = "utf-8"
                       ) -> tuple[int, int, int] | None:
    """(line number, fields on it, fields in the header) of the first row of another width."""
    opener: Callable[..., Any] = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding=encoding, errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep)
        header = next(rows, [])
        for row in rows:
            if row and len(row) != len(header):
                return rows.line_num, len(row), len(header)
    return None


def _read_csv(path: Path, sep: str, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a delimited file as text; refuse empty, undecodable, ragged or mis-delimited files.

    Only an empty cell is missing: ``NA``, ``null`` or ``None`` are ids like any other
    (numeric columns treat them as missing later, in validation).
    """
    try:
        with warnings.catch_warnings():
            # a first row with one field too many would silently become the index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                                index_col=False, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise SchemaError(None, f"{str(path)!r} is empty (no header line)",
                          fix="check the export: the file needs a header line and one row per "
                              "event") from None
    except UnicodeDecodeError as exc:
        raise SchemaError(
            None, f"{str(path)!r} is not {encoding.upper()} text (byte {exc.object[exc.start]:#x} at "
                  f"offset {exc.start}; Chinese exports such as Tmall's are often GBK, Excel "
                  "and older exports latin-1 or cp1252)",
            fix="name the file's encoding with the encoding option: read_events(..., "
                "encoding='gbk'), 'encoding: gbk' in the mapping YAML (data.mapping in the "
                "config) or --encoding gbk on the command line; or save the file as UTF-8",
        ) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        ragged = _first_ragged_line(path, sep, encoding)
        where = (f"line {ragged[0]} has {ragged[1]} fields, the header {ragged[2]}" if ragged
                 else f"cannot be split into fields ({exc})")
        raise SchemaError(None, f"{str(path)!r}: {where}",
                          fix=f"quote values that contain {sep!r} or remove the stray delimiter "
                              "on that line") from None
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        for other in (";", "\t", "|", ","):
            if other != sep and other in header:
                raise SchemaError(
                    None, f"{str(path)!r} reads as one column {header[:60]!r}: it looks "
                          f"{other!r}-delimited, not {sep!r}",
                    fix=f"save it {sep!r}-delimited, or read it with pandas.read_csv(path, "
                        f"sep={other!r}, dtype=str) and pass the DataFrame",
                )
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise SchemaError(None, f"{str(path)!r} is not a readable Parquet file ({exc})",
                          fix="re-export the file (it may be truncated), or give a CSV file "
                              "a .csv suffix") from None


def parquet_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files (``*.parquet``, ``*.pq``; not hidden) under a folder, by path.

    A folder of Parquet files is one log (e.g. one file per customer bucket).
    """
    return sorted(p for p in Path(folder).rglob("*") if p.is_file()
                  and p.suffix.lower() in (".parquet", ".pq") and not p.name.startswith("."))


def _read_parquet_folder(path: Path) -> pd.DataFrame:
    files = parquet_files(path)
    if not files:
        raise FileNotFoundError(f"source: no .parquet file in the folder {str(path)!r}. Fix: "
                                "give a file, or a folder of Parquet files.")
    return pd.concat([_read_parquet(f) for f in files], ignore_index=True)


def _read_table(source: pd.DataFrame | str | os.PathLike[str], encoding: str = "utf-8"
                ) -> pd.DataFrame:
    if is_polars(source):
        return as_pandas(source, argument="source")
    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"source: expected a pandas DataFrame or a path to a .csv or .parquet file, "
            f"got {type(source).__name__}."
        )
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source: no file at {str(path)!r}. Fix: check the path.")
    if path.is_dir():
        return _read_parquet_folder(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        return _read_parquet(path)
    if ".csv" in suffix or ".tsv" in suffix or suffix.endswith(".txt"):
        # Read ids and labels as text: guessing numeric ids would strip leading zeros.
        return _read_csv(path, "\t" if ".tsv" in suffix else ",", encoding)
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


def _first_values(source: Any, mask: np.ndarray) -> list[object]:
    """The first five values of ``source`` (a pandas Series or Index, or a polars Series)
    where ``mask`` holds, as pandas shows them."""
    if isinstance(source, pd.Series | pd.Index):
        return source[mask][:5].tolist()
    rows = np.flatnonzero(mask)[:5]
    return source.gather(rows).to_pandas().tolist()


@dataclass
class _Violation:
    column: str
    rule: str
    mask: np.ndarray
    fix: str
    examples_from: Any  # pd.Series, pd.Index or pl.Series: see _first_values


class _Checker:
    """Collects row-level violations, then raises the first or drops all.

    ``frame`` (pandas or polars) gives the examples of a rule added without
    ``examples_from``: its column as it is when the rule is added.
    """

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.violations: list[_Violation] = []

    def add(self, column: str, rule: str, mask: Any, fix: str,
            examples_from: Any = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            source = self.frame[column] if examples_from is None else examples_from
            self.violations.append(_Violation(column, rule, mask, fix, source))

    def resolve(self, on_invalid: OnInvalid, report: ValidationReport) -> np.ndarray:
        keep = np.ones(len(self.frame), dtype=bool)
        for v in self.violations:
            if on_invalid == "raise":
                examples = _first_values(v.examples_from, v.mask)
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


def _ids_as_text(ids: pd.Series, null: np.ndarray) -> pd.Series:
    return ids.map(str, na_action="ignore").astype(object).where(~null, None)


def _normalise_ids(ids: pd.Series, mapping: ColumnMapping,
                   warn: Callable[[str], None]) -> tuple[pd.Series, np.ndarray]:
    """Return ids in one dtype (int64 or str) and the mask of null ids."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        ids = pd.Series(np.asarray(ids, dtype=object), index=ids.index)
    null = ids.isna().to_numpy()
    kind = ("boolean" if pd.api.types.is_bool_dtype(ids.dtype)
            else pd.api.types.infer_dtype(ids, skipna=True))
    if kind == "boolean":
        raise SchemaError("customer_id", "ids are true/false values, not customer ids",
                          n_rows=int((~null).sum()), examples=ids[~null].head(5).tolist(),
                          fix="map customer_id to the column that holds the customer ids")
    if mapping.customer_id_type == "str":
        return _normalise_text_ids(_ids_as_text(ids, null), null, mapping, warn), null
    if pd.api.types.is_float_dtype(ids.dtype):
        valid = ids[~null]
        if (valid % 1 == 0).all() and (valid.abs() < 2**63).all():
            return ids.fillna(-1).astype("int64"), null
        bad = valid[(valid % 1 != 0) | (valid.abs() >= 2**63)]
        raise SchemaError("customer_id", "ids must be integers or text, found fractional numbers "
                          "or numbers beyond the int64 range",
                          n_rows=len(bad), examples=bad.head(5).tolist(),
                          fix="cast the id column to text or integers before loading")
    if kind == "integer" or pd.api.types.is_integer_dtype(ids.dtype):
        valid = ids[~null]
        if len(valid) and (int(valid.max()) > _INT64_MAX or int(valid.min()) < -_INT64_MAX - 1):
            # wrapping them to int64 would merge or negate customers: keep them exact, as text
            warn(f"customer ids beyond the int64 range (e.g. {valid.max()}): every id is read "
                 "as text")
            return _ids_as_text(ids, null), null
        return (ids.fillna(0) if null.any() else ids).astype("int64"), null
    if kind in ("string", "empty"):
        return _normalise_text_ids(ids.astype(object), null, mapping, warn), null
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


def _normalise_text_ids(ids: pd.Series, null: np.ndarray, mapping: ColumnMapping,
                        warn: Callable[[str], None]) -> pd.Series:
    """Merge ids that differ only by surrounding whitespace or Unicode form, or warn about them."""
    lookup = _text_id_lookup(pd.Series(pd.unique(ids[~null]), dtype=object), mapping, warn)
    return ids if not lookup else ids.map(lambda v: lookup.get(v, v))


def _text_id_lookup(distinct: pd.Series, mapping: ColumnMapping,
                    warn: Callable[[str], None]) -> dict[str, str]:
    """For the distinct text ids (in order of first appearance): id -> its merged form when
    ``normalize_ids`` is set, else nothing (ids that differ only that way are warned about)."""
    canonical = distinct.str.strip().str.normalize("NFKC")
    changed = (canonical != distinct).to_numpy()
    if not changed.any():
        return {}
    if mapping.normalize_ids:
        lookup = dict(zip(distinct[changed], canonical[changed], strict=True))
        warn(f"{int(changed.sum())} customer ids were stripped of surrounding whitespace or "
             "brought to Unicode NFKC form (normalize_ids=True)")
        return lookup
    clash = canonical.duplicated(keep=False).to_numpy()
    if clash.any():
        examples = format_examples(distinct[clash & changed].tolist())
        warn(f"{int((clash & changed).sum())} customer ids differ from another id only by "
             f"surrounding whitespace or Unicode form (e.g. {examples}), so one customer may be "
             "split in two; set normalize_ids=True in the mapping to merge them")
    return {}


@dataclass
class _Stamps:
    """Parsed timestamps: naive wall clock, the UTC instant when the source had one."""

    wall: pd.Series  # datetime64[ns], naive, in the log's zone
    instant: pd.Series | None  # datetime64[ns, UTC] for aware sources, else None
    out_of_range: np.ndarray  # a date value beyond what datetime64[ns] holds (1677 to 2262)


def _mixed_awareness(text: pd.Series) -> None:
    """Refuse a text column that mixes stamps with a UTC offset and stamps without."""
    present = text.notna().to_numpy()
    aware = text.str.contains(_OFFSET, na=False).to_numpy()
    naive = present & ~aware
    if aware.any() and naive.any():
        raise SchemaError(
            "timestamp",
            f"mixes time-zone-aware stamps ({int(aware.sum())} with an offset such as +01:00 or "
            f"Z, e.g. {text[aware].iloc[0]!r}) and naive ones without an offset",
            n_rows=int(naive.sum()), examples=text[naive].head(5).tolist(),
            fix="give every stamp an offset, or none (naive stamps are read as wall-clock time "
                "in `timezone`)",
        )


def _text_out_of_range(text: pd.Series) -> np.ndarray:
    """Text stamps whose year (YYYY-...) lies outside what datetime64[ns] holds."""
    years = pd.to_numeric(text.str.extract(_YEAR, expand=False), errors="coerce")
    return ((years < 1678) | (years > 2261)).fillna(False).to_numpy(dtype=bool)


def _parse_text_stamps(text: pd.Series, mapping: ColumnMapping) -> pd.Series:
    """Any ISO-8601 form first (date only, 'T' or space, with or without seconds and
    fractions, offsets); what is left with the format inferred from the first such value."""
    aware = bool(text.str.contains(_OFFSET, na=False).any())
    if mapping.timestamp_format is not None:
        parsed = pd.to_datetime(text, format=mapping.timestamp_format, errors="coerce")
        if parsed.dtype == object:  # mixed offsets: bring everything to UTC first
            parsed = pd.to_datetime(text, format=mapping.timestamp_format, errors="coerce",
                                    utc=True)
        return parsed
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=aware)
    rest = parsed.isna() & text.notna()
    if rest.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            parsed[rest] = pd.to_datetime(text[rest], errors="coerce", utc=aware)
    return parsed


def _parse_timestamps(raw: pd.Series, mapping: ColumnMapping, timezone: str) -> _Stamps:
    null = raw.isna().to_numpy()
    out_of_range = np.zeros(len(raw), dtype=bool)
    if mapping.timestamp_unit is not None:
        numbers = pd.to_numeric(raw, errors="coerce")
        parsed = pd.to_datetime(numbers, unit=mapping.timestamp_unit, utc=True, errors="coerce")
    elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = raw
        unit = getattr(raw.dtype, "unit", None) or np.datetime_data(raw.dtype)[0]
        if unit != "ns":
            bounds = (pd.Timestamp.min.as_unit(unit), pd.Timestamp.max.as_unit(unit))
            out_of_range = ((raw < bounds[0]) | (raw > bounds[1])).to_numpy()
            parsed = raw.where(~out_of_range)
    else:
        kind = pd.api.types.infer_dtype(raw, skipna=True)
        if kind in ("datetime", "date", "datetime64"):
            parsed = pd.to_datetime(raw, errors="coerce", utc=kind == "datetime" and any(
                getattr(v, "tzinfo", None) is not None for v in raw[~null].head(1000)))
            out_of_range = parsed.isna().to_numpy() & ~null
        else:
            text = raw.astype("string").str.strip().astype(object).where(~null, None)
            _mixed_awareness(text)
            parsed = _parse_text_stamps(text, mapping)
            failed = parsed.isna().to_numpy() & ~null
            if failed.any():
                out_of_range[failed] = _text_out_of_range(text[failed])
    instant = None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        # two instants an hour apart in a fall-back hour share one wall-clock time: keep the
        # instant so that they are not taken for duplicates
        instant = parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        parsed = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
    return _Stamps(parsed.astype("datetime64[ns]"), instant, out_of_range)


def _parse_bool(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(bool), np.zeros(len(raw), dtype=bool)
    text = raw.astype("string").str.strip().str.lower().fillna("")
    is_true, is_false = text.isin(_TRUE), text.isin(_FALSE)
    return is_true.astype(bool), ~(is_true | is_false).to_numpy()


def _check_timezone(timezone: object) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: unknown time zone {timezone!r}. Fix: give an IANA zone name "
                         "such as 'UTC', 'Europe/Berlin' or 'Asia/Shanghai'.") from None


def _naive_moment(value: Any, argument: str, timezone: str) -> pd.Timestamp:
    """``value`` as a naive timestamp in ``timezone``; a ValueError naming ``argument``."""
    try:
        moment = pd.Timestamp(value)
    except (TypeError, ValueError):
        moment = pd.NaT
    if moment is pd.NaT:
        raise ValueError(f"{argument}: cannot read {value!r} as a date. Fix: give an ISO date "
                         "such as '2024-12-31' or '2024-12-31 23:59'.")
    if moment.tzinfo is not None:
        moment = moment.tz_convert(timezone).tz_localize(None)
    return moment.as_unit("ns")


def _plausible_bounds(plausible_range: tuple[Any, Any] | None,
                      timezone: str) -> tuple[tuple[pd.Timestamp, pd.Timestamp], str] | None:
    """The (earliest, latest) plausible event times and the rule's words; None: no check."""
    if plausible_range is None:
        return None
    if not isinstance(plausible_range, tuple | list) or len(plausible_range) != 2:
        raise ValueError(f"plausible_range: expected (start, end) or None, got "
                         f"{plausible_range!r}. Fix: e.g. plausible_range=('1990-01-01', None); "
                         "None as end means now + 1 day.")
    start, end = plausible_range
    low = pd.Timestamp.min if start is None else _naive_moment(start, "plausible_range", timezone)
    if end is None:
        high = pd.Timestamp.now(tz=timezone).tz_localize(None) + pd.Timedelta(days=1)
        latest = "after now + 1 day"
    else:
        high = _naive_moment(end, "plausible_range", timezone)
        latest = f"after {high}"
    earliest = "" if start is None else f"before {low.date() if low == low.normalize() else low} or "
    return (low, high), f"implausible date ({earliest}{latest})"


def _check_numbers(raw: pd.Series, column: str, check: _Checker) -> pd.Series:
    """``raw`` as float64; text, infinite and out-of-range values are violations."""
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        na_text = raw.astype("string").str.strip().str.lower().isin(_NA_TOKENS).fillna(False)
        raw = raw.where(~na_text.to_numpy(), None)
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    values = numbers.to_numpy()
    check.add(column, "value is not a number", (np.isnan(values) & raw.notna().to_numpy()),
              "clean the values to plain numbers", examples_from=raw)
    check.add(column, "value is infinite", np.isinf(values),
              "replace infinities at the source with the real value, or remove those rows",
              examples_from=raw)
    check.add(column, f"value is larger than {MAX_AMOUNT:,.0f} in size, the largest the "
              "fixed-point sums hold", np.isfinite(values) & (np.abs(values) > MAX_AMOUNT),
              "check the unit of the column (a typo, or cents?)", examples_from=raw)
    return numbers


def _repeated_rows(table: pl.DataFrame) -> np.ndarray:
    """Rows equal in every column to an earlier row, as ``DataFrame.duplicated(keep="first")``.

    Candidates are the rows that share the first two columns (in the event log customer and
    time) with another row, found in one pass over the rows in that order (sorted first
    when they are not); among them, rows are hashed on every column and only rows whose
    hash repeats are compared value by value, so a hash collision never marks a row. As in
    pandas, NaN equals NaN (and a missing value) and -0.0 equals 0.0.

    Examples
    --------
    >>> import polars as pl
    >>> _repeated_rows(pl.DataFrame({"a": [1, 1, 2, 1], "b": [0.0, -0.0, 0.0, float("nan")]}))
    array([False,  True, False, False])
    """
    import polars as pl

    floats = [name for name, dtype in table.schema.items() if dtype.is_float()]
    if floats:
        table = table.with_columns(pl.col(floats).fill_nan(None) + 0.0)
    rows = _sharing_first_columns(table.select(table.columns[:2]))
    if len(rows):
        rows = rows[table[rows].hash_rows(seed=0).is_duplicated().to_numpy()]
    repeated = np.zeros(table.height, dtype=bool)
    if len(rows):
        first = (table[rows].select(pl.struct(pl.all()).is_first_distinct()).to_series()
                 .to_numpy())
        repeated[rows[~first]] = True
    return repeated


def _sharing_first_columns(keys: pl.DataFrame) -> np.ndarray:
    """Positions (ascending) of the rows whose values of ``keys`` another row shares."""
    import polars as pl

    keys = keys.with_row_index("_row")
    names = keys.columns[1:]
    order = _sort_order(keys[names[0]], keys[names[1]]) if len(names) == 2 else None
    if order is not None:
        keys = keys[order]
    same = pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift(1)) for c in names)
    same = same.fill_null(False)
    shared = keys.select(pl.col("_row"), (same | same.shift(-1).fill_null(False)).alias("s"))
    return np.sort(shared.filter(pl.col("s"))["_row"].to_numpy().astype(np.int64))


def _duplicate_rows(table: pl.DataFrame, instant: pl.Series | None,
                    warn: Callable[[str], None]) -> np.ndarray:
    """Rows equal in every column to an earlier one, comparing aware stamps as instants.

    ``table`` holds the validated columns with wall-clock stamps; ``instant`` the UTC
    instants when the source stamps were aware.
    """
    by_wall = _repeated_rows(table)
    if instant is None:
        return by_wall
    by_instant = _repeated_rows(table.with_columns(instant.alias("timestamp")))
    repeated_hour = by_wall & ~by_instant
    if repeated_hour.any():
        warn(f"{int(repeated_hour.sum())} events share a wall-clock time with another event an "
             "hour apart in a repeated (daylight-saving fall-back) hour; both are kept")
    return by_instant


def _sort_order(customer_id: pl.Series, timestamp: pl.Series) -> np.ndarray | None:
    """Row positions in (customer, time) order, ties kept in input order; None when the rows
    are in that order already (one vectorised pass, so a sorted log is never re-sorted).

    Examples
    --------
    >>> import polars as pl
    >>> print(_sort_order(pl.Series([1, 1, 2]), pl.Series([5, 7, 1])))
    None
    >>> _sort_order(pl.Series(["b", "a", "a"]), pl.Series([1, 9, 3])).tolist()
    [2, 1, 0]
    """
    import polars as pl

    keys = pl.DataFrame({"c": customer_id, "t": timestamp})
    c, t = pl.col("c"), pl.col("t")
    in_order = (c < c.shift(-1)) | ((c == c.shift(-1)) & (t <= t.shift(-1)))
    if not (customer_id.null_count() or timestamp.null_count()) and keys.select(
            in_order.fill_null(True).all()).item():  # (null: the last row)
        return None
    return keys.select(pl.arg_sort_by("c", "t", maintain_order=True)).to_series().to_numpy()


# --------------------------------------------------------------------------- columnar path
# Logs that arrive typed (a Parquet file, a polars frame, a pandas frame with datetime stamps)
# are validated with polars: the same rules in the same order, the same messages and report,
# without Python objects per row. Anything that needs text parsed (CSV, text stamps or
# numbers, mixed types) takes the pandas path above.

_ARROW_STRINGS = ("String", "Categorical", "Enum", "Null")


def _columnar_ok(table: pl.DataFrame, mapping: ColumnMapping) -> bool:
    """True when every column of ``table`` (canonical names) is typed as the columnar path
    takes it; else the pandas path validates (and words any problem of the table itself)."""
    schema = table.schema
    if any(c not in schema for c in REQUIRED_COLUMNS) or mapping.timestamp_unit is not None:
        return False

    def kind(column: str) -> str:
        return type(schema[column]).__name__

    def whole_integers(column: str) -> bool:  # integers without nulls (pandas keeps them int64)
        dtype = schema[column]
        return (dtype.is_integer() and kind(column) != "UInt64"
                and table[column].null_count() == 0)

    ids_ok = (whole_integers("customer_id") and mapping.customer_id_type == "auto") or kind(
        "customer_id") in ("String", "Categorical", "Enum")
    numbers_ok = all(kind(c) in ("Float64", "Float32", "Null") or whole_integers(c)
                     for c in _NUMERIC_COLUMNS if c in schema)
    strings_ok = all(kind(c) in _ARROW_STRINGS or whole_integers(c)
                     for c in _STRING_COLUMNS if c in schema)
    return (ids_ok and numbers_ok and strings_ok and kind("timestamp") == "Datetime"
            and kind("event_type") in ("String", "Categorical", "Enum")
            and ("discount" not in schema or kind("discount") in ("Boolean", "Null")))


def _columnar_table(source: Any) -> pl.DataFrame | None:
    """A Parquet path or a polars frame as a polars frame; None for anything else (or a file
    polars cannot read: the pandas reader then words the error)."""
    if is_polars(source):
        return source.collect() if type(source).__name__ == "LazyFrame" else source
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        files = [path] if path.suffix.lower() in (".parquet", ".pq") and path.is_file() \
            else parquet_files(path) if path.is_dir() else []
        if files:
            import polars as pl

            try:
                return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
            except Exception:  # noqa: BLE001 - the pandas reader raises the worded error
                return None
    return None


def _columnar_mapping(table: pl.DataFrame, mapping: ColumnMapping
                      ) -> tuple[pl.DataFrame, list[str]] | None:
    """:func:`_apply_mapping` on a polars frame; None when ``amount_from`` needs the pandas
    coercion (columns that are not plain numbers)."""
    import polars as pl

    # the same refusals (absent columns, constant and column both given) in the same words
    _, ignored = _apply_mapping(pd.DataFrame(columns=table.columns), mapping)
    out: dict[str, pl.Expr] = {}
    for canonical in CANONICAL_COLUMNS:
        source = mapping.source_for(canonical)
        if source in table.columns:
            out[canonical] = pl.col(source)
    if mapping.amount_from is not None:
        qty, price = mapping.amount_from
        kinds = [table.schema[c] for c in (qty, price)]
        if not all(d == pl.Float64 or d.is_integer() for d in kinds) or all(
                d.is_integer() for d in kinds):
            return None
        out["amount"] = pl.col(qty).cast(pl.Float64) * pl.col(price).cast(pl.Float64)
        out.setdefault("quantity", pl.col(qty))
        out.setdefault("unit_price", pl.col(price))
    if mapping.event_type_constant is not None:
        out["event_type"] = pl.lit(mapping.event_type_constant, dtype=pl.String)
    return table.select(**out), ignored


def _as_columnar(frame: pd.DataFrame) -> pl.DataFrame | None:
    """A pandas frame as polars when its stamps are already datetimes (else None)."""
    import polars as pl

    if "timestamp" not in frame.columns or not pd.api.types.is_datetime64_any_dtype(
            frame["timestamp"].dtype) or not frame.columns.is_unique:
        return None
    try:
        return pl.from_pandas(frame)
    except Exception:  # noqa: BLE001 - mixed types in a column: the pandas path words it
        return None


def _arrow_strings(column: pl.Series) -> pd.Series:
    """A polars text column as a pandas column of :data:`STRING_DTYPE` (no copy of the text)."""
    import polars as pl
    import pyarrow as pa

    values = column.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([values])), copy=False)


def _validate_columnar(table: pl.DataFrame, mapping: ColumnMapping, report: ValidationReport, *,
                       timezone: str, as_of: pd.Timestamp | None,
                       date_bounds: tuple[tuple[pd.Timestamp, pd.Timestamp], str] | None,
                       on_invalid: OnInvalid, original: pd.DataFrame | None
                       ) -> tuple[pd.DataFrame, ValidationReport]:
    """:func:`validate_events` on a typed polars frame (see :func:`_columnar_ok`).

    ``original``: the pandas frame ``table`` was made from, whose values the error
    examples show (as the pandas path would).
    """
    import polars as pl

    def raw(column: str) -> Any:
        return table[column] if original is None else original[column]

    check = _Checker(table)
    warn = report.warnings.append

    ids = table["customer_id"]
    null_ids = ids.is_null().to_numpy()
    if ids.dtype.is_integer():
        ids = ids.cast(pl.Int64)
    else:
        ids = ids.cast(pl.String)
        distinct = ids.drop_nulls().unique(maintain_order=True).to_pandas().astype(object)
        lookup = _text_id_lookup(distinct, mapping, warn)
        if lookup:
            ids = ids.replace(lookup)
    check.add("customer_id", "customer id is null", null_ids,
              "fill or remove rows without a customer id",
              examples_from=pd.RangeIndex(table.height) if original is None else original.index)

    stamps = table["timestamp"]
    unit, zone = stamps.dtype.time_unit, stamps.dtype.time_zone  # type: ignore[attr-defined]
    out_of_range = np.zeros(table.height, dtype=bool)
    if unit != "ns":
        ticks = stamps.to_physical()
        low, high = (int(b.as_unit(unit).asm8.view("int64"))
                     for b in (pd.Timestamp.min, pd.Timestamp.max))
        out_of_range = ((ticks < low) | (ticks > high)).fill_null(False).to_numpy()
        if out_of_range.any():
            stamps = pl.select(pl.when(pl.Series(~out_of_range)).then(stamps)).to_series()
        stamps = stamps.cast(pl.Datetime("ns", zone))
    instant = None
    if zone is not None:
        instant = stamps.dt.convert_time_zone("UTC")
        stamps = stamps.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    ticks = stamps.to_physical()
    check.add("timestamp", "timestamp is outside the range a datetime64[ns] holds "
              "(1677-09-21 to 2262-04-11)", out_of_range,
              "correct the year at the source (a typo?)", examples_from=raw("timestamp"))
    check.add("timestamp", "timestamp is missing or cannot be parsed",
              ticks.is_null().to_numpy() & ~out_of_range,
              "fix the values, or give timestamp_format / timestamp_unit in the mapping",
              examples_from=raw("timestamp"))
    if date_bounds is not None:
        (low_ts, high_ts), rule = date_bounds
        outside = (ticks < low_ts.as_unit("ns").value) | (ticks > high_ts.as_unit("ns").value)
        check.add("timestamp", rule, outside.fill_null(False).to_numpy(),
                  "correct the year at the source (a typo?), or widen the check with "
                  "plausible_range=(start, end) (data.plausible_range in the job config), "
                  "or switch it off with plausible_range=None", examples_from=raw("timestamp"))
    if as_of is not None:
        check.add("timestamp", f"timestamp is after as_of {as_of}",
                  (ticks > as_of.as_unit("ns").value).fill_null(False).to_numpy(),
                  "check the extract date or the time zone of the source",
                  examples_from=raw("timestamp"))

    labels = table["event_type"]
    if mapping.event_type_map:
        labels = labels.cast(pl.String).replace(mapping.event_type_map)
    codes = labels.cast(pl.Enum(EVENT_TYPES), strict=False).to_physical().cast(pl.Int8)
    bad_type = codes.is_null().to_numpy()
    check.add("event_type", f"unknown event type (allowed: {', '.join(EVENT_TYPES)})", bad_type,
              "map source labels with event_type_map, e.g. {'pv': 'view', 'buy': 'purchase'}",
              examples_from=raw("event_type"))
    codes = codes.fill_null(-1)
    is_money = (codes <= 1).to_numpy() & ~bad_type

    numbers: dict[str, np.ndarray] = {}
    for column in _NUMERIC_COLUMNS:
        if column in table.columns:
            values = table[column].cast(pl.Float64).to_numpy()
            check.add(column, "value is infinite", np.isinf(values),
                      "replace infinities at the source with the real value, or remove those "
                      "rows", examples_from=raw(column))
            check.add(column, f"value is larger than {MAX_AMOUNT:,.0f} in size, the largest the "
                      "fixed-point sums hold", np.isfinite(values) & (np.abs(values) > MAX_AMOUNT),
                      "check the unit of the column (a typo, or cents?)",
                      examples_from=raw(column))
            numbers[column] = values
    amount = numbers["amount"]
    amounts = pd.Series(amount, copy=False)
    check.add("amount", "purchase or refund amount is missing", is_money & np.isnan(amount),
              "fill the amount, or map amount_from=(quantity, unit price)", examples_from=amounts)
    check.add("amount", "purchase or refund amount is negative", is_money & (amount < 0),
              "record refunds as event_type 'refund' with a positive amount",
              examples_from=amounts)
    money = np.where(is_money & np.isfinite(amount), np.abs(amount), 0.0)
    total = money  # no customer's total comes near the limit when all money together does not
    if money.sum() > MAX_AMOUNT / 2:
        total = pl.DataFrame({"id": ids, "money": money}).select(
            pl.col("money").sum().over("id")).to_series().to_numpy()
    check.add("amount", f"the customer's purchases and refunds add up to more than "
              f"{MAX_AMOUNT:,.0f}, the largest total the fixed-point sums hold",
              is_money & (total > MAX_AMOUNT),
              "check the unit of the amount column (cents? a currency with large units?)",
              examples_from=amounts)

    columns: dict[str, pl.Series] = {"customer_id": ids, "timestamp": stamps, "event_type": codes}
    for column in CANONICAL_COLUMNS[3:]:
        if column in numbers:
            columns[column] = pl.Series(column, numbers[column])
        elif column == "discount" and column in table.columns:
            columns[column] = table[column].cast(pl.Boolean).fill_null(False)
        elif column in table.columns:
            columns[column] = table[column].cast(pl.String)
    events = pl.DataFrame(columns)
    check.add("customer_id", "exact duplicate rows (every column equal)",
              _duplicate_rows(events, instant, warn),
              "remove the repeated rows at the source, or keep an order_id/item_id that tells "
              "them apart", examples_from=events["customer_id"])

    keep = check.resolve(on_invalid, report)
    if not keep.all():
        events = events.filter(pl.Series(keep))
    if events.height == 0:
        raise SchemaError(None, "no valid rows are left after dropping invalid ones",
                          fix="see the validation report for what was dropped")
    order = _sort_order(events["customer_id"], events["timestamp"])
    if order is not None:
        events = events[order]
    report.n_customers = events["customer_id"].n_unique()
    out: dict[str, Any] = {}
    for column, series in events.to_dict().items():
        if column == "event_type":
            out[column] = pd.Categorical.from_codes(series.to_numpy(), categories=list(EVENT_TYPES))
        elif column in _STRING_COLUMNS:
            out[column] = _arrow_strings(series)
        else:
            out[column] = series.to_numpy()
    frame = pd.DataFrame(out, copy=False)  # the arrays as they are, in blocks of their own
    return frame, _finish_report(report, out["timestamp"], events["event_type"].to_numpy())


def validate_events(
    frame: pd.DataFrame | pl.DataFrame,
    mapping: ColumnMapping | None = None,
    *,
    timezone: str = "UTC",
    as_of: pd.Timestamp | str | None = None,
    on_invalid: OnInvalid = "raise",
    n_input_rows: int | None = None,
    ignored_columns: list[str] | None = None,
    plausible_range: tuple[Any, Any] | None = (PLAUSIBLE_START, None),
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate a frame that already uses canonical column names.

    :func:`read_events` maps a source table and calls this; loaders call it too.
    Arguments are those of :func:`read_events`; ``frame`` is a pandas or polars DataFrame.
    A frame whose stamps are already datetimes (and whose other columns are typed) is
    validated column by column with polars; the rules, messages and report are the same.

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
    if is_polars(frame) and type(frame).__name__ == "LazyFrame":
        frame = frame.collect()  # type: ignore[union-attr]
    if on_invalid not in ("raise", "drop"):
        raise ValueError(f"on_invalid: expected 'raise' or 'drop', got {on_invalid!r}. "
                         "Fix: pass on_invalid='raise' or on_invalid='drop'.")
    _check_timezone(timezone)
    as_of_ts = None if as_of is None else _naive_moment(as_of, "as_of", timezone)
    date_bounds = _plausible_bounds(plausible_range, timezone)
    report = ValidationReport(
        n_input_rows=len(frame) if n_input_rows is None else n_input_rows,
        ignored_columns=list(ignored_columns or []),
        timezone=timezone,
    )
    if len(frame) == 0:
        raise SchemaError(None, "the event log is empty (0 rows)",
                          fix="check the source file and any filter applied before loading")
    table = frame if is_polars(frame) else _as_columnar(frame)
    if table is not None and _columnar_ok(table, mapping):
        return _validate_columnar(table, mapping, report, timezone=timezone, as_of=as_of_ts,
                                  date_bounds=date_bounds, on_invalid=on_invalid,
                                  original=None if is_polars(frame) else frame)
    frame = as_pandas(frame, argument="frame").copy()
    _required(frame, mapping)
    check = _Checker(frame)

    ids, null_ids = _normalise_ids(frame["customer_id"], mapping, report.warnings.append)
    check.add("customer_id", "customer id is null", null_ids,
              "fill or remove rows without a customer id", examples_from=frame.index.to_series())
    frame["customer_id"] = ids

    parsed = _parse_timestamps(frame["timestamp"], mapping, timezone)
    stamps = parsed.wall
    check.add("timestamp", "timestamp is outside the range a datetime64[ns] holds "
              "(1677-09-21 to 2262-04-11)", parsed.out_of_range,
              "correct the year at the source (a typo?)")
    check.add("timestamp", "timestamp is missing or cannot be parsed",
              stamps.isna().to_numpy() & ~parsed.out_of_range,
              "fix the values, or give timestamp_format / timestamp_unit in the mapping")
    if date_bounds is not None:
        (low, high), rule = date_bounds
        check.add("timestamp", rule, ((stamps < low) | (stamps > high)).to_numpy(),
                  "correct the year at the source (a typo?), or widen the check with "
                  "plausible_range=(start, end) (data.plausible_range in the job config), "
                  "or switch it off with plausible_range=None")
    if as_of_ts is not None:
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
        if column in frame.columns:
            frame[column] = _check_numbers(frame[column], column, check)
    amount = frame["amount"].to_numpy()
    check.add("amount", "purchase or refund amount is missing", is_money & np.isnan(amount),
              "fill the amount, or map amount_from=(quantity, unit price)")
    check.add("amount", "purchase or refund amount is negative", is_money & (amount < 0),
              "record refunds as event_type 'refund' with a positive amount")
    money = np.where(is_money & np.isfinite(amount), np.abs(amount), 0.0)
    total = pd.Series(money).groupby(ids.to_numpy(), sort=False, dropna=False).transform("sum")
    check.add("amount", f"the customer's purchases and refunds add up to more than "
              f"{MAX_AMOUNT:,.0f}, the largest total the fixed-point sums hold",
              is_money & (total.to_numpy() > MAX_AMOUNT),
              "check the unit of the amount column (cents? a currency with large units?)")

    if "discount" in frame.columns:
        flags, bad_flag = _parse_bool(frame["discount"])
        check.add("discount", "discount flag is not true/false", bad_flag,
                  "use true/false, 1/0 or yes/no")
        frame["discount"] = flags
    for column in _STRING_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype(STRING_DTYPE)
    frame["event_type"] = event_type
    frame["timestamp"] = stamps

    columns = [c for c in CANONICAL_COLUMNS if c in frame.columns]
    frame = frame[columns]
    import polars as pl

    dupes = _duplicate_rows(pl.from_pandas(frame),
                            None if parsed.instant is None else pl.Series(parsed.instant),
                            report.warnings.append)
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
    order = _sort_order(pl.Series(frame["customer_id"]), pl.Series(frame["timestamp"]))
    frame = frame.reset_index(drop=True) if order is None else frame.take(order).reset_index(drop=True)
    report.n_customers = int(frame["customer_id"].nunique())
    return frame, _finish_report(report, frame["timestamp"].to_numpy(),
                                 np.asarray(frame["event_type"].cat.codes))


def _finish_report(report: ValidationReport, timestamp: np.ndarray,
                   event_codes: np.ndarray) -> ValidationReport:
    """Fill the counts and time span of the kept rows (``n_customers`` is set by the caller)."""
    report.n_rows = len(timestamp)
    report.start, report.end = pd.Timestamp(timestamp.min()), pd.Timestamp(timestamp.max())
    counts = np.bincount(event_codes, minlength=len(EVENT_TYPES))
    report.event_counts = {t: int(n) for t, n in zip(EVENT_TYPES, counts, strict=True)}
    if report.n_dropped:
        logger.warning("dropped %d invalid rows: %s", report.n_dropped, report.dropped)
    logger.info("validated %d events of %d customers", report.n_rows, report.n_customers)
    return report


def read_events(
    source: pd.DataFrame | str | os.PathLike[str],
    mapping: ColumnMapping | Mapping[str, Any] | None = None,
    *,
    timezone: str = "UTC",
    as_of: pd.Timestamp | str | None = None,
    on_invalid: OnInvalid = "raise",
    plausible_range: tuple[Any, Any] | None = (PLAUSIBLE_START, None),
    encoding: str | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a raw order or behaviour log into the canonical, validated event frame.

    Parameters
    ----------
    source
        A pandas or polars DataFrame, or a path to a CSV (read as text: only an empty cell is
        missing, so ids such as ``"NA"`` or ``"null"`` are kept) or Parquet file, or to a
        folder of Parquet files (read as one log).
    mapping
        A :class:`ColumnMapping` (or a dict of its fields) from source columns
        to canonical ones. Without it the source must already use canonical names.
    timezone
        Time-zone-aware timestamps (and Unix epochs) are converted to this zone
        and kept as naive wall-clock times. Naive timestamps are taken as given.
        Text timestamps may use any ISO-8601 form, mixed within a column; a
        column that mixes stamps with and without a UTC offset is refused.
        Two events an hour apart that share a wall-clock time in a
        daylight-saving fall-back hour are both kept (and noted in the report).
    as_of
        When given, events after this moment are invalid (an extract cannot see
        the future).
    on_invalid
        ``"raise"`` (default) stops at the first broken rule with a
        :class:`SchemaError`; ``"drop"`` removes offending rows and counts them
        per rule in the report. Table-level problems (missing columns, an empty
        log, mixed id types, unreadable files) always raise.
    plausible_range
        ``(start, end)``: events before ``start`` or after ``end`` are invalid
        (year typos such as 1900 or 2200). Default: from 1970-01-01 to now + 1
        day; ``None`` as ``end`` means now + 1 day, ``None`` as ``start`` no
        lower bound; ``plausible_range=None`` switches the check off.
    encoding
        Text encoding of a CSV source (e.g. ``"gbk"``); default the mapping's
        ``encoding``, else UTF-8. A file that does not decode is refused with
        a message naming this option.

    Amounts, quantities and unit prices must be finite and at most
    :data:`MAX_AMOUNT` (about 9.22e14) in size, and a customer's purchases
    and refunds must add up to no more than that: the features sum money in
    int64 fixed point (1e-4 units).

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
    text_encoding = check_encoding(encoding) if encoding is not None else mapping.encoding or "utf-8"
    settings: dict[str, Any] = dict(timezone=timezone, as_of=as_of, on_invalid=on_invalid,
                                    plausible_range=plausible_range)
    table = _columnar_table(source)
    if table is not None:
        mapped = _columnar_mapping(table, mapping)
        if mapped is not None and _columnar_ok(mapped[0], mapping):
            return validate_events(mapped[0], mapping, n_input_rows=table.height,
                                   ignored_columns=mapped[1], **settings)
    raw = _read_table(source, text_encoding)
    frame, ignored = _apply_mapping(raw, mapping)
    return validate_events(frame, mapping, n_input_rows=len(raw), ignored_columns=ignored,
                           **settings)


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
