"""Bias, sensitivity and simulation commands."""
import sys

import click

from .app import emit, load_effects, main, model_options, study_labels


@main.command()
@model_options
def bias(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where):
    """Small-study effects and publication bias: Egger, Begg, trim-and-fill, PET-PEESE, fail-safe N."""
    from ..analyses.bias import bias_report
    from ..report.text import bias_table, section_records

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = bias_report(yi, vi, method=method, ci_method=ci_method, level=level)
    for note in result.notes:
        click.echo(f"Warning: {note}", err=True)
    emit(result, output_format, bias_table, section_records)


@main.command()
@model_options
@click.option("--label", "label_column", default=None, help="Column naming the studies [es_id/study/Author].")
@click.option("--order", type=click.Choice(["as given", "precision", "effect"]), default="as given",
              show_default=True, help="Order of the cumulative meta-analysis.")
def sensitivity(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
                label_column, order):
    """Leave-one-out, influence diagnostics (with Baujat coordinates) and cumulative meta-analysis."""
    from ..analyses.sensitivity import sensitivity_report
    from ..report.text import section_records, sensitivity_table

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = sensitivity_report(yi, vi, study_labels(table, label_column), order=order, method=method,
                                ci_method=ci_method, level=level)
    emit(result, output_format, sensitivity_table, section_records)



@main.command()
@click.option("--k", "studies", type=click.IntRange(min=2), required=True, help="Studies per meta-analysis.")
@click.option("--tau2", type=click.FloatRange(min=0), required=True, help="True between-study variance.")
@click.option("--true-effect", type=float, required=True, help="True mean effect (g).")
@click.option("--reps", type=click.IntRange(min=1), default=10000, show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--n-min", type=click.IntRange(min=2), default=20, show_default=True, help="Smallest arm size.")
@click.option("--n-max", type=click.IntRange(min=2), default=100, show_default=True, help="Largest arm size.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def simulate(studies, tau2, true_effect, reps, seed, n_min, n_max, output_format):
    """Simulate meta-analyses; bias, RMSE, coverage and power of every estimator and CI method."""
    from ..analyses.simulate import ESTIMATORS
    from ..analyses.simulate import simulate as run_simulation
    from ..report.text import simulation_table

    with click.progressbar(length=len(ESTIMATORS), label=f"Simulating {reps:,} meta-analyses",
                           file=sys.stderr) as bar:
        result = run_simulation(studies, tau2, true_effect, reps, seed=seed, n_min=n_min, n_max=n_max,
                                progress=bar.update)
    emit(result, output_format, simulation_table, lambda d: d["performance"])


