"""The mvmeta command: multivariate / longitudinal models (metafor rma.mv, random = ~ inner | outer)."""
import click

from ..common.errors import InputError
from .app import arm_groups, complete_cases, emit, load_effects, main

STRUCTS = ["ID", "DIAG", "CS", "HCS", "UN", "AR", "HAR", "CAR"]


def _pairs(path, table):
    """Published sampling covariances from PAIRS.csv (es_id_1, es_id_2, cov) as row pairs."""
    from ..data.tables import read_table

    if "es_id" not in table.header:
        raise InputError("--vcov names rows by es_id, but the data has no es_id column", file=table.path)
    rows = {es_id.strip(): i for i, es_id in enumerate(table.column("es_id"))}
    pairs_table = read_table(path)
    covariances = pairs_table.numeric_column("cov")
    pairs = []
    for number, (first, second, cov) in enumerate(zip(pairs_table.column("es_id_1"),
                                                      pairs_table.column("es_id_2"), covariances), start=1):
        for column, es_id in (("es_id_1", first), ("es_id_2", second)):
            if es_id.strip() not in rows:
                raise InputError(f"es_id '{es_id}' is not a row of the data (after --where)", file=path,
                                 row=number, column=column)
        pairs.append((rows[first.strip()], rows[second.strip()], cov))
    return pairs


@main.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--yi", "yi_column", default=None, help="Effect-size column [yi].")
@click.option("--vi", "vi_column", default=None, help="Sampling-variance column [vi].")
@click.option("--sei", "sei_column", default=None, help="Standard-error column (instead of --vi).")
@click.option("--cluster", "cluster_column", required=True, metavar="COL",
              help="Outer factor (e.g. study_id).")
@click.option("--inner", "inner_column", required=True, metavar="COL",
              help="Inner factor: outcome, SCS component or timepoint.")
@click.option("--struct", type=click.Choice(STRUCTS, case_sensitive=False), required=True,
              help="Covariance structure of the random effects over the inner levels.")
@click.option("--nested", "nested_term", default=None, metavar="COL[/COL]",
              help="Nested term beside ~ inner | cluster: random = list(~ INNER | CLUSTER, ~ 1 | COL/COL), "
                   "one sigma^2 per level of nesting (e.g. --nested row or --nested study/row).")
@click.option("--time", "time_column", default=None, metavar="COL",
              help="Continuous time of each row (CAR; and the lags of --phi).")
@click.option("--rho", type=float, default=None, help="Within-cluster sampling correlation.")
@click.option("--phi", type=float, default=None, help="Sampling autocorrelation per unit of --time.")
@click.option("--vcov", "vcov_path", type=click.Path(dir_okay=False), default=None, metavar="PAIRS.csv",
              help="Published sampling covariances: columns es_id_1, es_id_2, cov.")
@click.option("--mods", "moderator_columns", multiple=True, metavar="COL",
              help="Moderator column (repeatable; text columns and the --inner column are categorical).")
@click.option("--no-intercept", is_flag=True, help="One coefficient per level of the first moderator.")
@click.option("--contrast", "contrasts", multiple=True, metavar='"A-B"',
              help="Linear contrast of two terms or levels (repeatable).")
@click.option("--ci-method", type=click.Choice(["z", "t", "cr2"]), default="z", show_default=True,
              help="Wald z, t on k - p df, or CR2 robust (Satterthwaite df, HTZ tests).")
@click.option("--method", type=click.Choice(["REML", "ML"], case_sensitive=False), default="REML",
              show_default=True)
@click.option("--profile", is_flag=True, help="Profile-likelihood CIs of every tau^2 and rho.")
@click.option("--level", type=float, default=95.0, show_default=True, help="Confidence level (%).")
@click.option("--where", "where", multiple=True, metavar="CLAUSE", help="Keep rows where CLAUSE holds.")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True)
def mvmeta(data, yi_column, vi_column, sei_column, cluster_column, inner_column, struct, nested_term,
           time_column, rho, phi, vcov_path, moderator_columns, no_intercept, contrasts, ci_method, method,
           profile, level,
           where, output_format):
    """Multivariate / longitudinal model: rma.mv(yi, V, mods, random = ~ INNER | CLUSTER, struct).

    V: the sampling variances, --rho / --phi between rows of a cluster, --vcov pairs.  Where the
    table names each row's arm, control_arm and sizes n1, n2, two comparisons sharing a group (a
    multi-arm trial's control) get that group's covariance (Gleser & Olkin 2009; metafor
    vcalc(grp1, grp2, w1, w2, obs)), always: it is a fact of the design, not a working assumption;
    the text output says how many pairs.
    """
    from ..models.multivariate import multivariate
    from ..models.mvnested import parse_nested

    nested_columns = parse_nested(nested_term) if nested_term else ()
    needed = [cluster_column, inner_column, *moderator_columns, *nested_columns] + (
        [time_column] if time_column else [])
    table, yi, vi = complete_cases(*load_effects(data, yi_column, vi_column, sei_column, where,
                                                 cluster_column), needed)
    moderators = {name: (table.label_column if name == inner_column else table.typed_column)(name)
                  for name in moderator_columns}
    result = multivariate(
        yi, vi, cluster=table.label_column(cluster_column), inner=table.typed_column(inner_column),
        struct=struct, moderators=moderators,
        intercept=not no_intercept, time=table.numeric_column(time_column) if time_column else None,
        rho=rho, phi=phi, pairs=_pairs(vcov_path, table) if vcov_path else None,
        nested={name: table.label_column(name) for name in nested_columns} or None, method=method.upper(),
        ci_method=ci_method, level=level / 100.0, contrasts=contrasts, profile=profile, source=data,
        cluster_column=cluster_column, inner_column=inner_column, groups=arm_groups(table, cluster_column))
    emit(result, "table" if output_format == "text" else output_format, str, lambda d: d["coefficients"])
