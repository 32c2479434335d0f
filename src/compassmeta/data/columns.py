"""Typed rows that carry their table's columns, so that each check of ``validate`` reads a field
of 10^5 rows as one list instead of asking every row (:func:`schema.rows_as_columns` proves
the rows are a whole table's, one pass over them per call, ten calls per ``validate``)."""
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np

from .schema import rows_as_columns


class TypedRows(list):
    """The typed rows of a table (:func:`schema.typed_rows`) with its columns by field."""

    def __init__(self, rows: Iterable[Any], columns: Mapping[str, Sequence[Any]]):
        super().__init__(rows)
        self.columns = columns
        self.numbers: dict[str, np.ndarray] = {}    # fields as floats, converted once (read-only)


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
        cache[name] = np.array(columns_of(rows, (name,))[name], dtype=float)
    return cache[name]
