"""Errors raised by repurchase_ml, all in one shape: what, where, how to fix."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SchemaError", "StoreError", "format_examples"]


def format_examples(values: Sequence[object], limit: int = 5) -> str:
    """Render up to ``limit`` offending values for an error message.

    Examples
    --------
    >>> format_examples(["a", 1, None, "b", 2.5, "c"])
    "'a', 1, None, 'b', 2.5"
    """
    return ", ".join(repr(v) for v in list(values)[:limit])


class SchemaError(ValueError):
    """A table breaks the data contract.

    The message names the column, the rule, how many rows break it, up to five
    examples and how to fix it. The same facts are kept as attributes so that
    callers (the CLI, a validation report) can use them without parsing text.

    Examples
    --------
    >>> err = SchemaError("amount", "purchase amount must be >= 0", n_rows=2,
    ...                   examples=[-1.0, -3.5], fix="drop refunds from the purchase rows")
    >>> print(err)
    column 'amount': purchase amount must be >= 0 (2 rows, e.g. -1.0, -3.5). Fix: drop refunds from the purchase rows.

    Examples are distinct (a thousand rows of one bad label show it once), and
    a fix that ends in a question keeps its question mark:

    >>> print(SchemaError("event_type", "unknown event type", n_rows=3,
    ...                   examples=["CANCEL", "CANCEL", "VOID"], fix="did you mean 'refund'?"))
    column 'event_type': unknown event type (3 rows, e.g. 'CANCEL', 'VOID'). Fix: did you mean 'refund'?
    """

    def __init__(
        self,
        column: str | None,
        rule: str,
        *,
        n_rows: int | None = None,
        examples: Sequence[object] = (),
        fix: str = "",
    ) -> None:
        self.column = column
        self.rule = rule
        self.n_rows = n_rows
        distinct: dict[str, object] = {}
        for value in examples:
            distinct.setdefault(repr(value), value)
            if len(distinct) == 5:
                break
        self.examples = list(distinct.values())
        self.fix = fix
        where = f"column {column!r}: " if column is not None else ""
        count = ""
        if n_rows is not None:
            count = f" ({n_rows} row{'s' if n_rows != 1 else ''}"
            count += f", e.g. {format_examples(self.examples)})" if self.examples else ")"
        tail = f" Fix: {fix}" if fix else ""
        if tail and not tail.endswith((".", "?", "!")):
            tail += "."
        super().__init__(f"{where}{rule}{count}.{tail}")


class StoreError(RuntimeError):
    """The MLflow tracking store or the artifacts it points at cannot be used.

    The message names the store (URI or path), what is wrong and how to fix it.

    Examples
    --------
    >>> print(StoreError("cannot reach the tracking server 'http://mlflow:5000'"))
    cannot reach the tracking server 'http://mlflow:5000'
    """
