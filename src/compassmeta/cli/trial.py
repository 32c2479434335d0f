"""Whole-trial entry: trial add, trial template, trial show (the library: data/trial.py)."""
import click

from .app import main, say
from .editing import author, author_options, study_table_path, table_option


@main.group()
def trial():
    """Enter a whole trial from one TOML or JSON file; print the template or a trial back."""


@trial.command("add")
@click.argument("trial_file", type=click.Path(dir_okay=False))
@table_option
@click.option("--replace", is_flag=True,
              help="Replace the trial's rows already in the table (same study_id) by the generated ones, "
                   "in the same transaction.")
@click.option("--confirm-implausible", "confirm_reason", default=None, metavar="REASON",
              help="Accept implausible values after checking them against the report; REASON is recorded "
                   "in every generated row's inclusion_note and in changes.csv.")
@author_options
@click.option("--yes", is_flag=True, help="Write without asking for confirmation.")
def trial_add(trial_file, table_path, studies_folder, replace, confirm_reason, by, reason, yes):
    """Generate every comparison row of the trial in TRIAL_FILE (each intervention arm against each
    control arm, per outcome and timepoint), check them with the table, write all or none."""
    from ..data.loading import resource_for
    from ..data.trial import check_trial, trial_records, write_trial

    path = study_table_path(table_path, studies_folder)
    records, notes = trial_records(trial_file, path, confirm_reason)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    checked = check_trial(path, records, replace, resource_for(path))
    for row, (g, v) in zip(checked.rows, checked.effects):
        click.echo(f"{row['es_id']}: g = {g:.4f} (SE {v ** 0.5:.4f}) {row['arm']} vs {row['control_arm']}")
    for warning in checked.warnings:
        click.echo(f"Warning: {warning.message}", err=True)
    replaced = f", replacing {checked.replaced} row(s)" if checked.replaced else ""
    if not yes and not click.confirm(f"Write {len(records)} row(s) to {path}{replaced}?", default=True):
        click.echo("Nothing written.")
        return
    write_trial(path, records, replace, resource_for(path), on_wait=say,
                author=author("trial add", by, reason or f"trial file {trial_file}", confirm_reason))
    click.echo(f"Wrote {len(records)} row(s) of {records[0]['study_id']} to {path}{replaced}.")


@trial.command("template")
def trial_template():
    """Print a commented trial file (a real three-arm trial) to start from."""
    from ..data.trial_text import TEMPLATE

    click.echo(TEMPLATE, nl=False)


@trial.command("show")
@click.argument("study_id")
@table_option
def trial_show(study_id, table_path, studies_folder):
    """Print the rows of STUDY_ID as a trial file that trial add reads back."""
    from ..data.tables import read_table
    from ..data.trial_text import show_trial

    click.echo(show_trial(read_table(study_table_path(table_path, studies_folder)), study_id), nl=False)
