"""The curated study table: read, validate and give each row's effect size.

The pieces live in their own modules: :mod:`schema` (the Frictionless schema and typing of
cells), :mod:`instruments`, :mod:`row_effects` (g and its variance per row), :mod:`validation`
(row rules and every check of ``validate``), :mod:`consistency` and :mod:`store` (locked,
atomic writes).  The names below are re-exported so that ``data.studytable`` stays the one
import for a reader of the table.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .instruments import Instrument, instrument_of, load_instruments
from .row_effects import CONVERTED_STAT_TYPES, REQUIRED_STATISTICS, arm_means_sds, row_effect, table_effects
from .schema import Problem, Schema, check_constraints, convert, raise_first_error, typed_row
from .store import TableLock, append_row, check_new_row, format_record, format_table
from .tables import Table, read_table
from .validation import (
    IMPLAUSIBLE_CONFIRMED,
    LARGE_G,
    UNCOMPASSIONATE_PARTS,
    all_problems,
    checked_text,
    validate_text,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CONVERTED_STAT_TYPES", "IMPLAUSIBLE_CONFIRMED", "LARGE_G", "REQUIRED_STATISTICS",
           "UNCOMPASSIONATE_PARTS", "Instrument", "Problem", "Schema", "StudyTable", "TableLock",
           "append_row",
           "arm_means_sds", "check_constraints", "check_new_row", "convert", "format_record", "format_table",
           "instrument_of", "load_instruments", "load_study_table", "raise_first_error", "row_effect",
           "typed_row", "validate_file", "validate_text"]


@dataclass(frozen=True)
class StudyTable:
    """A validated study table: typed rows and each row's effect size."""

    path: str
    schema: Schema
    rows: tuple
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    warnings: tuple = ()

    def column(self, name: str) -> list:
        return [row[name] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        names = self.schema.names
        frame = pd.DataFrame({name: self.column(name) for name in names}, columns=names)
        frame["yi"], frame["vi"] = self.yi, self.vi
        return frame


def _validated_file(path: str | os.PathLike[str], package: str | os.PathLike[str] | None, resource: str,
                    table: Table | None = None) -> tuple:
    """(schema, problems, typed rows, effects or None) of a table file checked against its data package
    (``table``: the file as already read, if it was)."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    table = table or read_table(path, allow_empty=True)
    problems, typed, effects = checked_text(path, table.header, table.rows, schema, load_instruments(package))
    return schema, problems, typed, effects


def load_study_table(path: str | os.PathLike[str], package: str | os.PathLike[str] | None = None,
                     resource: str = "trials", table: Table | None = None) -> StudyTable:
    """Read and validate a study table; raise on the first error, keep warnings.  ``table``:
    the file as already read by :func:`tables.read_table`, if it was."""
    schema, problems, typed, effects = _validated_file(path, package, resource, table)
    raise_first_error(problems)
    yi, vi, done = effects if effects is not None else table_effects(typed)
    for number in np.flatnonzero(~done):
        yi[number], vi[number] = row_effect(typed[number])
    return StudyTable(path=str(path), schema=schema, rows=tuple(typed), yi=yi, vi=vi,
                      warnings=tuple(p for p in problems if p.level == "warning"))


def validate_file(path: str | os.PathLike[str], package: str | os.PathLike[str] | None = None,
                  resource: str = "trials") -> list:
    """All problems of a study table file (for ``compassmeta validate``); a trials table that
    passes the schema also gets the consistency checks of :mod:`consistency`."""
    path = Path(path)
    package = Path(package) if package else path.parent / "datapackage.json"
    schema = Schema.load(package, resource)
    table = read_table(path, allow_empty=True)
    problems, _ = all_problems(path, table.header, table.rows, schema, load_instruments(package))
    return problems
