"""Commands that fit a model: pool, subgroup, metareg."""
import sys

import click

from .app import cluster_labels, cluster_options, complete_cases, emit, load_effects, main, model_options


@main.command()
@model_options
@cluster_options
@click.option("--variance-tests", is_flag=True,
              help="With --cluster: likelihood-ratio tests of sigma^2 between and within clusters against 0.")
@click.option("--weights", "weights_column", default=None, metavar="COL",
              help="Column of user weights (metafor rma(weights=)): they weight the pooled estimate, and "
                   "methods GENQ and GENQM estimate tau^2 with them.")
def pool(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
         cluster_column, rho, variance_tests, weights_column):
    """Pool the effect sizes in DATA (a CSV with yi and vi, or the named columns)."""
    from ..models.pooling import pool as pool_effects
    from ..report.text import multilevel_pool_table, pool_table

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    result = pool_effects(yi, vi, method=method, ci_method=ci_method, level=level,
                          cluster=cluster_labels(table, cluster_column), rho=rho,
                          variance_tests=variance_tests, weights=_weights(table, weights_column))
    emit(result, output_format, multilevel_pool_table if cluster_column else pool_table, lambda d: [d])


@main.command()
@model_options
@cluster_options
@click.option("--by", "by_column", required=True, help="Column whose levels form the subgroups.")
@click.option("--permutations", type=click.IntRange(min=2), default=None,
              help="Permutation test of the subgroup difference (the common-tau^2 QM).")
@click.option("--seed", type=int, default=None, help="Seed of random permutations.")
def subgroup(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
             cluster_column, rho, by_column, permutations, seed):
    """Fit the model within each level of --by and test the subgroup differences."""
    from ..models.moderators import subgroup_analysis
    from ..report.text import multilevel_subgroup_table, subgroup_table

    table, yi, vi = complete_cases(*load_effects(data, yi_column, vi_column, sei_column, where, cluster_column),
                                   [by_column])
    labels = table.label_column(by_column)
    if cluster_column and permutations:
        raise click.UsageError("--permutations is for independent effects; it cannot be combined "
                               "with --cluster")
    result = subgroup_analysis(yi, vi, labels, by=by_column, method=method, ci_method=ci_method, level=level,
                               cluster=cluster_labels(table, cluster_column), rho=rho)
    if cluster_column:
        emit(result, output_format, multilevel_subgroup_table,
             lambda d: [dict(group=g["group"], **g["result"]) for g in d["groups"]])
        return
    if permutations:
        from ..report.text import permutation_lines

        emit(_with_permutation_test(result, yi, vi, {by_column: labels}, permutations, seed, method, ci_method,
                                    level),
             output_format,
             lambda r: subgroup_table(r.result) + "\n" + permutation_lines(r.permutation_test),
             lambda d: result.records())
        return
    emit(result, output_format, subgroup_table, lambda d: result.records())


@main.command()
@model_options
@cluster_options
@click.option("--mods", "moderator_columns", multiple=True, required=True,
              help="Moderator column (repeat for several).")
@click.option("--categorical", "categorical_columns", multiple=True,
              help="Treat this numeric moderator column as categorical (repeatable).")
@click.option("--permutations", type=click.IntRange(min=2), default=None,
              help="Also run a permutation test with this many permutations (exact when fewer exist).")
@click.option("--seed", type=int, default=None, help="Seed of random permutations.")
def metareg(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
            cluster_column, rho, moderator_columns, categorical_columns, permutations, seed):
    """Mixed-effects meta-regression on one or more moderators."""
    from ..models.moderators import meta_regression
    from ..report.text import metareg_table, multilevel_metareg_table

    table, yi, vi = complete_cases(*load_effects(data, yi_column, vi_column, sei_column, where, cluster_column),
                                   list(moderator_columns))
    moderators = {}
    for name in moderator_columns:
        moderators[name] = (table.label_column(name) if name in categorical_columns
                            else table.typed_column(name))
    if cluster_column and permutations:
        raise click.UsageError("--permutations is for independent effects; it cannot be combined "
                               "with --cluster")
    result = meta_regression(yi, vi, moderators, method=method, ci_method=ci_method, level=level,
                             cluster=cluster_labels(table, cluster_column), rho=rho)
    if cluster_column:
        emit(result, output_format, multilevel_metareg_table, lambda d: d["coefficients"])
        return
    if permutations:
        from ..report.text import permutation_lines

        emit(_with_permutation_test(result, yi, vi, moderators, permutations, seed, method, ci_method, level),
             output_format,
             lambda r: metareg_table(r.result) + "\n" + permutation_lines(r.permutation_test),
             lambda d: [dict(c, permutation_p=p) for c, p in zip(result.records(),
                                                                 d["permutation_test"]["coefficient_p"] + [
                                                                     d["permutation_test"]["qm_p"]])])
        return
    emit(result, output_format, metareg_table, lambda d: result.records())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _weights(table, column):
    """The numbers of the --weights column (an error names the row of a bad cell), or None."""
    from ..data.tables import parse_number

    if column is None:
        return None
    return [parse_number(cell, file=table.path, row=row, column=column)
            for row, cell in enumerate(table.column(column), start=1)]


def _with_permutation_test(result, yi, vi, moderators, permutations, seed, method, ci_method, level):
    from ..analyses.permutation import WithPermutationTest, permutation_test

    def run(progress):
        return permutation_test(yi, vi, moderators, permutations=permutations, seed=seed, method=method,
                                ci_method=ci_method, level=level, progress=progress)

    if not sys.stderr.isatty():  # a progress bar only where someone watches it
        return WithPermutationTest(result, run(None))
    with click.progressbar(length=permutations, label="Permutations", file=sys.stderr) as bar:
        test = run(bar.update)
    return WithPermutationTest(result, test)


