"""Commands that fit a model: pool, subgroup, metareg."""
import sys

import click

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

TRANSF_HELP = ("Also report the estimate, CI and PI back-transformed (metafor's transf.*): exp, ztor, "
               "ilogit, iprobit, iarcsin, isqrt, ipft.hm (needs a column ni). JSON/CSV gain transf and "
               "estimate_transf, ci_lower_transf, ci_upper_transf, pi_lower_transf, pi_upper_transf.")


def transf_option(func):
    """--transf: the back-transformation of the pooled effects (analyses.backtransform)."""
    return click.option("--transf", default=None, metavar="NAME", help=TRANSF_HELP)(func)


def with_transf(result, renderer, transf, table, every_effect=False):
    """``result`` back-transformed by ``transf`` and a renderer that adds its lines (or both as given);
    ``every_effect``: every estimate with a CI, not only the pooled ones (metareg, bias, sensitivity)."""
    if transf is None:
        return result, renderer
    from ..analyses.backtransform import back_transform, lookup_transform

    targs = {name: table.numeric_column(name, positive=True) for name in lookup_transform(transf).targs
             if name in table.header}
    return back_transform(result, transf, every_effect, **targs), _followed_by_text(renderer)


def robust_option(func):
    """--robust CR0|CR1|CR2: cluster-robust errors with every study its own cluster (models.robust)."""
    return click.option("--robust", type=click.Choice(["CR0", "CR1", "CR2"]), default=None,
                        help="Also report cluster-robust SEs, Satterthwaite df and t tests with every "
                             "study its own cluster (metafor robust(clubSandwich = TRUE); "
                             "JSON robust).")(func)


def correlations(ctx, param, value):
    """--prepost-r "0.3,0.5,0.7" as floats."""
    if value is None:
        return None
    try:
        return [float(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected correlations separated by commas, got {value!r}") from None


@main.command()
@model_options
@cluster_options
@transf_option
@click.option("--prepost-r", "prepost_r", default=None, metavar="R1,R2,...", callback=correlations,
              help="Re-pool with every pre_post row recomputed at each assumed pre-post correlation, "
                   "e.g. 0.3,0.5,0.7 (JSON key prepost_sensitivity).")
@click.option("--variance-tests", is_flag=True,
              help="With --cluster: likelihood-ratio tests of sigma^2 between and within clusters against 0.")
@click.option("--weights", "weights_column", default=None, metavar="COL",
              help="Column of user weights (metafor rma(weights=)): they weight the pooled estimate, and "
                   "methods GENQ and GENQM estimate tau^2 with them.")
@click.option("--unweighted", is_flag=True,
              help="The unweighted model (metafor rma(weighted = FALSE)): every study weighs the same in the "
                   "pooled estimate; tau^2, Q and I^2 are those of the weighted model.")
@click.option("--tau2-ci", "tau2_ci", type=click.Choice(["qprofile", "pl"]), default="qprofile",
              show_default=True,
              help="Interval for tau^2 (and the I^2, H^2 intervals): Q-profile or profile likelihood "
                   "(metafor confint(type = 'PL'); ML or REML fits).")
@click.option("--above", type=float, default=None, metavar="X",
              help="Also report the share of true effects above X (metafor predict(prob = '>X'); "
                   "JSON prob_above).")
@click.option("--blup", is_flag=True,
              help="Also report each effect's BLUP with its prediction interval (JSON blups).")
@robust_option
def pool(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
         cluster_column, rho, transf, prepost_r, variance_tests, tau2_ci, above, blup, robust,
         weights_column, unweighted):
    """Pool the effect sizes in DATA (a CSV with yi and vi, or the named columns)."""
    from ..models.pooling import pool as pool_effects

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    options = dict(method=method, ci_method=ci_method, level=level, rho=rho,
                   cluster=cluster_labels(table, cluster_column), weights=_weights(table, weights_column),
                   groups=arm_groups(table, cluster_column), weighted=not unweighted)
    result = pool_effects(yi, vi, variance_tests=variance_tests, tau2_ci=tau2_ci, above=above,
                          blup_labels=study_labels(table, None) if blup else None, robust=robust, **options)
    if cluster_column and ci_method == "cr2":
        _warn_small_df([result.df])
    renderer = str
    if prepost_r:
        from ..analyses.prepost import prepost_sensitivity
        from ..data.loading import selected_study_rows

        result = prepost_sensitivity(selected_study_rows(data, where), yi, vi, prepost_r,
                                     lambda y, v: pool_effects(y, v, with_tau2_ci=False, **options), result)
        renderer = _followed_by_text(renderer)
    result, renderer = with_transf(result, renderer, transf, table)
    emit(result, output_format, renderer, _pool_records)


def _pool_records(d):
    """CSV rows of pool: the model; with --prepost-r, then one row per assumed correlation."""
    sensitivity = d.get("prepost_sensitivity")
    if sensitivity is None:
        return [d]
    model = {"prepost_r": "as entered", **{k: v for k, v in d.items() if k != "prepost_sensitivity"}}
    return [model] + [dict(fit) for fit in sensitivity["fits"]]


def _followed_by_text(renderer):
    """A renderer of a wrapping result: ``renderer`` on the wrapped result, then the wrapper's text."""
    return lambda r: renderer(r.result) + "\n" + r.text()


@main.command()
@model_options
@cluster_options
@transf_option
@click.option("--by", "by_column", required=True, help="Column whose levels form the subgroups.")
@click.option("--permutations", type=click.IntRange(min=2), default=None,
              help="Permutation test of the subgroup difference (the common-tau^2 QM).")
@click.option("--seed", type=int, default=None, help="Seed of random permutations.")
def subgroup(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
             cluster_column, rho, transf, by_column, permutations, seed):
    """Fit the model within each level of --by and test the subgroup differences."""
    from ..models.moderators import subgroup_analysis

    loaded = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    table, yi, vi = complete_cases(*loaded, [by_column])
    labels = table.label_column(by_column)
    if cluster_column and permutations:
        raise click.UsageError("--permutations is for independent effects; it cannot be combined "
                               "with --cluster")
    if transf is not None and (permutations or transf.removeprefix("transf.") == "ipft.hm"):
        raise click.UsageError("--transf is not combined with --permutations, nor ipft.hm with metareg "
                               "(one n per study, not per prediction)")
    result = subgroup_analysis(yi, vi, labels, by=by_column, method=method, ci_method=ci_method, level=level,
                               cluster=cluster_labels(table, cluster_column), rho=rho,
                               arm_groups=arm_groups(table, cluster_column))
    if transf is not None:
        if permutations or transf.removeprefix("transf.") == "ipft.hm":
            raise click.UsageError("--transf is not combined with --permutations, nor ipft.hm with subgroups "
                                   "(its harmonic mean n is per model): run them separately")
        result, renderer = with_transf(result, str, transf, table)
        emit(result, output_format, renderer, _group_records)
        return
    if permutations:
        result = _with_permutation_test(result, yi, vi, {by_column: labels}, permutations, seed, method,
                                        ci_method, level)
    emit(result, output_format, str, lambda d: result.records())


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
@click.option("--drop", "drop", multiple=True, metavar="COL",
              help="Likelihood-ratio test of the model without this moderator, both fitted by ML "
                   "(metafor anova(full, reduced); repeatable; JSON lrt).")
@click.option("--btt", "btt", multiple=True, metavar="TERM",
              help="Wald test that these coefficients are 0: a term or a moderator (all its terms); "
                   "repeatable (metafor anova(btt =); JSON btt_test).")
@click.option("--newmods", "newmods", multiple=True, metavar="COL=VALUE,...", callback=lambda c, p, v: [
              _moderator_values(text) for text in v],
              help="Predict at these moderator values, with CI and PI (metafor predict(newmods =)); "
                   "repeatable (JSON predictions).")
@robust_option
@transf_option
def metareg(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
            cluster_column, rho, moderator_columns, categorical_columns, permutations, seed, drop, btt,
            newmods, robust, transf):
    """Mixed-effects meta-regression on one or more moderators."""
    from ..models.moderators import meta_regression

    loaded = load_effects(data, yi_column, vi_column, sei_column, where, cluster_column)
    table, yi, vi = complete_cases(*loaded, list(moderator_columns))
    moderators = {}
    for name in moderator_columns:
        moderators[name] = (table.label_column(name) if name in categorical_columns
                            else table.typed_column(name))
    if cluster_column and permutations:
        raise click.UsageError("--permutations is for independent effects; it cannot be combined "
                               "with --cluster")
    if transf is not None and (permutations or transf.removeprefix("transf.") == "ipft.hm"):
        raise click.UsageError("--transf is not combined with --permutations, nor ipft.hm with metareg "
                               "(one n per study, not per prediction)")
    result = meta_regression(yi, vi, moderators, method=method, ci_method=ci_method, level=level,
                             cluster=cluster_labels(table, cluster_column), rho=rho, drop=drop, btt=btt,
                             newmods=newmods, robust=robust, groups=arm_groups(table, cluster_column))
    if cluster_column and ci_method == "cr2":
        _warn_small_df([result.qm_df2] + [c.df for c in result.coefficients])
    if not permutations:
        shown, renderer = with_transf(result, str, transf, table, every_effect=True)
        emit(shown, output_format, renderer, lambda d: result.records())
        return
    tested = _with_permutation_test(result, yi, vi, moderators, permutations, seed, method, ci_method, level)
    emit(tested, output_format, str,
         lambda d: [dict(c, permutation_p=p) for c, p in zip(
             result.records(), d["permutation_test"]["coefficient_p"] + [d["permutation_test"]["qm_p"]])])


def _moderator_values(text):
    """--newmods "ablat=30,alloc=random" as {"ablat": "30", "alloc": "random"} (typed by the model)."""
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if not pairs or any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        raise click.BadParameter(f"expected COL=VALUE pairs separated by commas, got {text!r}")
    return {name.strip(): value.strip() for name, value in pairs}


def _group_records(d):
    """CSV rows of a (back-transformed) subgroup analysis: one per subgroup, then the overall fit."""
    rows = [{"group": g.get("group", g.get("level")), **g.get("result", g)} for g in d["groups"]]
    overall = d.get("overall")
    if overall:
        rows.append({"group": "overall", **{k: v for k, v in overall.items() if k != "level"}})
    return rows


def _warn_small_df(dfs):
    """The analysis plan's warning on CR2 tests with too few df (Tipton 2015)."""
    from ..data.plan import load_plan, small_df_warning

    warning = small_df_warning(dfs, load_plan())
    if warning:
        click.echo(f"Warning: {warning}", err=True)


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


