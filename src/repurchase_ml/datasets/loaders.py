"""Loaders for well-known public event logs, each through :func:`repurchase_ml.events.read_events`.

Every loader returns ``(events, report)``: the canonical event frame and the
:class:`~repurchase_ml.events.ValidationReport`. The format-specific work
(reading the file, naming the columns, turning cancellations into refunds)
happens here; the rules of the contract are checked in one place, by
``read_events``.

The sample files live outside the project in ``shared/data/`` (see
:func:`find_data_file`); they are never copied into it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import ColumnMapping, OnInvalid, ValidationReport, read_events

__all__ = [
    "DATA_ENV_VAR",
    "find_data_file",
    "load_cdnow",
    "load_cdnow_sample",
    "load_taobao",
    "load_online_retail",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the folder that holds the public datasets.
DATA_ENV_VAR = "REPURCHASE_ML_DATA"

CDNOW_MASTER = "cdnow/CDNOW_master.txt"
CDNOW_SAMPLE = "cdnow/CDNOW_sample.txt"
TAOBAO_SAMPLE = "taobao_userbehavior_sample/userbehavior_sample.csv"

_TAOBAO_TYPES = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}
_ONLINE_RETAIL_COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country",
)  # fmt: skip
# Column names of the later "Online Retail II" release, read as the originals.
_ONLINE_RETAIL_II = {"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID"}


def _candidate_roots() -> list[Path]:
    """``shared/data`` folders above the working directory and above this package."""
    roots: list[Path] = []
    for base in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (base, *base.parents):
            candidate = folder / "shared" / "data"
            if candidate not in roots:
                roots.append(candidate)
    return roots


def find_data_file(relative: str | os.PathLike[str]) -> Path:
    """Locate a public dataset file by its path inside the data folder.

    The folder named by the environment variable ``REPURCHASE_ML_DATA`` is
    used when set (and only it). Otherwise ``shared/data/<relative>`` is looked
    for in the current working directory, the folder of this package and every
    folder above them.

    Parameters
    ----------
    relative : str or path-like
        Path inside the data folder, e.g. ``"cdnow/CDNOW_master.txt"``.

    Returns
    -------
    pathlib.Path
        The existing file.

    Raises
    ------
    FileNotFoundError
        Naming every place looked in and how to point the library at the data.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from unittest import mock
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "x.csv").write_text("a")
    >>> with mock.patch.dict(os.environ, {"REPURCHASE_ML_DATA": str(folder)}):
    ...     find_data_file("x.csv") == folder / "x.csv"
    True
    """
    relative = Path(relative)
    if relative.is_absolute():
        raise ValueError(
            f"relative: expected a path inside the data folder such as "
            f"'{CDNOW_MASTER}', got the absolute path {str(relative)!r}; pass it as `path` instead."
        )
    override = os.environ.get(DATA_ENV_VAR)
    if override:
        path = Path(override).expanduser() / relative
        if path.is_file():
            return path
        raise FileNotFoundError(
            f"{relative}: not found in {path.parent} (from the environment variable "
            f"{DATA_ENV_VAR}={override!r}). Point {DATA_ENV_VAR} at the folder that holds "
            f"'{relative}', or pass the file's path explicitly."
        )
    roots = _candidate_roots()
    for root in roots:
        path = root / relative
        if path.is_file():
            return path
    looked = ", ".join(str(r) for r in roots[:6]) + (", ..." if len(roots) > 6 else "")
    raise FileNotFoundError(
        f"{relative}: no shared/data/{relative} found above the working directory "
        f"{Path.cwd()} or the package (looked in {looked}). Set the environment variable "
        f"{DATA_ENV_VAR} to the folder that holds '{relative}', or pass the file's path explicitly."
    )


def _resolve(path: str | os.PathLike[str] | None, default: str) -> Path:
    if path is None:
        return find_data_file(default)
    resolved = Path(path)
    if not resolved.is_file():
        raise FileNotFoundError(f"path: no file at {str(resolved)!r}.")
    return resolved


def _cdnow_events(raw: pd.DataFrame, customer: str) -> tuple[pd.DataFrame, ValidationReport]:
    """Canonical CDNOW rows: integer ids, an order per customer-day, the line as item."""
    ids = _integral_ids(raw[customer])
    if ids.dtype != np.int64:
        bad = raw.loc[pd.to_numeric(raw[customer], errors="coerce").isna(), customer]
        raise SchemaError(
            customer,
            "CDNOW customer ids must be whole numbers",
            n_rows=len(bad),
            examples=bad.head(5).tolist(),
            fix="pass an unmodified CDNOW file",
        )
    raw = raw.assign(
        **{
            customer: ids,
            "order_id": ids.astype(str) + "-" + raw["date"],
            # the file repeats identical lines within a day: keep them apart by line number
            "line": "line-" + pd.Series(np.arange(1, len(raw) + 1), index=raw.index).astype(str),
        }
    )
    mapping = ColumnMapping(
        columns={
            "customer_id": customer,
            "timestamp": "date",
            "amount": "dollar_value",
            "quantity": "number_of_cds",
            "order_id": "order_id",
            "item_id": "line",
        },
        event_type_constant="purchase",
        timestamp_format="%Y%m%d",
    )
    return read_events(raw, mapping)


def load_cdnow(path: str | os.PathLike[str] | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Load the CDNOW master file (23,570 customers, 1997-01 to 1998-06) as an order log.

    Each line is one purchase: ``amount`` is the dollar value, ``quantity`` the
    number of CDs. An order is a customer-day (``order_id`` = ``"<id>-<YYYYMMDD>"``),
    as in the customer-base literature. Ids become integers (``"00001"`` -> 1).
    The file has no item information and repeats some identical lines on the
    same day (255), so ``item_id`` holds the source line number
    (``"line-<n>"``, counting data lines from 1) to keep each transaction its own row.

    Parameters
    ----------
    path : str or path-like, optional
        The ``CDNOW_master.txt`` file (whitespace-separated, with a header).
        Default: ``cdnow/CDNOW_master.txt`` found by :func:`find_data_file`.

    Returns
    -------
    events : pandas.DataFrame
        The canonical event frame (purchases only, no time of day).
    report : repurchase_ml.events.ValidationReport

    Examples
    --------
    With the real file, ``load_cdnow()`` gives 69,659 rows of 23,570 customers.
    A file in the same format:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "CDNOW_master.txt"
    >>> _ = path.write_text(
    ...     " customer_id  date number_of_cds  dollar_value\\n"
    ...     " 00001 19970101  1   11.77\\n"
    ...     " 00002 19970112  1   12.00\\n"
    ...     " 00002 19970112  5   77.00\\n")
    >>> events, report = load_cdnow(path)
    >>> events[["customer_id", "timestamp", "amount", "order_id", "item_id"]]
       customer_id  timestamp  amount    order_id item_id
    0            1 1997-01-01   11.77  1-19970101  line-1
    1            2 1997-01-12   12.00  2-19970112  line-2
    2            2 1997-01-12   77.00  2-19970112  line-3
    """
    source = _resolve(path, CDNOW_MASTER)
    raw = pd.read_csv(source, sep=r"\s+", dtype=str)
    expected = ["customer_id", "date", "number_of_cds", "dollar_value"]
    if list(raw.columns) != expected:
        raise SchemaError(
            None,
            f"{source}: expected the CDNOW master header {expected}, got {list(raw.columns)}",
            fix="pass the master file; for the 1/10 sample use load_cdnow_sample",
        )
    return _cdnow_events(raw, "customer_id")


def load_cdnow_sample(
    path: str | os.PathLike[str] | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Load the CDNOW 1/10 sample (2,357 customers) used for the published BG/NBD fit.

    The file has no header; its columns are the master customer id, the sample
    customer id, the date, the number of CDs and the dollar value. The sample
    id (1 to 2,357) is kept as ``customer_id``. Otherwise as :func:`load_cdnow`:
    an order per customer-day, the source line number as ``item_id``.

    Parameters
    ----------
    path : str or path-like, optional
        The ``CDNOW_sample.txt`` file. Default: ``cdnow/CDNOW_sample.txt`` found
        by :func:`find_data_file`.

    Returns
    -------
    events : pandas.DataFrame
    report : repurchase_ml.events.ValidationReport

    Examples
    --------
    With the real file, ``load_cdnow_sample()`` gives 6,919 rows of 2,357 customers.
    A file in the same format:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "CDNOW_sample.txt"
    >>> _ = path.write_text(" 00004 0001 19970101  2   29.33\\n 00018 0002 19970101  2   29.73\\n")
    >>> events, report = load_cdnow_sample(path)
    >>> events[["customer_id", "amount", "quantity"]]
       customer_id  amount  quantity
    0            1   29.33       2.0
    1            2   29.73       2.0
    """
    source = _resolve(path, CDNOW_SAMPLE)
    names = ["master_id", "sample_id", "date", "number_of_cds", "dollar_value"]
    raw = pd.read_csv(source, sep=r"\s+", header=None, names=names, dtype=str)
    if raw["dollar_value"].isna().any():
        raise SchemaError(
            None,
            f"{source}: expected five whitespace-separated columns without a header "
            "(master id, sample id, date, CDs, value)",
            n_rows=int(raw["dollar_value"].isna().sum()),
            fix="pass the CDNOW 1/10 sample file; for the master file use load_cdnow",
        )
    return _cdnow_events(raw, "sample_id")  # master_id is listed as unused in the report


def load_taobao(
    path: str | os.PathLike[str] | None = None,
    *,
    purchase_amount: float = 1.0,
    on_invalid: OnInvalid = "raise",
) -> tuple[pd.DataFrame, ValidationReport]:
    """Load a Taobao UserBehavior log (Alibaba, Tianchi dataset 649) as a behaviour log.

    ``pv``, ``cart``, ``fav`` and ``buy`` become ``view``, ``cart``,
    ``favorite`` and ``purchase``; Unix seconds become China wall-clock time
    (Asia/Shanghai, naive). ``category_id`` becomes ``category``; ids of items
    and categories are kept as text, user ids as integers.

    The log has no prices, but the event contract needs an amount on every
    purchase. Each purchase therefore gets the placeholder ``purchase_amount``
    (default 1.0, one unit), so revenue features count purchases; do not read
    them as money. Views, carts and favourites have no amount (NaN).

    Parameters
    ----------
    path : str or path-like, optional
        A CSV with the header ``user_id,item_id,category_id,behavior_type,timestamp``.
        Default: the sample ``taobao_userbehavior_sample/userbehavior_sample.csv``
        found by :func:`find_data_file`.
    purchase_amount : float, default 1.0
        Amount given to every purchase (the data has no prices).
    on_invalid : {"raise", "drop"}, default "raise"
        Passed to :func:`~repurchase_ml.events.read_events`: stop at the first
        invalid row (an unknown ``behavior_type``, a repeated line), or drop
        such rows and count them in the report.

    Returns
    -------
    events : pandas.DataFrame
    report : repurchase_ml.events.ValidationReport

    Examples
    --------
    With the sample file, ``load_taobao()`` gives 84,287 events of 814 users.
    A file in the same format:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "UserBehavior.csv"
    >>> _ = path.write_text("user_id,item_id,category_id,behavior_type,timestamp\\n"
    ...                     "1,2268318,2520377,pv,1511544070\\n1,2268318,2520377,buy,1511545000\\n")
    >>> events, report = load_taobao(path)
    >>> events[["customer_id", "timestamp", "event_type", "amount"]]
       customer_id           timestamp event_type  amount
    0            1 2017-11-25 01:21:10       view     NaN
    1            1 2017-11-25 01:36:40   purchase     1.0
    """
    if (
        isinstance(purchase_amount, bool)
        or not isinstance(purchase_amount, int | float)
        or not np.isfinite(purchase_amount)
        or purchase_amount < 0
    ):
        raise ValueError(
            f"purchase_amount must be a finite number >= 0 (the placeholder amount of each "
            f"purchase), got {purchase_amount!r}."
        )
    source = _resolve(path, TAOBAO_SAMPLE)
    raw = pd.read_csv(
        source,
        dtype={"user_id": "int64", "item_id": str, "category_id": str, "behavior_type": str},
    )
    expected = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
    missing = [c for c in expected if c not in raw.columns]
    if missing:
        raise SchemaError(
            missing[0],
            f"{source}: required UserBehavior column is missing (header: {list(raw.columns)})",
            fix=f"pass a CSV with the header {','.join(expected)}",
        )
    raw["amount"] = np.where(raw["behavior_type"] == "buy", float(purchase_amount), np.nan)
    mapping = ColumnMapping(
        columns={
            "customer_id": "user_id",
            "timestamp": "timestamp",
            "event_type": "behavior_type",
            "item_id": "item_id",
            "category": "category_id",
        },
        event_type_map=_TAOBAO_TYPES,
        timestamp_unit="s",
    )
    return read_events(raw, mapping, timezone="Asia/Shanghai", on_invalid=on_invalid)


def _read_online_retail(source: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            "source: expected a pandas DataFrame or a path to a .csv, .parquet or .xlsx "
            f"file, got {type(source).__name__}."
        )
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"source: no file at {str(path)!r}.")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".xlsx", ".xls"):
        return pd.read_excel(path, dtype={"InvoiceNo": str, "Invoice": str, "StockCode": str})
    # text: keep invoice numbers and stock codes as written (leading zeros, letters)
    return pd.read_csv(path, dtype=str, encoding_errors="replace")


def _integral_ids(raw: pd.Series) -> pd.Series:
    """Ids as integers when every one is a whole number ("17850.0" -> 17850), else unchanged."""
    numbers = pd.to_numeric(raw, errors="coerce")
    if numbers.notna().all() and (numbers % 1 == 0).all():
        return numbers.astype("int64")
    return raw


def load_online_retail(
    source: pd.DataFrame | str | os.PathLike[str],
    *,
    drop_missing_customers: bool = False,
    on_invalid: OnInvalid = "raise",
    timestamp_format: str | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Load UCI-Online-Retail-style order lines as an order log.

    Expected columns: ``InvoiceNo, StockCode, Description, Quantity,
    InvoiceDate, UnitPrice, CustomerID, Country`` (the "Online Retail II"
    names ``Invoice``, ``Price`` and ``Customer ID`` are read as these).
    Each line becomes a purchase with ``amount`` = Quantity x UnitPrice,
    ``order_id`` = InvoiceNo, ``item_id`` = StockCode and ``channel`` = Country.
    Invoices starting with ``"C"`` are cancellations: they become ``refund``
    rows with a positive quantity and amount. Whole-number customer ids
    (``17850.0``) become integers.

    Parameters
    ----------
    source : DataFrame or str or path-like
        The lines, or a ``.csv``, ``.parquet`` or ``.xlsx`` file of them.
    drop_missing_customers : bool, default False
        Lines without a CustomerID (guest checkouts, stock adjustments) raise a
        :class:`~repurchase_ml.errors.SchemaError` by default; with ``True`` they
        are dropped and counted in ``report.dropped``.
    on_invalid : {"raise", "drop"}, default "raise"
        Passed to :func:`~repurchase_ml.events.read_events` for the other rules.
        The full UCI file repeats some lines exactly and has a few negative
        adjustments; ``"drop"`` removes and counts them.
    timestamp_format : str, optional
        ``strftime`` format of InvoiceDate when it is text (inferred when omitted).

    Returns
    -------
    events : pandas.DataFrame
    report : repurchase_ml.events.ValidationReport

    Examples
    --------
    >>> lines = pd.DataFrame({
    ...     "InvoiceNo": ["536365", "536365", "C536379"],
    ...     "StockCode": ["85123A", "71053", "85123A"],
    ...     "Description": ["HEART HOLDER", "LANTERN", "HEART HOLDER"],
    ...     "Quantity": [6, 2, -1],
    ...     "InvoiceDate": ["2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 09:41"],
    ...     "UnitPrice": [2.55, 3.39, 2.55],
    ...     "CustomerID": [17850.0, 17850.0, 17850.0],
    ...     "Country": ["United Kingdom"] * 3})
    >>> events, report = load_online_retail(lines)
    >>> events[["customer_id", "event_type", "order_id", "quantity", "amount"]]
       customer_id event_type order_id  quantity  amount
    0        17850   purchase   536365       6.0   15.30
    1        17850   purchase   536365       2.0    6.78
    2        17850     refund  C536379       1.0    2.55
    """
    if not isinstance(drop_missing_customers, bool):
        raise TypeError(
            "drop_missing_customers must be True or False, "
            f"got {type(drop_missing_customers).__name__}."
        )
    raw = _read_online_retail(source).rename(columns=_ONLINE_RETAIL_II)
    needed = [c for c in _ONLINE_RETAIL_COLUMNS if c != "Description"]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise SchemaError(
            missing[0],
            f"required Online Retail column is missing (have: {', '.join(map(str, raw.columns))})",
            fix=f"pass lines with the columns {', '.join(_ONLINE_RETAIL_COLUMNS)}",
        )
    n_input = len(raw)
    no_customer = raw["CustomerID"].isna() | raw["CustomerID"].astype(str).str.strip().eq("")
    n_missing = int(no_customer.sum())
    if n_missing and not drop_missing_customers:
        raise SchemaError(
            "CustomerID",
            "lines without a customer id cannot be attributed to a customer",
            n_rows=n_missing,
            examples=raw.loc[no_customer, "InvoiceNo"].head(5).tolist(),
            fix="pass drop_missing_customers=True to drop them (they are counted in the "
            "report), or fill CustomerID before loading",
        )
    if n_missing:
        logger.warning("dropping %d lines without a CustomerID", n_missing)
        raw = raw.loc[~no_customer]

    invoice = raw["InvoiceNo"].astype(str).str.strip()
    cancelled = invoice.str.upper().str.startswith("C")
    quantity = pd.to_numeric(raw["Quantity"], errors="coerce")
    raw = raw.assign(
        InvoiceNo=invoice,
        CustomerID=_integral_ids(raw["CustomerID"]),
        # a cancellation's quantity is negative in the source; the refund is positive
        Quantity=quantity.where(~cancelled, quantity.abs()),
        EventType=np.where(cancelled, "refund", "purchase"),
    )
    mapping = ColumnMapping(
        columns={
            "customer_id": "CustomerID",
            "timestamp": "InvoiceDate",
            "event_type": "EventType",
            "order_id": "InvoiceNo",
            "item_id": "StockCode",
            "channel": "Country",
        },
        amount_from=("Quantity", "UnitPrice"),
        timestamp_format=timestamp_format,
    )
    events, report = read_events(raw, mapping, on_invalid=on_invalid)
    report.n_input_rows = n_input
    if n_missing:
        report.dropped = {"no customer id (CustomerID)": n_missing, **report.dropped}
    return events, report
