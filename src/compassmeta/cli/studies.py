"""Study-table commands: reproduce, validate, add, data."""
import sys
from pathlib import Path

import click

from ..common.errors import CompassmetaError, InputError
from .app import DEFAULT_PREPOST_R, echo_warnings, emit, main, say
from .editing import (
    CONFIRM_HELP,
    assignments_dict,
    author,
    author_options,
    check_fields,
    confirmed_note,
    imported_cross_check,
    study_table_path,
)

VALIDATE_WARNINGS_SHOWN = 20


@main.command()
@click.option("--studies", "studies_folder", default=None, help="Folder with datapackage.json [./studies].")
@click.option("--mirror", default=None, help="Folder mirroring the open databases (else COMPASSMETA_MIRROR).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--figures", "figures_folder", default=None, metavar="DIR",
              help="Also draw the forest and funnel plots into DIR (e.g. figures/ to refresh the "
                   "committed ones); without it no figure is written.")
def reproduce(studies_folder, mirror, output_format, figures_folder):
    """Recompute the published pooled results in studies/published_results.csv (and, with
    --figures DIR, draw their figures)."""
    from ..common.files import check_outputs
    from ..report.reproduce import reproduce as run_reproduction
    from ..report.reproduce import reproduction_table, studies_dir

    folder = studies_dir(studies_folder)
    figures = Path(figures_folder) if figures_folder else None
    check_outputs({"--figures": figures}, inputs=[folder / "datapackage.json"])
    result = run_reproduction(folder, mirror=mirror, figures=figures)
    emit(result, output_format, reproduction_table, None)



@main.command()
@click.argument("tables", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--studies", "studies_folder", default=None, metavar="DIR",
              help="Study folder whose trials.csv and thirdwave.csv to check when no TABLES are given "
                   "[./studies].")
@click.option("--all-warnings", is_flag=True,
              help=f"List every warning (else the first {VALIDATE_WARNINGS_SHOWN} of a table and a count).")
def validate(tables, studies_folder, all_warnings):
    """Check study tables against studies/datapackage.json; list every error and the warnings
    (schema, row rules, consistency, checks across a trial's rows, plausibility)."""
    from ..data.loading import resource_for
    from ..data.rob2 import rob2_problems
    from ..data.studytable import validate_file

    if not tables:
        from ..report.reproduce import studies_dir  # (it imports matplotlib: only when no table is named)

        folder = studies_dir(studies_folder)
        tables = [path for path in (folder / "trials.csv", folder / "thirdwave.csv", folder / "rob2.csv")
                  if path.exists() or path.name == "trials.csv"]
    errors = 0
    for table in tables:
        if Path(table).stem == "rob2":       # RoB 2 judgements: their schema and the RoB 2 algorithm
            problems = rob2_problems(table)[0]
        else:
            problems = validate_file(table, resource=resource_for(table))
        found = [problem for problem in problems if problem.level == "error"]
        for problem in found:
            click.echo(f"Error: {problem}", err=True)
        warnings = [problem for problem in problems if problem.level == "warning"]
        echo_warnings(warnings, len(warnings) if all_warnings else VALIDATE_WARNINGS_SHOWN, err=False,
                      hint="--all-warnings lists them")
        errors += len(found)
        if not problems:
            click.echo(f"{table}: ok")
    if errors:
        click.echo(f"{errors} error(s)", err=True)
        sys.exit(1)


def _records_from_file(path):
    """The rows of a CSV, or of a JSON object or list of objects, as dicts of text cells."""
    from ..common.files import read_json
    from ..data.tables import read_table

    if str(path).lower().endswith(".json"):
        data = read_json(path, "JSON row")
        objects = data if isinstance(data, list) else [data]
        if not objects or not all(isinstance(item, dict) for item in objects):
            raise InputError("a JSON file of rows holds one object of field: value, or a list of them",
                             file=path)
        return [{key: ("" if value is None else str(value).lower() if isinstance(value, bool) else str(value))
                 for key, value in item.items()} for item in objects]
    table = read_table(path)
    return [dict(zip(table.header, record)) for record in table.rows]


def _new_records(from_file, assignments, schema, package, confirm_reason):
    """The rows to add: those of --from (or one empty row), each with the -s values set."""
    records = _records_from_file(from_file) if from_file else [{}]
    if len(records) > 1 and assignments:
        raise InputError("-s sets a field of one row; with a --from file of several rows, edit the file",
                         file=from_file)
    checks = []
    for record in records:
        record.update(assignments_dict(assignments))
        checks.append(imported_cross_check(record))
        check_fields(record, schema, from_file or package)
        if confirm_reason:
            record["inclusion_note"] = confirmed_note(record.get("inclusion_note", ""), confirm_reason)
        prepost = record.get("stat_type") in ("pre_post", "pre_post_smcr")
        if prepost and not record.get("prepost_r", "").strip():
            record["prepost_r"] = str(DEFAULT_PREPOST_R)
            click.echo(f"prepost_r not given: assuming a pre-post correlation of {DEFAULT_PREPOST_R} "
                       "(Cochrane Handbook 6.5.2.8); it is written into the row.", err=True)
    return records, checks


def _describe_new_row(row, g, v, database_g):
    measure = row.get("measure") or "SMD"
    name = {"SMD": "g", "OR": "log OR", "RR": "log RR", "ZCOR": "Fisher's z"}.get(measure, measure)
    click.echo(f"{row['es_id']}: {name} = {g:.4f} (SE {v ** 0.5:.4f}, variance {v:.6f}) "
               f"from {row['stat_type']}"
               + ("" if row["higher_is_better"] else "; sign flipped: lower scores are better"))
    if database_g is not None:
        click.echo(f"the database's own g: {database_g}" + ("" if abs(abs(float(database_g)) - abs(g)) < 0.05
                   else " (differs from the row's g: check the statistics)"), err=True)


@main.command()
@click.option("--table", "table_path", default=None, help="Study table to append to [studies/trials.csv].")
@click.option("--studies", "studies_folder", default=None, metavar="DIR",
              help="Study folder with datapackage.json [./studies]; the table is DIR/trials.csv.")
@click.option("--from", "from_file", default=None, type=click.Path(dir_okay=False),
              help="A CSV, a JSON object or a JSON list of objects with the new rows: all are added or "
                   "none.")
@click.option("-s", "--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Set a field of the new row (repeatable), e.g. -s es_id=smith2024-bdi-post. A t, d or "
                   "g may be given unsigned with -s direction=1 (intervention arm scored higher) or -1 "
                   "(lower); a signed value must agree with direction.")
@click.option("--interactive", is_flag=True,
              help="Ask for every missing field, required then optional, checking each answer as typed "
                   "(answers kept in a draft file).")
@click.option("--resume-draft", "draft_path", default=None, type=click.Path(dir_okay=False),
              help="With --interactive: resume the draft FILE an interrupted entry left (answers are "
                   "kept in .add-draft.json beside the table as they are typed).")
@click.option("--confirm-implausible", "confirm_reason", default=None, metavar="REASON", help=CONFIRM_HELP)
@author_options
@click.option("--yes", is_flag=True, help="Write without asking for confirmation.")
def add(table_path, studies_folder, from_file, assignments, interactive, draft_path, confirm_reason, by,
        reason, yes):
    """Add effect-size rows to a study table, safely (validated as a whole, locked, atomic, all or
    none, logged in changes.csv); every problem of the new rows is listed in one run."""
    from ..data.loading import resource_for
    from ..data.schema import Schema
    from ..data.store import append_rows, check_new_rows

    path = study_table_path(table_path, studies_folder)
    package = path.parent / "datapackage.json"
    resource = resource_for(path)
    schema = Schema.load(package, resource)
    records, database_gs = _new_records(from_file, assignments, schema, package, confirm_reason)
    draft = None
    if draft_path and not interactive:
        raise InputError("--resume-draft goes with --interactive")
    if draft_path:   # the draft is rewritten as answers come, then removed: never a file of the folder
        from ..common.files import check_outputs

        check_outputs({"--resume-draft": draft_path}, inputs=[path])
    if interactive:
        from .interactive import interactive_row

        draft = interactive_row(records[0], schema, path, package, resource, draft_path)
    _, _, rows, effects, warnings = check_new_rows(path, records, package, resource)
    for row, (g, v), database_g in zip(rows, effects, database_gs):
        _describe_new_row(row, g, v, database_g)
    for warning in warnings:
        click.echo(f"Warning: {warning.message}", err=True)
    if not yes and not click.confirm(f"Append {len(records)} row(s) to {path}?", default=True):
        click.echo("Nothing written.")
        return
    append_rows(path, records, package, resource, on_wait=say,
                author=author("add", by, reason, confirm_reason))
    if draft is not None and draft.exists():
        draft.unlink()
    click.echo(f"Appended {len(records)} row(s) to {path}.")


@main.group()
def data():
    """The open databases (Metapsy, MetaCIH): list, pull, path, import."""


@data.command("list")
@click.option("--mirror", default=None, help="Mirror folder (else COMPASSMETA_MIRROR).")
def data_list(mirror):
    """Known databases, their pinned versions and whether a verified copy is here."""
    from ..data.datasets import DATABASES, local_path

    for db in DATABASES.values():
        try:
            where = local_path(db.name, mirror) or "not here"
        except CompassmetaError as error:
            where = f"checksum mismatch ({error})"
        click.echo(f"{db.name}\n  {db.title}\n  {db.repository} @ {db.commit}\n  doi:{db.doi}, {db.license}"
                   f"\n  sha256 {db.sha256}\n  local: {where}")


@data.command("pull")
@click.argument("name")
@click.option("--mirror", default=None, help="Copy from this mirror folder instead of downloading.")
def data_pull(name, mirror):
    """Download (or copy from a mirror) the pinned file, verify its sha256, cache it."""
    from ..data.datasets import pull

    click.echo(f"{name}: verified and saved to {pull(name, mirror)}")


@data.command("path")
@click.argument("name")
@click.option("--mirror", default=None, help="Mirror folder (else COMPASSMETA_MIRROR).")
def data_path(name, mirror):
    """Print the local path of a verified copy (or say how to get one)."""
    from ..data.datasets import require

    click.echo(str(require(name, mirror)))


@data.command("import")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="CSV to write in the project's schema (for curation).")
@click.option("--mirror", default=None, help="Mirror folder (else COMPASSMETA_MIRROR).")
def data_import(source, output, mirror):
    """Turn a Metapsy-standard CSV (a file, or a database name) into the project's schema; a file
    that is a pinned database (same sha256) keeps that database's license and DOI."""
    from ..common.files import check_outputs, write_atomically
    from ..data.datasets import DATABASES, import_metapsy, pinned_database, require
    from ..data.store import format_table

    name = source if source in DATABASES else None
    path = require(source, mirror) if name else Path(source)
    if name is None and path.is_file():
        name = pinned_database(path)
        if name:
            click.echo(f"{path} is the pinned file of {name} (sha256): its license and DOI are kept.",
                       err=True)
    check_outputs({"-o/--output": output}, inputs=[path])
    rows, skipped = import_metapsy(path, name)
    if not rows:
        raise InputError("no rows with means, change scores or a precalculated g", file=path)
    header = list(dict.fromkeys(name for row in rows for name in row))  # g/se rows add columns
    write_atomically(output, format_table(header, rows))
    click.echo(f"{len(rows)} rows written to {output} ({skipped} without usable statistics skipped); "
               "fill intervention_class, population and outcome before adding rows to the curated table.")

