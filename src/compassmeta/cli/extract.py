"""Double-extraction commands: extract compare, extract merge."""
import sys
from pathlib import Path

import click

from .app import emit, main, say


@main.group()
def extract():
    """Double extraction: compare two independent extractions, merge the agreed rows."""


def _conflict_table(comparison):
    if comparison.agreed:
        return f"{comparison.rows_compared} row(s) compared: the two extractions agree."
    invalid = f", {comparison.invalid_values} invalid value(s)" if comparison.invalid_values else ""
    lines = [f"{len(comparison.conflicts)} conflict(s) in {comparison.rows_compared} row(s){invalid} "
             f"(first = {comparison.first}, second = {comparison.second}):"]
    for c in comparison.conflicts:
        arm = f", arm {c.arm}" if c.arm else ""
        lines.append(f"  {c.study_id} / {c.es_id} ({c.outcome}{arm}) {c.field}: "
                     f"first '{c.first}', second '{c.second}'")
    return "\n".join(lines)


@extract.command("compare")
@click.argument("first", type=click.Path(dir_okay=False))
@click.argument("second", type=click.Path(dir_okay=False))
@click.option("--package", default=None, type=click.Path(dir_okay=False),
              help="datapackage.json with the schema [beside FIRST, else studies/].")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def extract_compare(first, second, package, output_format):
    """List every cell on which two extractions disagree, and every value that fails validation
    (marked invalid: with the rule); rows are paired by trial, outcome, instrument, component, arm,
    control arm and timepoint.  Exit 1 while any conflict is open."""
    from ..data.extraction import compare

    comparison = compare(first, second, _schema_package(first, package))
    emit(comparison, output_format, _conflict_table, None)
    if not comparison.agreed:
        sys.exit(1)


def _schema_package(first, package):
    """The schema: --package, else datapackage.json beside FIRST, else the project's studies/."""
    from ..report.reproduce import studies_dir

    if package:
        return Path(package)
    beside = Path(first).parent / "datapackage.json"
    return beside if beside.exists() else studies_dir() / "datapackage.json"


@extract.command("merge")
@click.argument("first", type=click.Path(dir_okay=False))
@click.argument("second", type=click.Path(dir_okay=False))
@click.option("--into", "into", required=True, type=click.Path(dir_okay=False),
              help="Study table to append the agreed rows to (e.g. studies/trials.csv).")
@click.option("--extractors", required=True, metavar="A,B", help="The two extractors' names, e.g. \"A,B\".")
@click.option("--by", "by", default="", metavar="NAME",
              help="Who merges (recorded in changes.csv beside the table) [the login name].")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def extract_merge(first, second, into, extractors, by, output_format):
    """Write the agreed rows into the study table, only when no conflict is open (logged in
    changes.csv)."""
    from ..data.audit import Author
    from ..data.extraction import merge

    who = Author("extract merge", by, f"double extraction by {extractors}")
    result = merge(first, second, into, extractors, on_wait=say, author=who)
    emit(result, output_format,
         lambda r: f"{len(r.rows_written)} row(s) written to {r.into} (extractors {r.extractors}): "
                   + ", ".join(r.rows_written), None)
