"""Typed rows that carry their table's columns, so that each check of ``validate`` reads a field
of 10^5 rows as one list instead of asking every row (:func:`schema.rows_as_columns` proves
the rows are a whole table's, one pass over them per call, ten calls per ``validate``), the
codes of a field's distinct values, and a table's text cells read from its columns."""
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any, TypeGuard

import numpy as np

from .columnar import ColumnRecords
from .schema import ColumnRowView, RowView, rows_as_columns


class TypedRows(list):
    """The typed rows of a table (:func:`schema.typed_rows`) with its columns by field."""

    def __init__(self, rows: Iterable[Any], columns: Mapping[str, Sequence[Any]]):
        super().__init__(rows)
        self.columns = columns
        self.numbers: dict[str, np.ndarray] = {}    # fields as floats, converted once (read-only)
        self.codes: dict[str, tuple[np.ndarray, list]] = {}    # fields as value_codes, once (read-only)


def columns_of(rows: Sequence[Any], names: Iterable[str]) -> dict:
    """{name: the values of that field across ``rows``} as :func:`schema.rows_as_columns` gives
    them, taken from the columns the rows carry when they are :class:`TypedRows` of that length."""
    if _carries_columns(rows):
        blank = (None,) * len(rows)
        return {name: rows.columns.get(name, blank) for name in names}
    return rows_as_columns(rows, names)


def _carries_columns(rows: Sequence[Any]) -> TypeGuard[TypedRows]:
    return isinstance(rows, TypedRows) and all(len(column) == len(rows) for column in rows.columns.values())


def numbers_of(rows: Sequence[Any], name: str) -> np.ndarray:
    """A numeric field of ``rows`` as floats (blank or absent: nan), each field of
    :class:`TypedRows` converted once (about 0.03 s per field of 10^5 rows); not to be modified.
    OverflowError for an integer beyond floating point."""
    cache = rows.numbers if _carries_columns(rows) else {}
    if name not in cache:
        column = columns_of(rows, (name,))[name]
        blank = column.count(None) == len(column)     # most fields of most tables: nan at once
        cache[name] = np.full(len(column), np.nan) if blank else np.array(column, dtype=float)
    return cache[name]


def value_codes(column: Sequence[Any]) -> tuple[np.ndarray, list]:
    """(each cell's position among the column's distinct values, those values in order of first
    appearance): a rule judges each distinct value once and the rows by their codes."""
    distinct = list(dict.fromkeys(column))
    position = {value: code for code, value in enumerate(distinct)}
    return np.fromiter(map(position.__getitem__, column), dtype=np.intp, count=len(column)), distinct


def codes_of(rows: Sequence[Any], name: str) -> tuple[np.ndarray, list]:
    """:func:`value_codes` of a field of ``rows``, found once per field of :class:`TypedRows`
    (not to be modified)."""
    cache = rows.codes if _carries_columns(rows) else {}
    if name not in cache:
        cache[name] = value_codes(columns_of(rows, (name,))[name])
    return cache[name]


def coded_mask(codes: np.ndarray, distinct: Sequence[Any], test: Callable[[Any], bool]) -> np.ndarray:
    """The rows whose value passes ``test``, each distinct value tested once (:func:`value_codes`)."""
    return np.array([bool(test(value)) for value in distinct], dtype=bool)[codes]


def present(column: Sequence[Any]) -> np.ndarray:
    """The rows whose cell is not blank (None)."""
    return np.fromiter(map(operator.is_not, column, repeat(None)), dtype=bool, count=len(column))


def record_view(index: dict, records: Sequence[Sequence[str]], row: int) -> RowView:
    """The text cells of record ``row`` by field name (``index``: name -> position in the header),
    read from the columns of :class:`columnar.ColumnRecords` without building the record."""
    if isinstance(records, ColumnRecords):
        return ColumnRowView(index, records.columns, row)
    return RowView(index, records[row])
