"""Typed rows that carry their table's columns, so that each check of ``validate`` reads a field
of 10^5 rows as one list instead of asking every row (:func:`schema.rows_as_columns` proves
the rows are a whole table's, one pass over them per call, ten calls per ``validate``)."""
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .schema import rows_as_columns


class TypedRows(list):
    """The typed rows of a table (:func:`schema.typed_rows`) with its columns by field."""

    def __init__(self, rows: Iterable[Any], columns: Mapping[str, Sequence[Any]]):
        super().__init__(rows)
        self.columns = columns


def columns_of(rows: Sequence[Any], names: Iterable[str]) -> dict:
    """{name: the values of that field across ``rows``} as :func:`schema.rows_as_columns` gives
    them, taken from the columns the rows carry when they are :class:`TypedRows` of that length."""
    if isinstance(rows, TypedRows) and all(len(column) == len(rows) for column in rows.columns.values()):
        blank = (None,) * len(rows)
        return {name: rows.columns.get(name, blank) for name in names}
    return rows_as_columns(rows, names)
