"""The ``compassmeta`` command line: parse options, call the library, render the result.

Errors the user can act on print one line (file, row, column, what is wrong) and exit 2;
``--debug`` shows the traceback instead.
"""
import json
from pathlib import Path

import click

from ..common.errors import CompassmetaError, InputError
from ..models.tau2 import METHODS

#: The tau^2 estimators of the registry (models.tau2), then FE.
METHOD_CHOICES = [name for name in METHODS if name != "FE"] + ["FE"]
DEFAULT_PREPOST_R = 0.5


class FriendlyGroup(click.Group):
    """Turns library errors into one-line messages unless --debug was given."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CompassmetaError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {error}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as error:  # a bug or an unforeseen condition: one line, not a traceback
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: unexpected {type(error).__name__}: {error} (rerun with --debug for details)",
                       err=True)
            ctx.exit(1)


@click.group(cls=FriendlyGroup)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="compassmeta")
@click.pass_context
def main(ctx, debug):
    """Meta-analysis of self-compassion interventions, matching R's metafor."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def model_options(func):
    """Options shared by every command that fits a model."""
    options = [
        click.argument("data", type=click.Path(dir_okay=False)),
        click.option("--yi", "yi_column", default=None, help="Effect-size column [yi]."),
        click.option("--vi", "vi_column", default=None, help="Sampling-variance column [vi]."),
        click.option("--sei", "sei_column", default=None, help="Standard-error column (instead of --vi)."),
        click.option("--method", type=click.Choice(METHOD_CHOICES, case_sensitive=False), default="REML",
                     show_default=True, help="tau^2 estimator, or FE for a fixed-effect model."),
        click.option("--ci-method", type=click.Choice(["z", "t", "cr2", "knha"]), default="z",
                     show_default=True,
                     help="Wald z; Knapp-Hartung t/F (independent effects); with --cluster: t on "
                          "k - p df, or cr2 (CR2 robust se, Satterthwaite df, HTZ test)."),
        click.option("--level", type=float, default=95.0, show_default=True, help="Confidence level (%)."),
        click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
                     default="table", show_default=True),
        click.option("--where", "where", multiple=True, metavar="CLAUSE",
                     help="Keep rows where CLAUSE holds (repeatable, all must hold): COL=V, COL!=V, COL<N, "
                          "COL<=N, COL>N, COL>=N, 'COL in A,B', 'COL not in A,B', 'COL present', "
                          "'COL missing'."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def cluster_options(func):
    """--cluster and --rho: dependent effect sizes (the three-level and CHE models)."""
    func = click.option("--rho", type=float, default=None,
                        help="Within-cluster sampling correlation (CHE model; needs --cluster).")(func)
    return click.option("--cluster", "cluster_column", default=None, metavar="COL",
                        help="Column of the cluster (e.g. study_id): fit the three-level model.")(func)


def cluster_labels(table, cluster_column):
    """The cluster of every row (an error names the first row without one), or None."""
    return table.label_column(cluster_column) if cluster_column else None


LABEL_COLUMNS = ("es_id", "study", "Author", "author", "label")


def load_effects(data, yi_column, vi_column, sei_column, where=(), cluster_column=None):
    """The table, its effect sizes and sampling variances, restricted by ``--where``.

    A study table in the project's schema (with ``es_id`` and ``stat_type``, and the data
    package beside it) is validated and gets its effect sizes from the statistics of each
    row; a study-like table outside the schema (``data import`` output) gets them from its
    statistics columns alone; any other CSV needs yi and vi (or sei).
    Rows that share a ``study_id`` while no ``cluster_column`` is given draw a warning.
    """
    table, yi, vi = _table_effects(data, yi_column, vi_column, sei_column, where)
    if cluster_column is None and "study_id" in table.header:
        _warn_shared_trials(table)
    return table, yi, vi


def _table_effects(data, yi_column, vi_column, sei_column, where):
    """The rows ``--where`` keeps, with their effect sizes (see :func:`load_effects`)."""
    from ..data.tables import effect_columns, read_table

    table = read_table(data)
    keep = _where_rows(table, where, data)
    if yi_column is None and {"es_id", "stat_type"} <= set(table.header):
        if _in_curated_schema(data, table):
            from ..data.studytable import load_study_table

            study = load_study_table(data, resource=_resource_for(data))
            for warning in study.warnings:
                click.echo(f"Warning: {warning}", err=True)
            return _subset(table, keep), study.yi[keep], study.vi[keep]
        from ..data.statistics_only import effects_from_statistics

        table = _subset(table, keep)
        click.echo(f"Note: {data} is not a curated study table (no data package beside it, or "
                   "'data import' output); effect sizes come from its statistics columns alone", err=True)
        yi, vi, warnings = effects_from_statistics(table)
        for warning in warnings:
            click.echo(f"Warning: {warning}", err=True)
        return table, yi, vi
    yi, vi, _, _ = effect_columns(table, yi=yi_column, vi=vi_column, sei=sei_column)
    return _subset(table, keep), yi[keep], vi[keep]


def _where_rows(table, where, data):
    """Boolean mask of the rows every ``--where`` clause keeps (an error when none does)."""
    import numpy as np

    from ..data.where import matching_rows

    keep = np.array(matching_rows(table, where), dtype=bool)
    if where and not keep.any():
        raise InputError(f"no rows match {' and '.join(where)}", file=data)
    return keep


def _subset(table, keep):
    from ..data.tables import Table

    return Table(path=table.path, header=table.header,
                 rows=tuple(row for row, kept in zip(table.rows, keep) if kept))


def _in_curated_schema(data, table):
    """A curated study table: its data package lies beside it and it is not ``data import``
    output (which carries the database's own g for cross-checking)."""
    from ..data.statistics_only import IMPORTED_COLUMN

    return (Path(data).parent / "datapackage.json").exists() and IMPORTED_COLUMN not in table.header


def complete_cases(table, yi, vi, columns):
    """Drop rows with an empty (or NA) cell in any of ``columns``, warning how many, as
    metafor's rma() does for missing moderators ("k studies with NAs omitted")."""
    import numpy as np

    from ..data.where import is_missing

    present = np.array([not any(is_missing(cell) for cell in cells)
                        for cells in zip(*(table.column(name) for name in columns))], dtype=bool)
    omitted = int((~present).sum())
    if omitted:
        click.echo(f"Warning: {omitted} row(s) with a missing {' or '.join(columns)} omitted "
                   f"({int(present.sum())} of {len(table)} used)", err=True)
    if not present.any():
        raise InputError(f"every row lacks {' or '.join(columns)}", file=table.path, column=columns[0])
    return _subset(table, present), yi[present], vi[present]


def _warn_shared_trials(table):
    """One stderr line when rows of one trial would be pooled as independent studies."""
    trials = {cell.strip() for cell in table.column("study_id")}
    if len(trials) < len(table):
        click.echo(f"Warning: {len(table)} rows come from {len(trials)} trials (study_id) and are "
                   "treated as independent; --cluster study_id fits the multilevel model "
                   "(pool, subgroup, metareg).", err=True)


def study_labels(table, label_column):
    """Labels for per-study output: --label, else a usual id column, else row numbers."""
    name = label_column or next((n for n in LABEL_COLUMNS if n in table.header), None)
    return table.label_column(name) if name else [f"row {i + 1}" for i in range(len(table))]


def emit(result, output_format, table_renderer, csv_records):
    """Print a result as a table, as JSON (exactly ``to_dict()``) or as CSV."""
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif output_format == "csv":
        from ..report.text import csv_text

        click.echo(csv_text(csv_records(result.to_dict())), nl=False)
    else:
        click.echo(table_renderer(result))



def _resource_for(path):
    return "thirdwave" if Path(path).stem == "thirdwave" else "trials"

