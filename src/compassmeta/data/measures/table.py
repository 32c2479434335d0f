"""escalc on a CSV table: read the columns named as metafor's arguments, add yi and vi."""
import csv
import io
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...common.errors import InputError
from ...common.results import Result
from . import TOTALS, Escalc, escalc, lookup


@dataclass(frozen=True)
class EscalcTable(Result):
    """The rows of ``file`` (text cells as read) with yi and vi of ``escalc`` appended (or
    replaced, when the table has them already, as metafor's ``replace=TRUE``)."""

    file: str
    escalc: Escalc
    rows: tuple[dict[str, Any], ...]  # one dict per row: column -> text cell, then yi and vi as floats

    @property
    def header(self) -> list[str]:
        return list(dict.fromkeys([*self.rows[0], "yi", "vi"])) if self.rows else ["yi", "vi"]

    @property
    def omitted(self) -> int:
        """Rows whose yi or vi metafor would give as NA."""
        pairs = zip(self.escalc.yi, self.escalc.vi)
        return sum(not (math.isfinite(y) and math.isfinite(v)) for y, v in pairs)

    def to_csv(self) -> str:
        """The table as CSV; yi and vi to full precision, NA where undefined (as R writes it)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        for row in self.rows:
            writer.writerow([_cell(row[name]) for name in self.header])
        return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "NA"
    return value


def _column(table: Any, name: str, *, may_be_empty: bool) -> Any:
    """A numeric column; with ``may_be_empty`` an empty or NA cell is NaN (a row that gives another
    statistic instead, e.g. ti for SMD), else it is an error naming the row."""
    from ..tables import parse_number
    from ..where import is_missing

    if not may_be_empty:
        return table.numeric_column(name)
    return np.array([np.nan if is_missing(cell) else parse_number(cell, file=table.path, row=row, column=name)
                     for row, cell in enumerate(table.column(name), start=1)])


def escalc_table(path: str | os.PathLike[str], measure: str, *, vtype: str | None = None,
                 add: float | None = None, to: str | None = None) -> EscalcTable:
    """:func:`escalc` on the CSV at ``path``; errors name the file, row and column."""
    from ..tables import read_table

    spec = lookup(measure)
    if not spec.counts and (add is not None or to is not None):
        raise InputError(f"--add and --to are continuity corrections of counts; {spec.name} has none")
    table = read_table(path)
    optional = (spec.alternatives.columns + spec.alternatives.replaces) if spec.alternatives else ()
    wanted = [name for name in dict.fromkeys(spec.inputs + optional) if name in table.header]
    wanted += [other for name in spec.inputs if name not in table.header and name in TOTALS
               for other in TOTALS[name] if other in table.header and other not in wanted]
    columns = {name: _column(table, name, may_be_empty=name in optional) for name in wanted}
    result = escalc(spec.name, columns, vtype=vtype, add=add, to=to or "only0", file=table.path)
    rows = tuple({**{name: cell for name, cell in zip(table.header, row) if name not in ("yi", "vi")},
                  "yi": float(y), "vi": float(v)} for row, y, v in zip(table.rows, result.yi, result.vi))
    return EscalcTable(file=table.path, escalc=result, rows=rows)
