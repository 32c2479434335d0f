"""Effect sizes of a study-like table that is not (yet) in the curated schema.

``compassmeta data import`` writes rows whose descriptive fields (intervention class,
population, outcome) are left for the curator and which carry a ``database_g`` cross-check
column.  Such a table cannot pass the schema, but its statistics already give Hedges' g: this
module reads only the columns the row's ``stat_type`` needs (``REQUIRED_STATISTICS``), with
the same formulas and the same plausibility limit as the curated route.
"""
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..common.errors import InputError
from ..common.formatting import fmt_g
from .measure_routes import ROUTE_MEASURES, route_problems
from .row_effects import REQUIRED_STATISTICS, row_effect
from .schema import convert
from .tables import Table
from .validation import LARGE_G, overflow_problem
from .where import is_missing

FIELD_TYPES = {"stat_type": "string", "direction": "string", "higher_is_better": "boolean",
               "events1": "integer", "events2": "integer", "correlation_n": "integer"}
IMPORTED_COLUMN = "database_g"   # written by data import beside the statistics
PLAUSIBLE_ABS_G = LARGE_G   # the curated route's limit


def typed_statistics(cells: Mapping[str, str], file: object, number: int) -> dict[str, Any]:
    """The stat_type, direction and statistics of one row (a dict of text cells), typed."""
    kind = cells.get("stat_type", "").strip()
    if kind not in REQUIRED_STATISTICS:
        raise InputError(f"stat_type '{kind}' is not one of: {', '.join(REQUIRED_STATISTICS)}",
                         file=file, row=number, column="stat_type")
    row: dict[str, Any] = {"stat_type": kind}
    for name in REQUIRED_STATISTICS[kind] + ("higher_is_better",):
        text = cells.get(name, "")
        if is_missing(text):
            raise InputError(f"stat_type '{kind}' needs a value here", file=file, row=number, column=name)
        try:
            row[name] = convert(text.strip(), FIELD_TYPES.get(name, "number"))
        except ValueError as error:
            raise InputError(str(error), file=file, row=number, column=name) from None
    if kind in ROUTE_MEASURES:   # a route of another measure than g: its measure, and the route's rules
        row["measure"] = cells.get("measure", "").strip() or None
        problems = route_problems(row, str(file), number)
        if problems:
            raise InputError(problems[0].message, file=file, row=number, column=problems[0].column)
    return row


def effects_from_statistics(table: Table) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """(yi, vi, warnings) of every row of a :class:`~compassmeta.data.tables.Table` from its
    statistics.  |g| beyond ``PLAUSIBLE_ABS_G`` is an error unless the row's ``database_g``
    (the source database's own g) confirms it, which makes it a warning."""
    yi, vi, warnings = np.empty(len(table)), np.empty(len(table)), []
    for index, record in enumerate(table.rows):
        number = index + 1
        cells = dict(zip(table.header, record))
        row = typed_statistics(cells, table.path, number)
        with np.errstate(over="raise", divide="raise"):
            try:
                g, v = row_effect(row)
            except (FloatingPointError, OverflowError, ZeroDivisionError):
                problem = overflow_problem(row, table.path, number)
                raise InputError(problem.message, file=table.path, row=number,
                                 column=problem.column) from None
        if not (np.isfinite(g) and np.isfinite(v) and v > 0):
            raise InputError("the statistics do not give a finite g and variance", file=table.path,
                             row=number, column="stat_type")
        if abs(g) > PLAUSIBLE_ABS_G:
            message = f"g = {fmt_g(g)} is beyond |{PLAUSIBLE_ABS_G:g}|"
            if not _confirmed_by_database(g, cells.get(IMPORTED_COLUMN, "")):
                raise InputError(message + ": an SE entered as an SD, or a sum entered as a mean? Correct "
                                 "the row or leave it out (--where)", file=table.path, row=number,
                                 column="stat_type")
            warnings.append(f"{table.path}, row {number}: {message}, as the database reports "
                            f"({IMPORTED_COLUMN} = {cells[IMPORTED_COLUMN]})")
        yi[index], vi[index] = g, v
    return yi, vi, warnings


def _confirmed_by_database(g: float, database_text: str, tolerance: float = 0.05) -> bool:
    """The database's own g agrees with ours (small differences: its small-sample correction)."""
    try:
        return abs(abs(float(database_text)) - abs(g)) < tolerance
    except ValueError:
        return False
