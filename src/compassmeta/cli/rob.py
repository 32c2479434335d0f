"""``compassmeta rob``: RoB 2 traffic-light and summary plots of a rob2.csv table."""
from pathlib import Path

import click

from .app import main


@main.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Figure file; .png, .svg or .pdf.")
@click.option("--kind", type=click.Choice(["both", "traffic-light", "summary"]), default="both",
              show_default=True, help="The traffic-light plot (result x domain), the summary bars, or both.")
@click.option("--weighted", is_flag=True,
              help="Weight the summary bars by each result's inverse variance (from --trials).")
@click.option("--trials", "trials_path", default=None, type=click.Path(dir_okay=False),
              help="Study table whose rows are judged [trials.csv beside DATA]; used by --weighted.")
def rob(data, output, kind, weighted, trials_path):
    """RoB 2 plots of DATA (a table like studies/rob2.csv), as robvis draws them."""
    from ..common.files import check_outputs
    from ..data.rob2 import inverse_variance_weights, load_rob2
    from ..plots.common import save_figure
    from ..plots.rob import rob_plot

    trials_path = trials_path or Path(data).parent / "trials.csv"
    check_outputs({"-o/--output": output}, inputs=[data, trials_path])
    judgements = load_rob2(data)
    weights = None
    if weighted:
        from ..data.studytable import load_study_table

        table = load_study_table(trials_path)
        weights = inverse_variance_weights(judgements, table.rows, table.vi, file=data)
    save_figure(rob_plot(judgements, weights=weights, kind=kind), output)
    click.echo(f"Wrote {output} ({len(judgements)} judged results)")
