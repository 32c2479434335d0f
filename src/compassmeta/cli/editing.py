"""Correcting the study table: remove and edit rows (locked, validated, atomic, like add)."""
from pathlib import Path

import click

from ..common.errors import InputError, did_you_mean
from .app import emit, main, say

CONFIRM_HELP = ("Accept a value beyond any plausible one (|g| > 5) after checking it against the report; "
                "REASON is recorded in the row's inclusion_note.")


def table_option(func):
    """--table and --studies: which study table a command reads or writes."""
    func = click.option("--studies", "studies_folder", default=None, metavar="DIR",
                        help="Study folder with datapackage.json [./studies]; the table is "
                             "DIR/trials.csv.")(func)
    return click.option("--table", "table_path", default=None,
                        help="Study table [trials.csv of the study folder].")(func)


def author_options(func):
    """--by and --reason: who makes a change and why, for the audit log (changes.csv)."""
    func = click.option("--reason", default="",
                        help="Why the change is made (recorded in changes.csv).")(func)
    return click.option("--by", "by", default="", metavar="NAME",
                        help="Who makes the change (recorded in changes.csv) [the login name].")(func)


def study_table_path(table_path, studies_folder=None):
    """--table, else trials.csv of --studies DIR, else of ./studies (or the checkout's)."""
    if table_path:
        return Path(table_path)
    from ..report.reproduce import studies_dir  # (it imports matplotlib: only when no --table is given)

    return studies_dir(studies_folder) / "trials.csv"


def author(command, by, reason, confirm_reason=None):
    """The :class:`~compassmeta.data.audit.Author` of a change (a confirmation is part of the reason)."""
    from ..data.audit import Author

    confirmed = f"confirmed implausible: {confirm_reason}" if confirm_reason else ""
    return Author(command=command, who=by, reason="; ".join(part for part in (reason, confirmed) if part))


def confirmed_note(note, reason):
    """``note`` with the curator's confirmation of an implausible value appended."""
    from ..data.cross_checks import confirmation_note

    return confirmation_note(note, reason)


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
    """An error naming every field that is not in the schema, each with a close match."""
    unknown = [name for name in record if name not in schema.names]
    if len(unknown) == 1:
        name = unknown[0]
        raise InputError(f"'{name}' is not a field of the schema{did_you_mean(name, schema.names)}",
                         file=source, column=name)
    if unknown:
        raise InputError("fields not in the schema: " + ", ".join(
            f"'{name}'{did_you_mean(name, schema.names)}" for name in unknown), file=source)


@main.command()
@click.argument("es_id")
@table_option
@author_options
@click.option("--yes", is_flag=True, help="Remove without asking for confirmation.")
def remove(es_id, table_path, studies_folder, by, reason, yes):
    """Remove the row ES_ID from a study table (locked, validated, atomic, logged in changes.csv)."""
    from ..data.editing import row_cells, without_row
    from ..data.loading import resource_for
    from ..data.store import rewrite_table

    path = study_table_path(table_path, studies_folder)
    cells = row_cells(path, es_id)
    click.echo(f"{es_id}: {cells.get('citation', '')[:80]} "
               f"({cells.get('outcome', '')}, {cells.get('timepoint', '')})")
    if not yes and not click.confirm(f"Remove it from {path}?", default=False):
        click.echo("Nothing written.")
        return
    rewrite_table(path, without_row(es_id), resource=resource_for(path), on_wait=say,
                  author=author("remove", by, reason))
    click.echo(f"Removed {es_id} from {path}.")


@main.command()
@click.argument("es_id")
@click.option("-s", "--set", "assignments", multiple=True, required=True, metavar="FIELD=VALUE",
              help="New value of a field (repeatable), e.g. -s sd1=5.2.")
@click.option("--confirm-implausible", "confirm_reason", default=None, metavar="REASON", help=CONFIRM_HELP)
@table_option
@author_options
@click.option("--yes", is_flag=True, help="Write without asking for confirmation.")
def edit(es_id, assignments, confirm_reason, table_path, studies_folder, by, reason, yes):
    """Correct fields of the row ES_ID (locked, validated, atomic, logged in changes.csv); shows
    old -> new and the new g.  A change that leaves the table invalid is refused, naming the rule."""
    from ..data.editing import edited_row, row_cells, with_values
    from ..data.loading import resource_for
    from ..data.store import rewrite_table

    path = study_table_path(table_path, studies_folder)
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
    rewrite_table(path, with_values(es_id, values), resource=resource, on_wait=say,
                  author=author("edit", by, reason, confirm_reason))
    click.echo(f"Updated {es_id} in {path}.")


@main.command()
@click.argument("es_id", required=False)
@table_option
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def history(es_id, table_path, studies_folder, output_format):
    """Print the audit log (changes.csv beside the table): every change, or those of ES_ID."""
    from ..data.audit import history as read_history

    result = read_history(study_table_path(table_path, studies_folder), es_id)
    emit(result, output_format, str, lambda d: d["entries"])
