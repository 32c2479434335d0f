"""The ``compassmeta`` command line: parse options, call the library, render the result.

Errors the user can act on print one line (file, row, column, what is wrong) and exit 2;
``--debug`` shows the traceback instead.
"""
import json
import sys
from pathlib import Path

import click

from .errors import CompassmetaError, InputError

METHOD_CHOICES = ["DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM", "FE"]
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
        click.option("--ci-method", type=click.Choice(["z", "knha"]), default="z", show_default=True,
                     help="Wald z, or Knapp-Hartung t/F."),
        click.option("--level", type=float, default=95.0, show_default=True, help="Confidence level (%)."),
        click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
                     default="table", show_default=True),
        click.option("--where", "where", multiple=True, metavar="COL=VALUE",
                     help="Keep only rows whose column equals the value (repeatable, all must hold)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


LABEL_COLUMNS = ("es_id", "study", "Author", "author", "label")


def load_effects(data, yi_column, vi_column, sei_column, where=()):
    """The table, its effect sizes and sampling variances, restricted by ``--where``.

    A study table in the project's schema (with ``es_id`` and ``stat_type``) gets its effect
    sizes computed from the statistics of each row; any other CSV needs yi and vi (or sei).
    """
    from .tables import Table, effect_columns, read_table

    table = read_table(data)
    if yi_column is None and {"es_id", "stat_type"} <= set(table.header):
        from .studytable import load_study_table

        study = load_study_table(data, resource=_resource_for(data))
        for warning in study.warnings:
            click.echo(f"Warning: {warning}", err=True)
        yi, vi = study.yi, study.vi
    else:
        yi, vi, _, _ = effect_columns(table, yi=yi_column, vi=vi_column, sei=sei_column)
    if where:
        keep = [True] * len(table)
        for clause in where:
            name, sep, value = clause.partition("=")
            if not sep:
                raise InputError(f"--where takes COL=VALUE, got '{clause}'")
            keep = [k and cell.strip() == value.strip() for k, cell in zip(keep, table.column(name.strip()))]
        if not any(keep):
            raise InputError(f"no rows match {' and '.join(where)}", file=data)
        table = Table(path=table.path, header=table.header,
                      rows=tuple(row for row, k in zip(table.rows, keep) if k))
        yi, vi = yi[keep], vi[keep]
    return table, yi, vi


def study_labels(table, label_column):
    """Labels for per-study output: --label, else a usual id column, else row numbers."""
    name = label_column or next((n for n in LABEL_COLUMNS if n in table.header), None)
    return table.label_column(name) if name else [f"row {i + 1}" for i in range(len(table))]


def emit(result, output_format, table_renderer, csv_records):
    """Print a result as a table, as JSON (exactly ``to_dict()``) or as CSV."""
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif output_format == "csv":
        from .report import csv_text

        click.echo(csv_text(csv_records(result.to_dict())), nl=False)
    else:
        click.echo(table_renderer(result))


@main.command()
@model_options
def pool(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where):
    """Pool the effect sizes in DATA (a CSV with yi and vi, or the named columns)."""
    from .pooling import pool as pool_effects
    from .report import pool_table

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = pool_effects(yi, vi, method=method, ci_method=ci_method, level=level)
    emit(result, output_format, pool_table, lambda d: [d])


@main.command()
@model_options
@click.option("--by", "by_column", required=True, help="Column whose levels form the subgroups.")
@click.option("--permutations", type=click.IntRange(min=2), default=None,
              help="Permutation test of the subgroup difference (the common-tau^2 QM).")
@click.option("--seed", type=int, default=None, help="Seed of random permutations.")
def subgroup(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
             by_column, permutations, seed):
    """Fit the model within each level of --by and test the subgroup differences."""
    from .moderators import subgroup_analysis
    from .report import subgroup_table

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    labels = table.label_column(by_column)
    result = subgroup_analysis(yi, vi, labels, by=by_column, method=method, ci_method=ci_method, level=level)
    if permutations:
        from .report import permutation_lines

        emit(_with_permutation_test(result, yi, vi, {by_column: labels}, permutations, seed, method, ci_method,
                                    level),
             output_format,
             lambda r: subgroup_table(r.result) + "\n" + permutation_lines(r.permutation_test),
             lambda d: d["groups"])
        return
    emit(result, output_format, subgroup_table, lambda d: d["groups"])


@main.command()
@model_options
@click.option("--mods", "moderator_columns", multiple=True, required=True,
              help="Moderator column (repeat for several).")
@click.option("--categorical", "categorical_columns", multiple=True,
              help="Treat this numeric moderator column as categorical (repeatable).")
@click.option("--permutations", type=click.IntRange(min=2), default=None,
              help="Also run a permutation test with this many permutations (exact when fewer exist).")
@click.option("--seed", type=int, default=None, help="Seed of random permutations.")
def metareg(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
            moderator_columns, categorical_columns, permutations, seed):
    """Mixed-effects meta-regression on one or more moderators."""
    from .moderators import meta_regression
    from .report import metareg_table

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    moderators = {}
    for name in moderator_columns:
        moderators[name] = (table.label_column(name) if name in categorical_columns
                            else table.typed_column(name))
    result = meta_regression(yi, vi, moderators, method=method, ci_method=ci_method, level=level)
    if permutations:
        from .report import permutation_lines

        emit(_with_permutation_test(result, yi, vi, moderators, permutations, seed, method, ci_method, level),
             output_format,
             lambda r: metareg_table(r.result) + "\n" + permutation_lines(r.permutation_test),
             lambda d: [dict(c, permutation_p=p) for c, p in zip(d["coefficients"],
                                                                 d["permutation_test"]["coefficient_p"])])
        return
    emit(result, output_format, metareg_table, lambda d: d["coefficients"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _with_permutation_test(result, yi, vi, moderators, permutations, seed, method, ci_method, level):
    from .permutation import WithPermutationTest, permutation_test

    with click.progressbar(length=permutations, label="Permutations", file=sys.stderr) as bar:
        test = permutation_test(yi, vi, moderators, permutations=permutations, seed=seed, method=method,
                                ci_method=ci_method, level=level, progress=bar.update)
    return WithPermutationTest(result, test)


@main.command()
@model_options
def bias(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where):
    """Small-study effects and publication bias: Egger, Begg, trim-and-fill, PET-PEESE, fail-safe N."""
    from .bias import bias_report
    from .report import bias_table

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = bias_report(yi, vi, method=method, ci_method=ci_method, level=level)
    for note in result.notes:
        click.echo(f"Warning: {note}", err=True)
    emit(result, output_format, bias_table, lambda d: [
        {"test": name, **{key: value for key, value in (d[name] or {}).items() if not isinstance(value, dict)}}
        for name in ("egger", "egger_mixed", "rank_correlation", "trim_and_fill", "fail_safe_n")])


@main.command()
@model_options
@click.option("--label", "label_column", default=None, help="Column naming the studies [es_id/study/Author].")
@click.option("--order", type=click.Choice(["as given", "precision", "effect"]), default="as given",
              show_default=True, help="Order of the cumulative meta-analysis.")
def sensitivity(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
                label_column, order):
    """Leave-one-out, influence diagnostics (with Baujat coordinates) and cumulative meta-analysis."""
    from .report import sensitivity_table
    from .sensitivity import sensitivity_report

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = sensitivity_report(yi, vi, study_labels(table, label_column), order=order, method=method,
                                ci_method=ci_method, level=level)
    emit(result, output_format, sensitivity_table, lambda d: d["influence"])


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
    from . import plots
    from .pooling import pool as pool_effects
    from .sensitivity import cumulative, leave_one_out

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
def funnel(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output, contours, trimfill, egger):
    """Funnel plot of DATA."""
    from . import plots

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    figure = plots.funnel_plot(yi, vi, method=method, level=level, contours=contours, trimfill=trimfill,
                               egger=egger)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
@click.option("--mod", "moderator", required=True, help="Moderator column (continuous or categorical).")
def bubble(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output, moderator):
    """Bubble plot of a meta-regression on one moderator."""
    from . import plots

    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    figure = plots.bubble_plot(yi, vi, table.typed_column(moderator), moderator, method=method,
                               ci_method=ci_method, level=level)
    click.echo(f"Wrote {plots.save_figure(figure, output)}")


@main.command()
@plot_options
def baujat(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, label_column,
           output):
    """Baujat plot: contribution to heterogeneity against influence on the pooled estimate."""
    from . import plots

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
    from . import plots
    from .gosh import gosh as run_gosh, subset_codes

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    total = subset_codes(yi.size, subsets, seed)[0].size
    with click.progressbar(length=total, label=f"Fitting {total:,} subsets", file=sys.stderr) as bar:
        result = run_gosh(yi, vi, method=method, subsets=subsets, seed=seed, progress=bar.update)
    if save_results:
        from .studytable import write_atomically

        write_atomically(save_results, result.to_frame().to_csv(index=False, lineterminator="\n"))
        click.echo(f"Wrote {save_results}")
    click.echo(f"Wrote {plots.save_figure(plots.gosh_plot(result), output)}")


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
    from .report import simulation_table
    from .simulate import ESTIMATORS, simulate as run_simulation

    with click.progressbar(length=len(ESTIMATORS), label=f"Simulating {reps:,} meta-analyses",
                           file=sys.stderr) as bar:
        result = run_simulation(studies, tau2, true_effect, reps, seed=seed, n_min=n_min, n_max=n_max,
                                progress=bar.update)
    emit(result, output_format, simulation_table, lambda d: d["performance"])


@main.command()
@click.option("--studies", "studies_folder", default=None, help="Folder with datapackage.json [./studies].")
@click.option("--mirror", default=None, help="Folder mirroring the open databases (else COMPASSMETA_MIRROR).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--figures", "figures_folder", default=None,
              help="Folder for the forest and funnel plots [figures/ beside studies/].")
@click.option("--no-figures", is_flag=True, help="Do not draw the figures.")
def reproduce(studies_folder, mirror, output_format, figures_folder, no_figures):
    """Recompute the published pooled results in studies/published_results.csv and draw their figures."""
    from .reproduce import reproduce as run_reproduction, reproduction_table, studies_dir

    folder = studies_dir(studies_folder)
    figures = None if no_figures else (figures_folder or folder.parent / "figures")
    result = run_reproduction(folder, mirror=mirror, figures=figures)
    emit(result, output_format, reproduction_table, None)


def _resource_for(path):
    return "thirdwave" if Path(path).stem == "thirdwave" else "trials"


@main.command()
@click.argument("tables", nargs=-1, type=click.Path(dir_okay=False))
def validate(tables):
    """Check study tables against studies/datapackage.json; list every problem."""
    from .reproduce import studies_dir
    from .studytable import validate_file

    if not tables:
        folder = studies_dir()
        tables = [folder / "trials.csv", folder / "thirdwave.csv"]
    errors = 0
    for table in tables:
        problems = validate_file(table, resource=_resource_for(table))
        for problem in problems:
            click.echo(f"{problem.level.capitalize()}: {problem}", err=problem.level == "error")
        errors += sum(problem.level == "error" for problem in problems)
        if not problems:
            click.echo(f"{table}: ok")
    if errors:
        click.echo(f"{errors} error(s)", err=True)
        sys.exit(1)


def _record_from_file(path):
    """A one-row CSV or a JSON object as text cells."""
    from .tables import read_table

    if str(path).lower().endswith(".json"):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read JSON ({error})", file=path) from None
        if not isinstance(data, dict):
            raise InputError("a JSON row must be one object of field: value", file=path)
        return {key: ("" if value is None else str(value).lower() if isinstance(value, bool) else str(value))
                for key, value in data.items()}
    table = read_table(path)
    if len(table) != 1:
        raise InputError(f"holds {len(table)} rows; give one row per add", file=path)
    return dict(zip(table.header, table.rows[0]))


def _prompt_missing(record, schema):
    """Ask for every required field, and the statistics the stat_type needs, that are blank."""
    from .studytable import REQUIRED_STATISTICS

    def ask(spec):
        choices = spec.get("constraints", {}).get("enum")
        prompt_type = click.Choice([str(c) for c in choices]) if choices else str
        record[spec["name"]] = str(click.prompt(f"{spec['name']} ({spec['description']})", type=prompt_type))

    by_name = {spec["name"]: spec for spec in schema.fields}
    for spec in schema.fields:
        if spec.get("constraints", {}).get("required") and not record.get(spec["name"], "").strip():
            ask(spec)
    for name in REQUIRED_STATISTICS[record["stat_type"]]:
        if not record.get(name, "").strip():
            ask(by_name[name])


@main.command()
@click.option("--table", "table_path", default=None, help="Study table to append to [studies/trials.csv].")
@click.option("--from", "from_file", default=None, type=click.Path(dir_okay=False),
              help="A one-row CSV or a JSON object with the new row.")
@click.option("-s", "--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Set a field of the new row (repeatable), e.g. -s es_id=smith2024-bdi-post.")
@click.option("--interactive", is_flag=True, help="Prompt for every missing field.")
@click.option("--yes", is_flag=True, help="Write without asking for confirmation.")
def add(table_path, from_file, assignments, interactive, yes):
    """Add one effect-size row to a study table, safely (validated, locked, atomic)."""
    from .reproduce import studies_dir
    from .studytable import Schema, append_row, check_new_row

    path = Path(table_path) if table_path else studies_dir() / "trials.csv"
    package = path.parent / "datapackage.json"
    resource = _resource_for(path)
    schema = Schema.load(package, resource)
    record = _record_from_file(from_file) if from_file else {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep:
            raise InputError(f"--set takes FIELD=VALUE, got '{assignment}'")
        record[name.strip()] = value.strip()
    unknown = [name for name in record if name not in schema.names]
    if unknown:
        raise InputError(f"not a field of the schema: {', '.join(unknown)}", column=unknown[0])
    if record.get("stat_type") == "pre_post" and not record.get("prepost_r", "").strip():
        record["prepost_r"] = str(DEFAULT_PREPOST_R)
        click.echo(f"prepost_r not given: assuming a pre-post correlation of {DEFAULT_PREPOST_R} "
                   "(Cochrane Handbook 6.5.2.8); it is written into the row.", err=True)
    if interactive:
        if not record.get("stat_type"):
            record["stat_type"] = click.prompt("stat_type", type=click.Choice(
                next(f for f in schema.fields if f["name"] == "stat_type")["constraints"]["enum"]))
        _prompt_missing(record, schema)
    _, row, (g, v), warnings = check_new_row(path, record, package, resource)
    click.echo(f"{row['es_id']}: g = {g:.4f} (SE {v ** 0.5:.4f}, variance {v:.6f}) from {row['stat_type']}"
               + ("" if row["higher_is_better"] else "; sign flipped: lower scores are better"))
    for warning in warnings:
        click.echo(f"Warning: {warning.message}", err=True)
    if not yes and not click.confirm(f"Append to {path}?", default=True):
        click.echo("Nothing written.")
        return
    append_row(path, record, package, resource)
    click.echo(f"Appended to {path}.")


@main.group()
def data():
    """The open databases (Metapsy, MetaCIH): list, pull, path, import."""


@data.command("list")
@click.option("--mirror", default=None, help="Mirror folder (else COMPASSMETA_MIRROR).")
def data_list(mirror):
    """Known databases, their pinned versions and whether a verified copy is here."""
    from .datasets import DATABASES, local_path

    for db in DATABASES.values():
        try:
            where = local_path(db.name, mirror) or "not here"
        except CompassmetaError as error:
            where = f"checksum mismatch ({error})"
        click.echo(f"{db.name}\n  {db.title}\n  {db.repository} @ {db.commit}\n  doi:{db.doi}, {db.license}"
                   f"\n  sha256 {db.sha256}\n  local: {where}")


@data.command("pull")
@click.argument("name")
@click.option("--mirror", default=None, help="Copy from this mirror folder instead of downloading.")
def data_pull(name, mirror):
    """Download (or copy from a mirror) the pinned file, verify its sha256, cache it."""
    from .datasets import pull

    click.echo(f"{name}: verified and saved to {pull(name, mirror)}")


@data.command("path")
@click.argument("name")
@click.option("--mirror", default=None, help="Mirror folder (else COMPASSMETA_MIRROR).")
def data_path(name, mirror):
    """Print the local path of a verified copy (or say how to get one)."""
    from .datasets import require

    click.echo(str(require(name, mirror)))


@data.command("import")
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="CSV to write in the project's schema (for curation).")
@click.option("--mirror", default=None, help="Mirror folder (else COMPASSMETA_MIRROR).")
def data_import(source, output, mirror):
    """Turn a Metapsy-standard CSV (a file, or a database name) into the project's schema."""
    from .datasets import DATABASES, import_metapsy, require
    from .studytable import format_table, write_atomically

    name = source if source in DATABASES else None
    path = require(source, mirror) if name else Path(source)
    rows, skipped = import_metapsy(path, name)
    if not rows:
        raise InputError("no rows with means, change scores or a precalculated g", file=path)
    header = list(rows[0])
    write_atomically(output, format_table(header, rows))
    click.echo(f"{len(rows)} rows written to {output} ({skipped} without usable statistics skipped); "
               "fill intervention_class, population and outcome before adding rows to the curated table.")
