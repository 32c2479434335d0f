"""Figure commands: forest, funnel, bubble, Baujat, GOSH.

They write a figure, not a result: its format follows the extension of -o, and ``--format``
is refused in one line rather than silently ignored.
"""
import functools
import sys

import click

from ..common.errors import InputError
from .app import arm_groups, load_effects, main, model_options, study_labels


def plot_options(func):
    """Options of the figure commands: the data options of a model, an output file, labels."""
    @functools.wraps(func)
    def refusing_format(*args, output_format, **kwargs):  # the command receives None, never a format
        if output_format is not None:
            raise InputError("figure commands write a figure, not a result: --format does not apply "
                             "(the figure's format follows the extension of -o: .png, .svg or .pdf)")
        from ..common.files import check_outputs

        check_outputs({"-o/--output": kwargs["output"], "--save-results": kwargs.get("save_results")},
                      inputs=[kwargs["data"]])
        return func(*args, output_format=None, **kwargs)

    refusing_format = click.option("--label", "label_column", default=None,
                                   help="Column naming the studies [Author Year from citation/year, "
                                        "else es_id/study/Author].")(refusing_format)
    refusing_format = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                                   help="Figure file; .png, .svg or .pdf.")(refusing_format)
    refusing_format = model_options(refusing_format)
    # same name and flag, no default, hidden (click.option keeps its parameters in an attribute that
    # the function's type does not declare)
    for param in refusing_format.__click_params__:  # type: ignore[attr-defined]
        if param.name == "output_format":
            param.default, param.hidden, param.show_default = None, True, False
    return refusing_format


def figure_labels(table, label_column):
    """Study labels of a figure: "Author Year" (with the instrument where a trial has several
    rows) when the table cites its studies and no other column is asked for."""
    from ..plots.labels import study_labels_from

    if label_column in (None, "citation") and "citation" in table.header:
        labels = study_labels_from({name: table.column(name) for name in table.header})
        return _with_comparisons(table, labels)
    return study_labels(table, label_column)


def _comparisons(table) -> list:
    """Per row, the comparison of a multi-arm trial ("MSC vs waitlist", the analysis plan's
    comparator kinds, as the report names it), else None."""
    if not {"study_id", "arm", "control_detail"} <= set(table.header):
        return [None] * len(table)
    from ..data.plan import comparison_labels, load_plan

    return comparison_labels([dict(zip(table.header, row)) for row in table.rows], load_plan())


def _with_comparisons(table, labels):
    """Labels of a multi-arm trial's rows name the comparison after "Author Year" ("Hypo & Test
    2024: MSC vs waitlist, SCS"), as the report does."""
    from ..plots.labels import author_year

    named = []
    for label, row, comparison in zip(labels, table.rows, _comparisons(table)):
        row = dict(zip(table.header, row))
        base = author_year(row["citation"], row.get("year", ""))
        named.append(f"{base}: {comparison}{label[len(base):]}" if comparison and label.startswith(base)
                     else label)
    return named


def _rob_ratings(table, rob_path):
    """Each row's RoB 2 judgements from the table at ``rob_path`` (None without --rob)."""
    if rob_path is None:
        return None
    from ..data.rob2 import load_rob2, ratings_for_rows

    rows = [dict(zip(table.header, row)) for row in table.rows]
    return ratings_for_rows(load_rob2(rob_path), rows)


def _forest_scale(transf, atransf):
    """{"transf": ..., "atransf": ...} with metafor's names checked (those needing per-study ns refused)."""
    from ..analyses.backtransform import lookup_transform

    scale = {}
    for option, name in (("transf", transf), ("atransf", atransf)):
        if name is not None:
            transform = lookup_transform(name)
            _refuse(transform.targs, f"--{option} {transform.name} needs each study's "
                                     f"{', '.join(transform.targs)}; a forest plot is not drawn with it")
            scale[option] = transform.name
    return scale


def _refuse(condition, message):
    if condition:
        raise InputError(message)


@main.command()
@plot_options
@click.option("--by", "by_column", default=None, help="Column whose levels form subgroups.")
@click.option("--cluster", "cluster_column", default=None,
              help="Column naming the trial of each row: its effects are drawn together under one label.")
@click.option("--sort", type=click.Choice(["given", "effect", "weight", "year"]), default="given",
              show_default=True)
@click.option("--column", "extra_columns", multiple=True,
              help="Extra column to print beside the labels (repeatable).")
@click.option("--kind", type=click.Choice(["studies", "leave-one-out", "cumulative"]), default="studies",
              show_default=True, help="Forest of the studies, or of leave-one-out / cumulative re-fits.")
@click.option("--fixed", is_flag=True, help="Also draw the fixed-effect diamond and fixed-effect weights.")
@click.option("--summary-only", is_flag=True, help="With --by: one diamond per subgroup, no study rows.")
@click.option("--rob", "rob_path", default=None, type=click.Path(dir_okay=False),
              help="RoB 2 table (like studies/rob2.csv): add its domain and overall columns (plain forest).")
@click.option("--transf", default=None, metavar="NAME",
              help="Draw on the back-transformed scale (metafor's forest(transf =)): exp, ztor, ilogit, "
                   "iprobit, iarcsin, isqrt.")
@click.option("--atransf", default=None, metavar="NAME",
              help="Draw on the original scale with back-transformed axis labels and values "
                   "(metafor's forest(atransf =)).")
def forest(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
           label_column, output, by_column, cluster_column, sort, extra_columns, kind, fixed, summary_only,
           rob_path, transf, atransf):
    """Forest plot of DATA (format by the extension of -o)."""
    from .. import plots
    from ..analyses.sensitivity import cumulative, leave_one_out
    from ..models.pooling import pool as pool_effects

    ignored = [flag for flag, given in (("--by", by_column), ("--cluster", cluster_column),
                                        ("--fixed", fixed), ("--summary-only", summary_only),
                                        ("--column", extra_columns), ("--sort", sort != "given")) if given]
    _refuse(kind != "studies" and ignored, f"--kind {kind} draws one row per re-fit of all studies; "
                                           f"{', '.join(ignored)} does not apply to it")
    _refuse(by_column and cluster_column, "--by and --cluster cannot be combined; choose one grouping")
    _refuse(summary_only and not by_column, "--summary-only needs --by (one diamond per subgroup)")
    _refuse(rob_path and (by_column or cluster_column or kind != "studies"),
            "--rob applies to the plain forest of the studies (no --by, --cluster or --kind)")
    _refuse(fixed and (by_column or cluster_column),
            "--fixed applies to the plain forest (no --by or --cluster)")
    _refuse(cluster_column and (extra_columns or sort != "given"),
            "--cluster keeps each trial's rows together in file order; --column and --sort do not apply")
    _refuse(transf and atransf, "--transf and --atransf are alternatives (metafor's forest()); give one")
    scale = _forest_scale(transf, atransf)
    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    labels = figure_labels(table, label_column)
    columns = {name: table.label_column(name) for name in extra_columns}
    years = table.typed_column("year") if sort == "year" and "year" in table.header else None
    options = dict(method=method, ci_method=ci_method, level=level)
    if kind == "studies" and not summary_only and yi.size > plots.LARGE_FOREST:
        click.echo(f"Warning: a forest of {yi.size} rows is hard to read; "
                   f"--by COL --summary-only draws one diamond per subgroup", err=True)
    if kind != "studies":
        fits = (leave_one_out if kind == "leave-one-out" else cumulative)(yi, vi, labels, **options)
        names = [getattr(fit, "omitted" if kind == "leave-one-out" else "added") for fit in fits]
        figure = plots.estimates_forest_plot(
            fits, names, pool_effects(yi, vi, with_tau2_ci=False, **options),
            label_title="Omitted study" if kind == "leave-one-out" else "Cumulative, adding", **scale)
    elif cluster_column:
        from ..plots.labels import cluster_headings, within_cluster_labels

        clusters = table.label_column(cluster_column)
        all_columns = {name: table.column(name) for name in table.header}
        multilevel = method.upper() in ("REML", "ML") and ci_method != "knha"
        overall = (pool_effects(yi, vi, cluster=clusters, groups=arm_groups(table, cluster_column), **options)
                   if multilevel else None)
        within = [f"{comparison}, {label}" if comparison else label for comparison, label in
                  zip(_comparisons(table), within_cluster_labels(all_columns, clusters, labels))]
        figure = plots.cluster_forest_plot(yi, vi, within, clusters,
                                           cluster_headings(all_columns, clusters), overall=overall,
                                           overall_label="Three-level model" if multilevel else None,
                                           **options, **scale)
    elif by_column:
        figure = plots.subgroup_forest_plot(yi, vi, labels, table.label_column(by_column), by=by_column,
                                            columns=columns, sort=sort, years=years,
                                            summary_only=summary_only, **options, **scale)
    else:
        figure = plots.forest_plot(yi, vi, labels, columns=columns, sort=sort, years=years, show_fixed=fixed,
                                   rob=_rob_ratings(table, rob_path), **options, **scale)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
@click.option("--contours", is_flag=True, help="Shade the p < .10, .05, .01 regions.")
@click.option("--trimfill", is_flag=True, help="Add trim-and-fill's imputed studies (open circles).")
@click.option("--egger", is_flag=True, help="Draw Egger's regression line.")
@click.option("--selmodel", is_flag=True, help="Draw the 3PSM selection-model estimate (step at p = 0.025).")
def funnel(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
           label_column, output, contours, trimfill, egger, selmodel):
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
def bubble(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
           label_column, output, moderator):
    """Bubble plot of a meta-regression on one moderator."""
    from .. import plots

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    figure = plots.bubble_plot(yi, vi, table.typed_column(moderator), moderator, method=method,
                               ci_method=ci_method, level=level)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
def baujat(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
           label_column, output):
    """Baujat plot: contribution to heterogeneity against influence on the pooled estimate."""
    from .. import plots

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    figure = plots.baujat_plot(yi, vi, figure_labels(table, label_column), method=method, ci_method=ci_method,
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
    if sys.stderr.isatty():
        with click.progressbar(length=total, label=f"Fitting {total:,} subsets", file=sys.stderr) as bar:
            result = run_gosh(yi, vi, method=method, subsets=subsets, seed=seed, progress=bar.update)
    else:  # no bare progress line in logs and pipes
        result = run_gosh(yi, vi, method=method, subsets=subsets, seed=seed)
    if save_results:
        from ..common.files import write_atomically

        write_atomically(save_results, result.to_csv())
        click.echo(f"Wrote {save_results}")
    click.echo(f"Wrote {plots.save_figure(plots.gosh_plot(result), output)}")


