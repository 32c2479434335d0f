"""Figure commands: forest, funnel, bubble, Baujat, GOSH."""
import sys

import click

from .app import load_effects, main, model_options, study_labels


def plot_options(func):
    """Options of the figure commands: the data options of a model, an output file, labels."""
    func = click.option("--label", "label_column", default=None,
                        help="Column naming the studies [es_id/study/Author].")(func)
    func = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                        help="Figure file; .png, .svg or .pdf.")(func)
    return model_options(func)


@main.command()
@plot_options
@click.option("--by", "by_column", default=None, help="Column whose levels form subgroups.")
@click.option("--sort", type=click.Choice(["given", "effect", "weight", "year"]), default="given", show_default=True)
@click.option("--column", "extra_columns", multiple=True, help="Extra column to print beside the labels (repeatable).")
@click.option("--kind", type=click.Choice(["studies", "leave-one-out", "cumulative"]), default="studies",
              show_default=True, help="Forest of the studies, or of leave-one-out / cumulative re-fits.")
@click.option("--fixed", is_flag=True, help="Also draw the fixed-effect diamond.")
def forest(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output, by_column, sort, extra_columns, kind, fixed):
    """Forest plot of DATA (format by the extension of -o)."""
    from .. import plots
    from ..analyses.sensitivity import cumulative, leave_one_out
    from ..models.pooling import pool as pool_effects

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    labels = study_labels(table, label_column)
    columns = {name: table.label_column(name) for name in extra_columns}
    years = table.typed_column("year") if sort == "year" and "year" in table.header else None
    options = dict(method=method, ci_method=ci_method, level=level)
    if kind != "studies":
        fits = (leave_one_out if kind == "leave-one-out" else cumulative)(yi, vi, labels, **options)
        names = [fit.omitted if kind == "leave-one-out" else fit.added for fit in fits]
        figure = plots.estimates_forest_plot(
            fits, names, pool_effects(yi, vi, with_tau2_ci=False, **options),
            label_title="Omitted study" if kind == "leave-one-out" else "Cumulative, adding")
    elif by_column:
        figure = plots.subgroup_forest_plot(yi, vi, labels, table.label_column(by_column), by=by_column,
                                            columns=columns, sort=sort, years=years, **options)
    else:
        figure = plots.forest_plot(yi, vi, labels, columns=columns, sort=sort, years=years, show_fixed=fixed,
                                   **options)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
@click.option("--contours", is_flag=True, help="Shade the p < .10, .05, .01 regions.")
@click.option("--trimfill", is_flag=True, help="Add trim-and-fill's imputed studies (open circles).")
@click.option("--egger", is_flag=True, help="Draw Egger's regression line.")
@click.option("--selmodel", is_flag=True, help="Draw the 3PSM selection-model estimate (step at p = 0.025).")
def funnel(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output, contours, trimfill, egger, selmodel):
    """Funnel plot of DATA."""
    from .. import plots

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    selection = None
    if selmodel:
        from ..analyses.selection import selection_model

        selection = selection_model(yi, vi, type="stepfun", steps=(0.025,),
                                    method="FE" if method.upper() == "FE" else "ML", level=level)
    figure = plots.funnel_plot(yi, vi, method=method, level=level, contours=contours, trimfill=trimfill,
                               egger=egger, selmodel=selection)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
@click.option("--mod", "moderator", required=True, help="Moderator column (continuous or categorical).")
def bubble(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output, moderator):
    """Bubble plot of a meta-regression on one moderator."""
    from .. import plots

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    figure = plots.bubble_plot(yi, vi, table.typed_column(moderator), moderator, method=method,
                               ci_method=ci_method, level=level)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
def baujat(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output):
    """Baujat plot: contribution to heterogeneity against influence on the pooled estimate."""
    from .. import plots

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    figure = plots.baujat_plot(yi, vi, study_labels(table, label_column), method=method, ci_method=ci_method,
                               level=level)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
@click.option("--subsets", type=click.IntRange(min=2), default=None,
              help="Number of random subsets (default: all up to k = 20, else 10^6).")
@click.option("--seed", type=int, default=None, help="Seed of the random subsets.")
@click.option("--save-results", type=click.Path(dir_okay=False), default=None,
              help="Write the per-subset results to this CSV.")
def gosh(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
         output, subsets, seed, save_results):
    """GOSH: the model fitted to every subset (or a random sample); plot estimate against I^2."""
    from .. import plots
    from ..analyses.gosh import gosh as run_gosh
    from ..analyses.gosh import subset_codes

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    total = subset_codes(yi.size, subsets, seed)[0].size
    with click.progressbar(length=total, label=f"Fitting {total:,} subsets", file=sys.stderr) as bar:
        result = run_gosh(yi, vi, method=method, subsets=subsets, seed=seed, progress=bar.update)
    if save_results:
        from ..data.studytable import write_atomically

        write_atomically(save_results, result.to_frame().to_csv(index=False, lineterminator="\n"))
        click.echo(f"Wrote {save_results}")
    click.echo(f"Wrote {plots.save_figure(plots.gosh_plot(result), output)}")


