"""Removing and correcting rows of a study table with the guarantees of an append: the
table's lock held from read to write, the whole table validated, an atomic replace."""
import os
from collections.abc import Mapping
from typing import Any

from ..common.errors import InputError, did_you_mean
from .row_effects import row_effect
from .store import Change, changed_table, current_table
from .table_text import Patch
from .tables import Table


def row_number(table: Table, es_id: str) -> int:
    """The 1-based row of ``es_id`` in a table; an error suggesting a close es_id if absent."""
    ids = [cell.strip() for cell in table.column("es_id")]
    if es_id not in ids:
        raise InputError(f"no row with es_id '{es_id}'{did_you_mean(es_id, ids)}", file=table.path,
                         column="es_id")
    return ids.index(es_id) + 1


def row_cells(path: str | os.PathLike[str], es_id: str) -> dict[str, str]:
    """The text cells (a dict) of the row ``es_id`` of a table file."""
    table = current_table(path)
    return dict(zip(table.header, table.rows[row_number(table, es_id) - 1]))


def without_row(es_id: str) -> Change:
    """A change for :func:`store.rewrite_table` that drops the row ``es_id``."""
    def change(table: Table) -> Patch:
        return Patch(dropped=frozenset({row_number(table, es_id) - 1}))
    change.key = ("remove", es_id)  # type: ignore[attr-defined]  # store.changed_table reads it
    return change


def with_values(es_id: str, values: Mapping[str, str]) -> Change:
    """A change for :func:`store.rewrite_table` that sets fields (text) of the row ``es_id``."""
    def change(table: Table) -> Patch:
        unknown = [name for name in values if name not in table.header]
        if unknown:
            raise InputError(f"no column '{unknown[0]}'{did_you_mean(unknown[0], table.header)}",
                             file=table.path, column=unknown[0])
        number = row_number(table, es_id)
        cells = dict(zip(table.header, table.rows[number - 1]))
        cells.update(values)
        return Patch(replaced={number - 1: tuple(cells[name] for name in table.header)})
    change.key = ("edit", es_id, tuple(values.items()))  # type: ignore[attr-defined]
    return change


def edited_row(path: str | os.PathLike[str], es_id: str, values: Mapping[str, str], package: Any = None,
               resource: str = "trials"
               ) -> tuple[dict[str, str], dict[str, Any], tuple[float, float], list[Any]]:
    """(old cells, new typed row, (g, v), warnings on that row) of an edit, validated, not written."""
    table = current_table(path)
    number = row_number(table, es_id)
    old = dict(zip(table.header, table.rows[number - 1]))
    _, _, typed, warnings = changed_table(path, with_values(es_id, values), package, resource)
    new = typed[number - 1]
    return old, new, row_effect(new), [w for w in warnings if w.row == number]
