"""The ``compassmeta`` command line: parse options, call the library, render the result.

Errors the user can act on print one line (file, row, column, what is wrong) and exit 2;
``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..common.errors import CompassmetaError

if TYPE_CHECKING:
    import numpy as np

    from ..common.results import Result
    from ..data.loading import LoadedEffects
    from ..data.tables import Table
    from ..models.sharedgroups import ArmGroups

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound="Result")


class MethodChoice(click.Choice):
    """--method's choices: the tau^2 estimators of the registry (models.tau2), then FE, read when
    first needed so that commands which fit nothing (--help, --version) do not import numpy."""

    def __init__(self) -> None:
        self.case_sensitive = False

    @property  # click.Choice's attribute, made lazy (read only)
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from ..models.tau2 import METHODS

        return tuple(name for name in METHODS if name != "FE") + ("FE",)
DEFAULT_PREPOST_R = 0.5
WARNINGS_SHOWN = 5   # warnings printed one per line before the rest are counted


class FriendlyGroup(click.Group):
    """Turns library errors into one-line messages unless --debug was given.  Commands listed in
    ``lazy_modules`` (name -> module under compassmeta.cli) are imported when first asked for, so
    that a command starts without the imports of the others."""

    lazy_modules: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_modules))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy_modules:
            from importlib import import_module

            import_module(f"{__package__}.{self.lazy_modules[name]}")  # registers its commands on main
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
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
def main(ctx: click.Context, debug: bool) -> None:
    """Meta-analysis of self-compassion interventions, matching R's metafor."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _remember_allow_mixed(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    ctx.meta["allow_mixed"] = value


def model_options(func: F) -> F:
    """Options shared by every command that fits a model."""
    options = [
        click.argument("data", type=click.Path(dir_okay=False)),
        click.option("--yi", "yi_column", default=None, help="Effect-size column [yi]."),
        click.option("--vi", "vi_column", default=None, help="Sampling-variance column [vi]."),
        click.option("--sei", "sei_column", default=None, help="Standard-error column (instead of --vi)."),
        click.option("--method", type=MethodChoice(), default="REML",
                     show_default=True, help="tau^2 estimator, or FE for a fixed-effect model."),
        click.option("--ci-method", type=click.Choice(["z", "t", "cr2", "knha"]), default="z",
                     show_default=True,
                     help="Wald z; Knapp-Hartung t/F (independent effects); with --cluster: t on "
                          "k - p df, or cr2 (CR2 robust se, Satterthwaite df, HTZ test)."),
        click.option("--level", type=float, default=95.0, show_default=True, help="Confidence level (%)."),
        click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
                     default="table", show_default=True),
        click.option("--allow-mixed", is_flag=True, expose_value=False, callback=_remember_allow_mixed,
                     help="Pool rows that mix timepoint windows or SCS parts without the analysis plan's "
                          "warning."),
        click.option("--where", "where", multiple=True, metavar="CLAUSE",
                     help="Keep rows where CLAUSE holds (repeatable, all must hold): COL=V, COL!=V, COL<N, "
                          "COL<=N, COL>N, COL>=N, 'COL in A,B', 'COL not in A,B', 'COL present', "
                          "'COL missing'."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def cluster_options(func: F) -> F:
    """--cluster and --rho: dependent effect sizes (the three-level and CHE models)."""
    func = click.option("--rho", type=float, default=None,
                        help="Within-cluster sampling correlation (CHE model; needs --cluster).")(func)
    return click.option("--cluster", "cluster_column", default=None, metavar="COL",
                        help="Column of the cluster (e.g. study_id): fit the three-level model.")(func)


def cluster_labels(table: Table, cluster_column: str | None) -> list[str] | None:
    """The cluster of every row (an error names the first row without one), or None."""
    return table.label_column(cluster_column) if cluster_column else None


def arm_groups(table: Table, cluster_column: str | None) -> ArmGroups | None:
    """With a cluster: the rows' arms, control arms and sizes, so that comparisons sharing a control
    group get its sampling covariance (models.sharedgroups); None without them."""
    if not cluster_column or not {"arm", "control_arm"} <= set(table.header):
        return None
    from ..models.sharedgroups import ARM_COLUMNS, ArmGroups

    return ArmGroups.from_columns({name: table.column(name) for name in ARM_COLUMNS if name in table.header},
                                  len(table))


LABEL_COLUMNS = ("es_id", "study", "Author", "author", "label")


def load_effects(data: str, yi_column: str | None, vi_column: str | None, sei_column: str | None,
                 where: Sequence[str] = (), cluster_column: str | None = None,
                 ) -> tuple[Table, np.ndarray, np.ndarray]:
    """(table, yi, vi) of :func:`compassmeta.data.loading.load_effects`, its notes and warnings printed
    (``--allow-mixed`` turns the analysis plan's mixing warnings into notes)."""
    from ..data.loading import load_effects as load

    context = click.get_current_context(silent=True)
    loaded = load(data, yi_column, vi_column, sei_column, where, cluster_column,
                  allow_mixed=bool(context and context.meta.get("allow_mixed")))
    print_messages(loaded)
    for warning in loaded.mixing_warnings:
        click.echo(f"Warning: {warning}", err=True)
    for note in loaded.mixing_notes:
        click.echo(f"Note: {note}", err=True)
    return loaded.table, loaded.yi, loaded.vi


def complete_cases(table: Table, yi: np.ndarray, vi: np.ndarray, columns: list[str],
                   ) -> tuple[Table, np.ndarray, np.ndarray]:
    """(table, yi, vi) of :func:`compassmeta.data.loading.complete_cases`, its warning printed."""
    from ..data.loading import complete_cases as complete

    kept = complete(table, yi, vi, columns)
    print_messages(kept)
    return kept.table, kept.yi, kept.vi


def say(message: str) -> None:
    """One line on stderr (progress and waiting notices of the library)."""
    click.echo(message, err=True)


def print_messages(loaded: LoadedEffects) -> None:
    """The notes of loaded effects and a summary of their warnings, on stderr."""
    for note in loaded.notes:
        click.echo(f"Note: {note}", err=True)
    echo_warnings(loaded.warnings)


def echo_warnings(warnings: Sequence[object], shown: int = WARNINGS_SHOWN, err: bool = True,
                  hint: str = "compassmeta validate lists them all") -> None:
    """The first ``shown`` warnings, one line each, then how many more there are."""
    for warning in warnings[:shown]:
        click.echo(f"Warning: {warning}", err=err)
    if len(warnings) > shown:
        click.echo(f"Warning: ... and {len(warnings) - shown:,} more warnings ({hint})", err=err)


def study_labels(table: Table, label_column: str | None) -> list[str]:
    """Labels for per-study output: --label, else a usual id column, else row numbers."""
    name = label_column or next((n for n in LABEL_COLUMNS if n in table.header), None)
    return table.label_column(name) if name else [f"row {i + 1}" for i in range(len(table))]


def emit(result: R, output_format: str, table_renderer: Callable[[R], str],
         csv_records: Callable[[dict[str, Any]], Iterable[Mapping[str, Any]]] | None) -> None:
    """Print a result as a table, as JSON (exactly ``to_dict()``) or as CSV."""
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif output_format == "csv":
        from ..report.text import csv_text

        assert csv_records is not None, "--format csv is offered with csv_records only"

        click.echo(csv_text(csv_records(result.to_dict())), nl=False)
    else:
        click.echo(table_renderer(result))

