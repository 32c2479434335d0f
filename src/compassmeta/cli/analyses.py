"""Bias, sensitivity and simulation commands."""
import sys

import click

from ..common.errors import InputError
from .app import (
    arm_groups,
    cluster_labels,
    cluster_options,
    complete_cases,
    emit,
    load_effects,
    main,
    model_options,
    study_labels,
)
from .fitting import transf_option, with_transf

# the option of each factor of one simulated condition, for its error
SIMULATE_OPTIONS = {"k": "--k", "tau2": "--tau2", "true_effect": "--true-effect", "reps": "--reps",
                    "n_min": "--n-min", "n_max": "--n-max", "study_size": "--n-min/--n-max"}


@main.command()
@model_options
@cluster_options
@click.option("--fsn-target", "fsn_target", type=float, default=None, metavar="X",
              help="Effect that Orwin's fail-safe N brings the mean down to [half the mean].")
@transf_option
def bias(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
         cluster_column, rho, fsn_target, transf):
    """Small-study effects and publication bias: Egger, Begg, trim-and-fill, PET-PEESE, 3PSM, fail-safe N.

    With --cluster (dependent effects): Egger's test with the multilevel model on every effect, the
    others on one composite effect per cluster."""
    from ..analyses.bias import bias_report
    from ..report.text import bias_table, section_records

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    result = bias_report(yi, vi, method=method, ci_method=ci_method, level=level,
                         cluster=cluster_labels(table, cluster_column), rho=rho, fsn_target=fsn_target,
                         groups=arm_groups(table, cluster_column))
    for note in result.notes:
        click.echo(f"Warning: {note}", err=True)
    for note in result.fail_safe_n.notes:
        click.echo(f"Note: {note}", err=True)
    result, renderer = with_transf(result, bias_table, _no_ipft(transf), table, every_effect=True)
    emit(result, output_format, renderer, section_records)


@main.command()
@model_options
@cluster_options
@click.option("--label", "label_column", default=None, help="Column naming the studies [es_id/study/Author].")
@click.option("--order", type=click.Choice(["as given", "precision", "effect"]), default="as given",
              show_default=True, help="Order of the cumulative meta-analysis.")
@click.option("--mods", "moderator_columns", multiple=True, metavar="COL",
              help="Influence diagnostics of the meta-regression on these moderators instead (repeatable; "
                   "metafor influence(), rstandard()).")
@click.option("--categorical", "categorical_columns", multiple=True, metavar="COL",
              help="With --mods: treat this numeric moderator as categorical (repeatable).")
@transf_option
def sensitivity(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
                cluster_column, rho, label_column, order, moderator_columns, categorical_columns, transf):
    """Leave-one-out, influence diagnostics (with Baujat coordinates) and cumulative meta-analysis.

    With --cluster (dependent effects): the multilevel model without each cluster in turn, and the
    others on one composite effect per cluster.  With --mods: the influence diagnostics of the
    meta-regression (residuals, hat values, Cook's distances, DFFITS, DFBETAS, COVRATIO, tau^2 and QE
    after deletion)."""
    from ..analyses.sensitivity import sensitivity_report
    from ..report.text import section_records, sensitivity_table

    if moderator_columns and transf:
        raise click.UsageError("--transf is for the leave-one-out and cumulative estimates; it is not "
                               "combined with --mods")
    if moderator_columns:
        return regression_sensitivity(data, yi_column, vi_column, sei_column, method, ci_method, level,
                                      output_format, where, cluster_column, label_column, moderator_columns,
                                      categorical_columns)
    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    result = sensitivity_report(yi, vi, study_labels(table, label_column), order=order, method=method,
                                ci_method=ci_method, level=level,
                                cluster=cluster_labels(table, cluster_column), rho=rho)
    for note in result.notes:
        click.echo(f"Warning: {note}", err=True)
    result, renderer = with_transf(result, sensitivity_table, _no_ipft(transf), table, every_effect=True)
    emit(result, output_format, renderer, section_records)


def _no_ipft(transf):
    """``transf``, refused when it is ipft.hm: its harmonic mean of the ns belongs to one pooled set of
    studies, not to the subsets (leave-one-out, cumulative, trim-and-fill) these commands fit."""
    if transf is not None and transf.removeprefix("transf.") == "ipft.hm":
        raise click.UsageError("--transf ipft.hm is for pool; bias and sensitivity fit other sets of studies")
    return transf


def regression_sensitivity(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format,
                           where, cluster_column, label_column, moderator_columns, categorical_columns):
    """sensitivity --mods: metafor influence() of the meta-regression."""
    from ..analyses.sensitivity import regression_influence

    if cluster_column:
        raise click.UsageError("--mods diagnostics are for independent effects; "
                               "they cannot be combined with --cluster")
    table, yi, vi = complete_cases(*load_effects(data, yi_column, vi_column, sei_column, where, None),
                                   list(moderator_columns))
    moderators = {name: table.label_column(name) if name in categorical_columns else table.typed_column(name)
                  for name in moderator_columns}
    result = regression_influence(yi, vi, moderators, study_labels(table, label_column), method=method,
                                  ci_method=ci_method, level=level)
    emit(result, output_format, str, lambda d: result.records())


@main.command()
@click.option("--k", "studies", type=click.IntRange(min=2), default=None, help="Studies per meta-analysis.")
@click.option("--tau2", type=click.FloatRange(min=0), default=None, help="True between-study variance.")
@click.option("--true-effect", type=float, default=None, help="True mean effect (g).")
@click.option("--reps", type=click.IntRange(min=1), default=None,
              help="Replications [10000; with --grid, the grid's].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="(Master) seed [with --grid, the grid's, else fresh].")
@click.option("--n-min", type=click.IntRange(min=2), default=20, show_default=True, help="Smallest arm size.")
@click.option("--n-max", type=click.IntRange(min=2), default=100, show_default=True, help="Largest arm size.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--grid", "grid_path", type=click.Path(dir_okay=False), default=None,
              help="A grid of conditions (.toml or .json) instead of --k/--tau2/--true-effect.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Grid results file (.csv or .json), rewritten atomically as cells finish.")
@click.option("--figures", "figures_dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the grid's coverage and bias figures.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Local worker processes for a grid.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the grid's cells on this dask.distributed scheduler.")
@click.option("--resume", is_flag=True, help="Keep the cells already in --output; run only the others.")
def simulate(studies, tau2, true_effect, reps, seed, n_min, n_max, output_format, grid_path, output,
             figures_dir, workers, scheduler, resume):
    """Simulate meta-analyses; bias, RMSE, coverage and power of every estimator and CI method.

    One condition with --k, --tau2 and --true-effect, or a whole grid of them with --grid."""
    if grid_path:
        return simulate_grid(grid_path, reps, seed, output_format, output, figures_dir, workers, scheduler,
                             resume)
    if None in (studies, tau2, true_effect):
        raise click.UsageError("give --k, --tau2 and --true-effect, or --grid")
    from ..analyses.grid_file import check_condition
    from ..analyses.simulate import ESTIMATORS
    from ..analyses.simulate import simulate as run_simulation
    from ..report.text import simulation_table

    reps = 10000 if reps is None else reps
    try:
        check_condition(studies, tau2, true_effect, reps, n_min, n_max)
    except InputError as error:
        raise click.BadParameter(error.message, param_hint=SIMULATE_OPTIONS[error.column or "k"]) from None
    with click.progressbar(length=len(ESTIMATORS), label=f"Simulating {reps:,} meta-analyses",
                           file=sys.stderr) as bar:
        result = run_simulation(studies, tau2, true_effect, reps, seed=seed, n_min=n_min, n_max=n_max,
                                progress=bar.update)
    emit(result, output_format, simulation_table, lambda d: d["performance"])


def simulate_grid(grid_path, reps, seed, output_format, output, figures_dir, workers, scheduler, resume):
    """Run a grid, saving finished cells to --output as they come (and on Ctrl-C)."""
    import os
    import time

    from ..analyses import grid as grids
    from ..analyses.grid_file import with_reps
    from ..common.files import check_outputs
    from ..report.text import grid_table

    check_outputs({"-o/--output": output, "--figures": figures_dir}, inputs=[grid_path])
    grid = grids.read_grid(grid_path)
    if reps is not None:   # (>= 2, for Monte Carlo standard errors)
        try:
            grid = with_reps(grid, reps)
        except InputError as error:
            raise click.BadParameter(error.message, param_hint="--reps") from None
    done = {}
    if resume:
        if not output:
            raise click.UsageError("--resume needs -o/--output, the results file to continue")
        if os.path.exists(output):
            rows = grids.read_results(output)
            if seed is None and grid.seed is None and rows:
                seed = rows[0]["seed"]
            seed = grids.master_seed(grid, seed)
            done = grids.finished_cells(grid, seed, rows, output)
    seed = grids.master_seed(grid, seed)
    finished = dict(done)
    last_save = [time.monotonic()]

    def save():
        if output:
            grids.save_results(grids.grid_result(grid, seed, finished), output)
        last_save[0] = time.monotonic()

    total = len(grid.cells())
    with click.progressbar(length=total - len(done), file=sys.stderr,
                           label=f"Simulating {total} cells x {grid.reps:,} meta-analyses") as bar:
        def on_cell(index, rows):
            finished[index] = rows
            bar.update(1)
            if time.monotonic() - last_save[0] >= 1.0:
                save()
        try:
            result = grids.run_grid(grid, seed, done=done, workers=workers, scheduler=scheduler,
                                    on_cell=on_cell)
        except BaseException:
            save()  # keep every finished cell, then stop
            raise
    save()
    if figures_dir:
        from ..plots.grid import grid_figures

        for path in grid_figures(result.rows, figures_dir):
            click.echo(f"Wrote {path}", err=True)
    if output:
        click.echo(f"Wrote {len(result.rows)} rows ({total} cells) to {output}", err=True)
    else:
        emit(result, output_format, grid_table, lambda d: d["rows"])
