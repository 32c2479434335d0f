"""Removing and correcting rows of a study table with the guarantees of an append: the
table's lock held from read to write, the whole table validated, an atomic replace."""
from ..common.errors import InputError, did_you_mean
from .row_effects import row_effect
from .store import changed_table, current_table


def row_number(table, es_id):
    """The 1-based row of ``es_id`` in a table; an error suggesting a close es_id if absent."""
    ids = [cell.strip() for cell in table.column("es_id")]
    if es_id not in ids:
        raise InputError(f"no row with es_id '{es_id}'{did_you_mean(es_id, ids)}", file=table.path,
                         column="es_id")
    return ids.index(es_id) + 1


def row_cells(path, es_id):
    """The text cells (a dict) of the row ``es_id`` of a table file."""
    table = current_table(path)
    return dict(zip(table.header, table.rows[row_number(table, es_id) - 1]))


def without_row(es_id):
    """A change for :func:`store.rewrite_table` that drops the row ``es_id``."""
    def change(table, records):
        number = row_number(table, es_id)
        return records[:number - 1] + records[number:]
    change.key = ("remove", es_id)
    return change


def with_values(es_id, values):
    """A change for :func:`store.rewrite_table` that sets fields (text) of the row ``es_id``."""
    def change(table, records):
        unknown = [name for name in values if name not in table.header]
        if unknown:
            raise InputError(f"no column '{unknown[0]}'{did_you_mean(unknown[0], table.header)}",
                             file=table.path, column=unknown[0])
        number = row_number(table, es_id)
        cells = dict(zip(table.header, records[number - 1]))
        cells.update(values)
        records[number - 1] = tuple(cells[name] for name in table.header)
        return records
    change.key = ("edit", es_id, tuple(values.items()))
    return change


def edited_row(path, es_id, values, package=None, resource="trials"):
    """(old cells, new typed row, (g, v), warnings on that row) of an edit, validated, not written."""
    table = current_table(path)
    number = row_number(table, es_id)
    old = dict(zip(table.header, table.rows[number - 1]))
    _, _, typed, warnings = changed_table(path, with_values(es_id, values), package, resource)
    new = typed[number - 1]
    return old, new, row_effect(new), [w for w in warnings if w.row == number]
