"""Correcting the study table: remove and edit rows (locked, validated, atomic, like add)."""
from pathlib import Path

import click

from ..common.errors import InputError, did_you_mean
from .app import main, say

CONFIRM_HELP = ("Accept a value beyond any plausible one (|g| > 5) after checking it against the report; "
                "REASON is recorded in the row's inclusion_note.")


def table_option(func):
    return click.option("--table", "table_path", default=None,
                        help="Study table [studies/trials.csv].")(func)


def study_table_path(table_path):
    from ..report.reproduce import studies_dir

    return Path(table_path) if table_path else studies_dir() / "trials.csv"


def confirmed_note(note, reason):
    """``note`` with the curator's confirmation of an implausible value appended."""
    from ..data.validation import IMPLAUSIBLE_CONFIRMED

    return f"{note.strip()} [{IMPLAUSIBLE_CONFIRMED}: {reason.strip()}]".strip()


def assignments_dict(assignments):
    """``-s FIELD=VALUE`` options as a dict of text cells."""
    values = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep:
            raise InputError(f"--set takes FIELD=VALUE, got '{assignment}'")
        values[name.strip()] = value.strip()
    return values


def imported_cross_check(record):
    """Take the ``database_g`` of a ``data import`` row out of the record (it is no field of
    the curated table) and return it for comparison with the row's own g, or None."""
    from ..data.statistics_only import IMPORTED_COLUMN

    value = record.pop(IMPORTED_COLUMN, "").strip()
    return value or None


def check_fields(record, schema, source=None):
    """An error naming the first field that is not in the schema, with a close match."""
    for name in record:
        if name not in schema.names:
            raise InputError(f"'{name}' is not a field of the schema{did_you_mean(name, schema.names)}",
                             file=source, column=name)


@main.command()
@click.argument("es_id")
@table_option
@click.option("--yes", is_flag=True, help="Remove without asking for confirmation.")
def remove(es_id, table_path, yes):
    """Remove the row ES_ID from a study table (locked, validated, atomic)."""
    from ..data.editing import row_cells, without_row
    from ..data.loading import resource_for
    from ..data.store import rewrite_table

    path = study_table_path(table_path)
    cells = row_cells(path, es_id)
    click.echo(f"{es_id}: {cells.get('citation', '')[:80]} "
               f"({cells.get('outcome', '')}, {cells.get('timepoint', '')})")
    if not yes and not click.confirm(f"Remove it from {path}?", default=False):
        click.echo("Nothing written.")
        return
    rewrite_table(path, without_row(es_id), resource=resource_for(path), on_wait=say)
    click.echo(f"Removed {es_id} from {path}.")


@main.command()
@click.argument("es_id")
@click.option("-s", "--set", "assignments", multiple=True, required=True, metavar="FIELD=VALUE",
              help="New value of a field (repeatable), e.g. -s sd1=5.2.")
@click.option("--confirm-implausible", "confirm_reason", default=None, metavar="REASON", help=CONFIRM_HELP)
@table_option
@click.option("--yes", is_flag=True, help="Write without asking for confirmation.")
def edit(es_id, assignments, confirm_reason, table_path, yes):
    """Correct fields of the row ES_ID (locked, validated, atomic); shows old -> new and the new g."""
    from ..data.editing import edited_row, row_cells, with_values
    from ..data.loading import resource_for
    from ..data.store import rewrite_table

    path = study_table_path(table_path)
    resource = resource_for(path)
    values = assignments_dict(assignments)
    if confirm_reason:
        note = values.get("inclusion_note", row_cells(path, es_id).get("inclusion_note", ""))
        values["inclusion_note"] = confirmed_note(note, confirm_reason)
    old, _, (g, v), warnings = edited_row(path, es_id, values, resource=resource)
    for name, value in values.items():
        click.echo(f"{name}: {old[name] or '(empty)'} -> {value or '(empty)'}")
    click.echo(f"{es_id}: g = {g:.4f} (SE {v ** 0.5:.4f})")
    for warning in warnings:
        click.echo(f"Warning: {warning.message}", err=True)
    if not yes and not click.confirm(f"Write to {path}?", default=True):
        click.echo("Nothing written.")
        return
    rewrite_table(path, with_values(es_id, values), resource=resource, on_wait=say)
    click.echo(f"Updated {es_id} in {path}.")
