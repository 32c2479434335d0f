"""``compassmeta report``: the living-evidence HTML report and its JSON."""
import json
import sys
from pathlib import Path

import click

from .app import main


@main.command()
@click.argument("tables", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file; its numbers go to the same name with .json beside it.")
@click.option("--since", "since", default=None, type=click.Path(dir_okay=False),
              help="An earlier report's JSON: list rows added, changed or removed and how each pooled g "
                   "moved.")
@click.option("--studies", "studies_folder", default=None,
              help="Study folder: its trials.csv when no TABLE is given, its published_results.csv for "
                   "the reproduction table [the first table's folder].")
@click.option("--mirror", default=None, help="Folder mirroring the open databases (else COMPASSMETA_MIRROR).")
@click.option("--rho", type=float, default=None,
              help="Where trials contribute several rows: the CHE model with this within-trial sampling "
                   "correlation instead of the three-level model.")
@click.option("--ci-method", "ci_method", type=click.Choice(["z", "cr2"]), default="z", show_default=True,
              help="Inference of the multilevel models: Wald z, or CR2 robust with Satterthwaite df.")
@click.option("--evidence-level", "evidence_level", type=click.Choice(["abstract", "full"]), default=None,
              help="Only the rows whose numbers are printed in a trial report's abstract, or in a full "
                   "results table (column evidence_level; database rows have none).")
@click.option("--plan", "plan_path", default=None, type=click.Path(dir_okay=False),
              help="The analysis plan (TOML) that decides the subsets, models and minimum k "
                   "[studies/analysis_plan.toml]; `compassmeta plan show` prints it.")
def report(tables, output, since, studies_folder, mirror, rho, ci_method, evidence_level, plan_path):
    """Write one self-contained HTML report of TABLE ... [studies/trials.csv] and its JSON.

    Teaching tables (studies/thirdwave.csv) enter only when named, apart and under their own title."""
    from ..common.files import check_outputs, write_files_atomically
    from ..common.jsontext import dumps_indented
    from ..report.analysis import analyse, load_report, prepare, work_units
    from ..report.render import render_html
    from ..report.reproduce import studies_dir
    from ..report.settings import ReportSettings

    if not tables:
        tables = (str(studies_dir(studies_folder) / "trials.csv"),)
    html_path = Path(output)
    json_path = html_path.with_suffix(".json")
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise click.BadParameter("the report file must end in .html", param_hint="-o/--output")
    if json_path.is_dir():   # (click checks -o itself; the JSON beside it is found here, before the analysis)
        raise click.BadParameter(f"its JSON {json_path} would replace a folder", param_hint="-o/--output")
    check_outputs({"-o/--output": html_path, "-o/--output (its JSON)": json_path},
                  inputs=list(tables) + ([since] if since else []))
    previous = load_report(since) if since else None  # a bad --since is refused before the analysis
    settings = ReportSettings(tables=tables, since=previous, studies_folder=studies_folder, mirror=mirror,
                              rho=rho, ci_method=ci_method, evidence_level=evidence_level, plan=plan_path)
    prepared = prepare(settings)   # the tables read once, for the progress bar's length and the analysis
    with click.progressbar(length=work_units(prepared), label="Analysing", file=sys.stderr) as bar:
        result = analyse(settings, progress=bar.update, prepared=prepared)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    # page and JSON as one unit: both rendered before either replaces a file (issue 29)
    write_files_atomically({html_path: render_html(data), json_path: dumps_indented(data, indent=1) + "\n"})
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Wrote {html_path} and {json_path}")


@main.group()
def plan():
    """The analysis plan: which rows are pooled together, how, and what is printed at small k."""


@plan.command("show")
@click.argument("plan_path", required=False, type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def plan_show(plan_path, output_format):
    """Print the analysis plan PLAN [studies/analysis_plan.toml], validated, with its sources."""
    from ..data.plan import load_plan
    from ..data.plan_text import plan_text

    loaded = load_plan(plan_path)
    click.echo(json.dumps(loaded.to_dict(), indent=2) if output_format == "json" else plan_text(loaded))
